//! Key rollover and account deactivation (ACME-ACCOUNT, RFC 8555 7.3.5, 7.3.6) with the
//! in-test client: an inner JWS signed by the new key moves the account to it, the old key
//! then verifies nothing; a wrong oldKey, an inner JWS with a nonce or for another URL, and
//! a key another account has (409) change nothing; a deactivated account's requests are
//! `unauthorized`.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::acme::{Dns, Responder, Server, lab_ca};
use crate::acme_client::{Answer, Client, b64};
use crate::harness::*;

/// A fresh P-256 key as PKCS#8, so that it can be loaded twice.
fn pkcs8() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec()
}

fn load(pkcs8: &[u8]) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &SystemRandom::new(),
    )
    .unwrap()
}

fn jwk_of(key: &EcdsaKeyPair) -> Value {
    let p = key.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])})
}

/// A JWS of `payload` with header `header` (alg added), signed by `key`.
fn sign(key: &EcdsaKeyPair, mut header: Value, payload: &Value) -> Value {
    header["alg"] = "ES256".into();
    let protected = b64(header.to_string().as_bytes());
    let payload = b64(payload.to_string().as_bytes());
    let sig = key
        .sign(
            &SystemRandom::new(),
            format!("{protected}.{payload}").as_bytes(),
        )
        .unwrap();
    json!({"protected": protected, "payload": payload, "signature": b64(sig.as_ref())})
}

fn kind(a: &Answer) -> String {
    a.json()["type"].as_str().unwrap_or_default().to_string()
}

/// ACME-ACCOUNT: key rollover, then deactivation.
#[test]
fn key_rollover_moves_the_account_and_deactivation_ends_it_acme_account() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let responder = Responder::start("");
    let server = Server::start(&dir, responder.port, &dns);
    let ca = dir.join("ca.crt");
    let (old_der, new_der) = (pkcs8(), pkcs8());
    let mut client = Client {
        key: load(&old_der),
        ..Client::new(&ca, server.port)
    };
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"contact": ["mailto:a@lab.test"]})),
    );
    assert_eq!(a.status, 201);
    let kid = a.header("location").unwrap();
    client.kid = Some(kid.clone());
    let mut other = Client::new(&ca, server.port);
    let a = other.post("/acme/new-account", Some(&json!({})));
    other.kid = Some(a.header("location").unwrap());
    let dir_json = client.send("GET", "/acme/directory", b"").json();
    assert!(
        dir_json["keyChange"]
            .as_str()
            .unwrap()
            .ends_with("/acme/key-change")
    );
    let url = client.url("/acme/key-change");
    let new_key = load(&new_der);
    let rollover = |inner_header: Value, old_key: Value| {
        let inner = sign(
            &new_key,
            inner_header,
            &json!({"account": kid, "oldKey": old_key}),
        );
        client.post("/acme/key-change", Some(&inner))
    };
    let old_jwk = jwk_of(&client.key);

    // Refused: nothing changes.
    let before = snapshot(&dir);
    let a = rollover(
        json!({"jwk": jwk_of(&new_key), "url": url}),
        jwk_of(&new_key),
    );
    assert_eq!(
        kind(&a),
        "urn:ietf:params:acme:error:malformed",
        "a wrong oldKey"
    );
    let a = rollover(
        json!({"jwk": jwk_of(&new_key), "url": url, "nonce": "x"}),
        old_jwk.clone(),
    );
    assert_eq!(
        kind(&a),
        "urn:ietf:params:acme:error:malformed",
        "an inner nonce"
    );
    let a = rollover(
        json!({"jwk": jwk_of(&new_key), "url": client.url("/acme/new-order")}),
        old_jwk.clone(),
    );
    assert_eq!(
        kind(&a),
        "urn:ietf:params:acme:error:unauthorized",
        "another url"
    );
    let taken = sign(
        &other.key,
        json!({"jwk": jwk_of(&other.key), "url": url}),
        &json!({"account": kid, "oldKey": old_jwk}),
    );
    let a = client.post("/acme/key-change", Some(&taken));
    assert_eq!(a.status, 409, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("location"), other.kid.clone());
    assert_unchanged(&before, &snapshot(&dir));

    // The rollover.
    let a = rollover(
        json!({"jwk": jwk_of(&new_key), "url": url}),
        old_jwk.clone(),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .last()
            .unwrap()
            .contains("\"operation\":\"acme-key-change\"")
    );
    let ask = json!({"identifiers": [{"type": "dns", "value": "web.lab.test"}]});
    let before = snapshot(&dir);
    let a = client.post("/acme/new-order", Some(&ask));
    assert_eq!(
        kind(&a),
        "urn:ietf:params:acme:error:malformed",
        "the old key"
    );
    let probe = Client {
        key: load(&old_der),
        kid: None,
        ..Client::new(&ca, server.port)
    };
    let a = probe.post(
        "/acme/new-account",
        Some(&json!({"onlyReturnExisting": true})),
    );
    assert_eq!(kind(&a), "urn:ietf:params:acme:error:accountDoesNotExist");
    assert_unchanged(&before, &snapshot(&dir));
    let client = Client {
        key: load(&new_der),
        kid: Some(kid.clone()),
        ..Client::new(&ca, server.port)
    };
    let a = client.post("/acme/new-order", Some(&ask));
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));

    // Contacts updated, then deactivated: every later request unauthorized.
    let path = Client::path(&kid);
    let a = client.post(&path, Some(&json!({"contact": ["mailto:b@lab.test"]})));
    assert_eq!(a.json()["contact"][0], "mailto:b@lab.test");
    let a = client.post(&path, Some(&json!({"status": "valid"})));
    assert_eq!(kind(&a), "urn:ietf:params:acme:error:malformed");
    let a = client.post(&path, Some(&json!({"status": "deactivated"})));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["status"], "deactivated");
    let before = snapshot(&dir);
    for (p, payload) in [
        ("/acme/new-order", Some(&ask)),
        (path.as_str(), None),
        (path.as_str(), Some(&json!({"status": "deactivated"}))),
    ] {
        let a = client.post(p, payload);
        assert_eq!(kind(&a), "urn:ietf:params:acme:error:unauthorized", "{p}");
    }
    let again = Client {
        key: load(&new_der),
        kid: None,
        ..Client::new(&ca, server.port)
    };
    let a = again.post("/acme/new-account", Some(&json!({})));
    assert_eq!(
        kind(&a),
        "urn:ietf:params:acme:error:unauthorized",
        "its key again"
    );
    assert_unchanged(&before, &snapshot(&dir));
    let acme = std::fs::read_to_string(dir.join("acme.json")).unwrap();
    assert!(acme.contains("\"status\": \"deactivated\""));
    drop(server);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}
