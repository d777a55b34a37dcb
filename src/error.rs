//! The one error type of fileca and the exit code each kind of failure maps to.
//!
//! Exit codes are part of the contract (SPEC.md, section "Exit codes"): scripts rely on them,
//! so a variant's code never changes once released.

use std::io;
use std::path::PathBuf;

pub mod input;
pub mod model;
pub mod policy;
pub mod refusal;
mod signing;
mod state;
pub use state::StateError;
pub mod store;

/// Exit codes. See SPEC.md `EXIT-*`.
pub mod exit {
    /// The command succeeded.
    pub const OK: i32 = 0;
    /// `ca check` found problems.
    pub const PROBLEMS: i32 = 1;
    /// The command line could not be parsed (clap's own code).
    pub const USAGE: i32 = 2;
    /// Validation refused the request: bad input or a policy violation.
    pub const REFUSED: i32 = 3;
    /// An I/O operation failed.
    pub const IO: i32 = 4;
    /// The state directory is missing, corrupt or needs manual attention.
    pub const STATE: i32 = 5;
    /// Another command held the lock for longer than `--lock-timeout`.
    pub const BUSY: i32 = 6;
    /// `--expect-generation` did not match: the CA changed since it was read.
    pub const CONFLICT: i32 = 7;
    /// The change is committed, but an output (a file, stdout or stderr) was not delivered.
    pub const UNDELIVERED: i32 = 8;
    /// Making the commit point durable failed: the change may or may not have happened; the
    /// next command settles it.
    pub const UNKNOWN: i32 = 9;
    /// A bug in fileca.
    pub const INTERNAL: i32 = 70;

    /// Every exit code in a few words, as SPEC.md's table (section 5, EXIT-TABLE) names them
    /// in its "in short" column; `ca --help` lists them ([`help`]), as does the README
    /// (tests/edges.rs checks that the three agree).
    pub const TABLE: &[(&str, &str)] = &[
        ("0", "success"),
        ("1", "problems found"),
        ("2", "usage error"),
        ("3", "refused"),
        ("4", "I/O error"),
        ("5", "bad state"),
        ("6", "lock timeout"),
        ("7", "generation mismatch"),
        ("8", "output not delivered"),
        ("9", "outcome unknown"),
        ("10–17", "verify verdicts"),
        ("70", "internal error"),
    ];

    /// The exit codes as `ca --help` ends: one line, from [`TABLE`].
    pub fn help() -> String {
        let codes: Vec<String> = TABLE.iter().map(|(c, m)| format!("{c} {m}")).collect();
        format!("Exit codes (SPEC.md section 5): {}.", codes.join(", "))
    }
}

/// Every way a fileca command can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named file failed. The message holds the OS error, so it is not
    /// also a `source` (main.rs prints one line, never the cause twice).
    #[error("{}: {err}", Shown(path))]
    Io { path: PathBuf, err: io::Error },
    /// The request was refused before any state was read (command-line rules, the files a
    /// command would create); nothing was written.
    #[error("{0}")]
    Refused(#[from] Refused),
    /// No usable passphrase for a key (SPEC.md ENCRYPT-KEY, PASSWD-NEW); nothing was written.
    #[error("{0}")]
    Passphrase(#[from] input::PassphraseError),
    /// An output file or directory (`--out`, `--out-dir`) cannot be written as asked.
    #[error("{0}")]
    Output(#[from] store::OutputRefusal),
    /// A certificate could not be built from a request (SPEC.md SIGN-*). Never
    /// `IssueError::Crypto`, which converts to [`Error::Crypto`].
    #[error("{0}")]
    Issue(crate::pki::issuance::IssueError),
    /// A cryptographic library failed on fileca's own keys or certificates: a bug. (A token
    /// that fails to sign is [`Error::Token`], see `From<CryptoError>`.)
    #[error("internal error: {0}")]
    Crypto(crate::pki::CryptoError),
    /// The CA key on a PKCS#11 token cannot be used (SPEC.md TOKEN-*); nothing was written.
    #[error("{0}")]
    Token(#[from] crate::token::TokenError),
    /// A PKCS#12 bundle (`issue --p12`) could not be written; nothing was written.
    #[error("{0}; nothing was written")]
    P12(#[from] crate::pki::p12::P12Error),
    /// A key could not be encrypted (`init`, `issue --encrypt-key`, `passwd`,
    /// `import-openssl`); nothing was written.
    #[error("encrypting the key: {0}; nothing was written")]
    KeyEncryption(#[from] crate::pki::keys::EncryptError),
    /// A CSR refused by the gate (SPEC.md `CSR-*`); nothing was written.
    #[error("{}: {err}", Shown(path))]
    Csr {
        path: PathBuf,
        err: crate::pki::csr::CsrError,
    },
    /// A subject or SAN given on the command line (`what`: `--subject`, `--san`) is refused.
    #[error("{what}: {err}")]
    Name {
        what: &'static str,
        err: crate::pki::names::NameError,
    },
    /// A malformed `--permit`/`--exclude` (SPEC.md NC-*).
    #[error("{what}: {err}")]
    Constraint {
        what: &'static str,
        err: crate::pki::constraints::ConstraintError,
    },
    /// A malformed argument value that clap does not parse itself (a serial, a man page name).
    #[error("{0}")]
    Usage(String),
    /// A typed serial names no single certificate (SPEC.md SERIAL-INPUT).
    #[error("{0}")]
    Serial(#[from] model::SerialLookup),
    /// A plan refused the change (SPEC.md's refusals of sign, revoke, crl…).
    #[error("{0}")]
    Refusal(#[from] refusal::Refusal),
    /// A file given on the command line could not be used as input.
    #[error("{}: {err}", Shown(path))]
    Input {
        path: PathBuf,
        err: input::InputError,
    },
    /// A file of the state directory is missing or does not hold what SPEC.md says it must.
    #[error("{}: {problem}", Shown(path))]
    State { path: PathBuf, problem: StateError },
    /// The directory is a pending CA: no certificate yet (SPEC.md PENDING-REFUSE).
    #[error(
        "{} is a pending CA (its key and the request {}/ca.csr, no certificate yet): have its parent sign the request (`ca --dir PARENT sign {}/ca.csr --profile sub-ca --out CERT`), then run `ca --dir {} install-ca CERT`",
        Shown(.0),
        Shown(.0),
        Shown(.0),
        Shown(.0)
    )]
    Pending(PathBuf),
    /// `init` found a CA (or other files) where it was asked to create one.
    #[error("{}: {msg}", Shown(path))]
    Exists { path: PathBuf, msg: String },
    /// The private key in ca.key does not belong to the certificate in ca.crt.
    #[error(
        "the private key in {} does not match the public key in {}",
        Shown(key),
        Shown(cert)
    )]
    KeyCertMismatch { key: PathBuf, cert: PathBuf },
    /// A previous command was interrupted and its recovery could not complete.
    #[error("recovery needed in {}: {msg}", Shown(dir))]
    Recovery { dir: PathBuf, msg: String },
    /// Recovery could not read or write what it needed (an I/O error): it decided nothing,
    /// kept the journal and removed nothing; the next command retries (SPEC.md
    /// RECOVER-NO-GUESS).
    #[error(
        "recovering the interrupted {op} in {}: {msg}; nothing was decided, the journal is kept \
         and nothing was removed: the next ca command retries",
        Shown(dir)
    )]
    RecoveryIo {
        dir: PathBuf,
        op: String,
        msg: String,
    },
    /// `--out` names a stream that cannot be written (a FIFO without a reader: refused before
    /// the commit).
    #[error("{0}")]
    Stream(#[from] store::StreamError),
    /// Another command held the lock for too long.
    #[error(
        "{} is locked by another ca command; gave up after {secs} s (raise --lock-timeout to wait longer)",
        Shown(lock)
    )]
    Busy { lock: PathBuf, secs: u64 },
    /// Check-and-set failed.
    #[error(
        "state changed since generation {expected} (now {actual}); re-read it with `ca status` and retry"
    )]
    Conflict { expected: u64, actual: u64 },
    /// The change is committed, but an output was not delivered.
    #[error("{msg}")]
    Undelivered { msg: String },
    /// The outcome of the change is unknown until the next command recovers.
    #[error("outcome unknown: {msg}")]
    Unknown { msg: String },
    /// Something that cannot happen did; a bug (exit 70). `what` names the invariant that
    /// broke; `cause` is the library error that showed it, when one did.
    #[error("internal error: {what}{}", .cause.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Internal {
        what: &'static str,
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A read command's stdout was closed by its reader (`| head -1`): a normal end, exit 0,
    /// nothing printed.
    #[error("stdout was closed")]
    Closed,
}

impl Error {
    /// A bug: `what` (an invariant, in words fixed at compile time) did not hold.
    pub fn bug(what: &'static str) -> Self {
        Error::Internal { what, cause: None }
    }

    /// A bug shown by a library's error `cause` while doing `what`.
    pub fn bug_in(
        what: &'static str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Internal {
            what,
            cause: Some(Box::new(cause)),
        }
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io { .. } | Error::RecoveryIo { .. } => exit::IO,
            Error::Stream(
                store::StreamError::NoReader(_) | store::StreamError::NotWritable { .. },
            ) => exit::REFUSED,
            Error::Stream(store::StreamError::Io { .. }) => exit::IO,
            // A malformed --subject or --san is a bad option value, like clap's own.
            Error::Name { .. } | Error::Constraint { .. } | Error::Usage(_) => exit::USAGE,
            // `sign - -`: what was typed, not what the files hold.
            Error::Refused(Refused::StdinInBatch) => exit::USAGE,
            Error::Refused(_)
            | Error::Passphrase(_)
            | Error::Output(_)
            | Error::Issue(_)
            | Error::P12(_)
            | Error::KeyEncryption(_)
            | Error::Csr { .. }
            | Error::Refusal(_)
            | Error::Serial(_)
            | Error::Input { .. }
            | Error::Pending(_)
            | Error::Exists { .. } => exit::REFUSED,
            Error::State { .. } | Error::KeyCertMismatch { .. } | Error::Recovery { .. } => {
                exit::STATE
            }
            Error::Busy { .. } => exit::BUSY,
            Error::Conflict { .. } => exit::CONFLICT,
            Error::Undelivered { .. } => exit::UNDELIVERED,
            Error::Unknown { .. } => exit::UNKNOWN,
            Error::Internal { .. } | Error::Crypto(_) => exit::INTERNAL,
            // A token key that changed: bad state; a failing token: I/O; no module: usage.
            Error::Token(crate::token::TokenError::KeyChanged { .. }) => exit::STATE,
            Error::Token(crate::token::TokenError::Failed { .. }) => exit::IO,
            Error::Token(crate::token::TokenError::NoModule { .. }) => exit::USAGE,
            Error::Token(_) => exit::REFUSED,
            Error::Closed => exit::OK,
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, err: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err,
        }
    }

    /// A bad state file: `problem` is a [`StateError`] or one of the typed errors it carries
    /// (`HeaderError`, `LogError`, `SnapshotError`…), or text ([`StateError::Corrupt`]).
    pub fn state(path: impl Into<PathBuf>, problem: impl Into<StateError>) -> Self {
        Error::State {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// A file given on the command line that cannot be used.
    pub fn input(path: impl Into<PathBuf>, err: input::InputError) -> Self {
        Error::Input {
            path: path.into(),
            err,
        }
    }

    /// A CSR refused by the gate.
    pub fn csr(path: impl Into<PathBuf>, err: crate::pki::csr::CsrError) -> Self {
        Error::Csr {
            path: path.into(),
            err,
        }
    }
}

impl From<crate::pki::issuance::IssueError> for Error {
    /// A signing failure is a bug (exit 70), not a refusal of the request.
    fn from(err: crate::pki::issuance::IssueError) -> Self {
        match err {
            crate::pki::issuance::IssueError::Crypto(e) => Error::from(e),
            other => Error::Issue(other),
        }
    }
}

/// Requests refused by the rules of the command line, before any state is read (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// `ca issue` run again for a pair an interrupted one committed (RECOVER-UNDELIVERED),
    /// whose certificate may no longer be delivered.
    #[error(
        "certificate {serial}, which an interrupted ca issue made for this name, is not \
         delivered: {why}. Its key is in {}: remove that directory (rm -r), then issue again",
        Shown(staged)
    )]
    Undeliverable {
        serial: String,
        why: String,
        staged: PathBuf,
    },
    #[error("--san applies to one certificate; sign several CSRs without it")]
    SanInBatch,
    /// `ca acme eab add --id ID` with an id that is not allowed or already exists.
    #[error("EAB key id {id:?}: {why}")]
    EabId { id: String, why: &'static str },
    /// `ca ocsp` on a CA without ocsp.key and ocsp.crt (SPEC.md OCSP-PRESIGN).
    #[error(
        "{} has no OCSP responder: run `ca ocsp-responder renew` (it needs the CA key) first",
        Shown(.0)
    )]
    NoOcspResponder(PathBuf),
    /// The responder certificate has expired: no response it signs would be accepted.
    #[error(
        "the OCSP responder certificate in {} expired on {}: run `ca ocsp-responder renew`",
        Shown(.dir),
        crate::pki::rfc3339::fmt(*.at)
    )]
    OcspResponderExpired {
        dir: PathBuf,
        at: time::OffsetDateTime,
    },
    #[error("--out takes one certificate; use --out-dir for a batch")]
    OutInBatch,
    /// Some CSRs of a batch were refused by the gate: each with its own error.
    #[error(
        "{} of {total} CSRs refused, nothing was issued:\n  {}",
        .refused.len(),
        .refused.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  ")
    )]
    Batch { total: usize, refused: Vec<Error> },
    #[error("two CSRs would both be written to {} (same file stem)", Shown(.0))]
    SameStem(PathBuf),
    /// A policy file that does not validate (SPEC.md POLICY-VALIDATE): every problem.
    #[error(
        "{} is not a valid policy; nothing was changed:\n  {}",
        Shown(.file),
        .problems.iter().map(|p| crate::pki::text::escape(&p.to_string())).collect::<Vec<_>>().join("\n  ")
    )]
    Policy {
        file: PathBuf,
        problems: Vec<policy::Problem>,
    },
    /// Internal to `policy apply`: the file is the policy in force (reported, exit 0).
    #[error("the policy (sha256 {0}) is already in force")]
    PolicyUnchanged(String),
    #[error(
        "the editor ({}) failed; nothing was applied. Your edit is kept in {}: `ca policy apply {}`",
        crate::pki::text::escape(.editor), Shown(.kept), Shown(.kept)
    )]
    EditorFailed { editor: String, kept: PathBuf },
    #[error("the edited policy is not valid and was not applied; nothing was changed")]
    PolicyEditAbandoned,
    /// One CSR of a batch the plan refused (the policy, name constraints, SIGN-HOST).
    #[error("{}: {}", Shown(.path), .why.reason())]
    InBatch {
        path: PathBuf,
        why: Box<refusal::Refusal>,
    },
    #[error("no CSR to sign (an empty directory or list?)")]
    NoCsr,
    #[error("`-` (standard input) cannot be part of a batch")]
    StdinInBatch,
    #[error("--subject must not be empty")]
    EmptySubject,
    #[error("give a SERIAL or --cert FILE")]
    RevokeTarget,
    #[error("{}: cannot create a CA here; name a new directory", Shown(.0))]
    CannotCreate(PathBuf),
    #[error("{}: parent directory does not exist", Shown(.0))]
    NoParent(PathBuf),
    /// `ca upgrade` raced with another upgrade: the directory is current now.
    #[error("{} is already format {format}; nothing to upgrade", Shown(.index))]
    AlreadyCurrent { index: PathBuf, format: u32 },
    /// `import-openssl`: the source directory disagrees with itself.
    #[error("{} is inconsistent; nothing was imported:\n  {}", .src.display(), .problems.join("\n  "))]
    ImportInconsistent { src: PathBuf, problems: Vec<String> },
    /// `import-openssl`: no CA key or certificate where the layouts keep them.
    #[error(
        "{}: none of {} found; name it with --ca-key/--ca-cert",
        .src.display(),
        .tried.join(", ")
    )]
    ImportMissing { src: PathBuf, tried: Vec<String> },
    /// `install-ca` on a directory that is not a pending CA (or changed meanwhile).
    #[error(
        "{} is not a pending CA (made by `ca init --csr-out`, not yet installed); nothing was changed",
        Shown(.0)
    )]
    NotPending(PathBuf),
    /// `export --key` of a key that is not the certificate's.
    #[error(
        "{} is not the key of certificate {serial} (its public key differs); nothing was written",
        Shown(.key)
    )]
    ExportKeyMismatch { key: PathBuf, serial: String },
    /// `export --p12 -` or a binary bundle onto a terminal.
    #[error("a PKCS#12 bundle is binary: give --p12 or --p12-legacy a file, not a terminal")]
    P12ToTerminal,
    /// `init --parent`: the parent signed a certificate for the new CA's key while this run
    /// waited for its lock (another run of the same command); that one is installed.
    #[error("the parent issued certificate {serial} for this key meanwhile")]
    IssuedMeanwhile { serial: String },
    /// `backup --tar -` onto a terminal.
    #[error("a tar archive is binary: give backup --tar a file, or pipe it")]
    TarToTerminal,
    /// `export` onto an existing file.
    #[error("{}: already exists; fileca never replaces it: give {option} a new name", Shown(.path))]
    ExportExists { path: PathBuf, option: &'static str },
    /// `init --csr-out` onto an existing file.
    #[error("{}: already exists; fileca never replaces it: give --csr-out a new name", Shown(.0))]
    CsrOutExists(PathBuf),
    /// A pending directory holding what `init --csr-out` did not make.
    #[error(
        "{}: a pending CA holds only .lock, ca.key, ca.csr and an empty certs/; install-ca replaces the whole directory, so move this away first",
        Shown(.0)
    )]
    PendingHolds(PathBuf),
    /// `install-ca` of a certificate for another key.
    #[error(
        "{} does not certify the key of the pending CA in {} (was it issued for its ca.csr?)",
        Shown(.cert),
        Shown(.dir)
    )]
    NotForThisKey { cert: PathBuf, dir: PathBuf },
    /// `install-ca` of a certificate that does not chain to a root.
    #[error("{}: {err}", Shown(.cert))]
    Chain {
        cert: PathBuf,
        err: crate::pki::chain::ChainError,
    },
    /// `init --parent` resumed on a pending CA made for another subject.
    #[error(
        "{} is a pending CA for another subject than {asked:?}; resume with its own subject, or choose another --dir",
        Shown(.dir)
    )]
    ParentSubject { dir: PathBuf, asked: String },
    #[error("--san: {0}")]
    SanCount(crate::pki::names::NameError),
    /// The debug-build test hook FILECA_NOW holds no RFC 3339 time.
    #[error("FILECA_NOW={value:?}: {err}")]
    TestClock { value: String, err: String },
}

/// A path as errors print it: as is, unless it holds control, bidi or zero-width characters,
/// which are escaped (`term::escape`), so that a file name (from a `--from-list` line, say)
/// can never drive the terminal.
struct Shown<'a>(pub &'a std::path::Path);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string_lossy();
        if text.chars().any(crate::pki::text::is_unsafe) {
            f.write_str(&crate::pki::text::escape(&text))
        } else {
            f.write_str(&text)
        }
    }
}

/// The result type of fileca.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A signing failure stays a bug (exit 70, the words it had); a PKCS#12 bundle or a key
    /// that cannot be encrypted is a refusal (exit 3), not "a bug".
    #[test]
    fn pki_failures_keep_their_kind_and_exit_code() {
        use crate::pki::CryptoError;
        use crate::pki::issuance::IssueError;
        let signing = Error::from(IssueError::Crypto(CryptoError::NoKey));
        assert!(matches!(signing, Error::Crypto(CryptoError::NoKey)));
        assert_eq!(signing.exit_code(), exit::INTERNAL);
        assert_eq!(
            signing.to_string(),
            "internal error: the CA key was not loaded"
        );
        let refused = Error::from(IssueError::EmptySubject);
        assert!(matches!(refused, Error::Issue(IssueError::EmptySubject)));
        assert_eq!(refused.exit_code(), exit::REFUSED);
        let p12 = Error::from(crate::pki::p12::P12Error::Write(
            p12_keystore::error::Error::InvalidParameters,
        ));
        assert_eq!(p12.exit_code(), exit::REFUSED);
        assert_eq!(
            p12.to_string(),
            "writing the PKCS#12 bundle: Invalid parameters; nothing was written"
        );
        let sealing = crate::pki::keys::Sealing {
            salt: [0; 16],
            iv: [0; 16],
        };
        let encrypt = crate::pki::keys::encrypt_pem("not PEM", "pass", sealing).unwrap_err();
        assert!(matches!(encrypt, crate::pki::keys::EncryptError::Pem(_)));
        assert_eq!(Error::from(encrypt).exit_code(), exit::REFUSED);
    }

    #[test]
    fn paths_with_control_characters_are_escaped_in_errors() {
        use input::InputError;
        let e = Error::input("/tmp/\x1b[31mred\x07.pem", InputError::NoData);
        assert!(
            e.to_string()
                .starts_with(r"/tmp/\u{001b}[31mred\u{0007}.pem: is a pipe"),
            "{e}"
        );
        let e = Error::input("/tmp/plain name.pem", InputError::NotUtf8);
        assert_eq!(e.to_string(), "/tmp/plain name.pem: not UTF-8");
    }
}
