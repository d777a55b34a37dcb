//! OpenSSL interop: every CSR `openssl req` makes for a supported key is signed, and every
//! certificate verifies with `openssl verify`, for every CA key type (SPEC.md CSR-ACCEPT).

use crate::harness::*;

const ACCEPTED: &[&str] = &[
    "rsa2048-default.pem",
    "rsa3072-default.pem",
    "rsa4096-default.pem",
    "rsa2048-sha384.pem",
    "rsa2048-sha512.pem",
    "rsa2048-pss.pem",
    "p256-default.pem",
    "p256-sha384.pem",
    "p384-default.pem",
    "p384-sha384.pem",
    "ed25519-default.pem",
    "p256-sans.pem",
    "p256-wants-ca.pem",
];

#[test]
fn every_openssl_csr_is_signed_and_verifies_for_every_ca_key_csr_accept() {
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let env = Env::with_key(kt);
        let mut serials = Vec::new();
        for fixture in ACCEPTED {
            let (pem, serial) = env.sign(&csr(fixture), &["--profile", "server-client"]);
            let (ok, out) = verify(&env, &pem, false);
            assert!(ok, "{kt} / {fixture}: {out}");
            serials.push(serial);
        }
        env.ok(&["revoke", &serials[0], "--reason", "superseded"]);
        env.ok(&["crl"]);
        for (i, fixture) in ACCEPTED.iter().enumerate() {
            let pem =
                std::fs::read_to_string(env.dir.join(format!("certs/{}.pem", serials[i]))).unwrap();
            let (ok, out) = verify(&env, &pem, true);
            assert_eq!(ok, i != 0, "{kt} / {fixture} with CRL: {out}");
        }
        env.assert_check_ok();
    }
}

#[test]
fn interop_script_generates_fresh_csrs_csr_accept() {
    // Fixtures are checked in; this makes fresh ones with the machine's openssl so a
    // different OpenSSL default cannot slip past.
    let env = Env::new();
    for (name, args) in [
        ("rsa", vec!["-newkey", "rsa:2048"]),
        (
            "ec",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        ("ed", vec!["-newkey", "ed25519"]),
    ] {
        let csr_path = env.path(&format!("{name}.csr"));
        let key = env.path(&format!("{name}.key"));
        let mut a = vec![
            "req",
            "-new",
            "-nodes",
            "-subj",
            "/CN=fresh.example.test",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            csr_path.to_str().unwrap(),
        ];
        a.extend(args);
        let (ok, out) = openssl(&a);
        assert!(ok, "{out}");
        let (pem, _) = env.sign(&csr_path, &[]);
        assert!(verify(&env, &pem, false).0);
    }
}

/// GnuTLS `certtool`, the second verifier (.ci/run installs gnutls-bin).
fn certtool(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("certtool")
        .args(args)
        .output()
        .expect("certtool (GnuTLS, apt-get install gnutls-bin) is needed for this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn gnutls_verifies_issued_renewed_certificates_and_the_crl_interop_gnutls() {
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072"] {
        let env = Env::with_key(kt);
        let (issued, serial) = env.sign(&csr("p256-default.pem"), &[]);
        let renewed = String::from_utf8(env.ok(&["renew", &serial]).stdout).unwrap();
        env.ok(&["revoke", &serial, "--crl"]);
        let ca = env.dir.join("ca.crt");
        for (name, pem) in [("issued", &issued), ("renewed", &renewed)] {
            let file = write(&env, &format!("{name}.pem"), pem.as_bytes());
            let (ok, text) = certtool(&[
                "--verify",
                "--load-ca-certificate",
                ca.to_str().unwrap(),
                "--infile",
                file.to_str().unwrap(),
            ]);
            assert!(ok && text.contains("Verified"), "{kt} {name}: {text}");
        }
        let (ok, text) = certtool(&[
            "--verify-crl",
            "--load-ca-certificate",
            ca.to_str().unwrap(),
            "--infile",
            env.dir.join("ca.crl").to_str().unwrap(),
        ]);
        assert!(ok && text.contains("Verified"), "{kt} crl: {text}");
        assert!(
            text.contains(&serial.to_lowercase()) || text.contains(&serial),
            "{kt}: {text}"
        );
    }
}
