//! The one seam through which fileca mutates the filesystem.
//!
//! Every create, write, chmod, fsync, rename, link, unlink, mkdir, rmdir and directory fsync
//! in the program goes through a function of this module (clippy's `disallowed-methods` forbids
//! the `std::fs` mutators everywhere else). That gives three things:
//!
//! - one place where the order of durable writes is decided and reviewed;
//! - one place where faults are injected: in debug builds the environment variable
//!   `FILECA_FAULT=error@N` makes the N-th mutation fail with EIO, and `FILECA_FAULT=abort@N`
//!   aborts the process at the N-th mutation (no destructors, no cleanup: a crash).
//!   `FILECA_FAULT_TRACE=1` prints every mutation to stderr as `fileca-mutation N OP PATH`;
//! - one place that can describe every mutation to a simulated disk: in debug builds
//!   `FILECA_SIMDISK_TRACE=FILE` appends one JSON line per mutation that took effect (with the
//!   inode numbers involved and the bytes written), and a `report` line when the command tells
//!   its user it succeeded. The power-loss tests (tests/powerloss.rs) replay it to compute what
//!   a power cut at any instant would leave on disk.
//!
//! None of the test hooks exist in release builds; in debug builds they live in fsio/fault.rs
//! and fsio/trace.rs.
//!
//! There is no `syncfs(2)` or `sync(2)` here: what a command writes is made durable through
//! the file descriptors that wrote it (so their writeback errors are reported to us), and the
//! directories whose entries changed are fsynced (SPEC.md COMMIT-FSYNC). Many descriptors are
//! flushed concurrently by [`fsync_group`], which lets the filesystem commit them together.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};

mod group;
pub use group::{Durable, fsync_group};

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
}

/// Opens a file for reading without blocking (a FIFO without a writer) and, with `nofollow`,
/// without following a final symlink. Reads need no seam, but every `open` of the program is
/// here so that clippy can forbid `OpenOptions` elsewhere.
pub fn open_read(path: &Path, nofollow: bool) -> io::Result<File> {
    fault::read_hit(path)?;
    let mut flags = OFlags::CLOEXEC | OFlags::NONBLOCK;
    if nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
}

/// The names in the directory at `path` (without `.` and `..`), read through rustix: Rust
/// std's `ReadDir` asserts that closing the directory succeeds, so an EIO from `close(2)`
/// would abort the program; here a failed close is ignored like any read-only descriptor's.
pub fn list_dir(path: &Path) -> io::Result<Vec<OsString>> {
    fault::read_hit(path)?;
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    names_of(&fd)
}

/// The names in the directory open at `fd` (without `.` and `..`).
fn names_of(fd: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    Ok(names)
}

/// `lstat(2)`: the metadata of `path` itself, a symlink not followed. Counted as a read by
/// the fault injection of debug builds (recovery decides on what it finds).
pub fn lstat(path: &Path) -> io::Result<std::fs::Metadata> {
    fault::read_hit(path)?;
    std::fs::symlink_metadata(path)
}

/// Opens what `--out` names for appending, once, to judge it by `fstat` of the descriptor
/// (OUTPUT-STREAMS): never through a final symlink (`O_NOFOLLOW`: a symlink swapped in is
/// ELOOP), without blocking on a FIFO without a reader (ENXIO), without making a terminal the
/// controlling one, and never creating or truncating a file.
pub fn open_stream(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(
            (OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NOFOLLOW).bits() as i32,
        )
        .open(path)
}

/// Creates `path`, which must not exist, with permission bits `mode` (never more permissive
/// than `mode` at any instant, whatever the umask), writes `bytes` and sets the exact mode.
/// Symlinks are never followed. Not fsynced: the caller collects it for [`fsync_group`].
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<File> {
    let mut file = create_new(path, mode)?;
    write_all(&mut file, path, bytes)?;
    set_mode(&file, path, mode)?;
    Ok(file)
}

/// Creates a new file exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`) with at most `mode`.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    fault::hit(Op::Create, path)?;
    create_new_unhit(path, mode)
}

/// Opens (creating it if needed) a file that is never replaced, such as the lock file.
pub fn open_or_create(path: &Path, mode: u32) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC
                | rustix::fs::OFlags::NONBLOCK)
                .bits() as i32,
        )
        .open(path)
    {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fault::hit(Op::Create, path)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(
                    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32,
                )
                .open(path)?;
            trace::create_path(path, &file, mode);
            set_mode(&file, path, mode)?;
            Ok(file)
        }
        Err(e) => Err(e),
    }
}

/// Opens a file that only grows (created if missing) and writes `bytes` at `offset`,
/// discarding anything already past `offset` (a torn earlier attempt). Returns the file for
/// the caller to fsync.
pub fn append_at(path: &Path, offset: u64, bytes: &[u8], mode: u32) -> io::Result<File> {
    use std::os::unix::fs::FileExt;
    fault::hit(Op::Create, path)?;
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_new_unhit(path, mode)?,
        Err(e) => return Err(e),
    };
    // A state file with a second name (a hard link planted by someone who could write the
    // state directory) is not written through: that would write the other name's file.
    if file.metadata()?.nlink() > 1 {
        return Err(io::Error::other(
            "has more than one name (a hard link); fileca does not write through it",
        ));
    }
    fault::hit(Op::Truncate, path)?;
    file.set_len(offset)?;
    trace::truncate(&file, offset);
    fault::hit(Op::Write, path)?;
    file.write_all_at(bytes, offset)?;
    trace::write(&file, offset, bytes);
    Ok(file)
}

fn create_new_unhit(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32)
        .open(path)?;
    trace::create_path(path, &file, mode);
    Ok(file)
}

/// Writes all of `bytes` to `file` at its current position.
pub fn write_all(file: &mut File, path: &Path, bytes: &[u8]) -> io::Result<()> {
    fault::hit(Op::Write, path)?;
    let offset = if trace::on() {
        file.stream_position()?
    } else {
        0
    };
    file.write_all(bytes)?;
    trace::write(file, offset, bytes);
    Ok(())
}

/// Sets the exact permission bits of an open file (undoing any umask).
pub fn set_mode(file: &File, path: &Path, mode: u32) -> io::Result<()> {
    fault::hit(Op::Chmod, path)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    trace::chmod(file, mode);
    Ok(())
}

/// Flushes a file's data and metadata to stable storage.
pub fn fsync(file: &File, path: &Path) -> io::Result<()> {
    fault::hit(Op::Fsync, path)?;
    file.sync_all()?;
    trace::fsync(file);
    Ok(())
}

/// Atomically replaces `to` with `from`.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fault::hit(Op::Rename, from)?;
    std::fs::rename(from, to)?;
    trace::rename_paths(from, to);
    Ok(())
}

/// Removes a file.
pub fn remove_file(path: &Path) -> io::Result<()> {
    fault::hit(Op::Unlink, path)?;
    let parent = trace::parent_ino(path);
    std::fs::remove_file(path)?;
    trace::unlink(parent, path, "unlink");
    Ok(())
}

/// Creates a directory with exactly `mode`.
pub fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    fault::hit(Op::Mkdir, path)?;
    std::fs::DirBuilder::new().mode(mode).create(path)?;
    trace::mkdir_path(path, mode);
    fault::hit(Op::Chmod, path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    trace::chmod_path(path, mode);
    Ok(())
}

/// Removes an empty directory.
pub fn remove_dir(path: &Path) -> io::Result<()> {
    fault::hit(Op::Rmdir, path)?;
    let parent = trace::parent_ino(path);
    std::fs::remove_dir(path)?;
    trace::unlink(parent, path, "rmdir");
    Ok(())
}

/// Makes the entries of a directory (creations, renames, removals) durable.
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    Dir::open(path)?.fsync()
}

/// An open directory: every operation names an entry of it, so nothing is resolved by path
/// twice (no check-then-use race) and no final symlink is ever followed.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens a directory named by the user or the state directory (symlinks in the path are
    /// resolved as the user's shell would; use [`Dir::open_sub`] for entries fileca made).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens the subdirectory `name`, refusing a symlink (`O_NOFOLLOW`).
    pub fn open_sub(&self, name: &str) -> io::Result<Dir> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: self.path.join(name),
        })
    }

    /// The path this directory was opened by (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of an entry (for messages).
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The directory's owner, mode and inode.
    pub fn stat(&self) -> io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::fstat(&self.fd)?)
    }

    /// Metadata of an entry, not following a symlink.
    pub fn stat_entry(&self, name: &str) -> io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::statat(
            &self.fd,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Opens an entry for reading, refusing symlinks; non-blocking so a FIFO cannot hang us.
    pub fn open_read(&self, name: &str) -> io::Result<File> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// The names in this directory (without `.` and `..`).
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let fd = rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        names_of(&fd)
    }

    /// Creates the new file `name` (`O_EXCL`, `O_NOFOLLOW`) with at most `mode`, writes
    /// `bytes` and sets the exact mode. Not fsynced.
    pub fn write_new(&self, name: &str, bytes: &[u8], mode: u32) -> io::Result<File> {
        let path = self.join(name);
        fault::hit(Op::Create, &path)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        let mut file = File::from(fd);
        trace::create(self, name, &file, mode);
        write_all(&mut file, &path, bytes)?;
        set_mode(&file, &path, mode)?;
        Ok(file)
    }

    /// Creates the subdirectory `name` with exactly `mode`.
    pub fn mkdir(&self, name: &str, mode: u32) -> io::Result<Dir> {
        let path = self.join(name);
        fault::hit(Op::Mkdir, &path)?;
        rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode))?;
        let sub = self.open_sub(name)?;
        trace::mkdir(self, name, &sub, mode);
        fault::hit(Op::Chmod, &path)?;
        rustix::fs::fchmod(&sub.fd, Mode::from_raw_mode(mode))?;
        trace::chmod_fd(&sub.fd, mode);
        Ok(sub)
    }

    /// Makes `to` a second name of the file `from` (no symlink followed); fails if `to`
    /// exists: an atomic publish that never replaces anything.
    pub fn link(&self, from: &str, to: &str) -> io::Result<()> {
        fault::hit(Op::Link, &self.join(to))?;
        rustix::fs::linkat(&self.fd, from, &self.fd, to, AtFlags::empty())?;
        trace::link(self, from, to);
        Ok(())
    }

    /// Renames `from` onto `to` within this directory, replacing a file `to`.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fault::hit(Op::Rename, &self.join(from))?;
        rustix::fs::renameat(&self.fd, from, &self.fd, to)?;
        trace::rename(self, from, self, to);
        Ok(())
    }

    /// Renames `from` to `to` within this directory, failing if `to` exists.
    pub fn rename_noreplace(&self, from: &str, to: &str) -> io::Result<()> {
        fault::hit(Op::Rename, &self.join(from))?;
        rustix::fs::renameat_with(&self.fd, from, &self.fd, to, RenameFlags::NOREPLACE)?;
        trace::rename(self, from, self, to);
        Ok(())
    }

    /// Swaps the entries `a` and `b` of this directory atomically (`renameat2` with
    /// `RENAME_EXCHANGE`): `ca install-ca` puts a whole new state directory in place of a
    /// pending one. Traced as `exchange`, which the simulated disk models as one atomic entry
    /// operation of this directory.
    pub fn exchange(&self, a: &str, b: &str) -> io::Result<()> {
        fault::hit(Op::Rename, &self.join(a))?;
        rustix::fs::renameat_with(&self.fd, a, &self.fd, b, RenameFlags::EXCHANGE)?;
        trace::exchange(self, a, b);
        Ok(())
    }

    /// Removes the entry `name` (a file or a symlink itself, never what a symlink points to).
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        fault::hit(Op::Unlink, &self.join(name))?;
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?;
        trace::unlink_in(self, name, "unlink");
        Ok(())
    }

    /// Removes the empty subdirectory `name` (fails on a symlink).
    pub fn rmdir(&self, name: &str) -> io::Result<()> {
        fault::hit(Op::Rmdir, &self.join(name))?;
        rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?;
        trace::unlink_in(self, name, "rmdir");
        Ok(())
    }

    /// Makes this directory's entries durable.
    pub fn fsync(&self) -> io::Result<()> {
        fault::hit(Op::FsyncDir, &self.path)?;
        rustix::fs::fsync(&self.fd)?;
        trace::fsync_fd(&self.fd);
        Ok(())
    }
}

/// Tells the simulated-disk trace that the command reported success to its user.
pub fn reported() {
    trace::report();
}

/// The real user id of this process.
pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Does a process with this pid exist?
pub fn process_alive(pid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return true;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

#[cfg(debug_assertions)]
mod trace;

#[cfg(not(debug_assertions))]
mod trace {
    //! Release builds trace nothing.
    use std::fs::File;
    use std::os::fd::AsFd;
    use std::path::Path;

    use super::Dir;

    #[inline(always)]
    pub fn on() -> bool {
        false
    }
    pub fn parent_ino(_: &Path) -> u64 {
        0
    }
    pub fn create_path(_: &Path, _: &File, _: u32) {}
    pub fn create(_: &Dir, _: &str, _: &File, _: u32) {}
    pub fn mkdir_path(_: &Path, _: u32) {}
    pub fn mkdir(_: &Dir, _: &str, _: &Dir, _: u32) {}
    pub fn write(_: &File, _: u64, _: &[u8]) {}
    pub fn truncate(_: &File, _: u64) {}
    pub fn chmod(_: &File, _: u32) {}
    pub fn chmod_fd(_: impl AsFd, _: u32) {}
    pub fn chmod_path(_: &Path, _: u32) {}
    pub fn fsync(_: &File) {}
    pub fn fsync_fd(_: impl AsFd) {}
    pub fn rename_paths(_: &Path, _: &Path) {}
    pub fn rename(_: &Dir, _: &str, _: &Dir, _: &str) {}
    pub fn exchange(_: &Dir, _: &str, _: &str) {}
    pub fn link(_: &Dir, _: &str, _: &str) {}
    pub fn unlink(_: u64, _: &Path, _: &str) {}
    pub fn unlink_in(_: &Dir, _: &str, _: &str) {}
    pub fn report() {}
}

#[cfg(debug_assertions)]
pub mod fault;

#[cfg(not(debug_assertions))]
mod fault {
    use std::io;
    use std::path::Path;

    use super::Op;

    #[inline(always)]
    pub(super) fn hit(_op: Op, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(super) fn read_hit(_path: &Path) -> io::Result<()> {
        Ok(())
    }
}
