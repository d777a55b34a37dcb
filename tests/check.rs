//! `ca check` and corrupted state (SPEC.md CHECK-*, INV-*).

use std::os::unix::fs::PermissionsExt;

use crate::harness::*;

fn problems(env: &Env) -> Vec<(String, String)> {
    let out = env.run(&["check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(if v["ok"] == true { 0 } else { 1 }));
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn signed_env() -> (Env, String) {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.sign(&csr("p384-default.pem"), &[]);
    env.ok(&["crl"]);
    (env, serial)
}

#[test]
fn check_passes_on_a_healthy_ca_check_ok() {
    let (env, _) = signed_env();
    assert!(problems(&env).is_empty());
}

#[test]
fn check_finds_a_missing_certificate_inv_one_to_one() {
    let (env, serial) = signed_env();
    std::fs::remove_file(env.dir.join(format!("certs/{serial}.pem"))).unwrap();
    let p = problems(&env);
    assert!(
        p.iter()
            .any(|(f, m)| f == &format!("certs/{serial}.pem") && m.contains("unreadable")),
        "{p:?}"
    );
}

#[test]
fn check_finds_an_extra_certificate_file_inv_one_to_one() {
    let (env, _) = signed_env();
    std::fs::write(env.dir.join("certs/0BAD.pem"), "x").unwrap();
    let p = problems(&env);
    assert!(
        p.iter()
            .any(|(f, m)| f == "certs/0BAD.pem" && m.contains("not listed")),
        "{p:?}"
    );
}

#[test]
fn check_finds_a_certificate_that_does_not_match_its_entry_inv_hash() {
    let (env, serial) = signed_env();
    let other = env.index()["certificates"][1]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::copy(
        env.dir.join(format!("certs/{other}.pem")),
        env.dir.join(format!("certs/{serial}.pem")),
    )
    .unwrap();
    let p = problems(&env);
    assert!(
        p.iter().any(|(_, m)| m.contains("SHA-256 differs")),
        "{p:?}"
    );
    assert!(p.iter().any(|(_, m)| m.contains("holds serial")), "{p:?}");
}

#[test]
fn check_finds_a_serial_counter_below_issued_serials_inv_serial() {
    let (env, serial) = signed_env();
    std::fs::write(env.dir.join("serial"), format!("{serial}\n")).unwrap();
    let p = problems(&env);
    assert!(
        p.iter()
            .any(|(f, m)| f == "serial" && m.contains("not above")),
        "{p:?}"
    );
    // And sign refuses rather than issuing a duplicate serial.
    let err = env.refused(&["sign", csr("p256-default.pem").to_str().unwrap()], STATE);
    assert!(err.contains("serial"), "{err}");
}

#[test]
fn check_finds_a_crl_number_that_went_backwards_inv_crlnumber() {
    let (env, _) = signed_env();
    std::fs::write(env.dir.join("crlnumber"), "01\n").unwrap();
    let p = problems(&env);
    assert!(p.iter().any(|(f, _)| f == "crlnumber"), "{p:?}");
}

#[test]
fn check_and_every_command_refuse_a_key_that_does_not_match_inv_key() {
    let (env, _) = signed_env();
    let other = Env::new();
    std::fs::copy(other.dir.join("ca.key"), env.dir.join("ca.key")).unwrap();
    let p = problems(&env);
    assert!(
        p.iter()
            .any(|(f, m)| f == "ca.key" && m.contains("does not match")),
        "{p:?}"
    );
    let err = env.refused(&["sign", csr("p256-default.pem").to_str().unwrap()], STATE);
    assert!(err.contains("ca.key") && err.contains("ca.crt"), "{err}");
    // Reads do not use the key (so an encrypted key needs no passphrase to read); ca check
    // above reports the mismatch.
    env.ok(&["status"]);
}

#[test]
fn check_reports_a_readable_key_inv_key_mode() {
    let (env, _) = signed_env();
    std::fs::set_permissions(
        env.dir.join("ca.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let p = problems(&env);
    assert!(
        p.iter()
            .any(|(f, m)| f == "ca.key" && m.contains("chmod 600")),
        "{p:?}"
    );
}

#[test]
fn corrupted_state_files_give_precise_errors_and_are_never_repaired_state_corrupt() {
    for (file, content, needle) in [
        ("index.json", &b"{\"format\": 1,"[..], "index.json"),
        (
            "index.json",
            &b"{\"format\": 9, \"generation\": 1, \"certificates\": []}"[..],
            "format 9",
        ),
        ("serial", &b"hello\n"[..], "serial"),
        ("crlnumber", &b""[..], "crlnumber"),
        (
            "ca.crt",
            &b"-----BEGIN CERTIFICATE-----\nAAAA\n"[..],
            "ca.crt",
        ),
    ] {
        let (env, _) = signed_env();
        std::fs::write(env.dir.join(file), content).unwrap();
        let err = env.refused(&["sign", csr("p256-default.pem").to_str().unwrap()], STATE);
        assert!(err.contains(needle), "{file}: {err}");
        env.refused(&["revoke", "01"], STATE);
        env.refused(&["crl"], STATE);
        let p = problems(&env);
        assert!(p.iter().any(|(f, _)| f == file), "{file}: {p:?}");
    }
}

#[test]
fn symlinked_state_files_are_refused_state_symlink() {
    let (env, _) = signed_env();
    let real = env.path("index-elsewhere.json");
    std::fs::rename(env.dir.join("index.json"), &real).unwrap();
    std::os::unix::fs::symlink(&real, env.dir.join("index.json")).unwrap();
    let err = env.refused(&["status"], STATE);
    assert!(err.contains("symbolic link"), "{err}");
}

#[test]
fn a_damaged_index_log_is_refused_by_its_readers_and_reported_by_check_index_log() {
    let (env, serial) = signed_env();
    let log = env.dir.join("index.log");
    let orig = std::fs::read(&log).unwrap();
    let p256 = csr("p256-default.pem");
    // Extended behind fileca's back: its length no longer matches index.json's log_len, so
    // every command that loads the index refuses, sign included.
    let mut longer = orig.clone();
    longer.extend_from_slice(
        b"{\"revoked\":\"01\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"unspecified\"}\n",
    );
    std::fs::write(&log, &longer).unwrap();
    for args in [
        vec!["sign", p256.to_str().unwrap()],
        vec!["revoke", &serial],
        vec!["crl"],
        vec!["list"],
        vec!["status"],
    ] {
        let err = env.refused(&args, STATE);
        assert!(
            err.contains("index.log") && err.contains("index.json records"),
            "{args:?}: {err}"
        );
    }
    assert!(problems(&env).iter().any(|(f, _)| f == "index.log"));
    // Same length, damaged content: the commands that parse the log refuse and name the line.
    let mut bad = orig.clone();
    bad[2] = b'X';
    std::fs::write(&log, &bad).unwrap();
    for args in [
        vec!["revoke", &serial],
        vec!["crl"],
        vec!["list"],
        vec!["status"],
    ] {
        let err = env.refused(&args, STATE);
        assert!(
            err.contains("index.log") && err.contains("line 1"),
            "{args:?}: {err}"
        );
    }
    let p = problems(&env);
    assert!(
        p.iter()
            .any(|(f, m)| f == "index.log" && m.contains("line 1")),
        "{p:?}"
    );
    // A revocation of a serial never issued, a second revocation, a second issue.
    std::fs::write(&log, &orig).unwrap();
    let first = String::from_utf8(orig.clone())
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let rev = format!(
        "{{\"revoked\":\"{serial}\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"unspecified\"}}\n"
    );
    // `check` names each problem; the readers refuse the unsigned state.
    for (extra, needle) in [
        (rev.replace(&serial, "0A"), "no earlier line"),
        (format!("{rev}{rev}"), "second time"),
        (format!("{first}\n"), "second time"),
    ] {
        let mut content = orig.clone();
        content.extend_from_slice(extra.as_bytes());
        std::fs::write(&log, &content).unwrap();
        let mut header: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.dir.join("index.json")).unwrap()).unwrap();
        header["log_len"] = content.len().into();
        std::fs::write(
            env.dir.join("index.json"),
            serde_json::to_vec_pretty(&header).unwrap(),
        )
        .unwrap();
        let p = problems(&env);
        assert!(
            p.iter()
                .any(|(f, m)| f == "index.log" && m.contains(needle)),
            "{needle}: {p:?}"
        );
        // A reader refuses it before parsing a line: log_len no longer matches the signed
        // checkpoint (VERIFIED-READ).
        let err = env.refused(&["list"], STATE);
        assert!(err.contains("signed checkpoint"), "{err}");
    }
}

/// Rewrites index.log without the lines `drop` selects, fixing index.json's log_len the way a
/// careful tamperer would.
fn drop_log_lines(dir: &std::path::Path, drop: impl Fn(&str) -> bool) {
    let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
    let kept: String = log
        .lines()
        .filter(|l| !drop(l))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("index.log"), &kept).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    header["log_len"] = kept.len().into();
    std::fs::write(dir.join("index.json"), format!("{header}\n")).unwrap();
}

#[test]
fn check_ties_the_index_to_the_audit_trail_and_the_signed_crl_check_history() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    assert!(ca_at(&base).arg("check").output().unwrap().status.success());
    let revoked = read_index(&base)["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    // A revocation line deleted (and log_len fixed): the revoke record and the signed CRL
    // both still name it.
    let dir = tmp.path().join("unrevoked");
    copy_dir(&base, &dir);
    drop_log_lines(&dir, |l| l.starts_with("{\"revoked\""));
    let out = ca_at(&dir).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("revoked {revoked}")), "{text}");
    assert!(text.contains("signed ca.crl"), "{text}");
    // A certificate line added that no operation issued.
    let dir = tmp.path().join("forged");
    copy_dir(&base, &dir);
    let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
    let first = log.lines().next().unwrap().to_string();
    let forged = first.replacen(
        &read_index(&base)["certificates"][0]["serial"]
            .as_str()
            .unwrap()
            .to_string(),
        "7777",
        1,
    );
    drop_log_lines(&dir, |_| false);
    let mut log = std::fs::read_to_string(dir.join("index.log")).unwrap();
    log.push_str(&forged);
    log.push('\n');
    std::fs::write(dir.join("index.log"), &log).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    header["log_len"] = log.len().into();
    std::fs::write(dir.join("index.json"), format!("{header}\n")).unwrap();
    let out = ca_at(&dir).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("no audit record issued it"), "{text}");
}
