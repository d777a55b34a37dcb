//! `ca serve --acme` driven by a small ACME client written here (ring for the JWS, rustls for
//! TLS, rcgen for the CSR), so the fast tier needs no ACME client package: the whole flow, two
//! finalizes of one order at once issuing once (ACME-FINALIZE), and hostile requests — a
//! replayed nonce, a wrong `url`, a bad signature, a kid of no account — each refused with its
//! problem type and none changing the state (ACME-JWS).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::acme::{Dns, Responder, Server, lab_ca};
use crate::harness::*;

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A client: TLS trusting the CA, an ES256 account key, the account URL once registered.
pub struct Client {
    pub tls: Arc<rustls::ClientConfig>,
    pub port: u16,
    pub key: EcdsaKeyPair,
    /// The account key as PKCS#8 DER (a CSR can be made with it).
    pub pkcs8: Vec<u8>,
    pub kid: Option<String>,
}

/// One answer: status, headers (lowercased names), body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Client {
    pub fn new(ca: &Path, port: u16) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for block in pem::parse_many(std::fs::read(ca).unwrap()).unwrap() {
            roots
                .add(rustls::pki_types::CertificateDer::from(
                    block.contents().to_vec(),
                ))
                .unwrap();
        }
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Client {
            tls: Arc::new(tls),
            port,
            key,
            pkcs8: pkcs8.as_ref().to_vec(),
            kid: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// One HTTPS request on a fresh connection.
    pub fn send(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(self.tls.clone(), name).unwrap();
        let sock = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/jose+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        tls.write_all(head.as_bytes()).unwrap();
        tls.write_all(body).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        // Until the server closes (a missing close_notify ends the read with an error).
        while let Ok(n) = tls.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&out[..split]).into_owned();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Answer {
            status,
            head,
            body: out[split + 4..].to_vec(),
        }
    }

    pub fn nonce(&self) -> String {
        let a = self.send("HEAD", "/acme/new-nonce", b"");
        assert_eq!(a.status, 200);
        a.header("replay-nonce").unwrap()
    }

    pub fn jwk(&self) -> Value {
        let p = self.key.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])})
    }

    /// A JWS of `payload` (None: POST-as-GET) for `url` with `nonce`.
    pub fn jws(&self, url: &str, nonce: &str, payload: Option<&Value>) -> Vec<u8> {
        let mut header = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => header["kid"] = kid.clone().into(),
            None => header["jwk"] = self.jwk(),
        }
        let protected = b64(header.to_string().as_bytes());
        let payload = payload.map_or(String::new(), |p| b64(p.to_string().as_bytes()));
        let sig = self
            .key
            .sign(
                &SystemRandom::new(),
                format!("{protected}.{payload}").as_bytes(),
            )
            .unwrap();
        json!({"protected": protected, "payload": payload, "signature": b64(sig.as_ref())})
            .to_string()
            .into_bytes()
    }

    /// POSTs `payload` to `path` with a fresh nonce.
    pub fn post(&self, path: &str, payload: Option<&Value>) -> Answer {
        let body = self.jws(&self.url(path), &self.nonce(), payload);
        self.send("POST", path, &body)
    }

    pub fn path(url: &str) -> String {
        url.split_once("localhost:")
            .unwrap()
            .1
            .split_once('/')
            .map(|(_, p)| format!("/{p}"))
            .unwrap()
    }

    pub fn thumbprint(&self) -> String {
        let j = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }
}

/// A CSR for `name` (CN and DNS SAN) under a fresh P-256 key, DER.
pub fn csr(name: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.serialize_request(&key).unwrap().der().to_vec()
}

/// ACME-JWS, ACME-FLOW, ACME-FINALIZE: hostile requests are refused with their problem types
/// and change nothing; the flow reaches a ready order; two finalizes of it at once issue one
/// certificate, both answered with the same valid order; the chain downloads as PEM.
#[test]
fn two_finalizes_at_once_issue_once_and_hostile_jws_change_nothing_acme_finalize() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    // The http-01 responder answers with the key authorization, set once the order (and so
    // the token) exists.
    let responder = Responder::start("");
    let http_port = responder.port;
    let server = Server::start(&dir, http_port, &dns);
    let mut client = Client::new(&dir.join("ca.crt"), server.port);

    // newAccount.
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@lab.test"]})),
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    client.kid = Some(a.header("location").unwrap());
    let before = snapshot(&dir);

    // Hostile requests: none changes anything.
    let url = client.url("/acme/new-order");
    let order_ask = json!({"identifiers": [{"type": "dns", "value": "web.lab.test"}]});
    let nonce = client.nonce();
    let body = client.jws(&url, &nonce, Some(&order_ask));
    let replayed = client.jws(&url, &nonce, Some(&order_ask));
    let first = client.send("POST", "/acme/new-order", &body);
    assert_eq!(first.status, 201);
    let again = client.send("POST", "/acme/new-order", &replayed);
    assert_eq!(again.json()["type"], "urn:ietf:params:acme:error:badNonce");
    assert!(again.header("replay-nonce").is_some());
    let after_order = snapshot(&dir);
    let wrong_url = client.jws(
        &client.url("/acme/new-account"),
        &client.nonce(),
        Some(&order_ask),
    );
    let a = client.send("POST", "/acme/new-order", &wrong_url);
    assert_eq!(a.json()["type"], "urn:ietf:params:acme:error:unauthorized");
    let mut forged: Value =
        serde_json::from_slice(&client.jws(&url, &client.nonce(), Some(&order_ask))).unwrap();
    forged["payload"] = b64(br#"{"identifiers":[{"type":"dns","value":"evil.lab.test"}]}"#).into();
    let a = client.send("POST", "/acme/new-order", forged.to_string().as_bytes());
    assert_eq!(a.json()["type"], "urn:ietf:params:acme:error:malformed");
    let stranger = Client {
        kid: Some(client.url("/acme/acct/nobody")),
        ..Client::new(&dir.join("ca.crt"), server.port)
    };
    let a = stranger.post("/acme/new-order", Some(&order_ask));
    assert_eq!(
        a.json()["type"],
        "urn:ietf:params:acme:error:accountDoesNotExist"
    );
    let a = client.post(
        "/acme/new-order",
        Some(&json!({"identifiers": [{"type": "dns", "value": "evil.example"}]})),
    );
    assert_eq!(
        a.json()["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    assert!(String::from_utf8_lossy(&a.body).contains("allow_dns"));
    // A validity the acme profile will not meet is refused, not ignored (RFC 8555 7.4), and a
    // name that is no host name never becomes an order (ACME-IDENTIFIER).
    let dated = json!({"identifiers": [{"type": "dns", "value": "web.lab.test"}],
        "notAfter": "2099-01-01T00:00:00Z"});
    let a = client.post("/acme/new-order", Some(&dated));
    assert_eq!(a.json()["type"], "urn:ietf:params:acme:error:malformed");
    let injected = json!({"identifiers": [{"type": "dns",
        "value": "a\r\nX-Injected: yes\r\nFoo: b.lab.test"}]});
    let a = client.post("/acme/new-order", Some(&injected));
    assert_eq!(
        a.json()["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    let big = client.send("POST", "/acme/new-order", &vec![b'{'; 70 * 1024]);
    assert_eq!(big.status, 413, "a body over 64 KiB");
    let garbage = client.send("POST", "/acme/new-order", b"{\"protected\":1}");
    assert_eq!(
        garbage.json()["type"],
        "urn:ietf:params:acme:error:malformed"
    );
    assert_unchanged(&after_order, &snapshot(&dir));
    assert_ne!(before, after_order, "the first newOrder was committed");

    // The flow: authorization, challenge, a ready order.
    let order_url = first.header("location").unwrap();
    let order = first.json();
    let authz_path = Client::path(order["authorizations"][0].as_str().unwrap());
    let authz = client.post(&authz_path, None).json();
    let token = authz["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    *responder.body.lock().unwrap() = format!("{token}.{}", client.thumbprint());
    let finalize = Client::path(order["finalize"].as_str().unwrap());
    let early = client.post(&finalize, Some(&json!({"csr": b64(&csr("web.lab.test"))})));
    assert_eq!(
        early.json()["type"],
        "urn:ietf:params:acme:error:orderNotReady"
    );
    let chall = Client::path(authz["challenges"][0]["url"].as_str().unwrap());
    let c = client.post(&chall, Some(&json!({})));
    assert_eq!(
        c.json()["status"],
        "valid",
        "{}",
        String::from_utf8_lossy(&c.body)
    );
    assert_eq!(
        client.post(&Client::path(&order_url), None).json()["status"],
        "ready"
    );

    // A CSR of the account's own key is refused (badCSR), the order stays ready.
    let own = rcgen::KeyPair::try_from(client.pkcs8.as_slice()).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["web.lab.test".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let own_csr = params.serialize_request(&own).unwrap();
    let a = client.post(&finalize, Some(&json!({"csr": b64(own_csr.der())})));
    assert_eq!(a.json()["type"], "urn:ietf:params:acme:error:badCSR");
    assert!(
        String::from_utf8_lossy(&a.body).contains("account's key"),
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    // Two finalizes at once: one certificate.
    let client = Arc::new(client);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (client, finalize) = (client.clone(), finalize.clone());
            std::thread::spawn(move || {
                client
                    .post(&finalize, Some(&json!({"csr": b64(&csr("web.lab.test"))})))
                    .json()
            })
        })
        .collect();
    let answers: Vec<Value> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for a in &answers {
        assert_eq!(a["status"], "valid", "{a}");
    }
    assert_eq!(answers[0]["certificate"], answers[1]["certificate"]);
    let listed = clean_ca(&dir).args(["list", "--json"]).output().unwrap();
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let acme: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["profile"] == "acme")
        .collect();
    assert_eq!(acme.len(), 1, "{rows}");
    // LIST-ACME: the row names the account (the kid's last segment), and so does the table.
    let kid = client.kid.clone().unwrap();
    let account = kid.rsplit('/').next().unwrap();
    assert_eq!(acme[0]["acme_account"], account, "{rows}");
    let table = clean_ca(&dir).args(["list"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains(&format!("(ACME account {account})")),
        "{table}"
    );
    let cert = client.post(
        &Client::path(answers[0]["certificate"].as_str().unwrap()),
        None,
    );
    assert_eq!(
        cert.header("content-type").as_deref(),
        Some("application/pem-certificate-chain")
    );
    let pem_file = tmp.path().join("web.pem");
    std::fs::write(&pem_file, &cert.body).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(&pem_file)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", output_text(&verify));
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
    drop(server);

    // ACME-STATE: acme.json is signed by the checkpoint; an edit is refused by every signing
    // command and reported by `ca check`.
    let acme = std::fs::read_to_string(dir.join("acme.json")).unwrap();
    std::fs::write(
        dir.join("acme.json"),
        acme.replacen("\"valid\"", "\"ready\"", 1),
    )
    .unwrap();
    let before = snapshot(&dir);
    let sign = clean_ca(&dir).args(["crl"]).output().unwrap();
    assert_eq!(sign.status.code(), Some(5), "{}", output_text(&sign));
    assert!(
        output_text(&sign).contains("acme.json"),
        "{}",
        output_text(&sign)
    );
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(!check.status.success());
    assert!(
        output_text(&check).contains("acme.json"),
        "{}",
        output_text(&check)
    );
    assert_unchanged(&before, &snapshot(&dir));
}

/// ACME-FLOW for an IP identifier (RFC 8738): http-01 fetched from the address itself, the
/// certificate names it as an IP SAN; an address outside the profile's allow_ip is
/// rejectedIdentifier.
#[test]
fn an_ip_identifier_is_validated_at_its_address_and_issued_as_an_ip_san_acme_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let responder = Responder::start("");
    let http_port = responder.port;
    let server = Server::start(&dir, http_port, &dns);
    let mut client = Client::new(&dir.join("ca.crt"), server.port);
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    client.kid = Some(a.header("location").unwrap());
    let outside = json!({"identifiers": [{"type": "ip", "value": "192.0.2.7"}]});
    let a = client.post("/acme/new-order", Some(&outside));
    assert_eq!(
        a.json()["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    assert!(String::from_utf8_lossy(&a.body).contains("allow_ip"));

    let ask = json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]});
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
    assert_eq!(authz["identifier"]["type"], "ip");
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
    assert!(
        responder
            .last
            .lock()
            .unwrap()
            .contains("Host: 127.0.0.1\r\n")
    );
    let finalize = Client::path(order["finalize"].as_str().unwrap());
    let done = client
        .post(&finalize, Some(&json!({"csr": b64(&csr("127.0.0.1"))})))
        .json();
    assert_eq!(done["status"], "valid", "{done}");
    let cert = client.post(&Client::path(done["certificate"].as_str().unwrap()), None);
    let pem_file = tmp.path().join("ip.pem");
    std::fs::write(&pem_file, &cert.body).unwrap();
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&pem_file)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("IP Address:127.0.0.1"),
        "{}",
        output_text(&text)
    );
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-verify_ip", "127.0.0.1", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(&pem_file)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", output_text(&verify));

    // ACME-STATE: after a restart the account, its order and the certificate are still
    // served; a nonce of the previous process is not accepted.
    let order_path =
        Client::path(done["certificate"].as_str().unwrap()).replace("/acme/cert/", "/acme/order/");
    let old_nonce = client.nonce();
    let port = server.port;
    drop(server);
    let server = Server::start_on(port, &dir, http_port, &dns);
    let again = client.post(&order_path, None).json();
    assert_eq!(again["status"], "valid", "{again}");
    assert_eq!(again["certificate"], done["certificate"]);
    let stale = client.jws(&client.url(&order_path), &old_nonce, None);
    let a = client.send("POST", &order_path, &stale);
    assert_eq!(a.json()["type"], "urn:ietf:params:acme:error:badNonce");
    drop(server);
}

/// ACME-LIMITS: an account's new orders beyond `--acme-order-limit` per hour are
/// `rateLimited` (429) with a Retry-After, and change nothing; another account is not
/// limited by it.
#[test]
fn new_orders_beyond_the_limit_are_rate_limited_acme_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let ports = (crate::acme::free_port(), crate::acme::free_port());
    let server = Server::start_with(ports, &dir, 9, &dns, &["--acme-order-limit", "2"]);
    let account = || {
        let mut c = Client::new(&dir.join("ca.crt"), server.port);
        let a = c.post(
            "/acme/new-account",
            Some(&json!({"termsOfServiceAgreed": true})),
        );
        c.kid = Some(a.header("location").unwrap());
        c
    };
    let client = account();
    let ask = json!({"identifiers": [{"type": "dns", "value": "web.lab.test"}]});
    for _ in 0..2 {
        assert_eq!(client.post("/acme/new-order", Some(&ask)).status, 201);
    }
    let before = snapshot(&dir);
    let limited = client.post("/acme/new-order", Some(&ask));
    assert_eq!(
        limited.status,
        429,
        "{}",
        String::from_utf8_lossy(&limited.body)
    );
    assert_eq!(
        limited.json()["type"],
        "urn:ietf:params:acme:error:rateLimited"
    );
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_unchanged(&before, &snapshot(&dir));
    assert_eq!(account().post("/acme/new-order", Some(&ask)).status, 201);
}

/// ACME-TERMS: with `--acme-terms URL` the directory names the terms, and a newAccount that
/// does not agree to them is `userActionRequired` (RFC 8555 7.3.3), nothing changed; one that
/// agrees is created.
#[test]
fn new_accounts_must_agree_to_the_terms_when_there_are_some_acme_terms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let ports = (crate::acme::free_port(), crate::acme::free_port());
    let terms = "https://lab.test/acme-terms";
    let server = Server::start_with(ports, &dir, 9, &dns, &["--acme-terms", terms]);
    let client = Client::new(&dir.join("ca.crt"), server.port);
    let directory = client.send("GET", "/acme/directory", b"");
    assert_eq!(directory.json()["meta"]["termsOfService"], terms);
    let before = snapshot(&dir);
    let refused = client.post("/acme/new-account", Some(&json!({})));
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json()["type"],
        "urn:ietf:params:acme:error:userActionRequired"
    );
    assert_unchanged(&before, &snapshot(&dir));
    let agreed = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    assert_eq!(
        agreed.status,
        201,
        "{}",
        String::from_utf8_lossy(&agreed.body)
    );
}
