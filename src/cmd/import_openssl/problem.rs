//! What `ca import-openssl` reports about what it cannot import: typed, with the messages
//! the report prints.

use std::path::PathBuf;

use crate::pki::serial::Serial;

/// What is wrong with one thing imported (a line of index.txt, its certificate file, a
/// counter): each is reported, named, and nothing is imported.
#[derive(Debug, thiserror::Error)]
pub(super) enum ImportProblem {
    #[error("{0} fields, expected 6")]
    Fields(usize),
    #[error("serial {0:?} is not hex")]
    SerialNotHex(String),
    #[error("{name}: {text:?} is not a hex number")]
    CounterNotHex { name: String, text: String },
    #[error("revocation date {0:?} is not YYMMDDHHMMSSZ")]
    RevocationDate(String),
    /// An unknown reason, or removeFromCRL (not a revocation outside delta CRLs).
    #[error(
        "revocation reason {0:?} is not one fileca records (removeFromCRL only means something in a delta CRL: give the certificate another reason in index.txt, or make it valid there)"
    )]
    Reason(String),
    #[error("unknown status {0:?}")]
    Status(String),
    #[error("name {} holds control, bidi or zero-width characters; not imported", crate::term::escape(.0))]
    UnsafeName(String),
    /// A file or certificate that cannot be read (the reader's own message).
    #[error("{0}")]
    Unreadable(String),
    #[error("{}: {err}", .path.display())]
    Pem {
        path: PathBuf,
        err: crate::pki::pem::PemError,
    },
    #[error("{} {why}", .path.display())]
    File { path: PathBuf, why: CertProblem },
    #[error("{} and {} are different certificates with serial {serial}", .first.display(), .second.display())]
    TwoFiles {
        first: PathBuf,
        second: PathBuf,
        serial: Serial,
    },
    #[error(
        "no certificate file for serial {0} in {dirs}, nor among {named}",
        dirs = super::BY_SERIAL.map(|(d, _)| format!("{d}/")).join(", "),
        named = super::BY_NAME.map(|d| format!("{d}/")).join(", ")
    )]
    NoFile(Serial),
}

/// Why a certificate file is not the one index.txt names (completes "FILE …").
#[derive(Debug, thiserror::Error)]
pub(super) enum CertProblem {
    #[error("is unreadable: {0}")]
    Unreadable(String),
    #[error("holds another serial")]
    OtherSerial,
    #[error("was not issued by the CA certificate")]
    NotIssued,
}
