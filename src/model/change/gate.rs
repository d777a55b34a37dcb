//! The name-constraint gate of an issuance (SPEC.md NC-GATE): a request checked against the
//! constraints of this CA and of every CA above it, and the names a CN stands for.

use super::Refusal;
use crate::error::{Error, Result};
use crate::pki::issuance::Request;

/// The gate of a CA's limits (SPEC.md NC-GATE, SUBCA-*): every SAN — and a server profile's
/// CN when it is a host name or address — within the name constraints of this CA and of
/// every CA above it (`cas`: this CA first, then chain.pem's); a sub-CA's path length below
/// this CA's and its permitted names within every one's.
pub fn check_constraints(cas: &[&crate::pki::ca::CaCert], request: &Request<'_>) -> Result<()> {
    for (i, ca) in cas.iter().enumerate() {
        check_one(ca, request, i == 0)?;
    }
    Ok(())
}

/// [`check_constraints`] for one CA; `own`: the CA that signs (its path length applies).
fn check_one(ca: &crate::pki::ca::CaCert, request: &Request<'_>, own: bool) -> Result<()> {
    if let Some(sub) = &request.sub_ca {
        if let Some(parent) = ca.path_len
            && own
            && u32::from(sub.path_len) >= parent
        {
            return Err(Refusal::PathLen {
                ca: ca.subject_shown.clone(),
                parent,
            }
            .into());
        }
        ca.constraints.contains(&sub.constraints).map_err(|s| {
            Error::from(Refusal::SubtreeOutside {
                subtree: s.spelling(),
                ca: ca.subject_shown.clone(),
            })
        })?;
        // NC-SUBJECT for a sub-CA: it has no SANs, so Java reads a CN that is a valid DNS
        // name (`CN=Int`) as one and checks it against the constraints above — every
        // certificate below such a sub-CA then fails Java's validation.
        let cn = request.subject.common_name().unwrap_or_default();
        for name in cn_names(cn, true) {
            ca.constraints
                .allows(&name, &ca.subject_shown)
                .map_err(|violation| Refusal::CaCnConstraint {
                    cn: crate::term::escape(cn),
                    violation: Box::new(violation),
                })?;
        }
        return Ok(());
    }
    if ca.constraints.is_empty() {
        return Ok(());
    }
    // What verifiers check besides the SANs (NC-SUBJECT): a CN that looks like a host name
    // or an address, and an emailAddress attribute, as an email address.
    let no_dns_san = !request
        .sans
        .iter()
        .any(|s| matches!(s, crate::pki::names::San::Dns(_)));
    let cn: Vec<crate::pki::names::San> = match request.profile.kind {
        crate::pki::profile::Kind::SubCa => Vec::new(),
        _ => request
            .subject
            .common_name()
            .map(|cn| cn_names(cn, no_dns_san))
            .unwrap_or_default(),
    };
    let email = request
        .subject
        .0
        .iter()
        .find(|(k, _)| k == "emailAddress")
        .map(|(_, v)| crate::pki::names::San::Email(v.clone()));
    for name in request.sans.iter().chain(email.as_ref()) {
        ca.constraints
            .allows(name, &ca.subject_shown)
            .map_err(Refusal::Constraint)?;
    }
    for name in &cn {
        ca.constraints
            .allows(name, &ca.subject_shown)
            .map_err(|violation| Refusal::CnConstraint {
                cn: crate::term::escape(request.subject.common_name().unwrap_or_default()),
                profile: crate::term::escape(&request.profile.name),
                violation: Box::new(violation),
            })?;
    }
    Ok(())
}

/// The names a CN is gated as against name constraints (NC-SUBJECT), whether or not there
/// are SANs: an address as that address; one with a dot made of host characters as a DNS
/// name (clients that still read the CN take it for one: `CN=evil.com` beside
/// `DNS:a.lab.test` was issued under `DNS:lab.test`, #24); and, when there is no DNS SAN, an
/// address or a single label (`laptop`) as a DNS name too — OpenSSL and GnuTLS check the CN
/// as one then, and Java reads any CN that is a valid DNS name, so `issue laptop --profile
/// client` under a DNS-constrained CA failed Java's check while OpenSSL accepted it.
pub fn cn_names(cn: &str, no_dns_san: bool) -> Vec<crate::pki::names::San> {
    use crate::pki::names::San;
    let mut names = Vec::new();
    let address = cn.parse::<std::net::IpAddr>().ok();
    if let Some(a) = address {
        names.push(San::Ip(a));
    }
    let label = !cn.is_empty()
        && cn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    match cn_as_dns(cn) {
        Some(dns) if address.is_none() || no_dns_san => names.push(dns),
        None if label && no_dns_san => names.push(San::Dns(cn.to_ascii_lowercase())),
        _ => {}
    }
    names
}

pub use crate::pki::names::cn_as_dns;
