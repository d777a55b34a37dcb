//! Conversions of what the user typed: clap's view of the domain enums (their names on the
//! command line and help; the types themselves, in pki/ and model/, know nothing of clap) and
//! the option values clap cannot parse alone (SANs, serials, sub-CA limits).

use clap::ValueEnum;
use clap::builder::PossibleValue;

use super::SubCaArgs;
use crate::model::log::CertState;
use crate::pki::keys::KeyType;
use crate::pki::reason::Reason;

// clap's view of the domain enums: their names on the command line, aliases and help. The
// types themselves (pki/, model/) know nothing of clap.

impl ValueEnum for Reason {
    fn value_variants<'a>() -> &'a [Self] {
        &Reason::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Reason::CaCompromise => PossibleValue::new("caCompromise").alias("cACompromise"),
            Reason::AaCompromise => PossibleValue::new("aaCompromise").alias("aACompromise"),
            // Only meaningful in delta CRLs: accepted so that revoke can say so, not offered.
            Reason::RemoveFromCrl => PossibleValue::new(Reason::RemoveFromCrl.name()).hide(true),
            other => PossibleValue::new(other.name()),
        })
    }
}

impl ValueEnum for KeyType {
    fn value_variants<'a>() -> &'a [Self] {
        &KeyType::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            KeyType::EcdsaP256 => PossibleValue::new(self.name())
                .help("ECDSA on NIST P-256 with SHA-256 (the default)"),
            KeyType::EcdsaP384 => {
                PossibleValue::new(self.name()).help("ECDSA on NIST P-384 with SHA-384")
            }
            KeyType::Ed25519 => PossibleValue::new(self.name()).help("Ed25519 (RFC 8410)"),
            KeyType::Rsa2048 => PossibleValue::new(self.name())
                .help("RSA 2048 bits, signing with SHA-256 (for clients that need RSA)"),
            KeyType::Rsa3072 => PossibleValue::new(self.name()).help("RSA 3072 bits"),
            KeyType::Rsa4096 => PossibleValue::new(self.name()).help("RSA 4096 bits"),
        })
    }
}

impl ValueEnum for CertState {
    fn value_variants<'a>() -> &'a [Self] {
        &CertState::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

/// What `--path-len`, `--permit` and `--exclude` ask for (their form; the profile decides
/// in the plan); with `--san` they are a usage error (a CA certificate carries no SANs).
pub fn sub_ca(args: &SubCaArgs, sans: &[String]) -> crate::error::Result<crate::policy::SubCaAsk> {
    use crate::error::Error;
    let given = args.path_len.is_some() || !args.permit.is_empty() || !args.exclude.is_empty();
    if given && !sans.is_empty() {
        return Err(Error::Usage(
            "a sub-CA certificate carries no SANs; --san does not apply with --path-len, --permit or --exclude".into(),
        ));
    }
    sub_ca_ask(args.path_len, &args.permit, &args.exclude)
}

/// [`sub_ca`] from the values themselves (`init --parent`).
pub fn sub_ca_ask(
    path_len: Option<u8>,
    permit: &[String],
    exclude: &[String],
) -> crate::error::Result<crate::policy::SubCaAsk> {
    let parse = |what: &'static str, values: &[String]| {
        values
            .iter()
            .map(|v| {
                crate::pki::constraints::Subtree::parse_exact(v)
                    .map_err(|err| crate::error::Error::Constraint { what, err })
            })
            .collect::<crate::error::Result<Vec<_>>>()
    };
    Ok(crate::policy::SubCaAsk {
        path_len,
        permit: parse("--permit", permit)?,
        exclude: parse("--exclude", exclude)?,
    })
}

/// `--permit`/`--exclude` values, closed (types not permitted are excluded whole).
pub fn constraints(
    permit: &[String],
    exclude: &[String],
) -> crate::error::Result<crate::pki::constraints::Constraints> {
    use crate::pki::constraints::{Constraints, Subtree};
    let parse = |what: &'static str, values: &[String]| {
        values
            .iter()
            .map(|v| {
                Subtree::parse_exact(v).map_err(|err| crate::error::Error::Constraint { what, err })
            })
            .collect::<crate::error::Result<Vec<_>>>()
    };
    Ok(Constraints::closed(
        parse("--permit", permit)?,
        parse("--exclude", exclude)?,
    ))
}

/// Parses `--san` options.
pub fn sans(sans: &[String]) -> crate::error::Result<Vec<crate::pki::names::San>> {
    use crate::error::Error;
    use crate::pki::names::{self, San};
    // Too many well-formed names is a refusal (exit 3), not a malformed value (exit 2).
    names::check_san_count(sans.len()).map_err(crate::error::Refused::SanCount)?;
    sans.iter()
        .map(|s| San::parse(s))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|err| Error::Name { what: "--san", err })
}

/// Parses a serial typed by the user; never a path.
pub fn serial(s: &str) -> crate::error::Result<crate::model::log::Typed> {
    crate::model::log::Typed::parse(s).ok_or_else(|| {
        crate::error::Error::Usage(format!(
            "{s:?} is not a serial number (hex digits, optionally with colons, 0x or serial=)"
        ))
    })
}
