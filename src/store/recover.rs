//! Recovery of an interrupted commit (SPEC.md COMMIT-*, docs/design.md), run by
//! [`Session::open`](super::Session::open) under the exclusive lock before anything is read:
//! a journal whose commit point completed is rolled forward (through commit.rs's [`apply`] in
//! [`Mode::Recover`]), one whose commit point did not is rolled back, and stray staged files
//! are removed. Also the checks recovery makes before it publishes an output: a journal found
//! on disk may have been planted, so recovery publishes only certificates and CRLs signed by
//! the key of ca.crt, whose serials index.log records.
//!
//! What it may touch: only what the journal names (its staged files, their targets, the
//! journal itself, the output and pair directories it lists; a pair staging directory only
//! when provably fileca's, see cleanup.rs) and the stray staged files at the top of the state
//! directory (`.stage.N`, a format 1 `.journal.stage`); every mutation through fsio.rs. It
//! never writes an output over an existing file unless it is the very file a `--force`
//! command recorded replacing.
//!
//! Its checks say what they refuse as a [`RecoverError`]; [`recover`] wraps it, with the
//! journal and the operation, into [`Error::Recovery`], and an output it refuses becomes an
//! undelivered output's message.

use std::io;
use std::path::{Path, PathBuf};

use super::commit::apply;
use super::fsio::{self, Dir, Durable};
use super::journal::{self, Journal, JournalV1, Parsed};
use super::output::Mode;
use super::{CERTS, INDEX_LOG, JOURNAL, cleanup, leftovers, read_plain};
use crate::error::{Error, Result};
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
    fn load(dir: &Path) -> std::result::Result<Known, RecoverError> {
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

/// Does the file at `path` (not followed if a symlink) hold content with this hash?
pub(super) fn holds_path(path: &Path, sha256: &str) -> bool {
    read_plain(path).is_ok_and(|b| hex::sha256(&b) == sha256)
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
/// recorded content (or was already renamed onto a target that does); no if some does not and
/// nothing was applied yet (the journal was durable before some staged file was: roll back);
/// anything else is inconsistent and needs a human.
fn committed(dir: &Path, j: &Journal) -> std::result::Result<bool, RecoverError> {
    let mut complete = true;
    let mut applied = false;
    for r in &j.renames {
        let staged = dir.join(&r.staged);
        match read_plain(&staged) {
            Ok(b) if hex::sha256(&b) == r.sha256 => {}
            Ok(_) => complete = false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if holds_path(&dir.join(&r.target), &r.sha256) {
                    applied = true;
                } else {
                    complete = false;
                }
            }
            Err(e) => return Err(RecoverError::read(&staged, &e)),
        }
    }
    for a in &j.appends {
        let len = std::fs::symlink_metadata(dir.join(&a.target)).map_or(0, |m| m.len());
        applied |= len > a.offset;
        if let Some(name) = &a.staged
            && !holds_path(&dir.join(name), &a.sha256)
            && len < a.offset + a.len
        {
            complete = false;
        }
    }
    match (complete, applied) {
        (true, _) => Ok(true),
        (false, false) => Ok(false),
        (false, true) => Err(RecoverError::PartlyApplied),
    }
}

/// Rolls a complete journal forward, or removes stray staged files when there is none.
/// Runs under the exclusive lock. Returns warnings about outputs of the interrupted command
/// that could not be delivered.
pub(super) fn recover(dir: &Path) -> Result<Vec<String>> {
    let jpath = dir.join(JOURNAL);
    let recovery_err = |msg: String| Error::Recovery {
        dir: dir.to_path_buf(),
        msg,
    };
    let state = Dir::open(dir).map_err(|e| Error::io(dir, e))?;
    let mut warnings = Vec::new();
    match read_plain(&jpath) {
        Ok(bytes) => {
            let parsed = Journal::parse(&bytes).map_err(|m| {
                recovery_err(format!(
                    "{}: {m}; inspect it by hand (ca check shows the details)",
                    jpath.display()
                ))
            })?;
            let journal = match parsed {
                Parsed::V2(j) => Some(j),
                Parsed::V1(j) => Some(from_v1(dir, j).map_err(|m| {
                    recovery_err(format!(
                        "completing the interrupted commit (journal {}): {m}; mutations are \
                         refused until this is resolved",
                        jpath.display()
                    ))
                })?),
                Parsed::Torn => None,
            };
            let forward = match &journal {
                Some(j) => committed(dir, j).map_err(|m| {
                    recovery_err(format!(
                        "the interrupted {} (journal {}): {m}; mutations are refused until \
                         this is resolved",
                        j.operation,
                        jpath.display()
                    ))
                })?,
                None => false,
            };
            match journal {
                Some(journal) if forward => {
                    // The killed command may not have finished its commit point: make the
                    // journal and its name durable before acting on it, or a power loss
                    // during this recovery could leave applied changes and a torn journal.
                    // certs/ first: a certificate the killed command already moved there from
                    // the top must not lose both names (its removal from the top becomes
                    // durable with the state directory).
                    let f = super::open_read_nofollow(&jpath)
                        .map_err(|e| recovery_err(format!("{}: {e}", jpath.display())))?;
                    let certs = Dir::open(&dir.join(CERTS))
                        .map_err(|e| recovery_err(format!("{}: {e}", dir.join(CERTS).display())))?;
                    fsio::fsync_group(&[Durable::File(&f, &jpath), Durable::Dir(&certs)])
                        .and_then(|()| state.fsync())
                        .map_err(|e| recovery_err(format!("{}: {e}", jpath.display())))?;
                    let (undelivered, leftover) = apply(dir, &state, &journal, Mode::Recover)
                        .map_err(|m| {
                            recovery_err(format!(
                                "completing the interrupted {} (journal {}): {m}; mutations \
                                 are refused until this is resolved",
                                journal.operation,
                                jpath.display()
                            ))
                        })?;
                    if let Some(m) = leftover {
                        return Err(recovery_err(format!(
                            "the interrupted {} is complete, but removing its journal failed: {m}",
                            journal.operation
                        )));
                    }
                    for u in undelivered {
                        warnings.push(format!(
                            "an interrupted {} was completed, but an output was not \
                             delivered: {u}",
                            journal.operation
                        ));
                    }
                }
                journal => {
                    // Its commit point was never completed: nothing was applied. Roll back:
                    // the staged key of `ca issue` (provably ours), then the journal; the
                    // staged files go with the strays below.
                    for p in journal.iter().flat_map(|j| &j.pairs) {
                        if let Ok(parent) = Dir::open(&dir.join(&p.dir)) {
                            match cleanup::remove_staging(&parent, &p.staged) {
                                Ok(()) => {
                                    let _ = parent.fsync();
                                }
                                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                                Err(e) => warnings.push(format!(
                                    "left {} alone: {e}",
                                    parent.join(&p.staged).display()
                                )),
                            }
                        }
                    }
                    state
                        .unlink(JOURNAL)
                        .map_err(|e| recovery_err(format!("removing {}: {e}", jpath.display())))?;
                    state
                        .fsync()
                        .map_err(|e| recovery_err(format!("{}: {e}", dir.display())))?;
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(recovery_err(format!("{}: {e}", jpath.display()))),
    }
    // No journal (any more): whatever is staged belongs to a command that never reached its
    // commit point, or to a format 1 journal just completed, so it is removed.
    let stray = leftovers(dir)?;
    if !stray.is_empty() {
        for name in &stray {
            state.unlink(name).map_err(|e| {
                recovery_err(format!("removing stray {}: {e}", dir.join(name).display()))
            })?;
        }
        state
            .fsync()
            .map_err(|e| recovery_err(format!("{}: {e}", dir.display())))?;
    }
    Ok(warnings)
}
