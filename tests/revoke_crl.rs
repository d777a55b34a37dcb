//! `ca revoke` and `ca crl` (SPEC.md REVOKE-*, CRL-*).

use crate::harness::*;

#[test]
fn revoke_then_crl_makes_openssl_reject_only_the_revoked_crl_openssl() {
    let env = Env::new();
    let (good, _) = env.sign(&csr("p256-default.pem"), &[]);
    let (bad, bad_serial) = env.sign(&csr("rsa2048-default.pem"), &[]);
    env.ok(&["revoke", &bad_serial, "--reason", "keyCompromise"]);
    env.ok(&["crl"]);
    let (ok, out) = verify(&env, &good, true);
    assert!(ok, "{out}");
    let (ok, out) = verify(&env, &bad, true);
    assert!(!ok);
    assert!(out.contains("certificate revoked"), "{out}");
    let text = crl_text(&env);
    assert!(text.contains(&bad_serial), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(
        text.contains("X509v3 CRL Number: \n                1\n"),
        "{text}"
    );
    let (ok, out) = openssl(&[
        "crl",
        "-in",
        env.dir.join("ca.crl").to_str().unwrap(),
        "-noout",
        "-CAfile",
        env.dir.join("ca.crt").to_str().unwrap(),
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    let e = &env.index()["certificates"][1];
    assert_eq!(e["status"], "revoked");
    assert_eq!(e["revocation_reason"], "keyCompromise");
    env.assert_check_ok();
}

#[test]
fn every_rfc5280_reason_code_is_accepted_revoke_reasons() {
    let env = Env::with_key("ed25519");
    let reasons = [
        ("unspecified", None),
        ("keyCompromise", Some("Key Compromise")),
        ("cACompromise", Some("CA Compromise")),
        ("affiliationChanged", Some("Affiliation Changed")),
        ("superseded", Some("Superseded")),
        ("cessationOfOperation", Some("Cessation Of Operation")),
        ("certificateHold", Some("Certificate Hold")),
        ("privilegeWithdrawn", Some("Privilege Withdrawn")),
        ("aACompromise", Some("AA Compromise")),
    ];
    for (reason, _) in reasons {
        let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
        env.ok(&["revoke", &serial, "--reason", reason]);
    }
    env.ok(&["crl"]);
    let (_, text) = openssl(&[
        "crl",
        "-in",
        env.dir.join("ca.crl").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    for (_, shown) in reasons {
        if let Some(shown) = shown {
            assert!(text.contains(shown), "{shown}: {text}");
        }
    }
    assert_eq!(text.matches("Serial Number:").count(), reasons.len());
    let err = env.refused(
        &[
            "revoke",
            env.index()["certificates"][0]["serial"].as_str().unwrap(),
            "--reason",
            "removeFromCRL",
        ],
        REFUSED,
    );
    assert!(err.contains("delta CRL"), "{err}");
}

#[test]
fn revoke_refuses_unknown_repeated_and_malformed_serials_revoke_refuse() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let err = env.refused(&["revoke", "0ABC"], REFUSED);
    assert!(err.contains("no certificate with serial 0ABC"), "{err}");
    env.ok(&["revoke", &serial.to_lowercase()]);
    let err = env.refused(&["revoke", &serial], REFUSED);
    assert!(err.contains("already revoked"), "{err}");
    // A malformed serial is a usage error (EXIT-USAGE), like a malformed --reason.
    for bad in ["../index", "/etc/passwd", "12G4", ""] {
        env.refused(&["revoke", bad], USAGE);
    }
    env.refused(&["revoke", &serial, "--reason", "bogus"], 2);
}

#[test]
fn crl_numbers_only_grow_crl_number() {
    let env = Env::new();
    for expected in ["01", "02", "03"] {
        env.ok(&["crl"]);
        assert_eq!(env.status()["crl"]["number"], expected);
    }
    assert_eq!(
        std::fs::read_to_string(env.dir.join("crlnumber")).unwrap(),
        "04\n"
    );
}

#[test]
fn crl_out_and_days_crl_out() {
    let env = Env::new();
    let out = env.path("pub.crl");
    env.ok(&["crl", "--days", "7", "--out", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(env.dir.join("ca.crl")).unwrap()
    );
    let (_, text) = openssl(&[
        "crl",
        "-in",
        out.to_str().unwrap(),
        "-noout",
        "-lastupdate",
        "-nextupdate",
    ]);
    assert!(text.contains("nextUpdate"), "{text}");
    env.refused(&["crl", "--out", out.to_str().unwrap()], REFUSED);
    env.refused(&["crl", "--days", "0"], 2);
}

#[test]
fn expect_generation_guards_every_mutation_cas() {
    let env = Env::new();
    let g = env.status()["generation"].as_u64().unwrap();
    let stale = (g - 1).to_string();
    let err = env.refused(&["crl", "--expect-generation", &stale], CONFLICT);
    assert!(
        err.contains(&format!("state changed since generation {stale} (now {g})")),
        "{err}"
    );
    env.refused(
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--expect-generation",
            &stale,
        ],
        CONFLICT,
    );
    env.ok(&[
        "sign",
        csr("p256-default.pem").to_str().unwrap(),
        "--expect-generation",
        &g.to_string(),
    ]);
    let serial = env.index()["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    env.refused(
        &["revoke", &serial, "--expect-generation", &g.to_string()],
        CONFLICT,
    );
    env.ok(&[
        "revoke",
        &serial,
        "--expect-generation",
        &(g + 1).to_string(),
    ]);
}

/// CRL-CLAMP: `crl --days 365` on a CA that expires in 30 days gives a nextUpdate at the CA's
/// notAfter, with a note (it was 335 days past it, silently).
#[test]
fn crl_next_update_is_clamped_to_the_ca_crl_clamp() {
    let env = Env::empty();
    env.ok(&["init", "--subject", "CN=Short CA", "--days", "30"]);
    let out = env.ok(&["crl", "--days", "365"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nextUpdate clamped to the CA certificate's notAfter"),
        "{err}"
    );
    let crl = write(&env, "clamped.crl", &out.stdout);
    let (_, next) = openssl(&["crl", "-in", crl.to_str().unwrap(), "-noout", "-nextupdate"]);
    let (_, end) = openssl(&[
        "x509",
        "-in",
        env.dir.join("ca.crt").to_str().unwrap(),
        "-noout",
        "-enddate",
    ]);
    let next = next.trim().trim_start_matches("nextUpdate=");
    let end = end.trim().trim_start_matches("notAfter=");
    assert_eq!(next, end);
    // Within the CA's validity nothing is clamped.
    let out = env.ok(&["crl", "--days", "7"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("next update in 7 days"));
}
