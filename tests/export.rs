//! `ca export` (SPEC.md EXPORT): a certificate the index records, bundled with the key its
//! holder has — PKCS#12 (modern and legacy forms, read back by OpenSSL) or the certificate
//! with its chain. Refused, with the workspace byte-identical, for a key that is not the
//! certificate's, a certificate the index does not record, an existing output, an edited
//! index.log.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{Env, REFUSED, STATE, openssl, pass_file, snapshot};

/// An issued pair: (serial, key file, certificate file).
fn issued(env: &Env, name: &str, extra: &[&str]) -> (String, String, String) {
    let out_dir = env.path("pairs");
    let mut args = vec!["issue", name, "--out-dir", out_dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.ok(&args);
    let pair = out_dir.join(name);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    (
        env.last_serial(),
        s(&pair.join(format!("{name}.key"))),
        s(&pair.join(format!("{name}.crt"))),
    )
}

/// The public key (PEM) of a private key or a certificate file, as OpenSSL reads it.
fn public_key(args: &[&str]) -> String {
    let (ok, out) = openssl(args);
    assert!(ok, "openssl {args:?}: {out}");
    out
}

#[test]
fn a_pkcs12_of_an_issued_certificate_opens_with_openssl_in_both_forms_export() {
    let env = Env::new();
    let (serial, key, cert) = issued(&env, "web.test", &[]);
    let pass = pass_file(&env, "p12.pass", "a long passphrase");
    let state = snapshot(&env.dir);
    for (option, legacy) in [("--p12", false), ("--p12-legacy", true)] {
        let out = env.path(&format!("web{option}.p12"));
        let out_s = out.to_str().unwrap();
        env.ok(&[
            "export",
            &serial[serial.len() - 8..],
            "--key",
            &key,
            option,
            out_s,
            "--p12-passphrase-file",
            &pass,
        ]);
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600,
            "{option}: the bundle holds a key"
        );
        let passin = format!("file:{pass}");
        let mut args = vec!["pkcs12", "-in", out_s, "-passin", &passin, "-nodes"];
        if legacy {
            args.push("-legacy");
        }
        let (ok, text) = openssl(&args);
        assert!(ok, "{option}: {text}");
        assert_eq!(
            text.matches("BEGIN CERTIFICATE").count(),
            2,
            "{option}: leaf and root"
        );
        assert!(text.contains("PRIVATE KEY"), "{option}");
        // The key in the bundle is the certificate's.
        let bundled = env.path("bundled.pem");
        std::fs::write(&bundled, &text).unwrap();
        let b = bundled.to_str().unwrap();
        assert_eq!(
            public_key(&["pkey", "-in", b, "-pubout"]),
            public_key(&["x509", "-in", &cert, "-noout", "-pubkey"]),
            "{option}"
        );
    }
    // A read: the CA is as it was.
    assert_eq!(snapshot(&env.dir), state);
}

#[test]
fn a_fullchain_export_of_a_sub_ca_certificate_verifies_to_the_root_export() {
    let env = Env::new();
    let sub_env = Env::empty();
    sub_env.ok(&[
        "init",
        "--subject",
        "CN=Export Issuing CA",
        "--parent",
        env.dir.to_str().unwrap(),
    ]);
    let (serial, _, cert) = issued(&sub_env, "api.test", &[]);
    let chain = sub_env.path("chain.pem");
    sub_env.ok(&[
        "export",
        "--cert",
        &cert,
        "--fullchain",
        chain.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&chain).unwrap();
    assert_eq!(
        text.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and the issuing CA"
    );
    let root = env.dir.join("ca.crt");
    let (ok, out) = openssl(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        root.to_str().unwrap(),
        "-untrusted",
        chain.to_str().unwrap(),
        chain.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    // To stdout, the same bytes.
    let out = sub_env.ok(&["export", &serial, "--fullchain", "-"]);
    assert_eq!(out.stdout, text.as_bytes());
}

#[test]
fn export_refuses_a_wrong_key_an_unrecorded_certificate_and_an_existing_output_export() {
    let env = Env::new();
    let (serial, key, _) = issued(&env, "web.test", &[]);
    let pass = pass_file(&env, "p12.pass", "a long passphrase");
    let out = env.path("out.p12");
    let out_s = out.to_str().unwrap();
    // Another key (of the same type).
    let other = env.path("other.key");
    let (ok, text) = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        other.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let err = env.refused(
        &[
            "export",
            &serial,
            "--key",
            other.to_str().unwrap(),
            "--p12",
            out_s,
            "--p12-passphrase-file",
            &pass,
        ],
        REFUSED,
    );
    assert!(err.contains("is not the key of certificate"), "{err}");
    // A certificate this CA never issued (another CA's, same serial length or not).
    let stranger = Env::new();
    let (_, _, foreign) = issued(&stranger, "web.test", &[]);
    let err = env.refused(
        &["export", "--cert", &foreign, "--fullchain", out_s],
        REFUSED,
    );
    assert!(err.contains("not a certificate index.log records"), "{err}");
    // An output that exists is never replaced.
    std::fs::write(&out, b"keep me").unwrap();
    let err = env.refused(
        &[
            "export",
            &serial,
            "--key",
            &key,
            "--p12",
            out_s,
            "--p12-passphrase-file",
            &pass,
        ],
        REFUSED,
    );
    assert!(err.contains("already exists"), "{err}");
    // No bundle passphrase and no terminal to ask on.
    std::fs::remove_file(&out).unwrap();
    let err = env.refused(&["export", &serial, "--key", &key, "--p12", out_s], REFUSED);
    assert!(err.contains("--p12-passphrase-file"), "{err}");
}

#[test]
fn an_encrypted_key_needs_its_passphrase_export() {
    let env = Env::new();
    let key_pass = pass_file(&env, "key.pass", "the key's own passphrase");
    let (serial, key, _) = issued(
        &env,
        "web.test",
        &["--encrypt-key", "--key-passphrase-file", &key_pass],
    );
    let p12_pass = pass_file(&env, "p12.pass", "a long passphrase");
    let wrong = pass_file(&env, "wrong.pass", "not the passphrase");
    let out = env.path("web.p12");
    let out_s = out.to_str().unwrap();
    let args = |pass: &str| -> Vec<String> {
        [
            "export",
            &serial,
            "--key",
            &key,
            "--key-passphrase-file",
            pass,
            "--p12",
            out_s,
            "--p12-passphrase-file",
            &p12_pass,
        ]
        .map(String::from)
        .to_vec()
    };
    let wrong_args = args(&wrong);
    let v: Vec<&str> = wrong_args.iter().map(String::as_str).collect();
    let err = env.refused(&v, REFUSED);
    assert!(err.contains("wrong passphrase"), "{err}");
    let good = args(&key_pass);
    let v: Vec<&str> = good.iter().map(String::as_str).collect();
    env.ok(&v);
    assert!(out.exists());
}

#[test]
fn export_answers_only_from_the_signed_state_export_verified_read() {
    let env = Env::new();
    let (serial, _, _) = issued(&env, "web.test", &[]);
    // A same-length edit of index.log: the subject's case.
    let log_path = env.dir.join("index.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let edited = log.replacen("CN=web.test", "CN=WEB.test", 1);
    assert_ne!(edited, log);
    std::fs::write(&log_path, edited).unwrap();
    let out = env.path("chain.pem");
    let err = env.refused(
        &["export", &serial, "--fullchain", out.to_str().unwrap()],
        STATE,
    );
    assert!(err.contains("index.log"), "{err}");
}
