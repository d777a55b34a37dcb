//! audit.log: one JSON line per committed operation, chained by hashes (SPEC.md `AUDIT-*`).
//!
//! Each record carries the SHA-256 of the previous line (`prev`; 64 zeros for the first) and
//! the generation it produced; index.json carries the hash of the last line (`audit_head`).
//! So an edited line breaks the chain at the next record (or at the head), a deleted line
//! breaks it too, and a truncated tail no longer reaches the index's generation and head.
//! The record is appended in the same journaled commit as the change it records.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::error::model::AuditError;
use crate::hex;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub operation: String,
    pub serials: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_sha256: Option<String>,
    /// `policy`: the SHA-256 of the policy.toml it applied (SPEC.md POLICY-AUDIT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
    /// ACME changes: the account they were made for (SPEC.md ACME-AUDIT; format 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_account: Option<String>,
    pub user: String,
    pub generation: u64,
    pub prev: String,
}

impl Record {
    /// The exact line written: compact JSON and a newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = crate::model::to_json(self, false);
        out.push(b'\n');
        out
    }

    /// The line written and its hash: index.json's new `audit_head`, the next record's `prev`.
    pub fn to_line_and_hash(&self) -> (Vec<u8>, String) {
        let line = self.to_line();
        let hash = line_hash(&line[..line.len() - 1]);
        (line, hash)
    }
}

/// The records of audit.log that parse (for cross-checks; `verify` reports the others).
pub fn records(bytes: &[u8]) -> Vec<Record> {
    bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect()
}

/// Cross-checks the history against the index (SPEC.md CHECK-HISTORY): every certificate in
/// index.log was issued by an operation an audit record names, every `revoke` (and
/// `acme-revoke`) record's serial
/// is revoked in the index (or was on a hold released since), every revocation was made by an
/// operation that revokes, and every release of a hold by an `unhold` record (UNHOLD). A
/// directory imported before import records named their serials is allowed the imported
/// lines (which come first in index.log) without a record.
pub fn cross_check(entries: &[crate::model::log::Entry], records: &[Record]) -> Vec<String> {
    use std::collections::{HashMap, HashSet};
    let revokes = |op: &str| {
        op.starts_with("revoke") || ["renew+revoke", "import-openssl", "acme-revoke"].contains(&op)
    };
    let mentioned: HashSet<&str> = records
        .iter()
        .flat_map(|r| r.serials.iter().map(String::as_str))
        .collect();
    let revoked_by: HashSet<&str> = records
        .iter()
        .filter(|r| revokes(&r.operation))
        .flat_map(|r| r.serials.iter().map(String::as_str))
        .collect();
    let released_by: HashSet<&str> = records
        .iter()
        .filter(|r| r.operation.starts_with("unhold"))
        .flat_map(|r| r.serials.iter().map(String::as_str))
        .collect();
    let legacy_import = records
        .first()
        .is_some_and(|r| r.operation == "import-openssl" && r.serials.is_empty());
    let mut problems = Vec::new();
    let mut in_legacy_prefix = legacy_import;
    let mut status: HashMap<String, bool> = HashMap::new();
    for e in entries {
        let revoked = e.revoked.is_some();
        let serial = e.serial.to_string();
        status.insert(serial.clone(), revoked || e.released.is_some());
        if e.released.is_some() && !released_by.contains(serial.as_str()) {
            problems.push(format!(
                "certificate {} is released from a hold in index.log, but no audit record \
                 (unhold) released it",
                e.serial
            ));
        }
        if mentioned.contains(serial.as_str()) {
            in_legacy_prefix = false;
        } else if !in_legacy_prefix {
            problems.push(format!(
                "certificate {} is in index.log, but no audit record issued it",
                e.serial
            ));
            continue;
        }
        if revoked && !in_legacy_prefix && !revoked_by.contains(serial.as_str()) {
            problems.push(format!(
                "certificate {} is revoked in index.log, but no audit record revoked it",
                e.serial
            ));
        }
    }
    let revoke_record = |op: &str| op.starts_with("revoke") || op == "acme-revoke";
    for r in records.iter().filter(|r| revoke_record(&r.operation)) {
        for s in &r.serials {
            if status.get(s.as_str()) != Some(&true) {
                problems.push(format!(
                    "audit record of generation {} revoked {s}, but index.log does not say it \
                     is revoked, nor released from a hold (a revocation line removed?)",
                    r.generation
                ));
            }
        }
    }
    problems
}

/// Hash of a line (without its newline): the next record's `prev` and the index's head.
pub fn line_hash(line: &[u8]) -> String {
    hex::sha256(line)
}

/// Verifies a whole log against the index's generation and head; returns every problem.
pub fn verify(bytes: &[u8], generation: u64, head: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if bytes.is_empty() {
        return vec!["audit.log is empty".into()];
    }
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return vec!["audit.log does not end with a newline (truncated?)".into()];
    };
    let mut prev = GENESIS.to_string();
    let mut expected_gen = None;
    let mut last_hash = String::new();
    let mut last_gen = 0;
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let record: Record = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {n} is not a valid record: {e}"));
                prev = line_hash(line);
                expected_gen = None;
                continue;
            }
        };
        if record.prev != prev {
            problems.push(format!(
                "line {n} does not chain to the line before it (edited, inserted or deleted records)"
            ));
        }
        if let Some(g) = expected_gen
            && record.generation != g
        {
            problems.push(format!(
                "line {n} has generation {} where {g} was expected (records missing?)",
                record.generation
            ));
        }
        expected_gen = Some(record.generation + 1);
        prev = line_hash(line);
        last_hash = prev.clone();
        last_gen = record.generation;
    }
    if last_gen != generation {
        problems.push(format!(
            "the last record has generation {last_gen} but index.json is at {generation} (truncated log?)"
        ));
    }
    if last_hash != head {
        problems.push("the last record is not the one index.json records as audit_head (edited or truncated?)".into());
    }
    problems
}

/// The records of audit.log's `bytes`, in order, each chained to the one before it up to
/// the signed `audit_head` of `header` (VERIFIED-READ): a line that is not a record, or a
/// broken chain, is a state error naming `path`. `ca log` prints them; `ca list` takes the
/// ACME account of a certificate from them.
pub fn verified_records(
    bytes: &[u8],
    header: &crate::model::header::Header,
    path: &std::path::Path,
) -> crate::error::Result<Vec<Record>> {
    use crate::error::Error;
    let problems = verify(bytes, header.generation, &header.audit_head);
    if let Some(first) = problems.first() {
        return Err(Error::state(path, AuditError::Unchained(first.clone())));
    }
    std::str::from_utf8(bytes)
        .map_err(|_| Error::state(path, AuditError::NotUtf8))?
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<Record>(l).map_err(|e| {
                let line = i + 1;
                let (column, category) = (e.column(), e.classify().into());
                Error::state(
                    path,
                    AuditError::Line {
                        line,
                        column,
                        category,
                    },
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> (Vec<u8>, String) {
        let mut out = Vec::new();
        let mut prev = GENESIS.to_string();
        for g in 1..=n {
            let line = Record {
                time: time::macros::datetime!(2026-01-01 0:00 UTC),
                operation: "sign".into(),
                serials: vec![format!("{g:02X}")],
                csr_sha256: None,
                policy_sha256: None,
                acme_account: None,
                user: "op".into(),
                generation: g,
                prev: prev.clone(),
            }
            .to_line();
            prev = line_hash(&line[..line.len() - 1]);
            out.extend(line);
        }
        (out, prev)
    }

    #[test]
    fn a_clean_chain_verifies() {
        let (bytes, head) = log(4);
        assert!(verify(&bytes, 4, &head).is_empty());
    }

    #[test]
    fn tampering_deleting_and_truncating_are_detected() {
        let (bytes, head) = log(4);
        let text = String::from_utf8(bytes.clone()).unwrap();
        let edited = text.replacen("\"user\":\"op\"", "\"user\":\"eve\"", 1);
        assert!(!verify(edited.as_bytes(), 4, &head).is_empty());
        let lines: Vec<&str> = text.lines().collect();
        let deleted = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        assert!(!verify(deleted.as_bytes(), 4, &head).is_empty());
        let truncated = format!("{}\n{}\n", lines[0], lines[1]);
        assert!(!verify(truncated.as_bytes(), 4, &head).is_empty());
        let last_edited = text.replacen("\"serials\":[\"04\"]", "\"serials\":[\"05\"]", 1);
        assert!(!verify(last_edited.as_bytes(), 4, &head).is_empty());
    }
}
