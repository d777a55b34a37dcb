//! index.json: the record of every certificate the CA issued, and the generation counter
//! that every mutation increments (SPEC.md `INDEX-*`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::serial::Serial;

/// Format version of index.json.
pub const FORMAT: u32 = 1;

/// The whole index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: u32,
    /// Incremented by every committed mutation; `--expect-generation` compares against it.
    pub generation: u64,
    /// SHA-256 of the last line of audit.log (SPEC.md AUDIT-CHAIN).
    pub audit_head: String,
    /// In issue order (ascending serial).
    pub certificates: Vec<Entry>,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Canonical uppercase hex; the certificate is at `certs/<serial>.pem`.
    pub serial: String,
    pub subject: String,
    /// `DNS:…`, `IP:…`, `email:…` as issued.
    pub sans: Vec<String>,
    pub profile: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// RFC 5280 reason name (`keyCompromise`, …) when revoked.
    pub revocation_reason: Option<String>,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub sha256: String,
    /// Serial of the certificate this one renewed (`ca renew`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_from: Option<String>,
}

/// Stored status. "expired" is not stored: it is derived from `not_after` and the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Valid,
    Revoked,
}

/// The state of an issued certificate at a given time (what `ca list` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertState {
    Valid,
    Revoked,
    Expired,
}

impl Entry {
    /// Revoked, expired (past notAfter) or valid at `now`.
    pub fn state(&self, now: OffsetDateTime) -> CertState {
        match self.status {
            Status::Revoked => CertState::Revoked,
            Status::Valid if self.not_after < now => CertState::Expired,
            Status::Valid => CertState::Valid,
        }
    }
}

impl Index {
    /// The index of a new CA.
    pub fn new() -> Index {
        Index {
            format: FORMAT,
            generation: 1,
            audit_head: String::new(),
            certificates: Vec::new(),
        }
    }

    /// The exact bytes of index.json: pretty JSON, two-space indent, final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses index.json and checks what a reader relies on: the format version, canonical
    /// unique serials and well-formed hashes.
    pub fn parse(bytes: &[u8]) -> Result<Index, String> {
        // The version first, so a newer format gets a clear message, not a field error.
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid index JSON: {e}"))?;
        if version.format != FORMAT {
            return Err(format!(
                "format {} is not supported (this fileca reads format {FORMAT})",
                version.format
            ));
        }
        let index: Index =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid index JSON: {e}"))?;
        let mut seen = std::collections::HashSet::new();
        for e in &index.certificates {
            if Serial::parse_canonical(&e.serial).is_none() {
                return Err(format!("entry has an invalid serial {:?}", e.serial));
            }
            if !seen.insert(e.serial.as_str()) {
                return Err(format!("serial {} appears more than once", e.serial));
            }
            if e.sha256.len() != 64
                || !e
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(format!("entry {} has an invalid sha256", e.serial));
            }
            if (e.status == Status::Revoked) != e.revoked_at.is_some() {
                return Err(format!("entry {} has an inconsistent revocation", e.serial));
            }
        }
        Ok(index)
    }

    /// The entry with this serial.
    pub fn find(&self, serial: &Serial) -> Option<usize> {
        let s = serial.to_string();
        self.certificates.iter().position(|e| e.serial == s)
    }
}

impl Default for Index {
    fn default() -> Self {
        Index::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_byte_for_byte() {
        let mut idx = Index::new();
        idx.certificates.push(Entry {
            serial: "0A".into(),
            subject: "CN=a".into(),
            sans: vec!["DNS:a.example".into()],
            profile: "server".into(),
            not_before: time::macros::datetime!(2026-01-01 0:00 UTC),
            not_after: time::macros::datetime!(2027-01-01 0:00 UTC),
            status: Status::Valid,
            revoked_at: None,
            revocation_reason: None,
            sha256: "ab".repeat(32),
            renewed_from: None,
        });
        let bytes = idx.to_bytes();
        assert_eq!(Index::parse(&bytes).unwrap(), idx);
        assert_eq!(Index::parse(&bytes).unwrap().to_bytes(), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("\"not_before\": \"2026-01-01T00:00:00Z\""),
            "{text}"
        );
    }

    #[test]
    fn refuses_duplicates_and_bad_versions() {
        let mut idx = Index::new();
        idx.format = 99;
        assert!(Index::parse(&idx.to_bytes()).is_err());
        assert!(Index::parse(b"{").is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use time::OffsetDateTime;

    use super::*;

    fn entry() -> impl Strategy<Value = Entry> {
        (
            proptest::collection::vec(any::<u8>(), 1..16),
            "[ -~]{0,40}",
            proptest::collection::vec("[a-z0-9.:@-]{1,30}", 0..4),
            0i64..4_000_000_000,
            0i64..4_000_000_000,
            any::<bool>(),
            proptest::option::of("[a-zA-Z]{1,20}"),
        )
            .prop_map(|(serial, subject, sans, nb, na, revoked, renewed)| {
                let t = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
                Entry {
                    serial: Serial::from_magnitude(&serial).to_string(),
                    subject,
                    sans,
                    profile: "server".into(),
                    not_before: t(nb),
                    not_after: t(na),
                    status: if revoked {
                        Status::Revoked
                    } else {
                        Status::Valid
                    },
                    revoked_at: revoked.then(|| t(na)),
                    revocation_reason: revoked.then(|| "keyCompromise".to_string()),
                    sha256: "0".repeat(64),
                    renewed_from: renewed,
                }
            })
    }

    proptest! {
        /// SPEC.md INDEX-*: index.json round-trips byte for byte.
        #[test]
        fn index_round_trips(entries in proptest::collection::vec(entry(), 0..8), generation in 1u64..u64::MAX) {
            let mut idx = Index::new();
            idx.generation = generation;
            idx.audit_head = "ab".repeat(32);
            let mut seen = std::collections::HashSet::new();
            idx.certificates = entries.into_iter().filter(|e| seen.insert(e.serial.clone())).collect();
            let bytes = idx.to_bytes();
            let back = Index::parse(&bytes).unwrap();
            prop_assert_eq!(&back, &idx);
            prop_assert_eq!(back.to_bytes(), bytes);
        }

        /// Arbitrary bytes never panic the index parser.
        #[test]
        fn index_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Index::parse(&bytes);
        }
    }
}
