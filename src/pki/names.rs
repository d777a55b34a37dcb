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

/// The refusal of `count` SANs when that is more than [`MAX_SANS`].
pub fn check_san_count(count: usize) -> Result<(), String> {
    if count > MAX_SANS {
        return Err(format!(
            "{count} SANs requested; a certificate holds at most {MAX_SANS} (split the names over several certificates)"
        ));
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

/// A subject: ordered (attribute short name, value) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(pub Vec<(String, String)>);

impl Subject {
    /// Parses `CN=name,O=org` (commas inside values escaped as `\,`).
    pub fn parse(s: &str) -> Result<Subject, String> {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) => cur.push(n),
                    None => return Err("subject ends with a lone backslash".into()),
                },
                ',' => parts.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        parts.push(cur);
        let mut attrs = Vec::new();
        for part in parts {
            let part = part.trim();
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not of the form KEY=value"))?;
            let key = canonical_key(k.trim()).ok_or_else(|| {
                format!(
                    "unknown subject attribute {:?} (accepted: {})",
                    k.trim(),
                    ATTRS.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
                )
            })?;
            attrs.push((key.to_string(), v.trim().to_string()));
        }
        let subject = Subject(attrs);
        subject.check()?;
        Ok(subject)
    }

    /// Checks the rules in the module documentation.
    pub fn check(&self) -> Result<(), String> {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if self.0[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(format!("subject attribute {k} appears more than once"));
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
    pub fn to_rcgen(&self) -> Result<DistinguishedName, String> {
        let mut dn = DistinguishedName::new();
        for (k, v) in &self.0 {
            let oid = ATTRS
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, o)| *o)
                .ok_or_else(|| format!("unknown attribute {k}"))?;
            let ty = DnType::from_oid(oid);
            let value = match k.as_str() {
                "C" => DnValue::PrintableString(
                    v.as_str()
                        .try_into()
                        .map_err(|_| format!("C={v:?} is not a PrintableString"))?,
                ),
                "emailAddress" | "DC" => DnValue::Ia5String(
                    v.as_str()
                        .try_into()
                        .map_err(|_| format!("{k}={v:?} is not ASCII"))?,
                ),
                _ => DnValue::Utf8String(v.clone()),
            };
            dn.push(ty, value);
        }
        Ok(dn)
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace('\\', "\\\\").replace(',', "\\,")))
            .collect();
        f.write_str(&parts.join(","))
    }
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

fn check_value(k: &str, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err(format!("subject attribute {k} is empty"));
    }
    if v.chars().count() > 64 {
        return Err(format!(
            "subject attribute {k} is longer than 64 characters"
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("subject attribute {k} contains control characters"));
    }
    if v.chars().any(crate::render::is_unsafe) {
        return Err(format!(
            "subject attribute {k} contains bidi or zero-width characters"
        ));
    }
    if k == "C" && (v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(format!(
            "C={v:?} must be a two-letter country code such as DE"
        ));
    }
    if (k == "emailAddress" || k == "DC") && !v.is_ascii() {
        return Err(format!("{k}={v:?} must be ASCII"));
    }
    Ok(())
}

/// Rebuilds an rcgen name from a parsed certificate name, keeping each attribute's string
/// type, so a re-issued CA certificate carries the same subject encoding.
pub fn dn_from_x509(name: &x509_parser::x509::X509Name<'_>) -> Result<DistinguishedName, String> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let mut dn = DistinguishedName::new();
    for rdn in name.iter() {
        let mut it = rdn.iter();
        let Some(attr) = it.next() else {
            return Err("the subject has an empty RDN".into());
        };
        if it.next().is_some() {
            return Err("multi-valued RDNs are not supported".into());
        }
        let arcs: Vec<u64> = attr
            .attr_type()
            .iter()
            .map(|i| i.collect())
            .ok_or("subject attribute OID out of range")?;
        let value = attr
            .as_str()
            .map_err(|_| "subject attribute is not a string".to_string())?
            .to_string();
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => DnValue::PrintableString(
                value
                    .as_str()
                    .try_into()
                    .map_err(|_| "bad PrintableString".to_string())?,
            ),
            Tag::Ia5String => DnValue::Ia5String(
                value
                    .as_str()
                    .try_into()
                    .map_err(|_| "bad IA5String".to_string())?,
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
}

impl San {
    /// Parses `DNS:name`, `IP:addr` or `email:addr` (prefix case-insensitive).
    pub fn parse(s: &str) -> Result<San, String> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| format!("SAN {s:?} must be DNS:name, IP:address or email:address"))?;
        match kind.to_ascii_lowercase().as_str() {
            "dns" => San::dns(value),
            "ip" => value
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| format!("SAN {s:?}: {value:?} is not an IP address")),
            "email" => San::email(value),
            _ => Err(format!(
                "SAN {s:?}: unknown type {kind:?} (use DNS:, IP: or email:)"
            )),
        }
    }

    /// A DNS name: LDH labels of 1–63 characters, at most 253 in all, an optional leading `*.`
    /// wildcard label; internationalised names must be given as A-labels (`xn--…`).
    pub fn dns(name: &str) -> Result<San, String> {
        check_dns(name).map_err(|m| format!("DNS name {name:?} {m}"))?;
        Ok(San::Dns(name.to_ascii_lowercase()))
    }

    /// An email address: a printable ASCII local part and a DNS domain.
    pub fn email(addr: &str) -> Result<San, String> {
        let bad = |m: &str| format!("email address {addr:?} {m}");
        let (local, domain) = addr.rsplit_once('@').ok_or_else(|| bad("has no @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("has an empty or over-long local part"));
        }
        if !local.bytes().all(|b| b.is_ascii_graphic() && b != b'@') {
            return Err(bad("has characters outside printable ASCII"));
        }
        if domain.starts_with("*.") {
            return Err(bad("has a wildcard domain"));
        }
        check_dns(domain).map_err(|m| bad(&format!("has a domain that {m}")))?;
        Ok(San::Email(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        )))
    }

    /// rcgen's form.
    pub fn to_rcgen(&self) -> Result<SanType, String> {
        Ok(match self {
            San::Dns(d) => SanType::DnsName(d.as_str().try_into().map_err(|_| d.clone())?),
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Email(e) => SanType::Rfc822Name(e.as_str().try_into().map_err(|_| e.clone())?),
        })
    }
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Email(e) => write!(f, "email:{e}"),
        }
    }
}

/// Is `s` a plausible DNS name (used to decide whether a CN can become a SAN)?
pub fn is_dns_name(s: &str) -> bool {
    check_dns(s).is_ok() && s.contains('.')
}

fn check_dns(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 253 {
        return Err("is longer than 253 characters");
    }
    if !name.is_ascii() {
        return Err("is not ASCII (give internationalised names as xn-- A-labels)");
    }
    let body = match name.strip_prefix("*.") {
        Some(rest) => rest,
        None => name,
    };
    if body.split('.').count() < 1 {
        return Err("has no labels");
    }
    for label in body.split('.') {
        if label.is_empty() {
            return Err("has an empty label");
        }
        if label.len() > 63 {
            return Err("has a label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("has characters other than letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a label that starts or ends with a hyphen");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subjects() {
        let s = Subject::parse("CN=Lab Root CA, O=Example\\, Inc.,c=DE").unwrap();
        assert_eq!(s.0[1], ("O".into(), "Example, Inc.".into()));
        assert_eq!(s.0[2], ("C".into(), "DE".into()));
        assert_eq!(Subject::parse(&s.to_string()).unwrap(), s);
        assert!(Subject::parse("CN=a,CN=b").is_err());
        assert!(Subject::parse("XX=a").is_err());
        assert!(Subject::parse("CN=").is_err());
        assert!(Subject::parse("CN=a\u{0}b").is_err());
        assert!(Subject::parse("C=Germany").is_err());
    }

    #[test]
    fn checks_sans() {
        assert_eq!(
            San::parse("DNS:WWW.example.com").unwrap(),
            San::Dns("www.example.com".into())
        );
        assert!(San::parse("DNS:*.example.com").is_ok());
        assert!(San::parse("DNS:a.*.example.com").is_err());
        assert!(San::parse("DNS:-bad.example").is_err());
        assert!(San::parse("DNS:bücher.de").is_err());
        assert!(San::parse("DNS:xn--bcher-kva.de").is_ok());
        assert!(San::parse("DNS:a..b").is_err());
        assert!(San::parse("IP:300.1.1.1").is_err());
        assert!(San::parse("IP:::1").is_ok());
        assert!(San::parse("email:a@b.example").is_ok());
        assert!(San::parse("email:ab.example").is_err());
        assert!(San::parse("URI:http://x").is_err());
    }
}
