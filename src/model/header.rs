//! index.json: the small header every command reads first — format, generation, the audit
//! and log heads, index.log's length, the highest serial, the signed checkpoint (SPEC.md
//! `INDEX-*`, `CHECKPOINT-*`). Signing never reads index.log: this says where the next line
//! goes and which serial is the highest, which is all a sign needs.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::checkpoint::{self, Checkpoint, LOG_GENESIS};
use crate::pki::serial::Serial;

pub use crate::error::model::HeaderError;

pub use crate::error::model::FORMAT;

/// index.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: u32,
    /// Incremented by every committed mutation; `--expect-generation` compares against it.
    pub generation: u64,
    /// SHA-256 of the last line of audit.log (SPEC.md AUDIT-CHAIN).
    pub audit_head: String,
    /// Length of index.log in bytes: where the next line goes.
    pub log_len: u64,
    /// index.log's hash chain (SPEC.md INDEX-LOG-HEAD), extended by every append.
    pub log_head: String,
    /// The highest serial index.log issues (the counter must stay above it).
    pub max_serial: Option<String>,
    /// SHA-256 of policy.toml (SPEC.md POLICY-HASH); `null`: the built-in policy.
    pub policy_sha256: Option<String>,
    /// The last state the CA key signed (SPEC.md CHECKPOINT-*). Always present in a
    /// format-3 index.json; `None` only while a new header is being built.
    pub checkpoint: Option<Checkpoint>,
}

impl Header {
    /// The header of a new CA with an empty log.
    pub fn new() -> Header {
        Header {
            format: FORMAT,
            generation: 1,
            audit_head: String::new(),
            log_len: 0,
            log_head: LOG_GENESIS.to_string(),
            max_serial: None,
            policy_sha256: None,
            checkpoint: None,
        }
    }

    /// Signs a checkpoint of this header and of the files a commit leaves beside it
    /// (audit.log's length, the two counters, ca.crl's hash) with the CA key and stores it in
    /// the header.
    pub fn sign_checkpoint(&mut self, files: &Files, key: &dyn rcgen::SigningKey) -> Result<()> {
        let cp = Checkpoint {
            generation: self.generation,
            audit_head: self.audit_head.clone(),
            audit_len: files.audit_len,
            log_len: self.log_len,
            log_head: self.log_head.clone(),
            max_serial: self.max_serial.clone(),
            serial: files.serial.to_string(),
            crlnumber: files.crlnumber.to_string(),
            crl_sha256: files.crl_sha256.clone(),
            policy_sha256: self.policy_sha256.clone(),
            chain_sha256: files.chain_sha256.clone(),
            acme_sha256: files.acme_sha256.clone(),
            signature: String::new(),
        };
        self.checkpoint = Some(cp.sign(key)?);
        Ok(())
    }

    /// The exact bytes of index.json: pretty JSON, two-space indent, final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = crate::model::to_json(self, true);
        out.push(b'\n');
        out
    }

    /// Parses index.json. An older format gets a message that says how to upgrade it.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Header, HeaderError> {
        match format_of(bytes)? {
            FORMAT => {}
            n @ (1..=4) => return Err(HeaderError::NeedsUpgrade(n)),
            n => return Err(HeaderError::Unsupported(n)),
        }
        Header::parse_fields(bytes)
    }

    /// Parses a format-3 or format-4 index.json (`ca upgrade` only): the same fields as the
    /// current format (a format-3 log holds no release of a hold, a format-4 directory no ACME
    /// state); returned as the current-format header it becomes.
    pub fn parse_v3(bytes: &[u8]) -> std::result::Result<Header, HeaderError> {
        match format_of(bytes)? {
            3 | 4 => {}
            n => return Err(HeaderError::Unsupported(n)),
        }
        let mut h = Header::parse_fields(bytes)?;
        h.format = FORMAT;
        Ok(h)
    }

    /// The fields of index.json, each of its form.
    fn parse_fields(bytes: &[u8]) -> std::result::Result<Header, HeaderError> {
        let h: Header =
            serde_json::from_slice(bytes).map_err(|e| HeaderError::Json(e.to_string()))?;
        if let Some(s) = &h.max_serial
            && Serial::parse_canonical(s).is_none()
        {
            return Err(HeaderError::MaxSerial(s.clone()));
        }
        if !checkpoint::is_sha256_hex(&h.log_head) {
            return Err(HeaderError::LogHead);
        }
        if h.policy_sha256
            .as_deref()
            .is_some_and(|p| !checkpoint::is_sha256_hex(p))
        {
            return Err(HeaderError::PolicyHash);
        }
        match &h.checkpoint {
            None => return Err(HeaderError::NoCheckpoint),
            Some(cp) => cp.check_syntax().map_err(HeaderError::Checkpoint)?,
        }
        Ok(h)
    }

    /// The highest issued serial.
    pub fn max_serial(&self) -> Option<Serial> {
        self.max_serial.as_deref().and_then(Serial::parse_canonical)
    }
}

impl Default for Header {
    fn default() -> Self {
        Header::new()
    }
}

/// What a checkpoint signs beside index.json: the state files a commit leaves.
pub struct Files {
    pub audit_len: u64,
    pub serial: Serial,
    pub crlnumber: Serial,
    pub crl_sha256: Option<String>,
    /// chain.pem's SHA-256 (a sub-CA), recorded in the checkpoint.
    pub chain_sha256: Option<String>,
    /// acme.json's SHA-256 (format 5), recorded in the checkpoint.
    pub acme_sha256: Option<String>,
}

/// The `format` field of index.json, read first so a newer or older format gets a clear
/// message rather than a field error.
pub fn format_of(bytes: &[u8]) -> std::result::Result<u32, HeaderError> {
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let v: Version = serde_json::from_slice(bytes).map_err(|e| HeaderError::Json(e.to_string()))?;
    Ok(v.format)
}
