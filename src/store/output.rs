//! Copies of results written outside the state directory (`--out FILE`).
//!
//! The file is staged next to its target and fsynced before the state is committed, so a
//! failure to write it changes nothing; after the commit it is published with `link(2)`, which
//! refuses to replace an existing file, or with `rename(2)` under `--force`. Symlinks are never
//! followed.

use std::io;
use std::path::{Path, PathBuf};

use super::fsio;
use crate::error::{Error, Result};
use crate::hex;

/// A staged output file waiting for the commit.
#[derive(Debug)]
pub struct StagedOutput {
    target: PathBuf,
    staged: PathBuf,
    force: bool,
}

/// Mode of output files.
const MODE: u32 = 0o644;

/// Validates the target and stages `bytes` next to it.
pub fn stage(target: &Path, bytes: &[u8], force: bool) -> Result<StagedOutput> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::refused(format!(
                "{}: is a symbolic link; fileca does not write through symlinks",
                target.display()
            )));
        }
        Ok(m) if !m.is_file() => {
            return Err(Error::refused(format!(
                "{}: exists and is not a regular file",
                target.display()
            )));
        }
        Ok(_) if !force => {
            return Err(Error::refused(format!(
                "{}: already exists; pass --force to replace it",
                target.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(target, e)),
    }
    let name = target
        .file_name()
        .ok_or_else(|| Error::refused(format!("{}: not a file name", target.display())))?;
    let parent = parent_of(target);
    let mut rnd = [0u8; 6];
    crate::rand::fill(&mut rnd)?;
    let staged = parent.join(format!(
        ".{}.fileca-{}",
        name.to_string_lossy(),
        hex::lower(&rnd)
    ));
    if let Err(e) = fsio::write_new_durable(&staged, bytes, MODE) {
        let _ = fsio::remove_file(&staged);
        return Err(Error::io(&staged, e));
    }
    Ok(StagedOutput {
        target: target.to_path_buf(),
        staged,
        force,
    })
}

impl StagedOutput {
    /// Moves the staged file into place and makes that durable.
    pub fn publish(self) -> Result<()> {
        let res = if self.force {
            fsio::rename(&self.staged, &self.target)
        } else {
            fsio::link(&self.staged, &self.target).and_then(|()| fsio::remove_file(&self.staged))
        };
        if let Err(e) = res {
            let _ = fsio::remove_file(&self.staged);
            return Err(Error::io(&self.target, e));
        }
        fsio::fsync_dir(&parent_of(&self.target)).map_err(|e| Error::io(&self.target, e))
    }

    /// Removes the staged file (the command failed before its commit).
    pub fn discard(self) {
        let _ = fsio::remove_file(&self.staged);
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
