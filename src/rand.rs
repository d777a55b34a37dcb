//! Randomness, from the operating system through ring: the random parts of serials and of
//! staging names, key generation (ring's own generator) and the salt and IV of an encrypted
//! key. Called where those values are made (init, renew-ca, keys, store); plans that need
//! random values (renew-ca's serial) receive them as arguments, so they stay deterministic
//! under test.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// Fills `buf` with cryptographically secure random bytes.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::Internal("the system random number generator failed".into()))
}
