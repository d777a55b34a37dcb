//! The state directory: the only module that touches it, and the order in which it does.
//!
//! Commands never write files. They load state through a [`Session`] (which holds the
//! directory's lock and has already recovered any interrupted commit), compute a [`Plan`]
//! holding the complete new content of every file they change and every output they publish,
//! and hand the plan to [`Session::commit`] (commit.rs: protocol v2, one journal holding every
//! byte, outputs published after the commit point and by recovery; recover.rs completes or
//! undoes an interrupted commit). `create` makes a new CA directory atomically.
//! docs/design.md tells the whole story.
//!
//! A directory that cannot be used as a state directory is a [`DirError`]; the typed errors
//! of its journal and of recovery are in journal.rs and recover.rs.

mod cleanup;
mod commit;
mod create;
pub mod fsio;
pub mod journal;
mod load;
mod lock;
pub mod output;
mod recover;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result, StateError};
pub use commit::{UndeliveredRecord, read_undelivered};
pub use create::{check_can_create, create, install, remove_abandoned_siblings};
pub use load::{LogReads, Reads};

pub use crate::model::layout::*;

/// Largest state file fileca reads (index.json at a million certificates stays below it).
pub const MAX_STATE_FILE: u64 = 1 << 30;

/// Largest journal (and staged or output source file read back by recovery) fileca reads:
/// a batch of 100,000 certificates writes a journal of about 40 MiB.
pub const MAX_JOURNAL: u64 = 256 << 20;

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

/// The complete new content of one file.
#[derive(Debug, Clone)]
pub struct FileWrite {
    /// Path relative to the state directory, one of the names in SPEC.md.
    pub target: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

impl FileWrite {
    pub fn public(target: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        FileWrite {
            target: target.into(),
            bytes: bytes.into(),
            mode: MODE_PUBLIC,
        }
    }
}

/// Bytes to append to a file that only grows (audit.log), at the length it had when read.
#[derive(Debug, Clone)]
pub struct FileAppend {
    pub target: String,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Everything a mutating command will change, computed before anything is written.
#[derive(Debug, Clone)]
pub struct Plan {
    pub operation: &'static str,
    pub generation_before: u64,
    pub generation_after: u64,
    pub writes: Vec<FileWrite>,
    pub appends: Vec<FileAppend>,
    /// Files written outside the state directory after the commit point (`--out`, `--out-dir`).
    pub outputs: Vec<output::OutputFile>,
    /// A directory published whole after the commit point (`ca issue`).
    pub pair: Option<output::PairPlan>,
    /// `--out-dir` directories to create (like `mkdir -p`) before the outputs are checked.
    pub out_dirs: Vec<PathBuf>,
}

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
    _lock: File,
}

impl Session {
    /// Locks `dir` (shared for reads, exclusive for writes, waiting up to the timeout) and
    /// recovers any interrupted commit before anything is read.
    pub fn open(dir: &Path, access: Access, opts: &OpenOptions) -> Result<Session> {
        check_is_state_dir(dir)?;
        check_filesystem(dir, access, opts)?;
        let distrust = trust_problems(dir);
        if !distrust.is_empty() {
            if access == Access::Write && !opts.allow_insecure_dir {
                return Err(Error::state(dir, DirError::Untrusted(distrust)));
            }
            let list = distrust.join("; ");
            crate::render::warn(&format!(
                "warning: {}: {}",
                crate::render::escape(&dir.display().to_string()),
                crate::render::escape(&list)
            ));
        }
        let lock_path = dir.join(LOCK);
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
                crate::render::warn(&format!("warning: {}", crate::render::escape(&w)));
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
            _lock: lock_file,
        })
    }

    /// Directories made before `.lock` was owner-only get it fixed by their next commit.
    fn fix_lock_mode(&self) -> Result<()> {
        let path = self.dir.join(LOCK);
        let meta = self._lock.metadata().map_err(|e| Error::io(&path, e))?;
        if meta.mode() & 0o777 != MODE_LOCK {
            fsio::set_mode(&self._lock, &path, MODE_LOCK).map_err(|e| Error::io(&path, e))?;
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

    /// Reads a state file that may legitimately be absent.
    /// Is there an entry (of any kind, a dangling symlink too) at `rel`?
    pub fn has(&self, rel: &str) -> bool {
        self.dir.join(rel).symlink_metadata().is_ok()
    }

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

/// Why the state directory cannot be trusted, as OpenSSH's StrictModes judges a `.ssh`
/// directory (SPEC.md HOSTILE-TRUST): the directory, `certs/` or a state file writable by others,
/// or by a group other than the owner's private group (gid equal to the owner's uid, the
/// user-private-group convention), or owned by neither the user running fileca nor root.
/// Each problem comes with the command that fixes it.
pub fn trust_problems(dir: &Path) -> Vec<String> {
    let me = fsio::uid();
    let mut out = Vec::new();
    // (gid, owner uid, verdict): the group of every file is usually the same.
    let mut groups: Vec<(u32, u32, std::result::Result<(), String>)> = Vec::new();
    let files = [CERT, CRL, SERIAL, CRLNUMBER, INDEX, INDEX_LOG, AUDIT, KEY];
    let all = [(".", true), (CERTS, true)]
        .into_iter()
        .chain(files.into_iter().map(|f| (f, false)));
    for (rel, is_dir) in all {
        let path = if rel == "." {
            dir.to_path_buf()
        } else {
            dir.join(rel)
        };
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = m.mode() & 0o7777;
        let shown = crate::render::escape(&path.display().to_string());
        let group_problem = if mode & 0o020 != 0 && mode & 0o002 == 0 {
            let (gid, uid) = (m.gid(), m.uid());
            let known = groups.iter().find(|(g, u, _)| *g == gid && *u == uid);
            let verdict = match known {
                Some((_, _, v)) => v.clone(),
                None => {
                    let v = private_group(gid, uid);
                    groups.push((gid, uid, v.clone()));
                    v
                }
            };
            verdict.err()
        } else {
            None
        };
        if mode & 0o002 != 0 || group_problem.is_some() {
            let fixed = if is_dir { mode & !0o022 } else { mode & !0o077 };
            let by = match &group_problem {
                None => "every user".to_string(),
                Some(why) => format!("its group ({why})"),
            };
            out.push(format!(
                "{shown} is writable by {by} (mode {mode:o}); run: chmod {fixed:o} {shown}"
            ));
        }
        if let Some(writers) = acl_writers(&path) {
            out.push(format!(
                "{shown} has an access control list that lets {writers} write it; run: setfacl \
                 -b {shown}"
            ));
        }
        if m.uid() != me && m.uid() != 0 {
            out.push(format!(
                "{shown} belongs to uid {}, not to you (uid {me}) or root; run fileca as its \
                 owner (sudo -u '#{}' ca …), or: chown {me} {shown}",
                m.uid(),
                m.uid()
            ));
        }
    }
    out
}

/// Who, besides the owner, an extended POSIX ACL (`system.posix_acl_access`) on `path` lets
/// write (HOSTILE-TRUST): named users and groups with the write bit, when the mask allows it.
/// The mode's group bits show only the mask, so the mode check alone misses them. None when
/// there is no such ACL (or the filesystem has none).
fn acl_writers(path: &Path) -> Option<String> {
    let mut buf = [0u8; 4096];
    let n = rustix::fs::lgetxattr(path, "system.posix_acl_access", &mut buf[..]).ok()?;
    acl_writers_of(&buf[..n])
}

/// [`acl_writers`] over the xattr's bytes: a little-endian version 2 header, then entries of
/// (tag u16, perm u16, id u32).
fn acl_writers_of(bytes: &[u8]) -> Option<String> {
    const USER: u16 = 0x02;
    const GROUP: u16 = 0x08;
    const MASK: u16 = 0x10;
    const WRITE: u16 = 0x02;
    let entries: Vec<(u16, u16, u32)> = bytes
        .get(4..)?
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect();
    let mask_writes = entries
        .iter()
        .find(|(tag, _, _)| *tag == MASK)
        .is_none_or(|(_, perm, _)| perm & WRITE != 0);
    let writers: Vec<String> = entries
        .iter()
        .filter(|(tag, perm, _)| (*tag == USER || *tag == GROUP) && perm & WRITE != 0)
        .map(|(tag, _, id)| match *tag {
            USER => format!("uid {id}"),
            _ => format!("gid {id}"),
        })
        .collect();
    (mask_writes && !writers.is_empty()).then(|| writers.join(", "))
}

/// Is `gid` the private group of the user `uid` (HOSTILE-TRUST), as Debian's OpenSSH
/// (`user-group-modes`) decides it: the group exists, and its only member — by primary group
/// or listed in the group — is that user. Upstream OpenSSH refuses any group write; the
/// user-private-group convention (umask 002) is why fileca accepts this one case. When the
/// members cannot be listed (the group or the user is unknown) it is not private.
fn private_group(gid: u32, uid: u32) -> std::result::Result<(), String> {
    use uzers::os::unix::GroupExt;
    let group = uzers::get_group_by_gid(gid);
    let owner = uzers::get_user_by_uid(uid);
    // SAFETY: getpwent(3) walks a process-wide cursor; fileca reads it here, before any
    // thread of its own is started, and nothing else in the process uses it.
    let primary: Vec<(u32, String)> = match &group {
        Some(_) => unsafe { uzers::all_users() }
            .filter(|u| u.primary_group_id() == gid)
            .map(|u| (u.uid(), u.name().to_string_lossy().into_owned()))
            .collect(),
        None => Vec::new(),
    };
    let name = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    group_verdict(
        gid,
        owner.as_ref().map(|o| (uid, name(o.name()))),
        group.as_ref().map(|g| {
            (
                name(g.name()),
                g.members().iter().map(|m| name(m)).collect(),
            )
        }),
        &primary,
    )
}

/// [`private_group`]'s rule over what the user and group databases say: the owner (uid,
/// name), the group (name, listed members), the users whose primary group it is.
fn group_verdict(
    gid: u32,
    owner: Option<(u32, String)>,
    group: Option<(String, Vec<String>)>,
    primary: &[(u32, String)],
) -> std::result::Result<(), String> {
    let Some((name, members)) = group else {
        return Err(format!(
            "group {gid} is unknown, so its members cannot be listed"
        ));
    };
    let Some((uid, owner)) = owner else {
        return Err("the owner is an unknown user".into());
    };
    let others: Vec<&str> = members
        .iter()
        .filter(|m| **m != owner)
        .map(String::as_str)
        .chain(
            primary
                .iter()
                .filter(|(u, _)| *u != uid)
                .map(|(_, n)| n.as_str()),
        )
        .collect();
    if !others.is_empty() {
        return Err(format!(
            "group {name} has other members: {}",
            others.join(", ")
        ));
    }
    if members.is_empty() && !primary.iter().any(|(u, _)| *u == uid) {
        return Err(format!("group {name} has no member"));
    }
    Ok(())
}

/// Refuses a state directory that is missing, a symlink or not a directory.
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

fn check_is_state_dir(dir: &Path) -> Result<()> {
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

/// flock is unreliable on network filesystems: refuse mutations there unless told otherwise.
fn check_filesystem(dir: &Path, access: Access, opts: &OpenOptions) -> Result<()> {
    let Some(kind) = network_fs_kind(dir) else {
        return Ok(());
    };
    if opts.allow_network_fs {
        return Ok(());
    }
    if access == Access::Read {
        crate::render::warn(&format!(
            "warning: {} is on {kind}, where file locks are unreliable",
            dir.display()
        ));
        return Ok(());
    }
    Err(Error::state(dir, DirError::NetworkFs(kind)))
}

/// The kind of network filesystem `dir` is on, if it is on one.
pub fn network_fs_kind(dir: &Path) -> Option<&'static str> {
    let st = rustix::fs::statfs(dir).ok()?;
    network_fs_name(st.f_type as i64)
}

/// Maps a statfs magic number to the name of a network filesystem.
pub fn network_fs_name(magic: i64) -> Option<&'static str> {
    match magic {
        0x6969 => Some("NFS"),
        0xFF53_4D42 => Some("CIFS"),
        0xFE53_4D42 => Some("SMB2"),
        0x517B => Some("SMB"),
        0x6573_5546 => Some("FUSE"),
        _ => None,
    }
}

/// Opens a file for reading without following a final symlink.
pub(crate) fn open_read_nofollow(path: &Path) -> io::Result<File> {
    fsio::open_read(path, true)
}

/// Reads a regular file without following symlinks, for journal and staged files.
fn read_plain(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = open_read_nofollow(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if m.len() > MAX_JOURNAL {
        return Err(io::Error::other(format!(
            "is larger than fileca's {} MiB limit for a journal or staged file",
            MAX_JOURNAL >> 20
        )));
    }
    let mut buf = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads a state file: no symlinks, no FIFOs or directories, bounded size.
pub fn read_state_file(dir: &Path, rel: &str) -> Result<Vec<u8>> {
    let path = dir.join(rel);
    let (mut f, len) = open_state_file(dir, rel)?;
    let mut buf = Vec::with_capacity(len as usize);
    f.read_to_end(&mut buf).map_err(|e| Error::io(&path, e))?;
    Ok(buf)
}

/// Opens a state file for reading (no symlinks, no FIFOs or directories, bounded size);
/// returns it and its length.
pub fn open_state_file(dir: &Path, rel: &str) -> Result<(File, u64)> {
    let path = dir.join(rel);
    let f = open_read_nofollow(&path).map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            Error::state(&path, StateError::Symlink)
        } else {
            Error::io(&path, e)
        }
    })?;
    let m = state_file_metadata(&f, &path)?;
    if m.len() > MAX_STATE_FILE {
        return Err(Error::state(&path, StateError::TooLarge));
    }
    Ok((f, m.len()))
}

/// The metadata of an open state file, which must be a regular file with one name.
fn state_file_metadata(f: &File, path: &Path) -> Result<std::fs::Metadata> {
    let m = f.metadata().map_err(|e| Error::io(path, e))?;
    if !m.is_file() {
        return Err(Error::state(path, StateError::NotRegular));
    }
    if m.nlink() > 1 {
        return Err(Error::state(path, StateError::HardLink));
    }
    Ok(m)
}

/// The length of a state file and its last line (without the newline), reading only as much
/// of its end as needed. `None` for an empty file.
pub fn read_last_line(dir: &Path, rel: &str) -> Result<(u64, Option<Vec<u8>>)> {
    use std::io::{Seek, SeekFrom};
    let path = dir.join(rel);
    let mut f = open_read_nofollow(&path).map_err(|e| Error::io(&path, e))?;
    let m = state_file_metadata(&f, &path)?;
    let len = m.len();
    if len == 0 {
        return Ok((0, None));
    }
    let mut window: u64 = 4096;
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(&path, e))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(|e| Error::io(&path, e))?;
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Err(Error::state(&path, StateError::Unterminated));
        };
        if let Some(pos) = body.iter().rposition(|&b| b == b'\n') {
            return Ok((len, Some(body[pos + 1..].to_vec())));
        }
        if start == 0 {
            return Ok((len, Some(body.to_vec())));
        }
        window *= 4;
    }
}

/// Permission bits of a state file, without following symlinks.
pub fn mode_of(dir: &Path, rel: &str) -> Result<u32> {
    let path = dir.join(rel);
    std::fs::symlink_metadata(&path)
        .map(|m| m.mode() & 0o7777)
        .map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_network_filesystems() {
        assert_eq!(network_fs_name(0x6969), Some("NFS"));
        assert_eq!(network_fs_name(0xEF53), None); // ext4
        assert_eq!(network_fs_name(0x0102_1994), None); // tmpfs
    }

    #[test]
    fn an_acl_granting_write_to_another_user_is_found_hostile_trust() {
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut e = tag.to_le_bytes().to_vec();
            e.extend(perm.to_le_bytes());
            e.extend(id.to_le_bytes());
            e
        };
        let acl = |entries: &[Vec<u8>]| {
            let mut b = 2u32.to_le_bytes().to_vec();
            for e in entries {
                b.extend(e);
            }
            b
        };
        let base = [
            entry(1, 7, u32::MAX),
            entry(4, 5, u32::MAX),
            entry(0x20, 5, u32::MAX),
        ];
        // user:nobody:rwx with mask rwx: nobody can write.
        let mut with = base.to_vec();
        with.push(entry(2, 7, 65534));
        with.push(entry(0x10, 7, u32::MAX));
        assert_eq!(acl_writers_of(&acl(&with)).as_deref(), Some("uid 65534"));
        // The same entry under a read-only mask: no write.
        let mut masked = base.to_vec();
        masked.push(entry(2, 7, 65534));
        masked.push(entry(0x10, 5, u32::MAX));
        assert_eq!(acl_writers_of(&acl(&masked)), None);
        // group:staff:r-x: no write.
        let mut read_only = base.to_vec();
        read_only.push(entry(8, 5, 50));
        read_only.push(entry(0x10, 7, u32::MAX));
        assert_eq!(acl_writers_of(&acl(&read_only)), None);
        assert_eq!(acl_writers_of(&[]), None);
    }

    #[test]
    fn a_group_is_private_only_with_the_owner_as_its_one_member_hostile_trust() {
        let alice = Some((1000, "alice".to_string()));
        let group = |members: &[&str]| {
            Some((
                "alice".to_string(),
                members.iter().map(|m| m.to_string()).collect(),
            ))
        };
        let primary_alice = [(1000, "alice".to_string())];
        // The user-private group: alice's primary group, nobody else in it.
        assert!(group_verdict(1000, alice.clone(), group(&[]), &primary_alice).is_ok());
        assert!(group_verdict(1000, alice.clone(), group(&["alice"]), &primary_alice).is_ok());
        // Listed by name only (a supplementary group of alice's alone).
        assert!(group_verdict(1000, alice.clone(), group(&["alice"]), &[]).is_ok());
        // gid equal to uid is not enough: another member makes it shared.
        let e = group_verdict(1000, alice.clone(), group(&["bob"]), &primary_alice).unwrap_err();
        assert!(e.contains("other members: bob"), "{e}");
        let e = group_verdict(
            1000,
            alice.clone(),
            group(&[]),
            &[(1000, "alice".into()), (1001, "mallory".into())],
        )
        .unwrap_err();
        assert!(e.contains("mallory"), "{e}");
        // No member at all (a setgid group), an unknown group or owner: not private.
        assert!(group_verdict(50, alice.clone(), group(&[]), &[]).is_err());
        assert!(group_verdict(1000, alice, None, &primary_alice).is_err());
        assert!(group_verdict(1000, None, group(&[]), &primary_alice).is_err());
    }
}
