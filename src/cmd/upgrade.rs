//! `ca upgrade`: converts index.json to the current format 5 — from format 1 (fileca 0.1:
//! every certificate in one JSON file, rewritten by every command), whose certificates move to
//! the append-only index.log, from format 2 (no hash chain and no signed checkpoint), whose
//! index.log is hashed once to start its chain, or from format 3 (signed already; only the
//! format number changes, since a format-3 fileca cannot read a released hold), or from format
//! 4 (only the number changes: a format-4 fileca would not check acme.json). One ordinary
//! commit: journaled, audited, all or nothing, and signed with the CA key like every other
//! (SPEC.md `UPGRADE-*`).

use super::{AuditInfo, Context, Planned};
use crate::cli::UpgradeArgs;
use crate::error::{Error, Result};
use crate::model::header::Header;
use crate::model::legacy::{LegacyError, v1, v2};
use crate::model::log::{Entry, LogAppend};
use crate::model::snapshot::Snapshot;
use crate::store::{INDEX, INDEX_LOG, Session};

/// Runs `ca upgrade`.
pub fn run(args: &UpgradeArgs, ctx: &Context) -> Result<()> {
    // A directory already in the current format needs nothing: exit 0, so that
    // `ca upgrade && ca check` works on any directory (SPEC.md UPGRADE-CURRENT). Checked under
    // a shared lock, before a passphrase is asked for.
    {
        let session = Session::open(&ctx.dir, crate::store::Access::Read, &ctx.open)?;
        let bytes = session.read(INDEX)?;
        let format = crate::model::header::format_of(&bytes)
            .map_err(|m| Error::state(ctx.dir.join(INDEX), m))?;
        if format == crate::model::header::FORMAT {
            // --expect-generation still applies: a script that expected another state hears so.
            if let Some(expected) = args.mutation.expect_generation {
                let actual = crate::model::header::Header::parse(&bytes)
                    .map_err(|m| Error::state(ctx.dir.join(INDEX), m))?
                    .generation;
                if expected != actual {
                    return Err(Error::Conflict { expected, actual });
                }
            }
            let msg = format!(
                "note: {} is already format {format}; nothing to upgrade",
                crate::term::escape(&ctx.dir.join(INDEX).display().to_string())
            );
            if !ctx.quiet {
                crate::term::warn(&msg);
            }
            return Ok(());
        }
    }
    super::mutate_with(ctx, &args.mutation, |s| load(s, ctx), plan)
}

/// Reads the old index and the rest of the state, with the key: the upgrade signs the first
/// checkpoint. Returns the certificates to write to a new index.log (format 1 only).
fn load(session: &Session, ctx: &Context) -> Result<(Snapshot, Vec<Entry>)> {
    let dir = session.dir();
    let bytes = session.read(INDEX)?;
    let format =
        crate::model::header::format_of(&bytes).map_err(|m| Error::state(dir.join(INDEX), m))?;
    if format == crate::model::header::FORMAT {
        return Err(crate::error::Refused::AlreadyCurrent {
            index: dir.join(INDEX),
            format,
        }
        .into());
    }
    if format == 3 || format == 4 {
        // Signed already: the snapshot is verified as every mutation's is (the checkpoint
        // does not sign the format number), and the commit writes it back as the current
        // format. Format 4 differs from 5 only by what it cannot hold (acme.json, an audit
        // record naming an ACME account), so only the number changes (UPGRADE-FORMAT-4).
        let header = Header::parse_v3(&bytes).map_err(|m| Error::state(dir.join(INDEX), m))?;
        let raw = session.raw(crate::store::Reads::SIGN, header)?;
        let state = Snapshot::from_raw(raw, &ctx.pass, session.allow_insecure_key())?;
        // The log is not rewritten, but it is read once: every line must parse and chain to
        // the signed log_head, so a damaged or edited history is reported now, not later.
        session.check_log_len(&state.header)?;
        let log = session.open_log()?;
        let entries = crate::model::log::load_all(&log, &state.header)?;
        if format == 3 {
            no_release(&entries, dir)?;
        }
        if crate::model::log::log_head(&log, state.header.log_len)? != state.header.log_head {
            return Err(Error::state(
                dir.join(INDEX_LOG),
                crate::model::log::LogError::Chain,
            ));
        }
        return Ok((state, Vec::new()));
    }
    if format == 2 {
        let old = v2::parse(&bytes).map_err(|m| Error::state(dir.join(INDEX), m))?;
        let mut header = Header {
            generation: old.generation,
            audit_head: old.audit_head,
            log_len: old.log_len,
            max_serial: old.max_serial,
            ..Header::new()
        };
        session.check_log_len(&header)?;
        // The whole log is parsed once, so a damaged one is reported before it is signed.
        let log = session.open_log()?;
        let entries = crate::model::log::load_all(&log, &header)?;
        no_release(&entries, dir)?;
        header.log_head = crate::model::log::log_head(&log, header.log_len)?;
        let state = unverified(session, ctx, header)?;
        agrees_with_crl(&state, &entries, &dir.join(INDEX_LOG))?;
        return Ok((state, Vec::new()));
    }
    let old = v1::parse(&bytes).map_err(|m| Error::state(dir.join(INDEX), m))?;
    if session.read_optional(INDEX_LOG)?.is_some() {
        return Err(Error::state(dir.join(INDEX_LOG), LegacyError::LogBesideV1));
    }
    let header = Header {
        generation: old.generation,
        audit_head: old.audit_head,
        ..Header::new()
    };
    let state = unverified(session, ctx, header)?;
    let entries = old
        .certificates
        .into_iter()
        .map(Entry::try_from)
        .collect::<std::result::Result<Vec<Entry>, LegacyError>>()
        .map_err(|m| Error::state(dir.join(INDEX), m))?;
    agrees_with_crl(&state, &entries, &dir.join(INDEX))?;
    let mut seen = std::collections::HashSet::new();
    for e in &entries {
        let serial = e.serial.clone();
        if !seen.insert(&e.serial) {
            return Err(Error::state(
                dir.join(INDEX),
                LegacyError::DuplicateSerial(serial),
            ));
        }
        if state.serial <= serial {
            return Err(Error::state(
                dir.join(crate::store::SERIAL),
                LegacyError::CounterNotAbove {
                    counter: state.serial.clone(),
                    serial,
                },
            ));
        }
    }
    Ok((state, entries))
}

/// A log older than format 4 holds no release of a hold (UNHOLD): one there was appended
/// behind fileca's back, or the directory was a newer fileca's with index.json rewritten.
fn no_release(entries: &[Entry], dir: &std::path::Path) -> Result<()> {
    match entries.iter().find(|e| e.released.is_some()) {
        Some(e) => Err(Error::state(
            dir.join(INDEX_LOG),
            LegacyError::ReleaseBeforeFormat4(e.serial.to_string()),
        )),
        None => Ok(()),
    }
}

/// UPGRADE-CRL: the history an upgrade signs must agree with what the CA already signed of
/// it: every revocation ca.crl lists is in the history, at the same second and for the same
/// reason (a format-2 or format-1 index.json can be rewritten by whoever can write the
/// directory — e.g. to turn a keyCompromise into a superseded that renew accepts — and the
/// upgrade would sign it). ca.crl must verify with ca.crt's key. A revocation made after the
/// last CRL is in no signed file: nothing can check it (SPEC.md's known limit).
fn agrees_with_crl(state: &Snapshot, entries: &[Entry], history: &std::path::Path) -> Result<()> {
    let Some(bytes) = &state.crl else {
        // Removing ca.crl must not switch the comparison off: the counter says one was signed.
        if state.crlnumber != crate::pki::serial::Serial::from_u64(1) {
            return Err(Error::state(
                state.dir.join(crate::model::layout::CRL),
                LegacyError::DisagreesWithCrl(format!(
                    "ca.crl is missing, but crlnumber ({}) says the CA signed one",
                    state.crlnumber
                )),
            ));
        }
        return Ok(());
    };
    let crl_path = state.dir.join(crate::model::layout::CRL);
    let crl = crate::pki::crl::parse(bytes, bytes.len(), Some(&state.ca.cert))
        .map_err(|e| Error::state(&crl_path, e))?;
    if crl.verified != Some(true) {
        return Err(Error::state(
            &crl_path,
            LegacyError::DisagreesWithCrl("ca.crl is not signed by ca.crt's key".into()),
        ));
    }
    let by_serial: std::collections::HashMap<&crate::pki::serial::Serial, &Entry> =
        entries.iter().map(|e| (&e.serial, e)).collect();
    for (serial, at, reason) in &crl.entries {
        let recorded = by_serial.get(serial).and_then(|e| e.revoked);
        let agrees = recorded.is_some_and(|r| {
            Some(r.reason) == *reason && r.at.unix_timestamp() == at.unix_timestamp()
        });
        if !agrees {
            let said = reason.map_or("an unknown reason", |r| r.name());
            let history_says = match recorded {
                Some(r) => format!("{} at {}", r.reason.name(), crate::clock::fmt(r.at)),
                None => "not revoked".into(),
            };
            return Err(Error::state(
                history,
                LegacyError::DisagreesWithCrl(format!(
                    "it lists {serial} as revoked for {said} at {}, the history says {history_says}",
                    crate::clock::fmt(*at)
                )),
            ));
        }
    }
    Ok(())
}

/// The snapshot of a directory no checkpoint signed yet, with `header` built from its old
/// index.json.
fn unverified(session: &Session, ctx: &Context, header: Header) -> Result<Snapshot> {
    let raw = session.raw(crate::store::Reads::SIGN, header)?;
    Snapshot::unverified(raw, &ctx.pass, session.allow_insecure_key())
}

/// Validation phase: index.log holds every issue, then every revocation in time order.
pub fn plan(state: &Snapshot, entries: Vec<Entry>, env: &crate::Env) -> Result<Planned> {
    let log = LogAppend::of_entries(&entries);
    // Format 1 had no index.log: an empty one is created, not appended to.
    let writes = if log.bytes.is_empty() && state.header.log_len == 0 {
        vec![crate::store::FileWrite::public(INDEX_LOG, Vec::new())]
    } else {
        Vec::new()
    };
    let plan = super::finish_plan(
        state,
        env,
        log,
        writes,
        AuditInfo::of("upgrade", Vec::new()),
    )?;
    let rest = if state.header.checkpoint.is_some() {
        format!(
            "index.json to format {} (index.log may now record a released hold)",
            crate::model::header::FORMAT
        )
    } else if entries.is_empty() && state.header.log_len > 0 {
        format!(
            "index.json to format {} (index.log hashed, first checkpoint signed)",
            crate::model::header::FORMAT
        )
    } else {
        format!(
            "index.json to format {} ({} certificate(s) now in index.log)",
            crate::model::header::FORMAT,
            entries.len()
        )
    };
    let notes = vec![crate::term::Note::act("converted", "would convert", &rest)];
    Ok(Planned::new(plan, String::new(), notes))
}
