//! The allow lists of a leaf profile (`allow_dns`, `allow_ip`, `allow_email`, `allow_uri`):
//! each pattern well-formed, and every name it matches within the names the CA itself may
//! certify (its own name constraints, SPEC.md NC-*).

use toml::Spanned;

use super::Checker;
use crate::pki::constraints::{Constraints, Subtree};
use crate::pki::names::San;

/// The CA's own name constraints and its subject as shown, which allow lists and permitted
/// subtrees must stay within.
pub(super) type CaNames<'a> = Option<(&'a Constraints, &'a str)>;

/// `allow_dns`: domain patterns, within the CA's name constraints.
pub(super) fn allow_dns(
    c: &mut Checker<'_>,
    l: &Spanned<Vec<Spanned<String>>>,
    constraints: CaNames<'_>,
) -> Vec<String> {
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
    v
}

/// `allow_ip`: address/prefix ranges, within the CA's name constraints.
pub(super) fn allow_ip(
    c: &mut Checker<'_>,
    l: &Spanned<Vec<Spanned<String>>>,
    constraints: CaNames<'_>,
) -> Vec<(std::net::IpAddr, u8)> {
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
    v
}

/// `allow_email`: domain patterns or mailboxes, within the CA's name constraints.
pub(super) fn allow_email(
    c: &mut Checker<'_>,
    l: &Spanned<Vec<Spanned<String>>>,
    constraints: CaNames<'_>,
) -> Vec<String> {
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
    v
}

/// `allow_uri`: URI patterns with a `*` only in the path, within the CA's name constraints.
pub(super) fn allow_uri(
    c: &mut Checker<'_>,
    l: &Spanned<Vec<Spanned<String>>>,
    constraints: CaNames<'_>,
) -> Vec<String> {
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
    v
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
    constraints: CaNames<'_>,
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
    constraints: CaNames<'_>,
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
