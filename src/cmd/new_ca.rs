//! What creating a CA takes, shared by `ca init`, `ca init --parent` and `ca
//! import-openssl`: the subject, the pending CA's key and request, an imported key's
//! passphrase. A command never imports another.

use std::path::Path;

use zeroize::Zeroizing;

use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::pki::keys;
use crate::pki::names::Subject;
use crate::store::{self, FileWrite};

/// A new CA certificate's validity when `--days` is not given.
pub const DEFAULT_DAYS: u32 = 3650;

/// The passphrase of a key to import, if it is encrypted: from the usual sources
/// (`--passphrase-file`, `$CA_PASSPHRASE_FILE`, a prompt), before anything is computed.
pub fn import_passphrase(
    ctx: &super::Context,
    key_path: &Path,
    key_bytes: &[u8],
) -> Result<Option<Zeroizing<String>>> {
    if !keys::import_is_encrypted(key_bytes) {
        return Ok(None);
    }
    // Escaped where it is shown (the prompt, an error), as for ca.key's own passphrase.
    ctx.pass
        .get(&format!(
            "passphrase for the encrypted key {}",
            key_path.display()
        ))
        .map(Some)
}

/// `--subject`, parsed; never empty.
pub fn subject_of(args: &InitArgs) -> Result<Subject> {
    let text = args.subject.as_deref().unwrap_or_default();
    let subject = Subject::parse(text).map_err(|err| Error::Name {
        what: "--subject",
        err,
    })?;
    if subject.is_empty() {
        return Err(crate::error::Refused::EmptySubject.into());
    }
    Ok(subject)
}

/// Validation phase of a pending CA (SPEC.md PENDING-INIT): a new key and a certificate
/// request for it, signed by it. Returns ca.key and ca.csr, and the request's PEM.
pub fn plan_pending(
    subject: &Subject,
    key_type: keys::KeyType,
    passphrase: Option<&str>,
) -> Result<(Vec<FileWrite>, String)> {
    let (key, mut key_pem) = keys::generate(key_type)?;
    let csr = pending_request(subject, &key)?;
    if let Some(pass) = passphrase {
        let enc = keys::encrypt_pem(&key_pem, pass, crate::rand::sealing()?)?;
        zeroize::Zeroize::zeroize(&mut key_pem);
        key_pem = enc;
    }
    let files = vec![
        FileWrite {
            target: store::KEY.into(),
            bytes: key_pem.into_bytes(),
            mode: store::MODE_SECRET,
        },
        FileWrite::public(store::CSR, csr.clone()),
    ];
    Ok((files, csr))
}

/// A pending CA whose key is on a token (SPEC.md TOKEN-PENDING): ca.key is the key's
/// reference, ca.csr signed on the token.
pub fn plan_pending_on_token(
    subject: &Subject,
    key: &crate::pki::ca::CaKey,
    reference: &crate::token::KeyRef,
) -> Result<(Vec<FileWrite>, String)> {
    let csr = pending_request(subject, key)?;
    let files = vec![
        FileWrite {
            target: store::KEY.into(),
            bytes: reference.to_bytes(),
            mode: store::MODE_SECRET,
        },
        FileWrite::public(store::CSR, csr.clone()),
    ];
    Ok((files, csr))
}

/// The pending CA's request for `subject`, signed by its key.
fn pending_request(subject: &Subject, key: &impl rcgen::SigningKey) -> Result<String> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = subject
        .to_rcgen()
        .map_err(crate::pki::issuance::IssueError::Subject)?;
    params
        .serialize_request(key)
        .and_then(|r| r.pem())
        .map_err(|e| Error::signing(e, "making the certificate request"))
}
