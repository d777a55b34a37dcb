//! Randomness, from the operating system through ring: the random parts of serials and of
//! staging names, key generation (ring's own generator) and the salt and IV of an encrypted
//! key. Plans draw what they need from [`Rng`] in [`crate::Env`], so a test can give them a
//! seeded stream and get the same plan twice; store and key code call [`fill`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// Fills `buf` with cryptographically secure random bytes.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::bug("the system random number generator failed"))
}

/// A fresh salt and IV for encrypting a key, from the operating system.
pub fn sealing() -> Result<crate::pki::keys::Sealing> {
    let mut s = crate::pki::keys::Sealing {
        salt: [0; 16],
        iv: [0; 16],
    };
    fill(&mut s.salt)?;
    fill(&mut s.iv)?;
    Ok(s)
}

/// The random source a command's plan draws from: the operating system's generator, or
/// (tests only) a seeded, reproducible stream.
#[derive(Debug, Clone, Default)]
pub struct Rng {
    seeded: Option<Arc<AtomicU64>>,
}

impl Rng {
    /// The operating system's generator.
    pub fn os() -> Rng {
        Rng::default()
    }

    /// The source for this command: the operating system's, or in debug builds the seeded
    /// stream `FILECA_TEST_SEED` names (a test hook, SPEC.md section 7).
    pub fn for_command() -> Rng {
        #[cfg(debug_assertions)]
        if let Some(seed) = std::env::var("FILECA_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            return Rng::seeded(seed);
        }
        Rng::os()
    }

    /// A reproducible stream (SplitMix64) for tests: never for anything that is published.
    pub fn seeded(seed: u64) -> Rng {
        Rng {
            seeded: Some(Arc::new(AtomicU64::new(seed))),
        }
    }

    /// The salt and IV of a key encrypted at rest, drawn from this source (a plan's
    /// randomness comes from its `Env`, never from elsewhere).
    pub fn sealing(&self) -> Result<crate::pki::keys::Sealing> {
        let mut s = crate::pki::keys::Sealing {
            salt: [0; 16],
            iv: [0; 16],
        };
        self.fill(&mut s.salt)?;
        self.fill(&mut s.iv)?;
        Ok(s)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&self, buf: &mut [u8]) -> Result<()> {
        let Some(state) = &self.seeded else {
            return fill(buf);
        };
        for chunk in buf.chunks_mut(8) {
            let mut z = state
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
        Ok(())
    }

    /// `N` random bytes.
    pub fn bytes<const N: usize>(&self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        self.fill(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_stream_repeats_and_the_os_one_does_not() {
        let a: [u8; 20] = Rng::seeded(5).bytes().unwrap();
        assert_eq!(a, Rng::seeded(5).bytes::<20>().unwrap());
        assert_ne!(a, Rng::seeded(6).bytes::<20>().unwrap());
        let r = Rng::seeded(5);
        assert_ne!(r.bytes::<8>().unwrap(), r.bytes::<8>().unwrap());
        assert_ne!(
            Rng::os().bytes::<16>().unwrap(),
            Rng::os().bytes::<16>().unwrap()
        );
    }
}
