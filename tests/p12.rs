//! ISSUE-P12: `ca issue --p12` adds NAME.p12 to the pair directory — the key, the leaf, the
//! intermediates and the root, encrypted (PBES2 with PBKDF2-SHA-256 and AES-256-CBC, an
//! HMAC-SHA-256 MAC; `--p12-legacy`: 3DES and a SHA-1 MAC) — read back by OpenSSL (without
//! `-legacy` for the modern form, with it for the legacy one) and by GnuTLS. The crash sweep
//! of `issue --p12` is in hierarchy.rs (CHAIN-OUT).

use std::path::Path;

use crate::harness::*;
use crate::hierarchy::{installed_sub_ca, run_ok};

/// The passphrase of the tests' bundles.
pub(crate) const PASSPHRASE: &str = "p12 passphrase";

/// The certificates (DER) of a PEM text, in order.
fn ders(pem_text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(pem_text)
        .unwrap()
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.contents().to_vec())
        .collect()
}

fn der_of(path: &Path) -> Vec<u8> {
    ders(&std::fs::read_to_string(path).unwrap()).remove(0)
}

/// `openssl pkcs12 ARGS -in P12 -passin file:PASS`: (success, stdout + stderr).
fn pkcs12(p12: &Path, pass: &Path, args: &[&str]) -> (bool, String) {
    let passin = format!("file:{}", pass.display());
    let mut all = vec!["pkcs12", "-in", p12.to_str().unwrap(), "-passin", &passin];
    all.extend(args);
    openssl(&all)
}

#[test]
#[ignore = "full tier: certtool (gnutls-bin)"]
fn issue_p12_holds_the_key_and_the_whole_chain_issue_p12() {
    let work = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (root, sub) = installed_sub_ca(work.path(), "CN=Issuing");
    let pass = pass_file_at(&work.path().join("p12.pass"), PASSPHRASE);
    let out = work.path().join("pairs");
    for kt in ["ecdsa-p256", "ed25519", "rsa-2048", "ecdsa-p384"] {
        let name = format!("{kt}.test");
        run_ok(
            &sub,
            &[
                "issue",
                &name,
                "--key-type",
                kt,
                "--out-dir",
                &s(&out),
                "--p12",
                "--key-passphrase-file",
                &s(&pass),
            ],
        );
        let pair = out.join(&name);
        let p12 = pair.join(format!("{name}.p12"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&p12).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{kt}: NAME.p12 holds the key");
        // Read without -legacy: PBES2/AES-256-CBC bags, HMAC-SHA-256 MAC.
        let (ok, info) = pkcs12(&p12, &pass, &["-info", "-noout"]);
        assert!(ok, "{kt}: {info}");
        assert!(info.contains("MAC: sha256"), "{kt}: {info}");
        assert!(
            info.contains("PBES2, PBKDF2, AES-256-CBC") && info.contains("hmacWithSHA256"),
            "{kt}: {info}"
        );
        assert!(
            !info.contains("3DES") && !info.contains("RC2"),
            "{kt}: {info}"
        );
        // The key, then the leaf, the issuing CA and the root.
        let (ok, text) = pkcs12(&p12, &pass, &["-nodes"]);
        assert!(ok, "{kt}: {text}");
        let mut got = ders(&text);
        let mut want = vec![
            der_of(&pair.join(format!("{name}.crt"))),
            der_of(&sub.join("ca.crt")),
            der_of(&root.join("ca.crt")),
        ];
        got.sort();
        want.sort();
        assert_eq!(got, want, "{kt}: the leaf and the chain up to the root");
        let key_pem = work.path().join(format!("{kt}.key.pem"));
        std::fs::write(&key_pem, &text).unwrap();
        let (_, k) = openssl(&["pkey", "-in", &s(&key_pem), "-pubout"]);
        let (_, c) = openssl(&[
            "x509",
            "-in",
            &s(&pair.join(format!("{name}.crt"))),
            "-noout",
            "-pubkey",
        ]);
        assert_eq!(k, c, "{kt}: the bundled key is the certificate's");
        assert!(
            !pkcs12(&p12, &work.path().join("i.csr"), &["-info", "-noout"]).0,
            "{kt}: a wrong passphrase is refused"
        );
        // GnuTLS reads it too.
        let gnutls = std::process::Command::new("certtool")
            .args(["--p12-info", "--inder", "--infile"])
            .arg(&p12)
            .args(["--password", PASSPHRASE])
            .output()
            .expect("certtool (GnuTLS, apt-get install gnutls-bin) is needed for this test");
        let gtext = String::from_utf8_lossy(&gnutls.stdout);
        assert!(gnutls.status.success(), "{kt}: {gnutls:?}");
        assert_eq!(
            gtext.matches("BEGIN CERTIFICATE").count(),
            3,
            "{kt}: {gtext}"
        );
        assert!(gtext.contains("PBES2-AES256-CBC"), "{kt}: {gtext}");
    }
}

#[test]
fn issue_p12_legacy_uses_3des_and_a_sha1_mac_issue_p12() {
    let env = Env::new();
    let pass = pass_file_at(&env.path("p12.pass"), PASSPHRASE);
    let out = env.path("pairs");
    // --encrypt-key and --p12-legacy share the passphrase.
    env.ok(&[
        "issue",
        "old.test",
        "--out-dir",
        out.to_str().unwrap(),
        "--p12-legacy",
        "--encrypt-key",
        "--key-passphrase-file",
        pass.to_str().unwrap(),
    ]);
    let p12 = out.join("old.test/old.test.p12");
    let (ok, info) = pkcs12(&p12, &pass, &["-legacy", "-info", "-noout"]);
    assert!(ok, "{info}");
    assert!(info.contains("MAC: sha1"), "{info}");
    assert_eq!(
        info.matches("pbeWithSHA1And3-KeyTripleDES-CBC").count(),
        2,
        "the certificates and the key: {info}"
    );
    let (ok, text) = pkcs12(&p12, &pass, &["-legacy", "-nodes"]);
    assert!(ok, "{text}");
    // A root CA's bundle: the leaf and ca.crt.
    assert_eq!(ders(&text).len(), 2, "{text}");
    let passin = format!("file:{}", pass.display());
    let (ok, log) = openssl(&[
        "pkey",
        "-in",
        out.join("old.test/old.test.key").to_str().unwrap(),
        "-passin",
        &passin,
        "-noout",
    ]);
    assert!(ok, "NAME.key is encrypted with the same passphrase: {log}");
}

#[test]
fn issue_p12_without_a_passphrase_is_refused_byte_identical_issue_p12() {
    let env = Env::new();
    let out = env.path("pairs");
    let o = out.to_str().unwrap();
    // No terminal and no file: exit 3, nothing written, no pair directory.
    let err = env.refused(&["issue", "web.test", "--out-dir", o, "--p12"], REFUSED);
    assert!(err.contains("passphrase"), "{err}");
    assert!(!out.join("web.test").exists());
    let short = write(&env, "short.pass", b"short\n");
    let s = short.to_str().unwrap();
    env.refused(
        &[
            "issue",
            "web.test",
            "--out-dir",
            o,
            "--p12-legacy",
            "--key-passphrase-file",
            s,
        ],
        REFUSED,
    );
    assert!(!out.join("web.test").exists());
    // The passphrase file goes with --encrypt-key or --p12.
    env.refused(
        &[
            "issue",
            "web.test",
            "--out-dir",
            o,
            "--key-passphrase-file",
            s,
        ],
        USAGE,
    );
    // A dry run names NAME.p12 and writes nothing.
    let pass = pass_file_at(&env.path("p12.pass"), PASSPHRASE);
    let before = snapshot(&env.dir);
    let dry = env.ok(&[
        "issue",
        "web.test",
        "--out-dir",
        o,
        "--p12",
        "--key-passphrase-file",
        pass.to_str().unwrap(),
        "--dry-run",
    ]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(text.contains("web.test.p12 (mode 600)"), "{text}");
    assert_unchanged(&before, &snapshot(&env.dir));
    assert!(!out.join("web.test").exists());
}
