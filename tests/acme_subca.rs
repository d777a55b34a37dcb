//! ACME-TLS on the README's recommended setup, an issuing sub-CA under an offline root
//! (review findings): the server presents its certificate with the sub-CA's, so a client that
//! trusts only the root verifies it; the startup line names the URL the certificate covers;
//! the default `--acme-host localhost` on a name-constrained sub-CA is refused with a note
//! naming `--acme-host`, nothing changed; an encrypted sub-CA key's passphrase is given as
//! `serve --acme --passphrase-file FILE`; a revoked TLS certificate is reissued at the next
//! start.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ok(dir: &Path, args: &[&str]) {
    let out = clean_ca(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", output_text(&out));
}

/// `serve --acme` on `dir` with `hosts`, for `seconds`: spawned with its stderr in `log`.
fn serve(dir: &Path, hosts: &[&str], port: u16, log: &Path, seconds: u32) -> std::process::Child {
    let mut cmd = clean_ca(dir);
    let pass = dir.with_extension("pass");
    cmd.args(["serve", "--exit-after", &seconds.to_string(), "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(["--acme", "--acme-listen"])
        .arg(format!("127.0.0.1:{port}"));
    for h in hosts {
        cmd.args(["--acme-host", h]);
    }
    // The encrypted key's passphrase, after serve's name as after any command that signs.
    cmd.arg("--passphrase-file").arg(pass);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn an_issuing_sub_ca_serves_acme_with_its_chain_acme_tls_subca() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, issuing) = (tmp.path().join("root"), tmp.path().join("issuing"));
    ok(&root, &["init", "--subject", "CN=Lab Root"]);
    let pass = issuing.with_extension("pass");
    std::fs::write(&pass, "issuing passphrase\n").unwrap();
    ok(
        &issuing,
        &[
            "init",
            "--parent",
            root.to_str().unwrap(),
            "--subject",
            "CN=Lab ACME CA",
            "--permit",
            "DNS:lab.test",
        ],
    );
    ok(
        &issuing,
        &["passwd", "--new-passphrase-file", pass.to_str().unwrap()],
    );
    // Plain serve never loads the key: a passphrase file for it is a usage error.
    let out = clean_ca(&issuing)
        .args(["serve", "--passphrase-file"])
        .arg(&pass)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    // The default host is outside the sub-CA's names: refused, with a note, nothing changed.
    let before = snapshot(&issuing);
    let log = tmp.path().join("refused.log");
    let mut child = serve(&issuing, &[], free_port(), &log, 30);
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(3), "{text}");
    assert!(text.contains("--acme-host NAME"), "{text}");
    assert_unchanged(&before, &snapshot(&issuing));

    let port = free_port();
    let log = tmp.path().join("serve.log");
    let mut child = serve(&issuing, &["acme.lab.test"], port, &log, 60);
    let started = wait_until(DEADLINE, || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        t.contains("ACME directory at").then_some(t)
    });
    let text = started.unwrap_or_else(|| std::fs::read_to_string(&log).unwrap_or_default());
    assert!(
        text.contains(&format!("https://acme.lab.test:{port}/acme/directory")),
        "{text}"
    );
    // A client that trusts only the root verifies the server.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "printf 'GET /acme/directory HTTP/1.1\\r\\nHost: acme.lab.test\\r\\nConnection: close\\r\\n\\r\\n' | \
         openssl s_client -connect 127.0.0.1:{port} -servername acme.lab.test \
         -verify_hostname acme.lab.test -verify_return_error -CAfile '{}' -showcerts -quiet \
         -ign_eof 2>&1",
        root.join("ca.crt").display()
    ));
    let answer = output_text(&bounded(cmd, Duration::from_secs(30)));
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("newAccount"), "{answer}");

    // A revoked TLS certificate is not served again: the next start issues a new one.
    let tls_serials = || -> Vec<serde_json::Value> {
        let out = clean_ca(&issuing)
            .args(["list", "--json"])
            .output()
            .unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        rows.into_iter()
            .filter(|r| r["profile"] == "acme-tls")
            .collect()
    };
    let first = tls_serials();
    assert_eq!(first.len(), 1);
    let serial = first[0]["serial"].as_str().unwrap();
    ok(
        &issuing,
        &[
            "--passphrase-file",
            pass.to_str().unwrap(),
            "revoke",
            serial,
        ],
    );
    let log = tmp.path().join("again.log");
    let mut child = serve(&issuing, &["acme.lab.test"], free_port(), &log, 60);
    let started = wait_until(DEADLINE, || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        t.contains("ACME directory at").then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        started.is_some(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let now = tls_serials();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.iter().any(|r| r["state"] == "valid"), "{now:?}");
}
