//! The order state machine: pending → ready → valid, an invalid challenge making the order
//! invalid, finalize refused before ready and never issuing twice, identifiers gated.

use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

fn key() -> Jwk {
    Jwk::Okp {
        crv: "Ed25519".into(),
        x: super::super::b64url(&[7; 32]),
    }
}

fn dns(v: &str) -> Identifier {
    Identifier {
        kind: "dns".into(),
        value: v.into(),
    }
}

fn admit_lab(id: &Identifier) -> Result<(), Failure> {
    let name = &id.value;
    match name.ends_with(".lab.test") || id.kind == "ip" {
        true => Ok(()),
        false => Err(Failure(format!(
            "{name} not allowed by profile acme: allow_dns = [\"*.lab.test\"]"
        ))),
    }
}

/// A state with account "A" and order "O" for two names (authorizations Z1, Z2).
fn ordered() -> State {
    let mut s = State::default();
    s.new_account(&key(), &NewAccount::default(), "A".into(), NOW)
        .unwrap();
    let ids = (
        "O".to_string(),
        vec![("Z1".into(), "t1".into()), ("Z2".into(), "t2".into())],
    );
    let order = s
        .new_order(
            "A",
            &[dns("a.lab.test"), dns("B.lab.test")],
            ids,
            NOW,
            admit_lab,
        )
        .unwrap();
    assert_eq!(order, "O");
    s
}

#[test]
fn an_account_is_found_by_its_key_and_only_returned_when_asked() {
    let mut s = State::default();
    let only = NewAccount {
        only_return_existing: true,
        ..NewAccount::default()
    };
    let err = s.new_account(&key(), &only, "A".into(), NOW).unwrap_err();
    assert_eq!(err.kind, Kind::AccountDoesNotExist);
    assert!(s.accounts.is_empty());
    let ask = NewAccount {
        contact: vec!["mailto:ops@lab.test".into()],
        ..NewAccount::default()
    };
    assert_eq!(
        s.new_account(&key(), &ask, "A".into(), NOW),
        Ok(Registered::Created("A".into()))
    );
    assert_eq!(
        s.new_account(&key(), &only, "B".into(), NOW),
        Ok(Registered::Existing("A".into()))
    );
    let bad = NewAccount {
        contact: vec!["tel:+1555".into()],
        ..NewAccount::default()
    };
    let other = Jwk::Okp {
        crv: "Ed25519".into(),
        x: super::super::b64url(&[8; 32]),
    };
    assert_eq!(
        s.new_account(&other, &bad, "C".into(), NOW)
            .unwrap_err()
            .kind,
        Kind::Malformed
    );
}

#[test]
fn an_order_becomes_ready_when_every_authorization_is_valid_then_valid_once() {
    let mut s = ordered();
    assert_eq!(s.orders["O"].identifiers[1].value, "b.lab.test");
    let not_ready = s.finalize_check("O", "A", NOW).unwrap_err();
    assert_eq!(not_ready.kind, Kind::OrderNotReady);
    s.record_validation("Z1", "http-01", Ok(()), NOW).unwrap();
    assert_eq!(s.orders["O"].status, "pending");
    s.record_validation("Z2", "dns-01", Ok(()), NOW).unwrap();
    assert_eq!(s.orders["O"].status, "ready");
    assert_eq!(s.finalize_check("O", "A", NOW), Ok(true));
    assert!(
        s.finalize_check("O", "B", NOW).is_err(),
        "another account's order"
    );
    s.record_issued("O", "0A1B").unwrap();
    assert_eq!(s.orders["O"].status, "valid");
    // A second finalize finds nothing to issue.
    assert_eq!(s.finalize_check("O", "A", NOW), Ok(false));
    // The state round-trips through acme.json's bytes.
    assert_eq!(State::parse(&s.to_bytes()).unwrap(), s);
}

#[test]
fn a_wrong_challenge_response_leaves_the_authorization_and_order_invalid() {
    let mut s = ordered();
    s.record_validation(
        "Z1",
        "http-01",
        Err(Failure("the response was not the key authorization".into())),
        NOW,
    )
    .unwrap();
    assert_eq!(s.authorizations["Z1"].status, "invalid");
    assert_eq!(s.orders["O"].status, "invalid");
    // Decided once: a later success does not revive it.
    s.record_validation("Z1", "http-01", Ok(()), NOW).unwrap();
    assert_eq!(s.authorizations["Z1"].status, "invalid");
    s.record_validation("Z2", "dns-01", Ok(()), NOW).unwrap();
    assert_eq!(s.orders["O"].status, "invalid");
    assert_eq!(
        s.finalize_check("O", "A", NOW).unwrap_err().kind,
        Kind::OrderNotReady
    );
}

#[test]
fn identifiers_outside_the_policy_or_not_dns_are_refused() {
    let mut s = ordered();
    let ids = || ("P".to_string(), vec![("Z9".to_string(), "t9".to_string())]);
    let err = s
        .new_order("A", &[dns("evil.example")], ids(), NOW, admit_lab)
        .unwrap_err();
    assert_eq!(err.kind, Kind::RejectedIdentifier);
    assert!(err.detail.contains("allow_dns"), "{}", err.detail);
    let other = Identifier {
        kind: "email".into(),
        value: "a@lab.test".into(),
    };
    let err = s
        .new_order("A", &[other], ids(), NOW, admit_lab)
        .unwrap_err();
    assert_eq!(err.kind, Kind::UnsupportedIdentifier);
    let not_ip = Identifier {
        kind: "ip".into(),
        value: "192.0.2".into(),
    };
    let err = s
        .new_order("A", &[not_ip], ids(), NOW, admit_lab)
        .unwrap_err();
    assert_eq!(err.kind, Kind::Malformed);
    let err = s
        .new_order("A", &[dns("*.*.lab.test")], ids(), NOW, admit_lab)
        .unwrap_err();
    assert_eq!(err.kind, Kind::RejectedIdentifier);
    let err = s
        .new_order("X", &[dns("a.lab.test")], ids(), NOW, admit_lab)
        .unwrap_err();
    assert_eq!(err.kind, Kind::AccountDoesNotExist);
    assert!(!s.orders.contains_key("P"));
}

#[test]
fn an_expired_ready_order_is_not_finalized_and_old_orders_are_pruned() {
    let mut s = ordered();
    s.record_validation("Z1", "http-01", Ok(()), NOW).unwrap();
    s.record_validation("Z2", "dns-01", Ok(()), NOW).unwrap();
    let later = NOW + ORDER_LIFETIME + time::Duration::seconds(1);
    assert_eq!(
        s.finalize_check("O", "A", later).unwrap_err().kind,
        Kind::OrderNotReady
    );
    s.prune(later + KEEP_EXPIRED);
    assert!(s.orders.is_empty() && s.authorizations.is_empty());
    assert_eq!(s.accounts.len(), 1);
}

#[test]
fn an_ip_identifier_is_kept_in_its_canonical_form_rfc_8738() {
    let mut s = ordered();
    let ip = Identifier {
        kind: "ip".into(),
        value: "2001:db8:0::1".into(),
    };
    let ids = ("P".to_string(), vec![("Z9".to_string(), "t9".to_string())]);
    s.new_order("A", &[ip], ids, NOW, admit_lab).unwrap();
    assert_eq!(s.orders["P"].identifiers[0].value, "2001:db8::1");
    assert_eq!(s.orders["P"].identifiers[0].kind, "ip");
}

/// ACME-IDENTIFIER (review finding: `x/y.lab.test`, `x y.lab.test`, a name with CR LF and a
/// header after it were ordered, validated — the raw value written into the http-01 request's
/// Host line — and stored): a dns identifier is a host name or rejectedIdentifier.
#[test]
fn a_dns_identifier_must_be_a_host_name() {
    for bad in [
        "x/y.lab.test",
        "x@y.lab.test",
        "x#y.lab.test",
        "x?y.lab.test",
        "x y.lab.test",
        "x_y.lab.test",
        "-x.lab.test",
        "WÉB.lab.test",
        "a\r\nX-Injected: yes\r\nFoo: b.lab.test",
        "",
        "a..lab.test",
    ] {
        let refused = canonical(&dns(bad)).expect_err(bad);
        assert_eq!(refused.kind, Kind::RejectedIdentifier, "{bad:?}");
    }
    let long = format!("{}.lab.test", "a".repeat(64));
    assert!(canonical(&dns(&long)).is_err());
    for good in ["Web.LAB.test", "xn--bcher-kva.lab.test", "a-b.lab.test"] {
        let id = canonical(&dns(good)).unwrap();
        assert_eq!(id.value, good.to_ascii_lowercase());
    }
}

/// ACME-JWS: another account's order or authorization is `unauthorized` (review finding:
/// `malformed`, unlike the account and order-list URLs); one that does not exist `malformed`.
#[test]
fn another_accounts_order_is_unauthorized() {
    let mut s = ordered();
    let other = Jwk::Okp {
        crv: "Ed25519".into(),
        x: super::super::b64url(&[9; 32]),
    };
    s.new_account(&other, &NewAccount::default(), "B".into(), NOW)
        .unwrap();
    assert_eq!(s.order("O", "B").unwrap_err().kind, Kind::Unauthorized);
    assert_eq!(s.authz("Z1", "B").unwrap_err().kind, Kind::Unauthorized);
    assert_eq!(s.order("nope", "A").unwrap_err().kind, Kind::Malformed);
    assert_eq!(s.authz("nope", "A").unwrap_err().kind, Kind::Malformed);
    assert!(s.order("O", "A").is_ok());
}

#[test]
fn a_wildcard_is_authorized_for_its_base_name_by_dns_01_only() {
    let mut s = ordered();
    let ids = ("W".to_string(), vec![("ZW".to_string(), "tw".to_string())]);
    s.new_order("A", &[dns("*.Lab.test")], ids, NOW, admit_lab)
        .unwrap();
    assert_eq!(s.orders["W"].identifiers[0].value, "*.lab.test");
    let z = &s.authorizations["ZW"];
    assert_eq!(
        (z.identifier.value.as_str(), z.wildcard),
        ("lab.test", true)
    );
    assert_eq!(z.challenges(), &["dns-01"]);
    assert_eq!(
        s.authorizations["Z1"].challenges(),
        &["http-01", "dns-01", "tls-alpn-01"]
    );
    let err = s
        .record_validation("ZW", "http-01", Ok(()), NOW)
        .unwrap_err();
    assert_eq!(err.kind, Kind::Malformed);
    assert_eq!(s.authorizations["ZW"].status, "pending");
    s.record_validation("ZW", "dns-01", Ok(()), NOW).unwrap();
    assert_eq!(s.authorizations["ZW"].challenge.as_deref(), Some("dns-01"));
    assert_eq!(s.orders["W"].status, "ready");
    assert_eq!(State::parse(&s.to_bytes()).unwrap(), s);
}

#[test]
fn a_key_change_needs_the_current_key_and_a_key_no_other_account_has() {
    let mut s = ordered();
    let new = Jwk::Okp {
        crv: "Ed25519".into(),
        x: super::super::b64url(&[9; 32]),
    };
    let err = s.change_key("A", &new, &new).unwrap_err();
    assert_eq!(err.kind, Kind::Malformed, "oldKey is not the account's");
    s.new_account(&new, &NewAccount::default(), "B".into(), NOW)
        .unwrap();
    assert_eq!(
        s.change_key("A", &key(), &new),
        Ok(KeyChange::InUse("B".into()))
    );
    s.update_account("B", None, true).unwrap();
    let fresh = Jwk::Okp {
        crv: "Ed25519".into(),
        x: super::super::b64url(&[10; 32]),
    };
    assert_eq!(s.change_key("A", &key(), &fresh), Ok(KeyChange::Changed));
    assert_eq!(s.accounts["A"].thumbprint, fresh.thumbprint());
    assert_eq!(
        s.change_key("B", &new, &key()).unwrap_err().kind,
        Kind::Unauthorized,
        "a deactivated account"
    );
}

/// Review findings: a deactivation that also changed `contact` made both changes and audited
/// one; a key change to the key the account has was answered 409 "another account".
#[test]
fn one_account_change_per_request_and_no_change_to_the_same_key() {
    let mut s = ordered();
    let both = s.update_account("A", Some(vec!["mailto:new@lab.test".into()]), true);
    assert_eq!(both.unwrap_err().kind, Kind::Malformed);
    assert_eq!(s.accounts["A"].status, "valid");
    assert!(s.accounts["A"].contact.is_empty());
    let same = s.change_key("A", &key(), &key()).unwrap_err();
    assert_eq!(same.kind, Kind::Malformed);
    assert!(s.update_account("A", None, true).is_ok());
}
