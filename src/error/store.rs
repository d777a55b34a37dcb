//! Why the state directory or an output cannot be used: the types [`crate::store`] and
//! [`crate::term`] return (the directory, `--out` files and streams), and ca.crl as `status`
//! reads it.

use std::path::{Path, PathBuf};

use crate::pki::text::escape;

/// A path as refusals show it: escaped.
fn shown(p: &Path) -> String {
    crate::pki::text::escape(&p.display().to_string())
}

/// Why ca.crl's number and dates cannot be reported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrlInfoError {
    #[error(transparent)]
    Crl(#[from] crate::pki::crl::CrlError),
    #[error("the CRL has no CRL number")]
    NoNumber,
}

/// Why an output (`--out`, `--out-dir`, `ca issue`'s pair) cannot be written as asked
/// (exit 3, before anything is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputRefusal {
    #[error("{}: not a file name", .0.display())]
    NotFileName(PathBuf),
    #[error("{}: the file name is longer than 255 bytes", shown(.0))]
    NameTooLong(PathBuf),
    #[error("{}: is a symbolic link; fileca does not write through symlinks", shown(.0))]
    Symlink(PathBuf),
    #[error("{}: exists and is not a regular file", shown(.0))]
    NotRegular(PathBuf),
    #[error("{}: already exists; pass --force to replace it", shown(.0))]
    Exists(PathBuf),
    #[error("{}: is not a directory", shown(.0))]
    ParentNotDirectory(PathBuf),
    /// The directory of an output file does not exist (`option`: `--out`, `--csr-out`).
    #[error(
        "{option} {}: the directory {} does not exist ({option} never creates directories); nothing was issued or changed",
        shown(.path),
        shown(.dir)
    )]
    NoParent {
        option: &'static str,
        path: PathBuf,
        dir: PathBuf,
    },
    #[error(
        "{}: is inside the state directory {}; write outputs elsewhere",
        shown(.out),
        shown(.state)
    )]
    InsideState { out: PathBuf, state: PathBuf },
    #[error(
        "{}: exists and is not a directory{}",
        shown(.dir),
        if *.dangling { " (a symbolic link to nothing usable)" } else { "" }
    )]
    NotDirectory { dir: PathBuf, dangling: bool },
    #[error("{}: not a directory name", .0.display())]
    NotDirectoryName(PathBuf),
    #[error("{}: not a UTF-8 path", .0.display())]
    NotUtf8(PathBuf),
    #[error("{}: already exists; choose another name or --out-dir", shown(.0))]
    PairExists(PathBuf),
}

/// Why a directory cannot be opened as a state directory. The caller names the directory (or
/// certs/, for [`DirError::CertsNotDir`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirError {
    #[error(
        "does not exist; if the CA is elsewhere, name its directory with --dir DIR or $CA_DIR \
         (default ./ca); `ca init` creates a new CA"
    )]
    Missing,
    #[error("not a directory")]
    NotDir,
    #[error(
        "the state directory is a symbolic link; fileca does not follow symlinks (pass the real path)"
    )]
    Symlink,
    #[error("no CA here (no ca.crt or index.json); create one with `ca init`")]
    NoCa,
    /// A reader that never recovers (`ca serve`) found an interrupted commit.
    #[error(
        "holds an interrupted commit (.journal); not read until it is completed (run any ca          command on it, e.g. `ca check`)"
    )]
    Interrupted,
    #[error("is not a directory (a symbolic link or a file); fileca never follows symlinks")]
    CertsNotDir,
    /// The directory on a network filesystem (`kind`: NFS, CIFS…) and a command that writes.
    #[error(
        "the state directory is on {0}, where file locks are unreliable and concurrent \
         commands could corrupt it; move it to a local filesystem or pass --allow-network-fs"
    )]
    NetworkFs(&'static str),
    /// [`trust_problems`] found these, and the command writes.
    #[error(
        "not trusted for changes: {}. Fix it, or pass --allow-insecure-dir \
         if this is intended (SPEC.md HOSTILE-TRUST)",
        .0.join("; ")
    )]
    Untrusted(Vec<String>),
    /// [`trust_problems`] found these, and an interrupted command must be completed (even by a
    /// command that only reads).
    #[error(
        "an interrupted command must be completed here, but the directory is \
         not trusted: {}. Fix it, or pass --allow-insecure-dir if this is \
         intended (SPEC.md HOSTILE-TRUST)",
        .0.join("; ")
    )]
    UntrustedRecovery(Vec<String>),
}

/// Why `--out` cannot be used as a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A FIFO nobody reads (ENXIO): refused before the commit.
    #[error("{}: a FIFO with no reader; start its reader first", escape(&.0.display().to_string()))]
    NoReader(std::path::PathBuf),
    /// A descriptor the output would go through is closed or open read-only: std's stdout
    /// swallows EBADF, so `ca sign a.csr >&-` (or `1</dev/null`) printed nothing and exited
    /// 0. Refused before the commit.
    #[error("{name} {why}: nothing was changed; redirect it to a file or use --out FILE")]
    NotWritable { name: String, why: &'static str },
    #[error("{}: {err}", escape(&.path.display().to_string()))]
    Io {
        path: std::path::PathBuf,
        err: std::io::Error,
    },
}
