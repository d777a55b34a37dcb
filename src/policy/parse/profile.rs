//! One profile of policy.toml, checked against the rules of SPEC.md POLICY-VALIDATE: a
//! function per key or group of keys (the allow lists are in allow.rs), each reporting what
//! it finds through the [`Checker`] and returning the part of the [`Profile`] it decides;
//! [`profile`] adds the rules that join keys. A profile with any problem yields no
//! [`Profile`].

use toml::Spanned;

use super::allow::{CaNames, allow_dns, allow_email, allow_ip, allow_uri};
use super::{Checker, DEFAULT_DAYS, EKU_OIDS, ProfileToml, days, list, parse_oid};
use crate::pki::ca::CaCert;
use crate::pki::constraints::{Constraints, Subtree};
use crate::pki::keys::KeyKind;
use crate::pki::profile::{
    Allowed, EKU_NAMES, Eku, KEY_USAGE_NAMES, KeyRule, Kind, Profile, SanTypes,
};

/// Checks the profile `name`; `ca` is the CA that would apply it (`None`: the built-in
/// policy).
pub(super) fn profile(
    c: &mut Checker<'_>,
    name: &str,
    t: &ProfileToml,
    ca: Option<&CaCert>,
) -> Option<Profile> {
    let before = c.problems.len();
    let kind = kind(c, t);
    let mut key_usage = key_usages(c, t, kind);
    let extended_key_usage = extended_key_usages(c, t);
    check_key_usage(c, t, kind, before, &mut key_usage);
    let (default_days, max_days) = validity(c, t, ca);
    let san_types = san_types(c, t);
    let any_allow = t.allow_dns.is_some()
        || t.allow_ip.is_some()
        || t.allow_email.is_some()
        || t.allow_uri.is_some();
    let constraints = ca.map(|ca| (&ca.constraints, ca.subject_shown.as_str()));
    let allowed = Allowed {
        dns: t.allow_dns.as_ref().map(|l| allow_dns(c, l, constraints)),
        ip: t.allow_ip.as_ref().map(|l| allow_ip(c, l, constraints)),
        email: t
            .allow_email
            .as_ref()
            .map(|l| allow_email(c, l, constraints)),
        uri: t.allow_uri.as_ref().map(|l| allow_uri(c, l, constraints)),
    };
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
    let key_types = key_types(c, t, before);
    let min_rsa_bits = min_rsa_bits(c, t);
    let policies = policies(c, t);
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
    let (max_path_len, permit, exclude) = match kind {
        Kind::SubCa => sub_ca_rules(c, t, ca, constraints),
        Kind::Leaf => {
            leaf_rules(c, t, &extended_key_usage, san_types);
            (None, Vec::new(), Vec::new())
        }
    };
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

/// `kind`: "leaf" (the default) or "sub-ca".
fn kind(c: &mut Checker<'_>, t: &ProfileToml) -> Kind {
    match t.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
        None | Some(("leaf", _)) => Kind::Leaf,
        Some(("sub-ca", _)) => Kind::SubCa,
        Some((other, span)) => {
            c.at(span, format!("kind {other:?}: \"leaf\" or \"sub-ca\""));
            Kind::Leaf
        }
    }
}

/// `key_usage`: known names; a leaf may not have the CA usages.
fn key_usages(c: &mut Checker<'_>, t: &ProfileToml, kind: Kind) -> Vec<rcgen::KeyUsagePurpose> {
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
    key_usage
}

/// `extended_key_usage`: known names or dotted OIDs (an OID of a named one is that name),
/// none twice.
fn extended_key_usages(c: &mut Checker<'_>, t: &ProfileToml) -> Vec<Eku> {
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
    extended_key_usage
}

/// A leaf's `key_usage` may not be empty and defaults to digitalSignature; encipherOnly and
/// decipherOnly need keyAgreement. `before`: the problems found before this profile.
fn check_key_usage(
    c: &mut Checker<'_>,
    t: &ProfileToml,
    kind: Kind,
    before: usize,
    key_usage: &mut Vec<rcgen::KeyUsagePurpose>,
) {
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
}

/// `default_days` and `max_days`: in range, the default not above the maximum, neither
/// beyond the CA's own validity. Returns the default (filled in) and the maximum.
fn validity(c: &mut Checker<'_>, t: &ProfileToml, ca: Option<&CaCert>) -> (u32, Option<u32>) {
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
    (default_days, max_days)
}

/// `san_types`: dns, ip, email, uri (every type when absent).
fn san_types(c: &mut Checker<'_>, t: &ProfileToml) -> SanTypes {
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
    san_types
}

/// `key_types`: the known key types, at least one when the key is given. `before`: the
/// problems found before this profile.
fn key_types(c: &mut Checker<'_>, t: &ProfileToml, before: usize) -> Vec<KeyRule> {
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
    key_types
}

/// `min_rsa_bits`: between fileca's minimum and 16384.
fn min_rsa_bits(c: &mut Checker<'_>, t: &ProfileToml) -> usize {
    match &t.min_rsa_bits {
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
    }
}

/// `policies`: dotted OIDs, none twice (RFC 5280 4.2.1.4).
fn policies(c: &mut Checker<'_>, t: &ProfileToml) -> Vec<Vec<u64>> {
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
    policies
}

/// The rules of a sub-ca profile: none of a leaf's keys; `max_path_len` below the CA's own;
/// `permit` and `exclude` subtrees, the permitted ones within the CA's name constraints.
/// Returns the path length and the subtrees.
fn sub_ca_rules(
    c: &mut Checker<'_>,
    t: &ProfileToml,
    ca: Option<&CaCert>,
    constraints: CaNames<'_>,
) -> (Option<u8>, Vec<Subtree>, Vec<Subtree>) {
    let mut max_path_len = None;
    let (mut permit, mut exclude) = (Vec::new(), Vec::new());
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
    (max_path_len, permit, exclude)
}

/// The rules of a leaf profile: none of a sub-ca's keys; serverAuth needs DNS or IP SANs.
fn leaf_rules(
    c: &mut Checker<'_>,
    t: &ProfileToml,
    extended_key_usage: &[Eku],
    san_types: SanTypes,
) {
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
