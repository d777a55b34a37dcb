//! Files named on the command line (CSRs, `--from-list`, passphrase files, keys and
//! certificates to import or verify): fileca reads them without ever hanging and within a
//! size limit (SPEC.md section 6, HOSTILE-INPUT).
//!
//! A file is opened with O_NONBLOCK, so opening a FIFO with no writer returns at once instead
//! of waiting for one; `fstat` then decides. Regular files are read up to their limit. Pipes
//! and FIFOs (`--passphrase-file <(pass show ca)`) get blocking reads back: a writer that is
//! still producing is waited for, and a FIFO without a writer reads as end of file at once;
//! one that gave no data is refused. Devices (`/dev/zero`, a disk), directories and sockets
//! are refused: a device can be endless.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::error::{Error, Result};

pub use crate::error::input::InputError;

/// An input file, open for blocking reads.
#[derive(Debug)]
pub struct Input {
    pub file: File,
    /// The length of a regular file; `None` for a pipe or FIFO, whose length is unknown.
    pub len: Option<u64>,
}

impl Input {
    /// Is this a pipe or FIFO?
    pub fn is_pipe(&self) -> bool {
        self.len.is_none()
    }
}

/// Opens `path` for reading without blocking on a FIFO; refuses what is neither a regular
/// file nor a pipe or FIFO, and a regular file longer than `limit` bytes.
pub fn open(path: &Path, limit: u64) -> Result<Input> {
    let file =
        crate::fsio::open_read(path, false).map_err(|e| Error::input(path, InputError::Open(e)))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::input(path, InputError::Read(e)))?;
    let kind = meta.file_type();
    if kind.is_file() {
        if meta.len() > limit {
            return Err(too_large(path, limit));
        }
        return Ok(Input {
            file,
            len: Some(meta.len()),
        });
    }
    if kind.is_fifo() {
        // Blocking reads from here on: a FIFO with no writer reads as end of file (POSIX
        // read(2)), and a writer still at work is waited for like standard input.
        let flags = rustix::fs::fcntl_getfl(&file).map_err(|e| Error::io(path, e.into()))?;
        rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| Error::io(path, e.into()))?;
        return Ok(Input { file, len: None });
    }
    let kind = if kind.is_char_device() || kind.is_block_device() {
        "is a device"
    } else if kind.is_dir() {
        "is a directory"
    } else if kind.is_socket() {
        "is a socket"
    } else {
        "is not a regular file"
    };
    Err(Error::input(path, InputError::Kind(kind)))
}

/// Reads all of `path`, at most `limit` bytes: a regular file, or a pipe or FIFO that gives
/// some data.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let input = open(path, limit)?;
    let mut buf = Vec::with_capacity(input.len.unwrap_or(0) as usize);
    let got = (&input.file)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::input(path, InputError::Read(e)))?;
    if got as u64 > limit {
        return Err(too_large(path, limit));
    }
    if got == 0 && input.is_pipe() {
        return Err(no_data(path));
    }
    Ok(buf)
}

/// The refusal of a pipe or FIFO from which nothing could be read.
pub fn no_data(path: &Path) -> Error {
    Error::input(path, InputError::NoData)
}

/// The refusal of an input over its limit.
pub fn too_large(path: &Path, limit: u64) -> Error {
    Error::input(path, InputError::TooLarge(limit))
}

/// Reads a CSR from a file, pipe or FIFO (never blocking on one without a writer, see
/// [`open`]) or, for `-`, standard input; bounded so a huge input cannot exhaust
/// memory.
pub fn read_csr(path: &Path) -> Result<Vec<u8>> {
    read_or_stdin(path, crate::pki::csr::MAX_CSR_BYTES as u64)
}

/// Reads one certificate a user names (`revoke --cert`, `export --cert`; PEM or DER, `-` for
/// standard input) and checks it parses: its DER.
pub fn read_certificate(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_csr(path)?;
    let der = crate::pki::pem::decode_one(&bytes, &["CERTIFICATE"], crate::pki::pem::MAX_PEM_BYTES)
        .map_err(|e| Error::input(path, e.into()))?;
    crate::pki::pem::certificate(&der).map_err(|e| Error::input(path, e.into()))?;
    Ok(der)
}

/// [`read`], or for `-` standard input, at most `limit` bytes (more is refused).
pub fn read_or_stdin(path: &Path, limit: u64) -> Result<Vec<u8>> {
    if path != Path::new("-") {
        return read(path, limit);
    }
    let mut buf = Vec::new();
    std::io::stdin()
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("<stdin>", e))?;
    if buf.len() as u64 > limit {
        return Err(too_large(path, limit));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(path: &str, limit: u64) -> InputError {
        match open(Path::new(path), limit) {
            Err(Error::Input { err, .. }) => err,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn devices_and_directories_are_refused() {
        assert!(matches!(
            refusal("/dev/zero", 10),
            InputError::Kind("is a device")
        ));
        assert!(matches!(
            refusal("/", 10),
            InputError::Kind("is a directory")
        ));
        assert!(matches!(refusal("/nonexistent/x", 10), InputError::Open(_)));
        assert!(matches!(refusal("/etc/passwd", 1), InputError::TooLarge(1)));
        let e = Error::input("/dev/zero", refusal("/dev/zero", 10)).to_string();
        assert_eq!(
            e,
            "/dev/zero: is a device; fileca reads only regular files, pipes and FIFOs"
        );
    }
}
