//! One module per subcommand. Each mutating command has a pure `plan` function (the
//! validation phase: loaded state in, complete new file contents out) and a `run` function that
//! opens the session, calls `plan` and hands the result to the store's commit.

pub mod check;
pub mod crl;
pub mod init;
pub mod revoke;
pub mod sign;
pub mod status;

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::state::State;
use crate::store::output::StagedOutput;
use crate::store::{self, Access, Plan, Session};

/// What every command receives from the top level.
pub struct Context {
    pub dir: PathBuf,
    pub open: store::OpenOptions,
    /// The time of the command, read once.
    pub now: OffsetDateTime,
}

impl Context {
    pub fn new(
        dir: PathBuf,
        lock_timeout: u64,
        allow_network_fs: bool,
        now: OffsetDateTime,
    ) -> Self {
        Context {
            dir,
            open: store::OpenOptions {
                lock_timeout: Duration::from_secs(lock_timeout),
                allow_network_fs,
            },
            now,
        }
    }
}

/// The result of a validation phase: the plan, what to print once it is committed, an optional
/// copy for `--out`, and notes for stderr.
pub struct Planned {
    pub plan: Plan,
    pub stdout: String,
    pub out_file: Option<(PathBuf, bool)>,
    pub out_bytes: Vec<u8>,
    pub notes: Vec<String>,
}

/// Runs a mutating command: lock and recover, load, check the generation, validate, stage the
/// `--out` copy, commit, publish, and print only after the commit.
pub fn mutate(
    ctx: &Context,
    expect_generation: Option<u64>,
    validate: impl FnOnce(&State) -> Result<Planned>,
) -> Result<()> {
    let session = Session::open(&ctx.dir, Access::Write, &ctx.open)?;
    let state = State::load(&session)?;
    if let Some(expected) = expect_generation
        && expected != state.index.generation
    {
        return Err(Error::Conflict {
            expected,
            actual: state.index.generation,
        });
    }
    let planned = validate(&state)?;
    drop(state);
    let staged: Option<StagedOutput> = match &planned.out_file {
        Some((path, force)) => Some(store::output::stage(path, &planned.out_bytes, *force)?),
        None => None,
    };
    let committed = match session.commit(&planned.plan) {
        Ok(c) => c,
        Err(e) => {
            if let Some(s) = staged {
                s.discard();
            }
            return Err(e);
        }
    };
    for note in &planned.notes {
        eprintln!("note: {note}");
    }
    if let Some(w) = committed.warning {
        eprintln!("warning: {w}");
    }
    if let Some(s) = staged {
        s.publish().map_err(|e| Error::Io {
            path: ctx.dir.clone(),
            source: std::io::Error::other(format!(
                "the change is committed (generation {}), but writing the --out copy failed: {e}",
                planned.plan.generation_after
            )),
        })?;
    }
    if planned.out_file.is_none() {
        print!("{}", planned.stdout);
    }
    Ok(())
}
