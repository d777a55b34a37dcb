//! Where the CA key's passphrase comes from: `--passphrase-file FILE`, else the file named by
//! `$CA_PASSPHRASE_FILE`, else a prompt without echo when standard input is a terminal —
//! never a command-line argument (it would show in `ps` and shell history).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::input::InputError;

pub use crate::error::input::{ENV_FILE, MIN_NEW_CHARS};

/// Environment variable naming a file holding a token's PIN (SPEC.md TOKEN-PIN).
pub const ENV_PIN_FILE: &str = "CA_PIN_FILE";

/// A source of passphrases, and of the PIN of a token that holds the CA key: the same rules
/// for both (a file read before the lock, size-limited, FIFOs allowed, a warning when others
/// can read it; else a prompt on a terminal; never the command line).
#[derive(Debug, Clone, Default)]
pub struct Source {
    file: Option<PathBuf>,
    /// The passphrase read ahead of the lock ([`Source::read_ahead`]).
    early: std::sync::OnceLock<Zeroizing<String>>,
    /// `--pin-file`, else `$CA_PIN_FILE`.
    pin_file: Option<PathBuf>,
    /// The PIN read ahead of the lock.
    early_pin: std::sync::OnceLock<Zeroizing<String>>,
}

impl Source {
    /// `--passphrase-file`, else `$CA_PASSPHRASE_FILE`.
    pub fn new(file: Option<PathBuf>) -> Source {
        Source {
            file: file.or_else(|| std::env::var_os(ENV_FILE).map(PathBuf::from)),
            early: std::sync::OnceLock::new(),
            pin_file: std::env::var_os(ENV_PIN_FILE).map(PathBuf::from),
            early_pin: std::sync::OnceLock::new(),
        }
    }

    /// With `--pin-file` (which wins over `$CA_PIN_FILE`).
    pub fn with_pin_file(mut self, pin_file: Option<PathBuf>) -> Source {
        if pin_file.is_some() {
            self.pin_file = pin_file;
        }
        self
    }

    /// The same PIN (file, and the PIN already read), and no passphrase: for the new sub-CA
    /// of `init --parent`, whose key is never encrypted but may be on a token.
    pub fn pin_only(&self) -> Source {
        Source {
            file: None,
            early: std::sync::OnceLock::new(),
            pin_file: self.pin_file.clone(),
            early_pin: self.early_pin.clone(),
        }
    }

    /// The PIN file, if one was given.
    pub fn pin_file(&self) -> Option<&Path> {
        self.pin_file.as_deref()
    }

    /// The PIN of the token `token` (its label, for the prompt), now: the one read ahead, the
    /// PIN file's first line, or a prompt on a terminal. Called before the lock.
    pub fn pin_now(&self, token: &str) -> Result<Zeroizing<String>> {
        if let Some(p) = self.early_pin.get() {
            return Ok(p.clone());
        }
        let pin = match &self.pin_file {
            Some(path) => read_secret_file(path, "PIN file")?,
            None if std::io::stdin().is_terminal() => {
                prompt(&format!("PIN for the token {token:?}"))?
            }
            None => return Err(crate::token::TokenError::PinNeeded(token.to_string()).into()),
        };
        let _ = self.early_pin.set(pin.clone());
        Ok(pin)
    }

    /// The PIN for the key `reference` names once the command holds the lock: the one read
    /// ahead or the PIN file's; never a prompt (a terminal must not hold the lock).
    pub fn pin(&self, reference: &crate::token::KeyRef) -> Result<Zeroizing<String>> {
        let token = reference.uri.token.clone().unwrap_or_default();
        if let Some(p) = self.early_pin.get() {
            return Ok(p.clone());
        }
        match &self.pin_file {
            Some(path) => read_secret_file(path, "PIN file"),
            None => Err(crate::token::TokenError::PinNeeded(token).into()),
        }
    }

    /// Reads the CA key's passphrase now, before the command takes the directory's lock, if
    /// `key_pem` (ca.key as read without the lock) is encrypted: a slow prompt or a FIFO must
    /// not hold the lock (SPEC.md HOSTILE-INPUT). Later [`Source::get`] calls return it.
    pub fn read_ahead(&self, key_pem: &[u8], what: &str) -> Result<()> {
        if crate::token::KeyRef::is_reference(key_pem) {
            // A token key: its PIN, asked now (a reference that does not parse is reported
            // under the lock, naming ca.key).
            if let Ok(reference) = crate::token::KeyRef::parse(key_pem) {
                self.pin_now(reference.uri.token.as_deref().unwrap_or_default())?;
            }
            return Ok(());
        }
        if self.early.get().is_none()
            && crate::pki::keys::is_encrypted(&String::from_utf8_lossy(key_pem))
        {
            let pass = self.get(what)?;
            let _ = self.early.set(pass);
        }
        Ok(())
    }

    /// The passphrase file, if one was given.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Was a passphrase file given (`--passphrase-file` or its environment variable)?
    pub fn given(&self) -> bool {
        self.file.is_some()
    }

    /// Can a passphrase be had without failing (a file, or a terminal to ask)?
    pub fn available(&self) -> bool {
        self.file.is_some() || std::io::stdin().is_terminal()
    }

    /// The passphrase of the key at `key_path` once the command holds the lock: the one read
    /// ahead, or the file's; never a prompt (a terminal must not hold the lock: a ca.key that
    /// became encrypted while the command waited is refused, and the command run again).
    pub fn read_early(&self, key_path: &Path) -> Result<Zeroizing<String>> {
        if let Some(p) = self.early.get() {
            return Ok(p.clone());
        }
        match &self.file {
            Some(path) => read_file(path),
            None => Err(PassphraseError::ChangedUnderLock(key_path.to_path_buf()).into()),
        }
    }

    /// The passphrase; `what` names it in the prompt and in errors.
    pub fn get(&self, what: &str) -> Result<Zeroizing<String>> {
        if let Some(p) = self.early.get() {
            return Ok(p.clone());
        }
        match &self.file {
            Some(path) => read_file(path),
            None if std::io::stdin().is_terminal() => prompt(what),
            None => Err(PassphraseError::Needed(what.to_string()).into()),
        }
    }
}

pub use crate::error::input::PassphraseError;

/// A new passphrase (`init --encrypt-key`, `passwd`): the first line of `file`, or typed twice
/// on the terminal (a typo would make ca.key unrecoverable). Refused, changing nothing, when
/// the two differ or it is shorter than [`MIN_NEW_CHARS`] (SPEC.md PASSWD-NEW).
pub fn new_passphrase(
    file: Option<&Path>,
    (what, flag): (&str, &'static str),
) -> Result<Zeroizing<String>> {
    let pass = match file {
        Some(path) => read_file(path)?,
        None if std::io::stdin().is_terminal() => {
            let first = prompt(what)?;
            let again = prompt(&format!("{what} (again)"))?;
            if first != again {
                return Err(PassphraseError::Differ.into());
            }
            first
        }
        None => {
            return Err(PassphraseError::NeededTwice {
                what: what.to_string(),
                flag,
            }
            .into());
        }
    };
    if pass.chars().count() < MIN_NEW_CHARS {
        return Err(PassphraseError::TooShort {
            what: what.to_string(),
            file: file.map(Path::to_path_buf),
        }
        .into());
    }
    Ok(pass)
}

/// How much of a passphrase file is read: its first line must end within it. What follows is
/// never read, so a `pass` entry with long notes after the password works.
pub const MAX_FILE_BYTES: usize = 4096;

/// The first line of a passphrase file (a regular file, pipe or FIFO; see [`crate::input`]),
/// without its line end.
pub fn read_file(path: &Path) -> Result<Zeroizing<String>> {
    read_secret_file(path, "passphrase file")
}

/// The first line of a file holding a secret (`what`: "passphrase file", "PIN file").
fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let input = crate::input::open(path, u64::MAX)?;
    // A secret others can read is worth a warning, never a refusal (a shared lab may want it).
    if !input.is_pipe()
        && let Ok(meta) = input.file.metadata()
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o044 != 0 {
            crate::term::warn(&format!(
                "warning: the {what} {} is readable by other users (mode {mode:o}); \
                 chmod 600 it",
                crate::term::escape(&path.display().to_string())
            ));
        }
    }
    // Capacity for everything `take` lets through, so the buffer never moves (and leaves no
    // copy of the passphrase behind).
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_FILE_BYTES + 1));
    (&input.file)
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::input(path, InputError::Read(e)))?;
    if bytes.is_empty() && input.is_pipe() {
        return Err(crate::input::no_data(path));
    }
    let first = match bytes.iter().position(|&b| b == b'\n') {
        Some(end) => &bytes[..end],
        None if bytes.len() > MAX_FILE_BYTES => {
            return Err(Error::input(
                path,
                InputError::LongPassphrase(MAX_FILE_BYTES),
            ));
        }
        None => &bytes[..],
    };
    let line = std::str::from_utf8(first)
        .map_err(|_| Error::input(path, InputError::PassphraseNotUtf8))?
        .trim_end_matches('\r');
    if line.is_empty() {
        return Err(Error::input(path, InputError::EmptyPassphrase));
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Asks on the terminal with echo off (rpassword: reads /dev/tty, restores its settings).
/// A passphrase typed once on the terminal (`what` names it); without a terminal, the error
/// says which file option to give instead.
pub fn ask(what: &str) -> Result<Zeroizing<String>> {
    match std::io::stdin().is_terminal() {
        true => prompt(what),
        false => Err(PassphraseError::Needed(what.to_string()).into()),
    }
}

fn prompt(what: &str) -> Result<Zeroizing<String>> {
    crate::term::prompt(&format!("{}: ", crate::term::escape(what)));
    let line = Zeroizing::new(rpassword::read_password().map_err(|e| Error::io("<terminal>", e))?);
    let trimmed = line.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(PassphraseError::Empty(what.to_string()).into());
    }
    Ok(Zeroizing::new(trimmed.to_string()))
}
