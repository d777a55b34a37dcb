//! The state directory: the only module that touches it, and the order in which it does.
//!
//! Commands never write files. They load state through a [`Session`] (which holds the
//! directory's lock and has already recovered any interrupted commit), compute a [`Plan`]
//! holding the complete new content of every file they change, and hand the plan to
//! [`Session::commit`]. The commit stages each file and the journal, makes them durable with one
//! syncfs, renames the journal into place (the commit point), renames the staged files into place and removes the journal. A failure before the
//! commit point removes everything staged, so the directory is byte-identical; a crash after it
//! is rolled forward by the next command. docs/design.md tells the whole story.

pub mod fsio;
pub mod journal;
mod lock;
pub mod output;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::hex;
use journal::{Append, Journal, Rename};

/// File names inside the state directory (SPEC.md `DIR-*`).
pub const KEY: &str = "ca.key";
pub const CERT: &str = "ca.crt";
pub const CRL: &str = "ca.crl";
pub const SERIAL: &str = "serial";
pub const CRLNUMBER: &str = "crlnumber";
pub const INDEX: &str = "index.json";
pub const INDEX_LOG: &str = "index.log";
pub const AUDIT: &str = "audit.log";
pub const CERTS: &str = "certs";
pub const LOCK: &str = ".lock";
pub const JOURNAL: &str = ".journal";
pub const JOURNAL_STAGE: &str = ".journal.stage";

/// Mode of ca.key: owner read/write only.
pub const MODE_SECRET: u32 = 0o600;
/// Mode of every other state file.
pub const MODE_PUBLIC: u32 = 0o644;
/// Mode of the state directory.
pub const MODE_DIR: u32 = 0o700;
/// Mode of certs/.
pub const MODE_CERTS_DIR: u32 = 0o755;

/// Largest state file fileca reads (index.json at a million certificates stays below it).
pub const MAX_STATE_FILE: u64 = 1 << 30;

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
}

/// What a commit reports besides success.
#[derive(Debug, Default)]
pub struct Committed {
    /// Set when the change is committed (durable) but finishing it failed; the next command
    /// completes it. The text names what is left and where.
    pub warning: Option<String>,
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
        let lock_path = dir.join(LOCK);
        let lock_file = match access {
            Access::Write => fsio::open_or_create(&lock_path, MODE_PUBLIC),
            Access::Read => open_read_nofollow(&lock_path)
                .or_else(|_| fsio::open_or_create(&lock_path, MODE_PUBLIC)),
        }
        .map_err(|e| Error::io(&lock_path, e))?;
        let shared = access == Access::Read;
        lock::acquire(&lock_file, &lock_path, shared, opts.lock_timeout)?;
        if needs_recovery(dir)? {
            if shared {
                // Upgrade: recovery writes, so it must run alone.
                lock::acquire(&lock_file, &lock_path, false, opts.lock_timeout)?;
            }
            recover(dir)?;
        }
        Ok(Session {
            dir: dir.to_path_buf(),
            access,
            allow_insecure_key: opts.allow_insecure_key,
            _lock: lock_file,
        })
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
    pub fn read_optional(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        match read_state_file(&self.dir, rel) {
            Ok(b) => Ok(Some(b)),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Names of the entries of certs/ (for `ca check`).
    pub fn list_certs_dir(&self) -> Result<Vec<String>> {
        let certs = self.dir.join(CERTS);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&certs).map_err(|e| Error::io(&certs, e))? {
            let entry = entry.map_err(|e| Error::io(&certs, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Staged files or a journal present right now (for `ca check`; normally none, since
    /// opening the session recovered them).
    pub fn leftovers(&self) -> Result<Vec<String>> {
        leftovers(&self.dir)
    }

    /// Writes a plan: stage, journal (the commit point), rename, remove the journal.
    /// Before the commit point any failure undoes everything staged and returns the error;
    /// after it, failures are reported in [`Committed::warning`] and the next command
    /// finishes the job.
    pub fn commit(&self, plan: &Plan) -> Result<Committed> {
        if self.access != Access::Write {
            return Err(Error::Internal("commit on a read session".into()));
        }
        let dir = &self.dir;
        let mut staged: Vec<PathBuf> = Vec::new();
        let mut renames = Vec::new();
        for (i, w) in plan.writes.iter().enumerate() {
            if !journal::is_state_target(&w.target) {
                return Err(Error::Internal(format!("plan writes {:?}", w.target)));
            }
            let name = format!(".stage.{i}");
            let path = dir.join(&name);
            if let Err(e) = stage(&path, &w.bytes, w.mode, &mut staged) {
                return Err(undo(dir, &staged, e));
            }
            renames.push(Rename {
                staged: name,
                target: w.target.clone(),
                sha256: hex::sha256(&w.bytes),
            });
        }
        let mut appends = Vec::new();
        for a in &plan.appends {
            if !journal::is_state_target(&a.target) {
                return Err(Error::Internal(format!("plan appends to {:?}", a.target)));
            }
            let name = format!(".stage.{}", plan.writes.len() + appends.len());
            let path = dir.join(&name);
            if let Err(e) = stage(&path, &a.bytes, MODE_PUBLIC, &mut staged) {
                return Err(undo(dir, &staged, e));
            }
            appends.push(Append {
                staged: name,
                target: a.target.clone(),
                offset: a.offset,
                len: a.bytes.len() as u64,
                sha256: hex::sha256(&a.bytes),
            });
        }
        let journal = Journal {
            format: journal::FORMAT,
            operation: plan.operation.to_string(),
            generation_before: plan.generation_before,
            generation_after: plan.generation_after,
            renames,
            appends,
        };
        let jstage = dir.join(JOURNAL_STAGE);
        let jpath = dir.join(JOURNAL);
        if let Err(e) = stage(&jstage, &journal.to_bytes(), MODE_PUBLIC, &mut staged) {
            return Err(undo(dir, &staged, e));
        }
        // One syncfs makes every staged file and the staged journal durable, with their
        // directory entries: cheaper than an fsync per file from the second file on.
        if let Err(e) = fsio::syncfs(dir) {
            return Err(undo(dir, &staged, Error::io(dir, e)));
        }
        if let Err(e) = fsio::rename(&jstage, &jpath) {
            return Err(undo(dir, &staged, Error::io(&jstage, e)));
        }
        staged.pop();
        // The journal is in place; it becomes the commit point once its directory entry is
        // durable. If that fsync fails we cannot promise durability, so we take it back.
        if let Err(e) = fsio::fsync_dir(dir) {
            staged.push(jpath.clone());
            return Err(undo(dir, &staged, Error::io(dir, e)));
        }
        // Committed. From here on the change happens, now or in the next command's recovery.
        let warning = apply(dir, &journal, false).err().map(|msg| {
            format!(
                "the change is committed, but finishing it failed: {msg}. The journal {} remains; \
                 the next ca command completes it (ca check reports it until then)",
                jpath.display()
            )
        });
        Ok(Committed { warning })
    }
}

/// Creates and fills one staged file, recording it in `staged` as soon as it exists (and not
/// before: a file that could not be created is not ours to remove).
/// Not fsynced: the caller makes everything staged durable with one syncfs.
fn stage(path: &Path, bytes: &[u8], mode: u32, staged: &mut Vec<PathBuf>) -> Result<()> {
    let mut file = fsio::create_new(path, mode).map_err(|e| Error::io(path, e))?;
    staged.push(path.to_path_buf());
    fsio::write_all(&mut file, path, bytes)
        .and_then(|()| fsio::set_mode(&file, path, mode))
        .map_err(|e| Error::io(path, e))
}

/// Removes staged files after a failure before the commit point. If removal itself fails,
/// the error says exactly what is left (contract 5: never swallowed).
fn undo(dir: &Path, staged: &[PathBuf], primary: Error) -> Error {
    let mut left = Vec::new();
    for p in staged.iter().rev() {
        match fsio::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => left.push(format!("{} ({e})", p.display())),
        }
    }
    if let Err(e) = fsio::fsync_dir(dir) {
        left.push(format!(
            "removals in {} not yet durable ({e})",
            dir.display()
        ));
    }
    if left.is_empty() {
        primary
    } else {
        Error::Recovery {
            dir: dir.to_path_buf(),
            msg: format!(
                "{primary}; nothing was committed, but cleanup failed and left: {}. \
                 The next ca command removes them; ca check lists them until then",
                left.join(", ")
            ),
        }
    }
}

/// Performs the renames of a journal, then removes it. With `verify`, each staged file's hash
/// is checked first and a target that already holds the content counts as done, which makes
/// recovery idempotent: it can itself be interrupted and rerun.
fn apply(dir: &Path, journal: &Journal, verify: bool) -> std::result::Result<(), String> {
    for r in &journal.renames {
        let staged = dir.join(&r.staged);
        let target = dir.join(&r.target);
        if verify {
            match read_plain(&staged) {
                Ok(bytes) => {
                    if hex::sha256(&bytes) != r.sha256 {
                        return Err(format!(
                            "staged file {} does not hold the content the journal recorded for {}",
                            staged.display(),
                            r.target
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match read_plain(&target) {
                    Ok(bytes) if hex::sha256(&bytes) == r.sha256 => continue,
                    Ok(_) => {
                        return Err(format!(
                            "{} is missing and {} does not hold the journaled content",
                            staged.display(),
                            target.display()
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "{} is missing and {} cannot be read: {e}",
                            staged.display(),
                            target.display()
                        ));
                    }
                },
                Err(e) => return Err(format!("{}: {e}", staged.display())),
            }
        }
        fsio::rename(&staged, &target)
            .map_err(|e| format!("renaming {} to {}: {e}", staged.display(), target.display()))?;
    }
    for a in &journal.appends {
        apply_append(dir, a)?;
    }
    // One syncfs makes the renames (in the directory and certs/) and the appended bytes
    // durable; only then may the journal and the staged copies of appends go.
    fsio::syncfs(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for a in &journal.appends {
        let staged = dir.join(&a.staged);
        match fsio::remove_file(&staged) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("removing {}: {e}", staged.display())),
        }
    }
    let jpath = dir.join(JOURNAL);
    fsio::remove_file(&jpath).map_err(|e| format!("removing {}: {e}", jpath.display()))?;
    fsio::fsync_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(())
}

/// Appends one journaled chunk. Idempotent: if the staged copy is gone, the target must
/// already hold the bytes at the recorded offset.
fn apply_append(dir: &Path, a: &Append) -> std::result::Result<(), String> {
    let staged = dir.join(&a.staged);
    let target = dir.join(&a.target);
    match read_plain(&staged) {
        Ok(bytes) => {
            if hex::sha256(&bytes) != a.sha256 {
                return Err(format!(
                    "staged file {} does not hold the bytes the journal recorded for {}",
                    staged.display(),
                    a.target
                ));
            }
            let len = std::fs::symlink_metadata(&target)
                .map(|m| m.len())
                .unwrap_or(0);
            if len < a.offset {
                return Err(format!(
                    "{} is shorter ({len} bytes) than when the change was committed ({} bytes)",
                    target.display(),
                    a.offset
                ));
            }
            fsio::append_at(&target, a.offset, &bytes, MODE_PUBLIC)
                .map_err(|e| format!("appending to {}: {e}", target.display()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let chunk = read_range(&target, a.offset, a.len)
                .map_err(|e| format!("{}: {e}", target.display()))?;
            if chunk.is_some_and(|c| hex::sha256(&c) == a.sha256) {
                Ok(())
            } else {
                Err(format!(
                    "{} is missing and {} does not hold the journaled bytes",
                    staged.display(),
                    target.display()
                ))
            }
        }
        Err(e) => Err(format!("{}: {e}", staged.display())),
    }
}

/// `len` bytes of a file from `offset`, or None when the file is shorter.
fn read_range(path: &Path, offset: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let file = open_read_nofollow(path)?;
    if file.metadata()?.len() < offset.saturating_add(len) {
        return Ok(None);
    }
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Some(buf))
}

/// Is there a journal or a staged file to deal with?
fn needs_recovery(dir: &Path) -> Result<bool> {
    Ok(!leftovers(dir)?.is_empty())
}

/// Names of journal and staged files at the top of the state directory.
fn leftovers(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == JOURNAL || name == JOURNAL_STAGE || name.starts_with(".stage.") {
            found.push(name.into_owned());
        }
    }
    found.sort();
    Ok(found)
}

/// Rolls a complete journal forward, or removes stray staged files when there is none.
/// Runs under the exclusive lock.
fn recover(dir: &Path) -> Result<()> {
    let jpath = dir.join(JOURNAL);
    let recovery_err = |msg: String| Error::Recovery {
        dir: dir.to_path_buf(),
        msg,
    };
    match read_plain(&jpath) {
        Ok(bytes) => {
            let journal = Journal::parse(&bytes).map_err(|m| {
                recovery_err(format!(
                    "{}: {m}; inspect it by hand (ca check shows the details)",
                    jpath.display()
                ))
            })?;
            apply(dir, &journal, true).map_err(|m| {
                recovery_err(format!(
                    "completing the interrupted {} (journal {}): {m}; mutations are refused until \
                     this is resolved",
                    journal.operation,
                    jpath.display()
                ))
            })?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(recovery_err(format!("{}: {e}", jpath.display()))),
    }
    // No journal (any more): whatever is staged belongs to a command that never reached its
    // commit point, so it is removed.
    let stray = leftovers(dir)?;
    if !stray.is_empty() {
        for name in &stray {
            let p = dir.join(name);
            fsio::remove_file(&p)
                .map_err(|e| recovery_err(format!("removing stray {}: {e}", p.display())))?;
        }
        fsio::fsync_dir(dir).map_err(|e| recovery_err(format!("{}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Refuses a state directory that is missing, a symlink or not a directory.
fn check_is_state_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::state(
            dir,
            "the state directory is a symbolic link; fileca does not follow symlinks (pass the real path)",
        )),
        Ok(m) if !m.is_dir() => Err(Error::state(dir, "not a directory")),
        Ok(_) => {
            if std::fs::symlink_metadata(dir.join(CERT)).is_err()
                && std::fs::symlink_metadata(dir.join(INDEX)).is_err()
            {
                return Err(Error::state(
                    dir,
                    "no CA here (no ca.crt or index.json); create one with `ca init`",
                ));
            }
            // certs/ must be a real directory: renames into a symlinked one would land
            // wherever it points.
            let certs = dir.join(CERTS);
            match std::fs::symlink_metadata(&certs) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(Error::state(
                    &certs,
                    "is not a directory (a symbolic link or a file); fileca never follows symlinks",
                )),
                Err(e) => Err(Error::io(&certs, e)),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::state(
            dir,
            "no CA here (directory does not exist); create one with `ca init`",
        )),
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
        eprintln!(
            "warning: {} is on {kind}, where file locks are unreliable",
            dir.display()
        );
        return Ok(());
    }
    Err(Error::state(
        dir,
        format!(
            "the state directory is on {kind}, where file locks are unreliable and concurrent \
             commands could corrupt it; move it to a local filesystem or pass --allow-network-fs"
        ),
    ))
}

/// The kind of network filesystem `dir` is on, if it is on one.
pub fn network_fs_kind(dir: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-buffer.
    let rc = unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statfs returned 0, so it filled the buffer.
    let st = unsafe { st.assume_init() };
    network_fs_name(st.f_type)
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
fn open_read_nofollow(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

/// Reads a regular file without following symlinks, for journal and staged files.
fn read_plain(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = open_read_nofollow(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(io::Error::other("not a regular file"));
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
        if e.raw_os_error() == Some(libc::ELOOP) {
            Error::state(
                &path,
                "is a symbolic link; fileca never follows symlinks inside the state directory",
            )
        } else {
            Error::io(&path, e)
        }
    })?;
    let m = f.metadata().map_err(|e| Error::io(&path, e))?;
    if !m.is_file() {
        return Err(Error::state(&path, "is not a regular file"));
    }
    if m.len() > MAX_STATE_FILE {
        return Err(Error::state(&path, "is larger than fileca's 1 GiB limit"));
    }
    Ok((f, m.len()))
}

/// The length of a state file and its last line (without the newline), reading only as much
/// of its end as needed. `None` for an empty file.
pub fn read_last_line(dir: &Path, rel: &str) -> Result<(u64, Option<Vec<u8>>)> {
    use std::io::{Seek, SeekFrom};
    let path = dir.join(rel);
    let mut f = open_read_nofollow(&path).map_err(|e| Error::io(&path, e))?;
    let m = f.metadata().map_err(|e| Error::io(&path, e))?;
    if !m.is_file() {
        return Err(Error::state(&path, "is not a regular file"));
    }
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
            return Err(Error::state(
                &path,
                "does not end with a newline (truncated?)",
            ));
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
            let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
            if entries.next().is_some() {
                return Err(exists_error(dir));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    let name = dir
        .file_name()
        .filter(|n| *n != OsStr::new(".") && *n != OsStr::new(".."))
        .ok_or_else(|| {
            Error::refused(format!(
                "{}: cannot create a CA here; name a new directory",
                dir.display()
            ))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::refused(format!(
            "{}: parent directory does not exist",
            parent.display()
        )));
    }
    Ok((parent, name))
}

/// Creates a new CA directory atomically: every file is written into a hidden sibling staging
/// directory, which is then renamed to `dir`. `rename(2)` refuses a non-empty target, so of
/// two racing inits exactly one wins, and a crashed init leaves no half-made `dir`.
pub fn create(dir: &Path, files: &[FileWrite]) -> Result<()> {
    let (parent, name) = check_can_create(dir)?;
    remove_abandoned_inits(&parent, &name)?;

    let mut rnd = [0u8; 8];
    crate::rand::fill(&mut rnd)?;
    let staging = parent.join(format!(
        ".{name}.init-{}-{}",
        std::process::id(),
        hex::lower(&rnd)
    ));
    if let Err(e) = fsio::create_dir(&staging, MODE_DIR) {
        let err = Error::io(&staging, e);
        return Err(if staging.exists() {
            remove_tree_or_report(&staging, err)
        } else {
            err
        });
    }
    let result = (|| -> Result<File> {
        let lock_path = staging.join(LOCK);
        let lock_file =
            fsio::open_or_create(&lock_path, MODE_PUBLIC).map_err(|e| Error::io(&lock_path, e))?;
        lock::acquire(&lock_file, &lock_path, false, Duration::ZERO)?;
        let certs = staging.join(CERTS);
        fsio::create_dir(&certs, MODE_CERTS_DIR).map_err(|e| Error::io(&certs, e))?;
        for f in files {
            let p = staging.join(&f.target);
            fsio::write_new_durable(&p, &f.bytes, f.mode).map_err(|e| Error::io(&p, e))?;
        }
        fsio::fsync_dir(&certs).map_err(|e| Error::io(&certs, e))?;
        fsio::fsync_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        fsio::rename(&staging, dir).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTEMPTY) | Some(libc::EEXIST) | Some(libc::ENOTDIR) => exists_error(dir),
            _ => Error::io(dir, e),
        })?;
        Ok(lock_file)
    })();
    let lock_file = match result {
        Ok(l) => l,
        Err(e) => return Err(remove_tree_or_report(&staging, e)),
    };
    // The new directory is visible; it is ours until its parent's entry is durable, and we
    // still hold its lock, so no other command has looked at it yet.
    if let Err(e) = fsio::fsync_dir(&parent) {
        let err = Error::io(&parent, e);
        return Err(match fsio::rename(dir, &staging) {
            Ok(()) => remove_tree_or_report(&staging, err),
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

fn exists_error(dir: &Path) -> Error {
    Error::Exists {
        path: dir.to_path_buf(),
        msg: "already exists and is not empty; `ca init` only creates new CAs (choose another \
              --dir, or inspect this one with `ca status`)"
            .into(),
    }
}

/// Removes the staging directories of inits that died: those whose lock nobody holds.
fn remove_abandoned_inits(parent: &Path, name: &str) -> Result<()> {
    let prefix = format!(".{name}.init-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let fname = entry.file_name();
        if !fname.to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !m.is_dir() {
            continue;
        }
        // The name carries the creator's pid: while it lives, the init is in progress (its
        // lock is not enough, as there is a moment between creating the directory and
        // locking it).
        let pid = fname.to_string_lossy()[prefix.len()..]
            .split('-')
            .next()
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_none_or(process_alive) {
            continue;
        }
        if let Ok(f) = open_read_nofollow(&path.join(LOCK))
            && f.try_lock().is_err()
        {
            continue;
        }
        // Another init may be removing the same leftovers: failing here is not our failure.
        if let Err(e) = remove_tree(&path) {
            eprintln!(
                "warning: could not remove {} left by an interrupted init: {e}",
                path.display()
            );
            continue;
        }
        let _ = fsio::fsync_dir(parent);
    }
    Ok(())
}

/// Does a process with this pid exist?
pub(crate) fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 performs only the existence and permission check.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn remove_tree_or_report(staging: &Path, primary: Error) -> Error {
    match remove_tree(staging) {
        Ok(()) => primary,
        Err(e) => Error::Recovery {
            dir: staging.to_path_buf(),
            msg: format!(
                "{primary}; removing the half-made {} failed ({e}); the next `ca init` removes it",
                staging.display()
            ),
        },
    }
}

/// Removes an init staging directory: plain files and one level of subdirectories.
fn remove_tree(path: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let p = entry.path();
        if entry.file_type()?.is_dir() {
            for sub in std::fs::read_dir(&p)? {
                fsio::remove_file(&sub?.path())?;
            }
            fsio::remove_dir(&p)?;
        } else {
            fsio::remove_file(&p)?;
        }
    }
    fsio::remove_dir(path)
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
}
