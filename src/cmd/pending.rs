//! What `status` and `check` say of a pending CA (SPEC.md PENDING-STATUS): a key and its
//! request, no certificate yet. Read-only; no lock is needed, as nothing but `install-ca`
//! (which replaces the whole directory at once) changes a pending CA. And how a pending CA
//! is completed (`install-ca`, and the last step of `init --parent`: a command never imports
//! another).

use std::path::{Path, PathBuf};

use serde::Serialize;

use zeroize::Zeroizing;

use super::Context;
use crate::Env;
use crate::error::{Error, Refused, Result};
use crate::pki::ca::{Ca, CaCert};
use crate::pki::pem::{MAX_PEM_BYTES, pem_of};
use crate::pki::serial::Serial;
use crate::render::check::{CheckReport, Problem};
use crate::store;
use crate::store::FileWrite;

/// `ca status --json` of a pending CA.
#[derive(Debug, Serialize)]
pub struct PendingReport {
    pub pending: bool,
    pub subject: String,
    pub key_type: String,
    /// The request, for the parent to sign.
    pub csr: String,
    pub next: String,
}

/// The report, and the problems `check` lists: the request must be a valid CSR signed by its
/// key, and (when ca.key is not encrypted) that key must be ca.key's.
pub fn query(dir: &Path) -> Result<(PendingReport, Vec<Problem>)> {
    let mut problems = Vec::new();
    let csr_bytes = store::read_state_file(dir, store::CSR)?;
    let key_bytes = zeroize::Zeroizing::new(store::read_state_file(dir, store::KEY)?);
    let checked = crate::pki::pem::decode_one(&csr_bytes, &["CERTIFICATE REQUEST"], MAX_PEM_BYTES)
        .map_err(|e| e.to_string())
        .and_then(|der| crate::pki::csr::check(&der).map_err(|e| e.to_string()));
    let (subject, key_type) = match &checked {
        Ok(c) => (c.subject.to_string(), c.key.to_string()),
        Err(m) => {
            problems.push(Problem {
                file: store::CSR.into(),
                problem: m.clone(),
            });
            ("?".into(), "?".into())
        }
    };
    let text = String::from_utf8_lossy(&key_bytes);
    if let Ok(c) = &checked
        && crate::token::KeyRef::is_reference(&key_bytes)
    {
        // A key on a token (TOKEN-PENDING): checked when the token is present, without a PIN.
        match crate::token::KeyRef::parse(&key_bytes) {
            Err(e) => problems.push(Problem {
                file: store::KEY.into(),
                problem: e.to_string(),
            }),
            Ok(r) => {
                if let Ok(found) = crate::token::probe(&r)
                    && found.spki != c.spki_der
                {
                    problems.push(Problem {
                        file: store::KEY.into(),
                        problem: format!("names {}, which is not the key of ca.csr", r.uri),
                    });
                }
            }
        }
    } else if let Ok(c) = &checked
        && !crate::pki::keys::is_encrypted(&text)
    {
        match crate::pki::keys::key_pair(&text) {
            Ok(key) if rcgen::PublicKeyData::subject_public_key_info(&key) == c.spki_der => {}
            Ok(_) => problems.push(Problem {
                file: store::KEY.into(),
                problem: "is not the key of ca.csr".into(),
            }),
            Err(e) => problems.push(Problem {
                file: store::KEY.into(),
                problem: e.to_string(),
            }),
        }
    }
    let shown = crate::term::escape(&dir.display().to_string());
    Ok((
        PendingReport {
            pending: true,
            subject,
            key_type,
            csr: format!("{}/{}", dir.display(), store::CSR),
            next: format!(
                "have the parent CA sign the request (`ca --dir PARENT sign {shown}/ca.csr --profile sub-ca --out CERT`), then run `ca --dir {shown} install-ca CERT`"
            ),
        },
        problems,
    ))
}

/// `ca status` of a pending CA.
pub fn status(dir: &Path, json: bool) -> Result<()> {
    let (report, _) = query(dir)?;
    if json {
        return crate::render::print_json(&report);
    }
    let mut out = String::new();
    crate::outln!(
        out,
        "pending CA:    {} ({})",
        crate::term::escape(&report.subject),
        report.key_type
    );
    crate::outln!(out, "request:       {}", crate::term::escape(&report.csr));
    crate::outln!(out, "next:          {}", report.next);
    crate::term::print(&out)
}

/// `ca check` of a pending CA: its problems, or an ok line naming it pending.
pub fn check(dir: &Path, json: bool) -> Result<bool> {
    let (report, problems) = query(dir)?;
    let ok = problems.is_empty();
    let check = CheckReport {
        ok,
        generation: None,
        certificates: 0,
        problems,
        undelivered: Vec::new(),
        notes: Vec::new(),
    };
    if json || !ok {
        crate::render::check::print(&check, dir, json)?;
    } else {
        crate::term::print(&format!(
            "ok: pending CA {}: its request ca.csr is signed by its key; no certificate yet\n",
            crate::term::escape(&report.subject)
        ))?;
    }
    Ok(ok)
}

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

/// Completes the pending CA `ctx.dir` with `certs` (the CA certificate from `cert_path`, then
/// candidates for its chain): `install-ca`, and the last step of `init --parent`.
pub fn complete_pending(ctx: &Context, cert_path: &Path, certs: Vec<Vec<u8>>) -> Result<()> {
    let dir = &ctx.dir;
    check_pending_dir(ctx)?;
    let key_file = Zeroizing::new(store::read_state_file(dir, store::KEY)?);
    // An encrypted pending key: its passphrase now, from the usual sources (a pending CA is
    // changed by install-ca alone, which holds no state lock while it asks).
    ctx.pass.read_ahead(
        &key_file,
        &format!("passphrase for {}", dir.join(store::KEY).display()),
    )?;
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
            crate::term::escape(&ca.cert.subject_shown),
            crate::term::escape(&dir.display().to_string())
        ),
    )
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
    let entries = crate::fsio::list_dir(dir).map_err(|e| Error::io(dir, e))?;
    for name in entries {
        let path = dir.join(&name);
        let kind = std::fs::symlink_metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .file_type();
        let expected = match name.to_str() {
            Some(store::LOCK | store::KEY | store::CSR) => kind.is_file(),
            Some(store::CERTS) => {
                kind.is_dir()
                    && crate::fsio::list_dir(&path)
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

/// Validation phase: every file of the complete CA. Returns them and the certificate's
/// serial.
pub fn plan(request: &Install, ca: &Ca, env: &Env) -> Result<(Vec<FileWrite>, Serial)> {
    let cert_der = &request.certs[0];
    let path = &request.cert_path;
    // It certifies the pending request's key (ca.key's, checked by the caller)…
    let csr_der =
        crate::pki::pem::decode_one(&request.csr, &["CERTIFICATE REQUEST"], MAX_PEM_BYTES)
            .map_err(|e| Error::state(store::CSR, e))?;
    let csr = crate::pki::csr::check(&csr_der).map_err(|e| Error::state(store::CSR, e))?;
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
        .map_err(|_| Error::state(store::KEY, crate::model::snapshot::SnapshotError::KeyNotPem))?;
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
