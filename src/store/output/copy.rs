//! Copies of a file fileca also keeps in a state directory (`ca init --csr-out`): written
//! outside any commit, staged next to their path and renamed into place, never replacing a
//! file unless told to; stdout and streams are written as they are.

use std::io;
use std::path::{Path, PathBuf};

use super::{
    OutputFile, OutputRefusal, check, cleanup, file_name, is_regular, parent_of, staged_name,
};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir};
use crate::hex;

/// Where [`write_copy`] writes (`--csr-out`), decided once by [`check_copy_target`] before
/// anything is done: stdout, a stream opened then (OUTPUT-STREAMS), or a new file.
#[derive(Debug)]
pub enum CopyTarget {
    Stdout,
    Stream(crate::term::OutStream),
    File(PathBuf),
}

impl CopyTarget {
    /// Is it a file (rather than stdout or a stream)?
    pub fn is_file(&self) -> bool {
        matches!(self, CopyTarget::File(_))
    }
}

/// Writes a copy of a file fileca also keeps in a state directory (`init --csr-out`'s
/// request): a file is staged next to its path, made durable, renamed into place (never
/// replacing a file unless `force`); stdout and streams are written as they are.
pub fn write_copy(target: &CopyTarget, bytes: &[u8], force: bool, mode: u32) -> Result<()> {
    let path = match target {
        CopyTarget::Stdout => return crate::term::stdout_bytes(bytes),
        CopyTarget::Stream(s) => {
            return crate::term::to_stream(s, bytes).map_err(|e| Error::io("the output", e));
        }
        CopyTarget::File(p) => p,
    };
    let name = file_name(path)?;
    let parent_path = parent_of(path);
    let parent = Dir::open(&parent_path).map_err(|e| Error::io(&parent_path, e))?;
    // Copies of this name that a killed command staged here (public content): removed once
    // their process is dead, if they are plain files of this user.
    remove_abandoned_copies(&parent, &name);
    let mut rnd = [0u8; 6];
    crate::rand::fill(&mut rnd)?;
    let staged = staged_name(
        &name,
        &format!("{}-{}", std::process::id(), hex::lower(&rnd)),
    );
    let file = match parent.write_new(&staged, bytes, mode) {
        Ok(f) => f,
        Err(e) => {
            // A random name nobody else uses: ours if it exists (a write that failed after
            // the create, a full disk).
            if e.kind() != io::ErrorKind::AlreadyExists {
                let _ = parent.unlink(&staged);
            }
            return Err(Error::io(path, e));
        }
    };
    let placed =
        fsio::fsync_group(&[fsio::Durable::File(&file, &parent.join(&staged))]).and_then(|()| {
            match force {
                true => parent.rename(&staged, &name),
                false => parent.rename_noreplace(&staged, &name),
            }
        });
    if let Err(e) = placed {
        let _ = parent.unlink(&staged);
        return Err(Error::io(path, e));
    }
    if let Err(e) = parent.fsync() {
        // Not durable, so not written: a new name is taken back (a failed command leaves
        // nothing); a replaced file cannot be, and the error says so.
        if !force {
            let _ = parent.unlink(&name);
        }
        return Err(Error::io(&parent_path, e));
    }
    Ok(())
}

/// Removes the staged copies `.NAME.fileca-PID-RANDOM` of `name` whose process is dead
/// (a kill, or a power loss, between staging and renaming): plain files of this user only.
fn remove_abandoned_copies(parent: &Dir, name: &str) {
    let prefix = staged_name(name, "");
    let tagged = |n: &str| -> Option<String> {
        let rest = n.strip_prefix(&prefix)?;
        let (pid, rnd) = rest.split_once('-')?;
        (!pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !rnd.is_empty()
            && rnd.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| rest.to_string())
    };
    cleanup::remove_abandoned(parent, &tagged, "copy of a request", &|n| {
        let st = parent.stat_entry(n)?;
        if !is_regular(&st) || st.st_uid != fsio::uid() {
            return Err(io::Error::other(
                "not a plain file of the user running fileca",
            ));
        }
        parent.unlink(n)
    });
}

/// Decides where [`write_copy`] will write, before anything is done (`--csr-out`): `-`,
/// and a stream opened now; a file must not exist (a copy never replaces one) and its
/// directory must.
pub fn check_copy_target(path: &Path, option: &'static str) -> Result<CopyTarget> {
    if path.as_os_str() == "-" {
        crate::term::check_writable(&crate::term::OutStream::Stdout, "stdout")?;
        return Ok(CopyTarget::Stdout);
    }
    if let Some(stream) = crate::term::open_stream(path)? {
        crate::term::check_writable(&stream, &format!("{option} {}", path.display()))?;
        return Ok(CopyTarget::Stream(stream));
    }
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(match option {
            "--csr-out" => crate::error::Refused::CsrOutExists(path.to_path_buf()),
            option => crate::error::Refused::ExportExists {
                path: path.to_path_buf(),
                option,
            },
        }
        .into());
    }
    check(&OutputFile {
        path: path.to_path_buf(),
        source: String::new(),
        bytes: Vec::new(),
        serial: None,
        force: false,
        suffix: None,
        der: false,
    })
    .map_err(|e| match e {
        Error::Output(OutputRefusal::NoParent { path, dir, .. }) => {
            OutputRefusal::NoParent { option, path, dir }.into()
        }
        e => e,
    })?;
    Ok(CopyTarget::File(path.to_path_buf()))
}
