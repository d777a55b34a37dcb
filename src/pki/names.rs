//! Subject names and subject alternative names: parsing what users type and what CSRs carry,
//! checking they are well-formed, and turning them into rcgen's types.
//!
//! Accepted subject attributes are listed in [`ATTRS`]. Each may appear once (rcgen keeps one
//! value per attribute type) and each RDN holds one attribute. Values are 1–64 characters
//! (RFC 5280's upper bounds for the common attributes) without control characters.

use std::net::IpAddr;

use rcgen::{DistinguishedName, DnType, DnValue, SanType};

/// Most SANs in one certificate, from a CSR or `--san` options. Let's Encrypt issues at most
/// 100 names per certificate and public CAs stay near it; more only bloats every TLS handshake
/// (5,000 SANs made a 73 KB certificate) and is better served by several certificates.
pub const MAX_SANS: usize = 100;

/// Why a subject or a SAN is refused. The caller says where it came from (`--subject`, a
/// CSR, index.log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{0} SANs requested; a certificate holds at most {MAX_SANS} (split the names over several certificates)"
    )]
    TooManySans(usize),
    #[error("subject ends with a lone backslash")]
    LoneBackslash,
    #[error("{0:?} is not of the form KEY=value")]
    NotKeyValue(String),
    #[error("unknown subject attribute {0:?} (accepted: {accepted})", accepted = accepted())]
    UnknownAttribute(String),
    #[error("subject attribute {0} appears more than once")]
    Repeated(String),
    #[error("subject attribute {key} {problem}")]
    Value { key: String, problem: ValueProblem },
    #[error("C={0:?} must be a two-letter country code such as DE")]
    Country(String),
    #[error("{key}={value:?} must be ASCII")]
    NotAscii { key: String, value: String },
    #[error("the subject has an empty RDN")]
    EmptyRdn,
    #[error(
        "the subject has a multi-valued RDN (several attributes joined with +), which is not supported"
    )]
    MultiValuedRdn,
    #[error("subject attribute OID {0} is out of range")]
    OidOutOfRange(String),
    #[error("subject attribute {0} is not supported")]
    UnsupportedAttribute(String),
    #[error("subject attribute {0} is not a supported string")]
    NotAString(String),
    #[error("SAN {0:?} must be DNS:name, IP:address, email:address or URI:uri")]
    SanForm(String),
    #[error("URI {uri:?} {problem}")]
    Uri { uri: String, problem: &'static str },
    #[error("SAN {san:?}: unknown type {kind:?} (use DNS:, IP:, email: or URI:)")]
    SanKind { san: String, kind: String },
    #[error("SAN {san:?}: {value:?} is not an IP address")]
    Ip { san: String, value: String },
    #[error("IP address SAN of {0} bytes (must be 4 or 16)")]
    IpLength(usize),
    #[error("malformed SAN (tag {0})")]
    MalformedSan(String),
    #[error("DNS name {name:?} {problem}")]
    Dns { name: String, problem: DnsProblem },
    #[error("email address {addr:?} {problem}")]
    Email { addr: String, problem: EmailProblem },
}

/// What is wrong with a subject attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    #[error("is empty")]
    Empty,
    #[error("is longer than 64 characters")]
    TooLong,
    #[error("contains control characters")]
    Control,
    #[error("contains bidi or zero-width characters")]
    Invisible,
}

/// What is wrong with a DNS name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsProblem {
    #[error("is empty")]
    Empty,
    #[error("is longer than 253 characters")]
    TooLong,
    #[error("is not ASCII (give internationalised names as xn-- A-labels)")]
    NotAscii,
    #[error("has an empty label")]
    EmptyLabel,
    #[error("has a label longer than 63 characters")]
    LongLabel,
    #[error("has characters other than letters, digits, hyphens and dots")]
    Characters,
    #[error("has a label that starts or ends with a hyphen")]
    Hyphen,
}

/// What is wrong with an email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailProblem {
    #[error("has no @")]
    NoAt,
    #[error("has an empty or over-long local part")]
    LocalPart,
    #[error("has characters outside printable ASCII")]
    NotPrintable,
    #[error("has a wildcard domain")]
    WildcardDomain,
    #[error("has a domain that {0}")]
    Domain(DnsProblem),
}

fn accepted() -> String {
    ATTRS.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
}

/// The refusal of `count` SANs when that is more than [`MAX_SANS`].
pub fn check_san_count(count: usize) -> Result<(), NameError> {
    if count > MAX_SANS {
        return Err(NameError::TooManySans(count));
    }
    Ok(())
}

/// (short name, OID arcs) of the subject attributes fileca accepts.
pub const ATTRS: &[(&str, &[u64])] = &[
    ("CN", &[2, 5, 4, 3]),
    ("O", &[2, 5, 4, 10]),
    ("OU", &[2, 5, 4, 11]),
    ("C", &[2, 5, 4, 6]),
    ("ST", &[2, 5, 4, 8]),
    ("L", &[2, 5, 4, 7]),
    ("serialNumber", &[2, 5, 4, 5]),
    ("emailAddress", &[1, 2, 840, 113549, 1, 9, 1]),
    ("DC", &[0, 9, 2342, 19200300, 100, 1, 25]),
];

/// A subject: (attribute short name, value) pairs in ASN.1 order — the order of the RDNs in
/// the certificate, most general first (`C`, `O`, `CN`). RFC 4514 strings list them the
/// other way round (most specific first): [`Subject::parse`] and `Display` speak that form,
/// [`Subject::parse_stored`] and [`Subject::stored`] the ASN.1-order form index.log keeps
/// (SPEC.md NAME-ORDER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(pub Vec<(String, String)>);

/// Splits `s` at every unescaped `sep`, removing the escapes (`\x` is `x`).
fn split_escaped(s: &str, sep: char) -> Result<Vec<String>, NameError> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => cur.push(n),
                None => return Err(NameError::LoneBackslash),
            },
            c if c == sep => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    Ok(parts)
}

impl Subject {
    /// Parses a subject as a user types it: an RFC 4514 string, most specific RDN first
    /// (`CN=name,O=org,C=DE`, commas inside values escaped as `\,`), or the OpenSSL form,
    /// most general first (`/C=DE/O=org/CN=name`, `/` inside values escaped as `\/`). Both
    /// give the same certificate subject.
    pub fn parse(s: &str) -> Result<Subject, NameError> {
        let subject = match s.trim_start().strip_prefix('/') {
            Some(openssl) => Subject::from_parts(split_escaped(openssl, '/')?)?,
            None => {
                let mut parsed = Subject::from_parts(split_escaped(s, ',')?)?;
                parsed.0.reverse();
                parsed
            }
        };
        Ok(subject)
    }

    /// Parses the form index.log keeps: `KEY=value` in ASN.1 order joined by `,`.
    pub fn parse_stored(s: &str) -> Result<Subject, NameError> {
        Subject::from_parts(split_escaped(s, ',')?)
    }

    /// The form index.log keeps: ASN.1 order, `,`-joined, `,` and `\` escaped.
    pub fn stored(&self) -> String {
        join_escaped(self.0.iter())
    }

    /// `KEY=value` parts, in the order given, checked.
    fn from_parts(parts: Vec<String>) -> Result<Subject, NameError> {
        let mut attrs = Vec::new();
        for part in parts {
            let part = part.trim();
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| NameError::NotKeyValue(part.to_string()))?;
            let key = canonical_key(k.trim())
                .ok_or_else(|| NameError::UnknownAttribute(k.trim().to_string()))?;
            attrs.push((key.to_string(), v.trim().to_string()));
        }
        let subject = Subject(attrs);
        subject.check()?;
        Ok(subject)
    }

    /// Checks the rules in the module documentation.
    pub fn check(&self) -> Result<(), NameError> {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if self.0[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(NameError::Repeated(k.clone()));
            }
            check_value(k, v)?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The CN, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v.as_str())
    }

    /// rcgen's form. Country is a PrintableString, emailAddress and DC IA5Strings (as RFC 5280
    /// requires), everything else UTF8String.
    pub fn to_rcgen(&self) -> Result<DistinguishedName, NameError> {
        let mut dn = DistinguishedName::new();
        for (k, v) in &self.0 {
            let oid = ATTRS
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, o)| *o)
                .ok_or_else(|| NameError::UnknownAttribute(k.clone()))?;
            let ty = DnType::from_oid(oid);
            let value = match k.as_str() {
                "C" => DnValue::PrintableString(
                    v.as_str()
                        .try_into()
                        .map_err(|_| NameError::Country(v.clone()))?,
                ),
                "emailAddress" | "DC" => {
                    DnValue::Ia5String(v.as_str().try_into().map_err(|_| NameError::NotAscii {
                        key: k.clone(),
                        value: v.clone(),
                    })?)
                }
                _ => DnValue::Utf8String(v.clone()),
            };
            dn.push(ty, value);
        }
        Ok(dn)
    }
}

/// RFC 4514 order: the most specific RDN first.
impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&join_escaped(self.0.iter().rev()))
    }
}

/// `KEY=value` pairs joined by `,`, with `,` and `\` in values escaped by `\`.
fn join_escaped<'a>(attrs: impl Iterator<Item = &'a (String, String)>) -> String {
    let parts: Vec<String> = attrs
        .map(|(k, v)| format!("{k}={}", v.replace('\\', "\\\\").replace(',', "\\,")))
        .collect();
    parts.join(",")
}

/// An index.log subject (ASN.1 order) as it is shown: RFC 4514 order. Only the separators
/// are moved, so subjects recorded by an import with attributes fileca does not issue
/// (dotted OIDs) are shown too.
pub fn shown(stored: &str) -> String {
    match split_escaped(stored, ',') {
        Ok(parts) => {
            let escaped: Vec<String> = parts
                .iter()
                .rev()
                .map(|p| p.replace('\\', "\\\\").replace(',', "\\,"))
                .collect();
            escaped.join(",")
        }
        Err(_) => stored.to_string(),
    }
}

/// A certificate's name in RFC 4514 order (most specific first), with fileca's short names
/// and dotted OIDs for other attributes.
pub fn name_shown(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut parts = Vec::new();
    for attr in name.iter_attributes() {
        let arcs: Option<Vec<u64>> = attr.attr_type().iter().map(|i| i.collect());
        let key = arcs
            .as_deref()
            .and_then(attr_name)
            .map_or_else(|| attr.attr_type().to_id_string(), str::to_string);
        let value = attr.as_str().unwrap_or("?");
        parts.push((key, value.to_string()));
    }
    join_escaped(parts.iter().rev())
}

/// Maps a user-typed key to its canonical short name (case-insensitive).
fn canonical_key(k: &str) -> Option<&'static str> {
    ATTRS
        .iter()
        .map(|a| a.0)
        .find(|n| n.eq_ignore_ascii_case(k))
}

/// The short name of an attribute OID, if fileca accepts it.
pub fn attr_name(oid: &[u64]) -> Option<&'static str> {
    ATTRS.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n)
}

fn check_value(k: &str, v: &str) -> Result<(), NameError> {
    let problem = if v.is_empty() {
        Some(ValueProblem::Empty)
    } else if v.chars().count() > 64 {
        Some(ValueProblem::TooLong)
    } else if v.chars().any(char::is_control) {
        Some(ValueProblem::Control)
    } else if v.chars().any(crate::pki::text::is_unsafe) {
        Some(ValueProblem::Invisible)
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(NameError::Value {
            key: k.to_string(),
            problem,
        });
    }
    if k == "C" && (v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(NameError::Country(v.to_string()));
    }
    if (k == "emailAddress" || k == "DC") && !v.is_ascii() {
        return Err(NameError::NotAscii {
            key: k.to_string(),
            value: v.to_string(),
        });
    }
    Ok(())
}

/// Rebuilds an rcgen name from a parsed certificate name, keeping each attribute's string
/// type, so a re-issued CA certificate carries the same subject encoding.
pub fn dn_from_x509(
    name: &x509_parser::x509::X509Name<'_>,
) -> Result<DistinguishedName, NameError> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let mut dn = DistinguishedName::new();
    for rdn in name.iter() {
        let mut it = rdn.iter();
        let Some(attr) = it.next() else {
            return Err(NameError::EmptyRdn);
        };
        if it.next().is_some() {
            return Err(NameError::MultiValuedRdn);
        }
        let oid = attr.attr_type();
        let arcs: Vec<u64> = oid
            .iter()
            .map(|i| i.collect())
            .ok_or_else(|| NameError::OidOutOfRange(oid.to_id_string()))?;
        let value = attr
            .as_str()
            .map_err(|_| NameError::NotAString(oid.to_id_string()))?
            .to_string();
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => DnValue::PrintableString(
                value
                    .as_str()
                    .try_into()
                    .map_err(|_| NameError::NotAString(oid.to_id_string()))?,
            ),
            Tag::Ia5String => DnValue::Ia5String(
                value
                    .as_str()
                    .try_into()
                    .map_err(|_| NameError::NotAString(oid.to_id_string()))?,
            ),
            _ => DnValue::Utf8String(value),
        };
        dn.push(DnType::from_oid(&arcs), value);
    }
    Ok(dn)
}

/// A subject alternative name fileca issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
    Email(String),
    /// A URI (RFC 3986), e.g. a SPIFFE ID `spiffe://lab.test/ns/web`.
    Uri(String),
}

impl San {
    /// Parses `DNS:name`, `IP:addr` or `email:addr` (prefix case-insensitive).
    pub fn parse(s: &str) -> Result<San, NameError> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| NameError::SanForm(s.to_string()))?;
        match kind.to_ascii_lowercase().as_str() {
            "dns" => San::dns(value),
            "ip" => value
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| NameError::Ip {
                    san: s.to_string(),
                    value: value.to_string(),
                }),
            "email" => San::email(value),
            "uri" => San::uri(value),
            _ => Err(NameError::SanKind {
                san: s.to_string(),
                kind: kind.to_string(),
            }),
        }
    }

    /// A DNS name: LDH labels of 1–63 characters, at most 253 in all, an optional leading `*.`
    /// wildcard label; internationalised names must be given as A-labels (`xn--…`).
    pub fn dns(name: &str) -> Result<San, NameError> {
        check_dns(name).map_err(|problem| NameError::Dns {
            name: name.to_string(),
            problem,
        })?;
        Ok(San::Dns(name.to_ascii_lowercase()))
    }

    /// An email address: a printable ASCII local part and a DNS domain.
    pub fn email(addr: &str) -> Result<San, NameError> {
        let bad = |problem| NameError::Email {
            addr: addr.to_string(),
            problem,
        };
        let (local, domain) = addr
            .rsplit_once('@')
            .ok_or_else(|| bad(EmailProblem::NoAt))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad(EmailProblem::LocalPart));
        }
        if !local.bytes().all(|b| b.is_ascii_graphic() && b != b'@') {
            return Err(bad(EmailProblem::NotPrintable));
        }
        if domain.starts_with("*.") {
            return Err(bad(EmailProblem::WildcardDomain));
        }
        check_dns(domain).map_err(|p| bad(EmailProblem::Domain(p)))?;
        Ok(San::Email(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        )))
    }

    /// A URI: an ASCII scheme (letter, then letters, digits, `+`, `-`, `.`) and `:`, then up
    /// to 2048 printable ASCII characters without spaces; `scheme://` needs a host
    /// (`spiffe://lab.test/ns/web`). Checked for well-formedness, not resolved.
    pub fn uri(uri: &str) -> Result<San, NameError> {
        let bad = |problem| NameError::Uri {
            uri: uri.to_string(),
            problem,
        };
        if uri.len() > 2048 {
            return Err(bad("is longer than 2048 characters"));
        }
        if !uri.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "has characters outside printable ASCII (spaces included)",
            ));
        }
        let (scheme, rest) = uri.split_once(':').ok_or_else(|| bad("has no scheme"))?;
        let mut chars = scheme.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(bad("has a malformed scheme"));
        }
        if let Some(after) = rest.strip_prefix("//") {
            let host = after.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() {
                return Err(bad("has an empty host"));
            }
        } else if rest.is_empty() {
            return Err(bad("is only a scheme"));
        }
        Ok(San::Uri(uri.to_string()))
    }

    /// rcgen's form.
    pub fn to_rcgen(&self) -> Result<SanType, NameError> {
        // Checked names are ASCII, which is all rcgen's IA5String needs.
        let form = || NameError::SanForm(self.to_string());
        Ok(match self {
            San::Dns(d) => SanType::DnsName(d.as_str().try_into().map_err(|_| form())?),
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Email(e) => SanType::Rfc822Name(e.as_str().try_into().map_err(|_| form())?),
            San::Uri(u) => SanType::URI(u.as_str().try_into().map_err(|_| form())?),
        })
    }
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Email(e) => write!(f, "email:{e}"),
            San::Uri(u) => write!(f, "URI:{u}"),
        }
    }
}

fn check_dns(name: &str) -> Result<(), DnsProblem> {
    if name.is_empty() {
        return Err(DnsProblem::Empty);
    }
    if name.len() > 253 {
        return Err(DnsProblem::TooLong);
    }
    if !name.is_ascii() {
        return Err(DnsProblem::NotAscii);
    }
    let body = name.strip_prefix("*.").unwrap_or(name);
    for label in body.split('.') {
        if label.is_empty() {
            return Err(DnsProblem::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(DnsProblem::LongLabel);
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(DnsProblem::Characters);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DnsProblem::Hyphen);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// A CN as the DNS name verifiers take it for: one with a dot made of letters, digits, `-`,
/// `_`, `*` and dots (an IPv4 address is one).
pub fn cn_as_dns(cn: &str) -> Option<San> {
    let hostlike = cn.contains('.')
        && cn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*'));
    hostlike.then(|| San::Dns(cn.to_ascii_lowercase()))
}
