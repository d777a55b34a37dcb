//! The commit protocol v2 (SPEC.md COMMIT-*, docs/design.md): stage, journal, commit point,
//! apply, publish outputs. Recovery of an interrupted commit (roll forward or back) is in
//! recover.rs; [`apply`] serves both, [`Mode`] telling them apart.
//!
//! ```text
//! [issue only] stage the private key in OUT/.NAME.fileca-PID-RND/ (fsync key, dir, OUT)
//! write .stage.N for each file, and .journal (appends inline, checksum)  } failure: undo
//! fsync all of them and the state directory, concurrently = commit point  } failure: exit 9
//! rename each .stage.N onto its target, appends at their offsets;        \ failure or crash:
//!   fsync the appended files, certs/ and the state directory together    | the journal stays
//! publish outputs: stage, fsync, link (never replace), fsync their dirs  | and the next
//! complete and rename the pair directory, fsync OUT                      | command redoes it
//! unlink .journal                                                        /
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::fsio::{self, Dir, Durable};
use super::journal::{self, Journal, Pair, PairFile};
use super::output::{self, Mode};
use super::recover::{
    Failure, definitely_not_content, holds_append, holds_path, len_of, output_content,
    undelivered_output, undelivered_pair,
};
use super::{
    Access, CERTS, Committed, JOURNAL, MODE_PUBLIC, MODE_SECRET, Plan, Session, UNDELIVERED,
    cleanup, read_plain,
};
use crate::error::{Error, Result};
use crate::hex;

/// How many files are written before their fsyncs are issued together (bounds open files).
const CHUNK: usize = 256;

/// Appends up to this size travel inline in the journal; larger ones are staged as files.
const INLINE_APPEND_MAX: usize = 64 << 10;

/// [`INLINE_APPEND_MAX`], which debug builds let the tests lower
/// (`FILECA_INLINE_APPEND_MAX`), so a small command exercises staged appends.
fn inline_append_max() -> usize {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var("FILECA_INLINE_APPEND_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    INLINE_APPEND_MAX
}

impl Session {
    /// Commits a plan. Before the commit point any failure undoes everything (the state
    /// directory and every output directory are as before) and returns the error; a failed
    /// fsync at the commit point returns [`Error::Unknown`] (exit 9) and leaves the journal for
    /// the next command to settle; after it, failures are reported in [`Committed`] and the
    /// next command finishes the job.
    /// The appended bytes move into the journal (the plan keeps everything else).
    pub fn commit(&self, plan: &mut Plan) -> Result<Committed> {
        if self.access != Access::Write {
            return Err(Error::Internal("commit on a read session".into()));
        }
        let dir = &self.dir;
        for target in plan
            .writes
            .iter()
            .map(|w| &w.target)
            .chain(plan.appends.iter().map(|a| &a.target))
        {
            if !journal::is_state_target(target) {
                return Err(Error::Internal(format!("plan writes {target:?}")));
            }
        }
        for d in &plan.out_dirs {
            output::refuse_inside_state(dir, d)?;
        }
        for o in &plan.outputs {
            output::refuse_inside_state(dir, &output::parent_of(&o.path))?;
        }
        if let Some(p) = &plan.pair {
            output::refuse_inside_state(dir, &output::parent_of(&p.path))?;
        }
        for d in &plan.out_dirs {
            output::ensure_dir(d)?;
        }
        // Outputs are checked before anything is written, and named relative to the state
        // directory in the journal.
        let mut outputs = Vec::with_capacity(plan.outputs.len());
        for o in &plan.outputs {
            output::check(o)?;
            let replaces = if o.force {
                read_plain(&o.path).ok().map(|b| hex::sha256(&b))
            } else {
                None
            };
            outputs.push(journal::Output {
                dir: output::relative_to(dir, &output::parent_of(&o.path))?,
                name: file_name(&o.path),
                source: o.source.clone(),
                sha256: hex::sha256(&o.bytes),
                suffix: o.suffix.clone(),
                der: o.der,
                force: o.force,
                replaces,
            });
        }
        let mut rnd = [0u8; 8];
        crate::rand::fill(&mut rnd)?;
        let id = hex::lower(&rnd);
        let state = Dir::open(dir).map_err(|e| Error::io(dir, e))?;
        // The one thing staged outside the state directory before the commit point: the
        // private key of `ca issue`, in an owner-only directory it can prove it made.
        let mut pairs = Vec::new();
        let mut staged_pair = None;
        if let Some(p) = &plan.pair {
            let rel = output::relative_to(dir, &output::parent_of(&p.path))?;
            let (parent, staged) = output::stage_pair(dir, p)?;
            let mut files = vec![PairFile {
                name: p.key.0.clone(),
                mode: p.key.2,
                source: None,
                sha256: hex::sha256(&p.key.1),
                suffix: None,
                data: Vec::new(),
            }];
            files.extend(p.staged.iter().map(|(name, bytes, mode)| PairFile {
                name: name.clone(),
                mode: *mode,
                source: None,
                sha256: hex::sha256(bytes),
                suffix: None,
                data: Vec::new(),
            }));
            files.extend(p.files.iter().map(|f| PairFile {
                name: f.name.clone(),
                mode: f.mode,
                source: Some(f.source.clone()),
                sha256: hex::sha256(&f.bytes),
                suffix: f.suffix.clone(),
                data: Vec::new(),
            }));
            files.extend(p.carried.iter().map(|(name, bytes, mode)| PairFile {
                name: name.clone(),
                mode: *mode,
                source: None,
                sha256: hex::sha256(bytes),
                suffix: None,
                data: bytes.to_vec(),
            }));
            pairs.push(Pair {
                dir: rel,
                name: file_name(&p.path),
                staged: staged.clone(),
                serial: p.serial.clone(),
                files,
            });
            staged_pair = Some((parent, staged));
        }
        let mut undo = Undo {
            dir,
            state: &state,
            staged: Vec::new(),
            pair: staged_pair.as_ref(),
        };
        // Stage every whole-file write: each is durable before the commit point (fsynced in
        // groups, the last one with the journal), so a full disk fails here, cleanly.
        let mut renames = Vec::with_capacity(plan.writes.len());
        let mut pending: Vec<(File, PathBuf)> = Vec::new();
        // Stages one file as `.stage.N`, recording it for the undo as soon as it exists (and
        // not before: a name that could not be created is not ours to remove).
        let stage = |undo: &mut Undo, pending: &mut Vec<(File, PathBuf)>, bytes: &[u8], mode| {
            let name = format!(".stage.{}", undo.staged.len());
            let path = dir.join(&name);
            match state.write_new(&name, bytes, mode) {
                Ok(f) => {
                    pending.push((f, path));
                    undo.staged.push(name.clone());
                    Ok(name)
                }
                Err(e) => {
                    if state.stat_entry(&name).is_ok() {
                        undo.staged.push(name);
                    }
                    Err(Error::io(&path, e))
                }
            }
        };
        for w in &plan.writes {
            let name = match stage(&mut undo, &mut pending, &w.bytes, w.mode) {
                Ok(n) => n,
                Err(e) => return Err(undo.run(e)),
            };
            renames.push(journal::Rename {
                staged: name,
                target: w.target.clone(),
                sha256: hex::sha256(&w.bytes),
            });
            if pending.len() >= CHUNK
                && let Err(e) = flush_files(&mut pending)
            {
                return Err(undo.run(e));
            }
        }
        // Appends travel inline, one fsync of the journal covering them; a large one (a
        // batch's index.log lines) is staged like a file, which keeps the journal small.
        let mut appends = Vec::with_capacity(plan.appends.len());
        for a in plan.appends.iter_mut() {
            let sha256 = hex::sha256(&a.bytes);
            let len = a.bytes.len() as u64;
            if a.bytes.len() <= inline_append_max() {
                appends.push(journal::Append {
                    target: a.target.clone(),
                    offset: a.offset,
                    len,
                    data: std::mem::take(&mut a.bytes),
                    staged: None,
                    sha256,
                });
                continue;
            }
            let name = match stage(&mut undo, &mut pending, &a.bytes, MODE_PUBLIC) {
                Ok(n) => n,
                Err(e) => return Err(undo.run(e)),
            };
            appends.push(journal::Append {
                target: a.target.clone(),
                offset: a.offset,
                len,
                data: Vec::new(),
                staged: Some(name),
                sha256,
            });
        }
        let journal = Journal {
            format: journal::FORMAT,
            operation: plan.operation.to_string(),
            generation_before: plan.generation_before,
            generation_after: plan.generation_after,
            id,
            renames,
            appends,
            outputs,
            pairs,
        };
        // The journal, owner-only (it names the staged copy of the key for passwd and
        // renew-ca), written under its final name: its checksum line tells a complete one
        // from one cut short by a crash.
        let jpath = dir.join(JOURNAL);
        match state.write_new(JOURNAL, &journal.to_bytes(), MODE_SECRET) {
            Ok(f) => pending.push((f, jpath.clone())),
            Err(e) => {
                if state.stat_entry(JOURNAL).is_ok() {
                    undo.staged.push(JOURNAL.to_string());
                }
                return Err(undo.run(Error::io(&jpath, e)));
            }
        }
        // The commit point: the journal, the staged files and their names made durable in
        // one group of concurrent fsyncs. If any fails we can neither promise the change nor
        // take it back (Linux may report success on a later fsync of a page that failed to
        // write, and a failed directory fsync often aborts an ext4 journal), so the outcome
        // is left to the next command, which rolls forward what it finds complete and back
        // what it does not.
        let mut items: Vec<Durable> = pending.iter().map(|(f, p)| Durable::File(f, p)).collect();
        items.push(Durable::Dir(&state));
        if let Err(e) = fsio::fsync_group(&items) {
            return Err(Error::Unknown {
                msg: format!(
                    "{}: making the change durable failed ({e}); it may or may not have been \
                     committed. The next ca command settles it: run `ca status` (or `ca list`) \
                     to see whether it happened",
                    dir.display()
                ),
            });
        }
        drop(items);
        drop(pending);
        // Committed. From here on the change happens, now or in the next command's recovery.
        let unfinished = |msg: String| {
            format!(
                "the change is committed, but finishing it failed: {msg}. The journal {} \
                 remains; the next ca command completes it (ca check reports it until then)",
                dir.join(JOURNAL).display()
            )
        };
        match apply(dir, &state, &journal, Mode::Live) {
            Ok((undelivered, leftover)) => {
                // After the commit point, so that a failed command changes nothing: a
                // `.lock` made before it was owner-only, and what an earlier recovery did
                // not deliver (listed until this next change; a pair's while its key waits).
                let mut warning = leftover.map(unfinished);
                let chores = self
                    .fix_lock_mode()
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        prune_undelivered(dir, &state)
                            .map_err(|e| format!("{}: {e}", dir.join(UNDELIVERED).display()))
                    });
                if let Err(e) = chores {
                    warning.get_or_insert(format!("the change is committed; {e}"));
                }
                Ok(Committed {
                    warning,
                    undelivered,
                })
            }
            Err(msg) => Ok(Committed {
                warning: Some(unfinished(msg.to_string())),
                undelivered: if journal.outputs.is_empty() && journal.pairs.is_empty() {
                    Vec::new()
                } else {
                    vec!["the outputs are written when the journal is completed".into()]
                },
            }),
        }
    }
}

impl Session {
    /// Completes the delivery of a pair directory that an interrupted `ca issue` committed
    /// and recovery recorded as undelivered (RECOVER-UNDELIVERED), when the user runs the
    /// same `ca issue NAME` into the same directory again: the only later command that opens
    /// a destination a journal named. Returns the serial delivered, or None when no record
    /// names this pair. The record is checked as a journal is (it is a file of the state
    /// directory), and its certificate must be this CA's, recorded in index.log.
    pub fn deliver_pair(&self, name: &str, out_dir: &Path) -> Result<Option<String>> {
        if self.access != Access::Write {
            return Err(Error::Internal("deliver_pair on a read session".into()));
        }
        let dir = &self.dir;
        let path = dir.join(UNDELIVERED);
        let mut records = read_undelivered(dir).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidData => Error::Recovery {
                dir: dir.clone(),
                msg: format!("{}: {e}", path.display()),
            },
            _ => Error::io(&path, e),
        })?;
        let Ok(wanted) = std::fs::canonicalize(out_dir) else {
            return Ok(None);
        };
        let found = records.iter().enumerate().find_map(|(ri, r)| {
            r.pairs
                .iter()
                .position(|p| {
                    p.name == name
                        && std::fs::canonicalize(dir.join(&p.dir)).is_ok_and(|d| d == wanted)
                })
                .map(|pi| (ri, pi))
        });
        let Some((ri, pi)) = found else {
            return Ok(None);
        };
        let pair = records[ri].pairs[pi].clone();
        let state = Dir::open(dir).map_err(|e| Error::io(dir, e))?;
        // Its staging directory removed (by hand, after a revocation): nothing to deliver any
        // more; the record goes and the command issues anew.
        let staged = dir.join(&pair.dir).join(&pair.staged);
        match fsio::lstat(&staged) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let delivered = output::pair_delivered(dir, &pair);
                records[ri].pairs.remove(pi);
                refresh_messages(dir, &mut records[ri]);
                records.retain(|r| !r.pairs.is_empty() || !r.outputs.is_empty());
                write_undelivered(dir, &state, &records).map_err(|e| Error::io(&path, e))?;
                return Ok(delivered.then(|| pair.serial.clone()));
            }
            Err(e) => return Err(Error::io(&staged, e)),
        }
        let as_journal = Journal {
            format: journal::FORMAT,
            operation: records[ri].operation.clone(),
            generation_before: 0,
            generation_after: 0,
            id: records[ri].id.clone(),
            renames: Vec::new(),
            appends: Vec::new(),
            outputs: Vec::new(),
            pairs: vec![pair.clone()],
        };
        as_journal.check().map_err(|e| Error::Recovery {
            dir: dir.clone(),
            msg: format!("{}: {e}; not used", path.display()),
        })?;
        // A certificate revoked or expired since is not delivered (the user was told to
        // revoke it, or waited too long): its key is the user's to remove.
        if let Some(why) = not_deliverable(dir, &pair.serial)? {
            return Err(Error::Refused(crate::error::Refused::Undeliverable {
                serial: pair.serial.clone(),
                why,
                staged: dir.join(&pair.dir).join(&pair.staged),
            }));
        }
        let known = std::cell::OnceCell::new();
        let content = |source: &str, suffix: Option<&str>, sha: &str| {
            output_content(dir, (source, suffix, false), sha, Mode::Recover, &known)
                .map_err(|e| e.to_string())
        };
        output::publish_pair(dir, &pair, &content).map_err(|msg| Error::Undelivered {
            msg: format!(
                "certificate {} is issued, but its key pair could not be delivered: {msg}",
                pair.serial
            ),
        })?;
        records[ri].pairs.remove(pi);
        refresh_messages(dir, &mut records[ri]);
        records.retain(|r| !r.pairs.is_empty() || !r.outputs.is_empty());
        write_undelivered(dir, &state, &records).map_err(|e| Error::io(&path, e))?;
        Ok(Some(pair.serial))
    }
}

/// Why the certificate `serial` may no longer be delivered: revoked (index.log), or expired
/// (its file's notAfter). Reads index.log once: only `ca issue`'s re-run comes here.
fn not_deliverable(dir: &Path, serial: &str) -> Result<Option<String>> {
    let log = super::read_state_file(dir, super::INDEX_LOG)?;
    let revoked = format!("{{\"revoked\":\"{serial}\"");
    if log
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(revoked.as_bytes()))
    {
        return Ok(Some("it was revoked".into()));
    }
    let rel = crate::model::layout::cert_file(&serial);
    let pem = super::read_state_file(dir, &rel)?;
    let der = crate::pki::pem::decode_one(&pem, &["CERTIFICATE"], pem.len())
        .map_err(|e| Error::state(dir.join(&rel), e))?;
    let not_after = x509_parser::parse_x509_certificate(&der)
        .map(|(_, c)| c.validity().not_after.to_datetime())
        .map_err(|e| Error::state(dir.join(&rel), e.to_string()))?;
    if not_after < crate::clock::now()? {
        return Ok(Some(format!(
            "it expired at {}",
            crate::clock::fmt(not_after)
        )));
    }
    Ok(None)
}

/// What a failure before the commit point takes back: the staged files and the staged key.
struct Undo<'a> {
    dir: &'a Path,
    state: &'a Dir,
    staged: Vec<String>,
    pair: Option<&'a (Dir, String)>,
}

impl Undo<'_> {
    /// Removes everything staged; if removal itself fails, the error says exactly what is
    /// left (contract 5: never swallowed).
    fn run(&self, primary: Error) -> Error {
        let mut left = Vec::new();
        for n in self.staged.iter().rev() {
            match self.state.unlink(n) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => left.push(format!("{} ({e})", self.dir.join(n).display())),
            }
        }
        if let Some((parent, staged)) = self.pair {
            match cleanup::remove_staging(parent, staged) {
                Ok(()) => {
                    let _ = parent.fsync();
                }
                Err(e) => left.push(format!("{} ({e})", parent.join(staged).display())),
            }
        }
        if left.is_empty() {
            return primary;
        }
        Error::Recovery {
            dir: self.dir.to_path_buf(),
            msg: format!(
                "{primary}; nothing was committed, but cleanup failed and left: {}. The next ca \
                 command removes them (and the next `ca issue` a staged key); ca check lists \
                 them until then",
                left.join(", ")
            ),
        }
    }
}

/// Makes staged files durable together; on failure names the first.
fn flush_files(pending: &mut Vec<(File, PathBuf)>) -> Result<()> {
    let items: Vec<Durable> = pending.iter().map(|(f, p)| Durable::File(f, p)).collect();
    if let Err(e) = fsio::fsync_group(&items) {
        let path = pending.first().map(|(_, p)| p.clone()).unwrap_or_default();
        return Err(Error::io(path, e));
    }
    pending.clear();
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

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
    let err = |p: &Path, e: io::Error| Failure::Io(format!("{}: {e}", p.display()));
    let recover = mode == Mode::Recover;
    // A committed pair's staging directory loses its marker first: from now on only this
    // command may complete it, never the cleanup of abandoned ones (HOSTILE-CLEANUP). Only
    // the command itself: recovery touches nothing outside the state directory, and the
    // cleanup recognises a committed staging directory by the serial its marker names.
    if !recover {
        for p in &j.pairs {
            if let Ok(parent) = Dir::open(&dir.join(&p.dir))
                && let Ok(sub) = parent.open_sub(&p.staged)
                && sub.stat_entry(output::MARKER).is_ok()
            {
                sub.unlink(output::MARKER)
                    .map_err(|e| err(&sub.join(output::MARKER), e))?;
            }
        }
    }
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
        undelivered
    } else {
        // The state is durable: the outputs, written from it.
        let known = std::cell::OnceCell::new();
        let content = |source: &str, suffix: Option<&str>, sha: &str| {
            output_content(dir, (source, suffix, false), sha, mode, &known)
                .map_err(|e| e.to_string())
        };
        let mut undelivered = output::publish_outputs(dir, &j.id, &j.outputs, &|o| {
            output_content(
                dir,
                (&o.source, o.suffix.as_deref(), o.der),
                &o.sha256,
                mode,
                &known,
            )
            .map_err(|e| e.to_string())
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

/// One record of `.undelivered`: what an interrupted command committed and recovery did not
/// deliver (RECOVER-UNDELIVERED).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndeliveredRecord {
    pub operation: String,
    pub id: String,
    #[serde(default)]
    pub outputs: Vec<journal::Output>,
    #[serde(default)]
    pub pairs: Vec<Pair>,
    pub messages: Vec<String>,
}

/// The records of `.undelivered` (none when it is absent). A line that is not a record is an
/// error: `ca check` reports it.
pub fn read_undelivered(dir: &Path) -> io::Result<Vec<UndeliveredRecord>> {
    let path = dir.join(UNDELIVERED);
    match fsio::lstat(&path) {
        Ok(m) => {
            // Like a journal (RECOVER-OWNER): only the user's own 0600 file is used; a record
            // planted by someone else would steer `ca issue`'s re-run and what check prints.
            use std::os::unix::fs::MetadataExt;
            if !m.file_type().is_file() || m.uid() != fsio::uid() || m.mode() & 0o7777 != 0o600 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "is not a regular 0600 file of yours (uid {}, mode {:o}): not used; \
                         inspect it and remove it",
                        m.uid(),
                        m.mode() & 0o7777
                    ),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let text = match read_plain(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<UndeliveredRecord>(l)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        })
        .collect()
}

/// A record's messages, made anew from what it still holds.
fn refresh_messages(dir: &Path, r: &mut UndeliveredRecord) {
    r.messages = r
        .outputs
        .iter()
        .map(|o| undelivered_output(dir, o, &r.id))
        .chain(r.pairs.iter().map(|p| undelivered_pair(dir, p)))
        .collect();
}

/// Writes the records (removes the file when there are none), replacing it whole.
fn write_undelivered(dir: &Path, state: &Dir, records: &[UndeliveredRecord]) -> io::Result<()> {
    if records.is_empty() {
        return match state.unlink(UNDELIVERED) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let mut text = Vec::new();
    for r in records {
        text.extend_from_slice(&serde_json::to_vec(r).map_err(io::Error::other)?);
        text.push(b'\n');
    }
    let tmp = ".stage.undelivered";
    match state.unlink(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let f = state.write_new(tmp, &text, MODE_SECRET)?;
    let placed = fsio::fsync_group(&[Durable::File(&f, &dir.join(tmp))])
        .and_then(|()| state.rename(tmp, UNDELIVERED));
    if placed.is_err() {
        let _ = state.unlink(tmp);
    }
    placed
}

/// After a commit: drops the undelivered outputs an earlier recovery recorded, and the
/// undelivered pairs whose staging directory is gone (delivered, or removed by hand).
fn prune_undelivered(dir: &Path, state: &Dir) -> io::Result<()> {
    if state.stat_entry(UNDELIVERED).is_err() {
        return Ok(());
    }
    let records = read_undelivered(dir)?;
    let before = records.len();
    let kept: Vec<UndeliveredRecord> = records
        .into_iter()
        .filter_map(|mut r| {
            r.outputs.clear();
            r.pairs
                .retain(|p| fsio::lstat(&dir.join(&p.dir).join(&p.staged)).is_ok());
            refresh_messages(dir, &mut r);
            (!r.pairs.is_empty()).then_some(r)
        })
        .collect();
    if kept.is_empty() && before == 0 {
        return Ok(());
    }
    write_undelivered(dir, state, &kept)
}

/// Records what recovery did not deliver in `.undelivered` (RECOVER-UNDELIVERED): the
/// journal's outputs and pairs (a re-run of `ca issue` completes a pair from it) and the
/// messages, one JSON line each, appended to what an earlier recovery recorded. Owner-only:
/// a pair may carry NAME.p12.
fn record_undelivered(dir: &Path, state: &Dir, j: &Journal, messages: &[String]) -> io::Result<()> {
    let mut records = read_undelivered(dir).unwrap_or_default();
    records.retain(|r| r.id != j.id);
    records.push(UndeliveredRecord {
        operation: j.operation.clone(),
        id: j.id.clone(),
        outputs: j.outputs.clone(),
        pairs: j.pairs.clone(),
        messages: messages.to_vec(),
    });
    write_undelivered(dir, state, &records)
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
