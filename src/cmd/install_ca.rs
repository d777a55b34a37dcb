//! `ca install-ca CERT [--chain FILE]`: completes a pending CA (SPEC.md INSTALL-*) with the
//! certificate its parent issued for its request. The certificate must be a CA certificate
//! for the pending key, valid now, and chain through the certificates given with it to a
//! self-signed root; then ca.crt, chain.pem and every other state file appear at once
//! (store::create::install), or nothing changes.

use std::path::Path;

use super::{Context, Planned};
use crate::Env;
use crate::cli::InstallCaArgs;
use crate::error::{Error, Refused, Result};
use crate::input::InputError;
use crate::model::snapshot::Snapshot;
use crate::pki::ca::CaCert;
use crate::pki::pem::{MAX_PEM_BYTES, pem_of};
use crate::pki::serial::Serial;
use crate::store::{self, FileWrite};

/// Runs `ca install-ca`.
pub fn run(args: &InstallCaArgs, ctx: &Context) -> Result<()> {
    let dir = &ctx.dir;
    if args.cert == Path::new("-") && args.chain.as_deref() == Some(Path::new("-")) {
        return Err(Error::Usage(
            "standard input (-) can be CERT or --chain, not both".into(),
        ));
    }
    let mut certs = read_certs(&args.cert)?;
    if let Some(chain) = &args.chain {
        certs.extend(read_certs(chain)?);
    }
    if !store::is_pending(dir) {
        // A CA with a certificate: the swap of a renewed one (INSTALL-SWAP).
        return super::mutate(
            ctx,
            &args.mutation,
            crate::store::Reads::SIGN,
            |state, env| plan_swap(state, &args.cert, &certs, env),
        );
    }
    if args.mutation.dry_run || args.mutation.expect_generation.is_some() {
        return Err(Error::Usage(
            "--dry-run and --expect-generation apply to installing a renewed certificate, not to completing a pending CA".into(),
        ));
    }
    super::pending::complete_pending(ctx, &args.cert, certs)
}

/// Validation phase of a swap (SPEC.md INSTALL-SWAP): a renewed certificate for the same key
/// and subject, chaining to a root through what was given and chain.pem, becomes ca.crt and
/// chain.pem in one commit; the old ca.crt is kept as `ca-<SERIAL>.crt`.
pub fn plan_swap(state: &Snapshot, path: &Path, certs: &[Vec<u8>], env: &Env) -> Result<Planned> {
    use crate::model::change::Refusal;
    let new = CaCert::parse(&certs[0]).map_err(|e| Error::input(path, e.into()))?;
    let old = &state.ca.cert;
    if new.der == old.der {
        return Err(Refusal::AlreadyInstalled(path.to_path_buf()).into());
    }
    if new.spki_der != old.spki_der {
        return Err(Refused::NotForThisKey {
            cert: path.to_path_buf(),
            dir: state.dir.to_path_buf(),
        }
        .into());
    }
    let parse = |der| crate::pki::pem::certificate(der).map_err(|e| Error::input(path, e.into()));
    let (new_x509, old_x509) = (parse(&new.der)?, parse(&old.der)?);
    if new_x509.subject().as_raw() != old_x509.subject().as_raw() {
        return Err(Refusal::SubjectChanged(path.to_path_buf()).into());
    }
    crate::model::snapshot::check_valid(&new, env.now, path)?;
    let mut pool = certs[1..].to_vec();
    pool.extend(state.chain.iter().map(|c| c.der.clone()));
    let chain = crate::pki::chain::to_root(&new.der, &pool).map_err(|e| Refused::Chain {
        cert: path.to_path_buf(),
        err: e,
    })?;
    let new_serial = Serial::from_magnitude(new_x509.raw_serial());
    let (old_serial, archive, archived) = crate::model::change::archive_ca(state, &old_x509)?;
    let plan = crate::model::change::finish_plan(
        state,
        env,
        crate::model::log::LogAppend::default(),
        vec![
            archived,
            FileWrite::public(store::CERT, pem_of("CERTIFICATE", &new.der)),
            FileWrite::public(
                store::CHAIN,
                chain
                    .iter()
                    .map(|d| pem_of("CERTIFICATE", d))
                    .collect::<String>(),
            ),
        ],
        crate::model::change::AuditInfo {
            operation: "install-ca",
            serials: vec![new_serial.to_string(), old_serial.to_string()],
            csr_sha256: None,
            policy_sha256: None,
        },
    )?;
    let mut notes = vec![crate::term::Note::act(
        "installed",
        "would install",
        &format!(
            "the CA certificate {new_serial}, valid until {}; the previous one is kept as {archive}",
            crate::clock::fmt(new.not_after)
        ),
    )];
    // INSTALL-SHORTER: a renewal that ends earlier is allowed (the parent decides), but said.
    if new.not_after < old.not_after {
        notes.push(crate::term::Note::text(format!(
            "the new certificate ends on {}, before the one it replaces ({}): what this CA issues from now on ends by then",
            crate::clock::fmt(new.not_after),
            crate::clock::fmt(old.not_after)
        )));
    }
    Ok(Planned::new(plan, String::new(), notes))
}

/// A certificate file: one or more PEM certificates, or one DER certificate.
fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = crate::input::read_or_stdin(path, MAX_PEM_BYTES as u64)?;
    crate::pki::pem::decode_certificates(&bytes, MAX_PEM_BYTES)
        .map_err(|e| Error::input(path, InputError::Pem(e)))
}
