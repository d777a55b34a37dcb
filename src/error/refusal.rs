//! Why a plan refuses the change it was asked for: [`Refusal`], which every command's plan
//! returns (exit 3, nothing written).

use crate::pki::reason::Reason;
use crate::pki::serial::Serial;

/// Why a plan refuses the change it was asked for (exit 3, nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `revoke --cert FILE` of a certificate index.log does not record.
    #[error(
        "{} is not a certificate index.log records (serial {serial})",
        crate::pki::text::escape(&.path.display().to_string())
    )]
    NotRecorded {
        path: std::path::PathBuf,
        serial: Serial,
    },
    /// `revoke --cert ca.crt`: the CA's own certificate, which it did not issue (REVOKE-REFUSE).
    #[error(
        "{} is this CA's own certificate (ca.crt), not one it issued: a sub-CA is revoked by \
         its parent (`ca --dir PARENT revoke SERIAL`); a root is retired by no longer trusting it",
        crate::pki::text::escape(&.0.display().to_string())
    )]
    OwnCaCert(std::path::PathBuf),
    #[error(
        "removeFromCRL is only meaningful in delta CRLs (RFC 5280 5.3.1), which fileca does not issue; it cannot be a reason to revoke"
    )]
    RemoveFromCrl,
    #[error("no certificate with serial {serial} in {}", .log.display())]
    UnknownSerial {
        serial: Serial,
        log: std::path::PathBuf,
    },
    #[error(
        "certificate {serial} is already revoked (since {}, reason {})",
        crate::pki::rfc3339::fmt(*at),
        reason.typed()
    )]
    AlreadyRevoked {
        serial: Serial,
        at: time::OffsetDateTime,
        reason: Reason,
    },
    /// `revoke --reason certificateHold` of a certificate already on hold.
    #[error(
        "certificate {serial} is already on hold (since {}); release it with `ca unhold {serial}`, or revoke it for good with another reason",
        crate::pki::rfc3339::fmt(*at)
    )]
    AlreadyHeld {
        serial: Serial,
        at: time::OffsetDateTime,
    },
    /// `ca unhold` of a certificate that is not on hold (SPEC.md UNHOLD).
    #[error(
        "certificate {serial} is not on hold: {standing}; only a certificateHold can be released"
    )]
    NotOnHold { serial: Serial, standing: String },
    #[error(
        "certificate {0} was revoked for keyCompromise: its key is not certified again; renew it with a new key (--csr FILE)"
    )]
    CompromisedKey(Serial),
    /// `renew --csr` of a certificate revoked for keyCompromise, with a CSR of that same key.
    #[error(
        "certificate {0} was revoked for keyCompromise, and the CSR given with --csr holds that same key: it is not certified again; make a new key and a CSR for it"
    )]
    CompromisedKeyInCsr(Serial),
    #[error(
        "a {profile} certificate needs a DNS or IP subjectAltName (TLS clients ignore the CN), and {subject} names no host: give one with --san DNS:NAME, or use --profile client"
    )]
    NoHostName { profile: String, subject: String },
    /// What the CA's policy does not allow (SPEC.md POLICY-GATE).
    #[error("{0}; nothing was issued")]
    Policy(#[from] super::policy::PolicyRefusal),
    #[error("the serial counter is exhausted (20 octets); create a new CA")]
    SerialsExhausted,
    /// A name the CA (or a CA above it) may not certify (SPEC.md NC-GATE).
    #[error("{0}; nothing was issued")]
    Constraint(#[from] crate::pki::constraints::Violation),
    /// NC-SUBJECT: the CN, read as a host name or an address, is outside the constraints.
    #[error(
        "{violation} (it is the subject's CN={cn}, which verifiers read as a host name or \
         address; Java does for any CN that is a valid DNS name when there is no DNS SAN): give \
         --subject a CN that is not a host name, e.g. \"CN={cn} ({profile})\", or one within \
         the constraints"
    )]
    CnConstraint {
        cn: String,
        profile: String,
        violation: Box<crate::pki::constraints::Violation>,
    },
    /// NC-SUBJECT: a sub-CA's CN, read as a host name or an address, is outside the
    /// constraints of a CA above it.
    #[error(
        "{violation} (it is the sub-CA's CN={cn}, which verifiers read as a host name or \
         address: Java does for any CN that is a valid DNS name, and would reject every \
         certificate below this sub-CA): give --subject a CN that is not a host name, e.g. \
         \"CN={cn} CA\""
    )]
    CaCnConstraint {
        cn: String,
        violation: Box<crate::pki::constraints::Violation>,
    },
    /// A sub-CA permitted names its parent may not certify (SUBCA-NC).
    #[error("--permit {subtree} is not within the names {ca} may certify; nothing was issued")]
    SubtreeOutside { subtree: String, ca: String },
    /// A sub-CA path length the parent's does not allow (SUBCA-PATHLEN).
    #[error(
        "{ca} has pathLenConstraint {parent}: {}",
        if *.parent == 0 { "it may sign no CA certificates".to_string() } else { format!("a sub-CA's --path-len must be below it (at most {})", .parent - 1) }
    )]
    PathLen { ca: String, parent: u32 },
    /// `renew-ca` of a sub-CA (self-signing would turn it into a root).
    #[error(
        "this CA's certificate is issued by a parent CA: renew it with `ca renew-ca --csr-out FILE`, have the parent sign the request with --profile sub-ca, then `ca install-ca CERT`"
    )]
    RenewCaSubCa,
    /// `install-ca` of the certificate ca.crt already is.
    #[error("{} is already this CA's certificate; nothing was changed", crate::pki::text::escape(&.0.display().to_string()))]
    AlreadyInstalled(std::path::PathBuf),
    /// `install-ca` of a certificate with another subject: what this CA issued would no
    /// longer chain to it.
    #[error(
        "{} has another subject than ca.crt; certificates issued before would no longer verify (renew with `ca renew-ca --csr-out`)",
        crate::pki::text::escape(&.0.display().to_string())
    )]
    SubjectChanged(std::path::PathBuf),
    /// `renew` of a sub-CA certificate (its limits are the parent's decision each time).
    #[error(
        "{0} is a sub-CA certificate; renew it by signing its CSR again with --profile sub-ca (and its --path-len, --permit, --exclude)"
    )]
    RenewSubCa(Serial),
    #[error("the CRL number is exhausted (20 octets)")]
    CrlNumbersExhausted,
    /// Nothing is signed outside the CA certificate's validity.
    #[error("the CA certificate {} {reason}", .cert.display())]
    CaNotValid {
        cert: std::path::PathBuf,
        reason: crate::pki::ca::NotValid,
    },
}
