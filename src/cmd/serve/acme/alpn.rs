//! tls-alpn-01 validation (RFC 8737): the server opens TLS to port `--acme-tls-port` (443)
//! of the addresses the identifier points to, offering only the ALPN protocol `acme-tls/1`
//! with the name as SNI (for an IP identifier its reverse-DNS name, RFC 8738 6), and expects
//! a self-signed certificate naming exactly the identifier (one SAN) with a critical
//! id-pe-acmeIdentifier extension holding the SHA-256 of the key authorization. The
//! certificate is not checked against any CA (it is the challenge response): the verifier
//! below accepts it and still checks the handshake signatures. Connect and handshake are
//! bounded by [`super::validate::TIMEOUT`].

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::validate::{TIMEOUT, Target, fail};
use crate::acme::state::{Failure, Identifier};

/// The ALPN protocol of tls-alpn-01.
const ACME_TLS: &[u8] = b"acme-tls/1";

/// id-pe-acmeIdentifier (RFC 8737 6.1).
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// Checks the tls-alpn-01 challenge of identifier `id` (addresses `addrs`, found by the
/// caller) for the key authorization `key_authz`.
pub fn tls_alpn01(
    target: &Target,
    id: &Identifier,
    addrs: &[IpAddr],
    key_authz: &str,
) -> Result<(), Failure> {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authz.as_bytes());
    let sni = match id.value.parse::<IpAddr>() {
        Ok(ip) => reverse_name(ip),
        Err(_) => id.value.clone(),
    };
    let mut last = format!("{} has no address", id.value);
    for ip in addrs {
        let addr = SocketAddr::new(*ip, target.tls_port);
        match handshake(addr, &sni) {
            Ok(cert) => return check_cert(&cert, id, digest.as_ref()),
            Err(e) => last = format!("tls-alpn-01 at {addr}: {}", e.0),
        }
    }
    Err(fail(last))
}

/// The reverse-DNS name of an address (RFC 8738 6): `1.0.0.127.in-addr.arpa`, or the
/// nibbles of an IPv6 address under `ip6.arpa`.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut out = String::new();
            for b in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            out + "ip6.arpa"
        }
    }
}

/// A TLS handshake offering `acme-tls/1` only: the certificate the server presented.
fn handshake(addr: SocketAddr, sni: &str) -> Result<Vec<u8>, Failure> {
    let provider = Arc::new(super::tls::provider());
    // TLS 1.3 only: its handshake signature is checked against the certificate's raw key
    // (rustls' certificate path refuses the critical acmeIdentifier extension).
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| fail(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS.to_vec()];
    let name = ServerName::try_from(sni.to_string()).map_err(|e| fail(e.to_string()))?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| fail(e.to_string()))?;
    let mut sock = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| fail(e.to_string()))?;
    sock.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;
    sock.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while conn.is_handshaking() {
        if std::time::Instant::now() > deadline {
            return Err(fail("the TLS handshake took too long"));
        }
        conn.complete_io(&mut sock)
            .map_err(|e| fail(format!("the TLS handshake: {e}")))?;
    }
    if conn.alpn_protocol() != Some(ACME_TLS) {
        return Err(fail("the server did not negotiate ALPN acme-tls/1"));
    }
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| fail("the server presented no certificate"))?;
    // Done: say so and leave (the challenge response is the certificate alone).
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    let _ = sock.flush();
    let _ = sock.read(&mut [0u8; 1]);
    Ok(cert)
}

/// The challenge certificate: one SAN, the identifier; the critical acmeIdentifier
/// extension, a DER OCTET STRING of the digest.
fn check_cert(der: &[u8], id: &Identifier, digest: &[u8]) -> Result<(), Failure> {
    use x509_parser::extensions::GeneralName;
    let cert = crate::pki::pem::certificate(der)
        .map_err(|_| fail("the tls-alpn-01 certificate does not parse"))?;
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|s| {
            s.value
                .general_names
                .iter()
                .map(|g| match g {
                    GeneralName::DNSName(d) => format!("dns:{}", d.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => format!(
                            "ip:{}",
                            IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or([0; 4]))
                        ),
                        16 => format!(
                            "ip:{}",
                            IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or([0; 16]))
                        ),
                        _ => "ip:?".into(),
                    },
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let want = format!("{}:{}", id.kind, id.value);
    if sans != [want.clone()] {
        return Err(fail(format!(
            "the tls-alpn-01 certificate names {sans:?}, not exactly {want}"
        )));
    }
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .ok_or_else(|| fail("the tls-alpn-01 certificate has no acmeIdentifier extension"))?;
    let expected = [&[0x04, 0x20][..], digest].concat();
    if !ext.critical || ext.value != expected.as_slice() {
        return Err(fail(
            "the acmeIdentifier extension is not critical or not the key authorization's SHA-256",
        ));
    }
    Ok(())
}

/// Accepts any certificate (the challenge response is checked by [`check_cert`]), but
/// checks that the TLS 1.3 handshake is signed by its key (TLS 1.2 is not offered).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "tls-alpn-01 is validated over TLS 1.3".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let parsed = crate::pki::pem::certificate(cert.as_ref())
            .map_err(|_| rustls::Error::General("the certificate does not parse".into()))?;
        let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
