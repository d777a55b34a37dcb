//! Applying a committed journal: what happens after the commit point, by the command that
//! committed ([`Mode::Live`]) and by the recovery of an interrupted one ([`Mode::Recover`]).
//! The staged files are renamed onto their targets and the appends made at their offsets,
//! all made durable together; then the command publishes its outputs (recovery only reports
//! them, RECOVER-INSIDE) and the journal is removed. Every step is idempotent: recovery may
//! itself be interrupted and run again.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::journal::{self, Journal};
use super::output::{self, Mode};
use super::recover::{
    Failure, definitely_not_content, holds_append, holds_path, len_of, output_content,
};
use super::undelivered::{record_undelivered, undelivered_output, undelivered_pair};
use super::{CERTS, JOURNAL, MODE_PUBLIC, UNDELIVERED, read_plain};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Durable};
use crate::hex;

/// How many staged files recovery opens before it flushes them together (bounds open files).
const CHUNK: usize = 256;

/// Applies a committed journal: the renames and appends, then (by the command itself, never
/// by recovery: RECOVER-INSIDE) the outputs, then removes the journal. Idempotent (recovery
/// may itself be interrupted and rerun). Returns the messages of outputs that were not
/// delivered; an error leaves the journal in place.
pub(super) fn apply(
    dir: &Path,
    state: &Dir,
    j: &Journal,
    mode: Mode,
) -> std::result::Result<(Vec<String>, Option<String>), Failure> {
    let recover = mode == Mode::Recover;
    // A committed pair's staging directory loses its marker first: from now on only this
    // command may complete it, never the cleanup of abandoned ones (HOSTILE-CLEANUP). Only
    // the command itself: recovery touches nothing outside the state directory, and the
    // cleanup recognises a committed staging directory by the serial its marker names.
    if !recover {
        unmark_pairs(dir, j)?;
    }
    let certs_touched = rename_staged(dir, j, recover)?;
    let pending = append_all(dir, j, recover)?;
    // The appended files, certs/'s new entries and the state directory's, flushed together
    // (the staged files' data was made durable before the commit point). A certificate
    // renamed from the top into certs/ is never lost between the two directories: rename(2)
    // is one transaction of the filesystem's journal (docs/design.md, medium assumptions).
    let certs = if certs_touched {
        Some(Dir::open(&dir.join(CERTS)).map_err(|e| err(&dir.join(CERTS), e))?)
    } else {
        None
    };
    let mut items: Vec<Durable> = pending.iter().map(|(f, p)| Durable::File(f, p)).collect();
    if let Some(c) = &certs {
        items.push(Durable::Dir(c));
    }
    items.push(Durable::Dir(state));
    fsio::fsync_group(&items).map_err(|e| err(dir, e))?;
    drop(items);
    drop(pending);
    // Staged appends are applied and durable: their copies go (a removal a power loss undoes
    // leaves a stray the next recovery removes).
    for name in j.appends.iter().filter_map(|a| a.staged.as_deref()) {
        match state.unlink(name) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(&dir.join(name), e)),
        }
    }
    let undelivered = if recover {
        report_undelivered(dir, state, j)?
    } else {
        publish(dir, j, mode)
    };
    // Everything the journal promised is durable (or reported as undelivered). Removing the
    // journal need not be durable at once: if a power loss brings it back, recovery finds
    // every file in place and changes nothing; the next commit point makes it durable.
    // Every output is settled by now: a journal that cannot be removed is reported by the
    // caller (the next command removes it), never as an undelivered output.
    let leftover = state
        .unlink(JOURNAL)
        .err()
        .map(|e| format!("{}: {e}", dir.join(JOURNAL).display()));
    Ok((undelivered, leftover))
}

/// Removes the marker of each committed pair's staging directory (the command itself only).
fn unmark_pairs(dir: &Path, j: &Journal) -> std::result::Result<(), Failure> {
    for p in &j.pairs {
        if let Ok(parent) = Dir::open(&dir.join(&p.dir))
            && let Ok(sub) = parent.open_sub(&p.staged)
            && sub.stat_entry(output::MARKER).is_ok()
        {
            sub.unlink(output::MARKER)
                .map_err(|e| err(&sub.join(output::MARKER), e))?;
        }
    }
    Ok(())
}

/// Renames each staged file onto its target; recovery first checks and flushes what it
/// finds (a staged file, or a target an interrupted command already renamed). Returns
/// whether a certificate file of certs/ was among the targets.
fn rename_staged(dir: &Path, j: &Journal, recover: bool) -> std::result::Result<bool, Failure> {
    let mut certs_touched = false;
    let mut to_rename = Vec::with_capacity(j.renames.len());
    // Recovery cannot trust that the interrupted command's fsyncs completed (it may have been
    // killed in the middle of them): it flushes every staged file (and every target already
    // in place) itself before any rename makes a name durable.
    let mut unflushed: Vec<(File, PathBuf)> = Vec::new();
    let flush = |unflushed: &mut Vec<(File, PathBuf)>| {
        flush_files(unflushed).map_err(|e| Failure::Io(e.to_string()))
    };
    for r in &j.renames {
        let staged = dir.join(&r.staged);
        let target = dir.join(&r.target);
        certs_touched |= crate::model::layout::serial_of_cert_file(&r.target).is_some();
        if recover {
            match read_plain(&staged) {
                Ok(bytes) if hex::sha256(&bytes) == r.sha256 => {
                    let f = super::open_read_nofollow(&staged).map_err(|e| err(&staged, e))?;
                    unflushed.push((f, staged.clone()));
                }
                Ok(_) => {
                    return Err(Failure::Content(format!(
                        "staged file {} does not hold the content the journal recorded for {}",
                        staged.display(),
                        r.target
                    )));
                }
                // Renamed already by the interrupted command?
                Err(e) if definitely_not_content(&e) => {
                    if holds_path(&target, &r.sha256).map_err(|e| err(&target, e))? {
                        let f = super::open_read_nofollow(&target).map_err(|e| err(&target, e))?;
                        unflushed.push((f, target));
                        if unflushed.len() >= CHUNK {
                            flush(&mut unflushed)?;
                        }
                        continue;
                    }
                    return Err(Failure::Content(format!(
                        "{} is missing and {} does not hold the journaled content",
                        staged.display(),
                        target.display()
                    )));
                }
                Err(e) => return Err(err(&staged, e)),
            }
            if unflushed.len() >= CHUNK {
                flush(&mut unflushed)?;
            }
        }
        to_rename.push((staged, target));
    }
    flush(&mut unflushed)?;
    for (staged, target) in to_rename {
        fsio::rename(&staged, &target).map_err(|e| {
            Failure::Io(format!(
                "renaming {} to {}: {e}",
                staged.display(),
                target.display()
            ))
        })?;
    }
    Ok(certs_touched)
}

/// Makes each append at its offset (recovery skips one already made, but still flushes it);
/// returns the appended files, for the caller to make durable.
fn append_all(
    dir: &Path,
    j: &Journal,
    recover: bool,
) -> std::result::Result<Vec<(File, PathBuf)>, Failure> {
    let mut pending: Vec<(File, PathBuf)> = Vec::new();
    for a in &j.appends {
        let target = dir.join(&a.target);
        if recover
            && holds_append(&target, a.offset, a.len, &a.sha256).map_err(|e| err(&target, e))?
        {
            // Appended by the interrupted command, but perhaps not yet durable.
            let f = super::open_read_nofollow(&target).map_err(|e| err(&target, e))?;
            pending.push((f, target));
            continue;
        }
        let data = append_data(dir, a)?;
        let len = len_of(&target).map_err(|e| err(&target, e))?;
        if len < a.offset {
            return Err(Failure::Content(format!(
                "{} is shorter ({len} bytes) than when the change was committed ({} bytes)",
                target.display(),
                a.offset
            )));
        }
        let f = fsio::append_at(&target, a.offset, &data, MODE_PUBLIC)
            .map_err(|e| Failure::Io(format!("appending to {}: {e}", target.display())))?;
        pending.push((f, target));
    }
    Ok(pending)
}

/// After recovery made the state durable: what the interrupted command did not deliver,
/// reported and recorded in `.undelivered`, never written (RECOVER-INSIDE).
fn report_undelivered(
    dir: &Path,
    state: &Dir,
    j: &Journal,
) -> std::result::Result<Vec<String>, Failure> {
    // The state is durable. Recovery writes nothing outside the state directory
    // (RECOVER-INSIDE): each output and pair is reported, and recorded for `ca check`
    // and for a re-run of the same `ca issue` (which may complete its pair).
    // Only what index.log records is reported and recorded: a serial it does not know
    // was not this CA's commit (a journal that is not fileca's).
    let known = super::recover::Known::load(dir).map_err(|e| match e {
        super::recover::RecoverError::Unreadable { .. } => Failure::Io(e.to_string()),
        e => Failure::Content(e.to_string()),
    })?;
    let recorded = |source: &str| {
        crate::model::layout::serial_of_cert_file(source).is_none_or(|s| known.records(s))
    };
    let mut kept = j.clone();
    kept.outputs.retain(|o| recorded(&o.source));
    kept.pairs.retain(|p| known.records(&p.serial));
    let foreign = (j.outputs.len() - kept.outputs.len()) + (j.pairs.len() - kept.pairs.len());
    // What the killed command delivered before it died is not reported (looking is not
    // writing): an output holding its recorded content — but a hidden copy it was linked
    // from, still there, is named for removal — and a pair directory holding its
    // certificate.
    let mut leftovers = Vec::new();
    kept.outputs.retain(|o| {
        let out_dir = dir.join(&o.dir);
        let delivered = holds_path(&out_dir.join(&o.name), &o.sha256).unwrap_or(false);
        let copy = out_dir.join(output::staged_name(&o.name, &j.id));
        if delivered && fsio::lstat(&copy).is_ok() {
            leftovers.push(format!(
                "{} was delivered, but the hidden copy {} it was linked from remains: remove it",
                out_dir.join(&o.name).display(),
                copy.display()
            ));
        }
        !delivered
    });
    kept.pairs.retain(|p| !output::pair_delivered(dir, p));
    let mut undelivered: Vec<String> = kept
        .outputs
        .iter()
        .map(|o| undelivered_output(dir, o, &j.id))
        .chain(kept.pairs.iter().map(|p| undelivered_pair(dir, p)))
        .chain(leftovers)
        .collect();
    let to_record = undelivered.clone();
    if foreign > 0 {
        undelivered.push(format!(
            "the journal also named {foreign} output(s) of certificates index.log does not \
             record: not this CA's, ignored"
        ));
    }
    if !to_record.is_empty()
        && let Err(e) = record_undelivered(dir, state, &kept, &to_record)
    {
        undelivered.push(format!(
            "recording this in {} failed ({e}); ca check will not list it",
            dir.join(UNDELIVERED).display()
        ));
    }
    Ok(undelivered)
}

/// After the command made the state durable: its outputs and pairs, written from it. Returns
/// the messages of those that were not delivered.
fn publish(dir: &Path, j: &Journal, mode: Mode) -> Vec<String> {
    // The state is durable: the outputs, written from it.
    let known = std::cell::OnceCell::new();
    let content = |source: &str, suffix: Option<&str>, sha: &str| {
        output_content(dir, (source, suffix, false), sha, mode, &known)
    };
    let mut undelivered = output::publish_outputs(dir, &j.id, &j.outputs, &|o| {
        output_content(
            dir,
            (&o.source, o.suffix.as_deref(), o.der),
            &o.sha256,
            mode,
            &known,
        )
    });
    for p in &j.pairs {
        if let Err(msg) = output::publish_pair(dir, p, &content) {
            undelivered.push(format!(
                "{msg}; certificate {} is issued but its key pair was not delivered (what \
                 remains of it is in {}): revoke it with `ca revoke {}` and issue another",
                p.serial,
                dir.join(&p.dir).join(&p.staged).display(),
                p.serial
            ));
        }
    }
    undelivered
}

/// An I/O failure on `p`, as apply reports it.
fn err(p: &Path, e: io::Error) -> Failure {
    Failure::Io(format!("{}: {e}", p.display()))
}

/// The bytes of an append: inline, or read back from its staged file (checked).
fn append_data<'a>(
    dir: &Path,
    a: &'a journal::Append,
) -> std::result::Result<std::borrow::Cow<'a, [u8]>, Failure> {
    let Some(name) = &a.staged else {
        return Ok(std::borrow::Cow::Borrowed(&a.data));
    };
    let path = dir.join(name);
    let bytes = match read_plain(&path) {
        Ok(b) => b,
        Err(e) if definitely_not_content(&e) => {
            return Err(Failure::Content(format!("{}: {e}", path.display())));
        }
        Err(e) => return Err(Failure::Io(format!("{}: {e}", path.display()))),
    };
    if bytes.len() as u64 != a.len || hex::sha256(&bytes) != a.sha256 {
        return Err(Failure::Content(format!(
            "{} does not hold the bytes the journal recorded for {}",
            path.display(),
            a.target
        )));
    }
    Ok(std::borrow::Cow::Owned(bytes))
}

/// Makes staged files durable together; on failure names the first.
pub(super) fn flush_files(pending: &mut Vec<(File, PathBuf)>) -> Result<()> {
    let items: Vec<Durable> = pending.iter().map(|(f, p)| Durable::File(f, p)).collect();
    if let Err(e) = fsio::fsync_group(&items) {
        let path = pending.first().map(|(_, p)| p.clone()).unwrap_or_default();
        return Err(Error::io(path, e));
    }
    pending.clear();
    Ok(())
}
