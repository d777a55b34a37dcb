//! `ca export`: a certificate this CA issued, bundled with the key its holder has (SPEC.md
//! EXPORT): a PKCS#12 file (modern or legacy form) or the certificate with its chain. A read:
//! nothing in the CA changes; the certificate is the one the index records (SHOW-RECORDED),
//! from a state that chains to the signed checkpoint (VERIFIED-READ).

use std::path::Path;

use zeroize::Zeroizing;

use super::Context;
use crate::cli::ExportArgs;
use crate::error::{Error, Refused, Result};
use crate::model::log::Entry;
use crate::model::snapshot::Snapshot;
use crate::pki::p12::{self, P12Form};
use crate::pki::pem::{MAX_PEM_BYTES, decode_one};
use crate::store::output::{CopyTarget, check_copy_target, write_copy};
use crate::store::{Access, MODE_PUBLIC, MODE_SECRET, Session};

/// What is written, and where.
enum Form {
    P12 {
        form: P12Form,
        /// The passphrase of the bundle.
        passphrase: Zeroizing<String>,
    },
    FullChain,
}

/// Runs `ca export`. Every input is read and every output judged before the lock: the key
/// (and its passphrase), the bundle's passphrase, the target.
pub fn run(args: &ExportArgs, ctx: &Context) -> Result<()> {
    let (out, option) = match (&args.p12, &args.p12_legacy, &args.fullchain) {
        (Some(p), _, _) => (p, "--p12"),
        (_, Some(p), _) => (p, "--p12-legacy"),
        (_, _, Some(p)) => (p, "--fullchain"),
        _ => unreachable!("clap requires one of --p12, --p12-legacy, --fullchain"),
    };
    let cert_file = match &args.cert {
        Some(path) => Some((path.clone(), crate::input::read_certificate(path)?)),
        None => None,
    };
    let typed = args.serial.as_deref().map(crate::cli::serial).transpose()?;
    let key = match &args.key {
        Some(path) => Some(read_key(path, args.key_passphrase_file.as_deref())?),
        None => None,
    };
    let target = check_copy_target(out, option)?;
    let key_der = match &key {
        Some((_, key_pem)) => Some(Zeroizing::new(
            decode_one(key_pem.as_bytes(), &["PRIVATE KEY"], MAX_PEM_BYTES)
                .map_err(|e| Error::bug_in("the key read for export", e))?,
        )),
        None => None,
    };
    let form = match (option, &key) {
        ("--fullchain", _) => Form::FullChain,
        (_, None) => unreachable!("clap requires --key with --p12"),
        (option, Some(_)) => {
            if matches!(target, CopyTarget::Stdout) && crate::term::stdout_is_terminal() {
                return Err(Refused::P12ToTerminal.into());
            }
            let passphrase = crate::passphrase::new_passphrase(
                args.p12_passphrase_file.as_deref(),
                (
                    &format!("passphrase for {}", out.display()),
                    "--p12-passphrase-file",
                ),
            )?;
            Form::P12 {
                form: match option {
                    "--p12-legacy" => P12Form::Legacy,
                    _ => P12Form::Modern,
                },
                passphrase,
            }
        }
    };
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let state = session.verified_state()?;
    let entry = match (&typed, &cert_file) {
        (Some(typed), _) => state.resolve(typed)?,
        (None, Some((path, der))) => state.recorded_entry(path, der)?,
        (None, None) => unreachable!("clap requires SERIAL or --cert"),
    };
    let (pem, der) = session.read_recorded(&entry, &state.ca.cert)?;
    drop(session);
    // The key given must be the certificate's, whatever is written: checked once, here.
    let public = match (&args.key, &key) {
        (Some(key_path), Some((key_pair, _))) => Some(check_key(&entry, &der, key_path, key_pair)?),
        _ => None,
    };
    let bytes = match &form {
        Form::FullChain => {
            let mut text = String::from_utf8_lossy(&pem).into_owned();
            text.push_str(&state.intermediates_pem());
            text.into_bytes()
        }
        Form::P12 { form, passphrase } => {
            let (Some(key_der), Some(public)) = (&key_der, &public) else {
                unreachable!("a P12 form has a key");
            };
            bundle(&state, &entry, &der, (key_der, public), passphrase, *form)?
        }
    };
    let mode = match form {
        Form::FullChain => MODE_PUBLIC,
        Form::P12 { .. } => MODE_SECRET,
    };
    write_copy(&target, &bytes, false, mode)?;
    crate::fsio::reported();
    let now = ctx.now()?;
    let state_now = entry.state(now);
    if !ctx.quiet && state_now != crate::model::log::CertState::Valid {
        crate::term::warn(&format!(
            "warning: certificate {} is {}: relying parties will refuse it",
            entry.serial,
            state_now.name()
        ));
    }
    if !ctx.quiet && target.is_file() {
        crate::term::warn(&format!(
            "note: exported certificate {} ({}) to {}",
            entry.serial,
            crate::pki::names::shown(&entry.subject),
            crate::term::escape(&out.display().to_string())
        ));
    }
    Ok(())
}

/// The PKCS#12 of the certificate, its key (PKCS#8 DER, found to be the certificate's, whose
/// public key bits are `public`) and the CAs above it (root last).
fn bundle(
    state: &Snapshot,
    entry: &Entry,
    der: &[u8],
    (key_der, public): (&[u8], &[u8]),
    passphrase: &str,
    form: P12Form,
) -> Result<Vec<u8>> {
    let certs: Vec<&[u8]> = std::iter::once(der)
        .chain(std::iter::once(&state.ca.cert.der[..]))
        .chain(state.chain.iter().map(|c| &c.der[..]))
        .collect();
    let name = crate::pki::names::shown(&entry.subject);
    Ok(p12::bundle(
        &name,
        key_der,
        &crate::pki::keys::key_id(public),
        &certs,
        passphrase,
        form,
    )?)
}

/// Refuses a key that is not the certificate's; returns the certificate's public key bits.
fn check_key(entry: &Entry, der: &[u8], key_path: &Path, key: &rcgen::KeyPair) -> Result<Vec<u8>> {
    let cert = crate::pki::pem::certificate(der)
        .map_err(|e| Error::bug_in("the recorded certificate", e))?;
    let public = cert.public_key().subject_public_key.data.to_vec();
    if rcgen::PublicKeyData::der_bytes(key) != public.as_slice() {
        return Err(Refused::ExportKeyMismatch {
            key: key_path.to_path_buf(),
            serial: entry.serial.to_string(),
        }
        .into());
    }
    Ok(public)
}

/// The key given with --key, decrypted with its passphrase (from `pass_file`, else asked on
/// the terminal) if it is encrypted: the key and its PKCS#8 PEM.
fn read_key(path: &Path, pass_file: Option<&Path>) -> Result<(rcgen::KeyPair, Zeroizing<String>)> {
    let bytes = Zeroizing::new(crate::input::read(path, MAX_PEM_BYTES as u64)?);
    let passphrase = match crate::pki::keys::import_is_encrypted(&bytes) {
        false => None,
        true => Some(match pass_file {
            Some(file) => crate::passphrase::read_file(file)?,
            None => crate::passphrase::ask(&format!("passphrase for {}", path.display()))?,
        }),
    };
    let (key, pem) =
        crate::pki::keys::import_private_key(&bytes, passphrase.as_deref().map(|p| p.as_str()))
            .map_err(|e| match e {
                crate::pki::keys::PrivateKeyError::WrongPassphrase => {
                    crate::passphrase::PassphraseError::Wrong(path.to_path_buf()).into()
                }
                e => Error::input(path, e.into()),
            })?;
    Ok((key, Zeroizing::new(pem)))
}
