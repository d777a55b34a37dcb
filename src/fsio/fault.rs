//! Fault injection, debug builds only (`FILECA_FAULT=error@N` or `abort@N`,
//! `FILECA_FAULT_TRACE=1`; see fsio.rs's module documentation): counts the mutations fsio.rs
//! is about to make, and fails or aborts the N-th. Reads are counted apart
//! (`FILECA_READ_FAULT=N` fails the N-th open or lstat through fsio.rs with EIO,
//! `FILECA_READ_TRACE=1` prints each as `fileca-read N PATH`), so a sweep can fail every read
//! of a recovering command without shifting the mutation numbers. Release builds use the
//! no-op twin in fsio.rs.
//!
//! It touches no file: it only decides whether a mutation goes ahead (and prints the
//! mutation trace through render/).
//!
//! Tests that run commands in process (`fileca::run`) set a plan with [`inject`] instead of
//! the environment, so a sweep over every mutation of a command costs no process per fault:
//! [`Fault::Error`] fails the N-th mutation with EIO, as `error@N` does; [`Fault::Crash`]
//! fails the N-th and every later one, so nothing the command does after that point reaches
//! the disk — what `abort@N` leaves (the page cache keeps what was written before it).

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Op;

static COUNT: AtomicU64 = AtomicU64::new(0);
static PLAN: Mutex<Option<Option<(bool, u64, bool)>>> = Mutex::new(None);

/// Returns (abort?, N, trace?) parsed once from the environment.
fn plan() -> Option<(bool, u64, bool)> {
    let mut guard = match PLAN.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    *guard.get_or_insert_with(|| {
        let trace = std::env::var_os("FILECA_FAULT_TRACE").is_some();
        let spec = std::env::var("FILECA_FAULT").ok();
        let parsed = spec.as_deref().and_then(|s| {
            let (kind, n) = s.split_once('@')?;
            let n: u64 = n.parse().ok()?;
            match kind {
                "error" => Some((false, n)),
                "abort" => Some((true, n)),
                _ => None,
            }
        });
        match (parsed, trace) {
            (None, false) => None,
            (Some((a, n)), t) => Some((a, n, t)),
            (None, true) => Some((false, 0, true)),
        }
    })
}

/// A fault set in process ([`inject`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The N-th mutation fails with EIO; the command goes on handling it.
    Error,
    /// The N-th mutation and every later one fail: the process is as good as dead there.
    Crash,
    /// The N-th read (an open or lstat through fsio.rs) fails with EIO.
    ReadError,
}

/// The in-process plan: the fault, its N, and how many mutations and reads were counted.
struct Injected {
    fault: Fault,
    at: u64,
    mutations: u64,
    reads: u64,
}

thread_local! {
    /// The plan of the commands this thread runs: every mutation and read of a command is
    /// made on its own thread (fsync_group counts its fsyncs before it starts threads), so
    /// tests that inject faults in parallel threads do not see each other's.
    static INJECTED: std::cell::RefCell<Option<Injected>> = const { std::cell::RefCell::new(None) };
}

/// Holds an in-process fault plan for this thread until dropped.
pub struct Injection {
    /// Not Send: the plan is this thread's.
    _thread: std::marker::PhantomData<*const ()>,
}

impl Injection {
    /// Mutations counted since [`inject`] (a sweep with `at` beyond the last one runs the
    /// command whole and reads its length here).
    pub fn mutations(&self) -> u64 {
        injected_mut(|i| i.as_ref().map_or(0, |i| i.mutations))
    }

    /// Reads counted since [`inject`].
    pub fn reads(&self) -> u64 {
        injected_mut(|i| i.as_ref().map_or(0, |i| i.reads))
    }
}

impl Drop for Injection {
    fn drop(&mut self) {
        injected_mut(|i| *i = None);
    }
}

fn injected_mut<T>(f: impl FnOnce(&mut Option<Injected>) -> T) -> T {
    INJECTED.with(|cell| f(&mut cell.borrow_mut()))
}

/// Sets `fault` at the `at`-th mutation (or read, for [`Fault::ReadError`]; 0: none, count
/// only) for the commands this thread runs until the returned guard is dropped.
pub fn inject(fault: Fault, at: u64) -> Injection {
    injected_mut(|i| {
        *i = Some(Injected {
            fault,
            at,
            mutations: 0,
            reads: 0,
        })
    });
    Injection {
        _thread: std::marker::PhantomData,
    }
}

/// The in-process plan's verdict on one mutation (None: no plan is set).
fn injected_hit(op: Op) -> Option<io::Result<()>> {
    injected_mut(|i| {
        let i = i.as_mut()?;
        i.mutations += 1;
        let n = i.mutations;
        let failed = match i.fault {
            Fault::Error => n == i.at,
            Fault::Crash => i.at != 0 && n >= i.at,
            Fault::ReadError => false,
        };
        Some(match failed {
            true => Err(io::Error::other(format!(
                "injected fault at mutation {n} ({op:?})"
            ))),
            false => Ok(()),
        })
    })
}

/// The in-process plan's verdict on one read (None: no plan is set).
fn injected_read() -> Option<io::Result<()>> {
    injected_mut(|i| {
        let i = i.as_mut()?;
        i.reads += 1;
        Some(match i.fault == Fault::ReadError && i.reads == i.at {
            true => Err(io::Error::from_raw_os_error(5)),
            false => Ok(()),
        })
    })
}

pub(super) fn hit(op: Op, path: &Path) -> io::Result<()> {
    if let Some(verdict) = injected_hit(op) {
        return verdict;
    }
    let Some((abort, target, trace)) = plan() else {
        return Ok(());
    };
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if trace {
        trace_line(&format!("fileca-mutation {n} {op:?} {}", path.display()));
    }
    if n == target {
        if abort {
            std::process::abort();
        }
        return Err(io::Error::other(format!(
            "injected fault at mutation {n} ({op:?})"
        )));
    }
    Ok(())
}

static READS: AtomicU64 = AtomicU64::new(0);
static READ_PLAN: Mutex<Option<(u64, bool)>> = Mutex::new(None);

/// Counts a read (an open or lstat through fsio.rs) and fails the one `FILECA_READ_FAULT`
/// names with EIO.
pub(super) fn read_hit(path: &Path) -> io::Result<()> {
    if let Some(verdict) = injected_read() {
        return verdict;
    }
    let (target, trace) = {
        let mut guard = match READ_PLAN.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *guard.get_or_insert_with(|| {
            let n = std::env::var("FILECA_READ_FAULT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            (n, std::env::var_os("FILECA_READ_TRACE").is_some())
        })
    };
    if target == 0 && !trace {
        return Ok(());
    }
    let n = READS.fetch_add(1, Ordering::SeqCst) + 1;
    if trace {
        trace_line(&format!("fileca-read {n} {}", path.display()));
    }
    if n == target {
        return Err(io::Error::from_raw_os_error(5));
    }
    Ok(())
}

/// Writes one line of the fault trace (`FILECA_FAULT_TRACE`, debug builds) to stderr. Its
/// own writer, not `crate::term`'s: the file seam sits below the terminal module, which opens
/// `--out` streams through it. A path here is fileca's own (a state file or a staging name).
#[allow(clippy::disallowed_methods)]
fn trace_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
