//! The record `ca init --key-on-token` keeps beside the CA directory while it makes the key on
//! the token (SPEC.md TOKEN-GENERATE): `.NAME.token-key`, 0600, durable before the key
//! exists and removed once the CA directory holding its reference is durable, or once a
//! failed init has deleted the key. A record found later names a key an interrupted init may
//! have left, for the operator to look at; fileca never deletes a key it cannot prove unused.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsio;

/// Where the record of the CA directory `dir` lives.
pub fn path(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    super::output::parent_of(dir).join(format!(".{name}.token-key"))
}

/// The record, if one is there.
pub fn read(dir: &Path) -> Option<Vec<u8>> {
    let path = path(dir);
    let file = fsio::open_read(&path, true).ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(&file, 8192), &mut bytes).ok()?;
    Some(bytes)
}

/// Writes the record (never over an existing one) and makes it and its directory entry
/// durable. A record that could not be made whole is removed again: no key is made then.
pub fn write(dir: &Path, bytes: &[u8]) -> Result<()> {
    let path = path(dir);
    let parent = super::output::parent_of(dir);
    let file = match fsio::write_new(&path, bytes, super::MODE_SECRET) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::io(&path, e));
        }
        Err(e) => return Err(undo(&path, Error::io(&path, e))),
    };
    if let Err(e) = fsio::fsync(&file, &path) {
        return Err(undo(&path, Error::io(&path, e)));
    }
    fsio::fsync_dir(&parent).map_err(|e| undo(&path, Error::io(&parent, e)))
}

/// Removes a record this command just failed to make durable; returns the error.
fn undo(path: &Path, err: Error) -> Error {
    let _ = fsio::remove_file(path);
    err
}

/// Removes the record, durably.
pub fn remove(dir: &Path) -> Result<()> {
    let path = path(dir);
    fsio::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    let parent = super::output::parent_of(dir);
    fsio::fsync_dir(&parent).map_err(|e| Error::io(&parent, e))
}
