//! OCSP requests read and responses signed, checked by our own reading and by OpenSSL's
//! (`openssl ocsp -reqout`, `-respin`).

use std::io::Write;
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::macros::datetime;

use super::*;

struct Pki {
    ca_der: Vec<u8>,
    ca_pem: String,
    responder_key: KeyPair,
    responder_der: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "OCSP Test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, &ca_key);
    let responder_key = KeyPair::generate().unwrap();
    let mut r = CertificateParams::new(Vec::<String>::new()).unwrap();
    r.distinguished_name
        .push(DnType::CommonName, "OCSP responder");
    r.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    r.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    r.custom_extensions.push(CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5],
        vec![5, 0],
    ));
    let responder = r.signed_by(&responder_key, &issuer).unwrap();
    Pki {
        ca_der: ca_cert.der().to_vec(),
        ca_pem: ca_cert.pem(),
        responder_key,
        responder_der: responder.der().to_vec(),
    }
}

/// An OCSPRequest for `serials` of the issuer `ca_der`, as a client builds it.
fn request(alg: HashAlg, ca_der: &[u8], serials: &[&[u8]], nonce: Option<&[u8]>) -> Vec<u8> {
    let cert = crate::pki::pem::certificate(ca_der).unwrap();
    let name = alg.digest(cert.subject().as_raw());
    let key = alg.digest(&cert.public_key().subject_public_key.data);
    let oid = match alg {
        HashAlg::Sha1 => SHA1,
        _ => SHA256,
    };
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_sequence_of(|w| {
                    for s in serials {
                        w.next().write_sequence(|w| {
                            w.next().write_sequence(|w| {
                                w.next().write_sequence(|w| {
                                    w.next().write_oid(&ObjectIdentifier::from_slice(oid));
                                    w.next().write_null();
                                });
                                w.next().write_bytes(&name);
                                w.next().write_bytes(&key);
                                w.next().write_bigint_bytes(s, true);
                            })
                        });
                    }
                });
                if let Some(n) = nonce {
                    w.next().write_tagged(Tag::context(2), |w| {
                        w.write_sequence_of(|w| {
                            w.next().write_sequence(|w| {
                                w.next()
                                    .write_oid(&ObjectIdentifier::from_slice(OCSP_NONCE));
                                w.next()
                                    .write_bytes(&yasna::construct_der(|w| w.write_bytes(n)));
                            })
                        })
                    });
                }
            })
        })
    })
}

fn times() -> Times {
    Times {
        produced_at: datetime!(2026-01-07 12:00:00.5 UTC),
        this_update: datetime!(2026-01-07 12:00:00 UTC),
        next_update: datetime!(2099-01-08 12:00:00 UTC),
    }
}

fn tmp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f
}

/// `openssl ocsp -respin` on `response`, verifying it against the CA; the text it prints.
fn openssl_reads(response: &[u8], ca_pem: &str, args: &[&str]) -> String {
    let resp = tmp(response);
    let ca = tmp(ca_pem.as_bytes());
    let out = Command::new("openssl")
        .args(["ocsp", "-respin"])
        .arg(resp.path())
        .arg("-CAfile")
        .arg(ca.path())
        .arg("-issuer")
        .arg(ca.path())
        .args(["-resp_text", "-no_nonce"])
        .args(args)
        .output()
        .expect("openssl (package openssl) runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn a_request_is_read_with_its_cert_ids_and_nonce_serve_ocsp() {
    let p = pki();
    let der = request(
        HashAlg::Sha1,
        &p.ca_der,
        &[&[0x12, 0x34], &[0x80, 0x01]],
        Some(&[7; 16]),
    );
    let r = parse_request(&der).unwrap();
    assert_eq!(r.ids.len(), 2);
    assert_eq!(r.ids[0].serial, Some(Serial::from_u64(0x1234)));
    assert_eq!(r.ids[1].serial, Some(Serial::from_u64(0x8001)));
    let hashes = IssuerHashes::of_certificate(&p.ca_der).unwrap();
    assert!(r.ids.iter().all(|id| hashes.matches(id)));
    let nonce = r.nonce.unwrap();
    assert_eq!(nonce, [&[4, 16][..], &[7; 16]].concat());

    let sha256 = parse_request(&request(HashAlg::Sha256, &p.ca_der, &[&[1]], None)).unwrap();
    assert!(hashes.matches(&sha256.ids[0]));
    assert_eq!(sha256.nonce, None);
    // The CertID fileca builds for a pre-signed response is the one a client sends.
    assert_eq!(
        hashes.cert_id(HashAlg::Sha1, &Serial::from_u64(0x1234)),
        r.ids[0]
    );
    assert_eq!(
        hashes.cert_id(HashAlg::Sha256, &Serial::from_u64(1)),
        sha256.ids[0]
    );
    let other = pki();
    let theirs = parse_request(&request(HashAlg::Sha1, &other.ca_der, &[&[1]], None)).unwrap();
    assert!(!hashes.matches(&theirs.ids[0]));
}

#[test]
fn an_openssl_request_is_read_serve_ocsp() {
    let p = pki();
    let ca = tmp(p.ca_pem.as_bytes());
    let req = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(ca.path())
        .args(["-serial", "0x5C0A", "-reqout"])
        .arg(req.path())
        .output()
        .expect("openssl (package openssl) runs");
    assert!(out.status.success(), "{out:?}");
    let der = std::fs::read(req.path()).unwrap();
    let r = parse_request(&der).unwrap();
    assert_eq!(r.ids[0].serial, Some(Serial::from_u64(0x5C0A)));
    assert!(
        IssuerHashes::of_certificate(&p.ca_der)
            .unwrap()
            .matches(&r.ids[0])
    );
    // openssl adds a 16-octet nonce unless told not to.
    assert_eq!(r.nonce.unwrap().len(), 18);
}

#[test]
fn bad_requests_are_refused_serve_ocsp() {
    let p = pki();
    assert_eq!(parse_request(b""), Err(RequestError::Malformed));
    assert_eq!(parse_request(b"\x30\x03junk"), Err(RequestError::Malformed));
    let big = vec![0x30; MAX_REQUEST_BYTES + 1];
    assert_eq!(parse_request(&big), Err(RequestError::TooLarge));
    let none = request(HashAlg::Sha1, &p.ca_der, &[], None);
    assert_eq!(parse_request(&none), Err(RequestError::CertCount));
    let serials: Vec<&[u8]> = vec![&[1]; MAX_CERT_IDS + 1];
    let many = request(HashAlg::Sha1, &p.ca_der, &serials, None);
    assert!(parse_request(&many).is_err());
    let long = request(HashAlg::Sha1, &p.ca_der, &[&[1]], Some(&[1; 33]));
    assert_eq!(parse_request(&long), Err(RequestError::BadNonce));
    let empty = request(HashAlg::Sha1, &p.ca_der, &[&[1]], Some(&[]));
    assert_eq!(parse_request(&empty), Err(RequestError::BadNonce));
    let ok = request(HashAlg::Sha1, &p.ca_der, &[&[1]], Some(&[1; 32]));
    assert!(parse_request(&ok).is_ok());
    // Trailing bytes after the request.
    let mut trailing = ok.clone();
    trailing.push(0);
    assert_eq!(parse_request(&trailing), Err(RequestError::Malformed));
    // Every truncation of a good request is refused, never a panic.
    for n in 0..ok.len() {
        assert!(parse_request(&ok[..n]).is_err(), "{n}");
    }
}

#[test]
fn good_revoked_and_unknown_are_signed_and_openssl_verifies_them_serve_ocsp() {
    let p = pki();
    let der = request(
        HashAlg::Sha1,
        &p.ca_der,
        &[&[0x10], &[0x11], &[0x12]],
        Some(&[9; 20]),
    );
    let r = parse_request(&der).unwrap();
    let revoked = Status::Revoked {
        at: datetime!(2026-12-01 08:00:00 UTC),
        reason: Reason::KeyCompromise,
    };
    let answers = [
        (&r.ids[0], Status::Good),
        (&r.ids[1], revoked),
        (&r.ids[2], Status::Unknown),
    ];
    let responder = Responder {
        key: &p.responder_key,
        cert_der: &p.responder_der,
    };
    let resp = sign_response(&responder, &answers, r.nonce.as_deref(), times()).unwrap();
    let text = openssl_reads(
        &resp,
        &p.ca_pem,
        &["-serial", "0x10", "-serial", "0x11", "-serial", "0x12"],
    );
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(text.contains("0x10: good"), "{text}");
    assert!(text.contains("0x11: revoked"), "{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");
    assert!(
        text.contains("Revocation Time: Dec  1 08:00:00 2026 GMT"),
        "{text}"
    );
    assert!(text.contains("0x12: unknown"), "{text}");
    assert!(
        text.contains("This Update: Jan  7 12:00:00 2026 GMT"),
        "{text}"
    );
    assert!(
        text.contains("Next Update: Jan  8 12:00:00 2099 GMT"),
        "{text}"
    );
    assert!(
        text.contains("Produced At: Jan  7 12:00:00 2026 GMT"),
        "{text}"
    );
    assert!(!text.contains("WARNING"), "{text}");
    assert!(text.contains("Responder Id: "), "{text}");
    assert!(text.contains("OCSP Nonce"), "{text}");
    assert!(
        text.contains("0414" /* inner OCTET STRING of 20 */),
        "{text}"
    );
    assert!(text.contains("OCSP responder"), "the certs field: {text}");
}

#[test]
fn error_statuses_are_bare_responses_serve_ocsp() {
    assert_eq!(
        error_response(ErrorStatus::MalformedRequest),
        [0x30, 3, 0x0a, 1, 1]
    );
    assert_eq!(error_response(ErrorStatus::TryLater), [0x30, 3, 0x0a, 1, 3]);
    assert_eq!(
        error_response(ErrorStatus::Unauthorized),
        [0x30, 3, 0x0a, 1, 6]
    );
    let resp = tmp(&error_response(ErrorStatus::TryLater));
    let out = Command::new("openssl")
        .args(["ocsp", "-respin"])
        .arg(resp.path())
        .arg("-resp_text")
        .output()
        .expect("openssl (package openssl) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Responder Error: trylater (3)"), "{text}");
}

#[test]
fn every_reason_has_its_rfc_5280_code() {
    let codes: Vec<u8> = Reason::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);
    for r in Reason::ALL {
        assert_eq!(Reason::from_code(r.code()), Some(r));
    }
}

/// One well-formed request with a nonce, made once for the mutation property below.
fn sample_request() -> &'static [u8] {
    static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        let p = pki();
        request(
            HashAlg::Sha1,
            &p.ca_der,
            &[&[0x12, 0x34], &[7; 20]],
            Some(&[5; 16]),
        )
    })
}

proptest::proptest! {
    /// Hostile input: any bytes are read or refused with a typed error, never a panic.
    #[test]
    fn any_bytes_are_read_or_refused_serve_ocsp(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
    ) {
        let _ = parse_request(&bytes);
    }

    /// A real request with one byte changed: read (then its CertIDs are sane) or refused.
    #[test]
    fn a_request_with_a_byte_changed_is_read_or_refused_serve_ocsp(
        at in 0usize..1000,
        byte in proptest::prelude::any::<u8>()
    ) {
        let mut der = sample_request().to_vec();
        let i = at % der.len();
        der[i] = byte;
        if let Ok(r) = parse_request(&der) {
            proptest::prop_assert!(!r.ids.is_empty() && r.ids.len() <= MAX_CERT_IDS);
            if let Some(n) = r.nonce {
                proptest::prop_assert!(n.len() <= MAX_NONCE + 2);
            }
        }
    }
}
