//! External Account Binding (ACME-EAB, RFC 8555 7.3.4): `ca acme eab add` stores an HS256
//! key in acme.json by an audited commit and prints it once; `serve --acme
//! --acme-eab-required` refuses a newAccount without a binding (`externalAccountRequired`),
//! with a wrong MAC, an unknown kid or another key's binding, changing nothing, and accepts
//! a valid one once (fast, with the in-test client); lego `--eab --kid --hmac` (full).

use serde_json::{Value, json};

use crate::acme::{Dns, Server, free_port, lab_ca};
use crate::acme_client::{Client, b64};
use crate::harness::*;

/// `ca acme eab add --id ID`: the printed key id and key.
pub fn eab_add(dir: &std::path::Path, id: &str) -> (String, String) {
    let out = clean_ca(dir)
        .args(["acme", "eab", "add", "--id", id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .to_string()
    };
    (field("eab_kid="), field("eab_hmac_key="))
}

/// An externalAccountBinding for `jwk`, MACed with `key` (base64url) under `kid`.
fn binding(kid: &str, key: &str, url: &str, jwk: &Value) -> Value {
    let protected = b64(json!({"alg": "HS256", "kid": kid, "url": url})
        .to_string()
        .as_bytes());
    let payload = b64(jwk.to_string().as_bytes());
    let raw =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, key).unwrap();
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({"protected": protected, "payload": payload, "signature": b64(mac.as_ref())})
}

fn kind(a: &crate::acme_client::Answer) -> String {
    a.json()["type"].as_str().unwrap_or_default().to_string()
}

/// ACME-EAB: the binding, required, used once.
#[test]
fn eab_required_refuses_accounts_without_a_valid_unused_binding_acme_eab() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let before = snapshot(&dir);
    for bad in ["", "has space", &"x".repeat(65)] {
        let out = clean_ca(&dir)
            .args(["acme", "eab", "add", "--id", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    }
    assert_unchanged(&before, &snapshot(&dir));
    let (kid, key) = eab_add(&dir, "lab-proxy");
    assert_eq!(kid, "lab-proxy");
    assert_eq!(key.len(), 43, "32 bytes, base64url");
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .last()
            .unwrap()
            .contains("\"operation\":\"acme-eab-add\"")
    );
    let before = snapshot(&dir);
    let out = clean_ca(&dir)
        .args(["acme", "eab", "add", "--id", "lab-proxy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    assert_unchanged(&before, &snapshot(&dir));
    let (_, other_key) = eab_add(&dir, "spare");

    let dns = Dns::start();
    let ports = (free_port(), free_port());
    let server = Server::start_with(ports, &dir, free_port(), &dns, &["--acme-eab-required"]);
    let ca = dir.join("ca.crt");
    let client = Client::new(&ca, server.port);
    let directory = client.send("GET", "/acme/directory", b"").json();
    assert_eq!(directory["meta"]["externalAccountRequired"], true);
    let url = client.url("/acme/new-account");
    let jwk = client.jwk();
    let before = snapshot(&dir);
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    assert_eq!(
        kind(&a),
        "urn:ietf:params:acme:error:externalAccountRequired"
    );
    for (eab, want) in [
        (binding(&kid, &other_key, &url, &jwk), "unauthorized"),
        (binding("nobody", &key, &url, &jwk), "unauthorized"),
        (
            binding(&kid, &key, &client.url("/acme/new-order"), &jwk),
            "malformed",
        ),
        (
            binding(&kid, &key, &url, &Client::new(&ca, server.port).jwk()),
            "malformed",
        ),
    ] {
        let a = client.post(
            "/acme/new-account",
            Some(&json!({"externalAccountBinding": eab})),
        );
        assert_eq!(kind(&a), format!("urn:ietf:params:acme:error:{want}"));
    }
    assert_unchanged(&before, &snapshot(&dir));

    let a = client.post(
        "/acme/new-account",
        Some(&json!({"externalAccountBinding": binding(&kid, &key, &url, &jwk)})),
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let account = a.header("location").unwrap();
    let acme: Value =
        serde_json::from_slice(&std::fs::read(dir.join("acme.json")).unwrap()).unwrap();
    assert_eq!(
        acme["eab"]["lab-proxy"]["key"],
        Value::Null,
        "used: forgotten"
    );
    assert!(account.ends_with(acme["eab"]["lab-proxy"]["account"].as_str().unwrap()));
    assert!(acme["eab"]["spare"]["key"].is_string());

    // Used once: another key cannot register with it.
    let second = Client::new(&ca, server.port);
    let before = snapshot(&dir);
    let eab = binding(&kid, &key, &url, &second.jwk());
    let a = second.post(
        "/acme/new-account",
        Some(&json!({"externalAccountBinding": eab})),
    );
    assert_eq!(kind(&a), "urn:ietf:params:acme:error:unauthorized");
    assert_unchanged(&before, &snapshot(&dir));
    drop(server);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}

/// ACME-EAB: one binding sent by eight new keys at once registers one account.
#[test]
fn one_binding_sent_concurrently_registers_one_account_acme_eab() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let (kid, key) = eab_add(&dir, "once");
    let dns = Dns::start();
    let ports = (free_port(), free_port());
    let server = Server::start_with(ports, &dir, free_port(), &dns, &["--acme-eab-required"]);
    let ca = dir.join("ca.crt");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (ca, kid, key, port) = (ca.clone(), kid.clone(), key.clone(), server.port);
            std::thread::spawn(move || {
                let client = Client::new(&ca, port);
                let url = client.url("/acme/new-account");
                let eab = binding(&kid, &key, &url, &client.jwk());
                let a = client.post(
                    "/acme/new-account",
                    Some(&json!({"externalAccountBinding": eab})),
                );
                a.status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    let acme: Value =
        serde_json::from_slice(&std::fs::read(dir.join("acme.json")).unwrap()).unwrap();
    assert_eq!(acme["accounts"].as_object().unwrap().len(), 1);
}

/// ACME-EAB with lego: `--eab --kid --hmac` registers against `--acme-eab-required` and
/// obtains a certificate by http-01; without the binding lego refuses to register (it reads
/// the directory's externalAccountRequired).
#[test]
#[ignore = "full tier: real-tool interop (lego)"]
fn lego_registers_with_an_external_account_binding_acme_eab() {
    require("lego", "lego");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let (kid, key) = eab_add(&dir, "lego");
    let dns = Dns::start();
    let http_port = free_port();
    let ports = (free_port(), free_port());
    let server = Server::start_with(ports, &dir, http_port, &dns, &["--acme-eab-required"]);
    let http = format!("127.0.0.1:{http_port}");
    let run = [
        "--domains",
        "web.lab.test",
        "--http",
        "--http.port",
        &http,
        "run",
    ];
    let refused = crate::acme::lego(&server, &dir, &tmp.path().join("plain"), &run);
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains("External Account Binding"),
        "{}",
        output_text(&refused)
    );
    let mut args = vec!["--eab", "--kid", &kid, "--hmac", &key];
    args.extend(run);
    let out = crate::acme::lego(&server, &dir, &tmp.path().join("lego"), &args);
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    assert_eq!(crate::acme::acme_serials(&dir).len(), 1);
    let acme: Value =
        serde_json::from_slice(&std::fs::read(dir.join("acme.json")).unwrap()).unwrap();
    assert_eq!(acme["eab"]["lego"]["key"], Value::Null);
}
