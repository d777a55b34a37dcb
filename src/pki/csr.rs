//! The CSR gate: everything a certificate signing request must satisfy before fileca signs
//! anything (SPEC.md `CSR-*`). The gate is pure: bytes in, a checked request or a reason out.
//!
//! Checks, in order: one PEM block labelled CERTIFICATE REQUEST (or DER); a well-formed
//! PKCS#10 structure (version 1) with nothing after it; a signature algorithm on the
//! allowlist; a public key on the allowlist; a signature that verifies; a well-formed subject;
//! well-formed SANs.
//! Requested extensions other than SANs are reported as ignored: the CA's profile decides.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::der_parser::error::BerError;
use x509_parser::error::X509Error;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::pki::keys::{self, KeyKind};
use crate::pki::names::{self, NameError, San, Subject};
use crate::pki::pem::{PemError, decode_one};
use crate::pki::strict_der::{NotDer, strict_der};

/// Largest CSR input accepted, in bytes.
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// A request that passed the gate.
#[derive(Debug, Clone)]
pub struct CheckedCsr {
    /// DER SubjectPublicKeyInfo of the requester's key.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey bit string content (for the key identifier).
    pub subject_public_key: Vec<u8>,
    pub key: KeyKind,
    pub subject: Subject,
    pub sans: Vec<San>,
    /// Requested extensions and attributes the policy ignores, for a note on stderr (a SAN
    /// here is as the CSR wrote it: escape it to show it).
    pub ignored: Vec<String>,
    /// Name of the signature algorithm.
    pub signature_algorithm: &'static str,
    /// SHA-256 of the request's DER, for the audit trail.
    pub sha256: String,
}

/// Why the gate refuses a CSR. The caller names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsrError {
    /// Not one PEM block or DER.
    #[error("{0}")]
    Pem(#[from] PemError),
    #[error("not a valid PKCS#10 certificate request: {0}")]
    Syntax(x509_parser::nom::Err<X509Error>),
    #[error("{0} bytes of garbage after the request")]
    Trailing(usize),
    #[error("not DER: {0}; fileca accepts only DER requests (as openssl req writes them)")]
    NotDer(NotDer),
    #[error("the request's version is {0} (v{v}); PKCS#10 defines only 0 (v1)", v = u64::from(*.0) + 1)]
    Version(u32),
    /// A public key that is not on the allowlist.
    #[error("{0}")]
    Key(#[from] keys::KeyError),
    #[error(
        "signature algorithm {name} ({oid}) is not accepted: {why}; re-create the CSR with SHA-256 or stronger (openssl req -sha256)"
    )]
    Algorithm {
        name: &'static str,
        oid: String,
        why: &'static str,
    },
    #[error("signature algorithm {algorithm} does not fit a {key} key")]
    AlgorithmKey {
        algorithm: &'static str,
        key: KeyKind,
    },
    #[error("the signature does not verify ({0}): the request was altered or is corrupt")]
    Signature(BadSignature),
    /// The subject or a SAN as encoded.
    #[error("{0}")]
    Name(#[from] NameError),
    /// The subject breaks the rules of [`names`].
    #[error("subject: {0}")]
    Subject(NameError),
    #[error("the subject is empty; fileca requires at least one subject attribute such as CN")]
    EmptySubject,
    #[error("the request holds two extensionRequest attributes")]
    TwoExtensionRequests,
    #[error("extension {0} is requested twice")]
    DuplicateExtension(String),
    #[error("requested extension {oid} is malformed: {error}")]
    MalformedExtension {
        oid: String,
        error: x509_parser::nom::Err<BerError>,
    },
}

/// Runs the whole gate over the bytes of a CSR file.
pub fn check(bytes: &[u8]) -> Result<CheckedCsr, CsrError> {
    gate(bytes, false)
}

/// The gate of an ACME finalize (SPEC.md ACME-FINALIZE): the same, except that the subject
/// may be empty (RFC 8555 7.4: the names are the SANs; certbot sends no subject) — the
/// issuer then names the certificate after the order.
pub fn check_acme(bytes: &[u8]) -> Result<CheckedCsr, CsrError> {
    gate(bytes, true)
}

/// [`check`], with an empty subject allowed or not.
fn gate(bytes: &[u8], empty_subject_ok: bool) -> Result<CheckedCsr, CsrError> {
    let der = decode_one(
        bytes,
        &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
        MAX_CSR_BYTES,
    )
    .map_err(CsrError::Pem)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(CsrError::Syntax)?;
    if !rest.is_empty() {
        return Err(CsrError::Trailing(rest.len()));
    }
    strict_der(&der).map_err(CsrError::NotDer)?;
    let info = &csr.certification_request_info;
    // RFC 2986 defines only version 1 (encoded 0); a request claiming another version is
    // either broken or from a format fileca does not understand.
    if info.version.0 != 0 {
        return Err(CsrError::Version(info.version.0));
    }

    let (key, signature_algorithm) = verify(&csr)?;
    let subject = subject_of(&info.subject)?;
    if subject.is_empty() && !empty_subject_ok {
        return Err(CsrError::EmptySubject);
    }
    let (sans, ignored) = requested(info)?;
    Ok(CheckedCsr {
        spki_der: info.subject_pki.raw.to_vec(),
        subject_public_key: info.subject_pki.subject_public_key.data.to_vec(),
        key,
        subject,
        sans,
        ignored,
        signature_algorithm,
        sha256: crate::pki::hex::sha256(&der),
    })
}

/// The requester's key on the allowlist, and a signature algorithm on the allowlist that fits
/// it and verifies the request.
fn verify(csr: &X509CertificationRequest<'_>) -> Result<(KeyKind, &'static str), CsrError> {
    let info = &csr.certification_request_info;
    let key = keys::classify(&info.subject_pki)?;
    let sig_oid = csr.signature_algorithm.algorithm.to_id_string();
    let signature_algorithm = signature_allowed(&sig_oid)?;
    let key_matches_sig = match key {
        KeyKind::Rsa(_) => signature_algorithm.contains("RSA"),
        KeyKind::P256 | KeyKind::P384 => signature_algorithm.starts_with("ecdsa"),
        KeyKind::Ed25519 => signature_algorithm == "Ed25519",
    };
    if !key_matches_sig {
        return Err(CsrError::AlgorithmKey {
            algorithm: signature_algorithm,
            key,
        });
    }
    if signature_algorithm == "ecdsa-with-SHA512" {
        // ring verifies ECDSA only with SHA-256/384; RustCrypto's p256/p384 verify the rest.
        verify_ecdsa_sha512(
            key,
            &info.subject_pki.subject_public_key.data,
            info.raw,
            &csr.signature_value.data,
        )
        .map_err(CsrError::Signature)?;
    } else {
        csr.verify_signature()
            .map_err(|e| CsrError::Signature(BadSignature::Verifier(e)))?;
    }

    Ok((key, signature_algorithm))
}

/// The SANs a request asks for (duplicates dropped), and what else it asks for that the
/// policy ignores; a malformed or repeated extension, or two extensionRequest attributes,
/// refuse it.
fn requested(
    info: &x509_parser::certification_request::X509CertificationRequestInfo<'_>,
) -> Result<(Vec<San>, Vec<String>), CsrError> {
    let mut sans = Vec::new();
    let mut ignored = Vec::new();
    let mut saw_ext_request = false;
    for attr in info.iter_attributes() {
        match attr.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(req) => {
                if saw_ext_request {
                    return Err(CsrError::TwoExtensionRequests);
                }
                saw_ext_request = true;
                let mut oids = std::collections::HashSet::new();
                for ext in &req.extensions {
                    let oid = ext.oid.to_id_string();
                    if !oids.insert(oid.clone()) {
                        return Err(CsrError::DuplicateExtension(oid));
                    }
                    match ext.parsed_extension() {
                        ParsedExtension::SubjectAlternativeName(san) => {
                            names::check_san_count(san.general_names.len())?;
                            for gn in &san.general_names {
                                match general_name(gn)? {
                                    Some(s) => {
                                        if !sans.contains(&s) {
                                            sans.push(s);
                                        }
                                    }
                                    None => ignored.push(format!("SAN {gn}")),
                                }
                            }
                        }
                        ParsedExtension::BasicConstraints(bc) if bc.ca => {
                            ignored.push("basicConstraints CA:TRUE".into());
                        }
                        ParsedExtension::BasicConstraints(_) => {
                            ignored.push("basicConstraints".into());
                        }
                        ParsedExtension::KeyUsage(ku) => {
                            ignored.push(format!("keyUsage {ku}"));
                        }
                        ParsedExtension::ExtendedKeyUsage(_) => {
                            ignored.push("extendedKeyUsage".into());
                        }
                        ParsedExtension::ParseError { error } => {
                            return Err(CsrError::MalformedExtension {
                                oid,
                                error: error.clone(),
                            });
                        }
                        _ => ignored.push(format!("extension {oid}")),
                    }
                }
            }
            ParsedCriAttribute::ChallengePassword(_) => {
                ignored.push("challengePassword attribute".into());
            }
            ParsedCriAttribute::UnsupportedAttribute => {
                ignored.push(format!("attribute {}", attr.oid.to_id_string()));
            }
        }
    }
    Ok((sans, ignored))
}

/// Why a request's signature does not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadSignature {
    /// x509-parser's verifier (ring) refused it.
    #[error("{0}")]
    Verifier(X509Error),
    /// ecdsa-with-SHA512, checked by RustCrypto: the key is not a point on its curve.
    #[error("the public key is not a point on its curve")]
    Point,
    #[error("the signature is not a DER ECDSA signature")]
    Encoding,
    #[error("signature error")]
    Mismatch,
    #[error("ecdsa-with-SHA512 with a {0} key")]
    Key(KeyKind),
}

/// Verifies an ECDSA signature over SHA-512 of `tbs` (P-256 or P-384: the digest is truncated
/// to the curve's size, as FIPS 186-5 says) with the RustCrypto verifiers.
fn verify_ecdsa_sha512(
    key: KeyKind,
    point: &[u8],
    tbs: &[u8],
    signature: &[u8],
) -> Result<(), BadSignature> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use sha2::Digest;
    let digest = sha2::Sha512::digest(tbs);
    match key {
        KeyKind::P256 => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| BadSignature::Point)?;
            let sig =
                p256::ecdsa::Signature::from_der(signature).map_err(|_| BadSignature::Encoding)?;
            vk.verify_prehash(&digest, &sig)
                .map_err(|_| BadSignature::Mismatch)
        }
        KeyKind::P384 => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| BadSignature::Point)?;
            let sig =
                p384::ecdsa::Signature::from_der(signature).map_err(|_| BadSignature::Encoding)?;
            vk.verify_prehash(&digest, &sig)
                .map_err(|_| BadSignature::Mismatch)
        }
        other => Err(BadSignature::Key(other)),
    }
}

/// The allowlist of signature algorithms, by OID; refusals name the algorithm and the reason.
fn signature_allowed(oid: &str) -> Result<&'static str, CsrError> {
    Ok(match oid {
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        _ => {
            let (name, why) = match oid {
                "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", "MD2 is broken"),
                "1.2.840.113549.1.1.3" => ("md4WithRSAEncryption", "MD4 is broken"),
                "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", "MD5 is broken"),
                "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => {
                    ("sha1WithRSAEncryption", "SHA-1 is broken")
                }
                "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", "SHA-1 is broken"),
                "1.2.840.10040.4.3" => ("dsa-with-SHA1", "SHA-1 and DSA are not accepted"),
                "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", "SHA-224 is not accepted"),
                "1.2.840.10045.4.3.1" => ("ecdsa-with-SHA224", "SHA-224 is not accepted"),
                o if o.starts_with("2.16.840.1.101.3.4.3.") => (
                    "a DSA or SHA-3 based algorithm",
                    "only SHA-2 (256/384/512) and Ed25519 are accepted",
                ),
                _ => ("an unknown algorithm", "it is not on the allowlist"),
            };
            return Err(CsrError::Algorithm {
                name,
                oid: oid.to_string(),
                why,
            });
        }
    })
}

/// The subject of a CSR, under the rules of [`names`].
fn subject_of(name: &X509Name<'_>) -> Result<Subject, CsrError> {
    let mut attrs = Vec::new();
    for rdn in name.iter() {
        let mut it = rdn.iter();
        let Some(attr) = it.next() else {
            return Err(NameError::EmptyRdn.into());
        };
        if it.next().is_some() {
            return Err(NameError::MultiValuedRdn.into());
        }
        let oid = attr.attr_type();
        let arcs: Vec<u64> = oid
            .iter()
            .map(|i| i.collect())
            .ok_or_else(|| NameError::OidOutOfRange(oid.to_id_string()))?;
        let key = names::attr_name(&arcs)
            .ok_or_else(|| NameError::UnsupportedAttribute(oid.to_id_string()))?;
        let value = attr
            .as_str()
            .map_err(|_| NameError::NotAString(key.to_string()))?;
        attrs.push((key.to_string(), value.to_string()));
    }
    let subject = Subject(attrs);
    subject.check().map_err(CsrError::Subject)?;
    Ok(subject)
}

/// A requested SAN: `Some` for the kinds fileca issues, `None` for kinds the policy ignores;
/// an error when it is malformed.
fn general_name(gn: &GeneralName<'_>) -> Result<Option<San>, NameError> {
    match gn {
        GeneralName::DNSName(d) => San::dns(d).map(Some),
        GeneralName::RFC822Name(e) => San::email(e).map(Some),
        GeneralName::URI(u) => San::uri(u).map(Some),
        GeneralName::IPAddress(b) => match b.len() {
            4 => Ok(Some(San::Ip(std::net::IpAddr::from(
                <[u8; 4]>::try_from(*b).unwrap_or_default(),
            )))),
            16 => Ok(Some(San::Ip(std::net::IpAddr::from(
                <[u8; 16]>::try_from(*b).unwrap_or_default(),
            )))),
            n => Err(NameError::IpLength(n)),
        },
        GeneralName::Invalid(tag, _) => Err(NameError::MalformedSan(tag.to_string())),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::pem::pem_of;

    const LABELS: &[&str] = &["CERTIFICATE REQUEST"];

    fn block() -> String {
        pem_of("CERTIFICATE REQUEST", &[0x30, 0x00])
    }

    #[test]
    fn whitespace_after_the_end_line_and_text_before_begin_are_accepted() {
        for text in [
            block(),
            format!("{}\n\n  \t\n", block()),
            block().replace('\n', "\r\n"),
            format!("Certificate Request:\n    Data: ...\n{}", block()),
        ] {
            assert_eq!(
                decode_one(text.as_bytes(), LABELS, 1024),
                Ok(vec![0x30, 0x00]),
                "{text:?}"
            );
        }
    }

    #[test]
    fn anything_after_the_end_line_is_refused_csr_gate() {
        for junk in ["junk", "\0", "-----END CERTIFICATE REQUEST-----", "x\n\n"] {
            let text = format!("{}{junk}", block());
            let err = decode_one(text.as_bytes(), LABELS, 1024).unwrap_err();
            assert!(matches!(err, PemError::AfterEnd(_)), "{junk:?}: {err}");
        }
    }

    /// A CSR for `sans` with the given subject, made by rcgen (P-256).
    fn csr_der(subject: rcgen::DistinguishedName, sans: &[&str]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = subject;
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    fn cn(name: &str) -> rcgen::DistinguishedName {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, name);
        dn
    }

    #[test]
    fn the_gate_passes_a_good_request_and_refuses_with_the_matching_variant_csr_gate() {
        let good = csr_der(cn("web.example"), &["web.example"]);
        let checked = check(&good).unwrap();
        assert_eq!(checked.key, KeyKind::P256);
        assert_eq!(checked.sans, vec![San::Dns("web.example".into())]);
        assert_eq!(checked.signature_algorithm, "ecdsa-with-SHA256");
        let pem = pem_of("CERTIFICATE REQUEST", &good);
        assert_eq!(check(pem.as_bytes()).unwrap().sha256, checked.sha256);

        let trailing = [good.clone(), vec![0x05, 0x00]].concat();
        assert_eq!(check(&trailing).unwrap_err(), CsrError::Trailing(2));
        let mut altered = good.clone();
        let at = altered
            .windows(11)
            .position(|w| w == b"web.example")
            .unwrap();
        altered[at] = b'x';
        assert!(matches!(check(&altered), Err(CsrError::Signature(_))));
        assert_eq!(
            check(&csr_der(rcgen::DistinguishedName::new(), &["a.example"])).unwrap_err(),
            CsrError::EmptySubject
        );
        // ACME-FINALIZE: an ACME CSR may have no subject (certbot's); the gate is otherwise
        // the same.
        let acme = check_acme(&csr_der(rcgen::DistinguishedName::new(), &["a.example"])).unwrap();
        assert!(acme.subject.is_empty());
        assert_eq!(acme.sans, vec![San::Dns("a.example".into())]);
        assert!(matches!(check_acme(&altered), Err(CsrError::Signature(_))));
        assert!(matches!(
            check(pem_of("CERTIFICATE", &good).as_bytes()),
            Err(CsrError::Pem(_))
        ));
        assert!(matches!(
            check(b"\x30\x03\x02\x01"),
            Err(CsrError::Syntax(_))
        ));
        assert_eq!(
            check(&csr_der(cn("a\u{202e}b"), &[])).unwrap_err(),
            CsrError::Subject(NameError::Value {
                key: "CN".into(),
                problem: names::ValueProblem::Invisible
            })
        );
    }

    #[test]
    fn refused_signature_algorithms_are_named() {
        assert_eq!(
            signature_allowed("1.2.840.113549.1.1.5").unwrap_err(),
            CsrError::Algorithm {
                name: "sha1WithRSAEncryption",
                oid: "1.2.840.113549.1.1.5".into(),
                why: "SHA-1 is broken"
            }
        );
        assert_eq!(signature_allowed("1.3.101.112"), Ok("Ed25519"));
    }

    #[test]
    fn keys_off_the_allowlist_are_refused_by_kind_csr_gate() {
        use crate::pki::keys::{KeyError, RefusedAlgorithm};
        let csr = |name: &str| {
            let path = format!("{}/testdata/csr/{name}", env!("CARGO_MANIFEST_DIR"));
            check(&std::fs::read(path).unwrap())
        };
        assert_eq!(
            csr("rsa1024-default.pem").unwrap_err(),
            CsrError::Key(KeyError::RsaTooSmall(1024))
        );
        assert_eq!(
            csr("p521-default.pem").unwrap_err(),
            CsrError::Key(KeyError::Curve("1.3.132.0.35".into()))
        );
        assert_eq!(
            csr("dsa-default.pem").unwrap_err(),
            CsrError::Key(KeyError::Algorithm(RefusedAlgorithm::Dsa))
        );
        assert_eq!(
            csr("ed448-default.pem").unwrap_err(),
            CsrError::Key(KeyError::Algorithm(RefusedAlgorithm::Ed448))
        );
        assert_eq!(csr("rsa3072-default.pem").unwrap().key, KeyKind::Rsa(3072));
    }
}
