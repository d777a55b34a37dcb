//! Files and directories written outside the state directory (`--out`, `--out-dir`, the pair
//! directory of `ca issue`), as part of the commit (SPEC.md OUTPUT-*).
//!
//! Before the commit point nothing outside the state directory holds a certificate: outputs
//! are only checked. The one exception is `ca issue`'s private key, staged durably in an
//! owner-only directory fileca creates in the output directory. After the commit point the
//! journal lists every output; the command writes them from the committed content (staged
//! under a hidden name, fsynced, then `link(2)`-ed into place, which never replaces a file;
//! `rename(2)` under `--force`). Recovery of an interrupted command writes nothing here: it
//! reports what was not delivered (SPEC.md RECOVER-INSIDE), and a re-run of the same
//! `ca issue` completes a recorded pair ([`publish_pair`]).
//!
//! Staging directories abandoned by dead processes are removed by cleanup.rs, under its one
//! rule (SPEC.md HOSTILE-CLEANUP).

use std::io;
use std::path::{Component, Path, PathBuf};

use super::cleanup;
use super::journal::{self, Output};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Durable};

/// Mode of output files.
pub const MODE_OUTPUT: u32 = 0o644;
/// Mode of a pair directory: it holds a private key.
pub const MODE_PAIR_DIR: u32 = 0o700;
/// The marker file inside a pair staging directory: proof that fileca made it.
pub const MARKER: &str = ".fileca-staging";
const MARKER_TEXT: &str = "fileca staging directory: holds a private key until published\n";

/// The marker's content: its fixed first line, then the state directory (absolute) and the
/// serial of the certificate the key is for, by which the cleanup of abandoned staging
/// directories recognises one whose certificate was committed (HOSTILE-CLEANUP).
pub(super) fn marker_text(state_dir: &Path, serial: &str) -> Vec<u8> {
    let mut text = MARKER_TEXT.as_bytes().to_vec();
    text.extend_from_slice(b"state ");
    text.extend_from_slice(state_dir.as_os_str().as_encoded_bytes());
    text.extend_from_slice(format!("\nserial {serial}\n").as_bytes());
    text
}

/// The state directory and serial a marker names (None for a marker of an older fileca).
pub(super) fn marker_names(text: &[u8]) -> Option<(PathBuf, String)> {
    use std::os::unix::ffi::OsStrExt;
    let rest = text.strip_prefix(MARKER_TEXT.as_bytes())?;
    let rest = rest.strip_prefix(b"state ")?;
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let state = PathBuf::from(std::ffi::OsStr::from_bytes(&rest[..nl]));
    let serial = std::str::from_utf8(rest[nl + 1..].strip_prefix(b"serial ")?)
        .ok()?
        .strip_suffix('\n')?;
    Some((state, serial.to_string()))
}

pub use crate::model::plan::{OutputFile, PairFile, PairPlan};

mod copy;
mod pair;

pub use crate::error::store::OutputRefusal;
pub use copy::{CopyTarget, check_copy_target, write_copy};
pub use pair::{NotDelivered, SourceContent, pair_delivered, publish_pair, stage_pair};

/// The parent directory of a path as given (`.` for a bare name).
pub fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub(super) fn file_name(p: &Path) -> Result<String> {
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| OutputRefusal::NotFileName(p.to_path_buf()))?;
    journal::check_name(name).map_err(|_| OutputRefusal::NotFileName(p.to_path_buf()))?;
    Ok(name.to_string())
}

/// Refuses, before the CA key is read, an `--out FILE` that the commit would refuse
/// ([`check`]), so a dry run refuses what the real run does (DRY-RUN). `-` and streams pass:
/// they are judged when opened.
pub fn precheck(path: &Path, force: bool) -> Result<()> {
    if path.as_os_str() == "-" || crate::term::is_stream(path) {
        return Ok(());
    }
    check(&OutputFile {
        path: path.to_path_buf(),
        source: String::new(),
        bytes: Vec::new(),
        serial: None,
        force,
        suffix: None,
        der: false,
    })
}

/// [`precheck`] for `--out-dir DIR` and the files a command will write in it: a DIR that
/// exists must be a directory, and its files pass [`check`]; a missing DIR is created at
/// the commit.
pub fn precheck_dir(dir: &Path, files: &[PathBuf], force: bool) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => files.iter().try_for_each(|f| precheck(f, force)),
        Ok(_) => Err(OutputRefusal::NotDirectory {
            dir: dir.to_path_buf(),
            dangling: false,
        }
        .into()),
        // A path through a file (ENOTDIR) can never be made a directory.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            Err(OutputRefusal::NotDirectory {
                dir: dir.to_path_buf(),
                dangling: false,
            }
            .into())
        }
        Err(_) => Ok(()),
    }
}

/// [`precheck`] for `ca issue`'s pair directory: it must not exist ([`stage_pair`] refuses
/// it at the commit).
pub fn precheck_pair(dir: &Path, pair: &Path) -> Result<()> {
    precheck_dir(dir, &[], false)?;
    match std::fs::symlink_metadata(pair) {
        Ok(_) => Err(OutputRefusal::PairExists(pair.to_path_buf()).into()),
        Err(_) => Ok(()),
    }
}

/// Checks an output before anything is written: the target is not a symlink, not something
/// other than a regular file, and does not exist unless `force`; its directory exists.
pub fn check(out: &OutputFile) -> Result<()> {
    let target = &out.path;
    let name = file_name(target)?;
    if name.len() > 255 {
        return Err(OutputRefusal::NameTooLong(target.clone()).into());
    }
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => Err(OutputRefusal::Symlink(target.clone()).into()),
        Ok(m) if !m.is_file() => Err(OutputRefusal::NotRegular(target.clone()).into()),
        Ok(_) if !out.force => Err(OutputRefusal::Exists(target.clone()).into()),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = parent_of(target);
            match std::fs::metadata(&parent) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(OutputRefusal::ParentNotDirectory(parent).into()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(OutputRefusal::NoParent {
                    option: "--out",
                    path: target.clone(),
                    dir: parent,
                }
                .into()),
                Err(e) => Err(Error::io(&parent, e)),
            }
        }
        // A path through a file: its "directory" is not one (a refusal, as for a parent that
        // exists and is a file).
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            Err(OutputRefusal::ParentNotDirectory(parent_of(target)).into())
        }
        Err(e) => Err(Error::io(target, e)),
    }
}

/// Refuses an output directory inside the state directory: outputs are written outside the
/// journal's state files, so one there could replace `serial` or `.lock` under `--force`.
/// Judged on the nearest existing ancestor, resolved (so before `--out-dir` creates anything).
pub fn refuse_inside_state(state_dir: &Path, out_dir: &Path) -> Result<()> {
    let state = std::fs::canonicalize(state_dir).map_err(|e| Error::io(state_dir, e))?;
    let mut probe = out_dir.to_path_buf();
    let resolved = loop {
        match std::fs::canonicalize(&probe) {
            Ok(p) => break p,
            Err(_) => {
                let parent = parent_of(&probe);
                if parent == probe || probe.as_os_str().is_empty() {
                    return Ok(());
                }
                probe = parent;
            }
        }
    };
    if resolved.starts_with(&state) {
        return Err(OutputRefusal::InsideState {
            out: out_dir.to_path_buf(),
            state: state_dir.to_path_buf(),
        }
        .into());
    }
    Ok(())
}

/// Mode of a directory `--out-dir` creates: others may list certificates, not write.
pub const MODE_OUT_DIR: u32 = 0o755;

/// Creates `dir` and its missing parents (`mkdir -p`) for `--out-dir`, durably. An existing
/// directory (or a symlink to one, as the user named it) is used as it is.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Ok(m) = std::fs::symlink_metadata(dir) {
        return Err(OutputRefusal::NotDirectory {
            dir: dir.to_path_buf(),
            dangling: m.file_type().is_symlink(),
        }
        .into());
    }
    let parent = parent_of(dir);
    if dir.file_name().is_none() {
        return Err(OutputRefusal::NotDirectoryName(dir.to_path_buf()).into());
    }
    ensure_dir(&parent)?;
    match fsio::create_dir(dir, MODE_OUT_DIR) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    }
    fsio::fsync_dir(&parent).map_err(|e| Error::io(&parent, e))
}

/// The path of `target_dir` relative to the state directory `state_dir` (both resolved), as
/// the journal records it: a copied tree then recovers into its own copy.
pub fn relative_to(state_dir: &Path, target_dir: &Path) -> Result<String> {
    let base = std::fs::canonicalize(state_dir).map_err(|e| Error::io(state_dir, e))?;
    let to = std::fs::canonicalize(target_dir).map_err(|e| Error::io(target_dir, e))?;
    let b: Vec<Component> = base.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c.as_os_str());
    }
    let rel = if rel.as_os_str().is_empty() {
        ".".to_string()
    } else {
        rel.to_str()
            .ok_or_else(|| OutputRefusal::NotUtf8(target_dir.to_path_buf()))?
            .to_string()
    };
    Ok(rel)
}

/// The hidden name an output is staged under in its directory.
pub(super) fn staged_name(name: &str, id: &str) -> String {
    // At most 200 bytes of the name, cut at a character boundary: the result stays within
    // NAME_MAX (255 bytes) whatever the name's script.
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}.fileca-{id}", &name[..end])
}

/// Is this entry a plain file (not a symlink, directory, FIFO or device)?
pub(super) fn is_regular(st: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
}

/// Who reads an output's content back: the command itself, or a later one (`ca issue`'s
/// re-run completing a recorded pair, RECOVER-UNDELIVERED), which checks it is a certificate
/// or CRL of this CA (a record found on disk may have been planted). Recovery publishes
/// nothing (RECOVER-INSIDE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Recover,
}

/// How many outputs are staged before their fsyncs are issued together (bounds open files).
const CHUNK: usize = 256;

/// Publishes the outputs of a committed journal, in chunks: each staged copy is written,
/// made durable (concurrently with the rest of its chunk), then linked into place (renamed
/// under `--force`); the directories are fsynced at the end. Returns the messages of the
/// outputs that could not be delivered. `content` gives an output's bytes (checked).
pub fn publish_outputs(
    state_dir: &Path,
    id: &str,
    outputs: &[Output],
    content: &dyn Fn(&Output) -> std::result::Result<Vec<u8>, super::recover::RecoverError>,
) -> Vec<String> {
    let mut undelivered = Vec::new();
    let mut dirs: Vec<(String, Dir, bool)> = Vec::new();
    for chunk in outputs.chunks(CHUNK) {
        // (directory, output, staged name, file, path, replace an existing file?)
        let mut staged: Vec<(usize, &Output, String, std::fs::File, PathBuf, bool)> = Vec::new();
        for o in chunk {
            let display = state_dir.join(&o.dir).join(&o.name);
            let fail = |why: String| format!("{}: {why}", display.display());
            let di = match dirs.iter().position(|(d, _, _)| *d == o.dir) {
                Some(i) => i,
                None => match Dir::open(&state_dir.join(&o.dir)) {
                    Ok(d) => {
                        dirs.push((o.dir.clone(), d, false));
                        dirs.len() - 1
                    }
                    Err(e) => {
                        undelivered.push(fail(e.to_string()));
                        continue;
                    }
                },
            };
            let dir = &dirs[di].1;
            let bytes = match content(o) {
                Ok(b) => b,
                Err(why) => {
                    undelivered.push(fail(why.to_string()));
                    continue;
                }
            };
            let sname = staged_name(&o.name, id);
            // The command checked its targets before the commit point (a target that
            // appeared since makes link(2) fail below); only `--force` replaces.
            let replace = o.force;
            match dir.write_new(&sname, &bytes, MODE_OUTPUT) {
                Ok(file) => staged.push((di, o, sname.clone(), file, dir.join(&sname), replace)),
                Err(e) => {
                    // Remove what we created, never a name someone else holds.
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        let _ = dir.unlink(&sname);
                    }
                    undelivered.push(fail(e.to_string()));
                }
            }
        }
        // Each copy is durable before its name appears.
        let items: Vec<Durable> = staged
            .iter()
            .map(|(_, _, _, f, p, _)| Durable::File(f, p))
            .collect();
        if let Err(e) = fsio::fsync_group(&items) {
            for (di, o, sname, _, _, _) in &staged {
                let _ = dirs[*di].1.unlink(sname);
                undelivered.push(format!(
                    "{}: {e}",
                    state_dir.join(&o.dir).join(&o.name).display()
                ));
            }
            continue;
        }
        drop(items);
        for (di, _, _, _, _, _) in &staged {
            dirs[*di].2 = true;
        }
        for (di, o, sname, _, _, replace) in &staged {
            let dir = &dirs[*di].1;
            let res = if *replace {
                dir.rename(sname, &o.name)
            } else {
                dir.link(sname, &o.name).and_then(|()| dir.unlink(sname))
            };
            if let Err(e) = res {
                let _ = dir.unlink(sname);
                let why = if e.kind() == io::ErrorKind::AlreadyExists {
                    "exists (created meanwhile); not replaced".to_string()
                } else {
                    e.to_string()
                };
                undelivered.push(format!(
                    "{}: {why}",
                    state_dir.join(&o.dir).join(&o.name).display()
                ));
            }
        }
    }
    let synced: Vec<Durable> = dirs
        .iter()
        .filter(|(_, _, touched)| *touched)
        .map(|(_, d, _)| Durable::Dir(d))
        .collect();
    if let Err(e) = fsio::fsync_group(&synced) {
        undelivered.push(format!("output directories: {e}"));
    }
    undelivered
}
