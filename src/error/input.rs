//! Why an input the operator named cannot be used (a file, a pipe, a passphrase): the
//! types [`crate::input`] and [`crate::passphrase`] return, and the constants their messages
//! state.

/// Environment variable naming a passphrase file.
pub const ENV_FILE: &str = "CA_PASSPHRASE_FILE";

/// The shortest new passphrase fileca accepts, in characters (NIST SP 800-63B's minimum for a
/// memorized secret). Existing keys keep working whatever their passphrase.
pub const MIN_NEW_CHARS: usize = 8;

/// `limit` in the units SPEC.md uses (`64 KiB`, `16 MiB`, or bytes).
pub(crate) fn size(limit: u64) -> String {
    match limit {
        l if l >= 1 << 20 && l % (1 << 20) == 0 => format!("{} MiB", l >> 20),
        l if l >= 1 << 10 && l % (1 << 10) == 0 => format!("{} KiB", l >> 10),
        l => format!("{l}-byte"),
    }
}

/// Why a file the user named cannot be used. The caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// It could not be opened (the OS error: missing, permission denied…).
    #[error("{0}")]
    Open(std::io::Error),
    /// Reading it failed.
    #[error("{0}")]
    Read(std::io::Error),
    #[error("{0}; fileca reads only regular files, pipes and FIFOs")]
    Kind(&'static str),
    #[error("is larger than the {} limit", size(*.0))]
    TooLarge(u64),
    #[error("is a pipe or FIFO that gave no data (no writer, or it wrote nothing)")]
    NoData,
    #[error(
        "is not a regular file; a directory batch takes only regular files (name a pipe or FIFO on the command line instead)"
    )]
    BatchNotRegular,
    #[error("line {line} is longer than {max} bytes (a path is at most that)")]
    LongLine { line: usize, max: usize },
    #[error("names more than {0} entries; split the batch")]
    TooManyEntries(usize),
    #[error("the first line of the passphrase file is longer than {0} bytes")]
    LongPassphrase(usize),
    #[error("passphrase file is not UTF-8")]
    PassphraseNotUtf8,
    #[error("passphrase file is empty")]
    EmptyPassphrase,
    #[error("not UTF-8")]
    NotUtf8,
    #[error("{0}")]
    PrivateKey(#[from] crate::pki::keys::PrivateKeyError),
    #[error("{0}")]
    CaCert(#[from] crate::pki::ca::CaCertError),
    #[error("{0}")]
    Pem(#[from] crate::pki::pem::PemError),
    #[error("does not match the public key in {}", .0.display())]
    KeyMismatch(std::path::PathBuf),
    /// An openssl.cnf fileca cannot read (import-openssl).
    #[error("{0}")]
    Config(#[from] crate::cnf::CnfError),
    /// An openssl.cnf without the value import-openssl needs.
    #[error("has no {0} (import-openssl reads the section [ca] default_ca names)")]
    ConfigMissing(String),
}

/// Why no usable passphrase was had (exit 3; nothing is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseError {
    #[error(
        "{0} is needed: give --passphrase-file FILE or set {ENV_FILE} (standard input is not a terminal to ask on)"
    )]
    Needed(String),
    #[error("{what} is needed: give {flag} FILE, or run on a terminal to type it twice")]
    NeededTwice { what: String, flag: &'static str },
    #[error("the two passphrases differ; nothing was changed")]
    Differ,
    #[error("the {what}{} is shorter than {MIN_NEW_CHARS} characters; nothing was changed", .file.as_ref().map(|f| format!(" (from {})", crate::pki::text::escape(&f.display().to_string()))).unwrap_or_default())]
    TooShort {
        what: String,
        file: Option<std::path::PathBuf>,
    },
    #[error("empty {0}")]
    Empty(String),
    /// The key was not encrypted when the command started, and is now that it holds the lock.
    #[error(
        "{} became encrypted while this command waited for the lock; nothing was changed: run it again",
        .0.display()
    )]
    ChangedUnderLock(std::path::PathBuf),
    /// The passphrase does not decrypt the key at this path.
    #[error("wrong passphrase for {} (nothing was changed)", .0.display())]
    Wrong(std::path::PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_as_in_the_spec() {
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(1000), "1000-byte");
    }
}
