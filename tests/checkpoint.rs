//! Signed checkpoints (SPEC.md CHECKPOINT-*, THREAT-WRITER): someone who can write the state
//! directory but cannot use the CA key rewrites history *consistently* — every hash, length,
//! generation and `max_serial` fixed up — and `ca check` still reports it, while the commands
//! that sign refuse to build on it (and leave the directory byte-identical).

use crate::harness::*;
use std::path::Path;

/// index.log's hash chain as SPEC.md INDEX-LOG-HEAD defines it, computed independently:
/// `head = sha256hex(head_hex || line_with_newline)`, starting from 64 zeros.
pub fn log_head(log: &str) -> String {
    let mut head = "0".repeat(64);
    for line in log.split_inclusive('\n') {
        head = sha256_hex(format!("{head}{line}").as_bytes());
    }
    head
}

/// The highest issued serial of a log (canonical hex: longer is larger, then by text).
fn max_serial(log: &str) -> serde_json::Value {
    log.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["issued"].as_str().map(str::to_string)
        })
        .max_by(|a, b| (a.len(), a).cmp(&(b.len(), b)))
        .map_or(serde_json::Value::Null, Into::into)
}

/// What a careful tamperer does: drops index.log lines and audit records, renumbers and
/// re-hashes the audit chain, and fixes every field of index.json they can compute —
/// generation, audit_head, log_len, max_serial and (format 3) log_head. Only the signed
/// checkpoint is left as it was: making it again needs the CA key.
fn rewrite_history(dir: &Path, drop_log: impl Fn(&str) -> bool, drop_audit: impl Fn(&str) -> bool) {
    let log: String = std::fs::read_to_string(dir.join("index.log"))
        .unwrap()
        .split_inclusive('\n')
        .filter(|l| !drop_log(l))
        .collect();
    std::fs::write(dir.join("index.log"), &log).unwrap();
    let mut prev = "0".repeat(64);
    let mut audit = String::new();
    let mut generation = 0;
    for line in std::fs::read_to_string(dir.join("audit.log"))
        .unwrap()
        .lines()
    {
        if drop_audit(line) {
            continue;
        }
        generation += 1;
        let cut = line.rfind(",\"generation\":").unwrap();
        let new = format!(
            "{},\"generation\":{generation},\"prev\":\"{prev}\"}}",
            &line[..cut]
        );
        prev = sha256_hex(new.as_bytes());
        audit.push_str(&new);
        audit.push('\n');
    }
    std::fs::write(dir.join("audit.log"), &audit).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    header["generation"] = generation.into();
    header["audit_head"] = prev.into();
    header["log_len"] = log.len().into();
    header["max_serial"] = max_serial(&log);
    if header.get("log_head").is_some() {
        header["log_head"] = log_head(&log).into();
    }
    std::fs::write(
        dir.join("index.json"),
        format!("{}\n", serde_json::to_string_pretty(&header).unwrap()),
    )
    .unwrap();
}

/// `ca check`'s exit code and stdout.
fn check(env: &Env) -> (Option<i32>, String) {
    let out = env.run(&["check"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_consistently_deleted_revocation_is_reported_and_never_signed_over_checkpoint_threat_writer() {
    let env = Env::new();
    let (_, revoked) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &revoked, "--reason", "keyCompromise"]);
    // This sign signs a checkpoint that covers the revocation.
    env.sign(&csr("ed25519-default.pem"), &[]);
    env.assert_check_ok();
    rewrite_history(
        &env.dir,
        |l| l.starts_with("{\"revoked\""),
        |l| l.contains("\"operation\":\"revoke\""),
    );
    let (code, text) = check(&env);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("checkpoint"), "{text}");
    // The next CRL would omit the revocation: every signing command refuses instead.
    let p384 = csr("p384-default.pem");
    for args in [
        vec!["crl"],
        vec!["sign", p384.to_str().unwrap()],
        vec!["renew-ca"],
        vec!["revoke", &revoked, "--crl"],
    ] {
        let err = env.refused(&args, STATE);
        assert!(
            err.contains("index.json") && err.contains("checkpoint"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_rehashed_audit_chain_without_a_record_is_reported_checkpoint_threat_writer() {
    let env = Env::new();
    env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["crl"]);
    env.sign(&csr("ed25519-default.pem"), &[]);
    env.assert_check_ok();
    rewrite_history(&env.dir, |_| false, |l| l.contains("\"operation\":\"crl\""));
    let (code, text) = check(&env);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("checkpoint"), "{text}");
}

#[test]
fn sign_refuses_a_counter_the_checkpoint_proves_issued_checkpoint_serial() {
    let env = Env::new();
    let (_, first) = env.sign(&csr("p256-default.pem"), &[]);
    env.sign(&csr("ed25519-default.pem"), &[]);
    // The counter is wound back to an issued serial and index.json forgets max_serial.
    std::fs::write(env.dir.join("serial"), format!("{first}\n")).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir.join("index.json")).unwrap()).unwrap();
    header["max_serial"] = serde_json::Value::Null;
    std::fs::write(
        env.dir.join("index.json"),
        format!("{}\n", serde_json::to_string_pretty(&header).unwrap()),
    )
    .unwrap();
    let err = env.refused(&["sign", csr("p384-default.pem").to_str().unwrap()], STATE);
    assert!(err.contains("serial"), "{err}");
    let (code, text) = check(&env);
    assert_eq!(code, Some(1), "{text}");
}

/// The message a checkpoint signs, rebuilt from index.json as SPEC.md CHECKPOINT-SIGN states it.
fn message(cp: &serde_json::Value) -> String {
    let opt = |v: &serde_json::Value| v.as_str().unwrap_or("none").to_string();
    format!(
        "fileca signed checkpoint v1\ngeneration: {}\naudit_head: {}\naudit_len: {}\nlog_len: {}\n\
         log_head: {}\nmax_serial: {}\nserial: {}\ncrlnumber: {}\ncrl_sha256: {}\n\
         policy_sha256: {}\n",
        cp["generation"],
        cp["audit_head"].as_str().unwrap(),
        cp["audit_len"],
        cp["log_len"],
        cp["log_head"].as_str().unwrap(),
        opt(&cp["max_serial"]),
        cp["serial"].as_str().unwrap(),
        cp["crlnumber"].as_str().unwrap(),
        opt(&cp["crl_sha256"]),
        opt(&cp["policy_sha256"]),
    )
}

/// Verifies index.json's checkpoint with OpenSSL and ca.crt's public key.
fn openssl_verifies_checkpoint(dir: &Path, work: &Path) -> bool {
    use base64::Engine;
    let header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let cp = &header["checkpoint"];
    let msg = work.join("cp.msg");
    let sig = work.join("cp.sig");
    let public = work.join("cp.pub");
    std::fs::write(&msg, message(cp)).unwrap();
    std::fs::write(
        &sig,
        base64::engine::general_purpose::STANDARD
            .decode(cp["signature"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let crt = dir.join("ca.crt");
    let (ok, _) = openssl(&[
        "x509",
        "-in",
        crt.to_str().unwrap(),
        "-pubkey",
        "-noout",
        "-out",
        public.to_str().unwrap(),
    ]);
    assert!(ok);
    let (_, text) = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    let (p, m, s) = (
        public.to_str().unwrap(),
        msg.to_str().unwrap(),
        sig.to_str().unwrap(),
    );
    let (ok, out) = if text.contains("ED25519") {
        openssl(&[
            "pkeyutl", "-verify", "-pubin", "-inkey", p, "-rawin", "-in", m, "-sigfile", s,
        ])
    } else {
        let digest = if text.contains("384") {
            "-sha384"
        } else {
            "-sha256"
        };
        openssl(&["dgst", digest, "-verify", p, "-signature", s, m])
    };
    ok && out.contains("Verified")
}

#[test]
fn openssl_verifies_the_checkpoint_of_every_key_type_checkpoint_sign() {
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let env = Env::with_key(kt);
        assert!(
            openssl_verifies_checkpoint(&env.dir, env.tmp.path()),
            "{kt} after init"
        );
        env.sign(&csr("p256-default.pem"), &[]);
        assert!(
            openssl_verifies_checkpoint(&env.dir, env.tmp.path()),
            "{kt} after sign"
        );
        // A tampered field no longer verifies: the test's message is really the signed one.
        let mut header: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.dir.join("index.json")).unwrap()).unwrap();
        header["checkpoint"]["log_len"] = 1.into();
        std::fs::write(env.dir.join("index.json"), format!("{header}\n")).unwrap();
        assert!(
            !openssl_verifies_checkpoint(&env.dir, env.tmp.path()),
            "{kt} tampered"
        );
    }
    // An adopted RSA key signs its checkpoints with PKCS#1 v1.5 and SHA-256.
    let env = Env::empty();
    let (key, crt) = crate::keys::openssl_ca(
        &env,
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        None,
        true,
    );
    env.ok(&[
        "init",
        "--import-key",
        key.to_str().unwrap(),
        "--import-cert",
        crt.to_str().unwrap(),
    ]);
    env.sign(&csr("p256-default.pem"), &[]);
    assert!(openssl_verifies_checkpoint(&env.dir, env.tmp.path()), "rsa");
    env.assert_check_ok();
}

#[test]
fn every_commit_signs_the_checkpoint_of_the_state_it_leaves_checkpoint_current() {
    let env = Env::new();
    let p256 = csr("p256-default.pem");
    let (_, a) = env.sign(&p256, &[]);
    let (_, b) = env.sign(&csr("ed25519-default.pem"), &[]);
    let pass = env.path("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let out = env.path("out");
    let steps: Vec<Vec<&str>> = vec![
        vec!["revoke", &a],
        vec!["crl"],
        vec!["renew", &b],
        vec!["issue", "web.lab.test", "--out-dir", out.to_str().unwrap()],
        vec!["renew-ca"],
        vec!["passwd", "--new-passphrase-file", pass.to_str().unwrap()],
        vec![
            "--passphrase-file",
            pass.to_str().unwrap(),
            "sign",
            p256.to_str().unwrap(),
        ],
    ];
    for args in steps {
        env.ok(&args);
        let header: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.dir.join("index.json")).unwrap()).unwrap();
        let cp = &header["checkpoint"];
        assert_eq!(cp["generation"], header["generation"], "{args:?}");
        assert_eq!(cp["log_head"], header["log_head"], "{args:?}");
        let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
        assert_eq!(
            header["log_head"],
            log_head(&log),
            "{args:?}: the chain, computed apart"
        );
        let audit_len = std::fs::metadata(env.dir.join("audit.log")).unwrap().len();
        assert_eq!(cp["audit_len"], audit_len, "{args:?}");
        assert!(
            openssl_verifies_checkpoint(&env.dir, env.tmp.path()),
            "{args:?}"
        );
        let check = env
            .ca()
            .args(["--passphrase-file", pass.to_str().unwrap(), "check"])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}

#[test]
fn a_missing_stale_or_forged_checkpoint_is_refused_checkpoint_current() {
    let env = Env::new();
    env.sign(&csr("p256-default.pem"), &[]);
    let older = std::fs::read(env.dir.join("index.json")).unwrap();
    let (_, b) = env.sign(&csr("ed25519-default.pem"), &[]);
    env.ok(&["revoke", &b]);
    let current = std::fs::read(env.dir.join("index.json")).unwrap();
    let mut header: serde_json::Value = serde_json::from_slice(&current).unwrap();
    let p384 = csr("p384-default.pem");
    let sign = ["sign", p384.to_str().unwrap()];
    // An older index.json put back over a longer history.
    std::fs::write(env.dir.join("index.json"), &older).unwrap();
    env.refused(&sign, STATE);
    assert_eq!(check(&env).0, Some(1));
    // The checkpoint of an older generation put into the current header.
    let old: serde_json::Value = serde_json::from_slice(&older).unwrap();
    let mut stale = header.clone();
    stale["checkpoint"] = old["checkpoint"].clone();
    std::fs::write(env.dir.join("index.json"), format!("{stale}\n")).unwrap();
    let err = env.refused(&sign, STATE);
    assert!(err.contains("signed checkpoint"), "{err}");
    let (code, text) = check(&env);
    assert_eq!(code, Some(1), "{text}");
    // A checkpoint whose fields were edited to match: its signature fails.
    let mut forged = header.clone();
    forged["checkpoint"]["max_serial"] = serde_json::Value::Null;
    forged["max_serial"] = serde_json::Value::Null;
    std::fs::write(env.dir.join("index.json"), format!("{forged}\n")).unwrap();
    let err = env.refused(&sign, STATE);
    assert!(err.contains("does not verify"), "{err}");
    let (code, text) = check(&env);
    assert!(
        code == Some(1) && text.contains("does not verify"),
        "{text}"
    );
    // No checkpoint at all: index.json is refused by every command, reads included.
    header.as_object_mut().unwrap().remove("checkpoint");
    std::fs::write(env.dir.join("index.json"), format!("{header}\n")).unwrap();
    for args in [&sign[..], &["list"], &["revoke", &b]] {
        let err = env.refused(args, STATE);
        assert!(err.contains("no signed checkpoint"), "{args:?}: {err}");
    }
    // Put back, everything works again.
    std::fs::write(env.dir.join("index.json"), &current).unwrap();
    env.assert_check_ok();
    env.ok(&sign);
}

#[test]
fn renew_and_show_use_only_the_certificate_the_index_records_threat_writer_renew() {
    // A directory writer plants their own certificate (their key, any name) at
    // certs/SERIAL.pem: `renew` must not sign the planted key under the recorded name, and
    // `show --pem` must not hand the planted file out as the CA's certificate.
    let env = Env::new();
    let (original, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let key = env.path("attacker.key");
    let planted = env.path("planted.pem");
    openssl_self_signed(&key, &planted, "/CN=attacker", &["-days", "1"]);
    let file = env.dir.join("certs").join(format!("{serial}.pem"));
    std::fs::copy(&planted, &file).unwrap();
    let err = env.refused(&["renew", &serial], STATE);
    assert!(
        err.contains(&format!("{serial}.pem")) && err.contains("index.log"),
        "{err}"
    );
    let err = env.refused(&["show", &serial, "--pem"], STATE);
    assert!(err.contains("index.log"), "{err}");
    // Another certificate the CA really signed (the writer's own), with the victim's index
    // line edited to its SHA-256 (same length): refused too — the edited line no longer
    // chains to the signed log_head (VERIFIED-READ), before the file is even compared.
    let (theirs, their_serial) = env.sign(&csr("ed25519-default.pem"), &[]);
    std::fs::write(&file, &theirs).unwrap();
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    let sha = |serial: &str| {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("\"issued\":\"{serial}\"")))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["sha256"].as_str().unwrap().to_string()
    };
    std::fs::write(
        env.dir.join("index.log"),
        log.replace(&sha(&serial), &sha(&their_serial)),
    )
    .unwrap();
    let err = env.refused(&["renew", &serial], STATE);
    assert!(err.contains("log_head"), "{err}");
    std::fs::write(env.dir.join("index.log"), &log).unwrap();
    // Put back, renew works and keeps the recorded key.
    std::fs::write(&file, &original).unwrap();
    let renewed = String::from_utf8(env.ok(&["renew", &serial]).stdout).unwrap();
    let key_of = |pem: &str| {
        let f = env.path("k.pem");
        std::fs::write(&f, pem).unwrap();
        openssl(&["x509", "-in", f.to_str().unwrap(), "-noout", "-pubkey"]).1
    };
    assert_eq!(key_of(&renewed), key_of(&original));
}

#[test]
fn counters_and_the_crl_are_signed_too_checkpoint_files() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["crl"]);
    let old_crl = std::fs::read(env.dir.join("ca.crl")).unwrap();
    env.ok(&["revoke", &a, "--crl"]);
    env.assert_check_ok();
    let p384 = csr("p384-default.pem");
    let sign = ["sign", p384.to_str().unwrap()];
    let restore = snapshot(&env.dir);
    let put_back = |name: &str| {
        let bytes = restore[name].1.as_ref().unwrap();
        std::fs::write(env.dir.join(name), bytes).unwrap();
    };
    // An older CA-signed CRL (without the revocation) put back: check reports it.
    std::fs::write(env.dir.join("ca.crl"), &old_crl).unwrap();
    let (code, text) = check(&env);
    assert!(code == Some(1) && text.contains("ca.crl"), "{text}");
    std::fs::remove_file(env.dir.join("ca.crl")).unwrap();
    let (code, text) = check(&env);
    assert!(code == Some(1) && text.contains("ca.crl"), "{text}");
    put_back("ca.crl");
    // The CRL number wound back (a second, different CRL with a used number would follow),
    // and the serial counter moved (onto the CA certificate's own serial, say): refused.
    std::fs::write(env.dir.join("crlnumber"), "02\n").unwrap();
    let err = env.refused(&["crl"], STATE);
    assert!(err.contains("CRL number"), "{err}");
    assert_eq!(check(&env).0, Some(1));
    put_back("crlnumber");
    let mut higher = env.counter();
    let digit = if higher.starts_with('7') { "6" } else { "7" };
    higher.replace_range(..1, digit);
    std::fs::write(env.dir.join("serial"), format!("{higher}\n")).unwrap();
    let err = env.refused(&sign, STATE);
    // (Below the highest issued serial, the older INV-SERIAL check names it first.)
    assert!(
        err.contains("serial counter") || err.contains("highest issued"),
        "{err}"
    );
    assert_eq!(check(&env).0, Some(1));
    put_back("serial");
    env.assert_check_ok();
    env.ok(&sign);
}

#[test]
fn a_passphrase_for_a_plaintext_key_is_warned_about_key_plaintext_warn() {
    let env = Env::new();
    let pass = env.path("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let out = env.ok(&["--passphrase-file", pass.to_str().unwrap(), "crl"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: a passphrase file was given") && err.contains("ca.key"),
        "{err}"
    );
    let out = env.ok(&["crl"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

#[test]
fn a_same_length_edit_of_a_revocation_never_reaches_a_signed_crl_crl_chain() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    let (_, b) = env.sign(&csr("ed25519-default.pem"), &[]);
    env.ok(&["revoke", &a, "--reason", "keyCompromise"]);
    // The revocation now names b instead of a: same length, so log_len still matches.
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    let edited = log.replace(
        &format!("{{\"revoked\":\"{a}\""),
        &format!("{{\"revoked\":\"{b}\""),
    );
    assert_eq!(edited.len(), log.len());
    std::fs::write(env.dir.join("index.log"), &edited).unwrap();
    for args in [vec!["crl"], vec!["revoke", &a, "--crl"]] {
        let err = env.refused(&args, STATE);
        assert!(
            err.contains("index.log") && err.contains("log_head"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(check(&env).0, Some(1));
}

/// VERIFIED-READ: every command that answers about a certificate answers only from the state
/// the CA-signed checkpoint covers. Each edit below made `ca verify` say valid (exit 0) and
/// `list`, `status`, `show` agree with no warning, and the padded reason made `renew` issue
/// the compromised key again: now each is exit 5, naming the file, nothing printed on stdout,
/// the directory byte-identical.
#[test]
fn every_read_answers_only_from_the_signed_state_verified_read() {
    type Edit = fn(&Path, &str, &str);
    let edits: [(&str, Edit); 4] = [
        // A same-length edit: the revocation moved onto another serial of the same length.
        ("moved", |dir, a, b| {
            let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
            let edited = log.replace(
                &format!("{{\"revoked\":\"{a}\""),
                &format!("{{\"revoked\":\"{b}\""),
            );
            assert_eq!(edited.len(), log.len());
            std::fs::write(dir.join("index.log"), edited).unwrap();
        }),
        // keyCompromise made a padded superseded, same length (JSON allows the spaces).
        ("reason", |dir, _, _| {
            let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
            let edited = log.replace(
                "\"reason\":\"keyCompromise\"",
                "\"reason\":   \"superseded\"",
            );
            assert_ne!(edited, log);
            assert_eq!(edited.len(), log.len());
            std::fs::write(dir.join("index.log"), edited).unwrap();
        }),
        // The revocation line deleted and log_len fixed.
        ("deleted", |dir, _, _| {
            let log: String = std::fs::read_to_string(dir.join("index.log"))
                .unwrap()
                .split_inclusive('\n')
                .filter(|l| !l.starts_with("{\"revoked\""))
                .collect();
            std::fs::write(dir.join("index.log"), &log).unwrap();
            let mut header: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
            header["log_len"] = log.len().into();
            std::fs::write(
                dir.join("index.json"),
                format!("{}\n", serde_json::to_string_pretty(&header).unwrap()),
            )
            .unwrap();
        }),
        // Rewritten consistently: every hash, length and generation fixed but the signature.
        ("rewritten", |dir, _, _| {
            rewrite_history(
                dir,
                |l| l.starts_with("{\"revoked\""),
                |l| l.contains("\"operation\":\"revoke\""),
            )
        }),
    ];
    for (name, edit) in edits {
        let env = Env::new();
        let (a_pem, a) = env.sign(&csr("p256-default.pem"), &[]);
        let (_, b) = env.sign(&csr("ed25519-default.pem"), &[]);
        assert_eq!(a.len(), b.len());
        env.ok(&["revoke", &a, "--reason", "keyCompromise"]);
        let a_file = write(&env, "a.crt", a_pem.as_bytes());
        let a_path = a_file.to_str().unwrap();
        // Before the edit: revoked, and renew refuses a compromised key.
        let out = env.run(&["verify", a_path]);
        assert_ne!(out.status.code(), Some(0), "{name}: {out:?}");
        edit(&env.dir, &a, &b);
        for args in [
            vec!["verify", a_path],
            vec!["verify", a_path, "--json"],
            vec!["show", &a],
            vec!["show", &b, "--json"],
            vec!["list"],
            vec!["list", "--json"],
            vec!["status"],
            vec!["status", "--json"],
            vec!["renew", &a],
            vec!["crl"],
        ] {
            let err = env.refused(&args, STATE);
            assert!(
                err.contains("index.log") || err.contains("index.json"),
                "{name} {args:?}: {err}"
            );
        }
        assert_eq!(check(&env).0, Some(1), "{name}");
    }
}

/// VERIFIED-READ, the attack review's findings: `show --ca` handed out a replaced ca.crt
/// (what an AIA URL serves), `ca log` printed an edited or shortened audit trail, and
/// `verify` called an attacker's self-signed certificate "an earlier certificate of this CA"
/// when it was planted under an archive's name (ca-SERIAL.crt). Each is refused now.
#[test]
fn the_ca_certificate_the_audit_trail_and_archives_are_verified_too_verified_read() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &a, "--reason", "keyCompromise"]);
    let subject = {
        let text = String::from_utf8(env.ok(&["status", "--json"]).stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["subject"].as_str().unwrap().to_string()
    };
    // An attacker's CA certificate under the same name.
    let (key, evil) = (env.path("evil.key"), env.path("evil.crt"));
    let subj = format!("/{}", subject.replace(',', "/"));
    openssl_self_signed(&key, &evil, &subj, &["-days", "30"]);
    let evil_path = evil.to_str().unwrap();
    let out = env.run(&["verify", evil_path]);
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    // Planted under an archive's name: still not this CA's.
    let serial = openssl(&["x509", "-in", evil_path, "-noout", "-serial"])
        .1
        .trim()
        .trim_start_matches("serial=")
        .trim_start_matches('0')
        .to_string();
    let archive = env.dir.join(format!("ca-{serial}.crt"));
    std::fs::copy(&evil, &archive).unwrap();
    let out = env.run(&["verify", evil_path]);
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    std::fs::remove_file(&archive).unwrap();
    // ca.crt replaced: show --ca refuses (its key does not verify the checkpoint).
    let genuine = std::fs::read(env.dir.join("ca.crt")).unwrap();
    std::fs::copy(&evil, env.dir.join("ca.crt")).unwrap();
    for args in [vec!["show", "--ca"], vec!["show", "--ca", "--der"]] {
        let err = env.refused(&args, STATE);
        assert!(err.contains("index.json"), "{args:?}: {err}");
    }
    std::fs::write(env.dir.join("ca.crt"), &genuine).unwrap();
    let shown = env.ok(&["show", "--ca"]).stdout;
    assert_eq!(shown, genuine);
    // audit.log: a middle record edited at the same length, or the revoke record removed.
    let audit = std::fs::read_to_string(env.dir.join("audit.log")).unwrap();
    let lines: Vec<&str> = audit.lines().collect();
    assert!(lines.len() >= 3, "{audit}");
    let edited = audit.replacen("\"operation\":\"sign\"", "\"operation\":\"xign\"", 1);
    assert_ne!(edited, audit);
    assert_eq!(edited.len(), audit.len());
    std::fs::write(env.dir.join("audit.log"), &edited).unwrap();
    for args in [vec!["log"], vec!["log", "--json"]] {
        let err = env.refused(&args, STATE);
        assert!(err.contains("audit.log"), "{args:?}: {err}");
    }
    std::fs::write(env.dir.join("audit.log"), &audit).unwrap();
    env.ok(&["log"]);
    rewrite_history(
        &env.dir,
        |_| false,
        |l| l.contains("\"operation\":\"revoke\""),
    );
    env.refused(&["log"], STATE);
}
