//! Randomness, from the operating system through ring. Commands receive random values as
//! arguments; only the top level calls this.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// Fills `buf` with cryptographically secure random bytes.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::Internal("the system random number generator failed".into()))
}
