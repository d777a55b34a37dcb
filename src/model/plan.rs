//! A plan: everything a mutating command will change, computed by its validation phase as a
//! value (model/ builds it, store/ commits it): whole files to write in the state directory,
//! appends to the files that only grow, and what is published outside it after the commit
//! point (`--out` files, `issue`'s pair directory).

use std::path::PathBuf;

use crate::model::layout::MODE_PUBLIC;

/// The complete new content of one file.
#[derive(Debug, Clone)]
pub struct FileWrite {
    /// Path relative to the state directory, one of the names in SPEC.md.
    pub target: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

impl FileWrite {
    pub fn public(target: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        FileWrite {
            target: target.into(),
            bytes: bytes.into(),
            mode: MODE_PUBLIC,
        }
    }
}

/// Bytes to append to a file that only grows (audit.log), at the length it had when read.
#[derive(Debug, Clone)]
pub struct FileAppend {
    pub target: String,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Everything a mutating command will change, computed before anything is written.
#[derive(Debug, Clone)]
pub struct Plan {
    pub operation: &'static str,
    pub generation_before: u64,
    pub generation_after: u64,
    pub writes: Vec<FileWrite>,
    pub appends: Vec<FileAppend>,
    /// Files written outside the state directory after the commit point (`--out`, `--out-dir`).
    pub outputs: Vec<OutputFile>,
    /// A directory published whole after the commit point (`ca issue`).
    pub pair: Option<PairPlan>,
    /// `--out-dir` directories to create (like `mkdir -p`) before the outputs are checked.
    pub out_dirs: Vec<PathBuf>,
}

/// A file to write outside the state directory after the commit.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// The path as the user gave it.
    pub path: PathBuf,
    /// The state file whose committed content it is (`certs/SERIAL.pem`, `ca.crl`).
    pub source: String,
    /// The whole content: the source's, then `suffix`.
    pub bytes: Vec<u8>,
    /// Public text after the source's content (`--fullchain`: the chain).
    pub suffix: Option<String>,
    /// The source's PEM published as DER (then `suffix` is `None`).
    pub der: bool,
    /// The certificate's serial, for messages; `None` for a CRL.
    pub serial: Option<String>,
    pub force: bool,
}

/// A file of a pair directory published after the commit: a state file's content (then a
/// suffix).
#[derive(Debug, Clone)]
pub struct PairFile {
    pub name: String,
    pub source: String,
    /// The whole content.
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub suffix: Option<String>,
}

/// A directory published whole after the commit (`ca issue`).
#[derive(Debug, Clone)]
pub struct PairPlan {
    /// `OUT_DIR/NAME`.
    pub path: PathBuf,
    pub serial: String,
    /// The private key: name, bytes (staged before the commit), mode.
    pub key: (String, zeroize::Zeroizing<Vec<u8>>, u32),
    /// Public files staged with the key before the commit (a sub-CA's root certificate: no
    /// new certificate): name, bytes, mode.
    pub staged: Vec<(String, Vec<u8>, u32)>,
    /// The files published after the commit from state files.
    pub files: Vec<PairFile>,
    /// Files the journal carries whole, published after the commit (NAME.p12: it holds the
    /// certificate, so it may not exist outside the state directory before the commit point,
    /// and recovery could not rebuild it without the passphrase): name, bytes, mode.
    pub carried: Vec<(String, zeroize::Zeroizing<Vec<u8>>, u32)>,
}
