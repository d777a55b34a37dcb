//! `ca renew-ca`: re-issue the CA certificate on the same key with a new validity
//! (SPEC.md `RENEW-CA-*`). The previous certificate is kept as `ca-<SERIAL>.crt`, and the swap
//! is one journaled commit: after any interruption the directory holds either the old or the
//! new ca.crt, both matching ca.key. Certificates issued before keep verifying, because
//! subject, key and key identifier are unchanged.

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::RenewCaArgs;
use crate::error::{Error, Result};
use crate::model::snapshot::Snapshot;
use crate::pki::names;
use crate::pki::serial::Serial;
use crate::store::{CERT, FileWrite};

/// Runs `ca renew-ca`.
pub fn run(args: &RenewCaArgs, ctx: &Context) -> Result<()> {
    if let Some(out) = &args.csr_out {
        return request(ctx, out, &args.mutation);
    }
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN,
        |state, env| plan(state, args.days, env),
    )
}

/// `renew-ca --csr-out FILE` (SPEC.md INSTALL-SWAP): a request for the same key and subject
/// (the subject's DER encoding kept), for the parent to sign. Changes nothing in the CA.
fn request(ctx: &Context, out: &std::path::Path, opts: &crate::cli::MutationArgs) -> Result<()> {
    // Where it goes is judged first, before the key is read (DRY-RUN refuses what the real
    // run would).
    let target = crate::store::output::check_copy_target(out, "--csr-out")?;
    ctx.passphrase_ahead()?;
    let session = crate::store::Session::open(&ctx.dir, crate::store::Access::Read, &ctx.open)?;
    let state = session.snapshot(crate::store::Reads::SIGN, &ctx.pass)?;
    super::expect_generation(opts, &state)?;
    let path = state.dir.join(CERT);
    let x509 =
        crate::pki::pem::certificate(&state.ca.cert.der).map_err(|m| Error::state(&path, m))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name =
        names::dn_from_x509(x509.subject()).map_err(|m| Error::state(&path, m))?;
    let csr = params
        .serialize_request(state.ca.key()?)
        .and_then(|r| r.pem())
        .map_err(|e| Error::signing(e, "making the certificate request"))?;
    drop(state);
    drop(session);
    if opts.dry_run {
        if !ctx.quiet {
            crate::term::warn(&format!(
                "note: would write a request for this CA's key and subject to {} (dry run: nothing written)",
                crate::term::escape(&out.display().to_string())
            ));
        }
        return Ok(());
    }
    crate::store::output::write_copy(&target, csr.as_bytes(), false, crate::store::MODE_PUBLIC)?;
    // Durable where it is reported (write_copy fsynced the file and its directory).
    crate::fsio::reported();
    if !ctx.quiet {
        crate::term::warn(&format!(
            "note: a request for this CA's key and subject is in {}: have the parent sign it (`ca --dir PARENT sign CSR --profile sub-ca --out CERT`), then run `ca --dir {} install-ca CERT`",
            crate::term::escape(&out.display().to_string()),
            crate::term::escape(&ctx.dir.display().to_string())
        ));
    }
    Ok(())
}

/// Validation phase: the new ca.crt and the archived old one.
pub fn plan(state: &Snapshot, days: u32, env: &Env) -> Result<Planned> {
    let old = &state.ca.cert;
    let path = state.dir.join(CERT);
    let x509 = crate::pki::pem::certificate(&old.der).map_err(|m| Error::state(&path, m))?;
    // A sub-CA is renewed by its parent (INSTALL-SWAP): self-signing would make it a root.
    if !state.chain.is_empty() || !crate::pki::chain::self_signed(&x509) {
        return Err(crate::model::change::Refusal::RenewCaSubCa.into());
    }
    let (old_serial, archive, archived) = crate::model::change::archive_ca(state, &x509)?;
    let path_len = x509
        .basic_constraints()
        .ok()
        .flatten()
        .and_then(|bc| bc.value.path_len_constraint);
    let new_serial = Serial::random_start(env.rng.bytes()?);
    let mut params = crate::pki::issuance::ca_params(
        names::dn_from_x509(x509.subject()).map_err(|m| Error::state(&path, m))?,
        env.now,
        days,
        &new_serial,
        path_len.map(|n| u8::try_from(n).unwrap_or(u8::MAX)),
        old.key_id.clone(),
    );
    // The name constraints go over byte for byte (NC-RENEW): what the CA may certify does
    // not change with its validity, whatever types of subtree they hold.
    for ext in x509.extensions() {
        if ext.oid == x509_parser::oid_registry::OID_X509_EXT_NAME_CONSTRAINTS {
            let mut copy =
                rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 30], ext.value.to_vec());
            copy.set_criticality(ext.critical);
            params.custom_extensions.push(copy);
        }
    }
    let cert = params
        .self_signed(state.ca.key()?)
        .map_err(|e| Error::signing(e, "self-signing the renewed CA certificate"))?;
    let plan = super::finish_plan(
        state,
        env,
        crate::model::log::LogAppend::default(),
        vec![archived, FileWrite::public(CERT, cert.pem())],
        AuditInfo {
            operation: "renew-ca",
            serials: vec![new_serial.to_string(), old_serial.to_string()],
            csr_sha256: None,
            policy_sha256: None,
        },
    )?;
    let notes = vec![crate::term::Note::act(
        "renewed",
        "would renew",
        &format!(
            "the CA certificate: serial {new_serial}, valid until {}; the previous one is kept as {archive}",
            crate::clock::fmt(params.not_after)
        ),
    )];
    Ok(Planned::new(plan, cert.pem(), notes))
}
