//! Why the signed state cannot be read or changed as asked: the types [`crate::model`]
//! returns (the header, the checkpoint, index.log, a legacy import, the snapshot, the OCSP
//! responder), and the format number their messages state.

use std::path::PathBuf;

use crate::pki::serial::Serial;

/// Format version of index.json and index.log: 4 since index.log may record the release of a
/// hold (SPEC.md UNHOLD), which a format-3 reader would take for a damaged line; 5 since the
/// directory may hold the ACME server's state (acme.json, signed by the checkpoint's
/// `acme_sha256`, and its TLS pair) and audit records may name an ACME account, which a
/// format-4 fileca would not check or would refuse (SPEC.md ACME-STATE).
pub const FORMAT: u32 = 5;

/// Why a typed serial names no single certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialLookup {
    #[error("no certificate with serial {typed} in index.log{}{}", if *.decimal { " (serials are hexadecimal, as `ca list` shows them; decimal is not accepted)" } else { "" }, if *.short { " (a serial's tail must have at least 8 digits)" } else { "" })]
    NotFound {
        typed: String,
        decimal: bool,
        short: bool,
    },
    #[error("{typed} is the end of {} serials; give more digits: {}", .matches.len(), .matches.join(", "))]
    Ambiguous { typed: String, matches: Vec<String> },
}

/// Why index.json cannot be used. The caller names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(
        "is format {0} (written by an earlier fileca); run `ca upgrade` once to convert it to format {FORMAT} (one atomic commit{signs}; `ca upgrade --dry-run` shows it)",
        signs = if *.0 < 3 { " that signs the first checkpoint" } else { ", signed like any other" }
    )]
    NeedsUpgrade(u32),
    #[error("format {0} is not supported (this fileca reads format {FORMAT})")]
    Unsupported(u32),
    #[error("not valid index JSON: {0}")]
    Json(String),
    #[error("max_serial {0:?} is not a canonical serial")]
    MaxSerial(String),
    #[error("log_head is not a lowercase SHA-256")]
    LogHead,
    #[error("policy_sha256 is not a lowercase SHA-256")]
    PolicyHash,
    #[error("has no signed checkpoint (edited?)")]
    NoCheckpoint,
    /// A checkpoint field that is not of its form.
    #[error("{0}")]
    Checkpoint(CheckpointError),
}

/// What is wrong with a signed checkpoint itself: a field not of its form, or a signature that
/// does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// `field` (audit_head, log_head, crl_sha256) is not 64 lowercase hex digits.
    #[error("checkpoint {0} is not a lowercase SHA-256")]
    NotSha256(&'static str),
    /// `field` (max_serial, serial, crlnumber) is not a canonical serial.
    #[error("checkpoint {field} {value:?} is not a canonical serial")]
    NotSerial { field: &'static str, value: String },
    #[error("its signed checkpoint's signature is not base64")]
    NotBase64,
    #[error(
        "its signed checkpoint (generation {generation}) does not verify with ca.crt's key: \
         index.json was edited"
    )]
    BadSignature { generation: u64 },
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

/// Why an index.json of an earlier format cannot be upgraded. The caller names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// serde_json's words.
    #[error("not valid index JSON: {0}")]
    Json(String),
    #[error("is format {found}, not {expected}")]
    Format { found: u32, expected: u32 },
    /// The signed ca.crl says otherwise of a revocation than the unsigned history does: the
    /// history was edited (or ca.crl is not this CA's).
    #[error(
        "disagrees with ca.crl, which the CA signed: {0}; nothing is signed over an edited \
         history (restore the directory from a backup, or run `ca check`)"
    )]
    DisagreesWithCrl(String),
    /// A release line in a log no fileca before format 4 could have written (UNHOLD).
    #[error(
        "releases {0} from a hold, which no fileca before format 4 wrote: the index was edited \
         or taken back from a newer fileca; nothing is signed over it (restore the directory \
         from a backup, or run `ca check`)"
    )]
    ReleaseBeforeFormat4(String),
    #[error("max_serial {0:?} is not a canonical serial")]
    MaxSerial(String),
    #[error("entry has an invalid serial {0:?}")]
    InvalidSerial(String),
    #[error("entry renews an invalid serial {0:?}")]
    InvalidRenewedFrom(String),
    /// A format-1 entry whose status and revocation time disagree.
    #[error("entry {0} has an inconsistent revocation")]
    InconsistentRevocation(String),
    #[error("entry {serial} has an unknown revocation reason {reason:?}")]
    UnknownReason { serial: String, reason: String },
    /// Two format-1 entries with one serial.
    #[error("serial {0} appears more than once")]
    DuplicateSerial(Serial),
    /// index.log beside a format-1 index.json (fileca 0.1 never wrote one).
    #[error(
        "exists next to a format-1 index.json; fileca 0.1 never writes it. Move it away \
         and run `ca upgrade` again"
    )]
    LogBesideV1,
    /// The `serial` counter is not above a serial a format-1 index.json lists.
    #[error("the counter ({counter}) is not above issued serial {serial}; run `ca check`")]
    CounterNotAbove { counter: Serial, serial: Serial },
}

/// Why the state files, each readable on its own, cannot be acted on together. The caller
/// names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// ca.key is readable by others (the path is the one to `chmod`).
    #[error(
        "has mode {mode:o}: other users can read the CA key. Run `chmod 600 {}` \
         (or pass --allow-insecure-key to use it anyway)",
        .path.display()
    )]
    InsecureKey { mode: u32, path: PathBuf },
    /// ca.key is not UTF-8.
    #[error("is not a PEM file")]
    KeyNotPem,
    /// renew-ca's archive of the old certificate (ca-SERIAL.crt) is already there.
    #[error("already exists; refusing to overwrite an archived CA certificate")]
    ArchiveExists,
    /// chain.pem that no checkpoint signed and that is not ca.crt's issuers up to a root.
    #[error(
        "is in no signed checkpoint and is not ca.crt's issuers up to a root (placed by hand?); remove it, or run `ca check`"
    )]
    ChainUnsigned,
    /// A counter file (`serial`, `crlnumber`) that is not of its form.
    #[error("must hold one uppercase hex number with an even number of digits and a final newline")]
    Counter,
    /// The serial counter is not above index.json's highest issued serial.
    #[error(
        "the counter ({counter}) is not above the highest issued serial ({last}); \
         refusing to issue a duplicate serial (ca check lists the details)"
    )]
    CounterNotAbove { counter: Serial, last: Serial },
    /// audit.log's last record is not the one index.json's `audit_head` names.
    #[error(
        "its last record is not the one index.json records (audit_head): the log was \
         edited or truncated; run `ca check` for details"
    )]
    AuditHead,
    /// certs/SERIAL.pem does not hash to what index.log records.
    #[error(
        "is not the certificate index.log records for serial {0} (its SHA-256 differs): \
         it was replaced behind fileca's back; run `ca check`"
    )]
    Replaced(Serial),
    /// certs/SERIAL.pem of a certificate index.log records does not exist.
    #[error(
        "is missing: index.log records certificate {0}, whose file is gone (deleted behind \
         fileca's back?); run `ca check`, and restore it from a backup"
    )]
    CertMissing(Serial),
    /// certs/SERIAL.pem hashes right but is not a certificate of that serial by ca.crt's key.
    #[error(
        "is not a certificate with serial {0} signed by ca.crt's key (index.log was edited \
         to match a replaced file?); run `ca check`"
    )]
    NotSigned(Serial),
}

/// Why ocsp.key and ocsp.crt cannot sign this CA's OCSP responses. The caller names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponderError {
    /// Only one of the two files is present.
    #[error("is missing while its pair is present; run `ca ocsp-responder renew`")]
    Half,
    /// ocsp.key is readable by others, or writable by its group (0640 is allowed: the group
    /// of a `ca serve` user).
    #[error(
        "has mode {0:o}: other users can read or change the OCSP responder key; run `chmod 600` \
         on it (or 640 for the group of a `ca serve` user)"
    )]
    InsecureKey(u32),
    /// ocsp.key exists but the user running `ca serve` may not read it (SPEC.md
    /// SERVE-STATE): serve refuses to start rather than answer tryLater for good.
    #[error(
        "cannot be read by this user (uid {0}), so no OCSP response can be signed; let the \
         user that runs `ca serve` read it through a group, as the owner of the CA: \
         `chgrp GROUP DIR DIR/ocsp.key; chmod 2750 DIR; chmod 640 DIR/ocsp.key` (README, \
         \"Running serve as its own user\"; `ca ocsp-responder renew` keeps mode 640)"
    )]
    Unreadable(u32),
    #[error("is not an unencrypted PKCS#8 private key")]
    Key,
    #[error("is not one PEM certificate")]
    Cert,
    #[error("does not certify the public key of ocsp.key")]
    KeyMismatch,
    #[error("is not signed by ca.crt's key")]
    NotIssued,
    #[error("does not have the OCSPSigning extended key usage")]
    NotOcspSigning,
    #[error(
        "is not the certificate index.log records for serial {0} (planted or replaced?); \
         run `ca ocsp-responder renew`"
    )]
    NotRecorded(Serial),
    #[error("certificate {0} is revoked; run `ca ocsp-responder renew`")]
    Revoked(Serial),
}

/// Why a command that signs refuses the state it found (SPEC.md CHECKPOINT-CURRENT): it is
/// not the state index.json's signed checkpoint covers. The caller names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCurrent {
    #[error("has no signed checkpoint (edited?); run `ca check`")]
    Missing,
    #[error("{0}; run `ca check`")]
    Checkpoint(CheckpointError),
    /// The serial counter is not above a serial the checkpoint proves issued.
    #[error(
        "the counter ({counter}) is not above serial {max}, which the signed checkpoint \
         proves issued; refusing to issue a duplicate serial (ca check lists the details)"
    )]
    CounterNotAbove { counter: Serial, max: Serial },
    /// `what` (the generation, audit.log, index.log, a counter…) is not what the checkpoint
    /// of `generation` signs.
    #[error(
        "{what} differs from its signed checkpoint (generation {generation}): the state was \
         edited or rolled back behind fileca's back; run `ca check`"
    )]
    Differs { what: &'static str, generation: u64 },
}

/// Why `ca log` cannot show audit.log. The caller names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The first problem `ca check` would report about the chain of records.
    #[error("does not chain to the signed audit_head: {0} (run `ca check`)")]
    Unchained(String),
    #[error("is not UTF-8 (run `ca check`)")]
    NotUtf8,
    /// A line that is not a record fileca writes: what serde_json found, and where.
    #[error(
        "line {line}: not an audit record ({category:?} error at column {column}; run `ca check`)"
    )]
    Line {
        line: usize,
        column: usize,
        category: JsonCategory,
    },
}

/// serde_json's kind of error, comparable (its `Category` is `Copy` but not `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonCategory {
    Io,
    Syntax,
    Data,
    Eof,
}

impl From<serde_json::error::Category> for JsonCategory {
    fn from(c: serde_json::error::Category) -> Self {
        use serde_json::error::Category;
        match c {
            Category::Io => JsonCategory::Io,
            Category::Syntax => JsonCategory::Syntax,
            Category::Data => JsonCategory::Data,
            Category::Eof => JsonCategory::Eof,
        }
    }
}
