//! The terminal: the one module that writes stdout and stderr (SPEC.md HOSTILE-TERMINAL).
//! Every string fileca did not make itself is escaped ([`escape`]; callers format with it),
//! and every write reports a failed stream instead of panicking: a read command's closed pipe
//! ends it quietly ([`print()`]), a mutation's failed output after its commit is exit 8
//! (cmd/mod.rs uses [`stdout`] and [`stderr_line`]). A stream named by `--out` (a FIFO,
//! `/dev/stdout`, `/dev/fd/N`) is opened here once, before the commit ([`open_stream`]).
//!
//! It sits low, below everything that warns or prompts (passphrase, store, model): it
//! imports only the error vocabulary, the clock's format, pki's text rules and the file seam
//! ([`crate::fsio`]). What a report says is composed above it, in [`crate::render`].

#![allow(clippy::disallowed_methods)] // the one module allowed to open stdout and stderr

use std::io::{BufWriter, StdoutLock, Write};

use crate::error::{Error, Result};
pub use crate::pki::text::{escape, is_unsafe};

/// Prints a read command's output on stdout. A closed pipe (`ca log | head -1`) is a normal
/// end: [`Error::Closed`], exit 0 with nothing on stderr, as ripgrep does; any other failure is
/// an I/O error (exit 4).
pub fn print(text: &str) -> Result<()> {
    stdout(text).map_err(stdout_error)
}

/// Prints binary output (`show --der`) on stdout, as [`print()`] does text.
pub fn stdout_bytes(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// The error for a failed stdout write (see [`print()`]).
pub fn stdout_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Error::Closed
    } else {
        Error::io("<stdout>", e)
    }
}

/// Buffered stdout for output written while it is computed (`ca list` at 100,000 rows):
/// rows go out as the buffer fills; [`Stream::finish`] flushes, [`Stream::discard`] drops
/// what is still buffered (a listing that failed half-way prints no more).
pub struct Stream(BufWriter<StdoutLock<'static>>);

impl Stream {
    pub fn new(capacity: usize) -> Stream {
        Stream(BufWriter::with_capacity(capacity, std::io::stdout().lock()))
    }

    pub fn finish(mut self) -> Result<()> {
        self.0.flush().map_err(stdout_error)
    }

    pub fn discard(self) {
        drop(self.0.into_parts());
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    /// BufWriter's own: a small write is one copy into the buffer (the default loops over
    /// `write`, and a JSON listing makes several writes per field).
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Is stdout a terminal (binary output, `show --der` and `crl --der`, is refused there)?
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// Is stderr a terminal (a progress bar is drawn there only then)?
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Writes a prompt (no newline) on stderr, for the passphrase prompt on a terminal.
pub fn prompt(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// A note for stderr about what a command did. A note about an action has its own wording
/// for a dry run ("issued serial …" / "would issue serial …"), so the `--dry-run` report never
/// rewrites text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// True whether or not the change is committed (a clamp, an ignored extension).
    Text(String),
    /// An action: its text once committed, and in a dry run.
    Act { done: String, would: String },
}

impl Note {
    pub fn text(text: impl Into<String>) -> Note {
        Note::Text(text.into())
    }

    /// `"{done} {rest}"`, or `"{would} {rest}"` in a dry run.
    pub fn act(done: &str, would: &str, rest: &str) -> Note {
        Note::Act {
            done: format!("{done} {rest}"),
            would: format!("{would} {rest}"),
        }
    }

    /// The text after a commit.
    pub fn committed(&self) -> &str {
        match self {
            Note::Text(t) | Note::Act { done: t, .. } => t,
        }
    }

    /// The text in a `--dry-run` report.
    pub fn dry_run(&self) -> &str {
        match self {
            Note::Text(t) | Note::Act { would: t, .. } => t,
        }
    }
}

/// The words for what issuance tells the operator; what a CSR or the command line wrote (a
/// CN, a subject, SANs of a type the profile drops) is escaped here, where it is shown.
impl From<crate::pki::issuance::Notice> for Note {
    fn from(notice: crate::pki::issuance::Notice) -> Note {
        use crate::pki::issuance::Notice;
        let list = |sans: &[crate::pki::names::San]| {
            sans.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match notice {
            Notice::SansReplaced(dropped) => Note::text(format!(
                "--san replaces the CSR's SANs; not issued: {}",
                list(&dropped)
            )),
            Notice::SanTypesDropped { profile, dropped } => Note::text(format!(
                "profile {profile} issues no SANs of these types; not issued: {}",
                escape(&list(&dropped))
            )),
            Notice::SanFromCn(san) => {
                Note::text(format!("no SANs requested; added {san} from the CN"))
            }
            Notice::CnReplaced { cn, name } => Note::text(format!(
                "CN={} is not among the SANs; the CN is {name} instead",
                escape(&cn)
            )),
            Notice::CnLeftOut { cn } => Note::text(format!(
                "CN={} is not among the SANs; it is left out of the subject",
                escape(&cn)
            )),
            Notice::NotAfterClamped(at) => Note::text(format!(
                "notAfter clamped to the CA certificate's notAfter {}",
                crate::clock::fmt(at)
            )),
            Notice::Issued {
                serial,
                subject,
                not_after,
            } => Note::act(
                "issued",
                "would issue",
                &format!(
                    "serial {serial} to {}, valid until {}",
                    escape(&subject.to_string()),
                    crate::clock::fmt(not_after)
                ),
            ),
        }
    }
}

/// Writes `text` to stdout and flushes it; the error is returned, never a panic.
pub fn stdout(text: impl AsRef<[u8]>) -> std::io::Result<()> {
    let text = text.as_ref();
    if text.is_empty() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text)?;
    out.flush()
}

/// Writes a line to stderr for a warning or a note that nothing depends on; a failing
/// stderr loses it but never panics.
pub fn warn(line: &str) {
    let _ = stderr_line(line);
}

/// Does `path` look like a stream (by name, or `lstat`: a character device or a FIFO)? Only
/// for refusing options that need a file (`crl --der`): what is written is decided by
/// [`open_stream`] on the descriptor it writes through.
pub fn is_stream(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let text = path.to_string_lossy();
    if text == "/dev/stdout" || text == "/dev/stderr" || text.starts_with("/dev/fd/") {
        return true;
    }
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        let t = m.file_type();
        t.is_char_device() || t.is_fifo()
    })
}

/// A stream `--out` names, opened once before the commit and written after it
/// (OUTPUT-STREAMS): what the descriptor is was judged by `fstat` of that descriptor, so
/// nothing swapped in at the name afterwards (a symlink to another user's file) is written.
#[derive(Debug)]
pub enum OutStream {
    Stdout,
    Stderr,
    /// A FIFO or character device opened at the name, or a duplicate of `/dev/fd/N`.
    File(std::fs::File),
}

pub use crate::error::store::StreamError;

/// Opens `path` as a stream if it is one: `/dev/stdout`, `/dev/stderr` and `/dev/fd/N` by
/// name, through the descriptors the process holds (no open by path); anything else opened
/// once with `O_NOFOLLOW|O_NONBLOCK` and kept only if `fstat` says FIFO or character device
/// (then `O_NONBLOCK` is cleared: a pipe's reader may be slower than us). None: not a stream
/// (absent, a regular file, a symlink, a directory…), for the regular-file rules to judge.
pub fn open_stream(path: &std::path::Path) -> Result<Option<OutStream>, StreamError> {
    use std::os::fd::AsFd;
    let io_err = |err: std::io::Error| StreamError::Io {
        path: path.to_path_buf(),
        err,
    };
    let text = path.to_string_lossy();
    let fd_number = match text.as_ref() {
        "/dev/stdout" => return Ok(Some(OutStream::Stdout)),
        "/dev/stderr" => return Ok(Some(OutStream::Stderr)),
        t => t.strip_prefix("/dev/fd/"),
    };
    if let Some(n) = fd_number {
        let n: i32 = n.parse().map_err(|_| {
            io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a descriptor number",
            ))
        })?;
        return match n {
            1 => Ok(Some(OutStream::Stdout)),
            2 => Ok(Some(OutStream::Stderr)),
            n if n < 0 => Err(io_err(std::io::Error::from_raw_os_error(9))),
            n => {
                // SAFETY: borrowed only for the two calls below, within this function; a
                // number that names no open descriptor makes fcntl fail with EBADF.
                #[allow(unsafe_code)]
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(n) };
                rustix::io::fcntl_getfd(fd).map_err(|e| io_err(e.into()))?;
                let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| io_err(e.into()))?;
                Ok(Some(OutStream::File(std::fs::File::from(dup))))
            }
        };
    }
    let file = match crate::fsio::open_stream(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {
            return Err(StreamError::NoReader(path.to_path_buf()));
        }
        // Absent, a symlink (ELOOP), a directory, not writable…: not a stream.
        Err(_) => return Ok(None),
    };
    let st = rustix::fs::fstat(file.as_fd()).map_err(|e| io_err(e.into()))?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if !matches!(
        kind,
        rustix::fs::FileType::Fifo | rustix::fs::FileType::CharacterDevice
    ) {
        return Ok(None);
    }
    let flags = rustix::fs::fcntl_getfl(&file).map_err(|e| io_err(e.into()))?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| io_err(e.into()))?;
    Ok(Some(OutStream::File(file)))
}

/// Is the descriptor an output goes through open for writing (OUTPUT-STREAMS)? `name` says
/// which (`stdout`, `--out /dev/fd/3`).
pub fn check_writable(stream: &OutStream, name: &str) -> Result<(), StreamError> {
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let fd = match stream {
        OutStream::Stdout => stdout.as_fd(),
        OutStream::Stderr => stderr.as_fd(),
        OutStream::File(f) => f.as_fd(),
    };
    let refuse = |why| StreamError::NotWritable {
        name: escape(name),
        why,
    };
    match rustix::fs::fcntl_getfl(fd) {
        Err(rustix::io::Errno::BADF) => Err(refuse("is closed")),
        Err(e) => Err(StreamError::Io {
            path: name.into(),
            err: e.into(),
        }),
        Ok(flags) if flags & rustix::fs::OFlags::ACCMODE == rustix::fs::OFlags::RDONLY => {
            Err(refuse("is open read-only"))
        }
        Ok(_) => Ok(()),
    }
}

/// Writes `text` to a stream [`open_stream`] opened.
pub fn to_stream(stream: &OutStream, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    let text = text.as_ref();
    match stream {
        OutStream::Stdout => stdout(text),
        OutStream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(text)?;
            err.flush()
        }
        OutStream::File(file) => {
            let mut file = file;
            file.write_all(text)?;
            file.flush()
        }
    }
}

impl OutStream {
    /// Is it a terminal (binary output is refused there, `show --der`, `crl --der`)?
    pub fn is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        match self {
            OutStream::Stdout => std::io::stdout().is_terminal(),
            OutStream::Stderr => std::io::stderr().is_terminal(),
            OutStream::File(f) => f.is_terminal(),
        }
    }
}

/// Writes one line to stderr; the error is returned, never a panic.
pub fn stderr_line(line: &str) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    err.write_all(line.as_bytes())?;
    err.write_all(b"\n")?;
    err.flush()
}
