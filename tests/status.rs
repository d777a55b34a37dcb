//! `ca status` (SPEC.md STATUS-*).

use crate::harness::*;

#[test]
fn status_json_reports_counts_counters_and_crl_status_json() {
    let env = Env::new();
    let s = env.status();
    assert_eq!(s["subject"], "CN=Test Root CA,O=fileca tests");
    assert_eq!(s["key_type"], "ecdsa-p256");
    assert_eq!(s["certificates"]["total"], 0);
    assert_eq!(s["crl"], serde_json::Value::Null);
    assert_eq!(s["next_crl_number"], "01");
    assert_eq!(s["generation"], 1);
    env.sign(&csr("p256-default.pem"), &["--days", "1"]);
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial]);
    env.ok(&["crl", "--days", "3"]);
    let s = env.status();
    assert_eq!(
        s["certificates"],
        serde_json::json!({"total": 3, "valid": 2, "revoked": 1, "held": 0, "expired": 0})
    );
    assert_eq!(s["crl"]["number"], "01");
    assert_eq!(s["next_serial"], env.counter());
    assert_eq!(s["generation"], 6);
    let later = env
        .ca()
        .args(["status", "--json"])
        .env("FILECA_NOW", "2030-01-01T00:00:00Z")
        .output()
        .unwrap();
    let later: serde_json::Value = serde_json::from_slice(&later.stdout).unwrap();
    assert_eq!(
        later["certificates"],
        serde_json::json!({"total": 3, "valid": 0, "revoked": 1, "held": 0, "expired": 2})
    );
    assert_eq!(later["crl"]["expired"], true);
    let text = String::from_utf8(env.ok(&["status"]).stdout).unwrap();
    assert!(text.contains("generation:    6"), "{text}");
    assert!(
        text.contains("3 issued: 2 valid, 1 revoked, 0 expired"),
        "{text}"
    );
}

#[test]
fn status_is_read_only_status_readonly() {
    let env = Env::new();
    env.sign(&csr("p256-default.pem"), &[]);
    let before = snapshot(&env.dir);
    env.ok(&["status"]);
    env.ok(&["status", "--json"]);
    env.ok(&["check"]);
    assert_unchanged(&before, &snapshot(&env.dir));
}

/// STATUS-WARN: a CRL just published for 7 days (the README's `crl --days 7`) is not yet a
/// warning; in the last third of its life it is (day 5 of 7; day 4 is not). Reasons are accepted in any case, and
/// removeFromCRL is not offered by --help.
#[test]
fn a_fresh_short_crl_is_not_a_warning_status_warn() {
    let env = Env::new();
    env.ok(&["crl", "--days", "7"]);
    let warned = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stderr).contains("CRL's next update")
    };
    assert!(!warned(&env.ok(&["status"])));
    let at = |days| {
        let t = (time::OffsetDateTime::now_utc() + time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        env.ca()
            .args(["status"])
            .env("FILECA_NOW", t)
            .output()
            .unwrap()
    };
    assert!(!warned(&at(4)), "day 4 of 7 is not the last third");
    let later = (time::OffsetDateTime::now_utc() + time::Duration::days(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let out = env
        .ca()
        .args(["status"])
        .env("FILECA_NOW", &later)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(warned(&out), "{}", String::from_utf8_lossy(&out.stderr));

    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial, "--reason", "KEYCOMPROMISE"]);
    let help = String::from_utf8(env.ok(&["revoke", "--help"]).stdout).unwrap();
    assert!(
        help.contains("caCompromise") && !help.contains("removeFromCRL"),
        "{help}"
    );
}
