//! The state directory: the only module that touches it, and the order in which it does.
//!
//! Commands never write files. They load state through a [`Session`] (which holds the
//! directory's lock and has already recovered any interrupted commit), compute a [`Plan`]
//! holding the complete new content of every file they change and every output they publish,
//! and hand the plan to [`Session::commit`] (commit.rs: protocol v2, one journal holding every
//! byte, staged before the commit point; apply.rs: everything after it, outputs included;
//! recover.rs completes or undoes an interrupted commit; undelivered.rs keeps what recovery
//! could not deliver). `create` makes a new CA directory atomically. Before the lock is taken,
//! trust.rs judges who may write the directory; read.rs is how its files are read.
//! docs/design.md tells the whole story.
//!
//! A directory that cannot be used as a state directory is a [`DirError`]; the typed errors
//! of its journal and of recovery are in journal.rs and recover.rs.

mod apply;
mod cleanup;
mod commit;
mod create;
pub mod journal;
mod load;
mod lock;
pub mod output;
mod read;
pub use read::read_policy;
mod recover;
pub mod token_record;
mod trust;
mod undelivered;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result, StateError};
use crate::fsio;
pub use commit::outputs_outside;
pub use create::{check_can_create, create, install, remove_abandoned_siblings};
pub use load::{LogReads, Reads};
pub(crate) use read::open_read_nofollow;
use read::read_plain;
pub use read::{mode_of, open_state_file, read_last_line, read_state_file};
use trust::check_filesystem;
pub use trust::{NotPrivate, network_fs_kind, network_fs_name, trust_problems};
pub use undelivered::{UndeliveredRecord, read_undelivered};

pub use crate::model::layout::*;

/// Largest state file fileca reads (index.json at a million certificates stays below it).
pub const MAX_STATE_FILE: u64 = 1 << 30;

/// Largest journal (and staged or output source file read back by recovery) fileca reads:
/// a batch of 100,000 certificates writes a journal of about 40 MiB.
pub const MAX_JOURNAL: u64 = 256 << 20;

pub use crate::error::store::DirError;

/// How a command uses the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only: shared lock.
    Read,
    /// Mutates: exclusive lock.
    Write,
}

/// Options every command passes to [`Session::open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub lock_timeout: Duration,
    pub allow_network_fs: bool,
    /// Use a ca.key that group or others can read (normally refused).
    pub allow_insecure_key: bool,
    /// Mutate a directory that fails the trust check (normally refused).
    pub allow_insecure_dir: bool,
    /// Say on stderr when waiting for the lock takes more than a moment (not with --quiet).
    pub announce_wait: bool,
}

pub use crate::model::plan::{FileAppend, FileWrite, Plan};

/// What a commit reports besides success.
#[derive(Debug, Default)]
pub struct Committed {
    /// Set when the change is committed (durable) but finishing it failed; the next command
    /// completes it. The text names what is left and where.
    pub warning: Option<String>,
    /// Outputs that could not be delivered (the change is committed): one message each.
    pub undelivered: Vec<String>,
}

/// An open state directory: locked, recovered, ready to read and commit.
pub struct Session {
    dir: PathBuf,
    access: Access,
    allow_insecure_key: bool,
    /// The locked `.lock`; `None` only for a reader that may not open it
    /// ([`Session::open_reader`]).
    _lock: Option<File>,
}

impl Session {
    /// Locks `dir` (shared for reads, exclusive for writes, waiting up to the timeout) and
    /// recovers any interrupted commit before anything is read.
    pub fn open(dir: &Path, access: Access, opts: &OpenOptions) -> Result<Session> {
        Session::open_with(dir, access, opts, true)
    }

    /// A shared session that never recovers and so never writes (`ca serve`, SPEC.md
    /// SERVE-STATE): an interrupted commit is [`DirError::Interrupted`], left to the next
    /// command.
    pub fn open_reader(dir: &Path, opts: &OpenOptions) -> Result<Session> {
        Session::open_with(dir, Access::Read, opts, false)
    }

    fn open_with(dir: &Path, access: Access, opts: &OpenOptions, recover: bool) -> Result<Session> {
        check_is_state_dir(dir)?;
        check_filesystem(dir, access, opts)?;
        let distrust = trust_problems(dir);
        if !distrust.is_empty() {
            if access == Access::Write && !opts.allow_insecure_dir {
                return Err(Error::state(dir, DirError::Untrusted(distrust)));
            }
            let list = distrust.join("; ");
            crate::term::warn(&format!(
                "warning: {}: {}",
                crate::term::escape(&dir.display().to_string()),
                crate::term::escape(&list)
            ));
        }
        let lock_path = dir.join(LOCK);
        if !recover {
            // A reader that never writes does not create a missing .lock either; one that
            // may not open it (another user's, 0600: `ca serve` as its own user) reads
            // without it — a read that overlaps a commit does not verify against the signed
            // checkpoint and is retried (SPEC.md SERVE-STATE).
            let lock_file = match open_read_nofollow(&lock_path) {
                Ok(f) => Some(f),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
                Err(e) => return Err(Error::io(&lock_path, e)),
            };
            if let Some(f) = &lock_file {
                let meta = f.metadata().map_err(|e| Error::io(&lock_path, e))?;
                if !meta.is_file() {
                    return Err(Error::state(&lock_path, StateError::NotRegular));
                }
                lock::acquire(f, &lock_path, true, opts.lock_timeout, opts.announce_wait)?;
            }
            if needs_recovery(dir)? {
                return Err(Error::state(dir.join(JOURNAL), DirError::Interrupted));
            }
            return Ok(Session {
                dir: dir.to_path_buf(),
                access,
                allow_insecure_key: opts.allow_insecure_key,
                _lock: lock_file,
            });
        }
        let lock_file = match access {
            Access::Write => fsio::open_or_create(&lock_path, MODE_LOCK),
            Access::Read => open_read_nofollow(&lock_path)
                .or_else(|_| fsio::open_or_create(&lock_path, MODE_LOCK)),
        }
        .map_err(|e| Error::io(&lock_path, e))?;
        let meta = lock_file.metadata().map_err(|e| Error::io(&lock_path, e))?;
        if !meta.is_file() {
            return Err(Error::state(&lock_path, StateError::NotRegular));
        }
        let shared = access == Access::Read;
        lock::acquire(
            &lock_file,
            &lock_path,
            shared,
            opts.lock_timeout,
            opts.announce_wait,
        )?;
        if needs_recovery(dir)? {
            // Recovery writes, in the state directory and in output directories the journal
            // names: never on a directory others could have prepared (HOSTILE-TRUST).
            if !distrust.is_empty() && !opts.allow_insecure_dir {
                return Err(Error::state(dir, DirError::UntrustedRecovery(distrust)));
            }
            if shared {
                // Upgrade: recovery writes, so it must run alone.
                lock::acquire(
                    &lock_file,
                    &lock_path,
                    false,
                    opts.lock_timeout,
                    opts.announce_wait,
                )?;
            }
            for w in recover::recover(dir)? {
                crate::term::warn(&format!("warning: {}", crate::term::escape(&w)));
            }
        }
        if access == Access::Write {
            // The old directory of a pending CA that install-ca swapped out, if a crash left
            // it: it holds a copy of the key (SPEC.md INSTALL-ATOMIC).
            create::remove_abandoned_siblings(dir);
        }
        Ok(Session {
            dir: dir.to_path_buf(),
            access,
            allow_insecure_key: opts.allow_insecure_key,
            _lock: Some(lock_file),
        })
    }

    /// Directories made before `.lock` was owner-only get it fixed by their next commit.
    fn fix_lock_mode(&self) -> Result<()> {
        let path = self.dir.join(LOCK);
        let Some(lock) = &self._lock else {
            return Ok(());
        };
        let meta = lock.metadata().map_err(|e| Error::io(&path, e))?;
        if meta.mode() & 0o777 != MODE_LOCK {
            fsio::set_mode(lock, &path, MODE_LOCK).map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }

    /// Was `--allow-insecure-key` given?
    pub fn allow_insecure_key(&self) -> bool {
        self.allow_insecure_key
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads a state file, refusing symlinks and anything but a regular file.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        read_state_file(&self.dir, rel)
    }

    /// Is there an entry (of any kind, a dangling symlink too) at `rel`?
    pub fn has(&self, rel: &str) -> bool {
        self.dir.join(rel).symlink_metadata().is_ok()
    }

    /// Reads a state file that may legitimately be absent.
    pub fn read_optional(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        match read_state_file(&self.dir, rel) {
            Ok(b) => Ok(Some(b)),
            Err(Error::Io { err, .. }) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Session::read_optional`] of a file that may be at most `max` bytes (policy.toml): a
    /// larger one is refused before it is read.
    pub fn read_optional_max(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let (mut f, len) = match open_state_file(&self.dir, rel) {
            Ok(v) => v,
            Err(Error::Io { err, .. }) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let path = self.dir.join(rel);
        if len > max {
            return Err(Error::state(&path, StateError::TooLarge));
        }
        let mut buf = Vec::with_capacity(len as usize);
        (&mut f)
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(&path, e))?;
        if buf.len() as u64 > max {
            return Err(Error::state(&path, StateError::TooLarge));
        }
        Ok(Some(buf))
    }

    /// Names of the entries of certs/ (for `ca check`).
    pub fn list_certs_dir(&self) -> Result<Vec<String>> {
        let certs = self.dir.join(CERTS);
        let mut names = Vec::new();
        for name in fsio::list_dir(&certs).map_err(|e| Error::io(&certs, e))? {
            names.push(name.to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Staged files or a journal present right now (for `ca check`; normally none, since
    /// opening the session recovered them).
    pub fn leftovers(&self) -> Result<Vec<String>> {
        leftovers(&self.dir)
    }
}

/// Is there a journal or a staged file to deal with?
fn needs_recovery(dir: &Path) -> Result<bool> {
    Ok(!leftovers(dir)?.is_empty())
}

/// Names of journal and staged files at the top of the state directory.
fn leftovers(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for name in fsio::list_dir(dir).map_err(|e| Error::io(dir, e))? {
        let name = name.to_string_lossy();
        if name == JOURNAL || name == JOURNAL_STAGE || name.starts_with(".stage.") {
            found.push(name.into_owned());
        }
    }
    found.sort();
    Ok(found)
}

/// The hidden siblings `.NAME.init-…` of the state directory `dir` (what an interrupted init
/// or install-ca leaves).
pub fn init_leftovers(dir: &Path) -> Vec<String> {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let prefix = format!(".{name}.init-");
    let parent = output::parent_of(dir);
    let Ok(entries) = fsio::list_dir(&parent) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    found.sort();
    found
}

/// Is `dir` a pending CA (SPEC.md PENDING-*): a key and its request ca.csr, and neither
/// ca.crt nor index.json yet?
pub fn is_pending(dir: &Path) -> bool {
    let exists = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
    exists(CSR) && exists(KEY) && !exists(CERT) && !exists(INDEX)
}

/// Refuses a state directory that is missing, a symlink or not a directory, a pending CA, a
/// directory with no CA in it, or one whose certs/ is not a real directory.
pub fn check_is_state_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::state(dir, DirError::Symlink)),
        Ok(m) if !m.is_dir() => Err(Error::state(dir, DirError::NotDir)),
        Ok(_) => {
            if is_pending(dir) {
                return Err(Error::Pending(dir.to_path_buf()));
            }
            if std::fs::symlink_metadata(dir.join(CERT)).is_err()
                && std::fs::symlink_metadata(dir.join(INDEX)).is_err()
            {
                return Err(Error::state(dir, DirError::NoCa));
            }
            // certs/ must be a real directory: renames into a symlinked one would land
            // wherever it points.
            let certs = dir.join(CERTS);
            match std::fs::symlink_metadata(&certs) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(Error::state(&certs, DirError::CertsNotDir)),
                Err(e) => Err(Error::io(&certs, e)),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::state(dir, DirError::Missing)),
        Err(e) => Err(Error::io(dir, e)),
    }
}
