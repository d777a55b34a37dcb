//! Format 1 -> format 2 (SPEC.md INDEX-*, UPGRADE). testdata/v1-ca was written by fileca 0.1
//! (commit f8d3796): three certificates, one revoked, one renewed, a CRL.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::*;

/// A writable copy of the format-1 fixture, with the modes fileca 0.1 gave it.
fn v1_copy(root: &Path, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/v1-ca");
    let dir = root.join(name);
    copy_dir(&src, &dir);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(dir.join("ca.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

/// The fixture was made on 2026-11-22, after the harness's pinned NOW: commands that sign run
/// at a time inside its validity.
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    ca_at(dir)
        .args(args)
        .env("FILECA_NOW", "2026-12-01T12:00:00Z")
        .output()
        .unwrap()
}

#[test]
fn every_command_refuses_format_1_and_names_ca_upgrade_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = v1_copy(tmp.path(), "v1");
    let before = snapshot(&dir);
    let csr = csr("p256-default.pem");
    for args in [
        vec!["sign", csr.to_str().unwrap()],
        vec!["revoke", "5FBC03709D90D9E3C2A4136B8D00418A"],
        vec!["crl"],
        vec!["status"],
        vec!["list"],
        vec!["show", "5FBC03709D90D9E3C2A4136B8D00418A"],
    ] {
        let out = run(&dir, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(STATE), "{args:?}: {err}");
        assert!(err.contains("ca upgrade"), "{args:?}: {err}");
        assert_unchanged(&before, &snapshot(&dir));
    }
    let out = run(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ca upgrade"));
    // A dry run shows the plan and writes nothing.
    let out = run(&dir, &["upgrade", "--dry-run"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("would append") && text.contains("index.log"),
        "{text}"
    );
    assert_unchanged(&before, &snapshot(&dir));
}

#[test]
fn upgrade_keeps_every_certificate_and_the_ca_keeps_working_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = v1_copy(tmp.path(), "v1");
    let old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let out = run(&dir, &["upgrade", "--expect-generation", "6"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = read_index(&dir);
    assert_eq!(new["generation"], 7);
    assert_eq!(new["certificates"], old["certificates"]);
    assert_eq!(new["max_serial"], "5FBC03709D90D9E3C2A4136B8D00418B");
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .last()
            .unwrap()
            .contains("\"operation\":\"upgrade\"")
    );
    let check = run(&dir, &["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // Twice changes nothing and succeeds (UPGRADE-CURRENT).
    let before = snapshot(&dir);
    assert_eq!(run(&dir, &["upgrade"]).status.code(), Some(0));
    assert_unchanged(&before, &snapshot(&dir));
    // The upgraded CA signs, revokes and publishes a CRL OpenSSL accepts.
    let pem = run(&dir, &["sign", csr("p256-default.pem").to_str().unwrap()]);
    assert!(
        pem.status.success(),
        "{}",
        String::from_utf8_lossy(&pem.stderr)
    );
    assert!(
        run(&dir, &["revoke", "5FBC03709D90D9E3C2A4136B8D00418A"])
            .status
            .success()
    );
    assert!(run(&dir, &["crl"]).status.success());
    let (ok, text) = openssl(&[
        "crl",
        "-in",
        dir.join("ca.crl").to_str().unwrap(),
        "-noout",
        "-text",
        "-CAfile",
        dir.join("ca.crt").to_str().unwrap(),
    ]);
    assert!(ok && text.contains("verify OK"), "{text}");
    for s in [
        "5FBC03709D90D9E3C2A4136B8D004189",
        "5FBC03709D90D9E3C2A4136B8D00418A",
    ] {
        assert!(text.contains(s), "{s} not in the CRL: {text}");
    }
    let check = run(&dir, &["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn upgrade_refuses_an_inconsistent_format_1_index_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    // The counter is not above an issued serial.
    let dir = v1_copy(tmp.path(), "counter");
    std::fs::write(dir.join("serial"), "5FBC03709D90D9E3C2A4136B8D004189\n").unwrap();
    let before = snapshot(&dir);
    let out = run(&dir, &["upgrade"]);
    assert_eq!(
        out.status.code(),
        Some(STATE),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_unchanged(&before, &snapshot(&dir));
    // A stray index.log.
    let dir = v1_copy(tmp.path(), "stray");
    std::fs::write(dir.join("index.log"), "").unwrap();
    let before = snapshot(&dir);
    let out = run(&dir, &["upgrade"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(STATE), "{err}");
    assert!(err.contains("index.log"), "{err}");
    assert_unchanged(&before, &snapshot(&dir));
}

#[test]
#[ignore = "full tier: a fault at every mutation, one process per fault point"]
fn io_error_or_crash_at_every_mutation_of_upgrade_leaves_before_or_after_upgrade_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    upgrade_sweep(tmp.path(), |name| v1_copy(tmp.path(), name));
}

#[test]
#[ignore = "full tier: a fault at every mutation, one process per fault point"]
fn io_error_or_crash_at_every_mutation_of_a_format_2_upgrade_upgrade_format_2_sweep() {
    // Ed25519 and a pinned time: the signed checkpoint is the same in every run.
    let tmp = tempfile::tempdir().unwrap();
    let made = deterministic_ca(tmp.path());
    as_format_2(&made);
    upgrade_sweep(tmp.path(), |name| {
        let dir = tmp.path().join(format!("v2-{name}"));
        copy_dir(&made, &dir);
        dir
    });
}

/// Fails and kills `ca upgrade` at every mutation of a copy of what `make` builds: before
/// the commit point the directory is unchanged, after it recovery completes the upgrade.
fn upgrade_sweep(root: &Path, make: impl Fn(&str) -> PathBuf) {
    let tmp = root;
    let base = make("base");
    let reference = make("ref");
    let args: Vec<String> = vec!["upgrade".into()];
    let trace = trace_mutations(&reference, &args);
    let after = snapshot(&reference);
    let before = snapshot(&base);
    let commit = commit_point(&trace);
    let fsyncs = commit_fsyncs(&trace);
    for n in 1..=trace.len() {
        for fault in ["error", "abort"] {
            let (dir, out) = run_with_fault(
                tmp,
                &base,
                &format!("{fault}-{n}"),
                &args,
                &format!("{fault}@{n}"),
            );
            // Any command recovers first; check does, whatever the format it then finds.
            let check = run(&dir, &["check"]);
            if n <= commit + usize::from(fault == "error") {
                if fault == "error" {
                    assert_eq!(out.status.code(), Some(IO), "error@{n}");
                }
                assert_unchanged(&before, &snapshot(&dir));
            } else {
                if fault == "error" && fsyncs.contains(&n) {
                    // The commit point's fsync failed: outcome unknown, settled by recovery.
                    assert_eq!(out.status.code(), Some(UNKNOWN), "error@{n}");
                }
                assert!(check.status.success(), "{fault}@{n}: {:?}", check);
                assert_unchanged(&after, &snapshot(&dir));
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

#[test]
fn format_2_is_refused_until_upgrade_signs_its_first_checkpoint_upgrade_format_2() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.sign(&csr("ed25519-default.pem"), &[]);
    env.ok(&["revoke", &a]);
    env.ok(&["crl"]);
    let pass = env.path("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    env.ok(&["passwd", "--new-passphrase-file", pass.to_str().unwrap()]);
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    let certificates = env.index()["certificates"].clone();
    as_format_2(&env.dir);
    let p = pass.to_str().unwrap();
    let p384 = csr("p384-default.pem");
    for args in [
        vec!["--passphrase-file", p, "sign", p384.to_str().unwrap()],
        vec!["--passphrase-file", p, "revoke", &a],
        vec!["list"],
        vec!["status"],
    ] {
        let err = env.refused(&args, STATE);
        assert!(
            err.contains("format 2") && err.contains("ca upgrade"),
            "{args:?}: {err}"
        );
    }
    // The upgrade signs, so it needs the key: without its passphrase nothing changes.
    let wrong = env.path("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    env.refused(
        &["--passphrase-file", wrong.to_str().unwrap(), "upgrade"],
        REFUSED,
    );
    let out = env.ok(&["--passphrase-file", p, "upgrade", "--dry-run"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would write index.json"));
    env.ok(&["--passphrase-file", p, "upgrade"]);
    let header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(header["format"], 5);
    assert_eq!(
        header["log_head"],
        crate::checkpoint::log_head(&log),
        "the whole log is chained"
    );
    assert_eq!(header["checkpoint"]["generation"], header["generation"]);
    assert_eq!(
        std::fs::read_to_string(env.dir.join("index.log")).unwrap(),
        log,
        "kept as it was"
    );
    assert_eq!(env.index()["certificates"], certificates);
    let check = env
        .ca()
        .args(["--passphrase-file", p, "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    env.ok(&["--passphrase-file", p, "sign", p384.to_str().unwrap()]);
    // Upgrading again changes nothing and succeeds (UPGRADE-CURRENT).
    let before = snapshot(&env.dir);
    env.ok(&["--passphrase-file", p, "upgrade"]);
    assert_unchanged(&before, &snapshot(&env.dir));
}

#[test]
fn upgrade_refuses_a_damaged_format_2_log_upgrade_format_2() {
    let env = Env::new();
    env.sign(&csr("p256-default.pem"), &[]);
    as_format_2(&env.dir);
    let mut log = std::fs::read(env.dir.join("index.log")).unwrap();
    log[2] = b'X';
    std::fs::write(env.dir.join("index.log"), &log).unwrap();
    let err = env.refused(&["upgrade"], STATE);
    assert!(err.contains("index.log"), "{err}");
}

/// UPGRADE-FORMAT-4: a format-4 directory (fileca before ACME) is refused by every command
/// but `ca upgrade`, which changes only the number, in one signed and audited commit; a held
/// certificate's release line, which format 4 may hold, is kept.
#[test]
fn a_format_4_directory_is_upgraded_to_format_5_by_number_only_upgrade_format_4() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "certificateHold"]);
    env.ok(&["unhold", &serial]);
    as_format_4(&env.dir);
    let err = env.refused(&["list"], 5);
    assert!(
        err.contains("is format 4") && err.contains("ca upgrade"),
        "{err}"
    );
    let log_before = std::fs::read(env.dir.join("index.log")).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir.join("index.json")).unwrap()).unwrap();
    let generation = header["generation"].as_u64().unwrap();
    env.ok(&["upgrade"]);
    assert_eq!(
        std::fs::read(env.dir.join("index.log")).unwrap(),
        log_before
    );
    let index = env.index();
    assert_eq!(index["format"], 5);
    assert_eq!(index["generation"].as_u64().unwrap(), generation + 1);
    let audit = std::fs::read_to_string(env.dir.join("audit.log")).unwrap();
    assert!(audit.lines().last().unwrap().contains("\"upgrade\""));
    env.assert_check_ok();
}

/// UPGRADE-CURRENT: upgrading a current directory is a no-op that succeeds (the README's
/// `ca upgrade && ca check`), asks for no passphrase and changes nothing.
#[test]
fn upgrade_of_a_current_directory_changes_nothing_and_succeeds_upgrade_current() {
    let env = Env::new();
    let before = snapshot(&env.dir);
    let out = env
        .ca()
        .args(["upgrade"])
        .env("CA_PASSPHRASE_FILE", "/nonexistent/never-read")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is already format 5; nothing to upgrade"),
        "{err}"
    );
    assert_unchanged(&before, &snapshot(&env.dir));
    let quiet = env.ok(&["--quiet", "upgrade"]);
    assert!(quiet.stderr.is_empty());
    env.ok(&["check"]);
    assert_unchanged(&before, &snapshot(&env.dir));
}

/// UPGRADE-CRL: whoever can write the directory (not the key) cannot launder an edited
/// history through `ca upgrade` by rewriting index.json as format 2: a keyCompromise made a
/// superseded disagrees with the signed ca.crl, and the upgrade signs nothing (exit 5);
/// `renew` then still refuses the key.
#[test]
fn upgrade_refuses_a_history_the_signed_crl_contradicts_upgrade_crl() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &a, "--reason", "keyCompromise", "--crl"]);
    let log_path = env.dir.join("index.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let edited = log.replace(
        "\"reason\":\"keyCompromise\"",
        "\"reason\":   \"superseded\"",
    );
    assert_ne!(edited, log);
    assert_eq!(edited.len(), log.len());
    std::fs::write(&log_path, edited).unwrap();
    as_format_2(&env.dir);
    let err = env.refused(&["upgrade"], STATE);
    assert!(err.contains("disagrees with ca.crl"), "{err}");
    // Undone, the same directory upgrades.
    std::fs::write(&log_path, &log).unwrap();
    env.ok(&["upgrade"]);
    let err = env.refused(&["renew", &a], REFUSED);
    assert!(err.contains("keyCompromise"), "{err}");
}
