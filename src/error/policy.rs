//! Why the CA's policy refuses a request or cannot be read: the types [`crate::policy`]
//! returns.

/// One thing wrong with a policy file, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Why policy.toml cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyFileError {
    #[error(
        "is not the policy index.json records (policy_sha256 {recorded}): it was edited or replaced by hand. Apply the policy you mean with `ca policy apply FILE` — the file as it is now, if that is the one, or your copy — which replaces it (`ca policy edit` and `show` need a policy in force)"
    )]
    Changed { recorded: String },
    #[error(
        "exists but index.json records no policy: it was placed by hand; apply it with `ca policy apply {0}` (or remove it)"
    )]
    Unrecorded(String),
    #[error(
        "is missing, but index.json records a policy (policy_sha256 {0}); restore it from a backup"
    )]
    Missing(String),
    #[error("does not validate: {0}")]
    Invalid(String),
}

/// Why the policy refuses a request (exit 3, nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error(
        "no profile {name:?} in this CA's policy (profiles: {known}; `ca policy show` prints them)"
    )]
    UnknownProfile { name: String, known: String },
    #[error("{san} not allowed by profile {profile}: {rule}")]
    Name {
        san: String,
        profile: String,
        rule: String,
    },
    #[error("{what} not allowed (by any profile): {why}")]
    Wildcard { what: String, why: String },
    #[error("--days {days} is above profile {profile}'s max_days = {max}")]
    Days {
        days: u32,
        profile: String,
        max: u32,
    },
    #[error("key type {key} is not allowed by profile {profile}: {rule}")]
    Key {
        key: String,
        profile: String,
        rule: String,
    },
    #[error(
        "profile {profile} requires a subjectAltName (require_san = true) of the types it issues (san_types), and none is left"
    )]
    NoSan { profile: String },
    #[error("profile {profile} issues sub-CA certificates: `ca sign CSR --profile {profile}`")]
    SubCaProfile { profile: String },
    #[error(
        "profile {profile} does not issue sub-CA certificates: --path-len, --permit and --exclude apply to a profile with kind = \"sub-ca\""
    )]
    NotSubCa { profile: String },
    #[error(
        "the parent's profile {profile} does not issue sub-CA certificates (kind = \"sub-ca\"); init --parent needs one named sub-ca"
    )]
    NotSubCaProfile { profile: String },
    #[error(
        "the parent's policy has no profile sub-ca (profiles: {known}); init --parent needs one with kind = \"sub-ca\""
    )]
    ParentNoSubCa { known: String },
    #[error("--path-len {asked} is above profile {profile}'s max_path_len = {max}")]
    PathLen { asked: u8, profile: String, max: u8 },
    #[error("--permit {subtree} is not within profile {profile}'s permit = [{within}]")]
    Permit {
        subtree: String,
        profile: String,
        within: String,
    },
}
