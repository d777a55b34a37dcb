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

/// A directory of files (a key and its certificate) staged as one unit next to its final
/// place: published by one `rename(2)`, so it appears with every file or not at all.
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    staged: PathBuf,
}

/// Files of a staged directory: name, content, mode.
pub type DirFiles = Vec<(String, Vec<u8>, u32)>;

/// Mode of a published pair directory: it holds a private key.
const MODE_PAIR_DIR: u32 = 0o700;

/// Stages `files` (name, content, mode) in a hidden sibling of `target`, durably.
pub fn stage_dir(target: &Path, files: &DirFiles) -> Result<StagedDir> {
    match std::fs::symlink_metadata(target) {
        Ok(_) => {
            return Err(Error::refused(format!(
                "{}: already exists; choose another name or --out-dir",
                target.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(target, e)),
    }
    let parent = parent_of(target);
    if !parent.is_dir() {
        return Err(Error::refused(format!(
            "{}: no such directory",
            parent.display()
        )));
    }
    let name = target
        .file_name()
        .ok_or_else(|| Error::refused(format!("{}: not a name", target.display())))?
        .to_string_lossy()
        .into_owned();
    remove_abandoned_pairs(&parent, &name);
    let mut rnd = [0u8; 6];
    crate::rand::fill(&mut rnd)?;
    let staged = parent.join(format!(
        ".{name}.fileca-{}-{}",
        std::process::id(),
        hex::lower(&rnd)
    ));
    let result = (|| -> io::Result<()> {
        fsio::create_dir(&staged, MODE_PAIR_DIR)?;
        for (file, bytes, mode) in files {
            fsio::write_new_durable(&staged.join(file), bytes, *mode)?;
        }
        fsio::fsync_dir(&staged)
    })();
    let out = StagedDir {
        target: target.to_path_buf(),
        staged,
    };
    match result {
        Ok(()) => Ok(out),
        Err(e) => {
            let path = out.staged.clone();
            out.discard();
            Err(Error::io(path, e))
        }
    }
}

impl StagedDir {
    /// Renames the staged directory into place (refusing to replace anything) and makes the
    /// new entry durable.
    pub fn publish(self) -> Result<()> {
        if std::fs::symlink_metadata(&self.target).is_ok() {
            let target = self.target.clone();
            self.discard();
            return Err(Error::refused(format!(
                "{}: appeared meanwhile; not replaced",
                target.display()
            )));
        }
        fsio::rename(&self.staged, &self.target).map_err(|e| Error::io(&self.target, e))?;
        fsio::fsync_dir(&parent_of(&self.target)).map_err(|e| Error::io(&self.target, e))
    }

    /// Removes the staged directory and its files.
    pub fn discard(self) {
        if let Ok(entries) = std::fs::read_dir(&self.staged) {
            for e in entries.flatten() {
                let _ = fsio::remove_file(&e.path());
            }
        }
        let _ = fsio::remove_dir(&self.staged);
    }
}

/// Removes pair directories staged by `ca issue` processes that died before publishing them
/// (they hold a private key: they must not linger). A live creator's staging is left alone.
fn remove_abandoned_pairs(parent: &Path, name: &str) {
    let prefix = format!(".{name}.fileca-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let fname = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = fname.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_none_or(super::process_alive) || !e.path().is_dir() {
            continue;
        }
        eprintln!(
            "note: removing {} left by an interrupted ca issue",
            e.path().display()
        );
        StagedDir {
            target: PathBuf::new(),
            staged: e.path(),
        }
        .discard();
    }
}
