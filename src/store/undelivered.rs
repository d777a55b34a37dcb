//! `.undelivered`: what an interrupted command committed and recovery did not deliver
//! (SPEC.md RECOVER-UNDELIVERED), kept for `ca check` to list and for a re-run of the same
//! `ca issue` to complete ([`Session::deliver_pair`]). Like a journal, the file is used only
//! when it is the user's own 0600 regular file, and it is replaced whole.

use std::io;
use std::path::{Path, PathBuf};

use super::journal::{self, Journal, Pair};
use super::output::{self, Mode};
use super::recover::output_content;
use super::{Access, MODE_SECRET, Session, UNDELIVERED, read_plain};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Durable};

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

impl Session {
    /// Completes the delivery of a pair directory that an interrupted `ca issue` committed
    /// and recovery recorded as undelivered (RECOVER-UNDELIVERED), when the user runs the
    /// same `ca issue NAME` into the same directory again: the only later command that opens
    /// a destination a journal named. Returns the serial delivered, or None when no record
    /// names this pair. The record is checked as a journal is (it is a file of the state
    /// directory), and its certificate must be this CA's, recorded in index.log.
    pub fn deliver_pair(&self, name: &str, out_dir: &Path) -> Result<Option<String>> {
        if self.access != Access::Write {
            return Err(Error::bug("deliver_pair on a read session"));
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

/// After a commit: drops the undelivered outputs an earlier recovery recorded, and the
/// undelivered pairs whose staging directory is gone (delivered, or removed by hand).
pub(super) fn prune_undelivered(dir: &Path, state: &Dir) -> io::Result<()> {
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
pub(super) fn record_undelivered(
    dir: &Path,
    state: &Dir,
    j: &Journal,
    messages: &[String],
) -> io::Result<()> {
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

/// What recovery says of an output it did not write (RECOVER-INSIDE): what was committed,
/// where it was to go, and the command that delivers it.
pub(super) fn undelivered_output(dir: &Path, o: &journal::Output, id: &str) -> String {
    let out_dir = shown_dir(dir, &o.dir);
    // A copy the killed command staged and did not link into place: named, never removed
    // by recovery (looking is not writing).
    let staged = out_dir.join(super::output::staged_name(&o.name, id));
    let leftover = match fsio::lstat(&staged) {
        Ok(_) => format!(" (it left a hidden copy, {}: remove it)", staged.display()),
        Err(_) => String::new(),
    };
    let dest = out_dir.join(&o.name);
    // The destination is the journal's word: if something is there now, say so before
    // anyone follows the advice below over it.
    let there = match fsio::lstat(&dest) {
        Ok(_) => format!(
            " ({} exists now: look at it before you replace it)",
            dest.display()
        ),
        Err(_) => String::new(),
    };
    let dest = dest.display();
    let serial = crate::model::layout::serial_of_cert_file(&o.source);
    let how = match (serial, o.der, o.suffix.is_some()) {
        (Some(s), true, _) => format!("ca show {s} --der > {dest}"),
        (Some(s), false, false) => format!("ca show {s} --pem > {dest}"),
        (Some(s), false, true) => format!(
            "(ca show {s} --pem; cat {} {}) > {dest}",
            dir.join(super::CERT).display(),
            dir.join(super::CHAIN).display()
        ),
        (None, true, _) => format!(
            "openssl crl -in {} -outform DER -out {dest}",
            dir.join(&o.source).display()
        ),
        (None, false, _) => format!("cp {} {dest}", dir.join(&o.source).display()),
    };
    let what = match serial {
        Some(s) => format!("certificate {s}"),
        None => o.source.clone(),
    };
    format!(
        "{what} was not written to {dest} (recovery writes nothing outside the state \
         directory); deliver it with: {how}{there}{leftover}"
    )
}

/// What recovery says of a pair directory it did not publish (RECOVER-INSIDE).
pub(super) fn undelivered_pair(dir: &Path, p: &journal::Pair) -> String {
    let out = shown_dir(dir, &p.dir);
    let staged = out.join(&p.staged);
    format!(
        "certificate {serial} is issued, but its key pair was not delivered to {dest} \
         (recovery writes nothing outside the state directory). Its private key is in {staged} \
         (fileca never removes it); run the same `ca issue {name}` again with the same output \
         directory to complete the delivery, or revoke it: ca revoke {serial}",
        serial = p.serial,
        dest = out.join(&p.name).display(),
        staged = staged.display(),
        name = p.name,
    )
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
    let not_after = crate::pki::pem::certificate(&der)
        .map(|c| c.validity().not_after.to_datetime())
        .map_err(|e| Error::state(dir.join(&rel), e))?;
    if not_after < crate::clock::now()? {
        return Ok(Some(format!(
            "it expired at {}",
            crate::clock::fmt(not_after)
        )));
    }
    Ok(None)
}

/// An output directory the journal names relative to the state directory, as a message
/// shows it: resolved when it exists (`/srv/out`, not `/srv/pki/../out`).
fn shown_dir(dir: &Path, rel: &str) -> PathBuf {
    let joined = dir.join(rel);
    std::fs::canonicalize(&joined).unwrap_or(joined)
}
