//! Name constraints (RFC 5280 4.2.1.10): what a CA may certify, as its certificate says and as
//! the gate enforces before anything is signed (SPEC.md NC-*). Pure.
//!
//! Semantics as OpenSSL and Go apply them: `DNS:lab.test` covers lab.test and every name below
//! it (`DNS:.lab.test`, only the names below it, is read from older certificates but not
//! written: RFC 5280 does not define it), an empty DNS constraint every name;
//! `IP:10.0.0.0/8` the addresses of that network (same family); `email:lab.test` the
//! mailboxes at that host, `email:.lab.test` those of hosts below it, `email:a@lab.test` that
//! mailbox. A name is allowed when it matches no excluded subtree and — if any subtree of its
//! type is permitted — at least one permitted subtree. Permitted subtrees constrain only the
//! types they list, so when some type is permitted, [`Constraints::closed`] excludes every
//! type that is not (the CA/Browser Forum's "technically constrained" rule).

use std::net::IpAddr;

/// The reserved name (RFC 6761 6.4) under which a closed DNS or email type is written as a
/// permitted subtree.
const CLOSED: &str = "closed.invalid";
/// The iPAddress subtree that closes addresses when no CA above permits any
/// (NC-CLOSE-ENCODING): the limited broadcast address, never a host's.
const CLOSED_IP: [u8; 4] = [255; 4];

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

    /// rcgen's form; `None` for a URI subtree, which rcgen cannot write (see
    /// [`Constraints::apply`]).
    fn to_rcgen(&self) -> Option<rcgen::GeneralSubtree> {
        Some(match self {
            Subtree::Uri(_) => return None,
            Subtree::Dns(d) => rcgen::GeneralSubtree::DnsName(d.clone()),
            Subtree::Email(e) => rcgen::GeneralSubtree::Rfc822Name(e.clone()),
            Subtree::Ip(IpAddr::V4(a), p) => {
                rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_v4_prefix(a.octets(), *p))
            }
            Subtree::Ip(IpAddr::V6(a), p) => {
                rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_v6_prefix(a.octets(), *p))
            }
        })
    }

    /// The GeneralName of a GeneralSubtree's base (RFC 5280 4.2.1.6), DER.
    fn write_base(&self, w: yasna::DERWriter<'_>) {
        use yasna::Tag;
        match self {
            Subtree::Dns(d) => w.write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(d)),
            Subtree::Email(e) => {
                w.write_tagged_implicit(Tag::context(1), |w| w.write_ia5_string(e))
            }
            Subtree::Uri(u) => w.write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(u)),
            Subtree::Ip(addr, prefix) => {
                let (mut bytes, bits) = match addr {
                    IpAddr::V4(a) => (a.octets().to_vec(), 32u32),
                    IpAddr::V6(a) => (a.octets().to_vec(), 128u32),
                };
                let mask = u128::MAX
                    .checked_shl(bits - u32::from(*prefix))
                    .unwrap_or(0)
                    .to_be_bytes();
                let len = (bits / 8) as usize;
                // The mask is the low `bits` of the shifted u128, big-endian.
                bytes.extend_from_slice(&mask[16 - len..]);
                w.write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&bytes))
            }
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Subtree::Dns(_) => 0,
            Subtree::Ip(..) => 1,
            Subtree::Email(_) => 2,
            Subtree::Uri(_) => 3,
        }
    }
}

/// `addr` with the bits past `prefix` cleared.
fn network(addr: IpAddr, prefix: u8) -> IpAddr {
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
fn dns_within(name: &str, base: &str) -> bool {
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
fn uri_host(uri: &str) -> Option<String> {
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
fn email_base(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((local, host)) => format!("{local}@{}", host.to_ascii_lowercase()),
        None => value.to_ascii_lowercase(),
    }
}

/// The local part is compared exactly (RFC 5280 4.2.1.10: it is case-sensitive), the host
/// without regard to case.
fn email_within(m: &str, base: &str) -> bool {
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
fn wildcard_reaches(name: &str, excluded: &str) -> bool {
    let Some(parent) = name.strip_prefix("*.") else {
        return false;
    };
    !excluded.starts_with('.')
        && excluded
            .split_once('.')
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(parent))
}

/// A CA's name constraints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    pub permitted: Vec<Subtree>,
    pub excluded: Vec<Subtree>,
}

/// A name a CA may not certify, and the subtree that decides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("{name} is outside the permitted names of {ca} ({})", spell(.permitted))]
    NotPermitted {
        name: String,
        ca: String,
        permitted: Vec<Subtree>,
    },
    #[error(
        "{name}: {ca} has name constraints but none for URIs, which no verifier would then check; fileca issues no URI under it (constrain URIs too: --permit URI:.lab.test)"
    )]
    Uri { name: String, ca: String },
    #[error(
        "{name}: {ca} constrains URIs by their host, and this URI has no plain host (scheme://host[:port]/…) a verifier could check"
    )]
    UriNoHost { name: String, ca: String },
    #[error(
        "{name}: {ca} issues no {kind} (its name constraints close them: only the types it permits)"
    )]
    Closed {
        name: String,
        ca: String,
        kind: &'static str,
    },
    #[error("{name} is inside the excluded {} of {ca}", .excluded.spelling())]
    Excluded {
        name: String,
        ca: String,
        excluded: Subtree,
    },
}

fn spell(subtrees: &[Subtree]) -> String {
    subtrees
        .iter()
        .map(Subtree::spelling)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Constraints {
    /// No constraints at all?
    pub fn is_empty(&self) -> bool {
        self.permitted.is_empty() && self.excluded.is_empty()
    }

    /// The operator's subtrees, closed: when some type is permitted, every type not permitted
    /// is excluded whole (DNS ``, IP `0.0.0.0/0` and `::/0`, email ``), so the CA cannot issue
    /// a name of a type nobody thought of.
    pub fn closed(permitted: Vec<Subtree>, mut excluded: Vec<Subtree>) -> Constraints {
        if !permitted.is_empty() {
            let has = |k: u8| permitted.iter().any(|s| s.kind() == k);
            for kind in [NameKind::Dns, NameKind::Ip, NameKind::Email] {
                if !has(kind.code()) {
                    excluded.extend(kind.whole());
                }
            }
        }
        Constraints {
            permitted,
            excluded,
        }
    }

    /// Are addresses of both families excluded whole (`0.0.0.0/0` and `::/0`)?
    fn closes_ip(&self) -> bool {
        let whole = |v4: bool| {
            self.excluded
                .iter()
                .any(|s| matches!(s, Subtree::Ip(a, 0) if a.is_ipv4() == v4))
        };
        whole(true) && whole(false)
    }

    /// NC-URI: constrained, but with no URI subtree — so no URI may be issued (verifiers
    /// would accept any host in it).
    fn closes_uris(&self) -> bool {
        !self.is_empty()
            && !self
                .permitted
                .iter()
                .chain(&self.excluded)
                .any(|s| matches!(s, Subtree::Uri(_)))
    }

    /// Checks one name; `ca` names the CA whose constraint it is, for the message.
    pub fn allows(&self, name: &San, ca: &str) -> Result<(), Violation> {
        // NC-URI: a constrained CA without URI subtrees issues no URI (verifiers would accept
        // any host in it); with URI subtrees, a URI needs a host they can check.
        if let San::Uri(u) = name
            && !self.is_empty()
        {
            if self.closes_uris() {
                return Err(Violation::Uri {
                    name: name.to_string(),
                    ca: ca.to_string(),
                });
            }
            if uri_host(u).is_none() {
                return Err(Violation::UriNoHost {
                    name: name.to_string(),
                    ca: ca.to_string(),
                });
            }
        }
        if let San::Dns(d) = name
            && let Some(ex) = self.excluded.iter().find(|s| match s {
                Subtree::Dns(e) => wildcard_reaches(d, e),
                _ => false,
            })
        {
            return Err(Violation::Excluded {
                name: name.to_string(),
                ca: ca.to_string(),
                excluded: ex.clone(),
            });
        }
        if let Some(kind) = self.closed_kinds().into_iter().find(|k| k.holds(name)) {
            return Err(Violation::Closed {
                name: name.to_string(),
                ca: ca.to_string(),
                kind: kind.plural(),
            });
        }
        if let Some(ex) = self.excluded.iter().find(|s| s.covers(name) == Some(true)) {
            return Err(Violation::Excluded {
                name: name.to_string(),
                ca: ca.to_string(),
                excluded: ex.clone(),
            });
        }
        let same_type: Vec<&Subtree> = self
            .permitted
            .iter()
            .filter(|s| s.covers(name).is_some())
            .collect();
        if !same_type.is_empty() && !same_type.iter().any(|s| s.covers(name) == Some(true)) {
            return Err(Violation::NotPermitted {
                name: name.to_string(),
                ca: ca.to_string(),
                permitted: same_type.into_iter().cloned().collect(),
            });
        }
        Ok(())
    }

    /// Puts the critical nameConstraints extension into `params` (nothing without
    /// constraints): rcgen's when it can write every subtree, else written here (rcgen has no
    /// URI subtrees), the same DER structure (RFC 5280 4.2.1.10).
    /// `above`: the constraints of the CA that signs, then of the CAs above it (none for a
    /// root), for [`Constraints::written`].
    pub fn apply(&self, params: &mut rcgen::CertificateParams, above: &[&Constraints]) {
        if self.is_empty() {
            return;
        }
        let (permitted, excluded) = self.written(above);
        let rcgen_form =
            |v: &[Subtree]| v.iter().map(Subtree::to_rcgen).collect::<Option<Vec<_>>>();
        if let (Some(permitted_subtrees), Some(excluded_subtrees)) =
            (rcgen_form(&permitted), rcgen_form(&excluded))
        {
            params.name_constraints = Some(rcgen::NameConstraints {
                permitted_subtrees,
                excluded_subtrees,
            });
            return;
        }
        let der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for (tag, list) in [(0, &permitted), (1, &excluded)] {
                    if list.is_empty() {
                        continue;
                    }
                    w.next()
                        .write_tagged_implicit(yasna::Tag::context(tag), |w| {
                            w.write_sequence(|w| {
                                for s in list {
                                    w.next().write_sequence(|w| s.write_base(w.next()));
                                }
                            })
                        });
                }
            })
        });
        let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 30], der);
        ext.set_criticality(true);
        params.custom_extensions.push(ext);
    }

    /// The subtrees as the certificate says them (NC-CLOSE-ENCODING). A type closed whole
    /// (the empty DNS or email exclusion, or `0.0.0.0/0` with `::/0`, of
    /// [`Constraints::closed`]) is written as one *permitted* subtree that no name in use
    /// falls in, inside the first subtree of that type the nearest CA in `above` permits (this
    /// CA's issuer first): DNS `closed.invalid.R` (or `closed.invalid`, RFC 6761), email
    /// `closed.invalid@HOST` or `closed.invalid.DOMAIN` (or `closed.invalid`), IP the network
    /// address of R alone (`/32`, `/128`; or `255.255.255.255/32`, the limited broadcast
    /// address). What Java needs decides the form: it cannot parse an empty dNSName or
    /// rfc822Name; its validator throws when an IPv4 and an IPv6 subtree meet in a list
    /// (ArrayIndexOutOfBoundsException) or when a permitted subtree is disjoint from one a CA
    /// above permits (it builds an empty "widest" name: NullPointerException for IP); and it
    /// drops a permitted subtree that is also excluded (`GeneralSubtrees.reduce`), which
    /// would open the type. Read back by [`Constraints::of_certificate`].
    fn written(&self, above: &[&Constraints]) -> (Vec<Subtree>, Vec<Subtree>) {
        let mut permitted = self.permitted.clone();
        let closed = self.closed_kinds();
        let excluded = self
            .excluded
            .iter()
            .filter(|s| !closed.iter().any(|k| k.is_whole(s)))
            .cloned()
            .collect();
        for kind in closed {
            permitted.push(closing(kind, first_permitted(above, kind)));
        }
        (permitted, excluded)
    }

    /// The constraints of a certificate (its nameConstraints extension); subtrees of other
    /// types (URI, directory names) are not enforced by fileca and are left out. A type whose
    /// permitted subtrees are all closing subtrees ([`Constraints::written`]: under
    /// `closed.invalid`, or `255.255.255.255/32`), or all excluded too, is closed.
    pub fn of_certificate(cert: &x509_parser::certificate::X509Certificate<'_>) -> Constraints {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let mut out = Constraints::default();
        for ext in cert.extensions() {
            let ParsedExtension::NameConstraints(nc) = ext.parsed_extension() else {
                continue;
            };
            let convert = |subtrees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                subtrees
                    .iter()
                    .flatten()
                    .filter_map(|s| match &s.base {
                        GeneralName::DNSName(d) => Some(Subtree::Dns(d.to_ascii_lowercase())),
                        GeneralName::RFC822Name(e) => Some(Subtree::Email(email_base(e))),
                        GeneralName::IPAddress(b) => ip_subtree(b),
                        GeneralName::URI(u) => Some(Subtree::Uri(u.to_ascii_lowercase())),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            };
            out.permitted.extend(convert(&nc.permitted_subtrees));
            out.excluded.extend(convert(&nc.excluded_subtrees));
        }
        for kind in [0u8, 1, 2] {
            let of_kind: Vec<&Subtree> =
                out.permitted.iter().filter(|p| p.kind() == kind).collect();
            // Only closing subtrees permitted (NC-CLOSE-ENCODING), or every permitted
            // subtree excluded too: nothing of the type passes.
            let all_excluded =
                !of_kind.is_empty() && of_kind.iter().all(|p| out.excluded.contains(p));
            let only_closing = !of_kind.is_empty() && of_kind.iter().all(|p| is_closing(p));
            if all_excluded || only_closing {
                let closing: Vec<Subtree> = of_kind.into_iter().cloned().collect();
                out.permitted.retain(|p| p.kind() != kind);
                out.excluded.retain(|e| !closing.contains(e));
                let closed = match kind {
                    0 => NameKind::Dns,
                    1 => NameKind::Ip,
                    _ => NameKind::Email,
                };
                out.excluded.extend(closed.whole());
            }
        }
        out
    }

    /// Are `inner`'s permitted subtrees within these constraints (each inside a permitted
    /// subtree of its type, if this CA permits that type, and inside none of its excluded
    /// ones)? Returns the first that is not.
    pub fn contains(&self, inner: &Constraints) -> Result<(), Subtree> {
        // A constrained CA without URI subtrees issues no URI (NC-URI): nor may a CA below it.
        let no_uris = self.closes_uris();
        for s in &inner.permitted {
            if no_uris && s.kind() == 3 {
                return Err(s.clone());
            }
            let same: Vec<&Subtree> = self
                .permitted
                .iter()
                .filter(|p| p.kind() == s.kind())
                .collect();
            let permitted = same.is_empty() || same.iter().any(|p| s.within(p));
            let excluded = self
                .excluded
                .iter()
                .any(|e| e.kind() == s.kind() && s.within(e));
            if !permitted || excluded {
                return Err(s.clone());
            }
        }
        Ok(())
    }

    /// Reads the IP form of NC-CLOSE-ENCODING back, which needs the CAs above (`above`: the
    /// issuer's constraints first, themselves read back): a certificate whose only permitted
    /// iPAddress subtree is the network address of the first range the nearest CA above
    /// permits, alone, was written closing IP ([`Constraints::written`]), and is closed again.
    pub fn resolve_closing(&mut self, above: &[&Constraints]) {
        let ips: Vec<&Subtree> = self
            .permitted
            .iter()
            .filter(|p| NameKind::Ip.is(p))
            .collect();
        let r = first_permitted(above, NameKind::Ip);
        if r.is_some() && ips == [&closing(NameKind::Ip, r)] {
            self.permitted.retain(|p| !NameKind::Ip.is(p));
            self.excluded.extend(NameKind::Ip.whole());
        }
    }

    /// The name types closed whole (no subtree of the type permitted, every name of it
    /// excluded: [`Constraints::closed`]).
    pub fn closed_kinds(&self) -> Vec<NameKind> {
        let permits = |k: u8| self.permitted.iter().any(|p| p.kind() == k);
        let mut out = Vec::new();
        if !permits(0) && self.excluded.contains(&Subtree::Dns(String::new())) {
            out.push(NameKind::Dns);
        }
        if !permits(1) && self.closes_ip() {
            out.push(NameKind::Ip);
        }
        if !permits(2) && self.excluded.contains(&Subtree::Email(String::new())) {
            out.push(NameKind::Email);
        }
        out
    }

    /// The subtrees in `--permit`/`--exclude` spelling, for `status` and `show`: permitted,
    /// excluded, and the types closed whole (listed once, not as their excluded subtrees).
    pub fn spelled(&self) -> Spelled {
        let closed = self.closed_kinds();
        let closing = |s: &Subtree| closed.iter().any(|k| k.is_whole(s));
        Spelled {
            permitted: self.permitted.iter().map(Subtree::spelling).collect(),
            excluded: self
                .excluded
                .iter()
                .filter(|s| !closing(s))
                .map(Subtree::spelling)
                .collect(),
            closed: closed.iter().map(|k| k.type_name()).collect(),
        }
    }
}

/// A type of name that constraints can close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Dns,
    Ip,
    Email,
}

impl NameKind {
    /// The `--permit` type: `DNS`, `IP`, `email`.
    pub fn type_name(self) -> &'static str {
        match self {
            NameKind::Dns => "DNS",
            NameKind::Ip => "IP",
            NameKind::Email => "email",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            NameKind::Dns => "DNS names",
            NameKind::Ip => "IP addresses",
            NameKind::Email => "email addresses",
        }
    }

    /// [`Subtree::kind`]'s number for this type.
    fn code(self) -> u8 {
        match self {
            NameKind::Dns => 0,
            NameKind::Ip => 1,
            NameKind::Email => 2,
        }
    }

    /// The excluded subtrees that close this type whole (as [`Constraints::closed`] keeps
    /// them): DNS ``, IP `0.0.0.0/0` and `::/0`, email ``.
    fn whole(self) -> Vec<Subtree> {
        match self {
            NameKind::Dns => vec![Subtree::Dns(String::new())],
            NameKind::Ip => vec![
                Subtree::Ip(IpAddr::from([0u8; 4]), 0),
                Subtree::Ip(IpAddr::from([0u8; 16]), 0),
            ],
            NameKind::Email => vec![Subtree::Email(String::new())],
        }
    }

    /// Is `s` one of the subtrees [`NameKind::whole`] excludes for this type?
    fn is_whole(self, s: &Subtree) -> bool {
        match (self, s) {
            (NameKind::Dns, Subtree::Dns(d)) | (NameKind::Email, Subtree::Email(d)) => d.is_empty(),
            (NameKind::Ip, Subtree::Ip(_, 0)) => true,
            _ => false,
        }
    }

    /// Is `s` a subtree of this type?
    fn is(self, s: &Subtree) -> bool {
        matches!(
            (self, s),
            (NameKind::Dns, Subtree::Dns(_))
                | (NameKind::Ip, Subtree::Ip(..))
                | (NameKind::Email, Subtree::Email(_))
        )
    }

    fn holds(self, name: &San) -> bool {
        matches!(
            (self, name),
            (NameKind::Dns, San::Dns(_))
                | (NameKind::Ip, San::Ip(_))
                | (NameKind::Email, San::Email(_))
        )
    }
}

/// [`Constraints::spelled`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spelled {
    pub permitted: Vec<String>,
    pub excluded: Vec<String>,
    pub closed: Vec<&'static str>,
}

/// The first subtree of `kind` the nearest CA in `above` permits (issuer first).
fn first_permitted<'a>(above: &[&'a Constraints], kind: NameKind) -> Option<&'a Subtree> {
    above
        .iter()
        .find_map(|c| c.permitted.iter().find(|p| kind.is(p)))
}

/// The permitted subtree that closes `kind` inside `r`, the subtree of that type a CA above
/// permits ([`Constraints::written`]).
fn closing(kind: NameKind, r: Option<&Subtree>) -> Subtree {
    match (kind, r) {
        (NameKind::Dns, Some(Subtree::Dns(d))) if !d.is_empty() => {
            Subtree::Dns(format!("{CLOSED}.{}", d.trim_start_matches('.')))
        }
        (NameKind::Email, Some(Subtree::Email(e))) if !e.is_empty() && !e.contains('@') => {
            Subtree::Email(match e.strip_prefix('.') {
                Some(domain) => format!("{CLOSED}.{domain}"),
                None => format!("{CLOSED}@{e}"),
            })
        }
        (NameKind::Ip, Some(Subtree::Ip(net, _))) => {
            Subtree::Ip(*net, if net.is_ipv4() { 32 } else { 128 })
        }
        (NameKind::Dns, _) => Subtree::Dns(CLOSED.into()),
        (NameKind::Email, _) => Subtree::Email(CLOSED.into()),
        (NameKind::Ip, _) => Subtree::Ip(IpAddr::from(CLOSED_IP), 32),
    }
}

/// Is `s` a subtree [`closing`] writes, recognisable on its own: `closed.invalid` and what is
/// below it or at it (DNS, email), or `255.255.255.255/32`? (The network address of a range
/// above, which closes IP under a CA that permits one, is not: it reads back as the one
/// address it permits.)
fn is_closing(s: &Subtree) -> bool {
    let marked = |v: &str| {
        v == CLOSED
            || v.strip_prefix(CLOSED)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('@'))
    };
    match s {
        Subtree::Dns(d) => marked(d),
        Subtree::Email(e) => marked(e),
        Subtree::Ip(a, 32) => *a == IpAddr::from(CLOSED_IP),
        _ => false,
    }
}

/// An iPAddress subtree: 8 bytes (IPv4 address and mask) or 32 (IPv6).
fn ip_subtree(b: &[u8]) -> Option<Subtree> {
    let (addr, mask): (IpAddr, &[u8]) = match b.len() {
        8 => (IpAddr::from(<[u8; 4]>::try_from(&b[..4]).ok()?), &b[4..]),
        32 => (IpAddr::from(<[u8; 16]>::try_from(&b[..16]).ok()?), &b[16..]),
        _ => return None,
    };
    let prefix = mask.iter().map(|m| m.count_ones()).sum::<u32>();
    Some(Subtree::Ip(addr, u8::try_from(prefix).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn san(s: &str) -> San {
        San::parse(s).unwrap()
    }
    fn sub(s: &str) -> Subtree {
        Subtree::parse(s).unwrap()
    }

    #[test]
    fn subtrees_match_as_rfc5280_says_nc_match() {
        let lab = sub("DNS:lab.test");
        assert_eq!(lab.covers(&san("DNS:lab.test")), Some(true));
        assert_eq!(lab.covers(&san("DNS:a.b.LAB.test")), Some(true));
        assert_eq!(lab.covers(&san("DNS:*.lab.test")), Some(true));
        assert_eq!(lab.covers(&san("DNS:evillab.test")), Some(false));
        assert_eq!(lab.covers(&san("IP:10.0.0.1")), None);
        // Not accepted from the command line (NC-DNS-FORM), still understood in a certificate.
        assert!(matches!(
            Subtree::parse("DNS:.lab.test"),
            Err(ConstraintError::DnsBelowOnly { .. })
        ));
        let below = Subtree::Dns(".lab.test".into());
        assert_eq!(below.covers(&san("DNS:lab.test")), Some(false));
        assert_eq!(below.covers(&san("DNS:www.lab.test")), Some(true));
        let net = sub("IP:10.1.2.3/8");
        assert_eq!(net, Subtree::Ip("10.0.0.0".parse().unwrap(), 8));
        assert_eq!(net.covers(&san("IP:10.200.0.1")), Some(true));
        assert_eq!(net.covers(&san("IP:11.0.0.1")), Some(false));
        assert_eq!(net.covers(&san("IP:::ffff:10.0.0.1")), Some(false));
        assert_eq!(sub("IP:fd00::/8").covers(&san("IP:fd12::1")), Some(true));
        let host = sub("email:lab.test");
        assert_eq!(host.covers(&san("email:a@lab.test")), Some(true));
        assert_eq!(host.covers(&san("email:a@x.lab.test")), Some(false));
        assert_eq!(
            sub("email:.lab.test").covers(&san("email:a@x.lab.test")),
            Some(true)
        );
        assert_eq!(
            sub("email:a@lab.test").covers(&san("email:b@lab.test")),
            Some(false)
        );
        for bad in [
            "DNS:*.lab.test",
            "IP:10.0.0.0",
            "IP:10.0.0.0/33",
            "email:@x",
            "x",
            "URI:spiffe://lab.test",
            "URI:",
        ] {
            assert!(Subtree::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Subtree::parse("URI:.Lab.test"),
            Ok(Subtree::Uri(".lab.test".into()))
        );
        let u = |s: &str| San::uri(s).unwrap();
        let below = Subtree::Uri(".lab.test".into());
        assert_eq!(below.covers(&u("spiffe://a.lab.test/x")), Some(true));
        assert_eq!(below.covers(&u("spiffe://A.LAB.test:8443/x")), Some(true));
        assert_eq!(below.covers(&u("spiffe://lab.test/x")), Some(false));
        assert_eq!(
            below.covers(&u("spiffe://evil.test/a.lab.test")),
            Some(false)
        );
        assert_eq!(below.covers(&u("spiffe://x@a.lab.test/")), Some(false));
        assert_eq!(below.covers(&u("urn:uuid:1")), Some(false));
        // Userinfo after a `:`, a trailing dot, a `:` in the path, `://` not at the first
        // `:`, an empty label: no plain host (the attack review's bypasses).
        for odd in [
            "https://x.lab.test:1@evil.test/",
            "https://a.lab.test./",
            "https://a.lab.test/x:y",
            "urn:x://a.lab.test",
            "https://.lab.test/",
            "https://..lab.test/",
        ] {
            assert_eq!(below.covers(&u(odd)), Some(false), "{odd}");
        }
        assert_eq!(below.covers(&u("https://a.lab.test:8443/x")), Some(true));
        let exact = Subtree::Uri("lab.test".into());
        assert_eq!(exact.covers(&u("https://lab.test/")), Some(true));
        assert_eq!(exact.covers(&u("https://a.lab.test/")), Some(false));
        assert!(Subtree::Uri(".a.lab.test".into()).within(&below));
        assert!(Subtree::Uri("a.lab.test".into()).within(&below));
        assert!(!Subtree::Uri("lab.test".into()).within(&below));
        assert!(!below.within(&exact));
    }

    #[test]
    fn closed_constraints_exclude_the_types_not_permitted_nc_closed() {
        let c = Constraints::closed(vec![sub("DNS:lab.test")], vec![sub("DNS:secret.lab.test")]);
        assert!(c.allows(&san("DNS:www.lab.test"), "X").is_ok());
        assert!(matches!(
            c.allows(&san("DNS:www.example.com"), "X"),
            Err(Violation::NotPermitted { .. })
        ));
        assert!(matches!(
            c.allows(&san("DNS:a.secret.lab.test"), "X"),
            Err(Violation::Excluded { .. })
        ));
        let ip = c.allows(&san("IP:8.8.8.8"), "X").unwrap_err();
        assert_eq!(
            ip.to_string(),
            "IP:8.8.8.8: X issues no IP addresses (its name constraints close them: only the \
             types it permits)"
        );
        assert_eq!(
            c.spelled(),
            Spelled {
                permitted: vec!["DNS:lab.test".into()],
                excluded: vec!["DNS:secret.lab.test".into()],
                closed: vec!["IP", "email"],
            }
        );
        assert!(c.allows(&san("IP:::1"), "X").is_err());
        assert!(c.allows(&san("email:a@lab.test"), "X").is_err());
        // Only exclusions: nothing else is closed.
        let open = Constraints::closed(vec![], vec![sub("DNS:example.com")]);
        assert_eq!(open.excluded.len(), 1);
        assert!(open.allows(&san("IP:8.8.8.8"), "X").is_ok());
    }

    /// NC-CLOSE-ENCODING: what a certificate says is read back as the same constraints; a
    /// closed IP is one permitted IPv4 subtree (255.255.255.255/32), never the two-family
    /// exclusions Java crashes on (ArrayIndexOutOfBoundsException, 3-tier hierarchies).
    #[test]
    fn closed_types_are_written_as_one_permitted_subtree_and_read_back_nc_close_encoding() {
        let written = |c: &Constraints| {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            c.apply(&mut params, &[]);
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().der().to_vec()
        };
        for c in [
            Constraints::closed(vec![sub("DNS:lab.test")], vec![sub("DNS:secret.lab.test")]),
            Constraints::closed(vec![sub("IP:10.0.0.0/8")], vec![]),
            Constraints::closed(vec![sub("email:lab.test")], vec![sub("IP:10.9.0.0/16")]),
            Constraints::closed(vec![sub("URI:.lab.test")], vec![]),
            Constraints::closed(vec![], vec![sub("IP:0.0.0.0/0")]),
        ] {
            let der = written(&c);
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            assert_eq!(Constraints::of_certificate(&cert), c);
            let (permitted, excluded) = c.written(&[]);
            // Both address families never meet in one list of the certificate.
            for list in [&permitted, &excluded] {
                let v4 = list
                    .iter()
                    .any(|s| matches!(s, Subtree::Ip(a, _) if a.is_ipv4()));
                let v6 = list
                    .iter()
                    .any(|s| matches!(s, Subtree::Ip(a, _) if a.is_ipv6()));
                assert!(!(v4 && v6), "{list:?}");
            }
        }
        let dns_only = Constraints::closed(vec![sub("DNS:lab.test")], vec![]);
        let (permitted, excluded) = dns_only.written(&[]);
        assert_eq!(
            permitted,
            [
                sub("DNS:lab.test"),
                sub("IP:255.255.255.255/32"),
                sub("email:closed.invalid")
            ]
        );
        assert!(
            excluded.is_empty(),
            "Java drops a permitted subtree also excluded"
        );
        // Below CAs that permit the type, the closing subtree lies inside the first subtree
        // the nearest of them permits (Java throws on a permitted subtree disjoint from one
        // above); a CA that closes the type itself is passed over.
        let parent = Constraints::closed(
            vec![sub("DNS:dev.lab.test"), sub("email:dev.lab.test")],
            vec![],
        );
        let root = Constraints::closed(
            vec![
                sub("DNS:lab.test"),
                sub("IP:10.0.0.0/8"),
                sub("IP:fd00::/8"),
                sub("email:.lab.test"),
            ],
            vec![],
        );
        let child = Constraints::closed(vec![sub("URI:.x.dev.lab.test")], vec![]);
        let (permitted, excluded) = child.written(&[&parent, &root]);
        assert_eq!(
            permitted,
            [
                sub("URI:.x.dev.lab.test"),
                sub("DNS:closed.invalid.dev.lab.test"),
                sub("IP:10.0.0.0/32"),
                sub("email:closed.invalid@dev.lab.test")
            ]
        );
        assert!(excluded.is_empty());
        assert_eq!(
            closing(NameKind::Email, Some(&sub("email:.lab.test"))),
            sub("email:closed.invalid.lab.test")
        );
        assert_eq!(
            closing(NameKind::Ip, Some(&sub("IP:fd00::/8"))),
            sub("IP:fd00::/128")
        );
        // Read back: DNS and email closed again; IP as the one address it permits.
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        child.apply(&mut params, &[&parent, &root]);
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let read = Constraints::of_certificate(&cert);
        assert_eq!(
            read.permitted,
            [sub("URI:.x.dev.lab.test"), sub("IP:10.0.0.0/32")]
        );
        assert_eq!(read.closed_kinds(), [NameKind::Dns, NameKind::Email]);
    }

    #[test]
    fn a_child_lies_within_its_parent_nc_within() {
        let parent = Constraints::closed(
            vec![sub("DNS:lab.test"), sub("IP:10.0.0.0/8")],
            vec![sub("DNS:secret.lab.test")],
        );
        let ok = |p: &[&str]| Constraints {
            permitted: p.iter().map(|s| sub(s)).collect(),
            excluded: vec![],
        };
        let mut inner = ok(&["DNS:dev.lab.test", "IP:10.1.0.0/16"]);
        // (`.lab.test`, read from an older certificate: NC-DNS-FORM.)
        inner.permitted.push(Subtree::Dns(".lab.test".into()));
        assert_eq!(parent.contains(&inner), Ok(()));
        assert_eq!(
            parent.contains(&ok(&["DNS:example.com"])),
            Err(sub("DNS:example.com"))
        );
        assert_eq!(
            parent.contains(&ok(&["IP:0.0.0.0/0"])),
            Err(sub("IP:0.0.0.0/0"))
        );
        assert_eq!(
            parent.contains(&ok(&["DNS:x.secret.lab.test"])),
            Err(sub("DNS:x.secret.lab.test"))
        );
        assert_eq!(
            parent.contains(&ok(&["email:lab.test"])),
            Err(sub("email:lab.test")),
            "email is excluded whole"
        );
        assert_eq!(
            Constraints::default().contains(&ok(&["DNS:anything.test"])),
            Ok(())
        );
    }
}
