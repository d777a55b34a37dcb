//! Issuance: a [`Request`] (an identity, a public key, a profile, a validity) becomes a
//! certificate signed by the CA. Pure — the caller has checked the CA's validity and the serial;
//! shared by sign, renew and issue.

use rcgen::{CertificateParams, IsCa, Issuer, KeyIdMethod, SubjectPublicKeyInfo};
use time::{Duration, OffsetDateTime};

use crate::pki::CryptoError;
use crate::pki::ca::CaCert;
use crate::pki::csr::CheckedCsr;
use crate::pki::extensions::Urls;
use crate::pki::hex;
use crate::pki::keys::{self, KeyKind};
use crate::pki::names::{San, Subject};
use crate::pki::profile::{Kind, Profile};
use crate::pki::serial::Serial;

/// What issuance tells the operator about the choices it made. `crate::render` words each
/// one (and escapes what came from a CSR or the command line); the functions here take any
/// `Vec<N>` whose notes can be made from a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `--san` replaced the CSR's SANs: these were not issued.
    SansReplaced(Vec<San>),
    /// The profile issues no SANs of these types: these were not issued.
    SanTypesDropped { profile: String, dropped: Vec<San> },
    /// No SAN was requested: this one was made from the CN.
    SanFromCn(San),
    /// The CN is not among the SANs and was the only attribute: `name` (the first SAN) is
    /// the CN instead.
    CnReplaced { cn: String, name: String },
    /// The CN is not among the SANs and is left out of the subject.
    CnLeftOut { cn: String },
    /// notAfter was clamped to the CA certificate's.
    NotAfterClamped(OffsetDateTime),
    /// A certificate was (or, in a dry run, would be) issued.
    Issued {
        serial: Serial,
        subject: Subject,
        not_after: OffsetDateTime,
    },
}

/// How far notBefore is set back to tolerate clients with slightly slow clocks.
pub const BACKDATE: Duration = Duration::seconds(60);

/// What is to be certified: an identity and a public key.
pub struct Request<'a> {
    pub subject: &'a Subject,
    pub sans: Vec<San>,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: &'a [u8],
    /// The subjectPublicKey bit string content.
    pub subject_public_key: &'a [u8],
    pub key: KeyKind,
    /// The policy: extensions of the profile, validity in days, where CRLs and the CA
    /// certificate are published.
    pub profile: &'a Profile,
    pub days: u32,
    pub urls: &'a Urls,
    /// For the sub-ca profile: what the new CA may do below it.
    pub sub_ca: Option<SubCa>,
}

/// What a subordinate CA may do (SPEC.md SUBCA-*): how many CAs may follow below it, and the
/// names it may certify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubCa {
    pub path_len: u8,
    pub constraints: crate::pki::constraints::Constraints,
}

impl<'a> Request<'a> {
    /// The key and subject of a checked CSR, with the SANs the policy chose.
    pub fn from_csr(
        csr: &'a CheckedCsr,
        sans: Vec<San>,
        profile: &'a Profile,
        days: u32,
        urls: &'a Urls,
    ) -> Request<'a> {
        Request {
            subject: &csr.subject,
            sans,
            spki_der: &csr.spki_der,
            subject_public_key: &csr.subject_public_key,
            key: csr.key,
            profile,
            days,
            urls,
            sub_ca: None,
        }
    }
}

/// The SAN a certificate without any gets from its name (a CSR's CN, `ca issue NAME`): for a
/// TLS server profile `IP:` for an address, else `DNS:` for a host name — single labels
/// (`intranet`, `printer`) too, which are normal in a private PKI; for an S/MIME profile
/// (emailProtection) `email:` for a mailbox. Only SAN types the profile issues.
pub fn default_san(name: &str, profile: &Profile) -> Option<San> {
    let san = if profile.names_hosts() {
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(San::Ip(ip)),
            Err(_) => San::dns(name).ok(),
        }
    } else if profile.has_eku("emailProtection") && name.contains('@') {
        San::email(name).ok()
    } else {
        None
    };
    san.filter(|s| profile.san_types.admits(s))
}

/// Does a certificate with these SANs name a host a TLS client can match (a DNS or IP SAN)?
/// Verifiers (webpki, Go, Python) ignore the CN, so a server certificate needs one.
pub fn names_a_host(sans: &[San]) -> bool {
    sans.iter().any(|s| matches!(s, San::Dns(_) | San::Ip(_)))
}

/// The SANs to issue for a CSR: `--san` replaces the CSR's; a server certificate without any
/// gets its CN when that is a host name or an address.
pub fn choose_sans<N: From<Notice>>(
    csr: &CheckedCsr,
    override_sans: &[San],
    profile: &Profile,
    notes: &mut Vec<N>,
) -> Vec<San> {
    let sans = if override_sans.is_empty() {
        csr.sans.clone()
    } else {
        let dropped: Vec<San> = csr
            .sans
            .iter()
            .filter(|s| !override_sans.contains(s))
            .cloned()
            .collect();
        if !dropped.is_empty() {
            notes.push(Notice::SansReplaced(dropped).into());
        }
        let mut v: Vec<San> = Vec::new();
        for s in override_sans {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
        v
    };
    let mut sans = drop_unused(sans, profile, notes);
    if sans.is_empty()
        && let Some(san) = csr
            .subject
            .common_name()
            .and_then(|cn| default_san(cn, profile))
    {
        notes.push(Notice::SanFromCn(san.clone()).into());
        sans.push(san);
    }
    sans
}

/// The SANs of the types `profile` issues (SPEC.md POLICY-SAN-TYPES): the others are
/// dropped with a note, not refused.
pub fn drop_unused<N: From<Notice>>(
    sans: Vec<San>,
    profile: &Profile,
    notes: &mut Vec<N>,
) -> Vec<San> {
    if profile.kind == Kind::SubCa {
        return sans;
    }
    let (kept, dropped): (Vec<San>, Vec<San>) =
        sans.into_iter().partition(|s| profile.san_types.admits(s));
    if !dropped.is_empty() {
        notes.push(
            Notice::SanTypesDropped {
                profile: profile.name.clone(),
                dropped,
            }
            .into(),
        );
    }
    kept
}

/// The parameters of a self-signed CA certificate (`init`, `renew-ca`): CA:TRUE with
/// `path_len`, keyCertSign + cRLSign + digitalSignature, valid `days` from `now`, the given
/// serial and subject key identifier.
pub fn ca_params(
    subject: rcgen::DistinguishedName,
    now: OffsetDateTime,
    days: u32,
    serial: &Serial,
    path_len: Option<u8>,
    key_id: Vec<u8>,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    params.not_before = now;
    params.not_after = now + Duration::days(i64::from(days));
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => rcgen::BasicConstraints::Constrained(n),
        None => rcgen::BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_id);
    params
}

/// The subject to issue when `--san` replaced the CSR's SANs: a CN is kept only if it is one
/// of the SANs, so the certificate never shows a name it does not certify (SIGN-SAN-CN-KEEP);
/// if dropping it would leave the subject empty, the first SAN's name becomes the CN.
pub fn subject_for_sans<N: From<Notice>>(
    subject: &Subject,
    sans: &[San],
    notes: &mut Vec<N>,
) -> Subject {
    let Some(cn) = subject.common_name() else {
        return subject.clone();
    };
    let certified = sans.iter().any(|s| match s {
        San::Dns(d) => d.eq_ignore_ascii_case(cn),
        San::Ip(ip) => cn.parse::<std::net::IpAddr>().is_ok_and(|c| c == *ip),
        San::Email(e) => e.eq_ignore_ascii_case(cn),
        San::Uri(u) => u == cn,
    });
    if certified {
        return subject.clone();
    }
    let mut kept = Subject(
        subject
            .0
            .iter()
            .filter(|(k, _)| k != "CN")
            .cloned()
            .collect(),
    );
    let first = sans.first().map(|s| match s {
        San::Dns(d) | San::Email(d) | San::Uri(d) => d.clone(),
        San::Ip(ip) => ip.to_string(),
    });
    match (kept.is_empty(), first) {
        (true, Some(name)) => {
            notes.push(
                Notice::CnReplaced {
                    cn: cn.to_string(),
                    name: name.clone(),
                }
                .into(),
            );
            kept.0.push(("CN".into(), name));
        }
        (true, None) => return subject.clone(),
        (false, _) => notes.push(Notice::CnLeftOut { cn: cn.to_string() }.into()),
    }
    kept
}

/// A signed certificate and what the index records of it.
pub struct Issued {
    pub pem: String,
    /// SHA-256 of the DER.
    pub sha256: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Why a request cannot become a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("the subject is empty; fileca requires at least one subject attribute such as CN")]
    EmptySubject,
    #[error("{0}")]
    Subject(crate::pki::names::NameError),
    #[error("SAN {0}")]
    San(crate::pki::names::NameError),
    #[error("the public key: {0}")]
    PublicKey(rcgen::Error),
    /// Signing failed: a bug, not a refusal (`crate::error` reports it as one).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Builds and signs one certificate with serial `serial` at time `now`: notBefore backdated by
/// [`BACKDATE`] (never before the CA's), notAfter clamped to the CA's (with a note). `above`:
/// the constraints of the CAs above `ca` (chain.pem's, nearest first), which a sub-CA's closed
/// name types are written against (NC-CLOSE-ENCODING).
pub fn issue<N: From<Notice>>(
    ca: &CaCert,
    above: &[&crate::pki::constraints::Constraints],
    issuer: &Issuer<'_, &crate::pki::ca::CaKey>,
    req: &Request<'_>,
    serial: &Serial,
    now: OffsetDateTime,
    notes: &mut Vec<N>,
) -> Result<Issued, IssueError> {
    if req.subject.is_empty() {
        return Err(IssueError::EmptySubject);
    }
    let not_before = (now - BACKDATE).max(ca.not_before);
    let mut not_after = now + Duration::days(i64::from(req.days));
    if not_after > ca.not_after {
        notes.push(Notice::NotAfterClamped(ca.not_after).into());
        not_after = ca.not_after;
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = req.subject.to_rcgen().map_err(IssueError::Subject)?;
    params.subject_alt_names = req
        .sans
        .iter()
        .map(|s| s.to_rcgen())
        .collect::<Result<_, _>>()
        .map_err(IssueError::San)?;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.is_ca = match &req.sub_ca {
        Some(sub) => {
            let signers: Vec<&crate::pki::constraints::Constraints> =
                std::iter::once(&ca.constraints)
                    .chain(above.iter().copied())
                    .collect();
            sub.constraints.apply(&mut params, &signers);
            IsCa::Ca(rcgen::BasicConstraints::Constrained(sub.path_len))
        }
        None => IsCa::ExplicitNoCa,
    };
    params.key_usages = req.profile.key_usages(req.key);
    params.extended_key_usages = req.profile.extended_key_usages();
    crate::pki::extensions::apply(&mut params, req.urls, req.profile);
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::PreSpecified(keys::key_id(req.subject_public_key));
    let public_key = SubjectPublicKeyInfo::from_der(req.spki_der).map_err(IssueError::PublicKey)?;
    let cert = params
        .signed_by(&public_key, issuer)
        .map_err(CryptoError::Sign)?;
    notes.push(
        Notice::Issued {
            serial: serial.clone(),
            subject: req.subject.clone(),
            not_after,
        }
        .into(),
    );
    Ok(Issued {
        sha256: hex::sha256(cert.der()),
        pem: cert.pem(),
        not_before,
        not_after,
    })
}
