//! policy.toml's schema and its validation (SPEC.md POLICY-SCHEMA, POLICY-VALIDATE): the
//! whole file is read into [`crate::policy::Policy`] or refused with every error found, each
//! with its line and column. Pure: the CA it is checked against is a parameter.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::pki::ca::CaCert;
use crate::policy::{Policy, Urls};

mod allow;
mod profile;
use profile::profile;

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

pub use crate::error::policy::Problem;

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
        if crate::term::is_unsafe(ch) && !matches!(ch, '\n' | '\t') && !crlf {
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
        match validate_url(u.get_ref()) {
            Ok(()) => out.push(u.get_ref().clone()),
            Err(why) => c.at(u.span(), format!("urls.{key}: {why}")),
        }
    }
    out
}

/// Why a URL cannot go into a certificate ([`validate_url`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown:?} is not a usable URL: {why}")]
pub struct BadUrl {
    /// The URL, escaped for the terminal.
    pub shown: String,
    /// The rule it breaks.
    pub why: &'static str,
}

/// A URL a certificate may point to (RFC 5280 4.2.1.13, 4.2.2.1): `http://` or `ldap://`
/// (clients fetch it without TLS), a host of letters, digits, `-` and `.` or a bracketed
/// IPv6 address, an optional port, then only characters RFC 3986 allows unescaped (or
/// `%XX`); at most 2048 characters.
pub fn validate_url(s: &str) -> Result<(), BadUrl> {
    let bad = |why: &'static str| {
        Err(BadUrl {
            shown: crate::term::escape(s),
            why,
        })
    };
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
