//! tls-alpn-01 (ACME-TLSALPN01, RFC 8737, RFC 8738 6) with a responder the test runs: a
//! rustls server offering `acme-tls/1` with a self-signed certificate made by rcgen with the
//! acmeIdentifier extension. The right digest validates a name (SNI the name) and an address
//! (SNI its reverse-DNS name); a wrong digest leaves the authorization invalid (fast); lego
//! `--tls` obtains a certificate (full).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::acme::{Dns, Server, free_port, lab_ca};
use crate::acme_client::{Client, b64};
use crate::harness::*;

/// A tls-alpn-01 responder: presents the certificate `cert` holds (DER certificate, PKCS#8
/// key) to every connection offering acme-tls/1, and keeps the last SNI; stops when dropped.
struct AlpnResponder {
    port: u16,
    cert: Arc<Mutex<(Vec<u8>, Vec<u8>)>>,
    sni: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl AlpnResponder {
    fn start() -> AlpnResponder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cert = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let sni = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s, flag) = (cert.clone(), sni.clone(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((mut sock, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = sock.set_nonblocking(false);
                let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
                let (der, key) = c.lock().unwrap().clone();
                #[allow(deprecated)]
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                // Not with_single_cert: webpki refuses the critical acmeIdentifier extension.
                let signer = provider
                    .key_provider
                    .load_private_key(rustls::pki_types::PrivatePkcs8KeyDer::from(key).into())
                    .unwrap();
                let certified = rustls::sign::CertifiedKey::new(vec![der.into()], signer);
                let mut config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::new(Fixed(Arc::new(certified))));
                config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
                let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
                while conn.is_handshaking() {
                    if conn.complete_io(&mut sock).is_err() {
                        break;
                    }
                }
                *s.lock().unwrap() = conn.server_name().unwrap_or_default().to_string();
                conn.send_close_notify();
                let _ = conn.complete_io(&mut sock);
            }
        });
        AlpnResponder {
            port,
            cert,
            sni,
            stop,
        }
    }

    /// Presents a challenge certificate for `name` carrying `digest`.
    fn present(&self, name: &str, digest: &[u8]) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
        let cert = params.self_signed(&key).unwrap();
        *self.cert.lock().unwrap() = (cert.der().to_vec(), key.serialize_der());
    }
}

/// One certificate for every handshake.
#[derive(Debug)]
struct Fixed(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl Drop for AlpnResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The tls-alpn-01 challenge of the order's first authorization, and its token.
fn alpn_challenge(client: &Client, order: &Value) -> (String, String) {
    let authz = client
        .post(
            &Client::path(order["authorizations"][0].as_str().unwrap()),
            None,
        )
        .json();
    let c = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "tls-alpn-01")
        .unwrap_or_else(|| panic!("no tls-alpn-01 in {authz}"))
        .clone();
    (
        Client::path(c["url"].as_str().unwrap()),
        c["token"].as_str().unwrap().to_string(),
    )
}

/// ACME-TLSALPN01: a name and an address validated, a wrong digest refused.
#[test]
fn tls_alpn01_validates_names_and_addresses_by_the_acme_identifier_acme_tlsalpn01() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let responder = AlpnResponder::start();
    let tls_port = responder.port.to_string();
    let ports = (free_port(), free_port());
    let extra = ["--acme-tls-port", tls_port.as_str()];
    let server = Server::start_with(ports, &dir, free_port(), &dns, &extra);
    let mut client = Client::new(&dir.join("ca.crt"), server.port);
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    client.kid = Some(a.header("location").unwrap());
    let digest = |token: &str| {
        let key_authz = format!("{token}.{}", client.thumbprint());
        ring::digest::digest(&ring::digest::SHA256, key_authz.as_bytes())
            .as_ref()
            .to_vec()
    };
    let order = |kind: &str, value: &str| {
        let ask = json!({"identifiers": [{"type": kind, "value": value}]});
        let o = client.post("/acme/new-order", Some(&ask));
        assert_eq!(o.status, 201, "{}", String::from_utf8_lossy(&o.body));
        o.json()
    };

    let o = order("dns", "web.lab.test");
    let (url, token) = alpn_challenge(&client, &o);
    responder.present("web.lab.test", &digest(&token));
    let c = client.post(&url, Some(&json!({}))).json();
    assert_eq!(c["status"], "valid", "{c}");
    assert_eq!(*responder.sni.lock().unwrap(), "web.lab.test");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["web.lab.test".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).unwrap();
    let done = client
        .post(
            &Client::path(o["finalize"].as_str().unwrap()),
            Some(&json!({"csr": b64(csr.der())})),
        )
        .json();
    assert_eq!(done["status"], "valid", "{done}");

    let o = order("ip", "127.0.0.1");
    let (url, token) = alpn_challenge(&client, &o);
    responder.present("127.0.0.1", &digest(&token));
    let c = client.post(&url, Some(&json!({}))).json();
    assert_eq!(c["status"], "valid", "{c}");
    assert_eq!(*responder.sni.lock().unwrap(), "1.0.0.127.in-addr.arpa");

    let o = order("dns", "api.lab.test");
    let (url, _) = alpn_challenge(&client, &o);
    responder.present("api.lab.test", &[7u8; 32]);
    let c = client.post(&url, Some(&json!({}))).json();
    assert_eq!(c["status"], "invalid", "{c}");
    assert!(
        c["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("acmeIdentifier"),
        "{c}"
    );
    drop(server);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}

/// ACME-TLSALPN01 with lego: `--tls --tls.port` obtains a certificate.
#[test]
#[ignore = "full tier: real-tool interop (lego)"]
fn lego_obtains_a_certificate_by_tls_alpn01_acme_tlsalpn01() {
    require("lego", "lego");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let tls_port = free_port().to_string();
    let ports = (free_port(), free_port());
    let extra = ["--acme-tls-port", tls_port.as_str()];
    let server = Server::start_with(ports, &dir, free_port(), &dns, &extra);
    let listen = format!("127.0.0.1:{tls_port}");
    let out = crate::acme::lego(
        &server,
        &dir,
        &tmp.path().join("lego"),
        &[
            "--domains",
            "web.lab.test",
            "--tls",
            "--tls.port",
            &listen,
            "run",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    assert_eq!(crate::acme::acme_serials(&dir).len(), 1);
    let acme = std::fs::read_to_string(dir.join("acme.json")).unwrap();
    assert!(acme.contains("\"challenge\": \"tls-alpn-01\""), "{acme}");
}
