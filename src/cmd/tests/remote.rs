//! TOKEN-SIGN on in-memory snapshots: a CA key that signs elsewhere, as a PKCS#11 token
//! does, through `CaKey::Remote` — and one that stops signing in the middle of a plan.

use std::path::PathBuf;

use time::Duration;

use super::{Mem, csr, env_at, t0};
use crate::error::Error;
use crate::model::layout::{CERT, KEY};
use crate::model::snapshot::Snapshot;
use crate::store::Reads;

/// A CA key that signs elsewhere (as a token does), through `CaKey::Remote`, and stops
/// signing after `budget` signatures (a token pulled out mid-plan).
struct Remote {
    key: rcgen::KeyPair,
    budget: std::sync::atomic::AtomicUsize,
}

impl rcgen::PublicKeyData for Remote {
    fn der_bytes(&self) -> &[u8] {
        rcgen::PublicKeyData::der_bytes(&self.key)
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(&self.key)
    }
}

impl rcgen::SigningKey for Remote {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use std::sync::atomic::Ordering;
        match self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
        {
            Ok(_) => self.key.sign(msg),
            Err(_) => Err(rcgen::Error::RemoteKeyError),
        }
    }
}

impl crate::pki::ca::RemoteKey for Remote {}

/// `ca`'s snapshot with its key swapped for a [`Remote`] of the same key.
fn with_remote_key(ca: &Mem, budget: usize) -> Snapshot {
    let mut snap = ca.snapshot(Reads::SIGN);
    let pem = String::from_utf8(ca.get(KEY)).unwrap();
    let remote = Remote {
        key: rcgen::KeyPair::from_pem(&pem).unwrap(),
        budget: budget.into(),
    };
    let cert = crate::pki::ca::CaCert::parse(&ca.get(CERT)).unwrap();
    snap.ca = crate::pki::ca::Ca::with_key(cert, crate::pki::ca::CaKey::Remote(Box::new(remote)))
        .unwrap();
    snap
}

/// TOKEN-SIGN on snapshots: a batch signed by a remote key (certificates and checkpoint
/// through the one seam) verifies like a file key's; a key that stops signing between two
/// signatures of one plan fails the whole plan with the token error (exit 4), no plan to
/// commit.
#[test]
fn a_remote_key_signs_a_batch_and_one_that_fails_midway_fails_the_plan_token_sign() {
    let mut ca = Mem::init();
    let env = env_at(t0() + Duration::days(1), 9);
    let csrs: Vec<_> = ["a.test", "b.test", "c.test"]
        .iter()
        .map(|n| (PathBuf::from(format!("{n}.csr")), csr(n)))
        .collect();
    // 3 certificates and the checkpoint.
    let planned =
        crate::cmd::sign::plan_batch(&with_remote_key(&ca, 4), &csrs, "server", None, &env)
            .unwrap();
    ca.apply(&planned.plan);
    let after = ca.snapshot(Reads::SIGN);
    assert_eq!(after.header.generation, 2);

    let failed =
        crate::cmd::sign::plan_batch(&with_remote_key(&ca, 2), &csrs, "server", None, &env);
    match failed {
        Err(e @ Error::Token(crate::token::TokenError::Failed { .. })) => {
            assert_eq!(e.exit_code(), crate::error::exit::IO)
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a plan was made with signatures missing"),
    }
    // The checkpoint alone failing (every certificate signed) fails it too.
    let failed =
        crate::cmd::sign::plan_batch(&with_remote_key(&ca, 3), &csrs, "server", None, &env);
    assert!(matches!(failed, Err(Error::Token(_))));
}

/// TOKEN-ERRORS: a wrong PIN, whatever the token's flags, and a locked PIN are exit 3.
#[test]
fn pin_refusals_are_exit_3_token_pin_flags() {
    use crate::token::TokenError;
    for (count_low, final_try, locked) in [(false, false, false), (true, true, true)] {
        let wrong = TokenError::WrongPin {
            token: "lab".into(),
            count_low,
            final_try,
            locked,
        };
        assert_eq!(
            crate::error::Error::from(wrong).exit_code(),
            crate::error::exit::REFUSED
        );
    }
    let locked = TokenError::Locked {
        token: "lab".into(),
    };
    assert_eq!(
        crate::error::Error::from(locked).exit_code(),
        crate::error::exit::REFUSED
    );
}
