//! Recovery of an interrupted commit (SPEC.md COMMIT-*, RECOVER-*, docs/design.md), run by
//! [`Session::open`](super::Session::open) under the exclusive lock before anything is read:
//! a journal whose commit point completed is rolled forward (through commit.rs's [`apply`] in
//! [`Mode::Recover`]), one whose commit point did not is rolled back, and stray staged files
//! are removed.
//!
//! Its rules: a journal is acted on only if it is the running user's 0600 regular file
//! (RECOVER-OWNER); nothing is inferred from a failed read — an I/O error ends the command
//! with the journal kept (RECOVER-NO-GUESS); and nothing outside the state directory is
//! created, replaced or removed (RECOVER-INSIDE): outputs the killed command did not deliver
//! are reported and recorded in `.undelivered` (undelivered.rs).
//! It touches only the journal, the staged files it names, their targets and the stray
//! staged files at the top of the state directory (`.stage.N`, a format 1 `.journal.stage`);
//! every mutation through fsio.rs.
//!
//! The checks of [`output_content`] (a certificate of this CA whose serial index.log records,
//! or a CRL it signed) now serve `ca issue`'s re-run, which completes a recorded pair.
//! Its refusals are [`RecoverError`]s; [`recover`] wraps them, with the journal and the
//! operation, into [`Error::Recovery`] (exit 5) or, for an I/O error, [`Error::RecoveryIo`]
//! (exit 4).

use std::io;
use std::path::{Path, PathBuf};

use super::apply::apply;
use super::journal::{self, Journal, JournalV1, Parsed};
use super::output::Mode;
use super::{CERTS, INDEX_LOG, JOURNAL, leftovers, read_plain};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Durable};
use crate::hex;

/// What recovery refuses to act on: a staged file or an output source that does not hold what
/// the journal recorded, or an output that is not a certificate or CRL of this CA. I/O errors
/// are kept as their text (with the path): `io::Error` is neither `Clone` nor `Eq`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    /// Reading a staged file or an output's source failed.
    #[error("{}: {err}", .path.display())]
    Read { path: PathBuf, err: String },
    /// Reading ca.crt or index.log, to check outputs against them, failed (the message names
    /// no file).
    #[error("{err}")]
    Unreadable { file: &'static str, err: String },
    #[error("ca.crt is not PEM; no output published")]
    CaNotPem,
    /// An output's source (a state file) does not hash to what the journal recorded.
    #[error("{0} does not hold the content the journal recorded")]
    SourceChanged(String),
    #[error("{0} is not a certificate or CRL in PEM form; not published")]
    NotPem(String),
    #[error(
        "{0} is not signed by the key of ca.crt (or is not what its name says); \
         not published"
    )]
    NotSigned(String),
    #[error("serial {0} is not recorded in index.log; not published")]
    NotIssued(String),
    /// A format 1 journal's staged append is gone, and its target does not hold the bytes.
    #[error("{} is missing and {target} does not hold the journaled bytes", .staged.display())]
    StagedMissing { staged: PathBuf, target: String },
    /// A format 1 journal's staged append does not hash to what the journal recorded.
    #[error("{} does not hold the bytes the journal recorded for {target}", .staged.display())]
    StagedChanged { staged: PathBuf, target: String },
    /// Some staged files were renamed onto their targets, but another does not hold its
    /// content: neither rolling forward nor back is safe.
    #[error(
        "it was partly applied, but a staged file does not hold the \
         content the journal recorded"
    )]
    PartlyApplied,
}

impl RecoverError {
    fn read(path: &Path, err: &io::Error) -> Self {
        RecoverError::Read {
            path: path.to_path_buf(),
            err: err.to_string(),
        }
    }
}

/// The committed content an output is written from: the journal's own copy of a state file,
/// or the state file itself; its hash must be the one recorded. In recovery (a journal found
/// on disk) it must moreover be a certificate or CRL in PEM form, and a certificate's serial
/// must be recorded in index.log: someone who can write the state directory cannot use
/// recovery to write arbitrary bytes elsewhere.
pub(super) fn output_content(
    dir: &Path,
    (source, suffix, der): (&str, Option<&str>, bool),
    sha: &str,
    mode: Mode,
    known: &std::cell::OnceCell<std::result::Result<Known, RecoverError>>,
) -> std::result::Result<Vec<u8>, RecoverError> {
    let bytes =
        read_plain(&dir.join(source)).map_err(|e| RecoverError::read(&dir.join(source), &e))?;
    let mut full = match der {
        // The one PEM block as DER: what crl --der publishes.
        true => crate::pki::pem::decode_one(&bytes, &["X509 CRL", "CERTIFICATE"], bytes.len())
            .map_err(|_| RecoverError::SourceChanged(source.into()))?,
        false => bytes.clone(),
    };
    full.extend_from_slice(suffix.unwrap_or_default().as_bytes());
    if hex::sha256(&full) != sha {
        return Err(RecoverError::SourceChanged(source.into()));
    }
    if mode == Mode::Recover {
        let known = known
            .get_or_init(|| Known::load(dir))
            .as_ref()
            .map_err(Clone::clone)?;
        check_publishable(known, source, &bytes)?;
    }
    Ok(full)
}

/// What recovery checks an output against: the DER of ca.crt and the serials index.log
/// records as issued.
pub(super) struct Known {
    ca_der: Vec<u8>,
    issued: std::collections::HashSet<String>,
}

impl Known {
    /// Does index.log record this serial as issued?
    pub(super) fn records(&self, serial: &str) -> bool {
        self.issued.contains(serial)
    }

    pub(super) fn load(dir: &Path) -> std::result::Result<Known, RecoverError> {
        let unreadable = |file| {
            move |e: io::Error| RecoverError::Unreadable {
                file,
                err: e.to_string(),
            }
        };
        let ca_pem = read_plain(&dir.join(super::CERT)).map_err(unreadable(super::CERT))?;
        let ca_der = pem::parse(&ca_pem)
            .map_err(|_| RecoverError::CaNotPem)?
            .into_contents();
        let log = read_plain(&dir.join(INDEX_LOG)).map_err(unreadable(INDEX_LOG))?;
        let issued = log
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_prefix(b"{\"issued\":\""))
            .filter_map(|rest| rest.split(|&b| b == b'"').next())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        Ok(Known { ca_der, issued })
    }
}

fn check_publishable(
    known: &Known,
    source: &str,
    bytes: &[u8],
) -> std::result::Result<(), RecoverError> {
    let refuse = || RecoverError::NotPem(source.into());
    let blocks = pem::parse_many(bytes).map_err(|_| refuse())?;
    if blocks.is_empty()
        || blocks
            .iter()
            .any(|b| !matches!(b.tag(), "CERTIFICATE" | "X509 CRL"))
    {
        return Err(refuse());
    }
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    if pem::encode_many_config(&blocks, config).as_bytes() != bytes {
        return Err(refuse());
    }
    // Every block must be signed by the key of ca.crt: a certificate with the serial its
    // file is named for, or a CRL. ca.crt itself is copied only as what it is.
    let (_, ca) = x509_parser::parse_x509_certificate(&known.ca_der).map_err(|_| refuse())?;
    let spki = ca.public_key();
    let serial_of_file = crate::model::layout::serial_of_cert_file(source);
    for b in &blocks {
        let ok = match (b.tag(), source) {
            ("CERTIFICATE", super::CERT) => b.contents() == known.ca_der,
            ("CERTIFICATE", _) => {
                x509_parser::parse_x509_certificate(b.contents()).is_ok_and(|(_, c)| {
                    let hex = crate::hex::upper(c.raw_serial());
                    let hex = hex.trim_start_matches('0');
                    serial_of_file.is_some_and(|s| s.trim_start_matches('0') == hex)
                        && c.verify_signature(Some(spki)).is_ok()
                })
            }
            ("X509 CRL", super::CRL) => x509_parser::parse_x509_crl(b.contents())
                .is_ok_and(|(_, c)| c.verify_signature(spki).is_ok()),
            _ => false,
        };
        if !ok {
            return Err(RecoverError::NotSigned(source.into()));
        }
    }
    if let Some(serial) = serial_of_file
        && !known.issued.contains(serial)
    {
        return Err(RecoverError::NotIssued(serial.into()));
    }
    Ok(())
}

/// Does the file at `path` (not followed if a symlink) hold content with this hash? A name
/// that is absent, a symlink, not a regular file or over the size limit does not; any other
/// failure to read is an error, never a "no" (RECOVER-NO-GUESS).
pub(super) fn holds_path(path: &Path, sha256: &str) -> io::Result<bool> {
    match read_plain(path) {
        Ok(b) => Ok(hex::sha256(&b) == sha256),
        Err(e) if definitely_not_content(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Is this failure to read a file an observation (the name is absent, a symlink, not a
/// regular file, too large: it holds no recorded content) rather than an I/O error?
pub(super) fn definitely_not_content(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
        || (e.kind() == io::ErrorKind::Other && e.raw_os_error().is_none())
}

/// The length of a state file, 0 when absent; an I/O error is an error.
pub(super) fn len_of(path: &Path) -> io::Result<u64> {
    match fsio::lstat(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Does `path` hold exactly the appended bytes at their offset, and end there?
pub(super) fn holds_append(path: &Path, offset: u64, len: u64, sha256: &str) -> io::Result<bool> {
    if len_of(path)? != offset + len {
        return Ok(false);
    }
    match read_range(path, offset, len) {
        Ok(Some(c)) => Ok(hex::sha256(&c) == sha256),
        Ok(None) => Ok(false),
        Err(e) if definitely_not_content(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `len` bytes of a file from `offset`, or None when the file is shorter.
pub(super) fn read_range(path: &Path, offset: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let file = super::open_read_nofollow(path)?;
    if file.metadata()?.len() < offset.saturating_add(len) {
        return Ok(None);
    }
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Some(buf))
}

/// Turns a format 1 journal (left by an older fileca) into format 2 by reading its staged
/// files, checking each against its recorded hash.
fn from_v1(dir: &Path, j: JournalV1) -> std::result::Result<Journal, RecoverError> {
    let mut appends = Vec::new();
    for a in &j.appends {
        let staged = dir.join(&a.staged);
        let data = match read_plain(&staged) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                read_range(&dir.join(&a.target), a.offset, a.len)
                    .ok()
                    .flatten()
                    .ok_or_else(|| RecoverError::StagedMissing {
                        staged: staged.clone(),
                        target: a.target.clone(),
                    })?
            }
            Err(e) => return Err(RecoverError::read(&staged, &e)),
        };
        if hex::sha256(&data) != a.sha256 {
            return Err(RecoverError::StagedChanged {
                staged,
                target: a.target.clone(),
            });
        }
        appends.push(journal::Append {
            target: a.target.clone(),
            offset: a.offset,
            len: data.len() as u64,
            sha256: a.sha256.clone(),
            data,
            staged: None,
        });
    }
    Ok(Journal {
        format: journal::FORMAT,
        operation: j.operation,
        generation_before: j.generation_before,
        generation_after: j.generation_after,
        id: "0".into(),
        renames: j.renames,
        appends,
        outputs: Vec::new(),
        pairs: Vec::new(),
    })
}

/// Did the interrupted command complete its commit point? Yes if every staged file holds its
/// recorded content (or was already renamed onto a target that does). If not, the commit
/// point was never completed (after it every staged file is durable, then renamed): roll
/// back — unless an append is already in place, which only happens after the commit point
/// (then a staged file was tampered with, and a human decides). A target holding a staged
/// file's bytes is no proof of a rename: it may have held them before (an install-ca swap
/// whose chain.pem is unchanged). Any failure to read is an error, never a guess
/// (RECOVER-NO-GUESS).
fn committed(dir: &Path, j: &Journal) -> std::result::Result<bool, RecoverError> {
    let mut complete = true;
    let mut appended = false;
    for r in &j.renames {
        let staged = dir.join(&r.staged);
        match read_plain(&staged) {
            Ok(b) if hex::sha256(&b) == r.sha256 => {}
            Ok(_) => complete = false,
            Err(e) if definitely_not_content(&e) => {
                let target = dir.join(&r.target);
                if !holds_path(&target, &r.sha256).map_err(|e| RecoverError::read(&target, &e))? {
                    complete = false;
                }
            }
            Err(e) => return Err(RecoverError::read(&staged, &e)),
        }
    }
    for a in &j.appends {
        let target = dir.join(&a.target);
        let applied = holds_append(&target, a.offset, a.len, &a.sha256)
            .map_err(|e| RecoverError::read(&target, &e))?;
        appended |= applied;
        if let Some(name) = &a.staged {
            let staged = dir.join(name);
            if !applied
                && !holds_path(&staged, &a.sha256).map_err(|e| RecoverError::read(&staged, &e))?
            {
                complete = false;
            }
        }
    }
    match (complete, appended) {
        (true, _) => Ok(true),
        (false, false) => Ok(false),
        (false, true) => Err(RecoverError::PartlyApplied),
    }
}

/// Why a `.journal` may not be acted on (RECOVER-OWNER): it must be a regular file owned by
/// the user running fileca, mode 0600 — what fileca writes. Anyone else's journal (a
/// directory writer's, planted) is never acted on, never removed.
fn journal_problem(m: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let kind = m.file_type();
    if !kind.is_file() {
        return Some(if kind.is_symlink() {
            "is a symbolic link".into()
        } else {
            "is not a regular file".into()
        });
    }
    if m.uid() != fsio::uid() {
        return Some(format!(
            "belongs to uid {}, not to you (uid {})",
            m.uid(),
            fsio::uid()
        ));
    }
    if m.mode() & 0o7777 != super::MODE_SECRET {
        return Some(format!(
            "has mode {:o}; fileca writes its journals 0600",
            m.mode() & 0o7777
        ));
    }
    None
}

/// Rolls a complete journal forward, or removes stray staged files when there is none.
/// Runs under the exclusive lock. Returns warnings about outputs of the interrupted command
/// that were not delivered: recovery writes nothing outside the state directory
/// (RECOVER-INSIDE); they are also recorded in `.undelivered` for `ca check`.
pub(super) fn recover(dir: &Path) -> Result<Vec<String>> {
    let jpath = dir.join(JOURNAL);
    let state = Dir::open(dir).map_err(|e| Error::io(dir, e))?;
    let warnings = match fsio::lstat(&jpath) {
        Ok(m) => settle_journal(dir, &state, &m)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(retry_err(
                dir,
                "command",
                format!("{}: {e}", jpath.display()),
            ));
        }
    };
    remove_strays(dir, &state)?;
    Ok(warnings)
}

/// A refusal of recovery: a human decides (exit 5).
fn recovery_err(dir: &Path, msg: String) -> Error {
    Error::Recovery {
        dir: dir.to_path_buf(),
        msg,
    }
}

/// An I/O failure of recovery: the next command retries (exit 4).
fn retry_err(dir: &Path, op: &str, msg: String) -> Error {
    Error::RecoveryIo {
        dir: dir.to_path_buf(),
        op: op.to_string(),
        msg,
    }
}

/// Acts on the journal whose metadata is `m`: checks that it is fileca's own, reads it, and
/// rolls it forward (its commit point completed) or back (it did not).
fn settle_journal(dir: &Path, state: &Dir, m: &std::fs::Metadata) -> Result<Vec<String>> {
    let jpath = dir.join(JOURNAL);
    let recovery_err = |msg: String| recovery_err(dir, msg);
    let retry_err = |op: &str, msg: String| retry_err(dir, op, msg);
    if let Some(why) = journal_problem(m) {
        return Err(recovery_err(format!(
            "{} {why}: fileca acts only on a journal it wrote (a regular file of yours, \
             mode 0600), so it did nothing and removed nothing. Inspect it (ls -l {0}; \
             cat {0}) and remove it if it is not yours",
            jpath.display()
        )));
    }
    let bytes = read_plain(&jpath).map_err(|e| {
        let msg = format!("{}: {e}", jpath.display());
        // Too large (HOSTILE-JOURNAL) is what it is; any other failure is retried.
        if definitely_not_content(&e) {
            recovery_err(format!(
                "{msg}; inspect it by hand (ca check shows the details)"
            ))
        } else {
            retry_err("command", msg)
        }
    })?;
    let parsed = Journal::parse(&bytes).map_err(|m| {
        recovery_err(format!(
            "{}: {m}; inspect it by hand (ca check shows the details)",
            jpath.display()
        ))
    })?;
    let as_recover_error = |op: &str, e: RecoverError| match e {
        RecoverError::Read { .. } | RecoverError::Unreadable { .. } => retry_err(op, e.to_string()),
        e => recovery_err(format!(
            "the interrupted {op} (journal {}): {e}; mutations are refused until this is \
             resolved",
            jpath.display()
        )),
    };
    let journal = match parsed {
        Parsed::V2(j) => Some(j),
        Parsed::V1(j) => {
            let op = j.operation.clone();
            Some(from_v1(dir, j).map_err(|e| as_recover_error(&op, e))?)
        }
        Parsed::Torn => None,
    };
    let forward = match &journal {
        Some(j) => committed(dir, j).map_err(|e| as_recover_error(&j.operation, e))?,
        None => false,
    };
    match journal {
        Some(journal) if forward => roll_forward(dir, state, &journal),
        journal => {
            // Its commit point was never completed: nothing was applied. Roll back: the
            // journal; the staged files go with the strays. Nothing outside the state
            // directory is touched (RECOVER-INSIDE): the staged key of an uncommitted
            // `ca issue` is removed by the next `ca issue` into its directory
            // (HOSTILE-CLEANUP).
            let op = journal.as_ref().map_or("command", |j| j.operation.as_str());
            state
                .unlink(JOURNAL)
                .map_err(|e| retry_err(op, format!("removing {}: {e}", jpath.display())))?;
            state
                .fsync()
                .map_err(|e| retry_err(op, format!("{}: {e}", dir.display())))?;
            Ok(Vec::new())
        }
    }
}

/// Completes a journal whose commit point completed; returns the warnings about what it did
/// not deliver.
fn roll_forward(dir: &Path, state: &Dir, journal: &Journal) -> Result<Vec<String>> {
    let jpath = dir.join(JOURNAL);
    let op = journal.operation.as_str();
    let recovery_err = |msg: String| recovery_err(dir, msg);
    let retry_err = |msg: String| retry_err(dir, op, msg);
    // The killed command may not have finished its commit point: make the journal and its
    // name durable before acting on it, or a power loss during this recovery could leave
    // applied changes and a torn journal. certs/ first: a certificate the killed command
    // already moved there from the top must not lose both names (its removal from the top
    // becomes durable with the state directory).
    let f = super::open_read_nofollow(&jpath)
        .map_err(|e| retry_err(format!("{}: {e}", jpath.display())))?;
    let certs = Dir::open(&dir.join(CERTS))
        .map_err(|e| retry_err(format!("{}: {e}", dir.join(CERTS).display())))?;
    fsio::fsync_group(&[Durable::File(&f, &jpath), Durable::Dir(&certs)])
        .and_then(|()| state.fsync())
        .map_err(|e| retry_err(format!("{}: {e}", jpath.display())))?;
    let (undelivered, leftover) =
        apply(dir, state, journal, Mode::Recover).map_err(|f| match f {
            Failure::Io(m) => retry_err(m),
            Failure::Content(m) => recovery_err(format!(
                "completing the interrupted {op} (journal {}): {m}; mutations are refused until \
             this is resolved",
                jpath.display()
            )),
        })?;
    if let Some(m) = leftover {
        return Err(recovery_err(format!(
            "the interrupted {op} is complete, but removing its journal failed: {m}"
        )));
    }
    Ok(undelivered
        .into_iter()
        .map(|u| format!("an interrupted {op} was completed, but an output was not delivered: {u}"))
        .collect())
}

/// No journal (any more): whatever is staged belongs to a command that never reached its
/// commit point, or to a format 1 journal just completed, so it is removed.
fn remove_strays(dir: &Path, state: &Dir) -> Result<()> {
    let stray = leftovers(dir)?;
    if stray.is_empty() {
        return Ok(());
    }
    for name in &stray {
        // fileca stages only regular files: anything else under such a name is not its
        // own, and retrying would never remove it (a human looks).
        match fsio::lstat(&dir.join(name)) {
            Ok(m) if !m.file_type().is_file() => {
                return Err(recovery_err(
                    dir,
                    format!(
                        "{} is not a regular file; fileca stages none such, so it did nothing \
                         and removed nothing: inspect it and remove it",
                        dir.join(name).display()
                    ),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(retry_err(
                    dir,
                    "command",
                    format!("{}: {e}", dir.join(name).display()),
                ));
            }
        }
        state.unlink(name).map_err(|e| {
            retry_err(
                dir,
                "command",
                format!("removing stray {}: {e}", dir.join(name).display()),
            )
        })?;
    }
    state
        .fsync()
        .map_err(|e| retry_err(dir, "command", format!("{}: {e}", dir.display())))
}

/// Why applying a committed journal stopped: an I/O error (the next command retries), or
/// content that is not what the journal recorded (a human decides).
#[derive(Debug)]
pub(super) enum Failure {
    Io(String),
    Content(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(m) | Failure::Content(m) => f.write_str(m),
        }
    }
}
