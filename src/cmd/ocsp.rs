//! `ca ocsp`: pre-signed OCSP responses, for stapling (nginx `ssl_stapling_file`, HAProxy,
//! `openssl s_server -status_file`) and for static serving (SPEC.md OCSP-PRESIGN).
//!
//! A read: the state is loaded verified (VERIFIED-READ) under the shared lock, with the
//! delegated responder (ocsp.key, ocsp.crt) checked against it; the lock is released before
//! anything is signed or written. The responses are signed with the responder's key, never
//! ca.key, and say what the signed index says: revoked with its time and reason, else good.

use std::path::{Path, PathBuf};

use super::Context;
use crate::cli::OcspArgs;
use crate::error::{Refused, Result};
use crate::model::log::Entry;
use crate::model::responder::{self, Responder};
use crate::pki::ocsp::{self, HashAlg, IssuerHashes};
use crate::store::output::{CopyTarget, check_copy_target, write_copy};
use crate::store::{Access, MODE_PUBLIC, Session};

/// Runs `ca ocsp`.
pub fn run(args: &OcspArgs, ctx: &Context) -> Result<()> {
    let typed = args.serial.as_deref().map(crate::cli::serial).transpose()?;
    // Judged before the lock: a single --out must be new unless --force.
    let target = match (&args.out, args.force) {
        (Some(out), false) => Some(check_copy_target(out, "--out")?),
        (Some(out), true) => Some(CopyTarget::File(out.clone())),
        (None, _) => None,
    };
    // Never into the state directory: `--out ca.crl --force` replaced the signed CRL with an
    // OCSP response and `--out-dir DIR` filled it with files (review finding; OUTPUT-INSIDE).
    if let Some(out) = &args.out
        && target.as_ref().is_some_and(CopyTarget::is_file)
    {
        crate::store::output::refuse_inside_state(&ctx.dir, &crate::store::output::parent_of(out))?;
    }
    if let Some(dir) = &args.out_dir {
        crate::store::output::refuse_inside_state(&ctx.dir, dir)?;
    }
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let state = session.snapshot(
        crate::store::Reads {
            key: false,
            log: crate::store::LogReads::Memory,
        },
        &crate::passphrase::Source::default(),
    )?;
    let responder = session
        .responder(&state)?
        .ok_or_else(|| Refused::NoOcspResponder(ctx.dir.clone()))?;
    drop(session);
    let now = ctx.now()?;
    if responder.not_after <= now {
        return Err(Refused::OcspResponderExpired {
            dir: ctx.dir.clone(),
            at: responder.not_after,
        }
        .into());
    }
    let hashes = IssuerHashes::of_certificate(&state.ca.cert.der)
        .ok_or_else(|| crate::error::Error::bug("ca.crt does not parse again"))?;
    let times = responder::times(&responder, now, time::Duration::hours(args.hours.into()));
    let sign = |e: &Entry| -> Result<Vec<u8>> {
        let id = hashes.cert_id(HashAlg::Sha1, &e.serial);
        let status = responder::status_of(e);
        Ok(ocsp::sign_response(
            &ocsp::Responder {
                key: &responder.key,
                cert_der: &responder.cert_der,
            },
            &[(&id, status)],
            None,
            times,
        )?)
    };
    match (&typed, target, &args.out_dir) {
        (Some(typed), Some(target), _) => {
            let entry = state.resolve(typed)?;
            write_copy(&target, &sign(&entry)?, args.force, MODE_PUBLIC)?;
            note(ctx, &format!("OCSP response for {} written", entry.serial));
        }
        (None, _, Some(dir)) => {
            let mut entries = Vec::new();
            crate::model::log::for_each_entry(state_log(&state)?, &state.header, |e| {
                if e.not_after > now {
                    entries.push(e);
                }
                Ok(())
            })?;
            write_all(dir, &entries, sign)?;
            let shown = crate::term::escape(&dir.display().to_string());
            note(
                ctx,
                &format!("{} OCSP responses written to {shown}", entries.len()),
            );
        }
        _ => unreachable!("clap requires SERIAL with --out, or --out-dir"),
    }
    warn_expiring(ctx, &responder, now);
    Ok(())
}

/// The snapshot's index.log (loaded in memory above).
fn state_log(state: &crate::model::snapshot::Snapshot) -> Result<&crate::model::log::Log> {
    state.log_ref()
}

/// DIR/SERIAL.der for each entry, each replaced atomically (a refresh of earlier responses).
fn write_all(
    dir: &Path,
    entries: &[Entry],
    sign: impl Fn(&Entry) -> Result<Vec<u8>>,
) -> Result<()> {
    crate::store::output::ensure_dir(dir)?;
    for e in entries {
        let path: PathBuf = dir.join(format!("{}.der", e.serial));
        write_copy(&CopyTarget::File(path), &sign(e)?, true, MODE_PUBLIC)?;
    }
    crate::fsio::reported();
    Ok(())
}

fn note(ctx: &Context, text: &str) {
    if !ctx.quiet {
        crate::term::warn(&format!("note: {text}"));
    }
}

/// The responder certificate in its last third: time to renew it.
fn warn_expiring(ctx: &Context, responder: &Responder, now: time::OffsetDateTime) {
    if !ctx.quiet && responder::in_last_third(responder, now) {
        crate::term::warn(&format!(
            "warning: the OCSP responder certificate expires on {}: run `ca ocsp-responder renew`",
            crate::clock::fmt(responder.not_after)
        ));
    }
}
