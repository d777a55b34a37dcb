//! One module per subcommand. Each mutating command has a pure `plan` function (the
//! validation phase: loaded state in, complete new file contents out) and a `run` function that
//! opens the session, calls `plan` and hands the result to the store's commit.

pub mod check;
pub mod crl;
pub mod import_openssl;
pub mod init;
pub mod issue;
pub mod list;
pub mod log;
pub mod passwd;
pub mod renew;
pub mod renew_ca;
pub mod revoke;
pub mod show;
pub mod sign;
pub mod status;
pub mod upgrade;
pub mod verify;

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::audit;
use crate::cli::MutationArgs;
use crate::error::{Error, Result};
use crate::index::LogAppend;
use crate::state::State;
use crate::store::output::StagedOutput;
use crate::store::{self, AUDIT, Access, FileAppend, FileWrite, INDEX, INDEX_LOG, Plan, Session};

/// What every command receives from the top level.
pub struct Context {
    pub dir: PathBuf,
    pub open: store::OpenOptions,
    /// The time of the command, read once.
    pub now: OffsetDateTime,
    /// The operator, for the audit trail.
    pub user: String,
    /// `--quiet`: no notes on stderr.
    pub quiet: bool,
    /// Where the CA key's passphrase comes from, if it is encrypted.
    pub pass: crate::passphrase::Source,
}

impl Context {
    pub fn new(
        dir: PathBuf,
        lock_timeout: u64,
        allow_network_fs: bool,
        allow_insecure_key: bool,
        now: OffsetDateTime,
        user: String,
        quiet: bool,
    ) -> Self {
        Context {
            dir,
            open: store::OpenOptions {
                lock_timeout: Duration::from_secs(lock_timeout),
                allow_network_fs,
                allow_insecure_key,
            },
            now,
            user,
            quiet,
            pass: crate::passphrase::Source::default(),
        }
    }
}

/// What an operation records in the audit trail.
pub struct AuditInfo {
    pub operation: &'static str,
    pub serials: Vec<String>,
    pub csr_sha256: Option<String>,
}

/// Finishes a plan: moves the generation on, appends `log` to index.log, writes index.json
/// and `writes`, and appends the audit record in the same commit (SPEC.md AUDIT-ATOMIC).
pub fn finish_plan(
    state: &State,
    ctx: &Context,
    log: LogAppend,
    mut writes: Vec<FileWrite>,
    info: AuditInfo,
) -> Plan {
    let mut header = state.header.clone();
    let generation_before = header.generation;
    header.generation = generation_before + 1;
    let record = audit::Record {
        time: ctx.now,
        operation: info.operation.to_string(),
        serials: info.serials,
        csr_sha256: info.csr_sha256,
        user: ctx.user.clone(),
        generation: header.generation,
        prev: state.audit_prev.clone(),
    };
    let line = record.to_line();
    header.audit_head = audit::line_hash(&line[..line.len() - 1]);
    let mut appends = Vec::new();
    if !log.bytes.is_empty() {
        if log.max_serial > header.max_serial() {
            header.max_serial = log.max_serial.map(|s| s.to_string());
        }
        appends.push(FileAppend {
            target: INDEX_LOG.to_string(),
            offset: header.log_len,
            bytes: log.bytes,
        });
        header.log_len += appends[0].bytes.len() as u64;
    }
    appends.push(FileAppend {
        target: AUDIT.to_string(),
        offset: state.audit_len,
        bytes: line,
    });
    writes.push(FileWrite::public(INDEX, header.to_bytes()));
    Plan {
        operation: info.operation,
        generation_before,
        generation_after: header.generation,
        writes,
        appends,
    }
}

/// The result of a validation phase: the plan, what to print once it is committed, an optional
/// copy for `--out`, and notes for stderr.
pub struct Planned {
    pub plan: Plan,
    /// Printed on stdout after the commit (unless `--out` is given).
    pub stdout: String,
    /// Files to write outside the state directory after the commit (`--out`, `--out-dir`):
    /// path and content. When empty, `stdout` is printed instead.
    pub outputs: Vec<(PathBuf, Vec<u8>)>,
    /// `--force`: outputs may replace existing files.
    pub force: bool,
    /// A directory published whole after the commit (`ca issue`): its path and files
    /// (name, content, mode).
    pub pair: Option<(PathBuf, store::output::DirFiles)>,
    pub notes: Vec<String>,
}

impl Planned {
    pub fn new(plan: Plan, stdout: String, notes: Vec<String>) -> Planned {
        Planned {
            plan,
            stdout,
            outputs: Vec::new(),
            force: false,
            pair: None,
            notes,
        }
    }

    /// Sets the `--out` target.
    pub fn with_out(mut self, out: Option<(PathBuf, bool)>) -> Planned {
        if let Some((path, force)) = out {
            self.outputs = vec![(path, self.stdout.clone().into_bytes())];
            self.force = force;
        }
        self
    }
}

/// Runs a mutating command: lock and recover, load, check the generation, validate, stage the
/// `--out` copy, commit, publish, and print only after the commit. With `--dry-run`, stops
/// after validation and describes the plan instead.
pub fn mutate(
    ctx: &Context,
    opts: &MutationArgs,
    validate: impl FnOnce(&State) -> Result<Planned>,
) -> Result<()> {
    mutate_with(
        ctx,
        opts,
        |session| Ok((State::load(session, Some(&ctx.pass))?, ())),
        |state, ()| validate(state),
    )
}

/// [`mutate`] with a custom loader, whose extra result `T` goes to the validation phase.
pub fn mutate_with<T>(
    ctx: &Context,
    opts: &MutationArgs,
    load: impl FnOnce(&Session) -> Result<(State, T)>,
    validate: impl FnOnce(&State, T) -> Result<Planned>,
) -> Result<()> {
    let access = if opts.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let session = Session::open(&ctx.dir, access, &ctx.open)?;
    let (state, extra) = load(&session)?;
    if let Some(expected) = opts.expect_generation
        && expected != state.header.generation
    {
        return Err(Error::Conflict {
            expected,
            actual: state.header.generation,
        });
    }
    let planned = validate(&state, extra)?;
    drop(state);
    if opts.dry_run {
        print!("{}", describe(&planned));
        return Ok(());
    }
    let mut staged: Vec<StagedOutput> = Vec::new();
    for (path, bytes) in &planned.outputs {
        match store::output::stage(path, bytes, planned.force) {
            Ok(s) => staged.push(s),
            Err(e) => {
                staged.into_iter().for_each(StagedOutput::discard);
                return Err(e);
            }
        }
    }
    let pair = match &planned.pair {
        Some((path, files)) => match store::output::stage_dir(path, files) {
            Ok(p) => Some(p),
            Err(e) => {
                staged.into_iter().for_each(StagedOutput::discard);
                return Err(e);
            }
        },
        None => None,
    };
    let committed = match session.commit(&planned.plan) {
        Ok(c) => c,
        Err(e) => {
            staged.into_iter().for_each(StagedOutput::discard);
            if let Some(p) = pair {
                p.discard();
            }
            return Err(e);
        }
    };
    if !ctx.quiet {
        for note in &planned.notes {
            eprintln!("note: {note}");
        }
    }
    if let Some(w) = committed.warning {
        eprintln!("warning: {w}");
    }
    if let Some(p) = pair {
        p.publish().map_err(|e| Error::Io {
            path: ctx.dir.clone(),
            source: std::io::Error::other(format!(
                "the certificate is issued (generation {}), but publishing the key pair failed: {e}",
                planned.plan.generation_after
            )),
        })?;
    }
    if staged.is_empty() {
        print!("{}", planned.stdout);
    }
    for s in staged {
        s.publish().map_err(|e| Error::Io {
            path: ctx.dir.clone(),
            source: std::io::Error::other(format!(
                "the change is committed (generation {}), but writing an output file failed: {e}",
                planned.plan.generation_after
            )),
        })?;
    }
    Ok(())
}

/// The `--dry-run` report: what would be committed, without the signed objects themselves
/// (a dry run never hands out a certificate the index does not record).
fn describe(planned: &Planned) -> String {
    let plan = &planned.plan;
    let mut out = format!(
        "dry run: {} would move the CA from generation {} to {}; nothing was written\n",
        plan.operation, plan.generation_before, plan.generation_after
    );
    for w in &plan.writes {
        out.push_str(&format!(
            "  would write {} ({} bytes)\n",
            w.target,
            w.bytes.len()
        ));
    }
    for a in &plan.appends {
        out.push_str(&format!(
            "  would append {} bytes to {}\n",
            a.bytes.len(),
            a.target
        ));
    }
    for (path, _) in &planned.outputs {
        out.push_str(&format!("  would write {}\n", path.display()));
    }
    if let Some((path, files)) = &planned.pair {
        for (name, _, mode) in files {
            out.push_str(&format!(
                "  would write {} (mode {mode:o})\n",
                path.join(name).display()
            ));
        }
    }
    for n in &planned.notes {
        out.push_str(&format!(
            "  {}\n",
            n.replace("issued serial", "would issue serial")
        ));
    }
    out
}
