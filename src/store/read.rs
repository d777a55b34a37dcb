//! Reading the state directory's files as fileca trusts them: never through a symlink, only
//! regular files with one name, never more than a bound (SPEC.md HOSTILE-*). Every read of a
//! state file, a journal or a staged file goes through here.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{MAX_JOURNAL, MAX_STATE_FILE};
use crate::error::{Error, Result, StateError};
use crate::fsio;

/// Opens a file for reading without following a final symlink.
pub(crate) fn open_read_nofollow(path: &Path) -> io::Result<File> {
    fsio::open_read(path, true)
}

/// Reads a regular file without following symlinks, for journal and staged files.
pub(super) fn read_plain(path: &Path) -> io::Result<Vec<u8>> {
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

/// The policy in force in `session`'s directory (policy.toml read within
/// `policy::MAX_BYTES` and checked by `policy::in_force` against `recorded`, index.json's hash), and
/// its text: the file's, or `policy::DEFAULT_TOML`.
pub fn read_policy(
    session: &super::Session,
    recorded: Option<&str>,
) -> Result<(crate::policy::Policy, String)> {
    let bytes = session.read_optional_max(crate::policy::FILE, crate::policy::MAX_BYTES)?;
    let policy = crate::policy::in_force(session.dir(), bytes.as_deref(), recorded)?;
    let text = match bytes {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => crate::policy::DEFAULT_TOML.to_string(),
    };
    Ok((policy, text))
}
