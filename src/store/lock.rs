//! The state directory's lock: a kernel `flock` on `.lock`, a file that is never replaced.
//! The kernel releases it when the holder dies, so it can never go stale (unlike easy-rsa's
//! lock file). Exclusive for mutations, shared for reads.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a command waits before it says it is waiting (as cargo does).
pub const ANNOUNCE_AFTER: Duration = Duration::from_millis(500);

/// Takes the lock, polling until `timeout`; names the lock file when giving up. With
/// `announce`, says once on stderr that it is waiting when that takes more than a moment.
pub fn acquire(
    file: &File,
    path: &Path,
    shared: bool,
    timeout: Duration,
    announce: bool,
) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut announced = !announce;
    loop {
        let attempt = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
        if start.elapsed() >= timeout {
            return Err(Error::Busy {
                lock: path.to_path_buf(),
                secs: timeout.as_secs(),
            });
        }
        if !announced && start.elapsed() >= ANNOUNCE_AFTER {
            announced = true;
            crate::term::warn(&format!(
                "waiting for the lock on {} (held by another ca command)…",
                crate::term::escape(&path.display().to_string())
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
