//! `ca unhold`: releasing a certificateHold (SPEC.md UNHOLD), and format 4, which records it
//! (UPGRADE-FORMAT-3).

use crate::harness::*;

/// The row of `serial` in `ca list --json`.
fn row(env: &Env, serial: &str) -> serde_json::Value {
    let rows: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"]).stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["serial"] == serial)
        .cloned()
        .unwrap()
}

/// GnuTLS's verdict on a certificate against ca.crt and ca.crl.
fn certtool_verify(env: &Env, pem: &str) -> (bool, String) {
    require("certtool", "gnutls-bin");
    let leaf = write(env, "certtool-leaf.pem", pem.as_bytes());
    let out = std::process::Command::new("certtool")
        .args(["--verify", "--load-ca-certificate"])
        .arg(env.dir.join("ca.crt"))
        .arg("--load-crl")
        .arg(env.dir.join("ca.crl"))
        .arg("--infile")
        .arg(&leaf)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_released_hold_is_valid_again_and_the_next_crl_omits_it_unhold() {
    let env = Env::new();
    let (held, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let (_, other) = env.sign(&csr("rsa2048-default.pem"), &[]);
    env.ok(&["revoke", &other, "--reason", "superseded"]);
    env.ok(&["revoke", &serial, "--reason", "certificateHold"]);
    env.ok(&["crl"]);
    assert!(crl_text(&env).contains("Certificate Hold"));
    let (ok, out) = verify(&env, &held, true);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    // LIST-HELD, STATUS-HELD: the hold is shown as what it is, releasable.
    let list = String::from_utf8(env.ok(&["list"]).stdout).unwrap();
    let line = |s: &str| list.lines().find(|l| l.starts_with(s)).unwrap().to_string();
    assert!(line(&serial).contains(" held "), "{list}");
    assert!(line(&other).contains(" revoked "), "{list}");
    assert_eq!(row(&env, &serial)["state"], "revoked");
    let status = String::from_utf8(env.ok(&["status"]).stdout).unwrap();
    assert!(status.contains("2 revoked (1 on hold)"), "{status}");
    let json: serde_json::Value =
        serde_json::from_slice(&env.ok(&["status", "--json"]).stdout).unwrap();
    assert_eq!(json["certificates"]["held"], 1, "{json}");

    let out = env.ok(&["unhold", &serial]);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("released") && note.contains(&serial),
        "{note}"
    );
    assert!(note.contains("run `ca crl`"), "{note}");
    assert!(out.stdout.is_empty());
    let r = row(&env, &serial);
    assert_eq!(r["state"], "valid", "{r}");
    assert_eq!(r["revoked_at"], serde_json::Value::Null);
    assert!(r["hold_released_at"].is_string(), "{r}");
    let shown = String::from_utf8(env.ok(&["show", &serial]).stdout).unwrap();
    assert!(shown.contains("status:        valid"), "{shown}");
    assert!(shown.contains("hold released: "), "{shown}");
    // The CRL signed before still lists the hold: history, not a problem (CHECK-HISTORY), but
    // status says it is not published yet (review finding: it said nothing).
    env.assert_check_ok();
    let status = env.status();
    assert_eq!(status["certificates"]["valid"], 1, "{status}");
    assert_eq!(status["certificates"]["revoked"], 1, "{status}");
    assert!(
        status["warnings"]
            .to_string()
            .contains("1 revocation(s) or release(s) of a hold not yet in a published CRL"),
        "{status}"
    );
    let index = env.index();
    assert_eq!(index["certificates"][0]["status"], "valid");
    let audit = std::fs::read_to_string(env.dir.join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["operation"], "unhold");
    assert_eq!(last["serials"][0], serial.as_str());

    env.ok(&["crl"]);
    let status = env.status();
    assert!(
        !status["warnings"].to_string().contains("published"),
        "{status}"
    );
    let text = crl_text(&env);
    assert!(!text.contains(&serial), "{text}");
    assert!(text.contains(&other), "{text}");
    let (ok, out) = verify(&env, &held, true);
    assert!(ok, "{out}");
    let (ok, out) = certtool_verify(&env, &held);
    assert!(ok, "{out}");
    let leaf = write(&env, "held.pem", held.as_bytes());
    env.ok(&["verify", leaf.to_str().unwrap()]);
    // A released certificate may be held again, and released again.
    env.ok(&["revoke", &serial, "--reason", "certificateHold"]);
    env.ok(&["unhold", &serial, "--crl"]);
    assert!(!crl_text(&env).contains(&serial));
    env.assert_check_ok();
}

#[test]
fn unhold_crl_publishes_the_crl_in_the_same_commit_unhold() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "certificateHold", "--crl"]);
    assert!(crl_text(&env).contains(&serial));
    let generation = env.index()["generation"].as_u64().unwrap();
    let out = env.ok(&["unhold", &serial, "--crl", "--crl-days", "7"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("-----BEGIN X509 CRL-----"),
        "the CRL is printed, as `ca crl` does"
    );
    assert!(!crl_text(&env).contains(&serial));
    assert_eq!(env.index()["generation"], generation + 1, "one commit");
    let audit = std::fs::read_to_string(env.dir.join("audit.log")).unwrap();
    assert!(audit.lines().last().unwrap().contains("\"unhold+crl\""));
    env.assert_check_ok();
}

#[test]
fn only_a_hold_can_be_released_and_nothing_changes_otherwise_unhold_refuse() {
    let env = Env::new();
    let (_, valid) = env.sign(&csr("p256-default.pem"), &[]);
    let (_, final_) = env.sign(&csr("rsa2048-default.pem"), &[]);
    let (_, held) = env.sign(&csr("p384-default.pem"), &[]);
    env.ok(&["revoke", &final_, "--reason", "keyCompromise"]);
    env.ok(&["revoke", &held, "--reason", "certificateHold"]);

    let err = env.refused(&["unhold", &valid], 3);
    assert!(
        err.contains(&format!(
            "certificate {valid} is not on hold: it is not revoked"
        )),
        "{err}"
    );
    let err = env.refused(&["unhold", &final_], 3);
    assert!(
        err.contains("revoked for keyCompromise") && err.contains("which is final"),
        "{err}"
    );
    let err = env.refused(&["unhold", "0ABC"], 3);
    assert!(err.contains("no certificate with serial 0ABC"), "{err}");
    // A hold is not held twice.
    let err = env.refused(&["revoke", &held, "--reason", "certificateHold"], 3);
    assert!(
        err.contains("already on hold") && err.contains("ca unhold"),
        "{err}"
    );
    // A dry run changes nothing, and says what it would do.
    let before = snapshot(env.tmp.path());
    let out = env.ok(&["unhold", &held, "--dry-run"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would release"));
    assert_unchanged(&before, &snapshot(env.tmp.path()));
    // --expect-generation is compared (CAS).
    env.refused(&["unhold", &held, "--expect-generation", "1"], 7);
    env.ok(&["unhold", &held]);
    let err = env.refused(&["unhold", &held], 3);
    assert!(err.contains("is not on hold: it is not revoked"), "{err}");
    env.assert_check_ok();
}

#[test]
fn a_hold_made_final_is_listed_once_with_its_final_reason_unhold_final() {
    let env = Env::new();
    let (pem, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "certificateHold", "--crl"]);
    env.ok(&["revoke", &serial, "--reason", "keyCompromise", "--crl"]);
    let text = crl_text(&env);
    assert_eq!(text.matches(&serial).count(), 1, "{text}");
    assert!(
        text.contains("Key Compromise") && !text.contains("Certificate Hold"),
        "{text}"
    );
    let (ok, out) = verify(&env, &pem, true);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let err = env.refused(&["unhold", &serial], 3);
    assert!(err.contains("which is final"), "{err}");
    let err = env.refused(&["revoke", &serial, "--reason", "superseded"], 3);
    assert!(err.contains("already revoked"), "{err}");
    assert_eq!(row(&env, &serial)["revocation_reason"], "keyCompromise");
    // renew treats it as the compromise it is.
    let err = env.refused(&["renew", &serial], 3);
    assert!(err.contains("keyCompromise"), "{err}");
    env.assert_check_ok();
}

#[test]
fn export_index_and_openssl_ocsp_see_a_released_hold_as_valid_export_index_unhold() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "certificateHold"]);
    let index = String::from_utf8(env.ok(&["export-index"]).stdout).unwrap();
    assert!(
        index.starts_with('R') && index.contains("certificateHold"),
        "{index}"
    );
    env.ok(&["unhold", &serial]);
    let index = String::from_utf8(env.ok(&["export-index"]).stdout).unwrap();
    assert!(index.starts_with("V\t"), "{index}");
}

#[test]
fn a_format_3_directory_is_read_only_after_ca_upgrade_upgrade_format_3() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "certificateHold", "--crl"]);
    as_format_3(&env.dir);
    let err = env.refused(&["list"], 5);
    assert!(
        err.contains("is format 3") && err.contains("ca upgrade"),
        "{err}"
    );
    env.refused(&["unhold", &serial], 5);
    let before = snapshot(env.tmp.path());
    env.ok(&["upgrade", "--dry-run"]);
    assert_unchanged(&before, &snapshot(env.tmp.path()));
    let log_before = std::fs::read(env.dir.join("index.log")).unwrap();
    let out = env.ok(&["upgrade"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("format 5"));
    assert_eq!(
        std::fs::read(env.dir.join("index.log")).unwrap(),
        log_before
    );
    let index = env.index();
    assert_eq!(index["format"], 5);
    let audit = std::fs::read_to_string(env.dir.join("audit.log")).unwrap();
    assert!(audit.lines().last().unwrap().contains("\"upgrade\""));
    env.assert_check_ok();
    env.ok(&["unhold", &serial, "--crl"]);
    env.assert_check_ok();
    // Upgrading again changes nothing.
    let err = String::from_utf8(env.ok(&["upgrade"]).stderr).unwrap();
    assert!(err.contains("already format 5"), "{err}");
}

#[test]
fn a_format_3_header_whose_history_was_edited_is_not_upgraded_upgrade_format_3() {
    // The format-3 history is signed: an edit behind fileca's back is refused, not laundered
    // into format 4.
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "keyCompromise"]);
    as_format_3(&env.dir);
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    let edited = log.replace("\"keyCompromise\"", "   \"superseded\"");
    assert_eq!(edited.len(), log.len());
    std::fs::write(env.dir.join("index.log"), edited).unwrap();
    let err = env.refused(&["upgrade"], 5);
    assert!(err.contains("index.log"), "{err}");
}

#[test]
fn a_release_appended_to_a_downgraded_directory_is_not_signed_by_upgrade_upgrade_crl() {
    // Review finding: whoever can write the directory rewrote index.json as format 2, appended
    // a release line (and an audit record), and `ca upgrade` signed it: the hold vanished.
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["crl"]);
    env.ok(&["revoke", &serial, "--reason", "certificateHold"]);
    let release = format!("{{\"released\":\"{serial}\",\"at\":\"2026-12-01T00:00:00Z\"}}\n");
    let mut log = std::fs::read(env.dir.join("index.log")).unwrap();
    log.extend_from_slice(release.as_bytes());
    std::fs::write(env.dir.join("index.log"), &log).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir.join("index.json")).unwrap()).unwrap();
    header["log_len"] = log.len().into();
    std::fs::write(env.dir.join("index.json"), header.to_string()).unwrap();
    as_format_2(&env.dir);
    let err = env.refused(&["upgrade"], 5);
    assert!(err.contains("no fileca before format 4 wrote"), "{err}");
}

#[test]
fn a_removed_ca_crl_does_not_switch_off_the_upgrades_comparison_upgrade_crl() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "keyCompromise", "--crl"]);
    as_format_2(&env.dir);
    std::fs::remove_file(env.dir.join("ca.crl")).unwrap();
    let err = env.refused(&["upgrade"], 5);
    assert!(
        err.contains("ca.crl is missing, but crlnumber (02) says the CA signed one"),
        "{err}"
    );
}

#[test]
fn making_a_hold_final_says_so_and_show_tells_the_current_state_unhold_final() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    // Without a ca.crl, the note does not claim one lists the hold.
    env.ok(&["revoke", &serial, "--reason", "certificateHold"]);
    let out = env.ok(&["unhold", &serial]);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("run `ca crl`") && !note.contains("still lists"),
        "{note}"
    );
    env.ok(&["revoke", &serial, "--reason", "certificateHold"]);
    let out = env.ok(&[
        "renew",
        &serial,
        "--revoke-old",
        "--out",
        env.path("r.pem").to_str().unwrap(),
    ]);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("the hold becomes final (superseded) and can no longer be released"),
        "{note}"
    );
    let shown = String::from_utf8(env.ok(&["show", &serial]).stdout).unwrap();
    assert!(
        shown.contains("revoked on") && !shown.contains("hold released"),
        "{shown}"
    );
    env.assert_check_ok();
}

#[test]
fn status_counts_what_the_published_crl_does_not_say_to_the_second_status_warn() {
    // Review finding: a revocation in the same second as `ca crl` (and a hold made final
    // after it) was taken as published, so status said nothing while the CRL disagreed.
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    let (_, b) = env.sign(&csr("rsa2048-default.pem"), &[]);
    let (_, c) = env.sign(&csr("p384-default.pem"), &[]);
    env.ok(&["revoke", &c, "--reason", "certificateHold"]);
    env.ok(&["crl"]);
    let warnings = |env: &Env| env.status()["warnings"].to_string();
    assert!(!warnings(&env).contains("published"), "{}", warnings(&env));
    env.ok(&["revoke", &a]);
    env.ok(&["revoke", &b, "--reason", "keyCompromise"]);
    env.ok(&["revoke", &c, "--reason", "superseded"]);
    let w = warnings(&env);
    assert!(
        w.contains("3 revocation(s) or release(s) of a hold not yet in a published CRL"),
        "{w}"
    );
    env.ok(&["crl"]);
    let w = warnings(&env);
    assert!(
        !w.contains("published"),
        "an unspecified revocation is published without a reason code: {w}"
    );
}

#[test]
fn an_openssl_hold_is_imported_as_a_hold_and_can_be_released_import_openssl() {
    // Review finding: `openssl ca -revoke -crl_hold` writes `holdInstruction,INSTRUCTION` in
    // index.txt, which import-openssl refused; a CA adopted with a held certificate could then
    // never release it.
    let env = Env::empty();
    let src = crate::keys::openssl_ca_dir(&env);
    let st = std::process::Command::new("openssl")
        .args(["ca", "-config", "openssl.cnf", "-revoke", "c3.pem"])
        .args(["-crl_hold", "holdInstructionReject"])
        .current_dir(&src)
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let index = std::fs::read_to_string(src.join("index.txt")).unwrap();
    assert!(index.contains(",holdInstruction,"), "{index}");
    env.ok(&["import-openssl", src.to_str().unwrap()]);
    assert_eq!(row(&env, "1002")["revocation_reason"], "certificateHold");
    env.ok(&["unhold", "1002", "--crl"]);
    let held = std::fs::read_to_string(src.join("c3.pem")).unwrap();
    let (ok, out) = verify(&env, &held, true);
    assert!(ok, "{out}");
    env.assert_check_ok();
}
