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
            Reason::CaCompromise | Reason::AaCompromise => {
                PossibleValue::new(self.typed()).alias(self.name())
            }
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
                .alias("p256")
                .help("ECDSA on NIST P-256 with SHA-256 (the default)"),
            KeyType::EcdsaP384 => PossibleValue::new(self.name())
                .alias("p384")
                .help("ECDSA on NIST P-384 with SHA-384"),
            KeyType::Ed25519 => PossibleValue::new(self.name()).help("Ed25519 (RFC 8410)"),
            KeyType::Rsa2048 => PossibleValue::new(self.name())
                .help("RSA 2048 bits, signing with SHA-256 (for clients that need RSA)"),
            KeyType::Rsa3072 => PossibleValue::new(self.name())
                .alias("rsa3072")
                .help("RSA 3072 bits"),
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

/// Why a value of an option or argument is malformed: the clap value parsers below return
/// it, and clap reports it (exit 2, EXIT-USAGE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    /// `--expiring` that does not start with a number.
    #[error("{0:?} is not a duration such as 30d, 12h or 2w")]
    NotDuration(String),
    /// `--expiring` with a unit other than m, h, d, w.
    #[error("{value:?}: unknown unit {unit:?} (use m, h, d or w)")]
    DurationUnit { value: String, unit: String },
    /// `--expiring` beyond what a duration holds.
    #[error("{0:?} is too long a duration")]
    DurationTooLong(String),
    /// `issue '*.NAME'` (both escaped): a wildcard belongs in `--san`.
    #[error(
        "{shown:?}: NAME names files and cannot hold '*'; a wildcard is a SAN: \
         ca issue {base} --san 'DNS:*.{base}'"
    )]
    IssueWildcard { shown: String, base: String },
    /// `issue NAME` (escaped) that cannot be a file name.
    #[error("{0:?} must be 1-64 letters, digits, '.', '_' or '-' and not start with '.'")]
    IssueName(String),
    /// `--out-dir -`.
    #[error("--out-dir takes a directory, not `-` (standard output)")]
    OutDirDash,
    /// `--out-dir ''`.
    #[error("--out-dir needs a directory name")]
    OutDirEmpty,
}

/// `list --expiring`: `30d`, `12h`, `2w`, `90m` or a plain number of days. A clap value
/// parser, so a malformed duration is a usage error (exit 2, EXIT-USAGE).
pub fn duration(s: &str) -> Result<time::Duration, BadValue> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "d"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| BadValue::NotDuration(s.to_string()))?;
    let seconds: i64 = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "w" => 604_800,
        "m" => 60,
        _ => {
            return Err(BadValue::DurationUnit {
                value: s.to_string(),
                unit: unit.to_string(),
            });
        }
    };
    n.checked_mul(seconds)
        .map(time::Duration::seconds)
        .ok_or_else(|| BadValue::DurationTooLong(s.to_string()))
}

/// `issue NAME`: NAME becomes file names, so 1–64 of letters, digits, `.`, `_`, `-`, not
/// starting with `.` (SPEC.md ISSUE-*). A clap value parser: anything else is a usage error
/// (exit 2, EXIT-USAGE); a wildcard is pointed to `--san`.
pub fn issue_name(name: &str) -> Result<String, BadValue> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Ok(name.to_string());
    }
    let shown = crate::term::escape(name);
    if let Some(base) = name.strip_prefix("*.") {
        let base = crate::term::escape(base);
        return Err(BadValue::IssueWildcard { shown, base });
    }
    Err(BadValue::IssueName(shown))
}

/// `--out-dir DIR`: a directory to create or fill, never `-` (which would make a directory
/// named `-`, not standard output). A clap value parser: `-` is a usage error (EXIT-USAGE).
pub fn out_dir(dir: &str) -> Result<std::path::PathBuf, BadValue> {
    match dir {
        "-" => Err(BadValue::OutDirDash),
        "" => Err(BadValue::OutDirEmpty),
        d => Ok(d.into()),
    }
}
