//! The commit journal: the durable list of staged-file renames that makes a multi-file change
//! atomic. Its appearance under its final name (`.journal`) is the commit point; see
//! docs/design.md and SPEC.md `COMMIT-*`.

use serde::{Deserialize, Serialize};

/// Format version written into every journal.
pub const FORMAT: u32 = 1;

/// One committed change, as written to `.journal`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub format: u32,
    pub operation: String,
    pub generation_before: u64,
    pub generation_after: u64,
    pub renames: Vec<Rename>,
    /// Appends to files that only grow (audit.log), applied after the renames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appends: Vec<Append>,
}

/// Bytes staged for appending at a known offset of a growing file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Append {
    /// Name of the staged file holding the bytes to append (`.stage.N`).
    pub staged: String,
    /// Path of the target relative to the state directory.
    pub target: String,
    /// Length of the target before the append; the bytes go exactly there.
    pub offset: u64,
    /// Number of bytes appended.
    pub len: u64,
    /// SHA-256 of the appended bytes, lowercase hex.
    pub sha256: String,
}

/// One staged file and where it goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// Name of the staged file in the state directory (`.stage.N`).
    pub staged: String,
    /// Path of the target relative to the state directory.
    pub target: String,
    /// SHA-256 of the staged content, lowercase hex.
    pub sha256: String,
}

impl Journal {
    /// The exact bytes written to `.journal`: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses and checks a journal read back from disk. A journal that names anything but
    /// a staged file and a known state file is refused, so a hostile journal cannot make
    /// recovery rename files outside the state directory.
    pub fn parse(bytes: &[u8]) -> Result<Journal, String> {
        let journal: Journal =
            serde_json::from_slice(bytes).map_err(|e| format!("not a valid journal: {e}"))?;
        if journal.format != FORMAT {
            return Err(format!("unsupported journal format {}", journal.format));
        }
        let appends = journal
            .appends
            .iter()
            .map(|a| (&a.staged, &a.target, &a.sha256));
        for (staged, target, sha256) in journal
            .renames
            .iter()
            .map(|r| (&r.staged, &r.target, &r.sha256))
            .chain(appends)
        {
            let r = Rename {
                staged: staged.clone(),
                target: target.clone(),
                sha256: sha256.clone(),
            };
            if !is_stage_name(&r.staged) {
                return Err(format!(
                    "journal names an invalid staged file {:?}",
                    r.staged
                ));
            }
            if !is_state_target(&r.target) {
                return Err(format!("journal names an invalid target {:?}", r.target));
            }
            if r.sha256.len() != 64 || !r.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("journal has an invalid hash for {:?}", r.target));
            }
        }
        Ok(journal)
    }
}

/// Is `name` the name of a staged file (`.stage.N`)?
pub fn is_stage_name(name: &str) -> bool {
    name.strip_prefix(".stage.")
        .is_some_and(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Is `rel` a file of the state directory that a commit may replace?
pub fn is_state_target(rel: &str) -> bool {
    const TOP: &[&str] = &[
        "ca.key",
        "ca.crt",
        "ca.crl",
        "serial",
        "crlnumber",
        "index.json",
        "index.log",
        "audit.log",
    ];
    if TOP.contains(&rel) {
        return true;
    }
    // Archived CA certificates: ca-<SERIAL>.crt.
    if let Some(serial) = rel.strip_prefix("ca-").and_then(|r| r.strip_suffix(".crt")) {
        return is_upper_hex(serial);
    }
    rel.strip_prefix("certs/")
        .and_then(|r| r.strip_suffix(".pem"))
        .is_some_and(is_upper_hex)
}

/// Uppercase hex of at most 20 octets: the only form a serial takes in a file name.
fn is_upper_hex(serial: &str) -> bool {
    !serial.is_empty()
        && serial.len() <= 40
        && serial
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_targets_outside_the_state_directory() {
        assert!(is_state_target("index.json"));
        assert!(is_state_target("certs/0A1B.pem"));
        assert!(!is_state_target("../index.json"));
        assert!(!is_state_target("/etc/passwd"));
        assert!(!is_state_target("certs/../../x.pem"));
        assert!(!is_state_target("certs/0a.pem"));
        assert!(is_stage_name(".stage.0"));
        assert!(!is_stage_name(".stage."));
        assert!(!is_stage_name(".stage.0/../x"));
    }

    #[test]
    fn round_trips() {
        let j = Journal {
            format: FORMAT,
            operation: "sign".into(),
            generation_before: 1,
            generation_after: 2,
            renames: vec![Rename {
                staged: ".stage.0".into(),
                target: "serial".into(),
                sha256: "0".repeat(64),
            }],
            appends: vec![Append {
                staged: ".stage.1".into(),
                target: "audit.log".into(),
                offset: 10,
                len: 5,
                sha256: "1".repeat(64),
            }],
        };
        assert_eq!(Journal::parse(&j.to_bytes()).unwrap(), j);
    }
}
