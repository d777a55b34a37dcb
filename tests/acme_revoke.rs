//! revokeCert (ACME-REVOKE, RFC 8555 7.6) with the in-test client of acme_client.rs: by the
//! account that ordered the certificate and by the certificate's own key; removeFromCRL and
//! unknown reason codes, another account, and a key that is not the certificate's refused
//! without changing the state; a second revocation `alreadyRevoked`; then serve's OCSP says
//! revoked and the next `ca crl` lists both.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use crate::acme::{Dns, Responder, Server, free_port, lab_ca};
use crate::acme_client::{Client, b64};
use crate::harness::*;

/// A fresh P-256 key: ring's (to sign JWS) and rcgen's (to sign a CSR), the same key.
pub fn p256() -> (EcdsaKeyPair, rcgen::KeyPair) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ring_key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_ref().to_vec());
    let rcgen_key =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    (ring_key, rcgen_key)
}

/// Orders `name` for `client`'s account, answers http-01 through `responder` and finalizes
/// with a CSR of `key`: the certificate's DER.
pub fn obtain(client: &Client, responder: &Responder, name: &str, key: &rcgen::KeyPair) -> Vec<u8> {
    let ask = json!({"identifiers": [{"type": "dns", "value": name}]});
    let order = client.post("/acme/new-order", Some(&ask));
    assert_eq!(
        order.status,
        201,
        "{}",
        String::from_utf8_lossy(&order.body)
    );
    let order = order.json();
    let authz = client
        .post(
            &Client::path(order["authorizations"][0].as_str().unwrap()),
            None,
        )
        .json();
    let token = authz["challenges"][0]["token"].as_str().unwrap();
    *responder.body.lock().unwrap() = format!("{token}.{}", client.thumbprint());
    let chall = Client::path(authz["challenges"][0]["url"].as_str().unwrap());
    let c = client.post(&chall, Some(&json!({})));
    assert_eq!(
        c.json()["status"],
        "valid",
        "{}",
        String::from_utf8_lossy(&c.body)
    );
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(key).unwrap().der().to_vec();
    let finalize = Client::path(order["finalize"].as_str().unwrap());
    let done = client
        .post(&finalize, Some(&json!({"csr": b64(&csr)})))
        .json();
    assert_eq!(done["status"], "valid", "{done}");
    let chain = client.post(&Client::path(done["certificate"].as_str().unwrap()), None);
    pem::parse_many(&chain.body).unwrap()[0].contents().to_vec()
}

/// The certificate's serial as OpenSSL prints it (uppercase hex).
fn serial_of(der: &[u8], tmp: &Path) -> String {
    let file = tmp.join("serial.der");
    std::fs::write(&file, der).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-serial", "-in"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().trim_start_matches("serial=").to_string()
}

fn problem_type(a: &crate::acme_client::Answer) -> String {
    a.json()["type"].as_str().unwrap_or_default().to_string()
}

/// ACME-REVOKE: the whole story, fast tier.
#[test]
fn revoke_cert_by_the_ordering_account_and_by_the_certificate_key_acme_revoke() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    // serve answers OCSP for this CA at /ocsp on its --listen port.
    let ocsp_port = free_port();
    let shown = clean_ca(&dir).args(["policy", "show"]).output().unwrap();
    let text = String::from_utf8(shown.stdout).unwrap().replacen(
        "ocsp = []",
        &format!("ocsp = [\"http://127.0.0.1:{ocsp_port}/ocsp\"]"),
        1,
    );
    let file = tmp.path().join("policy.toml");
    std::fs::write(&file, text).unwrap();
    for args in [
        &["policy", "apply", file.to_str().unwrap()][..],
        &["ocsp-responder", "renew"],
    ] {
        let out = clean_ca(&dir).args(args).output().unwrap();
        assert!(out.status.success(), "{}", output_text(&out));
    }
    let dns = Dns::start();
    let responder = Responder::start("");
    let server = Server::start_at((free_port(), ocsp_port), &dir, responder.port, &dns);
    let ca = dir.join("ca.crt");
    let mut client = Client::new(&ca, server.port);
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    client.kid = Some(a.header("location").unwrap());
    let account = client
        .kid
        .clone()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, key1) = p256();
    let (ring2, key2) = p256();
    let web = obtain(&client, &responder, "web.lab.test", &key1);
    let api = obtain(&client, &responder, "api.lab.test", &key2);
    let mut stranger = Client::new(&ca, server.port);
    let a = stranger.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    stranger.kid = Some(a.header("location").unwrap());
    let directory = client.send("GET", "/acme/directory", b"").json();
    assert!(
        directory["revokeCert"]
            .as_str()
            .unwrap()
            .ends_with("/acme/revoke-cert")
    );

    // Refusals change nothing.
    let before = snapshot(&dir);
    let ask = |der: &[u8], reason: Value| json!({"certificate": b64(der), "reason": reason});
    for code in [json!(8), json!(7), json!(11), json!(-1)] {
        let a = client.post("/acme/revoke-cert", Some(&ask(&web, code.clone())));
        assert_eq!(
            problem_type(&a),
            "urn:ietf:params:acme:error:badRevocationReason",
            "reason {code}"
        );
    }
    let a = stranger.post("/acme/revoke-cert", Some(&ask(&web, json!(0))));
    assert_eq!(problem_type(&a), "urn:ietf:params:acme:error:unauthorized");
    let not_its_key = Client::new(&ca, server.port);
    let a = not_its_key.post("/acme/revoke-cert", Some(&ask(&web, json!(0))));
    assert_eq!(problem_type(&a), "urn:ietf:params:acme:error:unauthorized");
    let a = client.post(
        "/acme/revoke-cert",
        Some(&json!({"certificate": b64(b"junk")})),
    );
    assert_eq!(problem_type(&a), "urn:ietf:params:acme:error:malformed");
    assert_unchanged(&before, &snapshot(&dir));

    // By the account, keyCompromise: index.log's revoked line, audited with the account.
    let a = client.post("/acme/revoke-cert", Some(&ask(&web, json!(1))));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let web_serial = serial_of(&web, tmp.path());
    let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
    assert!(
        log.contains(&format!("\"revoked\":\"{web_serial}\"")) && log.contains("keyCompromise"),
        "{log}"
    );
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    let record = audit.lines().last().unwrap();
    assert!(
        record.contains("\"operation\":\"acme-revoke\"") && record.contains(&account),
        "{record}"
    );
    let before = snapshot(&dir);
    let a = client.post("/acme/revoke-cert", Some(&ask(&web, json!(0))));
    assert_eq!(
        problem_type(&a),
        "urn:ietf:params:acme:error:alreadyRevoked"
    );
    assert_unchanged(&before, &snapshot(&dir));

    // By the certificate's own key, no reason (unspecified).
    let by_key = Client {
        key: ring2,
        kid: None,
        ..Client::new(&ca, server.port)
    };
    let a = by_key.post(
        "/acme/revoke-cert",
        Some(&json!({"certificate": b64(&api)})),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let api_serial = serial_of(&api, tmp.path());

    // serve's OCSP says revoked.
    let pem_file = tmp.path().join("web.pem");
    std::fs::write(
        &pem_file,
        pem::encode(&pem::Pem::new("CERTIFICATE", web.clone())),
    )
    .unwrap();
    let said = wait_until(Duration::from_secs(20), || {
        let mut cmd = Command::new("openssl");
        cmd.args(["ocsp", "-no_nonce", "-issuer"])
            .arg(&ca)
            .arg("-cert")
            .arg(&pem_file)
            .args(["-url", &format!("http://127.0.0.1:{ocsp_port}/ocsp")])
            .arg("-CAfile")
            .arg(&ca)
            .args(["-timeout", "10"]);
        let text = output_text(&bounded(cmd, Duration::from_secs(15)));
        text.contains(": revoked").then_some(text)
    });
    let said = said.expect("serve's OCSP never said revoked");
    assert!(said.contains("Reason: keyCompromise"), "{said}");
    drop(server);

    // The next CRL lists both.
    let out = clean_ca(&dir).args(["crl"]).output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let crl = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(dir.join("ca.crl"))
        .output()
        .unwrap();
    let crl = String::from_utf8_lossy(&crl.stdout).to_uppercase();
    assert!(
        crl.contains(&web_serial) && crl.contains(&api_serial),
        "{crl}"
    );
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}

/// ACME-REVOKE with lego: `lego revoke` (signed by its account) after `lego run`; index.log
/// records the revocation with lego's reason, audited as acme-revoke, and `ca check` passes.
#[test]
#[ignore = "full tier: real-tool interop (lego)"]
fn lego_revokes_a_certificate_it_obtained_acme_revoke() {
    require("lego", "lego");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let http_port = free_port();
    let server = Server::start(&dir, http_port, &dns);
    let state = tmp.path().join("lego");
    let http = format!("127.0.0.1:{http_port}");
    let out = crate::acme::lego(
        &server,
        &dir,
        &state,
        &[
            "--domains",
            "web.lab.test",
            "--http",
            "--http.port",
            &http,
            "run",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    let serials = crate::acme::acme_serials(&dir);
    assert_eq!(serials.len(), 1);
    let out = crate::acme::lego(
        &server,
        &dir,
        &state,
        &[
            "--domains",
            "web.lab.test",
            "revoke",
            "--keep",
            "--reason",
            "4",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
    assert!(
        log.contains(&format!("\"revoked\":\"{}\"", serials[0])) && log.contains("superseded"),
        "{log}"
    );
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(audit.contains("\"operation\":\"acme-revoke\""), "{audit}");
    // A second revoke is refused (alreadyRevoked) and changes nothing.
    let before = snapshot(&dir);
    let out = crate::acme::lego(
        &server,
        &dir,
        &state,
        &["--domains", "web.lab.test", "revoke"],
    );
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("alreadyRevoked"),
        "{}",
        output_text(&out)
    );
    assert_unchanged(&before, &snapshot(&dir));
    drop(server);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}
