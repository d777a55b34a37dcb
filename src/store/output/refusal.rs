//! Why an output cannot be written as asked: checked before anything is written (exit 3).

use std::path::{Path, PathBuf};

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

/// A path as refusals show it: escaped.
fn shown(p: &Path) -> String {
    crate::render::escape(&p.display().to_string())
}
