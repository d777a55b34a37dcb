//! `ca init` (SPEC.md INIT-*, DIR-*, SERIAL-START).

use std::os::unix::fs::PermissionsExt;

use crate::harness::*;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn init_creates_every_state_file_dir_files() {
    let env = Env::new();
    let d = &env.dir;
    assert_eq!(mode(d), 0o700);
    assert_eq!(mode(&d.join("ca.key")), 0o600);
    assert_eq!(mode(&d.join("ca.crt")), 0o644);
    assert!(d.join("certs").is_dir());
    assert_eq!(
        std::fs::read_to_string(d.join("crlnumber")).unwrap(),
        "01\n"
    );
    let serial = std::fs::read_to_string(d.join("serial")).unwrap();
    assert_eq!(serial.len(), 33, "32 hex digits and a newline: {serial:?}");
    let index = std::fs::read_to_string(d.join("index.json")).unwrap();
    let head = index.split('"').nth(7).unwrap().to_string();
    let signature = index.rsplit('"').nth(1).unwrap().to_string();
    let audit_len = std::fs::metadata(d.join("audit.log")).unwrap().len();
    let zeros = "0".repeat(64);
    assert_eq!(
        index,
        format!(
            "{{\n  \"format\": 5,\n  \"generation\": 1,\n  \"audit_head\": \"{head}\",\n  \
             \"log_len\": 0,\n  \"log_head\": \"{zeros}\",\n  \"max_serial\": null,\n  \
             \"policy_sha256\": null,\n  \"checkpoint\": {{\n    \"generation\": 1,\n    \
             \"audit_head\": \"{head}\",\n    \"audit_len\": {audit_len},\n    \"log_len\": 0,\n    \
             \"log_head\": \"{zeros}\",\n    \"max_serial\": null,\n    \"serial\": \"{}\",\n    \
             \"crlnumber\": \"01\",\n    \"crl_sha256\": null,\n    \"policy_sha256\": null,\n    \
             \"signature\": \"{signature}\"\n  }}\n}}\n",
            serial.trim()
        )
    );
    assert_eq!(std::fs::read(d.join("index.log")).unwrap(), b"");
    assert_eq!(mode(&d.join("index.log")), 0o644);
    let audit = std::fs::read_to_string(d.join("audit.log")).unwrap();
    assert_eq!(audit.lines().count(), 1);
    assert!(audit.contains("\"operation\":\"init\""), "{audit}");
    assert_eq!(mode(&d.join("audit.log")), 0o644);
    assert!(!d.join("ca.crl").exists());
}

#[test]
fn init_ca_certificate_and_key_are_accepted_by_openssl_init_openssl() {
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let env = Env::with_key(kt);
        let crt = env.dir.join("ca.crt");
        let key = env.dir.join("ca.key");
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            crt.to_str().unwrap(),
            crt.to_str().unwrap(),
        ]);
        assert!(ok, "{kt}: {out}");
        let (ok, from_key) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
        assert!(ok, "{kt}: openssl cannot read ca.key: {from_key}");
        let (_, from_cert) = openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert, "{kt}: ca.key does not match ca.crt");
        let (_, text) = openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-text"]);
        assert!(text.contains("CA:TRUE"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
        assert!(text.contains("Subject Key Identifier"), "{text}");
    }
}

#[test]
fn init_path_len_is_written_init_pathlen() {
    let env = Env::empty();
    env.ok(&["init", "--subject", "CN=Root", "--path-len", "0"]);
    let (_, text) = openssl(&[
        "x509",
        "-in",
        env.dir.join("ca.crt").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
}

#[test]
fn init_refuses_an_existing_ca_init_exists() {
    let env = Env::new();
    let err = env.refused(&["init", "--subject", "CN=Other"], REFUSED);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn init_refuses_a_non_empty_directory_init_exists() {
    let env = Env::empty();
    std::fs::create_dir(&env.dir).unwrap();
    std::fs::write(env.dir.join("notes.txt"), "mine").unwrap();
    env.refused(&["init", "--subject", "CN=Root"], REFUSED);
}

#[test]
fn init_accepts_an_empty_directory() {
    let env = Env::empty();
    std::fs::create_dir(&env.dir).unwrap();
    env.ok(&["init", "--subject", "CN=Root"]);
    env.assert_check_ok();
}

#[test]
fn init_with_a_bad_subject_leaves_nothing_init_atomic() {
    for subject in ["", "CN", "XX=a", "CN=a,CN=b", "C=Germany", "CN=a\u{1}b"] {
        let env = Env::empty();
        let out = env.run(&["init", "--subject", subject]);
        // A malformed --subject is a usage error (EXIT-USAGE), like a malformed --san.
        assert_eq!(out.status.code(), Some(USAGE), "{subject:?}");
        assert!(!env.dir.exists(), "{subject:?} left a directory");
        assert_eq!(
            std::fs::read_dir(env.tmp.path()).unwrap().count(),
            0,
            "leftovers"
        );
    }
}

#[test]
fn init_key_is_0600_whatever_the_umask_init_modes() {
    let env = Env::empty();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec '{}' --dir '{}' init --subject CN=Root",
            bin().display(),
            env.dir.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(mode(&env.dir.join("ca.key")), 0o600);
    assert_eq!(mode(&env.dir), 0o700);
}

#[test]
fn init_recreated_ca_never_reuses_serials_serial_start() {
    let a = Env::new();
    let b = Env::new();
    assert_ne!(a.counter(), b.counter());
}

#[test]
fn usage_errors_exit_2_exit_usage() {
    let env = Env::new();
    env.refused(&["sign"], 2);
    env.refused(&["frobnicate"], 2);
    env.refused(&["init", "--subject", "CN=x", "--key-type", "rsa"], 2);
}

#[test]
fn commands_on_a_missing_ca_fail_clearly_exit_state() {
    let env = Env::empty();
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(STATE));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ca init"));
    assert!(!env.dir.exists());
}

#[test]
fn dir_option_is_global_and_ca_dir_env_works_cli_dir() {
    let env = Env::new();
    let out = std::process::Command::new(bin())
        .args(["status", "--dir"])
        .arg(&env.dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = std::process::Command::new(bin())
        .arg("status")
        .env("CA_DIR", &env.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// init names the key type as --key-type spells it (not Rust's "EcdsaP256").
#[test]
fn init_names_the_key_type_as_the_option_spells_it_init() {
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let env = Env::empty();
        let out = env.ok(&["init", "--subject", "CN=Named", "--key-type", kt]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("({kt}, valid 3650 days)")), "{err}");
    }
}

/// A passphrase file given to `init` without `--encrypt-key` (review finding: ca.key was
/// written unencrypted without a word): the CA is made, with a note saying the key is not
/// encrypted and naming --encrypt-key.
#[test]
fn init_says_when_a_passphrase_file_is_not_used_init_encrypt_note() {
    let env = Env::empty();
    let pass = pass_file(&env, "p.pass", "long enough passphrase");
    let out = env
        .ca()
        .args(["--passphrase-file", &pass, "init", "--subject", "CN=Plain"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("written unencrypted") && err.contains("--encrypt-key"),
        "{err}"
    );
    let key = std::fs::read_to_string(env.dir.join("ca.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
}
