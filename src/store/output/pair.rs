//! `ca issue`'s pair directory: its private key staged in an owner-only directory before the
//! commit point ([`stage_pair`]), the directory completed from the committed state and renamed
//! into place after it ([`publish_pair`]), by the command or by its re-run.

use std::io;
use std::path::{Path, PathBuf};

use super::{
    MARKER, MODE_PAIR_DIR, OutputRefusal, PairPlan, cleanup, file_name, marker_text, parent_of,
};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Durable};
use crate::hex;
use crate::store::journal::Pair;
use crate::store::recover::RecoverError;

/// Why a committed pair directory was not delivered: the text goes into the report of what
/// is undelivered (the command's, or `ca issue`'s re-run's error).
#[derive(Debug, thiserror::Error)]
pub enum NotDelivered {
    /// An I/O error on `path`.
    #[error("{}: {err}", .path.display())]
    Io { path: PathBuf, err: io::Error },
    /// An I/O error on the staging directory or one of its entries, shown as it is.
    #[error("{0}")]
    Staging(io::Error),
    /// `DIR/NAME` appeared since the commit: never replaced.
    #[error("{}: exists (created meanwhile); not replaced", .0.display())]
    Exists(PathBuf),
    /// The staging directory holding the private key is gone.
    #[error("{}: the staging directory holding the private key is gone ({err})", .path.display())]
    StagingGone { path: PathBuf, err: io::Error },
    /// The staging directory is someone else's.
    #[error("{}: not owned by the user running fileca; not used", .0.display())]
    NotOwned(PathBuf),
    /// A file staged with the key no longer holds what was staged.
    #[error("{}: does not hold what was staged", .0.display())]
    Changed(PathBuf),
    /// The committed content of a file could not be had.
    #[error(transparent)]
    Source(#[from] RecoverError),
}

impl NotDelivered {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> NotDelivered + '_ {
        move |err| NotDelivered::Io {
            path: path.to_path_buf(),
            err,
        }
    }
}

/// Stages `ca issue`'s private key before the commit point: a new owner-only directory
/// `.NAME.fileca-PID-RANDOM` in the output directory, holding the marker and the key, made
/// durable. Returns the directory's name.
pub fn stage_pair(state_dir: &Path, pair: &PairPlan) -> Result<(Dir, String)> {
    let parent_path = parent_of(&pair.path);
    let name = file_name(&pair.path)?;
    let parent = Dir::open(&parent_path).map_err(|e| Error::io(&parent_path, e))?;
    match parent.stat_entry(&name) {
        Ok(_) => {
            return Err(OutputRefusal::PairExists(pair.path.clone()).into());
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&pair.path, e)),
    }
    cleanup::remove_abandoned_pairs(&parent);
    let state_dir = std::fs::canonicalize(state_dir).map_err(|e| Error::io(state_dir, e))?;
    let mut rnd = [0u8; 6];
    crate::rand::fill(&mut rnd)?;
    let staged = format!(".{name}.fileca-{}-{}", std::process::id(), hex::lower(&rnd));
    let sub = match parent.mkdir(&staged, MODE_PAIR_DIR) {
        Ok(s) => s,
        Err(e) => return Err(Error::io(parent.join(&staged), e)),
    };
    let result = (|| -> io::Result<()> {
        // The marker is durable before the key exists: no power loss leaves a key in a
        // directory the cleanup cannot prove is fileca's.
        let marker = sub.write_new(MARKER, &marker_text(&state_dir, &pair.serial), 0o600)?;
        let marker_path = sub.join(MARKER);
        fsio::fsync_group(&[
            Durable::File(&marker, &marker_path),
            Durable::Dir(&sub),
            Durable::Dir(&parent),
        ])?;
        let key = sub.write_new(&pair.key.0, &pair.key.1, pair.key.2)?;
        let mut staged = Vec::new();
        for (name, bytes, mode) in &pair.staged {
            staged.push((sub.write_new(name, bytes, *mode)?, sub.join(name)));
        }
        let key_path = sub.join(&pair.key.0);
        let mut items = vec![Durable::File(&key, &key_path)];
        items.extend(staged.iter().map(|(f, p)| Durable::File(f, p)));
        items.push(Durable::Dir(&sub));
        fsio::fsync_group(&items)
    })();
    match result {
        Ok(()) => Ok((parent, staged)),
        Err(e) => {
            let err = Error::io(parent.join(&staged), e);
            Err(match cleanup::remove_staging(&parent, &staged) {
                Ok(()) => err,
                Err(e2) => Error::Io {
                    path: parent.join(&staged),
                    err: io::Error::other(format!(
                        "{err}; removing the staging directory failed too ({e2}); the next \
                         `ca issue` into this directory removes it"
                    )),
                },
            })
        }
    }
}

/// Gives the committed bytes of a state file (source, SHA-256), or why it cannot.
pub type SourceContent<'a> =
    dyn Fn(&str, Option<&str>, &str) -> std::result::Result<Vec<u8>, RecoverError> + 'a;

/// Is the pair directory already published: `DIR/NAME` a directory (not through a symlink)
/// whose certificate file holds the recorded content? Only looks.
pub fn pair_delivered(state_dir: &Path, pair: &Pair) -> bool {
    let Ok(parent) = Dir::open(&state_dir.join(&pair.dir)) else {
        return false;
    };
    let Ok(sub) = parent.open_sub(&pair.name) else {
        return false;
    };
    pair.files
        .iter()
        .find(|f| f.source.is_some())
        .is_some_and(|f| holds(&sub, &f.name, &f.sha256))
}

/// Completes and publishes a pair directory of a committed journal. `content` gives the bytes
/// of each file that has a source. Returns the message if it could not be delivered.
pub fn publish_pair(
    state_dir: &Path,
    pair: &Pair,
    content: &SourceContent<'_>,
) -> std::result::Result<(), NotDelivered> {
    let dir_path = state_dir.join(&pair.dir);
    let parent = Dir::open(&dir_path).map_err(NotDelivered::io(&dir_path))?;
    let target = parent.join(&pair.name);
    // Already published (an interrupted command got this far)?
    if let Ok(sub) = parent.open_sub(&pair.name) {
        let crt = pair.files.iter().find(|f| f.source.is_some());
        if crt.is_some_and(|f| holds(&sub, &f.name, &f.sha256)) {
            // Published by the interrupted command; its rename may not be durable yet.
            return parent.fsync().map_err(NotDelivered::io(&dir_path));
        }
        return Err(NotDelivered::Exists(target));
    }
    let sub = parent
        .open_sub(&pair.staged)
        .map_err(|err| NotDelivered::StagingGone {
            path: parent.join(&pair.staged),
            err,
        })?;
    let st = sub.stat().map_err(NotDelivered::Staging)?;
    if st.st_uid != fsio::uid() {
        return Err(NotDelivered::NotOwned(sub.path().to_path_buf()));
    }
    let mut files = Vec::new();
    for f in &pair.files {
        // Staged with the key before the commit point.
        if f.source.is_none() && f.data.is_empty() {
            if !holds(&sub, &f.name, &f.sha256) {
                return Err(NotDelivered::Changed(sub.join(&f.name)));
            }
            continue;
        }
        let path = sub.join(&f.name);
        let file = if holds(&sub, &f.name, &f.sha256) {
            // Written by an interrupted command, perhaps not yet durable.
            sub.open_read(&f.name)
        } else {
            if sub.stat_entry(&f.name).is_ok() {
                sub.unlink(&f.name).map_err(NotDelivered::Staging)?;
            }
            // A state file's content, or what the journal carries (NAME.p12, checked against
            // its hash when the journal was read).
            let bytes = match &f.source {
                Some(source) => content(source, f.suffix.as_deref(), &f.sha256)?,
                None => f.data.clone(),
            };
            sub.write_new(&f.name, &bytes, f.mode)
        };
        files.push((file.map_err(NotDelivered::io(&path))?, path));
    }
    if sub.stat_entry(MARKER).is_ok() {
        sub.unlink(MARKER).map_err(NotDelivered::Staging)?;
    }
    let mut items: Vec<Durable> = files.iter().map(|(f, p)| Durable::File(f, p)).collect();
    items.push(Durable::Dir(&sub));
    fsio::fsync_group(&items).map_err(NotDelivered::io(sub.path()))?;
    parent
        .rename_noreplace(&pair.staged, &pair.name)
        .map_err(NotDelivered::io(&target))?;
    parent.fsync().map_err(NotDelivered::io(&dir_path))?;
    Ok(())
}

/// Does `dir/name` hold content with this SHA-256?
fn holds(dir: &Dir, name: &str, sha256: &str) -> bool {
    use std::io::Read;
    let Ok(mut f) = dir.open_read(name) else {
        return false;
    };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).is_ok() && hex::sha256(&buf) == sha256
}
