//! The CA key on a PKCS#11 token (SPEC.md KEYREF, TOKEN-*), with a throwaway SoftHSM2 token
//! per test in the test's own temporary directory (`SOFTHSM2_CONF`), keys made by opensc's
//! `pkcs11-tool`, and what the token signed checked by OpenSSL and GnuTLS.
//!
//! Every test here needs softhsm2 and opensc, so all are in the full tier (docs/testing.md:
//! the fast tier needs nothing but openssl; edges.rs checks it).

use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;

pub(crate) const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub(crate) const PIN: &str = "246810";
const SO_PIN: &str = "13579135";

/// A SoftHSM2 token in a temporary directory of its own, beside the test's workspace: a
/// token counts failed logins in its store, which is the token's business, so the
/// workspace that [`Token::refused`] compares holds only fileca's files.
pub(crate) struct Token {
    pub(crate) store: tempfile::TempDir,
    pub(crate) conf: PathBuf,
    pub(crate) label: String,
}

impl Token {
    /// Initialises a token labelled `label` in a temporary store.
    pub(crate) fn new(label: &str) -> Token {
        require("softhsm2-util", "softhsm2");
        require(MODULE, "softhsm2");
        require("pkcs11-tool", "opensc");
        let store = tempfile::tempdir().unwrap();
        let dir = store.path().join("tokens");
        std::fs::create_dir_all(&dir).unwrap();
        let conf = store.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.display()
            ),
        )
        .unwrap();
        let token = Token {
            store,
            conf,
            label: label.into(),
        };
        token.init(label);
        token
    }

    /// Adds another token to the same SoftHSM2 store.
    pub(crate) fn init(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--init-token", "--free", "--label", label, "--pin", PIN])
            .args(["--so-pin", SO_PIN])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", output_text(&out));
    }

    /// `pkcs11-tool` against this token.
    pub(crate) fn tool(&self, args: &[&str]) -> String {
        let out = Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--module", MODULE, "--token-label", &self.label])
            .args(args)
            .output()
            .unwrap();
        let text = output_text(&out);
        assert!(out.status.success(), "pkcs11-tool {args:?}: {text}");
        text
    }

    /// Generates a key pair on the token (`EC:prime256v1`, `EC:secp384r1`, `rsa:3072`).
    pub(crate) fn keygen(&self, key_type: &str, label: &str, id: &str) {
        self.tool(&[
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            label,
            "--id",
            id,
        ]);
    }

    /// Deletes the key pair labelled `label`.
    pub(crate) fn delete(&self, label: &str) {
        for class in ["privkey", "pubkey"] {
            self.tool(&[
                "--login",
                "--pin",
                PIN,
                "--delete-object",
                "--type",
                class,
                "--label",
                label,
            ]);
        }
    }

    /// `ca ARGS` for `env` with this token's SoftHSM2 configuration.
    pub(crate) fn ca(&self, env: &Env) -> Command {
        let mut c = env.ca();
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    #[track_caller]
    pub(crate) fn ok(&self, env: &Env, args: &[&str]) -> String {
        let out = self
            .ca(env)
            .current_dir(env.tmp.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ca {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `ca ARGS`, asserts exit `code` and the whole workspace byte-identical
    /// afterwards; returns stderr.
    #[track_caller]
    pub(crate) fn refused(&self, env: &Env, args: &[&str], code: i32) -> String {
        let before = snapshot(env.tmp.path());
        let mut cmd = self.ca(env);
        cmd.current_dir(env.tmp.path()).args(args);
        let out = bounded(cmd, DEADLINE);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "ca {args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "ca {args:?} printed to stdout");
        assert_unchanged(&before, &snapshot(env.tmp.path()));
        assert!(!stderr.contains(PIN), "the PIN was shown: {stderr}");
        stderr
    }
}

/// The PIN file (mode 0600) in the workspace.
pub(crate) fn pin_file(env: &Env, pin: &str) -> String {
    pass_file(env, "token.pin", pin)
}

/// `ca init --key pkcs11:… --module …` adopting the token key `object`.
pub(crate) fn init_on_token(env: &Env, token: &Token, object: &str) {
    let pin = pin_file(env, PIN);
    let uri = format!("pkcs11:token={};object={object}", token.label);
    token.ok(
        env,
        &[
            "init",
            "--subject",
            "CN=Token Root CA,O=fileca tests",
            "--key",
            &uri,
            "--module",
            MODULE,
            "--pin-file",
            &pin,
        ],
    );
}

/// GnuTLS `certtool`, the second verifier.
pub(crate) fn certtool(args: &[&str]) -> (bool, String) {
    require("certtool", "gnutls-bin");
    let out = Command::new("certtool").args(args).output().unwrap();
    (out.status.success(), output_text(&out))
}

/// Verifies a certificate against ca.crt and ca.crl with OpenSSL (`-crl_check`) and GnuTLS.
#[track_caller]
pub(crate) fn both_verify(env: &Env, name: &str, pem: &str, revoked: bool) {
    let (ok, text) = verify(env, pem, true);
    assert_eq!(ok, !revoked, "openssl verify -crl_check of {name}: {text}");
    if revoked {
        assert!(text.contains("certificate revoked"), "{name}: {text}");
    }
    let file = write(env, &format!("{name}.pem"), pem.as_bytes());
    let ca = env.dir.join("ca.crt");
    let (ok, text) = certtool(&[
        "--verify",
        "--load-ca-certificate",
        ca.to_str().unwrap(),
        "--load-crl",
        env.dir.join("ca.crl").to_str().unwrap(),
        "--infile",
        file.to_str().unwrap(),
    ]);
    assert_eq!(ok, !revoked, "certtool --verify of {name}: {text}");
}

/// Every signing command with a key of `key_type` on the token: init (the self-signed
/// certificate and the first checkpoint signed on the token), sign, a batch, issue, renew,
/// revoke, crl; verified by OpenSSL and GnuTLS; then status, check and passwd.
fn every_command_with(key_type: &str) -> (Env, Token) {
    let env = Env::empty();
    let token = Token::new("lab-root");
    token.keygen(key_type, "root-key", "01");
    init_on_token(&env, &token, "root-key");
    let pin = pin_file(&env, PIN);
    let key = std::fs::read_to_string(env.dir.join("ca.key")).unwrap();
    assert!(key.starts_with("fileca pkcs11 key reference v1\n"), "{key}");
    assert!(!key.contains(PIN) && !key.contains("PRIVATE KEY"), "{key}");

    let issued = token.ok(
        &env,
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--pin-file",
            &pin,
        ],
    );
    let serial = env.last_serial();
    let batch_dir = env.path("batch");
    token.ok(
        &env,
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            csr("p256-sans.pem").to_str().unwrap(),
            "--out-dir",
            batch_dir.to_str().unwrap(),
            "--pin-file",
            &pin,
        ],
    );
    let pair = env.path("pair");
    token.ok(
        &env,
        &[
            "issue",
            "web.test",
            "--out-dir",
            pair.to_str().unwrap(),
            "--pin-file",
            &pin,
        ],
    );
    let issued_pair = std::fs::read_to_string(pair.join("web.test/web.test.crt")).unwrap();
    let renewed = token.ok(&env, &["renew", &serial, "--pin-file", &pin]);
    token.ok(&env, &["revoke", &serial, "--pin-file", &pin]);
    token.ok(&env, &["crl", "--pin-file", &pin]);

    both_verify(&env, "issued", &issued, true);
    both_verify(&env, "renewed", &renewed, false);
    both_verify(&env, "pair", &issued_pair, false);
    let ca = env.dir.join("ca.crt");
    let (ok, text) = certtool(&[
        "--verify-crl",
        "--load-ca-certificate",
        ca.to_str().unwrap(),
        "--infile",
        env.dir.join("ca.crl").to_str().unwrap(),
    ]);
    assert!(
        ok && text.contains("Verified"),
        "certtool --verify-crl: {text}"
    );
    let (ok, text) = openssl(&[
        "crl",
        "-noout",
        "-CAfile",
        ca.to_str().unwrap(),
        "-in",
        env.dir.join("ca.crl").to_str().unwrap(),
    ]);
    assert!(ok && text.contains("verify OK"), "openssl crl: {text}");

    // status says where the key lives; check verifies it against ca.crt (no PIN needed).
    let status = String::from_utf8(
        token
            .ca(&env)
            .args(["status", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["key"]["present"], true, "{status}");
    assert_eq!(status["key"]["token_label"], "lab-root", "{status}");
    assert_eq!(status["key"]["module"], MODULE, "{status}");
    let check = token.ok(&env, &["check"]);
    assert!(check.contains("present, and matches ca.crt"), "{check}");
    assert!(check.contains("every invariant holds"), "{check}");
    let err = token.refused(&env, &["passwd", "--pin-file", &pin], REFUSED);
    assert!(err.contains("change the token's PIN"), "{err}");
    (env, token)
}

/// The rest of the commands that sign, once (P-256): unhold, renew-ca (same key, signed on
/// the token), and `init --parent` of a sub-CA whose parent's key is on the token.
fn the_other_signing_commands(env: &Env, token: &Token) {
    let pin = pin_file(env, PIN);
    let csr_path = csr("p256-default.pem");
    token.ok(
        env,
        &["sign", csr_path.to_str().unwrap(), "--pin-file", &pin],
    );
    let held = env.last_serial();
    token.ok(
        env,
        &[
            "revoke",
            &held,
            "--reason",
            "certificateHold",
            "--pin-file",
            &pin,
        ],
    );
    token.ok(env, &["unhold", &held, "--pin-file", &pin]);
    token.ok(env, &["renew-ca", "--pin-file", &pin]);
    let sub = env.path("sub");
    let out = clean_ca(&sub)
        .env("SOFTHSM2_CONF", &token.conf)
        .args(["init", "--subject", "CN=Token Sub CA"])
        .args(["--parent", env.dir.to_str().unwrap(), "--pin-file", &pin])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        env.dir.join("ca.crt").to_str().unwrap(),
        sub.join("ca.crt").to_str().unwrap(),
    ]);
    assert!(ok, "the sub-CA signed on the token: {text}");
    let check = token.ok(env, &["check"]);
    assert!(check.contains("every invariant holds"), "{check}");
}

#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn a_p256_token_key_signs_everything_token_p256() {
    let (env, token) = every_command_with("EC:prime256v1");
    the_other_signing_commands(&env, &token);
}

#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn a_p384_token_key_signs_everything_token_p384() {
    every_command_with("EC:secp384r1");
}

#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn an_rsa_3072_token_key_signs_everything_token_rsa() {
    every_command_with("rsa:3072");
}

/// Wrong PIN (the token's flags named, the PIN never shown), no PIN without a terminal, a
/// missing module, a token that is not there, a key replaced on the token (exit 5): each
/// refused with the workspace, the token's store included, byte-identical.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn token_failures_change_nothing_token_errors() {
    let env = Env::empty();
    let token = Token::new("lab-root");
    token.keygen("EC:prime256v1", "root-key", "01");

    // init: the PIN never on the command line, a module that is not there, no such token.
    let uri = "pkcs11:token=lab-root;object=root-key";
    let good = pin_file(&env, PIN);
    let err = token.refused(
        &env,
        &[
            "init",
            "--subject",
            "CN=X",
            "--key",
            "pkcs11:token=lab-root;object=root-key?pin-value=246810",
            "--module",
            MODULE,
            "--pin-file",
            &good,
        ],
        USAGE,
    );
    assert!(err.contains("never put the PIN in the URI"), "{err}");
    let err = token.refused(
        &env,
        &[
            "init",
            "--subject",
            "CN=X",
            "--key",
            uri,
            "--module",
            "/nonexistent/libpkcs11.so",
            "--pin-file",
            &good,
        ],
        REFUSED,
    );
    assert!(
        err.contains("cannot load the PKCS#11 module /nonexistent/libpkcs11.so"),
        "{err}"
    );
    let err = token.refused(
        &env,
        &[
            "init",
            "--subject",
            "CN=X",
            "--key",
            "pkcs11:token=elsewhere;object=root-key",
            "--module",
            MODULE,
            "--pin-file",
            &good,
        ],
        REFUSED,
    );
    assert!(
        err.contains("no token matching") && err.contains("\"lab-root\""),
        "{err}"
    );

    // A module anyone may replace (here: in a directory others can write) is never loaded:
    // ca.key, which a writer of the state directory could edit, names the module.
    let shared = env.path("shared-lib");
    std::fs::create_dir(&shared).unwrap();
    std::fs::copy(MODULE, shared.join("libsofthsm2.so")).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let planted = shared.join("libsofthsm2.so");
    let err = token.refused(
        &env,
        &[
            "init",
            "--subject",
            "CN=X",
            "--key",
            uri,
            "--module",
            planted.to_str().unwrap(),
            "--pin-file",
            &good,
        ],
        REFUSED,
    );
    assert!(
        err.contains("shared-lib is owned") && err.contains("writable by no one else"),
        "{err}"
    );

    init_on_token(&env, &token, "root-key");
    let csr_path = csr("p256-default.pem");
    let csr_arg = csr_path.to_str().unwrap();

    // A wrong PIN: exit 3, nothing written, the flags the token sets afterwards named.
    let wrong = pass_file(&env, "wrong.pin", "000000");
    let err = token.refused(&env, &["sign", csr_arg, "--pin-file", &wrong], REFUSED);
    assert!(
        err.contains("wrong PIN for the token \"lab-root\""),
        "{err}"
    );
    assert!(!err.contains("000000"), "{err}");
    // SoftHSM2 sets CKF_USER_PIN_COUNT_LOW after a wrong PIN (it never sets FINAL_TRY or
    // LOCKED: those are unit-tested, token::error::tests), and the message says so; the
    // right PIN clears it.
    assert!(
        err.contains("(CKF_USER_PIN_COUNT_LOW: few tries are left)"),
        "{err}"
    );
    assert!(token.tool(&["-T"]).contains("user PIN count low"));
    // No PIN and no terminal: said which option to give.
    let err = token.refused(&env, &["sign", csr_arg], REFUSED);
    assert!(err.contains("--pin-file"), "{err}");
    // $CA_PIN_FILE works like --pin-file.
    let out = token
        .ca(&env)
        .env("CA_PIN_FILE", &good)
        .args(["sign", csr_arg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!token.tool(&["-T"]).contains("user PIN count low"));

    // The module named in ca.key gone: exit 3 naming it.
    let key = std::fs::read_to_string(env.dir.join("ca.key")).unwrap();
    let moved = key.replace(MODULE, "/nonexistent/libsofthsm2.so");
    std::fs::write(env.dir.join("ca.key"), &moved).unwrap();
    let err = token.refused(&env, &["crl", "--pin-file", &good], REFUSED);
    assert!(err.contains("/nonexistent/libsofthsm2.so"), "{err}");
    let check = token.ok(&env, &["check"]);
    assert!(check.contains("could not be checked now"), "{check}");
    std::fs::write(env.dir.join("ca.key"), &key).unwrap();

    // ca.key pointing at another key on the token, with that key's hash (ca.key edited by
    // someone who can write the directory): the key is not ca.crt's, exit 5.
    token.keygen("EC:prime256v1", "other-key", "02");
    let spki = env.path("other.der");
    token.tool(&[
        "--read-object",
        "--type",
        "pubkey",
        "--label",
        "other-key",
        "-o",
        spki.to_str().unwrap(),
    ]);
    let other_hash = sha256_hex(&std::fs::read(&spki).unwrap());
    let hash_line = key
        .lines()
        .find(|l| l.starts_with("public-key-sha256: "))
        .unwrap();
    let swapped = key
        .replace("object=root-key", "object=other-key")
        .replace(hash_line, &format!("public-key-sha256: {other_hash}"));
    std::fs::write(env.dir.join("ca.key"), &swapped).unwrap();
    let err = token.refused(&env, &["crl", "--pin-file", &good], STATE);
    assert!(err.contains("does not match"), "{err}");
    std::fs::write(env.dir.join("ca.key"), &key).unwrap();

    // The key on the token replaced by another with the same label: exit 5, refused before
    // the PIN is used (the token's store is unchanged too: no login was tried); check
    // reports it.
    token.delete("root-key");
    token.keygen("EC:prime256v1", "root-key", "01");
    let store_before = snapshot(token.store.path());
    let err = token.refused(&env, &["sign", csr_arg, "--pin-file", &good], STATE);
    assert_unchanged(&store_before, &snapshot(token.store.path()));
    assert!(err.contains("not the one ca.key records"), "{err}");
    let out = token.ca(&env).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(output_text(&out).contains("not the one ca.key records"));
}

/// DOCS-README for the token section: the README's "A CA key on a token" `bash` block runs
/// verbatim (it is not an `sh` block, which the fast-tier README test runs, because it needs
/// SoftHSM2), in an empty directory with this run's `ca` first on PATH.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn the_readme_token_section_runs_verbatim_token_readme() {
    require("softhsm2-util", "softhsm2");
    require("pkcs11-tool", "opensc");
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let section = readme
        .split("### A CA key on a token\n")
        .nth(1)
        .unwrap()
        .split("\n### ")
        .next()
        .unwrap();
    let block = section
        .split("```bash\n")
        .nth(1)
        .unwrap()
        .split("\n```")
        .next()
        .unwrap();
    assert!(block.contains("--key 'pkcs11:token=lab-root;object=root-key'"));
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(bin(), bin_dir.join("ca")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{block}\n"))
        .current_dir(&work)
        .env("PATH", path)
        .env("HOME", tmp.path())
        .env_remove("SOFTHSM2_CONF")
        .env_remove("CA_DIR")
        .env_remove("CA_PIN_FILE")
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("revoked, as the token-signed CRL says"),
        "{text}"
    );
    assert!(text.contains("present, and matches ca.crt"), "{text}");
    assert!(text.contains("fileca pkcs11 key reference v1"), "{text}");
}

/// How many key objects labelled `label` the token holds (private ones need the login).
pub(crate) fn objects_labelled(token: &Token, label: &str) -> usize {
    let listing = token.tool(&["--login", "--pin", PIN, "--list-objects"]);
    listing
        .lines()
        .filter(|l| l.trim() == format!("label:      {label}"))
        .count()
}

/// TOKEN-GENERATE: `init --key-on-token` makes the key (P-384 here, its certificate read by
/// OpenSSL), refuses a label already in use, and — failed with EIO at each of its
/// filesystem mutations, or aborted at each — never leaves a key on the token that nothing
/// names: a failed init deletes the key and its record (workspace byte-identical); a killed
/// one leaves the record (durable before the key exists), which the next init names, or a
/// complete CA whose ca.key names the key.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc); a process per fault point"]
fn init_key_on_token_never_leaves_an_unnamed_key_token_generate() {
    let env = Env::empty();
    let token = Token::new("lab-root");
    let pin = pin_file(&env, PIN);
    let init = |dir: &std::path::Path, object: &str, key_type: &str| {
        let mut c = clean_ca(dir);
        c.env("SOFTHSM2_CONF", &token.conf)
            .current_dir(env.tmp.path())
            .args(["init", "--subject", "CN=Made On Token", "--key-on-token"])
            .arg("--key")
            .arg(format!("pkcs11:token=lab-root;object={object}"))
            .args([
                "--key-type",
                key_type,
                "--module",
                MODULE,
                "--pin-file",
                &pin,
            ]);
        c
    };
    // A plain run: the key is made, ca.crt carries it, the record is gone.
    let out = init(&env.dir, "made", "p384").output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let text = x509_text(
        &env,
        &std::fs::read_to_string(env.dir.join("ca.crt")).unwrap(),
    );
    assert!(text.contains("secp384r1"), "{text}");
    assert_eq!(objects_labelled(&token, "made"), 2);
    assert!(!env.path(".pki.token-key").exists());
    let issued = token.ok(
        &env,
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--pin-file",
            &pin,
        ],
    );
    assert!(verify(&env, &issued, false).0);
    // The label is taken now: refused, the workspace and the token's objects unchanged (the
    // login itself touches SoftHSM2's store, which is the token's business).
    let other = env.path("other");
    let listing = || token.tool(&["--login", "--pin", PIN, "--list-objects"]);
    let before = (snapshot(env.tmp.path()), listing());
    let out = init(&other, "made", "p256").output().unwrap();
    assert_eq!(out.status.code(), Some(REFUSED), "{}", output_text(&out));
    assert!(output_text(&out).contains("already holds 2 object(s) with this label"));
    assert_unchanged(&before.0, &snapshot(env.tmp.path()));
    assert_eq!(before.1, listing());

    // Every mutation of init, failed and aborted.
    let trace = init(&env.path("traced"), "traced", "p256")
        .env("FILECA_FAULT_TRACE", "1")
        .output()
        .unwrap();
    assert!(trace.status.success(), "{}", output_text(&trace));
    let total = String::from_utf8_lossy(&trace.stderr)
        .lines()
        .filter(|l| l.starts_with("fileca-mutation "))
        .count();
    assert!(total > 10, "{total} mutations");
    for n in 1..=total {
        for kind in ["error", "abort"] {
            let object = format!("k-{kind}-{n}");
            let dir = env.path(&format!("ca-{kind}-{n}"));
            let record = env.path(&format!(".ca-{kind}-{n}.token-key"));
            let out = init(&dir, &object, "p256")
                .env("FILECA_FAULT", format!("{kind}@{n}"))
                .output()
                .unwrap();
            let keys = objects_labelled(&token, &object);
            let named_by_ca = std::fs::read_to_string(dir.join("ca.key"))
                .is_ok_and(|k| k.contains(&format!("object={object};")));
            match (kind, out.status.success()) {
                ("error", false) => {
                    assert_eq!(keys, 0, "{kind}@{n}: a failed init left its key");
                    assert!(!record.exists() && !dir.exists(), "{kind}@{n}");
                }
                (_, true) => assert!(named_by_ca && keys == 2, "{kind}@{n}"),
                _ => assert!(
                    keys == 0 || record.exists() || named_by_ca,
                    "{kind}@{n}: a key is left on the token that nothing names"
                ),
            }
            if record.exists() && dir.join("ca.crt").exists() {
                // Killed after the CA was created: check says only the record is to go.
                let check = clean_ca(&dir)
                    .env("SOFTHSM2_CONF", &token.conf)
                    .arg("check")
                    .output()
                    .unwrap();
                assert!(output_text(&check).contains("never the key"), "{kind}@{n}");
            }
            if record.exists() && !dir.exists() {
                let again = init(&dir, &object, "p256").output().unwrap();
                assert_eq!(
                    again.status.code(),
                    Some(REFUSED),
                    "{}",
                    output_text(&again)
                );
                assert!(
                    output_text(&again).contains("interrupted `ca init --key-on-token`"),
                    "{}",
                    output_text(&again)
                );
            }
        }
    }
}

/// TOKEN-SIGN, a batch logs in once: with opensc's PKCS#11 spy between fileca and SoftHSM2
/// (the spy logs every call the module receives), signing 5 CSRs in one batch opens one
/// session, calls C_Login once, and C_SignInit 6 times (5 certificates and the checkpoint).
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool and pkcs11-spy (opensc)"]
fn a_batch_logs_in_once_token_batch() {
    const SPY: &str = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so";
    require(SPY, "opensc");
    let env = Env::empty();
    let token = Token::new("lab-root");
    token.keygen("EC:prime256v1", "root-key", "01");
    let pin = pin_file(&env, PIN);
    let log = env.path("spy.log");
    let spied = |args: &[&str]| {
        let out = token
            .ca(&env)
            .env("PKCS11SPY", MODULE)
            .env("PKCS11SPY_OUTPUT", &log)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", output_text(&out));
    };
    spied(&[
        "init",
        "--subject",
        "CN=Spied Root",
        "--key",
        "pkcs11:token=lab-root;object=root-key",
        "--module",
        SPY,
        "--pin-file",
        &pin,
    ]);
    std::fs::remove_file(&log).unwrap();
    let requests = env.path("requests");
    std::fs::create_dir(&requests).unwrap();
    for i in 0..5 {
        let (ok, text) = openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "/dev/null",
            "-subj",
            &format!("/CN=h{i}.test"),
            "-out",
            requests.join(format!("h{i}.csr")).to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
    }
    let out_dir = env.path("issued");
    spied(&[
        "sign",
        requests.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--pin-file",
        &pin,
    ]);
    let calls = std::fs::read_to_string(&log).unwrap();
    let count = |name: &str| {
        calls
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == name))
            .count()
    };
    assert_eq!(count("C_Login"), 1, "{calls}");
    assert_eq!(count("C_OpenSession"), 1, "{calls}");
    assert_eq!(count("C_SignInit"), 6, "{calls}");
}

/// Crash safety stays as it is with the key on a token: `sign` (signed on the token during
/// planning, before the commit point) failed with EIO or aborted at each of its filesystem
/// mutations, on a copy of one token CA each time; the next command (`check`, which recovers)
/// finds every invariant holding and the certificate either not issued or issued once.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc); a process per fault point"]
fn a_token_backed_sign_survives_a_fault_at_every_mutation_token_sweep() {
    let env = Env::empty();
    let token = Token::new("lab-root");
    token.keygen("EC:prime256v1", "root-key", "01");
    init_on_token(&env, &token, "root-key");
    let pin = pin_file(&env, PIN);
    let csr_path = csr("p256-default.pem");
    let sign = |dir: &std::path::Path| {
        let mut c = clean_ca(dir);
        c.env("SOFTHSM2_CONF", &token.conf).args([
            "sign",
            csr_path.to_str().unwrap(),
            "--pin-file",
            &pin,
        ]);
        c
    };
    let traced = env.path("traced");
    copy_dir(&env.dir, &traced);
    let out = sign(&traced)
        .env("FILECA_FAULT_TRACE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let total = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("fileca-mutation "))
        .count();
    assert!(total > 5, "{total} mutations");
    for n in 1..=total {
        for kind in ["error", "abort"] {
            let dir = env.path(&format!("{kind}-{n}"));
            copy_dir(&env.dir, &dir);
            let out = sign(&dir)
                .env("FILECA_FAULT", format!("{kind}@{n}"))
                .output()
                .unwrap();
            let check = clean_ca(&dir)
                .env("SOFTHSM2_CONF", &token.conf)
                .arg("check")
                .output()
                .unwrap();
            let text = output_text(&check);
            assert!(
                check.status.success(),
                "{kind}@{n} ({:?}): {text}",
                out.status
            );
            let status = clean_ca(&dir)
                .env("SOFTHSM2_CONF", &token.conf)
                .args(["status", "--json"])
                .output()
                .unwrap();
            let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
            let issued = status["certificates"]["total"].as_u64().unwrap();
            assert!(issued <= 1, "{kind}@{n}: {issued} certificates");
            if out.status.success() {
                assert_eq!(issued, 1, "{kind}@{n}: reported issued, not recorded");
            }
        }
    }
}

/// TOKEN-PENDING: `init --csr-out FILE --key pkcs11:…` makes a pending CA whose ca.key is the
/// reference and whose request is signed on the token; a parent with a key in a file signs
/// it; `install-ca` (the PIN from --pin-file) completes it; the sub-CA issues on the token,
/// and OpenSSL verifies the leaf up to the parent.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn a_pending_ca_with_its_key_on_a_token_is_installed_token_pending() {
    let env = Env::empty();
    let token = Token::new("lab-sub");
    token.keygen("EC:secp384r1", "sub-key", "0b");
    let pin = pin_file(&env, PIN);
    let parent = env.path("parent");
    let out = clean_ca(&parent)
        .args(["init", "--subject", "CN=File Parent"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let request = env.path("sub.csr");
    token.ok(
        &env,
        &[
            "init",
            "--subject",
            "CN=Token Sub",
            "--csr-out",
            request.to_str().unwrap(),
            "--key",
            "pkcs11:token=lab-sub;object=sub-key",
            "--module",
            MODULE,
            "--pin-file",
            &pin,
        ],
    );
    assert!(
        std::fs::read_to_string(env.dir.join("ca.key"))
            .unwrap()
            .starts_with("fileca pkcs11 key reference v1\n")
    );
    let pending = token.ok(&env, &["check"]);
    assert!(pending.contains("ok: pending CA"), "{pending}");
    let cert = env.path("sub.crt");
    let out = clean_ca(&parent)
        .args([
            "sign",
            request.to_str().unwrap(),
            "--profile",
            "sub-ca",
            "--out",
        ])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    token.ok(
        &env,
        &[
            "install-ca",
            cert.to_str().unwrap(),
            "--chain",
            parent.join("ca.crt").to_str().unwrap(),
            "--pin-file",
            &pin,
        ],
    );
    let leaf = token.ok(
        &env,
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--pin-file",
            &pin,
        ],
    );
    let leaf_file = write(&env, "leaf.pem", leaf.as_bytes());
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        parent.join("ca.crt").to_str().unwrap(),
        "-untrusted",
        env.dir.join("ca.crt").to_str().unwrap(),
        leaf_file.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let check = token.ok(&env, &["check"]);
    assert!(check.contains("present, and matches ca.crt"), "{check}");
}
