//! Certification paths (SPEC.md CHAIN-*): from a CA certificate up through the certificates
//! given with it to a self-signed root, each signed by the next. Pure.

use x509_parser::certificate::X509Certificate;

/// Why no path to a root was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    #[error("is self-signed: a root, not a sub-CA (adopt a root with `ca init --import-cert`)")]
    SelfSigned,
    #[error(
        "does not chain to a self-signed root: no certificate given is the issuer {issuer} (add it with --chain FILE or after the certificate in the same file)"
    )]
    NoIssuer { issuer: String },
    #[error("the chain is longer than {0} certificates")]
    TooLong(usize),
    #[error("{0}")]
    Parse(crate::pki::pem::PemError),
    #[error(
        "{issuer} allows {allowed} CA certificate(s) below it (pathLenConstraint); this one would be number {below}"
    )]
    PathLen {
        issuer: String,
        allowed: u32,
        below: usize,
    },
    #[error("{cert} has a critical extension fileca does not know ({oid}); verifiers reject it")]
    UnknownCritical { cert: String, oid: String },
}

/// Refuses a certificate with a critical extension x509-parser does not know: every verifier
/// rejects a path through it.
fn check_critical(cert: &X509Certificate<'_>) -> Result<(), ChainError> {
    for ext in cert.extensions() {
        if ext.critical
            && matches!(
                ext.parsed_extension(),
                x509_parser::extensions::ParsedExtension::UnsupportedExtension { .. }
            )
        {
            return Err(ChainError::UnknownCritical {
                cert: crate::pki::names::name_shown(cert.subject()),
                oid: ext.oid.to_id_string(),
            });
        }
    }
    Ok(())
}

/// Why one link of a certification path fails at a given time (`ca verify`, SPEC.md
/// VERIFY-PATH). The link is an issuer: the certificate above the one it signs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkProblem {
    #[error("expired on {}", crate::pki::rfc3339::fmt(*.0))]
    Expired(time::OffsetDateTime),
    #[error("not valid before {}", crate::pki::rfc3339::fmt(*.0))]
    NotYetValid(time::OffsetDateTime),
    #[error(
        "its key does not verify the signature of {below}, or its subject is not that certificate's issuer"
    )]
    DoesNotSign { below: String },
    #[error("the last certificate of the path is not self-signed: chain.pem does not reach a root")]
    NoRoot,
    #[error("{0}")]
    Parse(crate::pki::pem::PemError),
}

/// Checks the path from `cert` (DER) up through `issuers` (DER, the next issuer first, the
/// root last) at `now`: each issuer's subject is the issuer of the certificate below it and
/// its key verifies that certificate's signature, each issuer is valid at `now`, and the
/// last is self-signed. Returns one result per issuer.
pub fn check_links(
    cert: &[u8],
    issuers: &[&[u8]],
    now: time::OffsetDateTime,
) -> Vec<Result<(), LinkProblem>> {
    use crate::pki::pem::certificate as parse;
    let mut below = match parse(cert) {
        Ok(c) => c,
        Err(e) => {
            return issuers
                .iter()
                .map(|_| Err(LinkProblem::Parse(e.clone())))
                .collect();
        }
    };
    let mut out = Vec::with_capacity(issuers.len());
    for (i, der) in issuers.iter().enumerate() {
        let issuer = match parse(der) {
            Ok(c) => c,
            Err(e) => {
                out.push(Err(LinkProblem::Parse(e)));
                continue;
            }
        };
        let (from, until) = (
            issuer.validity().not_before.to_datetime(),
            issuer.validity().not_after.to_datetime(),
        );
        let result = if below.issuer().as_raw() != issuer.subject().as_raw()
            || below.verify_signature(Some(issuer.public_key())).is_err()
        {
            Err(LinkProblem::DoesNotSign {
                below: crate::pki::names::name_shown(below.subject()),
            })
        } else if now > until {
            Err(LinkProblem::Expired(until))
        } else if now < from {
            Err(LinkProblem::NotYetValid(from))
        } else if i + 1 == issuers.len() && !self_signed(&issuer) {
            Err(LinkProblem::NoRoot)
        } else {
            Ok(())
        };
        out.push(result);
        below = issuer;
    }
    out
}

/// The longest path accepted, CA certificate excluded.
pub const MAX_DEPTH: usize = 8;

/// Is `cert` self-signed (its issuer is its subject and its own key verifies it)?
pub fn self_signed(cert: &X509Certificate<'_>) -> bool {
    cert.issuer().as_raw() == cert.subject().as_raw() && cert.verify_signature(None).is_ok()
}

/// The issuers of `cert` (DER) among `pool`, in order up to and including a self-signed root:
/// each is a CA certificate whose subject is the previous one's issuer and whose key verifies
/// its signature.
pub fn to_root(cert: &[u8], pool: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, ChainError> {
    let first = crate::pki::pem::certificate(cert).map_err(ChainError::Parse)?;
    if self_signed(&first) {
        return Err(ChainError::SelfSigned);
    }
    check_critical(&first)?;
    let parsed: Vec<(Vec<u8>, X509Certificate<'_>)> = pool
        .iter()
        .filter_map(|d| Some((d.clone(), crate::pki::pem::certificate(d).ok()?)))
        .collect();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut current = first;
    loop {
        if path.len() >= MAX_DEPTH {
            return Err(ChainError::TooLong(MAX_DEPTH));
        }
        let issuer = parsed.iter().find(|(der, c)| {
            c.subject().as_raw() == current.issuer().as_raw()
                && crate::pki::ca::CaCert::parse(der).is_ok()
                && current.verify_signature(Some(c.public_key())).is_ok()
        });
        let Some((der, c)) = issuer else {
            return Err(ChainError::NoIssuer {
                issuer: crate::pki::names::name_shown(current.issuer()),
            });
        };
        check_critical(c)?;
        // The CA being installed and every CA between it and this issuer follow it.
        let below = path.len() + 1;
        if let Some(allowed) = c
            .basic_constraints()
            .ok()
            .flatten()
            .and_then(|bc| bc.value.path_len_constraint)
            && (allowed as usize) < below
        {
            return Err(ChainError::PathLen {
                issuer: crate::pki::names::name_shown(c.subject()),
                allowed,
                below,
            });
        }
        path.push(der.clone());
        if self_signed(c) {
            return Ok(path);
        }
        current = c.clone();
    }
}
