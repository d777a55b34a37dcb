//! The commit journal: one file holding every byte a change writes, whose appearance under its
//! final name (`.journal`, made durable) is the commit point. See docs/design.md and SPEC.md
//! `COMMIT-*`.
//!
//! Format 2 names the staged files (made durable before the commit point, so a full disk
//! fails the command cleanly instead of leaving a commit that cannot be applied), carries the
//! appended bytes inline (base64: they are small, and one fsync of the journal covers them),
//! and lists the outputs outside the state directory (`--out`, `--out-dir`, `ca issue`'s pair
//! directory), which are published after the commit point from the committed content, and
//! again by recovery. Format 1 (appends staged as files too) is still recovered, for a journal
//! left by an older fileca.
//!
//! A journal that is neither valid nor torn is a [`JournalError`], which recovery reports for
//! a human (it never acts on it).

use serde::{Deserialize, Serialize};

/// Why a journal read back from disk is refused. Every name and hash a journal holds is
/// checked before recovery acts on it, so each variant says which field is not of its form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// serde_json's words.
    #[error("not a valid journal: {0}")]
    Json(String),
    #[error("unsupported journal format {0}")]
    Format(u32),
    /// Format 2 JSON whose last line is not the `sha256 HEX` of the rest.
    #[error("journal has no valid checksum line")]
    NoChecksum,
    #[error("journal has an invalid id")]
    Id,
    /// A staged file that is not `.stage.N` (or a staged append that also carries data).
    #[error("journal names an invalid staged file {0:?}")]
    StagedFile(String),
    /// A target or source that is not a file of the state directory.
    #[error("journal names an invalid target {0:?}")]
    Target(String),
    /// The hash recorded for this target or name is not 64 hex digits.
    #[error("journal has an invalid hash for {0:?}")]
    Hash(String),
    /// The inline bytes for this target do not hash to the recorded SHA-256.
    #[error("journal content for {0:?} does not match its hash")]
    Content(String),
    /// The inline bytes for this target are not as long as recorded.
    #[error("journal has an invalid length for {0:?}")]
    Length(String),
    #[error("journal names an invalid output directory {0:?}")]
    OutputDir(String),
    /// Not a plain file name (one path component).
    #[error("journal names an invalid file name {0:?}")]
    FileName(String),
    #[error("journal names an invalid staging directory {0:?}")]
    StagingDir(String),
    /// A file the journal carries that is not a PKCS#12 bundle named `*.p12` without a source.
    #[error("journal carries {0:?}, which is not a PKCS#12 bundle")]
    Carried(String),
    /// A pair file with a mode fileca never gives (JOURNAL-MODES).
    #[error("journal gives {name:?} mode {mode:o}, which fileca never writes")]
    PairMode { name: String, mode: u32 },
}

/// Format version written into every journal.
pub const FORMAT: u32 = 2;

/// One committed change, as written to `.journal`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub format: u32,
    pub operation: String,
    pub generation_before: u64,
    pub generation_after: u64,
    /// Random id of this commit (hex); names the staged copies of outputs.
    pub id: String,
    /// Whole-file writes of the state directory: files staged (and made durable) before the
    /// commit point, renamed onto their targets after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renames: Vec<Rename>,
    /// Appends to files that only grow (index.log, audit.log), applied after the writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appends: Vec<Append>,
    /// Files published outside the state directory after the state is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    /// Directories published outside the state directory (`ca issue`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<Pair>,
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

/// Bytes appended at a known offset of a growing state file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Append {
    pub target: String,
    /// Length of the target before the append; the bytes go exactly there.
    pub offset: u64,
    /// Number of bytes appended.
    pub len: u64,
    /// The bytes, inline (empty when `staged`).
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<u8>,
    /// A large append (a batch's index.log lines) is staged as a file like a whole-file write
    /// instead of travelling inline: `.stage.N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<String>,
    pub sha256: String,
}

/// A file written outside the state directory with the committed content of a state file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// The directory that receives it, relative to the state directory (so a copied tree
    /// recovers into its own copy).
    pub dir: String,
    /// The file's name in `dir`.
    pub name: String,
    /// The state file whose content it is (`certs/SERIAL.pem`, `ca.crl`, `ca.crt`).
    pub source: String,
    /// SHA-256 of the content: the source's, followed by `suffix`.
    pub sha256: String,
    /// Public text published after the source's content (`sign --fullchain`: the issuing
    /// CA's certificate and its intermediates, PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// The source's one PEM block published as DER (`crl --der`, for HTTP publication).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub der: bool,
    /// `--force`: the command may replace an existing file.
    #[serde(default)]
    pub force: bool,
    /// With `--force`, the SHA-256 of the file the command found there: recovery replaces a
    /// regular file holding exactly that, and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// A directory published whole outside the state directory (`ca issue`): staged before the
/// commit point holding only the private key, completed and renamed into place after it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// The directory that receives it, relative to the state directory.
    pub dir: String,
    /// The published directory's name.
    pub name: String,
    /// The staging directory's name in `dir`.
    pub staged: String,
    /// The serial of the certificate it holds (for messages).
    pub serial: String,
    pub files: Vec<PairFile>,
}

/// One file of a pair directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PairFile {
    pub name: String,
    pub mode: u32,
    /// The state file holding its content; `None` for what is staged with the private key
    /// before the commit point (the key; a sub-CA's root certificate).
    pub source: Option<String>,
    /// SHA-256 of the file's content (the source's followed by `suffix`).
    pub sha256: String,
    /// Public text published after the source's content (the full chain file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// The content, carried by the journal (NAME.p12, encrypted under its passphrase: made
    /// in the validation phase, it cannot be rebuilt from state files). Only a `.p12` with no
    /// source, holding a PKCS#12 PFX.
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<u8>,
}

/// Format 1, written by fileca before protocol v2: staged files named in the journal.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JournalV1 {
    pub format: u32,
    pub operation: String,
    pub generation_before: u64,
    pub generation_after: u64,
    pub renames: Vec<Rename>,
    #[serde(default)]
    pub appends: Vec<AppendV1>,
}

/// A staged append of a format 1 journal.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppendV1 {
    pub staged: String,
    pub target: String,
    pub offset: u64,
    pub len: u64,
    pub sha256: String,
}

/// A journal read back from disk.
#[derive(Debug)]
pub enum Parsed {
    V2(Journal),
    V1(JournalV1),
    /// A journal whose writing never completed (empty, zero-filled or cut short, without its
    /// checksum line): its command never reached the commit point.
    Torn,
}

impl Journal {
    /// The exact bytes written to `.journal`: compact JSON, a newline, and a last line
    /// `sha256 HEX` over everything before it, so a journal cut short by a crash is told
    /// apart from a committed one.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs of strings and numbers cannot fail.
        // Sized up front: the appended bytes dominate, in base64 (4/3) plus the JSON around.
        let data: usize = self.appends.iter().map(|a| a.data.len()).sum();
        let mut out = Vec::with_capacity(data / 3 * 4 + 4096 + self.renames.len() * 160);
        serde_json::to_writer(&mut out, self).expect("a journal serialises");
        out.push(b'\n');
        let sum = crate::hex::sha256(&out);
        out.extend_from_slice(format!("sha256 {sum}\n").as_bytes());
        out
    }

    /// Parses and checks a journal read back from disk. A journal that names anything but
    /// the files of a state directory (and, for outputs, plain names in a directory) is
    /// refused, and every hash is checked, so a hostile journal cannot make recovery write
    /// anything it did not record. Only what a crash while writing leaves (empty, zeros, or a
    /// prefix of a format 2 journal without its checksum line) counts as torn; anything else
    /// that does not parse is an error for a human.
    pub fn parse(bytes: &[u8]) -> Result<Parsed, JournalError> {
        let json = |e: serde_json::Error| JournalError::Json(e.to_string());
        if let Some(body) = checked_body(bytes) {
            let j: Journal = serde_json::from_slice(body).map_err(json)?;
            if j.format != FORMAT {
                return Err(JournalError::Format(j.format));
            }
            j.check()?;
            return Ok(Parsed::V2(j));
        }
        let looks_torn = bytes.is_empty()
            || bytes.contains(&0)
            || bytes.starts_with(b"{\"format\":2,")
            || b"{\"format\":2,".starts_with(bytes);
        if looks_torn {
            return Ok(Parsed::Torn);
        }
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(json)?;
        match head.format {
            1 => {
                let j: JournalV1 = serde_json::from_slice(bytes).map_err(json)?;
                for (staged, target, sha) in j
                    .renames
                    .iter()
                    .map(|r| (&r.staged, &r.target, &r.sha256))
                    .chain(j.appends.iter().map(|a| (&a.staged, &a.target, &a.sha256)))
                {
                    if !is_stage_name(staged) {
                        return Err(JournalError::StagedFile(staged.clone()));
                    }
                    check_target(target)?;
                    check_sha(sha, target)?;
                }
                Ok(Parsed::V1(j))
            }
            FORMAT => Err(JournalError::NoChecksum),
            n => Err(JournalError::Format(n)),
        }
    }

    pub(super) fn check(&self) -> Result<(), JournalError> {
        if self.id.is_empty()
            || self.id.len() > 32
            || !self.id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(JournalError::Id);
        }
        for r in &self.renames {
            if !is_stage_name(&r.staged) {
                return Err(JournalError::StagedFile(r.staged.clone()));
            }
            check_target(&r.target)?;
            check_sha(&r.sha256, &r.target)?;
        }
        for a in &self.appends {
            check_target(&a.target)?;
            match &a.staged {
                Some(name) => {
                    if !is_stage_name(name) || !a.data.is_empty() {
                        return Err(JournalError::StagedFile(name.clone()));
                    }
                    check_sha(&a.sha256, &a.target)?;
                }
                None => {
                    check_content(&a.data, &a.sha256, &a.target)?;
                    if a.data.len() as u64 != a.len {
                        return Err(JournalError::Length(a.target.clone()));
                    }
                }
            }
        }
        for o in &self.outputs {
            check_dir(&o.dir)?;
            check_name(&o.name)?;
            check_target(&o.source)?;
            check_sha(&o.sha256, &o.name)?;
            if let Some(r) = &o.replaces {
                check_sha(r, &o.name)?;
            }
        }
        for p in &self.pairs {
            check_dir(&p.dir)?;
            check_name(&p.name)?;
            check_name(&p.staged)?;
            if !p.staged.starts_with('.') || !p.staged.contains(".fileca-") {
                return Err(JournalError::StagingDir(p.staged.clone()));
            }
            for f in &p.files {
                check_name(&f.name)?;
                if let Some(s) = &f.source {
                    check_target(s)?;
                }
                check_sha(&f.sha256, &f.name)?;
                if !f.data.is_empty() {
                    check_content(&f.data, &f.sha256, &f.name)?;
                    if f.source.is_some()
                        || !f.name.ends_with(".p12")
                        || !crate::pki::p12::is_pfx(&f.data)
                    {
                        return Err(JournalError::Carried(f.name.clone()));
                    }
                }
                // Modes are fileca's two, 0600 and 0644, and a carried .p12 is 0600: a
                // planted journal sets nothing else (no setuid, no world-writable file).
                let allowed = if f.data.is_empty() {
                    [
                        crate::model::layout::MODE_SECRET,
                        crate::model::layout::MODE_PUBLIC,
                    ]
                    .contains(&f.mode)
                } else {
                    f.mode == crate::model::layout::MODE_SECRET
                };
                if !allowed {
                    return Err(JournalError::PairMode {
                        name: f.name.clone(),
                        mode: f.mode,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The JSON body of a journal whose last line is `sha256 HEX` over everything before it.
fn checked_body(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_suffix(b"\n")?;
    let at = rest.iter().rposition(|&b| b == b'\n')? + 1;
    let (body, last) = rest.split_at(at);
    let sum = std::str::from_utf8(last).ok()?.strip_prefix("sha256 ")?;
    (crate::hex::sha256(body) == sum).then_some(body)
}

fn check_target(target: &str) -> Result<(), JournalError> {
    if is_state_target(target) {
        Ok(())
    } else {
        Err(JournalError::Target(target.into()))
    }
}

fn check_sha(sha: &str, what: &str) -> Result<(), JournalError> {
    if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(JournalError::Hash(what.into()))
    }
}

fn check_content(data: &[u8], sha: &str, what: &str) -> Result<(), JournalError> {
    check_sha(sha, what)?;
    if crate::hex::sha256(data) == sha {
        Ok(())
    } else {
        Err(JournalError::Content(what.into()))
    }
}

/// An output directory: a relative path without NUL.
fn check_dir(dir: &str) -> Result<(), JournalError> {
    if dir.is_empty() || dir.starts_with('/') || dir.contains('\0') || dir.len() > 4096 {
        Err(JournalError::OutputDir(dir.into()))
    } else {
        Ok(())
    }
}

/// A plain file name: one path component.
pub fn check_name(name: &str) -> Result<(), JournalError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > 255
        || name.bytes().any(|b| b == b'/' || b == 0)
    {
        Err(JournalError::FileName(name.into()))
    } else {
        Ok(())
    }
}

/// Is `name` the name of a staged file (`.stage.N`)?
pub fn is_stage_name(name: &str) -> bool {
    name.strip_prefix(".stage.")
        .is_some_and(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Is `rel` a file of the state directory that a commit may replace?
pub fn is_state_target(rel: &str) -> bool {
    if crate::model::layout::STATE_FILES.contains(&rel) {
        return true;
    }
    // Archived CA certificates: ca-<SERIAL>.crt.
    if let Some(serial) = crate::model::layout::serial_of_archived_ca(rel) {
        return is_upper_hex(serial);
    }
    crate::model::layout::serial_of_cert_file(rel).is_some_and(is_upper_hex)
}

/// Uppercase hex of at most 20 octets: the only form a serial takes in a file name.
fn is_upper_hex(serial: &str) -> bool {
    !serial.is_empty()
        && serial.len() <= 40
        && serial
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

mod b64 {
    //! Byte strings as standard base64 in JSON.
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
