//! `ca init` and `ca import-openssl`: a new state directory, made whole in a hidden sibling and
//! renamed into place, so it appears complete or not at all.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CERTS, FileWrite, LOCK, MODE_CERTS_DIR, MODE_DIR, MODE_LOCK, lock};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Durable};
use crate::hex;

/// Refuses a target `init` must not touch; returns its parent directory and name.
pub fn check_can_create(dir: &Path) -> Result<(PathBuf, String)> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::Exists {
                path: dir.to_path_buf(),
                msg: "is a symbolic link; fileca does not follow symlinks".into(),
            });
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::Exists {
                path: dir.to_path_buf(),
                msg: "exists and is not a directory".into(),
            });
        }
        Ok(_) => {
            let entries = fsio::list_dir(dir).map_err(|e| Error::io(dir, e))?;
            if !entries.is_empty() {
                return Err(exists_error(dir));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    let name = dir
        .file_name()
        .filter(|n| *n != OsStr::new(".") && *n != OsStr::new(".."))
        .ok_or_else(|| crate::error::Refused::CannotCreate(dir.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(crate::error::Refused::NoParent(parent).into());
    }
    Ok((parent, name))
}

/// Creates a new CA directory atomically: every file is written into a hidden sibling staging
/// directory `.NAME.init-PID-RANDOM`, made durable, and renamed to `dir`. `rename(2)` refuses
/// a non-empty target, so of two racing inits exactly one wins, and a crashed init leaves no
/// half-made `dir` (its staging is removed by the next init of that name, safely).
pub fn create(dir: &Path, files: &[FileWrite]) -> Result<()> {
    let (parent_path, name) = check_can_create(dir)?;
    let parent = Dir::open(&parent_path).map_err(|e| Error::io(&parent_path, e))?;
    remove_abandoned_inits(&parent, &name);
    let (staging, sub) = staging_dir(&parent, &name)?;
    let result = (|| -> Result<std::fs::File> {
        let lock_file = fill(&sub, files)?;
        // An empty directory made beforehand by the user is replaced; anything else refused.
        let renamed = if parent.stat_entry(&name).is_ok() {
            parent.rename(&staging, &name)
        } else {
            parent.rename_noreplace(&staging, &name)
        };
        renamed.map_err(|e| match e.raw_os_error() {
            Some(e)
                if [
                    rustix::io::Errno::NOTEMPTY,
                    rustix::io::Errno::EXIST,
                    rustix::io::Errno::NOTDIR,
                ]
                .iter()
                .any(|x| x.raw_os_error() == e) =>
            {
                exists_error(dir)
            }
            _ => Error::io(dir, e),
        })?;
        Ok(lock_file)
    })();
    let lock_file = match result {
        Ok(l) => l,
        Err(e) => return Err(remove_or_report(&parent, &staging, e)),
    };
    // The new directory is visible; it is ours until its parent's entry is durable, and we
    // still hold its lock, so no other command has looked at it yet.
    if let Err(e) = parent.fsync() {
        let err = Error::io(&parent_path, e);
        return Err(match parent.rename_noreplace(&name, &staging) {
            Ok(()) => remove_or_report(&parent, &staging, err),
            Err(e2) => Error::Recovery {
                dir: dir.to_path_buf(),
                msg: format!(
                    "{err}; the CA was created but may not survive a power loss, and moving it \
                     back failed ({e2}); check it with `ca check` or remove {} and run init again",
                    dir.display()
                ),
            },
        });
    }
    drop(lock_file);
    Ok(())
}

/// `ca install-ca` (SPEC.md INSTALL-ATOMIC): the pending CA directory `dir` is replaced by a
/// complete one — `files`, ca.key and ca.csr among them — made whole in a hidden sibling and
/// swapped in with one `renameat2(RENAME_EXCHANGE)`; the pending directory, now the sibling,
/// is then removed (a crash leaves it for the next init or install-ca of that name to remove).
/// `still_pending` runs under the pending directory's lock, before anything is written.
pub fn install(
    dir: &Path,
    files: &[FileWrite],
    lock_timeout: Duration,
    still_pending: &dyn Fn() -> Result<()>,
) -> Result<()> {
    let parent_path = super::output::parent_of(dir);
    let name = dir
        .file_name()
        .and_then(OsStr::to_str)
        .ok_or_else(|| crate::error::Refused::CannotCreate(dir.to_path_buf()))?
        .to_string();
    let parent = Dir::open(&parent_path).map_err(|e| Error::io(&parent_path, e))?;
    let pending = parent.open_sub(&name).map_err(|e| Error::io(dir, e))?;
    let pending_lock = pending
        .open_read(LOCK)
        .map_err(|e| Error::io(dir.join(LOCK), e))?;
    lock::acquire(&pending_lock, &dir.join(LOCK), false, lock_timeout, true)?;
    still_pending()?;
    remove_abandoned_inits(&parent, &name);
    let (staging, sub) = staging_dir(&parent, &name)?;
    let lock_file = match fill(&sub, files).and_then(|l| {
        parent
            .exchange(&staging, &name)
            .map_err(|e| Error::io(dir, e))
            .map(|()| l)
    }) {
        Ok(l) => l,
        Err(e) => return Err(remove_or_report(&parent, &staging, e)),
    };
    if let Err(e) = parent.fsync() {
        let err = Error::io(&parent_path, e);
        return Err(match parent.exchange(&staging, &name) {
            Ok(()) => remove_or_report(&parent, &staging, err),
            Err(e2) => Error::Recovery {
                dir: dir.to_path_buf(),
                msg: format!(
                    "{err}; the CA certificate was installed but may not survive a power loss, \
                     and putting the pending CA back failed ({e2}); check it with `ca check`"
                ),
            },
        });
    }
    // The pending directory (its copy of ca.key, ca.csr, .lock) is now the sibling. Its
    // removal is made durable before success is reported: a power loss must not bring that
    // copy of the key back beside a CA the user was told is installed (tests/powerloss_subca.rs).
    if let Err(e) = remove_init_staging(&parent, &staging, false).and_then(|()| parent.fsync()) {
        crate::term::warn(&format!(
            "warning: the pending CA's old directory {} could not be removed for good ({e}); \
             `ca check` reports it while it remains, and the next mutating command on {name} \
             removes it",
            crate::term::escape(&parent.join(&staging).display().to_string())
        ));
    }
    drop(pending_lock);
    drop(lock_file);
    Ok(())
}

/// A new hidden sibling `.NAME.init-PID-RANDOM` of `name` in `parent`.
fn staging_dir(parent: &Dir, name: &str) -> Result<(String, Dir)> {
    let mut rnd = [0u8; 8];
    crate::rand::fill(&mut rnd)?;
    let staging = format!(".{name}.init-{}-{}", std::process::id(), hex::lower(&rnd));
    match parent.mkdir(&staging, MODE_DIR) {
        Ok(s) => Ok((staging, s)),
        Err(e) => {
            // An empty directory we may have made: rmdir removes nothing else.
            let _ = parent.rmdir(&staging);
            Err(Error::io(parent.join(&staging), e))
        }
    }
}

/// Writes `files` (and `.lock`, locked, and `certs/`) into the new directory `sub`, durably.
/// Returns the held lock.
fn fill(sub: &Dir, files: &[FileWrite]) -> Result<std::fs::File> {
    {
        let lock_file = sub
            .write_new(LOCK, b"", MODE_LOCK)
            .map_err(|e| Error::io(sub.join(LOCK), e))?;
        lock::acquire(&lock_file, &sub.join(LOCK), false, Duration::ZERO, false)?;
        let certs = sub
            .mkdir(CERTS, MODE_CERTS_DIR)
            .map_err(|e| Error::io(sub.join(CERTS), e))?;
        let mut written = Vec::with_capacity(files.len());
        for f in files {
            let (d, n) = match f
                .target
                .strip_prefix(super::CERTS)
                .and_then(|t| t.strip_prefix('/'))
            {
                Some(n) => (&certs, n),
                None => (sub, f.target.as_str()),
            };
            let file = d
                .write_new(n, &f.bytes, f.mode)
                .map_err(|e| Error::io(d.join(n), e))?;
            written.push((file, d.join(n)));
            if written.len() >= 256 {
                flush(&mut written)?;
            }
        }
        flush(&mut written)?;
        fsio::fsync_group(&[
            Durable::File(&lock_file, &sub.join(LOCK)),
            Durable::Dir(&certs),
            Durable::Dir(sub),
        ])
        .map_err(|e| Error::io(sub.path(), e))?;
        Ok(lock_file)
    }
}

fn flush(written: &mut Vec<(std::fs::File, PathBuf)>) -> Result<()> {
    let items: Vec<Durable> = written.iter().map(|(f, p)| Durable::File(f, p)).collect();
    fsio::fsync_group(&items).map_err(|e| match written.first() {
        Some((_, p)) => Error::io(p, e),
        None => Error::bug_in("fsync of a group of no files", e),
    })?;
    written.clear();
    Ok(())
}

fn exists_error(dir: &Path) -> Error {
    Error::Exists {
        path: dir.to_path_buf(),
        msg: "already exists and is not empty; `ca init` only creates new CAs (choose another \
              --dir, or inspect this one with `ca status`)"
            .into(),
    }
}

/// [`remove_abandoned_inits`] for the siblings of the state directory `dir`, best effort.
pub fn remove_abandoned_siblings(dir: &Path) {
    let parent_path = super::output::parent_of(dir);
    if let (Ok(parent), Some(name)) = (
        Dir::open(&parent_path),
        dir.file_name().and_then(OsStr::to_str),
    ) {
        remove_abandoned_inits(&parent, name);
    }
}

/// Removes the staging directories of inits that died (their pid is gone and nobody holds
/// their lock), provably ours: see [`remove_init_staging`].
fn remove_abandoned_inits(parent: &Dir, name: &str) {
    let prefix = format!(".{name}.init-");
    super::cleanup::remove_abandoned(
        parent,
        &|n| n.strip_prefix(&prefix).map(str::to_string),
        "ca init",
        &|n| remove_init_staging(parent, n, true),
    );
}

/// Removes an init staging directory, and only if fileca can prove it made it: opened without
/// following a symlink (so a link or a swapped-in symlink is never entered), owned by the user
/// running fileca, holding its `.lock` (the marker) unlocked, and holding only plain files and
/// a `certs/` of plain files, which are removed through directory descriptors. `marker` is
/// false only for the directory this very process just made.
fn remove_init_staging(parent: &Dir, name: &str, marker: bool) -> io::Result<()> {
    let sub = parent.open_sub(name)?;
    if sub.stat()?.st_uid != fsio::uid() {
        return Err(io::Error::other("not owned by the user running fileca"));
    }
    let mut names = sub.names()?;
    // The marker goes last: a removal interrupted halfway leaves a directory still provably
    // ours, for the next command to finish.
    names.sort_by_key(|n| n == LOCK);
    if names.is_empty() {
        // Made, then abandoned before its marker: removing an empty directory removes nothing.
        return parent.rmdir(name);
    }
    if marker {
        let lock = sub
            .open_read(LOCK)
            .map_err(|_| io::Error::other("holds no .lock"))?;
        if !lock.metadata()?.is_file() || lock.try_lock().is_err() {
            return Err(io::Error::other("its .lock is not a free plain file"));
        }
    }
    for n in names {
        let n = n
            .into_string()
            .map_err(|_| io::Error::other("holds a file fileca did not make"))?;
        let st = sub.stat_entry(&n)?;
        match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::RegularFile => sub.unlink(&n)?,
            rustix::fs::FileType::Directory if n == CERTS => {
                let certs = sub.open_sub(CERTS)?;
                for c in certs.names()? {
                    let c = c
                        .into_string()
                        .map_err(|_| io::Error::other("holds a file fileca did not make"))?;
                    let cst = certs.stat_entry(&c)?;
                    if !super::output::is_regular(&cst) {
                        return Err(io::Error::other(format!("certs/{c} is not a plain file")));
                    }
                    certs.unlink(&c)?;
                }
                sub.rmdir(CERTS)?;
            }
            _ => return Err(io::Error::other(format!("{n} is not a plain file"))),
        }
    }
    parent.rmdir(name)
}

fn remove_or_report(parent: &Dir, staging: &str, primary: Error) -> Error {
    match remove_init_staging(parent, staging, false) {
        Ok(()) => primary,
        Err(e) => Error::Recovery {
            dir: parent.join(staging),
            msg: format!(
                "{primary}; removing the half-made {} failed ({e}); the next `ca init` removes it",
                parent.join(staging).display()
            ),
        },
    }
}
