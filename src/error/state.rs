//! What is wrong with a file of the state directory: [`StateError`], each layer's error about
//! a state file wrapped in one type (exit 5), which the caller pairs with the file's path.

use super::{model, policy, store};

/// What is wrong with a file of the state directory. The caller names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// index.json.
    #[error("{0}")]
    Header(#[from] model::HeaderError),
    #[error("{0}")]
    Policy(#[from] policy::PolicyFileError),
    /// index.log: a line (with its number), or the file.
    #[error("{0}")]
    Log(#[from] model::LogError),
    /// An index.json of format 1 or 2, read by `ca upgrade`.
    #[error("{0}")]
    Legacy(#[from] model::LegacyError),
    /// A state that is not the one index.json's signed checkpoint covers.
    #[error("{0}")]
    NotCurrent(#[from] model::NotCurrent),
    /// State files that cannot be acted on together (a counter, ca.key's mode, audit.log's
    /// last record, a certificate file).
    #[error("{0}")]
    Snapshot(#[from] model::SnapshotError),
    /// ocsp.key and ocsp.crt, the delegated OCSP responder (OCSP-RESPONDER).
    #[error("{0}")]
    Responder(#[from] model::ResponderError),
    /// ca.crl that does not parse (read back by `upgrade`).
    #[error("{0}")]
    Crl(#[from] crate::pki::crl::CrlError),
    /// ca.crl, read for `status`.
    #[error("{0}")]
    CrlInfo(#[from] store::CrlInfoError),
    /// The state directory itself.
    #[error("{0}")]
    Dir(#[from] store::DirError),
    /// A certificate file of the state directory (ca.crt, certs/SERIAL.pem).
    #[error("{0}")]
    Pem(#[from] crate::pki::pem::PemError),
    #[error("{0}")]
    CaCert(#[from] crate::pki::ca::CaCertError),
    /// A subject or SAN recorded in index.log, or ca.crt's subject.
    #[error("{0}")]
    Name(#[from] crate::pki::names::NameError),
    #[error("{0}")]
    Key(#[from] crate::pki::keys::KeyError),
    /// ca.key.
    #[error("{0}")]
    PrivateKey(#[from] crate::pki::keys::PrivateKeyError),
    /// An encrypted ca.key that is malformed (a wrong passphrase is a
    /// [`super::input::PassphraseError`]).
    #[error("{0}")]
    KeyDecrypt(#[from] crate::pki::keys::DecryptError),
    /// ca.key holding a token key reference that is not of its form (SPEC.md KEYREF).
    #[error("{0}")]
    KeyRef(#[from] crate::token::keyref::KeyRefError),
    #[error(
        "is {len} bytes but index.json records {recorded} (edited or truncated?); run `ca check`"
    )]
    LogLength { len: u64, recorded: u64 },
    #[error("is a symbolic link; fileca never follows symlinks inside the state directory")]
    Symlink,
    #[error("is not a regular file")]
    NotRegular,
    #[error(
        "has more than one name (a hard link); fileca does not use a state file that may be another file elsewhere"
    )]
    HardLink,
    #[error("is larger than fileca's 1 GiB limit")]
    TooLarge,
    /// A file of lines (audit.log) whose last byte is not a newline.
    #[error("does not end with a newline (truncated?)")]
    Unterminated,
    /// A CSR of the state directory (a pending CA's ca.csr) the gate refuses.
    #[error("{0}")]
    Csr(#[from] crate::pki::csr::CsrError),
    /// audit.log, read by `ca log`.
    #[error("{0}")]
    Audit(#[from] model::AuditError),
    /// acme.json (SPEC.md ACME-STATE) that is not the ACME server's state: the parser's words.
    #[error("is not valid ACME state: {0}")]
    AcmeState(String),
}
