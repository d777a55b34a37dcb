//! Token keys beyond the plain ones of pkcs11.rs (SPEC.md TOKEN-ALWAYS, TOKEN-KEYTYPES): a
//! key that wants the PIN for every signature, RSA-4096, Ed25519; with a throwaway SoftHSM2
//! token per test (pkcs11.rs's [`Token`]). Full tier: they need softhsm2 and opensc.

use std::io::Write;
use std::process::Command;

use crate::harness::*;
use crate::pkcs11::{MODULE, PIN, Token, both_verify, certtool, pin_file};

/// Runs `cmd` with `--pin-file /dev/stdin` appended and the PIN written once to its stdin, a
/// pipe closed after it: a second read of the PIN would find the pipe at its end and fail the
/// command ("gave no data").
fn with_pin_once(mut cmd: Command, pin: &str) -> std::process::Output {
    use std::process::Stdio;
    cmd.args(["--pin-file", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{pin}").unwrap();
    child.wait_with_output().unwrap()
}

/// `count` fresh P-256 requests in a directory of their own.
fn requests(env: &Env, name: &str, count: usize) -> std::path::PathBuf {
    let dir = env.path(name);
    std::fs::create_dir(&dir).unwrap();
    for i in 0..count {
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
            dir.join(format!("h{i}.csr")).to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
    }
    dir
}

/// TOKEN-ALWAYS: a key with CKA_ALWAYS_AUTHENTICATE (SoftHSM2 wants C_Login
/// (CKU_CONTEXT_SPECIFIC) after every C_SignInit) is adopted by init and signs a
/// certificate, a batch and a CRL, verified by OpenSSL and GnuTLS. Through opensc's PKCS#11
/// spy, the batch of 4 logs the user in once and logs in per signature (4 certificates and
/// the checkpoint); each command reads its PIN once, from a pipe written once.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool and pkcs11-spy (opensc)"]
fn an_always_authenticate_key_signs_with_a_login_per_signature_token_always() {
    const SPY: &str = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so";
    require(SPY, "opensc");
    let env = Env::empty();
    let token = Token::new("lab-root");
    token.tool(&[
        "--login",
        "--pin",
        PIN,
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "always-key",
        "--id",
        "0a",
        "--always-auth",
    ]);
    let listing = token.tool(&["--login", "--pin", PIN, "--list-objects"]);
    assert!(listing.contains("always authenticate"), "{listing}");
    let log = env.path("spy.log");
    let spied = |args: &[&str]| {
        let mut cmd = token.ca(&env);
        cmd.env("PKCS11SPY", MODULE)
            .env("PKCS11SPY_OUTPUT", &log)
            .args(args);
        let out = with_pin_once(cmd, PIN);
        assert!(out.status.success(), "{args:?}: {}", output_text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    spied(&[
        "init",
        "--subject",
        "CN=Always Root",
        "--key",
        "pkcs11:token=lab-root;object=always-key",
        "--module",
        SPY,
    ]);
    let issued = spied(&["sign", csr("p256-default.pem").to_str().unwrap()]);
    let serial = env.last_serial();
    std::fs::remove_file(&log).unwrap();
    let batch = requests(&env, "requests", 4);
    let out_dir = env.path("issued");
    spied(&[
        "sign",
        batch.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    let calls = std::fs::read_to_string(&log).unwrap();
    let count = |name: &str| {
        calls
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == name))
            .count()
    };
    assert_eq!(
        count("C_Login"),
        6,
        "1 user login and 5 per signature: {calls}"
    );
    assert_eq!(count("CKU_CONTEXT_SPECIFIC"), 5, "{calls}");
    assert_eq!(count("C_SignInit"), 5, "{calls}");
    assert_eq!(count("C_OpenSession"), 1, "{calls}");
    spied(&["revoke", &serial]);
    spied(&["crl"]);
    both_verify(&env, "issued", &issued, true);
    for i in 0..4 {
        let pem = std::fs::read_to_string(out_dir.join(format!("h{i}.crt"))).unwrap();
        both_verify(&env, &format!("h{i}"), &pem, false);
    }
    let ca = env.dir.join("ca.crt");
    let (ok, text) = certtool(&[
        "--verify-crl",
        "--load-ca-certificate",
        ca.to_str().unwrap(),
        "--infile",
        env.dir.join("ca.crl").to_str().unwrap(),
    ]);
    assert!(ok && text.contains("Verified"), "{text}");
    // A wrong PIN: refused, nothing written, the PIN never shown.
    let wrong = pin_file(&env, "000000");
    let before = snapshot(env.tmp.path());
    let mut cmd = token.ca(&env);
    cmd.env("PKCS11SPY", MODULE)
        .env("PKCS11SPY_OUTPUT", "/dev/null")
        .args(["crl", "--pin-file", &wrong]);
    let out = bounded(cmd, DEADLINE);
    assert_eq!(out.status.code(), Some(REFUSED), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("wrong PIN"),
        "{}",
        output_text(&out)
    );
    assert!(!output_text(&out).contains("000000"));
    assert_unchanged(&before, &snapshot(env.tmp.path()));
    let mut cmd = token.ca(&env);
    cmd.env("PKCS11SPY", MODULE)
        .env("PKCS11SPY_OUTPUT", "/dev/null")
        .arg("check");
    let check = output_text(&bounded(cmd, DEADLINE));
    assert!(check.contains("every invariant holds"), "{check}");
}

/// TOKEN-KEYTYPES: RSA-4096 and Ed25519 keys made on the token by `init --key-on-token`,
/// and an Ed25519 key made by pkcs11-tool and adopted by `init --key` (SoftHSM2 2.6.1 offers
/// CKM_EDDSA and CKM_EC_EDWARDS_KEY_PAIR_GEN): each CA signs a certificate, revokes it and
/// publishes a CRL on the token; OpenSSL (`verify -crl_check`, `crl`) and GnuTLS
/// (`--verify`, `--verify-crl`) accept them all, and the CA certificate's key is the type
/// asked for.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc); RSA-4096 generation"]
fn rsa_4096_and_ed25519_token_keys_sign_everything_token_keytypes() {
    let token = Token::new("lab-root");
    token.keygen("EC:edwards25519", "adopted-ed", "0e");
    for (what, shown) in [
        ("rsa-4096", "Public-Key: (4096 bit)"),
        ("ed25519", "ED25519"),
        ("adopt", "ED25519"),
    ] {
        let env = Env::empty();
        let pin = pin_file(&env, PIN);
        let mut init = vec!["init", "--subject", "CN=Key Type Root"];
        let object = format!("pkcs11:token=lab-root;object=made-{what}");
        match what {
            "adopt" => init.extend(["--key", "pkcs11:token=lab-root;object=adopted-ed"]),
            _ => init.extend(["--key-on-token", "--key", &object, "--key-type", what]),
        }
        init.extend(["--module", MODULE, "--pin-file", &pin]);
        token.ok(&env, &init);
        let ca = std::fs::read_to_string(env.dir.join("ca.crt")).unwrap();
        let text = x509_text(&env, &ca);
        assert!(text.contains(shown), "{what}: {text}");
        let leaf = token.ok(
            &env,
            &[
                "sign",
                csr("p256-default.pem").to_str().unwrap(),
                "--pin-file",
                &pin,
            ],
        );
        let kept = token.ok(
            &env,
            &[
                "sign",
                csr("p256-sans.pem").to_str().unwrap(),
                "--pin-file",
                &pin,
            ],
        );
        let serial = env.last_serial();
        let first = {
            let f = write(&env, "first.pem", leaf.as_bytes());
            let (ok, out) = openssl(&["x509", "-noout", "-serial", "-in", f.to_str().unwrap()]);
            assert!(ok, "{out}");
            out.trim().trim_start_matches("serial=").to_string()
        };
        assert_ne!(first, serial);
        token.ok(&env, &["revoke", &first, "--pin-file", &pin]);
        token.ok(&env, &["crl", "--pin-file", &pin]);
        both_verify(&env, &format!("{what}-revoked"), &leaf, true);
        both_verify(&env, &format!("{what}-kept"), &kept, false);
        let crl = env.dir.join("ca.crl");
        let (ok, out) = certtool(&[
            "--verify-crl",
            "--load-ca-certificate",
            env.dir.join("ca.crt").to_str().unwrap(),
            "--infile",
            crl.to_str().unwrap(),
        ]);
        assert!(ok && out.contains("Verified"), "{what}: {out}");
        let (ok, out) = openssl(&[
            "crl",
            "-noout",
            "-CAfile",
            env.dir.join("ca.crt").to_str().unwrap(),
            "-in",
            crl.to_str().unwrap(),
        ]);
        assert!(ok && out.contains("verify OK"), "{what}: {out}");
        let check = token.ok(&env, &["check"]);
        assert!(check.contains("every invariant holds"), "{what}: {check}");
    }
}

/// TOKEN-MODULE-DEFAULT: with neither --module nor $CA_PKCS11_MODULE, init takes the first
/// installed module of the documented list and ca.key records it; with none installed (a
/// controlled list through the debug-build hook FILECA_PKCS11_SEARCH), exit 2 naming every
/// path looked for, the workspace byte-identical.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn the_module_comes_from_the_default_search_list_token_module_default() {
    let token = Token::new("lab-root");
    token.keygen("EC:prime256v1", "root-key", "01");
    let init = |env: &Env, search: Option<&str>| {
        let pin = pin_file(env, PIN);
        let mut cmd = token.ca(env);
        cmd.args(["init", "--subject", "CN=Default Module Root"])
            .args(["--key", "pkcs11:token=lab-root;object=root-key"])
            .args(["--pin-file", &pin]);
        if let Some(list) = search {
            cmd.env("FILECA_PKCS11_SEARCH", list);
        }
        cmd
    };
    let recorded = |env: &Env| {
        let key = std::fs::read_to_string(env.dir.join("ca.key")).unwrap();
        key.lines()
            .find_map(|l| l.strip_prefix("module: "))
            .unwrap()
            .to_string()
    };
    for (list, says) in [
        (
            "/nonexistent/libsofthsm2.so:/nonexistent/p11-kit-proxy.so",
            "none of the default modules is installed (/nonexistent/libsofthsm2.so, \
             /nonexistent/p11-kit-proxy.so)",
        ),
        ("", "the search list is empty"),
    ] {
        let env = Env::empty();
        let cmd = init(&env, Some(list));
        let before = snapshot(env.tmp.path());
        let out = bounded(cmd, DEADLINE);
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(USAGE), "{text}");
        assert!(
            text.contains("give --module PATH or set $CA_PKCS11_MODULE"),
            "{text}"
        );
        assert!(text.contains(says), "{text}");
        assert_unchanged(&before, &snapshot(env.tmp.path()));
    }
    let env = Env::empty();
    let out = bounded(
        init(&env, Some(&format!("/nonexistent/a.so:{MODULE}"))),
        DEADLINE,
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(recorded(&env), MODULE);
    // The real list, on this machine: the first of it that is installed.
    let env = Env::empty();
    let out = bounded(init(&env, None), DEADLINE);
    assert!(out.status.success(), "{}", output_text(&out));
    let first = fileca::token::DEFAULT_MODULES
        .iter()
        .find(|m| std::path::Path::new(m).is_file())
        .unwrap();
    assert_eq!(&recorded(&env), first);
    let check = token.ok(&env, &["check"]);
    assert!(check.contains("present, and matches ca.crt"), "{check}");
}

/// COMMIT-POWERLOSS with the key on a token (TOKEN-SIGN: signatures are made during
/// planning, before the commit point): a token-backed `sign` and batch `sign --out-dir`
/// (an Ed25519 token key, whose signatures are deterministic) run once with the simulated
/// disk's trace; after every traced mutation the pessimistic crash state and random ones are
/// materialised, the next command (`status`, with the token present) recovers, and the
/// workspace is exactly the before- or the after-state, the after-state once success was
/// reported (powerloss.rs's sweep).
#[test]
#[ignore = "full tier: power-loss sweep with softhsm2, pkcs11-tool (opensc); a process per crash state"]
fn power_loss_during_a_token_backed_sign_recovers_to_before_or_after_token_powerloss() {
    let tmp = tempfile::tempdir().unwrap();
    let token = Token::new("lab-root");
    token.keygen("EC:edwards25519", "root-key", "01");
    let pin = tmp.path().join("token.pin");
    pass_file_at(&pin, PIN);
    let base = tmp.path().join("base");
    let out = ca_at(&base)
        .env("SOFTHSM2_CONF", &token.conf)
        .args(["init", "--subject", "CN=Power Loss Token CA"])
        .args(["--key", "pkcs11:token=lab-root;object=root-key"])
        .args(["--module", MODULE, "--pin-file"])
        .arg(&pin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let conf = vec![("SOFTHSM2_CONF".to_string(), token.conf.clone())];
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let mut checked = 0;
    for (name, batch) in [("token sign", false), ("token batch sign", true)] {
        let ws = crate::powerloss::workspace(tmp.path(), &name.replace(' ', "-"), Some(&base));
        let mut args = vec!["sign".to_string()];
        match batch {
            true => args.extend([s(&ws.join("reqs")), "--out-dir".into(), s(&ws.join("out"))]),
            false => args.push(s(&ws.join("reqs/r0.pem"))),
        }
        args.extend(["--pin-file".into(), s(&pin)]);
        let case = crate::powerloss::Case {
            name,
            state: ws.join("ca"),
            ws,
            args,
            env: conf.clone(),
        };
        let n = crate::powerloss::sweep(tmp.path(), &case);
        assert!(n > 10, "{name}: {n} crash states");
        checked += n;
    }
    eprintln!("token power-loss sweep: {checked} crash states checked");
}

/// TOKEN-ALWAYS for the other signing mechanisms: RSA-2048 (CKM_SHA256_RSA_PKCS) and
/// Ed25519 (CKM_EDDSA) keys with CKA_ALWAYS_AUTHENTICATE sign a certificate and a CRL through
/// the per-signature login, verified by OpenSSL and GnuTLS.
#[test]
#[ignore = "full tier: real-tool interop: softhsm2, pkcs11-tool (opensc)"]
fn always_authenticate_rsa_and_ed25519_keys_sign_token_always_mechanisms() {
    let token = Token::new("lab-root");
    for (key_type, label) in [("rsa:2048", "always-rsa"), ("EC:edwards25519", "always-ed")] {
        token.tool(&[
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            label,
            "--always-auth",
        ]);
        let listing = token.tool(&[
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            "privkey",
            "--label",
            label,
        ]);
        assert!(listing.contains("always authenticate"), "{listing}");
        let env = Env::empty();
        let pin = pin_file(&env, PIN);
        let uri = format!("pkcs11:token=lab-root;object={label}");
        token.ok(
            &env,
            &[
                "init",
                "--subject",
                "CN=Always Root",
                "--key",
                &uri,
                "--module",
                MODULE,
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
        token.ok(&env, &["crl", "--pin-file", &pin]);
        both_verify(&env, label, &leaf, false);
        let (ok, text) = certtool(&[
            "--verify-crl",
            "--load-ca-certificate",
            env.dir.join("ca.crt").to_str().unwrap(),
            "--infile",
            env.dir.join("ca.crl").to_str().unwrap(),
        ]);
        assert!(ok && text.contains("Verified"), "{label}: {text}");
        let check = token.ok(&env, &["check"]);
        assert!(check.contains("every invariant holds"), "{label}: {check}");
    }
}
