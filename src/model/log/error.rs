//! The typed errors of index.log: [`LineError`] for one line, [`LogError`] for the file.

use crate::pki::serial::Serial;

/// What is wrong with one line of index.log; [`LogError::Line`] adds its number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("is neither an issued, a revoked nor a released record")]
    NotARecord,
    /// serde_json's words for an issued line that does not parse.
    #[error("not a valid issued record: {0}")]
    IssuedJson(String),
    /// serde_json's words for a revocation line that does not parse.
    #[error("not a valid revocation record: {0}")]
    RevocationJson(String),
    #[error("issues an invalid serial {0:?}")]
    IssuesInvalidSerial(String),
    /// An issued line's `renewed_from` is not a canonical serial.
    #[error("names an invalid serial {0:?}")]
    NamesInvalidSerial(String),
    #[error("records an invalid sha256 for {0}")]
    InvalidSha256(String),
    /// serde_json's words for a release line that does not parse.
    #[error("not a valid release record: {0}")]
    ReleaseJson(String),
    #[error("releases an invalid serial {0:?}")]
    ReleasesInvalidSerial(String),
    /// A release of a serial that is not on hold (certificateHold) at that line.
    #[error("releases {0}, which is not on hold (certificateHold) there")]
    ReleasesUnheld(String),
    #[error("revokes an invalid serial {0:?}")]
    RevokesInvalidSerial(String),
    #[error("revokes {serial} for an unknown reason {reason:?}")]
    UnknownReason { serial: String, reason: String },
    #[error("issues serial {0} a second time")]
    IssuedTwice(String),
    /// removeFromCRL, which only means something in a delta CRL (RFC 5280 5.3.1): a full CRL
    /// listing it would tell OpenSSL the certificate is not revoked, GnuTLS that it is.
    #[error("revokes {0} with reason removeFromCRL, which is not a revocation (RFC 5280 5.3.1)")]
    RemoveFromCrl(String),
    /// A second revocation of a serial that is revoked (a hold may be made final, once).
    #[error("revokes {0} a second time")]
    RevokedTwice(String),
    #[error("revokes {0}, which no earlier line issues")]
    RevokesUnissued(String),
}

/// What is wrong with index.log as a whole (or, for [`LogError::MaxSerial`], with
/// index.json's summary of it). The caller names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// Line `n` (counted from 1) is not what SPEC.md says.
    #[error("line {n} {err}")]
    Line { n: usize, err: LineError },
    #[error("is {len} bytes, shorter than the {recorded} index.json records (truncated?)")]
    Short { len: u64, recorded: u64 },
    #[error("line {n} has no final newline (torn write?)")]
    Torn { n: usize },
    /// A revocation or release whose serial no line of the log issues (found after the
    /// whole walk).
    #[error("revokes or releases {0}, which no line issues")]
    Unissued(String),
    /// index.json's `max_serial` is not the highest serial the log issues.
    #[error(
        "max_serial is {} but index.log's highest serial is {}",
        .recorded.as_deref().unwrap_or("null"),
        .found.as_ref().map_or_else(|| "none".to_string(), Serial::to_string)
    )]
    MaxSerial {
        recorded: Option<String>,
        found: Option<Serial>,
    },
    #[error(
        "its lines do not chain to index.json's signed log_head: edited behind fileca's \
         back; nothing is answered or signed from it (run `ca check`)"
    )]
    Chain,
}
