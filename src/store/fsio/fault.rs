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

pub(super) fn hit(op: Op, path: &Path) -> io::Result<()> {
    let Some((abort, target, trace)) = plan() else {
        return Ok(());
    };
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if trace {
        crate::render::warn(&format!("fileca-mutation {n} {op:?} {}", path.display()));
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
        crate::render::warn(&format!("fileca-read {n} {}", path.display()));
    }
    if n == target {
        return Err(io::Error::from_raw_os_error(5));
    }
    Ok(())
}
