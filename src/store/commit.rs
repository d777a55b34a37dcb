//! The commit protocol v2 (SPEC.md COMMIT-*, docs/design.md): stage, journal, commit point,
//! apply, publish outputs. Everything after the commit point is apply.rs, which recovery of an
//! interrupted commit (recover.rs: roll forward or back) shares, [`Mode`] telling them apart.
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

use super::apply::{apply, flush_files};
use super::journal::{self, Journal, Pair, PairFile};
use super::output::{self, Mode};
use super::undelivered::prune_undelivered;
use super::{
    Access, Committed, FileAppend, FileWrite, JOURNAL, MODE_PUBLIC, MODE_SECRET, Plan, Session,
    UNDELIVERED, cleanup, read_plain,
};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Durable};
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
            return Err(Error::bug("commit on a read session"));
        }
        let dir = &self.dir;
        check_targets(dir, plan)?;
        let outputs = journal_outputs(dir, plan)?;
        let mut rnd = [0u8; 8];
        crate::rand::fill(&mut rnd)?;
        let id = hex::lower(&rnd);
        let state = Dir::open(dir).map_err(|e| Error::io(dir, e))?;
        // The one thing staged outside the state directory before the commit point: the
        // private key of `ca issue`, in an owner-only directory it can prove it made.
        let (pairs, staged_pair) = match &plan.pair {
            Some(p) => {
                let (pair, staged) = stage_pair(dir, p)?;
                (vec![pair], Some(staged))
            }
            None => (Vec::new(), None),
        };
        let mut undo = Undo {
            dir,
            state: &state,
            staged: Vec::new(),
            pair: staged_pair.as_ref(),
        };
        let mut pending: Vec<(File, PathBuf)> = Vec::new();
        let renames = match undo.stage_writes(&mut pending, &plan.writes) {
            Ok(r) => r,
            Err(e) => return Err(undo.run(e)),
        };
        let appends = match undo.stage_appends(&mut pending, &mut plan.appends) {
            Ok(a) => a,
            Err(e) => return Err(undo.run(e)),
        };
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
        commit_point(dir, &state, &pending)?;
        drop(pending);
        // Committed. From here on the change happens, now or in the next command's recovery.
        Ok(self.finish(&state, &journal))
    }

    /// After the commit point: applies the journal (renames, appends, outputs) and does the
    /// chores a commit owes. Nothing here can take the change back: failures become the
    /// [`Committed`] warning, and the next command completes what is left.
    fn finish(&self, state: &Dir, journal: &Journal) -> Committed {
        let dir = &self.dir;
        let unfinished = |msg: String| {
            format!(
                "the change is committed, but finishing it failed: {msg}. The journal {} \
                 remains; the next ca command completes it (ca check reports it until then)",
                dir.join(JOURNAL).display()
            )
        };
        match apply(dir, state, journal, Mode::Live) {
            Ok((undelivered, leftover)) => {
                // After the commit point, so that a failed command changes nothing: a
                // `.lock` made before it was owner-only, and what an earlier recovery did
                // not deliver (listed until this next change; a pair's while its key waits).
                let mut warning = leftover.map(unfinished);
                let chores = self
                    .fix_lock_mode()
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        prune_undelivered(dir, state)
                            .map_err(|e| format!("{}: {e}", dir.join(UNDELIVERED).display()))
                    });
                if let Err(e) = chores {
                    warning.get_or_insert(format!("the change is committed; {e}"));
                }
                Committed {
                    warning,
                    undelivered,
                }
            }
            Err(msg) => Committed {
                warning: Some(unfinished(msg.to_string())),
                undelivered: if journal.outputs.is_empty() && journal.pairs.is_empty() {
                    Vec::new()
                } else {
                    vec!["the outputs are written when the journal is completed".into()]
                },
            },
        }
    }
}

/// Refuses a plan whose outputs (`--out`, `--out-dir`, the pair) would land inside the state
/// directory: what the commit checks, and a dry run too (DRY-RUN).
pub fn outputs_outside(dir: &Path, plan: &Plan) -> Result<()> {
    for d in &plan.out_dirs {
        output::refuse_inside_state(dir, d)?;
    }
    for o in &plan.outputs {
        output::refuse_inside_state(dir, &output::parent_of(&o.path))?;
    }
    if let Some(p) = &plan.pair {
        output::refuse_inside_state(dir, &output::parent_of(&p.path))?;
    }
    Ok(())
}

/// Refuses a plan that writes anything but a state file, or an output inside the state
/// directory; then creates the `--out-dir` directories (like `mkdir -p`), before anything is
/// staged.
fn check_targets(dir: &Path, plan: &Plan) -> Result<()> {
    for target in plan
        .writes
        .iter()
        .map(|w| &w.target)
        .chain(plan.appends.iter().map(|a| &a.target))
    {
        if !journal::is_state_target(target) {
            return Err(Error::bug("a plan writes a file that is not a state file"));
        }
    }
    outputs_outside(dir, plan)?;
    for d in &plan.out_dirs {
        output::ensure_dir(d)?;
    }
    Ok(())
}

/// The journal's record of each output: checked before anything is written, and named
/// relative to the state directory.
fn journal_outputs(dir: &Path, plan: &Plan) -> Result<Vec<journal::Output>> {
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
    Ok(outputs)
}

/// Stages `ca issue`'s private key (output.rs) and returns the journal's record of the pair
/// with the staging directory (its parent and name) for the undo.
fn stage_pair(dir: &Path, p: &output::PairPlan) -> Result<(Pair, (Dir, String))> {
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
    let pair = Pair {
        dir: rel,
        name: file_name(&p.path),
        staged: staged.clone(),
        serial: p.serial.clone(),
        files,
    };
    Ok((pair, (parent, staged)))
}

/// The commit point: the journal, the staged files and their names made durable in one group
/// of concurrent fsyncs. If any fails we can neither promise the change nor take it back
/// (Linux may report success on a later fsync of a page that failed to write, and a failed
/// directory fsync often aborts an ext4 journal), so the outcome is left to the next command,
/// which rolls forward what it finds complete and back what it does not.
fn commit_point(dir: &Path, state: &Dir, pending: &[(File, PathBuf)]) -> Result<()> {
    let mut items: Vec<Durable> = pending.iter().map(|(f, p)| Durable::File(f, p)).collect();
    items.push(Durable::Dir(state));
    fsio::fsync_group(&items).map_err(|e| Error::Unknown {
        msg: format!(
            "{}: making the change durable failed ({e}); it may or may not have been \
             committed. The next ca command settles it: run `ca status` (or `ca list`) \
             to see whether it happened",
            dir.display()
        ),
    })
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

impl Undo<'_> {
    /// Stages one file as `.stage.N`, recording it for the undo as soon as it exists (and
    /// not before: a name that could not be created is not ours to remove).
    fn stage(
        &mut self,
        pending: &mut Vec<(File, PathBuf)>,
        bytes: &[u8],
        mode: u32,
    ) -> Result<String> {
        let name = format!(".stage.{}", self.staged.len());
        let path = self.dir.join(&name);
        match self.state.write_new(&name, bytes, mode) {
            Ok(f) => {
                pending.push((f, path));
                self.staged.push(name.clone());
                Ok(name)
            }
            Err(e) => {
                if self.state.stat_entry(&name).is_ok() {
                    self.staged.push(name);
                }
                Err(Error::io(&path, e))
            }
        }
    }

    /// Stages every whole-file write: each is durable before the commit point (fsynced in
    /// groups, the last one with the journal), so a full disk fails here, cleanly.
    fn stage_writes(
        &mut self,
        pending: &mut Vec<(File, PathBuf)>,
        writes: &[FileWrite],
    ) -> Result<Vec<journal::Rename>> {
        let mut renames = Vec::with_capacity(writes.len());
        for w in writes {
            let name = self.stage(pending, &w.bytes, w.mode)?;
            renames.push(journal::Rename {
                staged: name,
                target: w.target.clone(),
                sha256: hex::sha256(&w.bytes),
            });
            if pending.len() >= CHUNK {
                flush_files(pending)?;
            }
        }
        Ok(renames)
    }

    /// Appends travel inline, one fsync of the journal covering them; a large one (a batch's
    /// index.log lines) is staged like a file, which keeps the journal small. The inline
    /// bytes move out of the plan into the journal.
    fn stage_appends(
        &mut self,
        pending: &mut Vec<(File, PathBuf)>,
        plan_appends: &mut [FileAppend],
    ) -> Result<Vec<journal::Append>> {
        let mut appends = Vec::with_capacity(plan_appends.len());
        for a in plan_appends.iter_mut() {
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
            let name = self.stage(pending, &a.bytes, MODE_PUBLIC)?;
            appends.push(journal::Append {
                target: a.target.clone(),
                offset: a.offset,
                len,
                data: Vec::new(),
                staged: Some(name),
                sha256,
            });
        }
        Ok(appends)
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
