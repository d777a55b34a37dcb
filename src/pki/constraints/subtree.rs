//! One subtree of a name constraint: how `--permit`/`--exclude` spell it, and whether it covers
//! a name or lies within another subtree (RFC 5280 4.2.1.10 matching, as OpenSSL and Go apply
//! it).

use std::net::IpAddr;

use crate::pki::names::San;

/// One subtree: a base name of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subtree {
    /// `lab.test`, `.lab.test`, or `` (every DNS name). Lowercase.
    Dns(String),
    /// A network: address and prefix length.
    Ip(IpAddr, u8),
    /// `lab.test`, `.lab.test`, `user@lab.test`, or `` (every address). Lowercase domain.
    Email(String),
    /// A URI's host (RFC 5280 4.2.1.10, as OpenSSL applies it): `lab.test` that host only,
    /// `.lab.test` hosts below it. Lowercase.
    Uri(String),
}

/// Why a `--permit`/`--exclude` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("{0:?} is not TYPE:NAME (DNS:lab.test, IP:10.0.0.0/8, email:lab.test, URI:.lab.test)")]
    Form(String),
    #[error("{0:?}: not a DNS name")]
    Dns(String),
    #[error(
        "{given:?}: RFC 5280 has no \"only below\" DNS constraint (verifiers such as pyca \
         reject the leading dot); DNS:{} covers that name and every name below it",
        given.split_once(':').map_or("", |(_, v)| v.trim_start_matches('.'))
    )]
    DnsBelowOnly { given: String },
    #[error("{0:?}: not an address/prefix such as 10.0.0.0/8 or fd00::/8")]
    Ip(String),
    #[error(
        "{given:?} has bits set beyond its prefix (a verifier compares only the network): \
         write the network, IP:{network}"
    )]
    IpHostBits { given: String, network: String },
    #[error("{0:?}: not a host, .domain or mailbox")]
    Email(String),
    #[error("{0:?}: not a host or .domain (URI:lab.test, URI:.lab.test)")]
    Uri(String),
}

impl Subtree {
    /// [`Subtree::parse`] as typed by an operator (`--permit`, `--exclude`): an address with
    /// bits beyond its prefix (`IP:10.0.0.1/8`) is refused rather than silently made the
    /// network (NC-IP-EXACT) — it may be a mistyped prefix.
    pub fn parse_exact(s: &str) -> Result<Subtree, ConstraintError> {
        let sub = Subtree::parse(s)?;
        if let Subtree::Ip(net, prefix) = &sub {
            let typed = s.split_once(':').map_or("", |(_, v)| v);
            let addr = typed.split_once('/').map_or(typed, |(a, _)| a);
            if addr.parse::<IpAddr>().ok() != Some(*net) {
                return Err(ConstraintError::IpHostBits {
                    given: s.to_string(),
                    network: format!("{net}/{prefix}"),
                });
            }
        }
        Ok(sub)
    }

    /// Parses `DNS:…`, `IP:addr/prefix` or `email:…` (type case-insensitive).
    pub fn parse(s: &str) -> Result<Subtree, ConstraintError> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| ConstraintError::Form(s.to_string()))?;
        match kind.to_ascii_lowercase().as_str() {
            "dns" => {
                // NC-DNS-FORM: RFC 5280 defines no ".domain" dNSName constraint (pyca rejects
                // every leaf under one, pkilint calls it invalid syntax); `lab.test` covers the
                // name and every name below it. A certificate that holds one (an older fileca)
                // is still read (`of_certificate`).
                if value.starts_with('.') {
                    return Err(ConstraintError::DnsBelowOnly {
                        given: s.to_string(),
                    });
                }
                if value.starts_with("*.") || San::dns(value).is_err() {
                    return Err(ConstraintError::Dns(s.to_string()));
                }
                Ok(Subtree::Dns(value.to_ascii_lowercase()))
            }
            "ip" => {
                let bad = || ConstraintError::Ip(s.to_string());
                let (addr, prefix) = value.split_once('/').ok_or_else(bad)?;
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if prefix > max {
                    return Err(bad());
                }
                Ok(Subtree::Ip(network(addr, prefix), prefix))
            }
            "email" => {
                let bad = || ConstraintError::Email(s.to_string());
                let domain = match value.rsplit_once('@') {
                    Some((local, domain)) if !local.is_empty() => domain,
                    Some(_) => return Err(bad()),
                    None => value.strip_prefix('.').unwrap_or(value),
                };
                if San::dns(domain).is_err() || domain.starts_with("*.") {
                    return Err(bad());
                }
                // The host part is case-insensitive, a mailbox's local part is not.
                Ok(Subtree::Email(email_base(value)))
            }
            "uri" => {
                let bare = value.strip_prefix('.').unwrap_or(value);
                if bare.is_empty() || bare.starts_with("*.") || San::dns(bare).is_err() {
                    return Err(ConstraintError::Uri(s.to_string()));
                }
                Ok(Subtree::Uri(value.to_ascii_lowercase()))
            }
            _ => Err(ConstraintError::Form(s.to_string())),
        }
    }

    /// Does `name` fall within this subtree? `None` when it is of another type.
    pub fn covers(&self, name: &San) -> Option<bool> {
        match (self, name) {
            (Subtree::Dns(base), San::Dns(n)) => Some(dns_within(&n.to_ascii_lowercase(), base)),
            (Subtree::Ip(net, prefix), San::Ip(a)) => Some(match (net, a) {
                (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                    network(*a, *prefix) == *net
                }
                _ => false,
            }),
            (Subtree::Email(base), San::Email(m)) => Some(email_within(m, base)),
            (Subtree::Uri(base), San::Uri(u)) => {
                Some(uri_host(u).is_some_and(|h| match base.strip_prefix('.') {
                    Some(_) => h.ends_with(base.as_str()),
                    None => h == *base,
                }))
            }
            _ => None,
        }
    }

    /// Is every name this subtree covers also covered by `outer`?
    pub fn within(&self, outer: &Subtree) -> bool {
        match (self, outer) {
            (Subtree::Dns(inner), Subtree::Dns(base)) => {
                let bare = inner.strip_prefix('.').unwrap_or(inner);
                // `.x` (only below x) lies within `x` and within `.x`; `x` only within `x` or
                // what covers x itself.
                if inner.starts_with('.') && base.strip_prefix('.') == Some(bare) {
                    return true;
                }
                !bare.is_empty() && dns_within(bare, base) || base.is_empty()
            }
            (Subtree::Uri(inner), Subtree::Uri(base)) => {
                inner == base || base.starts_with('.') && inner.ends_with(base.as_str())
            }
            (Subtree::Ip(inner, ip), Subtree::Ip(outer, op)) => {
                ip >= op && inner.is_ipv4() == outer.is_ipv4() && network(*inner, *op) == *outer
            }
            (Subtree::Email(inner), Subtree::Email(base)) => {
                if base.is_empty() || inner == base {
                    return true;
                }
                match inner.rsplit_once('@') {
                    Some(_) => email_within(inner, base),
                    None if base.contains('@') => false,
                    None => {
                        let bare = inner.strip_prefix('.').unwrap_or(inner);
                        base.starts_with('.') && bare.ends_with(base.as_str())
                            || (inner.starts_with('.')
                                && base.starts_with('.')
                                && inner.ends_with(base.as_str()))
                    }
                }
            }
            _ => false,
        }
    }

    /// The `--permit`/`--exclude` spelling (the empty subtrees that close a type: `DNS:(every
    /// name)`, `email:(every address)`).
    pub fn spelling(&self) -> String {
        match self {
            Subtree::Dns(d) if d.is_empty() => "DNS:(every name)".into(),
            Subtree::Email(e) if e.is_empty() => "email:(every address)".into(),
            Subtree::Dns(d) => format!("DNS:{d}"),
            Subtree::Ip(a, p) => format!("IP:{a}/{p}"),
            Subtree::Email(e) => format!("email:{e}"),
            Subtree::Uri(u) => format!("URI:{u}"),
        }
    }

    pub(super) fn kind(&self) -> u8 {
        match self {
            Subtree::Dns(_) => 0,
            Subtree::Ip(..) => 1,
            Subtree::Email(_) => 2,
            Subtree::Uri(_) => 3,
        }
    }
}

/// `addr` with the bits past `prefix` cleared.
pub(super) fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// RFC 5280 DNS matching: `base` covers itself and names below it; `.base` only names below.
pub(super) fn dns_within(name: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    match base.strip_prefix('.') {
        Some(_) => name.ends_with(base),
        None => name == base || name.ends_with(&format!(".{base}")),
    }
}

/// A URI's host as OpenSSL takes it for name constraints: after `scheme://`, up to `:` or
/// `/`, lowercased; `None` without `://` or a host, or with characters a DNS host has not
/// (userinfo, `?`, `#`, brackets): such a URI is refused under URI constraints rather than
/// judged differently than verifiers would.
pub(super) fn uri_host(uri: &str) -> Option<String> {
    // OpenSSL: the first `:` must start `://`.
    let (scheme, rest) = uri.split_once(':')?;
    let rest = rest.strip_prefix("//")?;
    if scheme.is_empty() {
        return None;
    }
    // RFC 3986: the authority ends at `/`, `?` or `#`; no userinfo; the host ends at `:`.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return None;
    }
    let host = authority.split(':').next().unwrap_or("");
    // OpenSSL: the host ends at the first `:` anywhere, else at the first `/`. Both readings
    // must agree, or verifiers and fileca would judge different hosts.
    let openssl_host = match rest.find(':') {
        Some(i) => &rest[..i],
        None => rest.split('/').next().unwrap_or(""),
    };
    let plain = !host.is_empty()
        && host == openssl_host
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    plain.then(|| host.to_ascii_lowercase())
}

/// RFC 5280 email matching on a mailbox `m`.
/// An email subtree as stored: the host lowercase, a mailbox's local part as it is.
pub(super) fn email_base(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((local, host)) => format!("{local}@{}", host.to_ascii_lowercase()),
        None => value.to_ascii_lowercase(),
    }
}

/// The local part is compared exactly (RFC 5280 4.2.1.10: it is case-sensitive), the host
/// without regard to case.
pub(super) fn email_within(m: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    let Some((local, host)) = m.rsplit_once('@') else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    if let Some((base_local, base_host)) = base.rsplit_once('@') {
        return local == base_local && host.eq_ignore_ascii_case(base_host);
    }
    match base.strip_prefix('.') {
        Some(_) => host.ends_with(base),
        None => host == base,
    }
}

/// The names a DNS wildcard `*.S` stands for include `L.S` for every label L: an excluded
/// subtree `L.S` (without a leading dot) is one of them, and OpenSSL and GnuTLS would accept
/// the wildcard certificate for it (NC-WILDCARD).
pub(super) fn wildcard_reaches(name: &str, excluded: &str) -> bool {
    let Some(parent) = name.strip_prefix("*.") else {
        return false;
    };
    !excluded.starts_with('.')
        && excluded
            .split_once('.')
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(parent))
}
