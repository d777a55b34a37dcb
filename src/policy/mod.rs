//! The CA's policy as data (SPEC.md POLICY-*): profiles, name rules, publication URLs and
//! validity limits, from policy.toml or — without one — the built-in policy
//! ([`DEFAULT_TOML`], the same text `ca policy show` prints). policy.toml is changed only by
//! `ca policy apply`/`edit`, which record its SHA-256 in index.json (`policy_sha256`); a file
//! that does not hash to it is refused by every command that issues.
//!
//! Everything here is a function of its arguments except [`read`], which reads policy.toml
//! through the session; parse.rs validates the text, gate.rs checks a request against a
//! profile, ext.rs turns the policy into extensions.

pub mod gate;
pub mod parse;

use crate::error::{Error, Result};
use crate::pki::constraints::{Constraints, Subtree};
use crate::pki::issuance::SubCa;
use crate::pki::profile::{Kind, Profile};
pub use gate::PolicyRefusal;

/// The built-in policy, as a policy file.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The CA's policy file in the state directory (SPEC.md POLICY-*), when it has one of its own.
pub const FILE: &str = "policy.toml";
/// The largest policy.toml fileca reads.
pub const MAX_BYTES: u64 = 1 << 20;

/// Where certificates say their CRL and issuer certificate are published (`[urls]`).
pub use crate::pki::extensions::Urls;

/// The built-in policy with `urls` as its `[urls]`: a new CA's initial policy
/// (`init --crl-url …`). The URLs are validated when the text is parsed.
pub fn with_urls(urls: &Urls) -> String {
    let list = |v: &[String]| {
        format!(
            "[{}]",
            v.iter()
                .map(|u| format!("{u:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    DEFAULT_TOML
        .lines()
        .map(|l| match l.split_once(" = []") {
            Some(("crl", _)) => format!("crl = {}", list(&urls.crl)),
            Some(("ca_issuers", _)) => format!("ca_issuers = {}", list(&urls.ca_issuers)),
            Some(("ocsp", _)) => format!("ocsp = {}", list(&urls.ocsp)),
            _ => l.to_string(),
        } + "\n")
        .collect()
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub urls: Urls,
    pub profiles: Vec<Profile>,
}

impl Policy {
    /// The built-in policy.
    pub fn builtin() -> Policy {
        parse::parse(DEFAULT_TOML, None).expect("the built-in policy is valid")
    }

    /// The profile named `name`.
    pub fn profile(&self, name: &str) -> std::result::Result<&Profile, PolicyRefusal> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| PolicyRefusal::UnknownProfile {
                name: crate::term::escape(name),
                known: {
                    let mut names: Vec<&str> = self
                        .profiles
                        .iter()
                        .take(20)
                        .map(|p| p.name.as_str())
                        .collect();
                    if self.profiles.len() > 20 {
                        names.push("…");
                    }
                    names.join(", ")
                },
            })
    }

    /// A leaf profile named `name` (refused for a sub-CA profile, with `why`).
    pub fn leaf(&self, name: &str) -> std::result::Result<&Profile, PolicyRefusal> {
        let p = self.profile(name)?;
        match p.kind {
            Kind::Leaf => Ok(p),
            Kind::SubCa => Err(PolicyRefusal::SubCaProfile {
                profile: p.name.clone(),
            }),
        }
    }
}

/// What `--path-len`, `--permit` and `--exclude` asked for (checked for form before the
/// lock; against the profile in the plan).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubCaAsk {
    pub path_len: Option<u8>,
    pub permit: Vec<Subtree>,
    pub exclude: Vec<Subtree>,
}

impl SubCaAsk {
    pub fn is_empty(&self) -> bool {
        *self == SubCaAsk::default()
    }
}

/// The sub-CA limits to issue under profile `p` (SPEC.md POLICY-SUBCA): `None` for a leaf
/// profile (where asking for limits is refused). The path length defaults to 0 and may not
/// exceed `max_path_len`; `--permit` must lie within the profile's `permit` (which is the
/// default), the profile's `exclude` is always added.
pub fn sub_ca(p: &Profile, ask: &SubCaAsk) -> std::result::Result<Option<SubCa>, PolicyRefusal> {
    if p.kind == Kind::Leaf {
        return match ask.is_empty() {
            true => Ok(None),
            false => Err(PolicyRefusal::NotSubCa {
                profile: p.name.clone(),
            }),
        };
    }
    let path_len = ask.path_len.unwrap_or(0);
    if let Some(max) = p.max_path_len
        && path_len > max
    {
        return Err(PolicyRefusal::PathLen {
            asked: path_len,
            profile: p.name.clone(),
            max,
        });
    }
    let permit = if ask.permit.is_empty() {
        p.permit.clone()
    } else {
        if !p.permit.is_empty() {
            let outer = Constraints::closed(p.permit.clone(), Vec::new());
            let inner = Constraints::closed(ask.permit.clone(), Vec::new());
            if let Err(s) = outer.contains(&inner) {
                return Err(PolicyRefusal::Permit {
                    subtree: s.spelling(),
                    profile: p.name.clone(),
                    within: p
                        .permit
                        .iter()
                        .map(|s| format!("{:?}", s.spelling()))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        ask.permit.clone()
    };
    let mut exclude = ask.exclude.clone();
    for e in &p.exclude {
        if !exclude.contains(e) {
            exclude.push(e.clone());
        }
    }
    Ok(Some(SubCa {
        path_len,
        constraints: Constraints::closed(permit, exclude),
    }))
}

pub use crate::error::policy::PolicyFileError;

/// The policy in force in the state directory `dir`, given policy.toml's bytes (if present)
/// and what index.json records: the built-in policy when neither has one; else the file,
/// which must hash to `recorded`.
pub fn in_force(
    dir: &std::path::Path,
    bytes: Option<&[u8]>,
    recorded: Option<&str>,
) -> Result<Policy> {
    let path = dir.join(FILE);
    let text = match (bytes, recorded) {
        (None, None) => return Ok(Policy::builtin()),
        (Some(_), None) => {
            return Err(Error::state(
                &path,
                PolicyFileError::Unrecorded(path.display().to_string()),
            ));
        }
        (None, Some(h)) => return Err(Error::state(&path, PolicyFileError::Missing(h.into()))),
        (Some(b), Some(h)) => {
            if crate::hex::sha256(b) != h {
                return Err(Error::state(
                    &path,
                    PolicyFileError::Changed {
                        recorded: h.to_string(),
                    },
                ));
            }
            String::from_utf8_lossy(b).into_owned()
        }
    };
    parse::parse(&text, None).map_err(|problems| {
        Error::state(
            &path,
            PolicyFileError::Invalid(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        )
    })
}

#[cfg(test)]
mod tests;
