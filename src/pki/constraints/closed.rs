//! Closed name types (NC-CLOSE-ENCODING): a type no subtree permits is excluded whole, and
//! written into a certificate as one permitted subtree that no name in use falls in, in the
//! form every verifier (Java's included) reads as closed; and read back as closed.

use std::net::IpAddr;

use super::{Constraints, Subtree};
use crate::pki::names::San;

/// The reserved name (RFC 6761 6.4) under which a closed DNS or email type is written as a
/// permitted subtree.
const CLOSED: &str = "closed.invalid";
/// The iPAddress subtree that closes addresses when no CA above permits any
/// (NC-CLOSE-ENCODING): the limited broadcast address, never a host's.
const CLOSED_IP: [u8; 4] = [255; 4];

impl Constraints {
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
    pub(super) fn written(&self, above: &[&Constraints]) -> (Vec<Subtree>, Vec<Subtree>) {
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

    pub(super) fn plural(self) -> &'static str {
        match self {
            NameKind::Dns => "DNS names",
            NameKind::Ip => "IP addresses",
            NameKind::Email => "email addresses",
        }
    }

    /// [`Subtree::kind`]'s number for this type.
    pub(super) fn code(self) -> u8 {
        match self {
            NameKind::Dns => 0,
            NameKind::Ip => 1,
            NameKind::Email => 2,
        }
    }

    /// The excluded subtrees that close this type whole (as [`Constraints::closed`] keeps
    /// them): DNS ``, IP `0.0.0.0/0` and `::/0`, email ``.
    pub(super) fn whole(self) -> Vec<Subtree> {
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
    pub(super) fn is_whole(self, s: &Subtree) -> bool {
        match (self, s) {
            (NameKind::Dns, Subtree::Dns(d)) | (NameKind::Email, Subtree::Email(d)) => d.is_empty(),
            (NameKind::Ip, Subtree::Ip(_, 0)) => true,
            _ => false,
        }
    }

    /// Is `s` a subtree of this type?
    pub(super) fn is(self, s: &Subtree) -> bool {
        matches!(
            (self, s),
            (NameKind::Dns, Subtree::Dns(_))
                | (NameKind::Ip, Subtree::Ip(..))
                | (NameKind::Email, Subtree::Email(_))
        )
    }

    pub(super) fn holds(self, name: &San) -> bool {
        matches!(
            (self, name),
            (NameKind::Dns, San::Dns(_))
                | (NameKind::Ip, San::Ip(_))
                | (NameKind::Email, San::Email(_))
        )
    }
}

/// The first subtree of `kind` the nearest CA in `above` permits (issuer first).
pub(super) fn first_permitted<'a>(
    above: &[&'a Constraints],
    kind: NameKind,
) -> Option<&'a Subtree> {
    above
        .iter()
        .find_map(|c| c.permitted.iter().find(|p| kind.is(p)))
}

/// The permitted subtree that closes `kind` inside `r`, the subtree of that type a CA above
/// permits ([`Constraints::written`]).
pub(super) fn closing(kind: NameKind, r: Option<&Subtree>) -> Subtree {
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
pub(super) fn is_closing(s: &Subtree) -> bool {
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
