use super::parse::{parse, parse_oid};
use super::*;
use crate::pki::keys::KeyKind;
use crate::pki::names::{San, Subject};

#[test]
fn the_builtin_policy_is_valid_and_has_every_builtin_profile() {
    let p = Policy::builtin();
    for name in [
        "server",
        "client",
        "server-client",
        "code-signing",
        "email",
        "ocsp-signing",
        "sub-ca",
    ] {
        p.profile(name).unwrap();
    }
    assert_eq!(p.profile("sub-ca").unwrap().kind, Kind::SubCa);
    assert!(p.profile("ocsp-signing").unwrap().ocsp_nocheck);
}

fn problems(text: &str) -> Vec<String> {
    parse(text, None)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn errors_name_line_and_column() {
    let e = problems("[profiles.a]\nkey_usage = [\"digitalSignature\"]\nbogus = 1\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("line 3, column 1: "), "{e:?}");
    assert!(e[0].contains("bogus"), "{e:?}");
    let e =
        problems("[profiles.a]\nextended_key_usage = [\"serverAuth\", \"1.2.x\"]\nmax_days = 0\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("line 2, column 37: profiles.a.extended_key_usage \"1.2.x\""),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("line 3, column 12: profiles.a.max_days"),
        "{e:?}"
    );
    let e = problems("[urls]\ncrl = [\"https://x.test/a.crl\", \"ftp://x\"]\n[profiles.a]\n");
    assert_eq!(e.len(), 2, "{e:?}");
    let e = problems("[profiles.a]\ndefault_days = 100\nmax_days = 90\n");
    assert!(
        e[0].contains("default_days 100 is above max_days 90"),
        "{e:?}"
    );
    let e = problems("[profiles.a]\nkind = \"sub-ca\"\nallow_dns = [\"x.test\"]\n");
    assert!(e[0].contains("does not apply to a sub-ca profile"), "{e:?}");
    let e = problems("[profiles.a]\nkey_usage = [\"keyCertSign\"]\n");
    assert!(e[0].contains("makes a CA certificate"), "{e:?}");
    let e = problems("[profiles.a]\nsan_types = []\nrequire_san = true\n");
    assert!(e[0].contains("no certificate could be issued"), "{e:?}");
    let e = problems("[profiles.a]\nocsp_nocheck = true\n");
    assert!(e[0].contains("OCSPSigning"), "{e:?}");
    let e = problems("[profiles.A]\n");
    assert!(e[0].contains("lowercase"), "{e:?}");
    let e = problems("[urls]\n");
    assert!(e[0].contains("at least one profile"), "{e:?}");
    let e = problems("not toml");
    assert!(e[0].starts_with("line 1, column"), "{e:?}");
}

#[test]
fn oids() {
    assert_eq!(
        parse_oid("1.3.6.1.4.1.99999.1"),
        Some(vec![1, 3, 6, 1, 4, 1, 99999, 1])
    );
    for bad in ["1", "3.1", "1.40", "1..2", "1.02", "a.b", ""] {
        assert_eq!(parse_oid(bad), None, "{bad}");
    }
    assert!(parse_oid("2.999").is_some());
}

const K8S: &str = r#"
[profiles.k8s]
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth", "clientAuth"]
default_days = 30
max_days = 90
allow_dns = ["*.cluster.local", "cluster.local"]
allow_ip = ["10.0.0.0/8"]
allow_uri = ["spiffe://lab.test/*"]
require_san = true
allow_wildcard = false
key_types = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa"]
min_rsa_bits = 3072
policies = ["1.3.6.1.4.1.99999.1"]
"#;

#[test]
fn the_gate_applies_a_profile() {
    let policy = parse(K8S, None).unwrap();
    let p = policy.profile("k8s").unwrap();
    let subject = Subject(vec![("CN".into(), "web".into())]);
    let ok = |sans: &[San]| gate::check(p, KeyKind::P256, sans, &subject);
    ok(&[San::dns("a.cluster.local").unwrap()]).unwrap();
    ok(&[San::Ip("10.1.2.3".parse().unwrap())]).unwrap();
    ok(&[San::uri("spiffe://lab.test/ns/web").unwrap()]).unwrap();
    let e = ok(&[San::dns("evil.example").unwrap()]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "SAN DNS:evil.example not allowed by profile k8s: allow_dns = [\"*.cluster.local\", \"cluster.local\"]"
    );
    assert!(
        ok(&[San::dns("*.cluster.local").unwrap()])
            .unwrap_err()
            .to_string()
            .contains("allow_wildcard = false")
    );
    assert!(ok(&[San::Ip("192.168.1.1".parse().unwrap())]).is_err());
    assert!(
        ok(&[San::email("a@cluster.local").unwrap()])
            .unwrap_err()
            .to_string()
            .contains("no allow_email")
    );
    assert!(ok(&[]).unwrap_err().to_string().contains("require_san"));
    assert!(
        gate::check(
            p,
            KeyKind::Rsa(2048),
            &[San::dns("a.cluster.local").unwrap()],
            &subject
        )
        .unwrap_err()
        .to_string()
        .contains("min_rsa_bits = 3072")
    );
    gate::check(
        p,
        KeyKind::Rsa(4096),
        &[San::dns("a.cluster.local").unwrap()],
        &subject,
    )
    .unwrap();
    assert_eq!(gate::days(p, None), Ok(30));
    assert_eq!(gate::days(p, Some(90)), Ok(90));
    assert!(gate::days(p, Some(91)).is_err());
    // A host-like CN not among the SANs is a name too.
    let cn = Subject(vec![("CN".into(), "evil.example".into())]);
    assert!(
        gate::check(
            p,
            KeyKind::P256,
            &[San::dns("a.cluster.local").unwrap()],
            &cn
        )
        .is_err()
    );
}

#[test]
fn limits_beyond_the_ca_are_refused() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(1));
    params.not_before = time::OffsetDateTime::now_utc();
    params.not_after = params.not_before + time::Duration::days(100);
    params.name_constraints = Some(rcgen::NameConstraints {
        permitted_subtrees: vec![rcgen::GeneralSubtree::DnsName("lab.test".into())],
        excluded_subtrees: vec![],
    });
    let cert = params.self_signed(&key).unwrap();
    let ca = crate::pki::ca::CaCert::parse(cert.der()).unwrap();
    let e: Vec<String> = parse(
        "[profiles.a]\nmax_days = 200\nallow_dns = [\"*.evil.test\"]\n[profiles.s]\nkind = \"sub-ca\"\nmax_path_len = 1\n",
        Some(&ca),
    )
    .unwrap_err()
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].contains("exceeds the CA certificate's own validity"),
        "{e:?}"
    );
    assert!(e[1].contains("allow_dns \"*.evil.test\""), "{e:?}");
    assert!(e[2].contains("max_path_len 1"), "{e:?}");
}

#[test]
fn sub_ca_limits_come_from_the_profile() {
    let policy = parse(
        "[profiles.s]\nkind = \"sub-ca\"\nmax_path_len = 1\npermit = [\"DNS:lab.test\"]\nexclude = [\"DNS:secret.lab.test\"]\n",
        None,
    )
    .unwrap();
    let p = policy.profile("s").unwrap();
    let sub = sub_ca(p, &SubCaAsk::default()).unwrap().unwrap();
    assert_eq!(sub.path_len, 0);
    assert!(
        sub.constraints
            .allows(&San::dns("a.lab.test").unwrap(), "x")
            .is_ok()
    );
    assert!(
        sub.constraints
            .allows(&San::dns("secret.lab.test").unwrap(), "x")
            .is_err()
    );
    let ask = SubCaAsk {
        path_len: Some(2),
        ..SubCaAsk::default()
    };
    assert!(sub_ca(p, &ask).is_err());
    let ask = SubCaAsk {
        permit: vec![crate::pki::constraints::Subtree::parse("DNS:other.test").unwrap()],
        ..SubCaAsk::default()
    };
    assert!(sub_ca(p, &ask).is_err());
}

/// Encodes arcs as yasna does when issuing, then reads them back with an independent reader
/// of X.690 8.19 (yasna's own reader refuses some arcs above 2^63 that its writer encodes).
fn yasna_round_trip(arcs: &[u64]) -> Vec<u64> {
    let oid = yasna::models::ObjectIdentifier::from_slice(arcs);
    let der = yasna::construct_der(|w| w.write_oid(&oid));
    assert_eq!(der[0], 0x06, "an OBJECT IDENTIFIER");
    let (len, body) = match der[1] {
        n if n < 0x80 => (n as usize, &der[2..]),
        0x81 => (der[2] as usize, &der[3..]),
        n => panic!("length form {n:#x}"),
    };
    assert_eq!(body.len(), len);
    let mut subids: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for (i, b) in body.iter().enumerate() {
        assert!(!(acc == 0 && *b == 0x80), "no leading 0x80 at {i}");
        acc = (acc << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            subids.push(acc);
            acc = 0;
        }
    }
    assert_eq!(acc, 0, "ends on a last octet");
    let first = subids[0];
    let (a, b) = match first {
        f if f < 40 => (0, f),
        f if f < 80 => (1, f - 40),
        f => (2, f - 80),
    };
    std::iter::once(a)
        .chain(std::iter::once(b))
        .chain(subids[1..].iter().copied())
        .map(|x| u64::try_from(x).unwrap())
        .collect()
}

#[test]
fn the_largest_second_arc_yasna_encodes_is_the_largest_accepted_policy_oid() {
    // 2.18446744073709551535 was accepted and made every issue panic in yasna.
    assert!(parse_oid("2.18446744073709551535").is_none());
    let arcs = parse_oid("2.18446744073709551534").unwrap();
    assert_eq!(yasna_round_trip(&arcs), arcs);
    let arcs = parse_oid("2.5.29.32.18446744073709551615").unwrap();
    assert_eq!(yasna_round_trip(&arcs), arcs);
}

proptest::proptest! {
    /// Validation and encoding agree: every OID parse_oid accepts encodes (no panic) and
    /// reads back the same (POLICY-OID).
    #[test]
    fn every_accepted_oid_encodes_and_round_trips(
        first in 0u64..4,
        second in proptest::prop_oneof![
            0u64..100,
            (u64::MAX - 200)..=u64::MAX,
            proptest::num::u64::ANY,
        ],
        rest in proptest::collection::vec(proptest::num::u64::ANY, 0..6),
    ) {
        let dotted = std::iter::once(first)
            .chain(std::iter::once(second))
            .chain(rest)
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(".");
        if let Some(arcs) = parse_oid(&dotted) {
            proptest::prop_assert_eq!(yasna_round_trip(&arcs), arcs);
        }
    }
}
