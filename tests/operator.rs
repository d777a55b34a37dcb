//! Operator features: audit trail, dry runs, revoke --crl, list/show/verify, renew, log,
//! completions and man page (SPEC.md AUDIT-*, DRY-RUN, REVOKE-CRL, LIST-*, SHOW-*, VERIFY-*,
//! RENEW-*, LOG-*, DOCS-*).

use crate::harness::*;

fn audit_lines(env: &Env) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.dir.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn problems(env: &Env) -> String {
    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(1), "check should fail");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_commit_appends_one_chained_audit_record_audit_atomic() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "superseded"]);
    env.ok(&["crl"]);
    env.refused(&["revoke", &serial], REFUSED); // refusals are not recorded
    let lines = audit_lines(&env);
    let ops: Vec<_> = lines
        .iter()
        .map(|l| l["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["init", "sign", "revoke", "crl"]);
    assert_eq!(lines[1]["serials"][0], serial.as_str());
    assert_eq!(lines[1]["csr_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(lines[3]["generation"], 4);
    assert!(!lines[1]["user"].as_str().unwrap().is_empty());
    env.assert_check_ok();
    let out = env.ok(&["log", "--json"]);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log.as_array().unwrap().len(), 4);
    let text = String::from_utf8(env.ok(&["log"]).stdout).unwrap();
    assert!(text.contains("revoke") && text.contains(&serial), "{text}");
}

#[test]
fn check_detects_a_tampered_deleted_or_truncated_audit_log_audit_chain() {
    type Tamper = Box<dyn Fn(&str) -> String>;
    let mut cases: Vec<(&str, Tamper)> = Vec::new();
    cases.push((
        "edited",
        Box::new(|t: &str| t.replacen("\"operation\":\"sign\"", "\"operation\":\"sigN\"", 1)),
    ));
    cases.push((
        "deleted",
        Box::new(|t: &str| {
            let l: Vec<&str> = t.lines().collect();
            format!("{}\n{}\n{}\n", l[0], l[2], l[3])
        }),
    ));
    cases.push((
        "truncated",
        Box::new(|t: &str| {
            let l: Vec<&str> = t.lines().collect();
            format!("{}\n{}\n", l[0], l[1])
        }),
    ));
    cases.push((
        "last edited",
        Box::new(|t: &str| t.replacen("\"operation\":\"crl\"", "\"operation\":\"cRl\"", 1)),
    ));
    for (what, tamper) in cases {
        let env = Env::new();
        env.sign(&csr("p256-default.pem"), &[]);
        env.sign(&csr("p256-default.pem"), &[]);
        env.ok(&["crl"]);
        let path = env.dir.join("audit.log");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, tamper(&text)).unwrap();
        let report = problems(&env);
        assert!(report.contains("audit.log"), "{what}: {report}");
        // A broken chain blocks further mutations rather than being extended.
        if what != "edited" && what != "deleted" {
            env.refused(&["crl"], STATE);
        }
    }
}

#[test]
fn dry_run_validates_everything_and_writes_nothing_dry_run() {
    let env = Env::new();
    let before = snapshot(&env.dir);
    let out = env.ok(&[
        "sign",
        csr("p256-default.pem").to_str().unwrap(),
        "--dry-run",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("dry run") && text.contains("would write certs/"),
        "{text}"
    );
    assert!(
        !text.contains("BEGIN CERTIFICATE"),
        "a dry run never hands out a certificate"
    );
    assert_unchanged(&before, &snapshot(&env.dir));
    env.ok(&["crl", "--dry-run"]);
    assert_unchanged(&before, &snapshot(&env.dir));
    // Validation still refuses in a dry run.
    env.refused(
        &[
            "sign",
            csr("rsa2048-sha1.pem").to_str().unwrap(),
            "--dry-run",
        ],
        REFUSED,
    );
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let before = snapshot(&env.dir);
    let out = env.ok(&["revoke", &serial, "--dry-run", "--crl"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would write ca.crl"));
    assert_unchanged(&before, &snapshot(&env.dir));
}

#[test]
fn revoke_with_crl_is_one_commit_revoke_crl() {
    let env = Env::new();
    let (pem, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let g = env.status()["generation"].as_u64().unwrap();
    env.ok(&["revoke", &serial, "--crl", "--crl-days", "2"]);
    let s = env.status();
    assert_eq!(s["generation"].as_u64().unwrap(), g + 1);
    assert_eq!(s["crl"]["number"], "01");
    assert!(!verify(&env, &pem, true).0);
    assert_eq!(audit_lines(&env).last().unwrap()["operation"], "revoke+crl");
}

/// Compares a JSON object's fields and their types with a checked-in schema fixture, field by
/// field, in both directions.
#[track_caller]
pub(crate) fn assert_schema(value: &serde_json::Value, fixture: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/schema")
        .join(fixture);
    let schema: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let obj = value.as_object().unwrap();
    for (field, ty) in &schema {
        let v = obj
            .get(field)
            .unwrap_or_else(|| panic!("{fixture}: field {field} missing"));
        let actual = match v {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        };
        assert!(
            ty.as_str().unwrap().split('|').any(|t| t == actual),
            "{fixture}: {field} is {actual}, expected {ty}"
        );
    }
    for field in obj.keys() {
        assert!(
            schema.contains_key(field),
            "{fixture}: undocumented field {field}"
        );
    }
}

#[test]
fn list_filters_and_its_json_schema_is_stable_list_json() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-sans.pem"), &[]);
    let (_, b) = env.sign(&csr("p256-default.pem"), &["--days", "10"]);
    let (_, c) = env.sign(&csr("rsa2048-default.pem"), &["--profile", "client"]);
    env.ok(&["revoke", &c, "--reason", "keyCompromise"]);
    let list = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        serde_json::from_slice::<serde_json::Value>(&env.ok(&all).stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let all = list(&[]);
    assert_eq!(all.len(), 3);
    for row in &all {
        assert_schema(row, "list.json");
    }
    assert_eq!(all[2]["state"], "revoked");
    assert_eq!(all[2]["revocation_reason"], "keyCompromise");
    let serials = |rows: Vec<serde_json::Value>| {
        rows.iter()
            .map(|r| r["serial"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        serials(list(&["--status", "valid"])),
        [a.as_str(), b.as_str()]
    );
    assert_eq!(serials(list(&["--status", "revoked"])), [c.as_str()]);
    assert_eq!(serials(list(&["--expiring", "30d"])), [b.as_str()]);
    assert_eq!(serials(list(&["--match", "WWW.MULTI"])), [a.as_str()]);
    assert_eq!(serials(list(&["--match", "192.0.2.7"])), [a.as_str()]);
    let text = String::from_utf8(env.ok(&["list"]).stdout).unwrap();
    assert!(
        text.starts_with("SERIAL") && text.contains(&c) && text.contains("revoked"),
        "{text}"
    );
    env.refused(&["list", "--expiring", "soon"], USAGE);
    // Huge durations never panic: past the end of time every valid certificate expires
    // within them (it panicked with a duration overflow before).
    let valid = [a.as_str(), b.as_str()];
    assert_eq!(serials(list(&["--expiring", "9999999999d"])), valid);
    assert_eq!(serials(list(&["--expiring", "106751991167300d"])), valid);
    let out = env.run(&["list", "--expiring", "9223372036854775807w"]);
    assert_eq!(out.status.code(), Some(USAGE), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("too long a duration"));
    env.refused(&["list", "--expiring", "99999999999999999999d"], USAGE);
    assert_schema(&env.status(), "status.json");
}

#[test]
fn show_prints_summary_json_and_pem_show() {
    let env = Env::new();
    let (pem, serial) = env.sign(&csr("rsa2048-default.pem"), &["--profile", "server-client"]);
    let text = String::from_utf8(env.ok(&["show", &serial]).stdout).unwrap();
    assert!(
        text.contains("rsa-2048")
            && text.contains("Key Encipherment")
            && text.contains("serverAuth, clientAuth"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&env.ok(&["show", &serial, "--json"]).stdout).unwrap();
    assert_eq!(json["key_type"], "rsa-2048");
    assert_eq!(
        json["extended_key_usage"],
        serde_json::json!(["serverAuth", "clientAuth"])
    );
    assert_eq!(
        String::from_utf8(env.ok(&["show", &serial, "--pem"]).stdout).unwrap(),
        pem
    );
    env.refused(&["show", "0BAD"], REFUSED);
}

#[test]
fn verify_gives_a_verdict_and_exit_code_for_each_outcome_verify() {
    let env = Env::new();
    let (good, _) = env.sign(&csr("p256-default.pem"), &["--days", "30"]);
    let (bad, bad_serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &bad_serial]);
    let other = Env::new();
    let (foreign, _) = other.sign(&csr("p256-default.pem"), &[]);
    let check = |pem: &str, now: Option<&str>, code: i32, word: &str| {
        let p = write(&env, "v.pem", pem.as_bytes());
        let mut cmd = env.ca();
        cmd.args(["verify", p.to_str().unwrap()]);
        if let Some(n) = now {
            cmd.env("FILECA_NOW", n);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{word}: {text}");
        assert!(text.contains(word), "{text}");
    };
    check(&good, None, 0, "valid");
    check(&bad, None, 13, "revoked");
    check(&foreign, None, 10, "not-issued-by-this-ca");
    check(&good, Some("2099-01-01T00:00:00Z"), 11, "expired");
    check(&good, Some("2000-01-01T00:00:00Z"), 12, "not-yet-valid");
    // Same key and issuer name, but unknown to the index: copy the CA and sign there.
    let copy = env.path("copy");
    copy_dir(&env.dir, &copy);
    let out = std::process::Command::new(bin())
        .arg("--dir")
        .arg(&copy)
        .args(["sign", csr("p256-default.pem").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    check(
        &String::from_utf8_lossy(&out.stdout),
        None,
        14,
        "not-in-index",
    );
}

#[test]
fn renew_links_keeps_identity_and_can_revoke_the_old_one_renew() {
    let env = Env::new();
    let (old_pem, old) = env.sign(&csr("p256-sans.pem"), &["--profile", "server-client"]);
    let out = env.ok(&["renew", &old, "--days", "90"]);
    let new_pem = String::from_utf8(out.stdout).unwrap();
    assert!(verify(&env, &new_pem, false).0);
    let idx = env.index();
    let (o, n) = (&idx["certificates"][0], &idx["certificates"][1]);
    assert_eq!(n["renewed_from"], old.as_str());
    assert_eq!(n["subject"], o["subject"]);
    assert_eq!(n["sans"], o["sans"]);
    assert_eq!(n["profile"], "server-client");
    assert_eq!(o["status"], "valid");
    let pubkey = |pem: &str| {
        let p = write(&env, "k.pem", pem.as_bytes());
        openssl(&["x509", "-in", p.to_str().unwrap(), "-noout", "-pubkey"]).1
    };
    assert_eq!(pubkey(&old_pem), pubkey(&new_pem), "same key");
    let renewed = n["serial"].as_str().unwrap().to_string();
    let g = env.status()["generation"].as_u64().unwrap();
    let out = env.ok(&[
        "renew",
        &renewed,
        "--csr",
        csr("p384-default.pem").to_str().unwrap(),
        "--revoke-old",
    ]);
    let newest = String::from_utf8(out.stdout).unwrap();
    assert_ne!(pubkey(&newest), pubkey(&new_pem), "the CSR's key");
    let idx = env.index();
    assert_eq!(idx["certificates"][1]["status"], "revoked");
    assert_eq!(idx["certificates"][1]["revocation_reason"], "superseded");
    assert_eq!(idx["generation"].as_u64().unwrap(), g + 1, "one commit");
    env.refused(&["renew", "0BAD"], REFUSED);
    env.refused(&["renew", &renewed, "--revoke-old"], REFUSED);
    env.assert_check_ok();
}

#[test]
fn status_warns_about_expiry_and_unpublished_revocations_status_warn() {
    let env = Env::empty();
    env.ok(&["init", "--subject", "CN=Short", "--days", "60"]);
    let (_, s) = env.sign(&csr("p256-default.pem"), &["--days", "5"]);
    env.ok(&["revoke", &s]);
    let w = env.status()["warnings"].to_string();
    assert!(w.contains("CA certificate expires"), "{w}");
    assert!(w.contains("not yet in a published CRL"), "{w}");
    env.ok(&["crl", "--days", "3"]);
    // A CRL just published is not due yet; in the last quarter of its 3 days it is.
    let w = env.status()["warnings"].to_string();
    assert!(
        !w.contains("next update") && !w.contains("not yet in"),
        "{w}"
    );
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(60))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let out = env
        .ca()
        .args(["status", "--json"])
        .env("FILECA_NOW", &later)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = v["warnings"].to_string();
    assert!(
        w.contains("next update") && !w.contains("not yet in"),
        "{w}"
    );
    let out = env
        .ca()
        .args(["status"])
        .env("FILECA_NOW", "2026-12-31T00:00:00Z")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the CRL expired"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn completions_man_page_and_help_examples_docs() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = env.ok(&["completions", shell]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("renew"),
            "{shell}"
        );
    }
    let man = String::from_utf8(env.ok(&["man"]).stdout).unwrap();
    assert!(man.contains(".TH ca") && man.contains("sign"), "{man}");
    for cmd in [
        "init", "sign", "revoke", "crl", "status", "check", "list", "show", "verify", "renew",
        "log",
    ] {
        let help = String::from_utf8(env.ok(&[cmd, "--help"]).stdout).unwrap();
        assert!(help.contains("Example"), "{cmd} --help has no example");
    }
}

#[test]
fn quiet_suppresses_notes_but_not_errors_quiet() {
    let env = Env::new();
    let out = env.ok(&["--quiet", "sign", csr("p256-default.pem").to_str().unwrap()]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = env.refused(&["-q", "revoke", "0BAD"], REFUSED);
    assert!(err.contains("error"), "{err}");
}

#[test]
fn init_dry_run_creates_nothing_dry_run() {
    let env = Env::empty();
    let out = env.ok(&["init", "--subject", "CN=Dry", "--dry-run"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would write ca.key"));
    assert!(!env.dir.exists());
    let env = Env::new();
    env.refused(&["init", "--subject", "CN=Dry", "--dry-run"], REFUSED);
}

/// EXIT-INTERNAL: a panic (a bug) is one line naming it and exit 70, never Rust's 101 and
/// its trace; the state directory is untouched.
#[test]
fn a_panic_is_exit_70_with_one_line_exit_internal() {
    let env = Env::new();
    let before = snapshot(&env.dir);
    let out = env
        .ca()
        .args(["status"])
        .env("FILECA_TEST_PANIC", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(70));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: internal error: FILECA_TEST_PANIC is set at src/lib.rs:"),
        "{err}"
    );
    assert!(err.contains("a bug in fileca"), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(snapshot(&env.dir), before);
}

/// DRY-RUN: the report's notes say what would happen, in their own words (a note about an
/// action has a dry-run wording; nothing rewrites text): single and batch sign, revoke.
#[test]
fn dry_run_notes_say_would_dry_run() {
    let env = Env::new();
    let before = snapshot(&env.dir);
    let one = csr("p256-default.pem");
    let two = csr("p384-default.pem");
    let text = |out: std::process::Output| String::from_utf8(out.stdout).unwrap();
    let single = text(env.ok(&["sign", one.to_str().unwrap(), "--dry-run"]));
    assert!(single.contains("  would issue serial "), "{single}");
    let batch = text(env.ok(&[
        "sign",
        one.to_str().unwrap(),
        two.to_str().unwrap(),
        "--dry-run",
    ]));
    assert!(
        batch.contains("  would issue 2 certificates, serials "),
        "{batch}"
    );
    for report in [&single, &batch] {
        assert!(!report.contains("issued"), "{report}");
    }
    assert_unchanged(&before, &snapshot(&env.dir));
    let (_, serial) = env.sign(&one, &[]);
    let revoke = text(env.ok(&["revoke", &serial, "--dry-run"]));
    assert!(
        revoke.contains(&format!("  would revoke {serial} (")),
        "{revoke}"
    );
    // Committed, the same notes read as done.
    let out = env.ok(&["revoke", &serial]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("note: revoked {serial} (")));
}

/// RENEW-COMPROMISED: renewing a certificate revoked for keyCompromise on the same key is
/// refused, byte-identical (it re-certified the compromised key, silently); a new key from
/// --csr is fine. Another reason keeps the key.
#[test]
fn renew_refuses_a_compromised_key_renew_compromised() {
    let env = Env::new();
    let (_, compromised) = env.sign(&csr("p256-default.pem"), &[]);
    let (_, superseded) = env.sign(&csr("p384-default.pem"), &[]);
    env.ok(&["revoke", &compromised, "--reason", "keyCompromise"]);
    env.ok(&["revoke", &superseded, "--reason", "superseded"]);
    let before = snapshot(&env.dir);
    let err = env.refused(&["renew", &compromised], REFUSED);
    assert!(err.contains("revoked for keyCompromise"), "{err}");
    assert!(err.contains("--csr"), "{err}");
    assert_unchanged(&before, &snapshot(&env.dir));
    env.ok(&[
        "renew",
        &compromised,
        "--csr",
        csr("p384-default.pem").to_str().unwrap(),
    ]);
    env.ok(&["renew", &superseded]);
}

/// VERIFY-THIS-CA: `ca verify ca.crt` has its own verdict (it said "not in index … run ca
/// check" while check was clean), and so has a CA certificate archived by renew-ca.
#[test]
fn verify_gives_the_ca_certificate_its_own_verdict_verify_this_ca() {
    let env = Env::new();
    let ca = env.dir.join("ca.crt");
    let out = env.run(&["verify", ca.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(15), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("this-ca") && text.contains("this CA's own certificate"),
        "{text}"
    );
    let json = env.run(&["verify", ca.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["verdict"], "this-ca");
    let old = std::fs::read(&ca).unwrap();
    env.ok(&["renew-ca"]);
    let archived = write(&env, "old-ca.crt", &old);
    let out = env.run(&["verify", archived.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(15));
    assert!(String::from_utf8_lossy(&out.stdout).contains("an earlier certificate of this CA"));
    env.assert_check_ok();
}

/// SERIAL-INPUT: serials as other tools print them (`serial=…` from openssl x509 -serial,
/// colons, 0x, lowercase), a unique tail of 8+ hex digits, an ambiguous tail refused with
/// the matches, a decimal number refused with a hint, and `revoke --cert FILE`.
#[test]
fn serials_are_accepted_as_users_type_them_serial_input() {
    let env = Env::new();
    let (pem, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let show = |typed: &str| env.run(&["show", typed, "--json"]);
    let named = |out: std::process::Output| -> String {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        v["serial"].as_str().unwrap().to_string()
    };
    let cert = write(&env, "leaf.pem", pem.as_bytes());
    let (_, printed) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-serial"]);
    let colons: Vec<String> = serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_lowercase())
        .collect();
    for typed in [
        printed.trim().to_string(),
        colons.join(":"),
        format!("0x{}", serial.to_lowercase()),
        serial[serial.len() - 8..].to_string(),
        serial[serial.len() - 12..].to_lowercase(),
    ] {
        assert_eq!(named(show(&typed)), serial, "{typed}");
    }
    // Seven digits are not enough to stand for a serial.
    let err = env.refused(&["show", &serial[serial.len() - 7..]], REFUSED);
    assert!(err.contains("no certificate with serial"), "{err}");
    // A decimal number gets a hint.
    let err = env.refused(&["show", "1234567"], REFUSED);
    assert!(err.contains("decimal is not accepted"), "{err}");
    // (An ambiguous tail is refused listing the matches: unit test in model/log.rs.)
    // revoke --cert: the recorded certificate is revoked; another file is refused (the
    // CA's own certificate with its own message, REVOKE-REFUSE).
    let before = snapshot(&env.dir);
    let other = write(
        &env,
        "other.pem",
        std::fs::read(env.dir.join("ca.crt")).unwrap().as_slice(),
    );
    let err = env.refused(&["revoke", "--cert", other.to_str().unwrap()], REFUSED);
    assert!(err.contains("is this CA's own certificate"), "{err}");
    assert_unchanged(&before, &snapshot(&env.dir));
    env.ok(&[
        "revoke",
        "--cert",
        cert.to_str().unwrap(),
        "--reason",
        "superseded",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&show(&serial).stdout).unwrap();
    assert_eq!(v["state"], "revoked");
    env.refused(&["revoke"], 2);
}

/// LIST-TEXT / LOG-TEXT: the columns of `ca list` and `ca log` line up whatever the width of
/// a serial or an operation name ("renew+revoke" broke the log's columns).
#[test]
fn list_and_log_columns_line_up_list_text() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.sign(&csr("p384-default.pem"), &[]);
    env.ok(&["renew", &a, "--revoke-old"]);
    env.ok(&["crl"]);
    let list = String::from_utf8(env.ok(&["list"]).stdout).unwrap();
    let starts: Vec<usize> = list
        .lines()
        .map(|l| {
            l.find("STATE")
                .or_else(|| l.find("valid").or_else(|| l.find("revoked")))
                .unwrap()
        })
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{list}");
    let log = String::from_utf8(env.ok(&["log"]).stdout).unwrap();
    let user = whoami();
    let at: Vec<usize> = log
        .lines()
        .map(|l| l.find(&format!("  {user}")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] == w[1]), "{log}");
    assert!(log.contains("renew+revoke"), "{log}");
}

fn whoami() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// DOCS-MAN: every page ca(1) refers to (ca-init(1), ca-sign(1)…) is generated by `ca man
/// NAME`, and the pages have an EXIT STATUS section.
#[test]
fn every_man_page_the_main_page_names_exists_docs_man() {
    let env = Env::new();
    let main = String::from_utf8(env.ok(&["man"]).stdout).unwrap();
    assert!(main.contains(".SH \"EXIT STATUS\""), "no EXIT STATUS");
    let named: Vec<String> = main
        .lines()
        .filter_map(|l| {
            l.strip_prefix("ca\\-")?
                .strip_suffix("(1)")
                .map(str::to_string)
        })
        .collect();
    assert!(named.len() >= 15, "{named:?}");
    for name in &named {
        let page = String::from_utf8(env.ok(&["man", &name.replace("\\-", "-")]).stdout).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{name}");
        // Pages refer only to pages that exist (`ca man help` listed ca-help-init(1)…).
        for line in page.lines() {
            if let Some(other) = line
                .strip_prefix("ca\\-")
                .and_then(|l| l.strip_suffix("(1)"))
            {
                // A page of the main page's list, or one of a command's commands
                // (ca-policy(1) names ca-policy-apply(1)) that `ca man` generates too.
                let exists = named.iter().any(|n| n == other) || {
                    let plain = other.replace("\\-", "-");
                    let out = env.run(&["man", &plain]);
                    out.status.success()
                        && String::from_utf8_lossy(&out.stdout).contains(&format!(".TH ca-{plain}"))
                };
                assert!(exists, "{name} names ca-{other}(1)");
            }
        }
        assert!(
            page.contains(&format!(".TH ca-{}", name.replace("\\-", "-"))),
            "{name}: {page}"
        );
    }
    env.refused(&["man", "nope"], USAGE);
}

/// A self-signed certificate made with the CA key outside fileca is not
/// "this CA's"; `passwd --remove` on a plaintext key commits nothing; a malformed serial is a
/// usage error; upgrade of a current directory still honours --expect-generation; a too short
/// tail says so.
#[test]
fn foreign_certs_noop_passwd_bad_serials_and_stale_upgrades_are_refused_or_named_verify_this_ca_serial_input_upgrade_current()
 {
    let env = Env::new();
    let rogue = env.path("rogue.crt");
    let subject = openssl(&[
        "x509",
        "-in",
        env.dir.join("ca.crt").to_str().unwrap(),
        "-noout",
        "-subject",
        "-nameopt",
        "compat",
    ])
    .1;
    let subject = subject
        .trim()
        .trim_start_matches("subject=")
        .trim()
        .to_string();
    let (ok, log) = openssl(&[
        "req",
        "-x509",
        "-key",
        env.dir.join("ca.key").to_str().unwrap(),
        "-subj",
        &subject,
        "-days",
        "30",
        "-out",
        rogue.to_str().unwrap(),
    ]);
    assert!(ok, "{log}");
    let out = env.run(&["verify", rogue.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(14),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let before = snapshot(&env.dir);
    let out = env.ok(&["passwd", "--remove"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not encrypted; nothing to remove"));
    assert_unchanged(&before, &snapshot(&env.dir));
    env.refused(&["show", "zz"], USAGE);
    env.refused(&["revoke", "--", "-1"], USAGE);
    env.refused(&["man", "nosuch"], USAGE);
    let generation = env.status()["generation"].as_u64().unwrap();
    env.refused(
        &[
            "upgrade",
            "--expect-generation",
            &(generation + 5).to_string(),
        ],
        7,
    );
    env.ok(&["upgrade", "--expect-generation", &generation.to_string()]);
    let err = env.refused(&["show", "A9D087"], REFUSED);
    assert!(err.contains("at least 8 digits"), "{err}");
    assert_unchanged(&before, &snapshot(&env.dir));
}

/// PASS-SOURCE: `--passphrase-file` is offered by the commands that use the CA key (and by
/// `ca` itself, before any command), not by the read-only ones, whose help used to list it.
#[test]
fn only_commands_that_use_the_key_offer_passphrase_file_pass_source() {
    let env = Env::new();
    let help = |cmd: &str| String::from_utf8(env.ok(&[cmd, "--help"]).stdout).unwrap();
    for cmd in [
        "status",
        "list",
        "show",
        "verify",
        "log",
        "completions",
        "man",
    ] {
        assert!(!help(cmd).contains("--passphrase-file"), "{cmd}");
    }
    for cmd in [
        "init",
        "import-openssl",
        "sign",
        "issue",
        "renew",
        "revoke",
        "crl",
        "renew-ca",
        "passwd",
        "upgrade",
        "check",
    ] {
        assert!(help(cmd).contains("--passphrase-file"), "{cmd}");
    }
    let top = String::from_utf8(env.ok(&["--help"]).stdout).unwrap();
    assert!(top.contains("--passphrase-file"), "{top}");
    let pass = write(&env, "pass", b"correct horse battery\n");
    let pass = pass.to_str().unwrap();
    env.ok(&["passwd", "--new-passphrase-file", pass]);
    // Before or after the command's name; after a read-only one it is a usage error.
    env.ok(&["crl", "--passphrase-file", pass]);
    env.ok(&["--passphrase-file", pass, "crl"]);
    env.ok(&["--passphrase-file", pass, "status"]);
    env.refused(&["status", "--passphrase-file", pass], USAGE);
    env.assert_check_ok();
}
