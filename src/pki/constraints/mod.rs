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
//!
//! The parts: `subtree` parses and matches one subtree; this module holds a CA's
//! constraints and checks names and child CAs against them; `closed` writes a type closed
//! whole so that every verifier reads it closed (NC-CLOSE-ENCODING); `encoding` writes the
//! nameConstraints extension and reads it back from a certificate.

mod closed;
mod encoding;
mod subtree;
#[cfg(test)]
mod tests;

use crate::pki::names::San;

pub use closed::NameKind;
pub use subtree::{ConstraintError, Subtree};
use subtree::{uri_host, wildcard_reaches};

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

/// [`Constraints::spelled`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spelled {
    pub permitted: Vec<String>,
    pub excluded: Vec<String>,
    pub closed: Vec<&'static str>,
}
