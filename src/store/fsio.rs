//! The one seam through which fileca mutates the filesystem.
//!
//! Every create, write, chmod, fsync, rename, link, unlink, mkdir, rmdir and directory fsync
//! in the program goes through a function of this module (clippy's `disallowed-methods` forbids
//! the `std::fs` mutators everywhere else). That gives two things:
//!
//! - one place where the order of durable writes is decided and reviewed, and
//! - one place where faults are injected: in debug builds the environment variable
//!   `FILECA_FAULT=error@N` makes the N-th mutation fail with EIO, and `FILECA_FAULT=abort@N`
//!   aborts the process at the N-th mutation (no destructors, no cleanup: a crash).
//!   `FILECA_FAULT_TRACE=1` prints every mutation to stderr as `fileca-mutation N OP PATH`.
//!   None of this exists in release builds.
#![allow(clippy::disallowed_methods)]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Kinds of mutation, named in fault traces.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    Create,
    Write,
    Chmod,
    Fsync,
    Rename,
    Link,
    Unlink,
    Mkdir,
    Rmdir,
    FsyncDir,
    Truncate,
    SyncFs,
}

/// Creates `path`, which must not exist, with permission bits `mode` (never more permissive
/// than `mode` at any instant, whatever the umask), writes `bytes` and fsyncs it.
/// Symlinks are never followed.
pub fn write_new_durable(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = create_new(path, mode)?;
    finish_durable(&mut file, path, bytes, mode)
}

/// Writes `bytes` to a file just made by [`create_new`], sets its exact mode and fsyncs it.
pub fn finish_durable(file: &mut File, path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_all(file, path, bytes)?;
    set_mode(file, path, mode)?;
    fsync(file, path)
}

/// Flushes every dirty file of the filesystem holding `dir` (`syncfs(2)`): one call that makes
/// a whole batch of staged files durable, instead of one fsync each.
pub fn syncfs(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    fault::hit(Op::SyncFs, dir)?;
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    // SAFETY: `d` is an open descriptor for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Creates a new file exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`) with at most `mode`.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    fault::hit(Op::Create, path)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Opens (creating it if needed) a file that is never replaced, such as the lock file.
pub fn open_or_create(path: &Path, mode: u32) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fault::hit(Op::Create, path)?;
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
        }
        Err(e) => Err(e),
    }
}

/// Writes `bytes` at `offset` of a file that only grows (created if missing), discarding
/// anything already past `offset` (a torn earlier attempt). Not fsynced: the commit makes
/// it durable with one syncfs.
pub fn append_at(path: &Path, offset: u64, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    fault::hit(Op::Create, path)?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    fault::hit(Op::Truncate, path)?;
    file.set_len(offset)?;
    fault::hit(Op::Write, path)?;
    file.write_all_at(bytes, offset)
}

/// Writes all of `bytes` to `file`.
pub fn write_all(file: &mut File, path: &Path, bytes: &[u8]) -> io::Result<()> {
    fault::hit(Op::Write, path)?;
    file.write_all(bytes)
}

/// Sets the exact permission bits of an open file (undoing any umask).
pub fn set_mode(file: &File, path: &Path, mode: u32) -> io::Result<()> {
    fault::hit(Op::Chmod, path)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Flushes a file's data and metadata to stable storage.
pub fn fsync(file: &File, path: &Path) -> io::Result<()> {
    fault::hit(Op::Fsync, path)?;
    file.sync_all()
}

/// Atomically replaces `to` with `from`.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fault::hit(Op::Rename, from)?;
    std::fs::rename(from, to)
}

/// Makes `to` a second name of `from`; fails if `to` exists (an atomic no-replace publish).
pub fn link(from: &Path, to: &Path) -> io::Result<()> {
    fault::hit(Op::Link, to)?;
    std::fs::hard_link(from, to)
}

/// Removes a file.
pub fn remove_file(path: &Path) -> io::Result<()> {
    fault::hit(Op::Unlink, path)?;
    std::fs::remove_file(path)
}

/// Creates a directory with exactly `mode`.
pub fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    fault::hit(Op::Mkdir, path)?;
    std::fs::DirBuilder::new().mode(mode).create(path)?;
    fault::hit(Op::Chmod, path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Removes an empty directory.
pub fn remove_dir(path: &Path) -> io::Result<()> {
    fault::hit(Op::Rmdir, path)?;
    std::fs::remove_dir(path)
}

/// Makes the entries of a directory (creations, renames, removals) durable.
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    fault::hit(Op::FsyncDir, path)?;
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)?;
    dir.sync_all()
}

#[cfg(debug_assertions)]
mod fault {
    //! Debug-only fault injection; see the module documentation above.
    use std::io;
    use std::path::Path;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::Op;

    static COUNT: AtomicU64 = AtomicU64::new(0);
    static PLAN: Mutex<Option<Option<(bool, u64, bool)>>> = Mutex::new(None);

    /// Returns (abort?, N, trace?) parsed once from the environment.
    fn plan() -> Option<(bool, u64, bool)> {
        let mut guard = match PLAN.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *guard.get_or_insert_with(|| {
            let trace = std::env::var_os("FILECA_FAULT_TRACE").is_some();
            let spec = std::env::var("FILECA_FAULT").ok();
            let parsed = spec.as_deref().and_then(|s| {
                let (kind, n) = s.split_once('@')?;
                let n: u64 = n.parse().ok()?;
                match kind {
                    "error" => Some((false, n)),
                    "abort" => Some((true, n)),
                    _ => None,
                }
            });
            match (parsed, trace) {
                (None, false) => None,
                (Some((a, n)), t) => Some((a, n, t)),
                (None, true) => Some((false, 0, true)),
            }
        })
    }

    pub(super) fn hit(op: Op, path: &Path) -> io::Result<()> {
        let Some((abort, target, trace)) = plan() else {
            return Ok(());
        };
        let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
        if trace {
            eprintln!("fileca-mutation {n} {op:?} {}", path.display());
        }
        if n == target {
            if abort {
                std::process::abort();
            }
            return Err(io::Error::other(format!(
                "injected fault at mutation {n} ({op:?})"
            )));
        }
        Ok(())
    }
}

#[cfg(not(debug_assertions))]
mod fault {
    use std::io;
    use std::path::Path;

    use super::Op;

    #[inline(always)]
    pub(super) fn hit(_op: Op, _path: &Path) -> io::Result<()> {
        Ok(())
    }
}
