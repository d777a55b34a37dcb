//! policy.toml's schema and its validation (SPEC.md POLICY-SCHEMA, POLICY-VALIDATE): the
//! whole file is read into [`crate::policy::Policy`] or refused with every error found, each
//! with its line and column. Pure: the CA it is checked against is a parameter.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::pki::ca::CaCert;
use crate::pki::constraints::{Constraints, Subtree};
use crate::pki::keys::KeyKind;
use crate::pki::names::San;
use crate::pki::profile::{
    Allowed, EKU_NAMES, Eku, KEY_USAGE_NAMES, KeyRule, Kind, Profile, SanTypes,
};
use crate::policy::{Policy, Urls};

/// The file as TOML gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    urls: Option<UrlsToml>,
    #[serde(default)]
    profiles: BTreeMap<Spanned<String>, Spanned<ProfileToml>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UrlsToml {
    #[serde(default)]
    crl: Vec<Spanned<String>>,
    #[serde(default)]
    ca_issuers: Vec<Spanned<String>>,
    #[serde(default)]
    ocsp: Vec<Spanned<String>>,
}

type Strings = Option<Spanned<Vec<Spanned<String>>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileToml {
    kind: Option<Spanned<String>>,
    key_usage: Strings,
    extended_key_usage: Strings,
    default_days: Option<Spanned<i64>>,
    max_days: Option<Spanned<i64>>,
    san_types: Strings,
    allow_dns: Strings,
    allow_ip: Strings,
    allow_email: Strings,
    allow_uri: Strings,
    require_san: Option<bool>,
    allow_wildcard: Option<bool>,
    allow_single_label: Option<bool>,
    key_types: Strings,
    min_rsa_bits: Option<Spanned<i64>>,
    policies: Strings,
    ocsp_nocheck: Option<Spanned<bool>>,
    max_path_len: Option<Spanned<i64>>,
    permit: Strings,
    exclude: Strings,
}

/// One thing wrong with a policy file, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// The default validity of a profile that does not say.
pub const DEFAULT_DAYS: u32 = 365;
/// The longest validity a profile may give (about 100 years).
pub const MAX_DAYS: u32 = 36_500;

struct Checker<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
        });
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Reads and validates a whole policy file against the CA `ca` that would apply it (`None`:
/// the built-in policy, checked against no CA).
pub fn parse(text: &str, ca: Option<&CaCert>) -> Result<Policy, Vec<Problem>> {
    let mut c = Checker {
        text,
        problems: Vec::new(),
    };
    // POLICY-TEXT: no terminal controls, bidi overrides or zero-width characters anywhere,
    // comments included (`policy show` prints the file; a U+202E in a comment reorders what
    // the operator reads).
    for (at, ch) in text.char_indices() {
        let crlf = ch == '\r' && text[at + 1..].starts_with('\n');
        if crate::render::is_unsafe(ch) && !matches!(ch, '\n' | '\t') && !crlf {
            c.at(
                at..at + ch.len_utf8(),
                format!(
                    "U+{:04X} is a control or invisible character; a policy holds none",
                    ch as u32
                ),
            );
        }
    }
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let file: File = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            c.at(span, e.message().trim().to_string());
            return Err(c.problems);
        }
    };
    let urls = file.urls.unwrap_or_default();
    let urls = Urls {
        crl: check_urls(&mut c, &urls.crl, "crl"),
        ca_issuers: check_urls(&mut c, &urls.ca_issuers, "ca_issuers"),
        ocsp: check_urls(&mut c, &urls.ocsp, "ocsp"),
    };
    let mut profiles = Vec::new();
    if file.profiles.is_empty() {
        c.at(
            0..0,
            "no [profiles.NAME] table: a policy needs at least one profile",
        );
    }
    for (name, table) in &file.profiles {
        let span = name.span();
        let name = name.get_ref();
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || name == "imported"
        {
            c.at(
                span,
                format!(
                    "profile name {name:?}: lowercase letters, digits and '-' only (at most 64), not \"imported\""
                ),
            );
            continue;
        }
        let before = c.problems.len();
        if let Some(p) = profile(&mut c, name, table.get_ref(), ca) {
            profiles.push(p);
        }
        // Each problem names the key in full: profiles.NAME.key_usage.
        for p in &mut c.problems[before..] {
            p.message = format!("profiles.{name}.{}", p.message);
        }
    }
    if c.problems.is_empty() {
        Ok(Policy { urls, profiles })
    } else {
        c.problems.sort_by_key(|p| (p.line, p.column));
        Err(c.problems)
    }
}

fn check_urls(c: &mut Checker<'_>, urls: &[Spanned<String>], key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for u in urls {
        match check_url(u.get_ref()) {
            Ok(()) => out.push(u.get_ref().clone()),
            Err(why) => c.at(u.span(), format!("urls.{key}: {why}")),
        }
    }
    out
}

/// A URL a certificate may point to (RFC 5280 4.2.1.13, 4.2.2.1): `http://` or `ldap://`
/// (clients fetch it without TLS), a host of letters, digits, `-` and `.` or a bracketed
/// IPv6 address, an optional port, then only characters RFC 3986 allows unescaped (or
/// `%XX`); at most 2048 characters.
pub fn check_url(s: &str) -> Result<(), String> {
    let shown = crate::render::escape(s);
    let bad = |what: &str| Err(format!("{shown:?} is not a usable URL: {what}"));
    if s.len() > 2048 {
        return bad("longer than 2048 characters");
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return bad("not http://… or ldap://…");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("ldap") {
        return bad(
            "only http:// and ldap:// (clients fetch CRLs and CA certificates without TLS)",
        );
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, port)) if addr.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", port),
            _ => return bad("a bracketed host that is not an IPv6 address"),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, &authority[h.len()..][..p.len() + 1]),
            None => (authority, ""),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['.', '-']);
    if !host_ok {
        return bad("no host, or a host with characters other than letters, digits, '-' and '.'");
    }
    if !port.is_empty()
        && (port.len() < 2 || !port[1..].bytes().all(|b| b.is_ascii_digit()) || port.len() > 6)
    {
        return bad("a port that is not a number");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if !tail.bytes().all(allowed) {
        return bad("characters a URL must percent-encode (spaces, quotes, backslashes, controls)");
    }
    Ok(())
}

/// A dotted OID: at least two arcs, the first 0–2, the second below 40 under 0 and 1.
pub fn parse_oid(s: &str) -> Option<Vec<u64>> {
    let arcs: Vec<u64> = s
        .split('.')
        .map(|a| {
            (!a.is_empty()
                && a.bytes().all(|b| b.is_ascii_digit())
                && (a == "0" || !a.starts_with('0')))
            .then(|| a.parse().ok())
            .flatten()
        })
        .collect::<Option<_>>()?;
    // DER writes the first two arcs as one number, 40 * first + second: it must fit, as yasna
    // (which encodes it) requires: below u64::MAX - 80 (2.18446744073709551535 was accepted
    // here and made every issuing command panic, #24).
    let first_two_fit = match arcs.as_slice() {
        [2, second, ..] => *second < u64::MAX - 80,
        [0 | 1, second, ..] => *second < 40,
        _ => false,
    };
    (arcs.len() >= 2 && arcs.len() <= 64 && first_two_fit).then_some(arcs)
}

/// The OIDs of the EKU names (RFC 5280 4.2.1.12, RFC 6960): an OID spelled for a named EKU is
/// that name, so the rules for serverAuth or OCSPSigning apply however it is written.
const EKU_OIDS: [(&str, &str); 6] = [
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "1.3.6.1.5.5.7.3.9"),
];

fn list(v: &Strings) -> impl Iterator<Item = &Spanned<String>> {
    v.iter().flat_map(|l| l.get_ref().iter())
}

fn days(c: &mut Checker<'_>, v: &Option<Spanned<i64>>, key: &str) -> Option<u32> {
    let v = v.as_ref()?;
    match u32::try_from(*v.get_ref()) {
        Ok(d) if (1..=MAX_DAYS).contains(&d) => Some(d),
        _ => {
            c.at(v.span(), format!("{key}: between 1 and {MAX_DAYS}"));
            None
        }
    }
}

fn profile(
    c: &mut Checker<'_>,
    name: &str,
    t: &ProfileToml,
    ca: Option<&CaCert>,
) -> Option<Profile> {
    let before = c.problems.len();
    let kind = match t.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
        None | Some(("leaf", _)) => Kind::Leaf,
        Some(("sub-ca", _)) => Kind::SubCa,
        Some((other, span)) => {
            c.at(span, format!("kind {other:?}: \"leaf\" or \"sub-ca\""));
            Kind::Leaf
        }
    };
    let mut key_usage = Vec::new();
    for u in list(&t.key_usage) {
        match KEY_USAGE_NAMES.iter().find(|(n, _)| n == u.get_ref()) {
            Some((_, p))
                if kind == Kind::Leaf
                    && matches!(
                        p,
                        rcgen::KeyUsagePurpose::KeyCertSign | rcgen::KeyUsagePurpose::CrlSign
                    ) =>
            {
                c.at(
                    u.span(),
                    format!(
                        "key_usage {:?} makes a CA certificate: use kind = \"sub-ca\"",
                        u.get_ref()
                    ),
                )
            }
            Some((_, p)) => key_usage.push(*p),
            None => c.at(
                u.span(),
                format!(
                    "key_usage {:?}: one of {}",
                    u.get_ref(),
                    KEY_USAGE_NAMES.map(|(n, _)| n).join(", ")
                ),
            ),
        }
    }
    let mut extended_key_usage = Vec::new();
    for e in list(&t.extended_key_usage) {
        let named = EKU_OIDS
            .iter()
            .find(|(_, oid)| oid == e.get_ref())
            .map_or(e.get_ref().as_str(), |(n, _)| n);
        let eku = if let Some((n, p)) = EKU_NAMES.iter().find(|(n, _)| *n == named) {
            Some(Eku::Named(n, p()))
        } else {
            parse_oid(e.get_ref()).map(Eku::Oid)
        };
        if let Some(eku) = eku {
            if extended_key_usage.contains(&eku) {
                c.at(
                    e.span(),
                    format!("extended_key_usage {:?}: listed twice", eku.spelling()),
                );
            } else {
                extended_key_usage.push(eku);
            }
        } else {
            c.at(
                e.span(),
                format!(
                    "extended_key_usage {:?}: one of {} or a dotted OID",
                    e.get_ref(),
                    EKU_NAMES.map(|(n, _)| n).join(", ")
                ),
            );
        }
    }
    if kind == Kind::Leaf
        && t.key_usage.is_some()
        && key_usage.is_empty()
        && c.problems.len() == before
    {
        c.at(
            t.key_usage.as_ref().map_or(0..0, Spanned::span),
            "key_usage: at least one",
        );
    }
    if kind == Kind::Leaf && t.key_usage.is_none() {
        key_usage.push(rcgen::KeyUsagePurpose::DigitalSignature);
    }
    use rcgen::KeyUsagePurpose as Ku;
    if key_usage
        .iter()
        .any(|u| matches!(u, Ku::EncipherOnly | Ku::DecipherOnly))
        && !key_usage.contains(&Ku::KeyAgreement)
    {
        c.at(
            t.key_usage.as_ref().map_or(0..0, Spanned::span),
            "encipherOnly and decipherOnly mean something only with keyAgreement (RFC 5280 4.2.1.3)",
        );
    }
    let default_days = days(c, &t.default_days, "default_days");
    let max_days = days(c, &t.max_days, "max_days");
    if let (Some(d), Some(m)) = (default_days, max_days)
        && d > m
    {
        c.at(
            t.default_days.as_ref().map_or(0..0, Spanned::span),
            format!("default_days {d} is above max_days {m}"),
        );
    }
    let default_days = default_days.unwrap_or(DEFAULT_DAYS.min(max_days.unwrap_or(DEFAULT_DAYS)));
    if let Some(ca) = ca {
        let ca_days = (ca.not_after - ca.not_before).whole_days();
        for (v, key) in [(&t.max_days, "max_days"), (&t.default_days, "default_days")] {
            if let Some(v) = v
                && *v.get_ref() > ca_days
            {
                c.at(
                    v.span(),
                    format!(
                        "{key} {} exceeds the CA certificate's own validity ({ca_days} days)",
                        v.get_ref()
                    ),
                );
            }
        }
    }
    let mut san_types = match &t.san_types {
        None => SanTypes::ALL,
        Some(_) => SanTypes::default(),
    };
    for s in list(&t.san_types) {
        match s.get_ref().as_str() {
            "dns" => san_types.dns = true,
            "ip" => san_types.ip = true,
            "email" => san_types.email = true,
            "uri" => san_types.uri = true,
            other => c.at(
                s.span(),
                format!("san_types {other:?}: dns, ip, email or uri"),
            ),
        }
    }
    let any_allow = t.allow_dns.is_some()
        || t.allow_ip.is_some()
        || t.allow_email.is_some()
        || t.allow_uri.is_some();
    let mut allowed = Allowed::default();
    let constraints = ca.map(|ca| (&ca.constraints, ca.subject_shown.as_str()));
    if let Some(l) = &t.allow_dns {
        let mut v = Vec::new();
        for p in l.get_ref() {
            match crate::policy::gate::dns_pattern(p.get_ref()) {
                Ok(pat) => {
                    // Every name the pattern matches: `*.B` all names below B, `B` itself.
                    let (base, subtree) = pattern_subtree(&pat, Subtree::Dns);
                    let example = San::Dns(base.to_string());
                    within_subtree(c, constraints, subtree, &example, p, "allow_dns");
                    v.push(pat);
                }
                Err(why) => c.at(p.span(), format!("allow_dns {:?}: {why}", p.get_ref())),
            }
        }
        allowed.dns = Some(v);
    }
    if let Some(l) = &t.allow_ip {
        let mut v = Vec::new();
        for p in l.get_ref() {
            match Subtree::parse(&format!("IP:{}", p.get_ref())) {
                Ok(Subtree::Ip(addr, len)) => {
                    if let Some((cons, ca)) = constraints {
                        let inner = Constraints::closed(vec![Subtree::Ip(addr, len)], vec![]);
                        if cons.contains(&inner).is_err() {
                            c.at(
                                p.span(),
                                format!(
                                    "allow_ip {:?} is not within the names {ca} may certify",
                                    p.get_ref()
                                ),
                            );
                        }
                    }
                    v.push((addr, len));
                }
                _ => c.at(
                    p.span(),
                    format!(
                        "allow_ip {:?}: an address/prefix such as 10.0.0.0/8",
                        p.get_ref()
                    ),
                ),
            }
        }
        allowed.ip = Some(v);
    }
    if let Some(l) = &t.allow_email {
        let mut v = Vec::new();
        for p in l.get_ref() {
            let s = p.get_ref().to_ascii_lowercase();
            let domain = s.rsplit_once('@').map_or(s.as_str(), |(_, d)| d);
            let ok = match s.rsplit_once('@') {
                Some(("", _)) => false,
                Some(_) => San::email(&s).is_ok(),
                None => crate::policy::gate::dns_pattern(domain).is_ok(),
            };
            if ok {
                match s.contains('@') {
                    true => within(
                        c,
                        constraints,
                        &San::Email(p.get_ref().clone()),
                        p,
                        "allow_email",
                    ),
                    false => {
                        let (base, subtree) = pattern_subtree(domain, Subtree::Email);
                        let example = San::Email(format!("x@{base}"));
                        within_subtree(c, constraints, subtree, &example, p, "allow_email");
                    }
                }
                v.push(p.get_ref().clone());
            } else {
                c.at(
                    p.span(),
                    format!(
                        "allow_email {:?}: a domain pattern (lab.test, *.lab.test) or a mailbox",
                        p.get_ref()
                    ),
                );
            }
        }
        allowed.email = Some(v);
    }
    if let Some(l) = &t.allow_uri {
        let mut v = Vec::new();
        for p in l.get_ref() {
            let s = p.get_ref();
            // The scheme and the authority are literal: a `*` only in the path.
            let literal_authority = s
                .split_once("://")
                .is_none_or(|(_, rest)| !rest.split('/').next().unwrap_or("").contains('*'));
            if literal_authority && San::uri(&s.replace('*', "x")).is_ok() {
                // Its URIs must be ones this CA may issue (NC-URI): a constrained CA needs URI
                // subtrees, and the pattern's host must lie within them.
                if let Some((cons, ca)) = constraints
                    && !cons.is_empty()
                    && let Err(v) = cons.allows(&San::Uri(s.replace('*', "x")), ca)
                {
                    c.at(p.span(), format!("allow_uri {s:?}: {v}"));
                }
                v.push(s.clone());
            } else {
                c.at(
                    p.span(),
                    format!("allow_uri {s:?}: a URI pattern such as spiffe://lab.test/* (a * only in the path)"),
                );
            }
        }
        allowed.uri = Some(v);
    }
    for (l, key, used) in [
        (&t.allow_dns, "allow_dns", san_types.dns),
        (&t.allow_ip, "allow_ip", san_types.ip),
        (&t.allow_email, "allow_email", san_types.email),
        (&t.allow_uri, "allow_uri", san_types.uri),
    ] {
        if let Some(l) = l
            && !used
        {
            c.at(
                l.span(),
                format!("{key}: the profile's san_types leave that type out"),
            );
        }
    }
    let require_san = t.require_san.unwrap_or(false);
    if require_san && san_types.is_empty() {
        c.at(
            t.san_types.as_ref().map_or(0..0, Spanned::span),
            "require_san = true with san_types = []: no certificate could be issued",
        );
    }
    let mut key_types = Vec::new();
    for k in list(&t.key_types) {
        let rule = match k.get_ref().as_str() {
            "rsa" => Some(KeyRule::AnyRsa),
            "ecdsa-p256" => Some(KeyRule::Exact(KeyKind::P256)),
            "ecdsa-p384" => Some(KeyRule::Exact(KeyKind::P384)),
            "ed25519" => Some(KeyRule::Exact(KeyKind::Ed25519)),
            other => other
                .strip_prefix("rsa-")
                .and_then(|b| b.parse::<usize>().ok())
                .filter(|b| [2048, 3072, 4096].contains(b))
                .map(|b| KeyRule::Exact(KeyKind::Rsa(b))),
        };
        match rule {
            Some(r) => key_types.push(r),
            None => c.at(
                k.span(),
                format!(
                    "key_types {:?}: ecdsa-p256, ecdsa-p384, ed25519, rsa, rsa-2048, rsa-3072 or rsa-4096",
                    k.get_ref()
                ),
            ),
        }
    }
    if t.key_types.is_some() && key_types.is_empty() && c.problems.len() == before {
        c.at(
            t.key_types.as_ref().map_or(0..0, Spanned::span),
            "key_types: at least one (or leave the key out for every type)",
        );
    }
    let min_rsa_bits = match &t.min_rsa_bits {
        None => crate::pki::keys::RSA_MIN_BITS,
        Some(v) => match usize::try_from(*v.get_ref()) {
            Ok(b) if (crate::pki::keys::RSA_MIN_BITS..=16384).contains(&b) => b,
            _ => {
                c.at(
                    v.span(),
                    format!(
                        "min_rsa_bits: between {} and 16384",
                        crate::pki::keys::RSA_MIN_BITS
                    ),
                );
                crate::pki::keys::RSA_MIN_BITS
            }
        },
    };
    let mut policies = Vec::new();
    for p in list(&t.policies) {
        match parse_oid(p.get_ref()) {
            // RFC 5280 4.2.1.4: a policy OID MUST NOT appear more than once.
            Some(arcs) if policies.contains(&arcs) => c.at(
                p.span(),
                format!(
                    "policies {:?}: listed twice (RFC 5280 4.2.1.4)",
                    p.get_ref()
                ),
            ),
            Some(arcs) => policies.push(arcs),
            None => c.at(
                p.span(),
                format!(
                    "policies {:?}: a dotted OID such as 1.3.6.1.4.1.99999.1",
                    p.get_ref()
                ),
            ),
        }
    }
    let ocsp_nocheck = t.ocsp_nocheck.as_ref().is_some_and(|v| *v.get_ref());
    if ocsp_nocheck
        && !extended_key_usage
            .iter()
            .any(|e| e.spelling() == "OCSPSigning")
    {
        c.at(
            t.ocsp_nocheck.as_ref().map_or(0..0, Spanned::span),
            "ocsp_nocheck = true needs extended_key_usage = [\"OCSPSigning\"]",
        );
    }
    let mut max_path_len = None;
    let (mut permit, mut exclude) = (Vec::new(), Vec::new());
    if kind == Kind::SubCa {
        for (present, key) in [
            (t.key_usage.as_ref().map(Spanned::span), "key_usage"),
            (
                t.extended_key_usage.as_ref().map(Spanned::span),
                "extended_key_usage",
            ),
            (t.san_types.as_ref().map(Spanned::span), "san_types"),
            (t.allow_dns.as_ref().map(Spanned::span), "allow_dns"),
            (t.allow_ip.as_ref().map(Spanned::span), "allow_ip"),
            (t.allow_email.as_ref().map(Spanned::span), "allow_email"),
            (t.allow_uri.as_ref().map(Spanned::span), "allow_uri"),
            (t.key_types.as_ref().map(Spanned::span), "key_types"),
        ] {
            if let Some(span) = present {
                c.at(span, format!("{key} does not apply to a sub-ca profile (a CA certificate's usages are fixed; limit its names with permit/exclude)"));
            }
        }
        if let Some(v) = &t.max_path_len {
            match u8::try_from(*v.get_ref()) {
                Ok(n) if n <= 32 => {
                    if let Some(own) = ca.and_then(|ca| ca.path_len)
                        && u32::from(n) >= own
                    {
                        c.at(v.span(), format!("max_path_len {n}: this CA's own pathLenConstraint is {own}, so a sub-CA's must be below it"));
                    }
                    max_path_len = Some(n);
                }
                _ => c.at(v.span(), "max_path_len: between 0 and 32"),
            }
        }
        for (l, key, out) in [
            (&t.permit, "permit", &mut permit),
            (&t.exclude, "exclude", &mut exclude),
        ] {
            for s in list(l) {
                match Subtree::parse(s.get_ref()) {
                    Ok(st) => out.push(st),
                    Err(e) => c.at(s.span(), format!("{key}: {e}")),
                }
            }
        }
        if let Some((cons, ca)) = constraints {
            let inner = Constraints::closed(permit.clone(), vec![]);
            if let Err(st) = cons.contains(&inner) {
                c.at(
                    t.permit.as_ref().map_or(0..0, Spanned::span),
                    format!(
                        "permit {} is not within the names {ca} may certify",
                        st.spelling()
                    ),
                );
            }
        }
    } else {
        for (present, key) in [
            (t.max_path_len.as_ref().map(Spanned::span), "max_path_len"),
            (t.permit.as_ref().map(Spanned::span), "permit"),
            (t.exclude.as_ref().map(Spanned::span), "exclude"),
        ] {
            if let Some(span) = present {
                c.at(
                    span,
                    format!("{key} applies to a profile with kind = \"sub-ca\""),
                );
            }
        }
        if extended_key_usage
            .iter()
            .any(|e| e.spelling() == "serverAuth")
            && !san_types.dns
            && !san_types.ip
        {
            c.at(
                t.san_types.as_ref().map_or(0..0, Spanned::span),
                "serverAuth needs DNS or IP SANs (TLS clients ignore the CN): add \"dns\" or \"ip\" to san_types",
            );
        }
    }
    if c.problems.len() > before {
        return None;
    }
    Some(Profile {
        name: name.to_string(),
        kind,
        key_usage,
        extended_key_usage,
        default_days,
        max_days,
        san_types: if kind == Kind::SubCa {
            SanTypes::default()
        } else {
            san_types
        },
        allowed: any_allow.then_some(allowed),
        require_san,
        allow_wildcard: t.allow_wildcard.unwrap_or(false),
        allow_single_label: t.allow_single_label.unwrap_or(true),
        key_types,
        min_rsa_bits,
        policies,
        ocsp_nocheck,
        max_path_len,
        permit,
        exclude,
    })
}

/// The subtree of every name a domain pattern matches — `*.B`: the names below B (`.B`);
/// `B`: B and below, a superset checked with an example too — and its base B.
fn pattern_subtree(pattern: &str, subtree: fn(String) -> Subtree) -> (&str, Subtree) {
    let base = pattern.trim_start_matches("*.");
    match pattern.starts_with("*.") {
        true => (base, subtree(format!(".{base}"))),
        false => (base, subtree(base.to_string())),
    }
}

/// Reports an allow-list pattern whose names (`subtree`; `example` one of them) are not all
/// within the CA's own name constraints.
fn within_subtree(
    c: &mut Checker<'_>,
    constraints: Option<(&Constraints, &str)>,
    subtree: Subtree,
    example: &San,
    p: &Spanned<String>,
    key: &str,
) {
    let Some((cons, ca)) = constraints else {
        return;
    };
    if cons.is_empty() {
        return;
    }
    let inner = Constraints::closed(vec![subtree], Vec::new());
    if cons.contains(&inner).is_err() || cons.allows(example, ca).is_err() {
        c.at(
            p.span(),
            format!(
                "{key} {:?} is not within the names {ca} may certify",
                p.get_ref()
            ),
        );
    }
}

/// Reports a name of an allow list that the CA's own name constraints forbid.
fn within(
    c: &mut Checker<'_>,
    constraints: Option<(&Constraints, &str)>,
    name: &San,
    p: &Spanned<String>,
    key: &str,
) {
    if let Some((cons, ca)) = constraints
        && let Err(v) = cons.allows(name, ca)
    {
        c.at(p.span(), format!("{key} {:?}: {v}", p.get_ref()));
    }
}
