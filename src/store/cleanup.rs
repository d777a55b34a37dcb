//! The safe cleanup of staging leftovers outside the state directory: the pair staging
//! directory of `ca issue` (which holds a private key), and the removal of staging
//! directories whose creator died (pairs here, `ca init`'s through create.rs).
//!
//! Cleanup follows one rule (SPEC.md HOSTILE-CLEANUP): fileca removes only what it can prove
//! it created — through a directory descriptor, never through a symlink (`O_NOFOLLOW`,
//! `unlinkat`), only directories owned by the user running it that hold its marker, and never
//! outside the directory it was pointed at. It may not touch anything else: no state file,
//! no published output, no directory a live process is still filling; it mutates only
//! through fsio.rs's [`Dir`].

use std::io;

use super::output::{MARKER, is_regular};
use crate::fsio::{self, Dir};

/// Removes a pair staging directory fileca made, and only that: opened without following a
/// symlink, owned by the user running fileca, holding the marker, and holding only plain
/// files (which are removed through the directory's descriptor).
pub(super) fn remove_staging(parent: &Dir, name: &str) -> io::Result<()> {
    let sub = parent.open_sub(name)?;
    let st = sub.stat()?;
    if st.st_uid != fsio::uid() {
        return Err(io::Error::other("not owned by the user running fileca"));
    }
    let names = sub.names()?;
    if names.is_empty() {
        // Made, then abandoned before its marker: removing an empty directory removes nothing.
        return parent.rmdir(name);
    }
    match sub.stat_entry(MARKER) {
        Ok(m) if is_regular(&m) => {}
        _ => return Err(io::Error::other("holds no fileca marker")),
    }
    for n in names {
        let n = n
            .into_string()
            .map_err(|_| io::Error::other("holds a file fileca did not make"))?;
        let m = sub.stat_entry(&n)?;
        if !is_regular(&m) {
            return Err(io::Error::other(format!(
                "holds {n:?}, which is not a plain file"
            )));
        }
        if n != MARKER {
            sub.unlink(&n)?;
        }
    }
    sub.unlink(MARKER)?;
    parent.rmdir(name)
}

/// Removes pair staging directories of `ca issue` processes that died before their commit
/// point (they hold a private key: they must not linger). A live creator's staging, anything
/// not provably fileca's, anything reached through a symlink, and a staging directory whose
/// certificate was committed (its marker names a state directory that records the serial or
/// holds a journal, or that cannot be read) are left alone.
pub(super) fn remove_abandoned_pairs(parent: &Dir) {
    // Every dead `ca issue`'s staging directory in this output directory, whatever the name
    // it was issuing: a key left by `issue a` is removed by the next `issue b` here too.
    let after_tag = |n: &str| -> Option<String> {
        let rest = &n[n.rfind(".fileca-")? + ".fileca-".len()..];
        let (pid, rnd) = rest.split_once('-')?;
        (n.starts_with('.')
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !rnd.is_empty()
            && rnd.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| rest.to_string())
    };
    remove_abandoned(parent, &after_tag, "ca issue", &|n| {
        if let Some(why) = committed_staging(parent, n) {
            return Err(io::Error::other(why));
        }
        remove_staging(parent, n)
    });
}

/// Why the staging directory `name` must be kept although its creator died: its marker
/// names a certificate that was committed (the only copy of its key is here), or whether it
/// was cannot be told. None when the marker proves it was not (or is an older fileca's,
/// which predates committed pairs keeping their marker).
fn committed_staging(parent: &Dir, name: &str) -> Option<String> {
    use std::io::Read;
    let sub = parent.open_sub(name).ok()?;
    let mut text = Vec::new();
    sub.open_read(MARKER)
        .ok()?
        .take(8192)
        .read_to_end(&mut text)
        .ok()?;
    let (state, serial) = super::output::marker_names(&text)?;
    let kept = |why: &str| {
        Some(format!(
            "it holds the private key of certificate {serial} of {}, {why}; finish it with \
             `ca issue` as the recovery said, or revoke the certificate and remove it",
            state.display()
        ))
    };
    // The journal first: once it is gone, a committed append is in index.log.
    match std::fs::symlink_metadata(state.join(super::JOURNAL)) {
        Ok(_) => return kept("whose commit may be pending"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) => return kept("whose state cannot be read"),
    }
    let Ok(log) = super::read_state_file(&state, super::INDEX_LOG) else {
        return kept("whose index cannot be read");
    };
    let needle = format!("{{\"issued\":\"{serial}\"");
    let found = log
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(needle.as_bytes()));
    if found {
        kept("which was issued")
    } else {
        None
    }
}

/// Removes the staging directories in `parent` (those `tagged` recognises, giving their
/// `PID-RANDOM` part) whose creator is dead,
/// each with `remove` (which proves it is fileca's, or refuses). While the creator lives its
/// work is in progress (its lock alone is not enough: there is a moment between creating the
/// directory and locking it). Another command may be removing the same leftovers: failing
/// here is not the caller's failure, only a warning.
pub(super) fn remove_abandoned(
    parent: &Dir,
    tagged: &dyn Fn(&str) -> Option<String>,
    what: &str,
    remove: &dyn Fn(&str) -> io::Result<()>,
) {
    let Ok(names) = parent.names() else {
        return;
    };
    for n in names {
        let Ok(n) = n.into_string() else { continue };
        // `tagged` gives what follows the staging tag: `PID-RANDOM`.
        let Some(rest) = tagged(&n) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_none_or(fsio::process_alive) {
            continue;
        }
        let shown = crate::term::escape(&parent.join(&n).display().to_string());
        match remove(&n) {
            Ok(()) => {
                crate::term::warn(&format!(
                    "note: removed {shown} left by an interrupted {what}"
                ));
                let _ = parent.fsync();
            }
            Err(e) => crate::term::warn(&format!("warning: left {shown} alone: {e}")),
        }
    }
}
