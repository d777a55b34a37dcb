//! The delegated OCSP responder and pre-signed responses: `ca ocsp-responder renew`
//! (OCSP-RESPONDER) and `ca ocsp` (OCSP-PRESIGN), checked with OpenSSL.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::*;

#[test]
fn renew_writes_a_recorded_ocsp_signing_pair_ocsp_responder() {
    let env = Env::new();
    let out = env.ok(&["ocsp-responder", "renew"]);
    assert!(out.stdout.is_empty());
    let key = env.dir.join("ocsp.key");
    let crt = env.dir.join("ocsp.crt");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let crt_pem = std::fs::read_to_string(&crt).unwrap();
    let text = x509_text(&env, &crt_pem);
    assert!(text.contains("OCSP Signing"), "{text}");
    assert!(text.contains("OCSP No Check"), "{text}");
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
    assert!(
        text.contains("Issuer: O = fileca tests, CN = Test Root CA"),
        "{text}"
    );
    // The key is the certificate's.
    let (ok, pubkey_key) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    assert!(ok, "{pubkey_key}");
    let (ok, pubkey_crt) = openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"]);
    assert!(ok);
    assert_eq!(pubkey_key, pubkey_crt);
    // Recorded in index.log like any certificate, and `ca check` accepts the pair.
    let index = env.index();
    let last = index["certificates"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["profile"], "ocsp-signing");
    let log = env.ok(&["log", "--json"]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("ocsp-responder-renew"));
    env.assert_check_ok();
    let (verified, text) = verify(&env, &crt_pem, false);
    assert!(verified, "{text}");

    // Renewing replaces both; the old certificate stays recorded.
    let before = std::fs::read(&crt).unwrap();
    env.ok(&["ocsp-responder", "renew", "--days", "7"]);
    assert_ne!(std::fs::read(&crt).unwrap(), before);
    env.assert_check_ok();
}

#[test]
fn renew_refusals_change_nothing_ocsp_responder() {
    let env = Env::new();
    // Above the ocsp-signing profile's max_days (90).
    let err = env.refused(&["ocsp-responder", "renew", "--days", "91"], REFUSED);
    assert!(err.contains("91"), "{err}");
    env.refused(&["ocsp-responder", "renew", "--expect-generation", "9"], 7);
    env.ok(&["ocsp-responder", "renew", "--dry-run"]);
    assert!(!env.dir.join("ocsp.key").exists());
}

#[test]
fn check_finds_a_planted_or_mismatched_pair_ocsp_responder() {
    let env = Env::new();
    env.ok(&["ocsp-responder", "renew"]);
    let key = env.dir.join("ocsp.key");
    let good_key = std::fs::read(&key).unwrap();
    // A key that is not the certificate's.
    let (ok, other) = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ]);
    assert!(ok);
    std::fs::write(&key, other).unwrap();
    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("ocsp.crt"),
        "{}",
        output_text(&out)
    );
    std::fs::write(&key, &good_key).unwrap();
    env.assert_check_ok();
    // A key that others can read.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        output_text(&out).contains("ocsp.key"),
        "{}",
        output_text(&out)
    );
    // 0640: the group of a `ca serve` user may read it.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    env.assert_check_ok();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(env.dir.join("ocsp.crt")).unwrap();
    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        output_text(&out).contains("ocsp.crt"),
        "{}",
        output_text(&out)
    );
}

/// `openssl ocsp -respin FILE` for `cert`, verified against the CA: its text.
fn openssl_status(env: &Env, resp: &std::path::Path, cert: &std::path::Path) -> String {
    let ca = env.dir.join("ca.crt");
    let (ok, text) = openssl(&[
        "ocsp",
        "-respin",
        resp.to_str().unwrap(),
        "-issuer",
        ca.to_str().unwrap(),
        "-CAfile",
        ca.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-no_nonce",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("Response verify OK"), "{text}");
    text
}

#[test]
fn presigned_responses_say_good_and_revoked_ocsp_presign() {
    let env = Env::new();
    env.ok(&["ocsp-responder", "renew"]);
    let (good, good_serial) = env.sign(&csr("p256-default.pem"), &[]);
    let (bad, bad_serial) = env.sign(&csr("p384-default.pem"), &[]);
    env.ok(&["revoke", &bad_serial, "--reason", "keyCompromise"]);
    let good_crt = write(&env, "good.crt", good.as_bytes());
    let bad_crt = write(&env, "bad.crt", bad.as_bytes());
    let out = env.path("good.ocsp");
    env.ok(&["ocsp", &good_serial, "--out", out.to_str().unwrap()]);
    let text = openssl_status(&env, &out, &good_crt);
    assert!(text.contains(": good"), "{text}");
    // Refresh needs --force; without it nothing changes.
    env.refused(
        &["ocsp", &good_serial, "--out", out.to_str().unwrap()],
        REFUSED,
    );
    env.ok(&[
        "ocsp",
        &good_serial,
        "--out",
        out.to_str().unwrap(),
        "--force",
        "--hours",
        "2",
    ]);

    let dir = env.path("responses");
    env.ok(&["ocsp", "--out-dir", dir.to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The two certificates and the responder's own.
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&format!("{bad_serial}.der")));
    let text = openssl_status(&env, &dir.join(format!("{bad_serial}.der")), &bad_crt);
    assert!(text.contains(": revoked"), "{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");
    let text = openssl_status(&env, &dir.join(format!("{good_serial}.der")), &good_crt);
    assert!(text.contains(": good"), "{text}");
    // Again into the same directory: refreshed in place.
    env.ok(&["ocsp", "--out-dir", dir.to_str().unwrap()]);
    env.assert_check_ok();
}

#[test]
fn ocsp_without_a_responder_is_refused_ocsp_presign() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let err = env.refused(&["ocsp", &serial, "--out", "x.ocsp"], REFUSED);
    assert!(err.contains("ocsp-responder renew"), "{err}");
    env.refused(&["ocsp", "--out-dir", "responses"], REFUSED);
}

/// OCSP-PRESIGN: `openssl s_server -status_file` staples a pre-signed response and
/// `openssl s_client -status` verifies it (loopback, bounded).
#[test]
fn s_server_staples_a_presigned_response_ocsp_presign() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let env = Env::new();
    env.ok(&["ocsp-responder", "renew"]);
    let out_dir = env.path("issued");
    env.ok(&[
        "issue",
        "localhost",
        "--san",
        "DNS:localhost",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    let pair = out_dir.join("localhost");
    let serial = env.index()["certificates"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let staple = env.path("localhost.ocsp");
    env.ok(&["ocsp", &serial, "--out", staple.to_str().unwrap()]);
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-naccept",
            "1",
            "-www",
        ])
        .arg("-cert")
        .arg(pair.join("localhost.crt"))
        .arg("-key")
        .arg(pair.join("localhost.key"))
        .arg("-status_file")
        .arg(&staple)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl (package openssl) runs");
    let guard = KillOnDrop(server.id());
    // "ACCEPT 127.0.0.1:PORT" names the port it got.
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("ACCEPT ")
                .map(|a| a.rsplit(':').next().unwrap().to_string())
        })
        .expect("s_server says where it listens");
    let mut client = Command::new("openssl");
    client
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-status",
        ])
        .args(["-servername", "localhost", "-verify_return_error"])
        .arg("-CAfile")
        .arg(env.dir.join("ca.crt"));
    let out = bounded(client, std::time::Duration::from_secs(20));
    let text = output_text(&out);
    assert!(text.contains("OCSP Response Status: successful"), "{text}");
    assert!(text.contains("Cert Status: good"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    drop(guard);
    let _ = server.wait();
}

/// Kills a process started by the test when the test ends, however it ends.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

/// STATUS-WARN: `ca status` warns when the responder certificate is in its last third.
#[test]
fn status_warns_about_an_expiring_responder_ocsp_responder() {
    let env = Env::new();
    env.ok(&["ocsp-responder", "renew", "--days", "3"]);
    let quiet = env.ok(&["status"]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("OCSP"));
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(60);
    let later = later
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let out = env
        .ca()
        .env("FILECA_NOW", &later)
        .arg("status")
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(
        text.contains("OCSP responder certificate (ocsp.crt) expires on"),
        "{text}"
    );
}
