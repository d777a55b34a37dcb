//! Making many files and directories durable at once: [`fsync_group`] keeps up to
//! [`FSYNC_THREADS`] fsyncs in flight, so the filesystem commits them together. Faults are
//! injected and the simulated-disk trace is written here as for every other mutation.

use std::fs::File;
use std::io;
use std::path::Path;

use super::{Dir, Op, fault, trace};

/// How many fsyncs [`fsync_group`] keeps in flight at once.
const FSYNC_THREADS: usize = 64;

/// Groups up to this size are flushed one after the other on the calling thread: below it,
/// starting threads costs more than the overlap saves (measured: docs/benchmarks.md).
const FSYNC_INLINE_MAX: usize = 4;

/// Something [`fsync_group`] makes durable.
pub enum Durable<'a> {
    File(&'a File, &'a Path),
    Dir(&'a Dir),
}

/// Makes every file and directory of `items` durable, with up to [`FSYNC_THREADS`] fsyncs in
/// flight at once: the filesystem then commits them together (one journal transaction on
/// ext4 or XFS) instead of one after the other. Each is flushed through the descriptor that
/// wrote it, so its writeback errors are reported here. Fails if any fails.
pub fn fsync_group(items: &[Durable<'_>]) -> io::Result<()> {
    // Faults are injected in order, before any flush, so a sweep is deterministic.
    for item in items {
        match item {
            Durable::File(_, path) => fault::hit(Op::Fsync, path)?,
            Durable::Dir(dir) => fault::hit(Op::FsyncDir, &dir.path)?,
        }
    }
    let flush = |item: &Durable<'_>| -> io::Result<()> {
        match item {
            Durable::File(f, _) => f.sync_all(),
            Durable::Dir(d) => Ok(rustix::fs::fsync(&d.fd)?),
        }
    };
    if items.len() <= FSYNC_INLINE_MAX {
        items.iter().try_for_each(flush)?;
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = items.len().min(FSYNC_THREADS);
        let work = || -> io::Result<()> {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    return Ok(());
                };
                flush(item)?;
            }
        };
        let results: Vec<io::Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads)
                .map(|_| {
                    std::thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn_scoped(s, work)
                })
                .collect();
            // The calling thread works too; a thread that could not start (a pids limit)
            // only means the others do its share.
            let mut results = vec![work()];
            for h in handles.into_iter().flatten() {
                results.push(
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("fsync thread panicked"))),
                );
            }
            results
        });
        results.into_iter().collect::<io::Result<()>>()?;
    }
    for item in items {
        match item {
            Durable::File(f, _) => trace::fsync(f),
            Durable::Dir(d) => trace::fsync_fd(&d.fd),
        }
    }
    Ok(())
}
