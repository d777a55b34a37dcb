//! One module per subcommand, and the driver every mutation goes through ([`mutate`]).
//!
//! A command's `run` turns its arguments into a typed request and reads its inputs and
//! secrets before the lock; its `plan(&Snapshot, …)` is the validation phase: the snapshot in,
//! a [`Planned`] out (a `store::Plan` holding every byte to write, what to print, notes),
//! built with `model::change`. Plans read the state only through the snapshot and write
//! nothing; [`mutate`] opens the session, loads the snapshot, checks the generation, calls the
//! plan and hands it to `Session::commit`, then reports through `render` (a `--dry-run` is
//! `render::plan`). Read-only commands (status, show, list, log, check, verify) open a shared
//! session and `query` it into a report whose type, text and JSON live in the `render`
//! module of the same name; they compose no output themselves. No command imports another.

pub mod acme_eab;
pub mod backup;
pub mod check;
pub mod crl;
pub mod export;
pub mod export_index;
pub mod import_openssl;
pub mod init;
pub mod init_parent;
pub mod init_token;
pub mod install_ca;
pub mod issue;
pub mod list;
pub mod log;
pub mod new_ca;
pub mod ocsp;
pub mod ocsp_responder;
pub mod passwd;
pub mod pending;
pub mod policy;
pub mod renew;
pub mod renew_ca;
pub mod revoke;
pub mod serve;
pub mod show;
pub mod sign;
pub mod signing;
pub mod status;
pub mod unhold;
pub mod upgrade;
pub mod verify;

pub use crate::model::change::{AuditInfo, finish_plan};

use std::path::PathBuf;
use std::time::Duration;

use crate::Env;
use crate::cli::MutationArgs;
use crate::error::{Error, Result};
use crate::fsio;
use crate::model::snapshot::Snapshot;
use crate::render;
use crate::store::output::OutputFile;
use crate::store::{self, Access, Plan, Session};
use crate::term;

/// What every command receives from the top level.
#[derive(Clone)]
pub struct Context {
    pub dir: PathBuf,
    pub open: store::OpenOptions,
    /// The time and the operator.
    pub env: crate::Env,
    /// `--quiet`: no notes on stderr.
    pub quiet: bool,
    /// Where the CA key's passphrase comes from, if it is encrypted.
    pub pass: crate::passphrase::Source,
}

impl Context {
    /// Reads the CA key's passphrase, if ca.key is encrypted, before the command takes the
    /// lock: a prompt or a slow FIFO never holds it (SPEC.md HOSTILE-INPUT). ca.key is peeked
    /// at without the lock; a concurrent change is caught after (the passphrase then fails to
    /// decrypt and nothing is changed).
    pub fn passphrase_ahead(&self) -> Result<()> {
        if let Ok(key) = store::read_state_file(&self.dir, store::KEY) {
            self.pass.read_ahead(
                &key,
                &format!("passphrase for {}", self.dir.join(store::KEY).display()),
            )?;
        }
        Ok(())
    }

    /// The time, read under the lock (a command that waited for a concurrent renew-ca must
    /// judge the new ca.crt by a time read after it), unless the command's time is fixed.
    pub fn now(&self) -> Result<time::OffsetDateTime> {
        match self.env.fixed_time {
            true => Ok(self.env.now),
            false => crate::clock::now(),
        }
    }

    pub fn new(
        dir: PathBuf,
        lock_timeout: u64,
        allow_network_fs: bool,
        allow_insecure_key: bool,
        env: crate::Env,
        quiet: bool,
    ) -> Self {
        Context {
            dir,
            open: store::OpenOptions {
                lock_timeout: Duration::from_secs(lock_timeout),
                allow_network_fs,
                allow_insecure_key,
                allow_insecure_dir: false,
                announce_wait: !quiet,
            },
            env,
            quiet,
            pass: crate::passphrase::Source::default(),
        }
    }
}

/// Where a command's printed result goes, judged before the lock and the CA key, so the
/// plan decides nothing by looking at the filesystem and a dry run refuses what the real
/// run would (DRY-RUN): stdout (`-` too); a stream — /dev/stdout, /dev/stderr, /dev/fd/N, a
/// device or a FIFO — opened now and written after the commit like stdout (SPEC.md
/// OUTPUT-STREAMS); or a file, journaled, that the commit's output rules accept now.
pub enum Out {
    Stdout,
    Stream(PathBuf, term::OutStream),
    File { path: PathBuf, force: bool },
}

impl Out {
    /// `--out PATH` (with `--force`), or stdout.
    pub fn open(out: Option<(PathBuf, bool)>) -> Result<Out> {
        let Some((path, force)) = out else {
            return Ok(Out::Stdout);
        };
        if path.as_os_str() == "-" {
            return Ok(Out::Stdout);
        }
        if let Some(stream) = term::open_stream(&path)? {
            return Ok(Out::Stream(path, stream));
        }
        store::output::precheck(&path, force)?;
        Ok(Out::File { path, force })
    }
}

/// The result of a validation phase: the plan (with its outputs), what to print once it is
/// committed, and notes for stderr.
pub struct Planned {
    pub plan: Plan,
    /// Printed on stdout after the commit (unless the plan has outputs).
    pub stdout: String,
    /// Printed instead of `stdout` when set: the same result in binary form (`crl --der`
    /// without `--out`: the DER of the committed ca.crl).
    pub binary: Option<Vec<u8>>,
    pub notes: Vec<term::Note>,
    /// `--out` naming a stream (a device, a FIFO, /dev/stdout…), opened before the commit:
    /// `stdout` goes there.
    pub stream: Option<(PathBuf, term::OutStream)>,
}

impl Planned {
    pub fn new(plan: Plan, stdout: String, notes: Vec<term::Note>) -> Planned {
        Planned {
            plan,
            stdout,
            binary: None,
            notes,
            stream: None,
        }
    }

    /// Sends the printed result where `--out` says ([`Out`], judged before the lock).
    pub fn with_out(mut self, out: Out) -> Result<Planned> {
        match out {
            Out::Stdout => {}
            Out::Stream(path, stream) => self.stream = Some((path, stream)),
            Out::File { path, force } => {
                let output = self.output(path, self.stdout.clone().into_bytes(), force)?;
                self.plan.outputs = vec![output];
            }
        }
        Ok(self)
    }

    /// An output file holding `bytes`, which must be the content of a file this plan writes
    /// (a certificate or the CRL), possibly followed by public text (`--fullchain`: the
    /// chain): outputs are published from committed content only.
    pub fn output(&self, path: PathBuf, bytes: Vec<u8>, force: bool) -> Result<OutputFile> {
        let (source, suffix) = self
            .plan
            .writes
            .iter()
            .filter(|w| !w.bytes.is_empty() && bytes.starts_with(&w.bytes))
            .max_by_key(|w| w.bytes.len())
            .map(|w| {
                let rest = &bytes[w.bytes.len()..];
                (
                    w.target.clone(),
                    (!rest.is_empty()).then(|| String::from_utf8_lossy(rest).into_owned()),
                )
            })
            .ok_or_else(|| Error::bug("an output that the plan does not write"))?;
        let serial = crate::model::layout::serial_of_cert_file(&source).map(str::to_string);
        Ok(OutputFile {
            path,
            source,
            bytes,
            serial,
            force,
            suffix,
            der: false,
        })
    }

    /// An output file holding the DER of the one PEM block a file of this plan holds (the
    /// CRL), for publication over HTTP (RFC 5280 4.2.1.13).
    pub fn output_der(&self, path: PathBuf, source: &str, force: bool) -> Result<OutputFile> {
        let pem = &self
            .plan
            .writes
            .iter()
            .find(|w| w.target == source)
            .ok_or_else(|| Error::bug("a DER output of a file the plan does not write"))?
            .bytes;
        let der = crate::pki::pem::decode_one(pem, &["X509 CRL", "CERTIFICATE"], pem.len())
            .map_err(|e| Error::bug_in("a DER output of a PEM file the plan writes", e))?;
        Ok(OutputFile {
            path,
            source: source.to_string(),
            bytes: der,
            serial: None,
            force,
            suffix: None,
            der: true,
        })
    }
}

/// Runs a mutating command: lock and recover, load, check the generation, validate, stage the
/// `--out` copy, commit, publish, and print only after the commit. With `--dry-run`, stops
/// after validation and describes the plan instead.
pub fn mutate(
    ctx: &Context,
    opts: &MutationArgs,
    reads: store::Reads,
    validate: impl FnOnce(&Snapshot, &Env) -> Result<Planned>,
) -> Result<()> {
    mutate_with(
        ctx,
        opts,
        |session| Ok((session.snapshot(reads, &ctx.pass)?, ())),
        |state, (), env| validate(state, env),
    )
}

/// [`mutate`] with a custom loader, whose extra result `T` goes to the validation phase.
pub fn mutate_with<T>(
    ctx: &Context,
    opts: &MutationArgs,
    load: impl FnOnce(&Session) -> Result<(Snapshot, T)>,
    validate: impl FnOnce(&Snapshot, T, &Env) -> Result<Planned>,
) -> Result<()> {
    let access = if opts.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    ctx.passphrase_ahead()?;
    let session = Session::open(&ctx.dir, access, &ctx.open)?;
    let (state, extra) = load(&session)?;
    expect_generation(opts, &state)?;
    // The time of the change is read under the lock, after the state: a command that waited
    // for a concurrent renew-ca must not judge the new ca.crt by a time read before it
    // existed ("not valid before").
    let env = Env {
        now: ctx.now()?,
        ..ctx.env.clone()
    };
    let mut planned = validate(&state, extra, &env)?;
    drop(state);
    // What is printed after the commit must have somewhere to go (OUTPUT-STREAMS): a
    // closed or read-only stdout, or `--out /dev/fd/N` read-only, is refused now — the
    // dry run too — not found after the commit.
    if planned.plan.outputs.is_empty() && !planned.stdout.is_empty() {
        match &planned.stream {
            Some((path, stream)) => {
                term::check_writable(stream, &format!("--out {}", path.display()))?
            }
            None => term::check_writable(&term::OutStream::Stdout, "stdout")?,
        }
    }
    if opts.dry_run {
        // The commit's own checks of the outputs, so a dry run refuses what the real run
        // would (DRY-RUN).
        for o in &planned.plan.outputs {
            store::output::check(o)?;
        }
        store::outputs_outside(&ctx.dir, &planned.plan)?;
        // The directory trust a real run requires of the directory it changes.
        let distrust = store::trust_problems(&ctx.dir);
        if !distrust.is_empty() && !ctx.open.allow_insecure_dir {
            return Err(Error::state(&ctx.dir, store::DirError::Untrusted(distrust)));
        }
        return render::plan::print(&planned.plan, &planned.notes);
    }
    let committed = session.commit(&mut planned.plan)?;
    drop(session);
    finish(ctx, &planned, committed)
}

/// `--expect-generation` (SPEC.md CAS): refused, exit 7, unless the state is of that
/// generation. A loader that reads more than the snapshot checks it first.
pub fn expect_generation(opts: &MutationArgs, state: &Snapshot) -> Result<()> {
    match opts.expect_generation {
        Some(expected) if expected != state.header.generation => Err(Error::Conflict {
            expected,
            actual: state.header.generation,
        }),
        _ => Ok(()),
    }
}

/// Reports a committed change: notes, then the result on stdout (unless it went to files).
/// Nothing here may panic or hide a failure: an output, stdout or stderr that fails is exit 8
/// with the serials and how to get them (SPEC.md EXIT-UNDELIVERED).
fn finish(ctx: &Context, planned: &Planned, committed: store::Committed) -> Result<()> {
    let plan = &planned.plan;
    fsio::reported();
    let mut failed = committed.undelivered;
    let mut stderr_ok = true;
    if !ctx.quiet {
        for note in &planned.notes {
            stderr_ok &= term::stderr_line(&format!("note: {}", note.committed())).is_ok();
        }
    }
    if let Some(w) = &committed.warning {
        stderr_ok &= term::stderr_line(&format!("warning: {w}")).is_ok();
    }
    if !stderr_ok {
        failed.push("stderr could not be written".into());
    }
    if plan.outputs.is_empty() {
        let bytes = match &planned.binary {
            Some(b) => b.as_slice(),
            None => planned.stdout.as_bytes(),
        };
        let written = match &planned.stream {
            Some((path, stream)) => term::to_stream(stream, bytes)
                .map_err(|e| format!("{}: {e}", term::escape(&path.display().to_string()))),
            None => term::stdout(bytes).map_err(|e| format!("stdout: {e}")),
        };
        if let Err(e) = written {
            failed.push(e);
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let serials: Vec<&str> = plan
        .writes
        .iter()
        .filter_map(|w| crate::model::layout::serial_of_cert_file(&w.target))
        .collect();
    let hint = match serials.as_slice() {
        [] if plan.writes.iter().any(|w| w.target == store::CRL) => {
            format!("the CRL is in {}", ctx.dir.join(store::CRL).display())
        }
        [] => "run `ca status` to see the state".into(),
        [one] => format!("certificate {one} is issued: get it with `ca show {one} --pem`"),
        many => format!(
            "{} certificates are issued ({} … {}): get each with `ca show SERIAL --pem`",
            many.len(),
            many[0],
            many[many.len() - 1]
        ),
    };
    Err(Error::Undelivered {
        msg: format!(
            "the change is committed (generation {}), but an output was not delivered: {}; {hint}",
            plan.generation_after,
            failed.join("; ")
        ),
    })
}

/// This CA as the rows of the sub-CAs it issued name it (`list`, `show`): its subject and
/// depth (0 for a root; chain.pem's length for a sub-CA, as `status` shows it).
pub fn this_ca(state: &Snapshot) -> render::list::ThisCa {
    render::list::ThisCa {
        subject: state.ca.cert.subject_shown.clone(),
        depth: state.chain.len(),
    }
}

/// Reports a new CA directory (init, import-openssl) once it is durable: a failing stderr is
/// exit 8, never a panic.
pub fn report_created(ctx: &Context, msg: &str) -> Result<()> {
    fsio::reported();
    if ctx.quiet || term::stderr_line(msg).is_ok() {
        return Ok(());
    }
    Err(Error::Undelivered {
        msg: format!(
            "the CA is created in {}, but stderr could not be written",
            term::escape(&ctx.dir.display().to_string())
        ),
    })
}

#[cfg(test)]
mod tests;
