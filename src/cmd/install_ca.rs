//! `ca install-ca CERT [--chain FILE]`: completes a pending CA (SPEC.md INSTALL-*) with the
//! certificate its parent issued for its request. The certificate must be a CA certificate
//! for the pending key, valid now, and chain through the certificates given with it to a
//! self-signed root; then ca.crt, chain.pem and every other state file appear at once
//! (store::create::install), or nothing changes.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{Context, Planned};
use crate::Env;
use crate::cli::InstallCaArgs;
use crate::error::{Error, Refused, Result};
use crate::input::InputError;
use crate::model::snapshot::State;
use crate::pki::ca::{Ca, CaCert};
use crate::pki::pem::{MAX_PEM_BYTES, pem_of};
use crate::pki::serial::Serial;
use crate::store::{self, FileWrite};

/// What install-ca is given, every input read.
pub struct Install {
    /// The pending directory (for messages).
    pub dir: PathBuf,
    pub cert_path: PathBuf,
    /// The CA certificate, then the certificates given with it (same file, then --chain).
    pub certs: Vec<Vec<u8>>,
    /// ca.key as stored (encrypted or not) and ca.csr, read from the pending directory.
    pub key_file: Zeroizing<Vec<u8>>,
    pub csr: Vec<u8>,
}

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
        return super::mutate(ctx, &args.mutation, |state, env| {
            plan_swap(state, &args.cert, &certs, env)
        });
    }
    if args.mutation.dry_run || args.mutation.expect_generation.is_some() {
        return Err(Error::Usage(
            "--dry-run and --expect-generation apply to installing a renewed certificate, not to completing a pending CA".into(),
        ));
    }
    complete_pending(ctx, &args.cert, certs)
}

/// Completes the pending CA `ctx.dir` with `certs` (the CA certificate from `cert_path`, then
/// candidates for its chain): `install-ca`, and the last step of `init --parent`.
pub fn complete_pending(ctx: &Context, cert_path: &Path, certs: Vec<Vec<u8>>) -> Result<()> {
    let dir = &ctx.dir;
    check_pending_dir(ctx)?;
    let key_file = Zeroizing::new(store::read_state_file(dir, store::KEY)?);
    let csr = store::read_state_file(dir, store::CSR)?;
    let request = Install {
        dir: dir.clone(),
        cert_path: cert_path.to_path_buf(),
        certs,
        key_file,
        csr,
    };
    let ca_cert =
        CaCert::parse(&request.certs[0]).map_err(|e| Error::input(&request.cert_path, e.into()))?;
    let ca = crate::model::snapshot::ca_with_key(dir, ca_cert, &request.key_file, &ctx.pass)
        .map_err(|e| match e {
            Error::KeyCertMismatch { .. } => Refused::NotForThisKey {
                cert: request.cert_path.clone(),
                dir: dir.clone(),
            }
            .into(),
            e => e,
        })?;
    let (mut files, serial) = plan(&request, &ca, &ctx.env)?;
    let unchanged = || {
        let same = store::is_pending(dir)
            && store::read_state_file(dir, store::KEY)?.as_slice() == request.key_file.as_slice()
            && store::read_state_file(dir, store::CSR)? == request.csr;
        match same {
            true => Ok(()),
            false => Err(Refused::NotPending(dir.clone()).into()),
        }
    };
    let result = store::install(dir, &files, ctx.open.lock_timeout, &unchanged);
    for f in &mut files {
        zeroize::Zeroize::zeroize(&mut f.bytes);
    }
    result?;
    super::report_created(
        ctx,
        &format!(
            "installed the CA certificate {serial} of \"{}\" in {} (its chain in chain.pem); the CA is ready",
            crate::render::escape(&ca.cert.subject_shown),
            crate::render::escape(&dir.display().to_string())
        ),
    )
}

/// Validation phase of a swap (SPEC.md INSTALL-SWAP): a renewed certificate for the same key
/// and subject, chaining to a root through what was given and chain.pem, becomes ca.crt and
/// chain.pem in one commit; the old ca.crt is kept as `ca-<SERIAL>.crt`.
pub fn plan_swap(state: &State, path: &Path, certs: &[Vec<u8>], env: &Env) -> Result<Planned> {
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
    let mut notes = vec![crate::render::Note::act(
        "installed",
        "would install",
        &format!(
            "the CA certificate {new_serial}, valid until {}; the previous one is kept as {archive}",
            crate::clock::fmt(new.not_after)
        ),
    )];
    // INSTALL-SHORTER: a renewal that ends earlier is allowed (the parent decides), but said.
    if new.not_after < old.not_after {
        notes.push(crate::render::Note::text(format!(
            "the new certificate ends on {}, before the one it replaces ({}): what this CA issues from now on ends by then",
            crate::clock::fmt(new.not_after),
            crate::clock::fmt(old.not_after)
        )));
    }
    Ok(Planned::new(plan, String::new(), notes))
}

/// The pending directory must be what `init --csr-out` made and nothing else (INSTALL-TRUST):
/// trusted as a state directory is (owned by the user, writable by no one else), ca.key
/// readable by no one else, and holding only `.lock`, `ca.key`, `ca.csr` and an empty
/// `certs/` — install-ca replaces the whole directory, so anything else would be lost.
fn check_pending_dir(ctx: &Context) -> Result<()> {
    let dir = &ctx.dir;
    let distrust = store::trust_problems(dir);
    if !distrust.is_empty() && !ctx.open.allow_insecure_dir {
        return Err(Error::state(dir, store::DirError::Untrusted(distrust)));
    }
    let mode = store::mode_of(dir, store::KEY)?;
    if mode & 0o077 != 0 && !ctx.open.allow_insecure_key {
        return Err(Error::state(
            dir.join(store::KEY),
            crate::model::snapshot::SnapshotError::InsecureKey {
                mode,
                path: dir.join(store::KEY),
            },
        ));
    }
    let entries = store::fsio::list_dir(dir).map_err(|e| Error::io(dir, e))?;
    for name in entries {
        let path = dir.join(&name);
        let kind = std::fs::symlink_metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .file_type();
        let expected = match name.to_str() {
            Some(store::LOCK | store::KEY | store::CSR) => kind.is_file(),
            Some(store::CERTS) => {
                kind.is_dir()
                    && store::fsio::list_dir(&path)
                        .map_err(|e| Error::io(&path, e))?
                        .is_empty()
            }
            _ => false,
        };
        if !expected {
            return Err(Refused::PendingHolds(path).into());
        }
    }
    Ok(())
}

/// A certificate file: one or more PEM certificates, or one DER certificate.
fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = crate::input::read_or_stdin(path, MAX_PEM_BYTES as u64)?;
    crate::pki::pem::decode_certificates(&bytes, MAX_PEM_BYTES)
        .map_err(|e| Error::input(path, InputError::Pem(e)))
}

/// Validation phase: every file of the complete CA. Returns them and the certificate's
/// serial.
pub fn plan(request: &Install, ca: &Ca, env: &Env) -> Result<(Vec<FileWrite>, Serial)> {
    let cert_der = &request.certs[0];
    let path = &request.cert_path;
    // It certifies the pending request's key (ca.key's, checked by the caller)…
    let csr_der =
        crate::pki::pem::decode_one(&request.csr, &["CERTIFICATE REQUEST"], MAX_PEM_BYTES)
            .map_err(|e| Error::state(store::CSR, e))?;
    let csr =
        crate::pki::csr::check(&csr_der).map_err(|e| Error::state(store::CSR, e.to_string()))?;
    if csr.spki_der != ca.cert.spki_der {
        return Err(Refused::NotForThisKey {
            cert: path.clone(),
            dir: request.dir.clone(),
        }
        .into());
    }
    // …is valid now, and chains to a self-signed root through what was given.
    crate::model::snapshot::check_valid(&ca.cert, env.now, path)?;
    let chain =
        crate::pki::chain::to_root(cert_der, &request.certs[1..]).map_err(|e| Refused::Chain {
            cert: path.clone(),
            err: e,
        })?;
    let x509 = crate::pki::pem::certificate(cert_der).map_err(|e| Error::input(path, e.into()))?;
    let serial = Serial::from_magnitude(x509.raw_serial());
    let key_pem = String::from_utf8(request.key_file.to_vec())
        .map_err(|_| Error::state(store::KEY, "is not a PEM file"))?;
    let chain_pem: String = chain.iter().map(|d| pem_of("CERTIFICATE", d)).collect();
    let mut files = crate::model::change::new_ca_files(
        env,
        (ca.key()?, key_pem),
        pem_of("CERTIFICATE", cert_der),
        (
            &Serial::counter_start(env.rng.bytes()?),
            &Serial::from_u64(1),
        ),
        ("install-ca", vec![serial.to_string()]),
        Vec::new(),
        (None, Some(&chain_pem)),
    )?;
    files.push(FileWrite::public(
        store::CSR,
        String::from_utf8_lossy(&request.csr).into_owned(),
    ));
    Ok((files, serial))
}
