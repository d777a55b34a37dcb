//! PLAN-PURE for `ocsp-responder renew` and the responder it makes (OCSP-RESPONDER), on the
//! in-memory CA of the parent module.

use std::collections::BTreeMap;

use super::{Mem, Reads, Reason, Refusal, Typed, env_at, issued_serial, refusal, t0};
use crate::pki::keys::KeyType;
use time::Duration;

/// OCSP-RESPONDER: `ocsp-responder renew` plans the responder certificate like any issue plus
/// ocsp.key (0600) and ocsp.crt, which the next snapshot accepts as a responder; the
/// responder's answers follow the index (good, then revoked) — all on values.
#[test]
fn ocsp_responder_renew_and_answers_in_memory_plan_pure() {
    let mut ca = Mem::init();
    let env = env_at(t0() + Duration::days(1), 7);
    let (key, key_pem) = crate::pki::keys::generate(KeyType::EcdsaP256).unwrap();
    let too_long = crate::cmd::ocsp_responder::Renew {
        key,
        key_pem: zeroize::Zeroizing::new(key_pem),
        days: Some(91),
        key_mode: 0o600,
    };
    assert!(matches!(
        refusal(crate::cmd::ocsp_responder::plan(
            &ca.snapshot(Reads::SIGN),
            &too_long,
            &env
        )),
        Refusal::Policy(_)
    ));
    let request = crate::cmd::ocsp_responder::Renew {
        days: None,
        ..too_long
    };
    let planned =
        crate::cmd::ocsp_responder::plan(&ca.snapshot(Reads::SIGN), &request, &env).unwrap();
    let modes: BTreeMap<&str, u32> = planned
        .plan
        .writes
        .iter()
        .map(|w| (w.target.as_str(), w.mode))
        .collect();
    assert_eq!(modes.get("ocsp.key"), Some(&0o600));
    assert_eq!(modes.get("ocsp.crt"), Some(&0o644));
    // A renewal that replaces a group-readable key (the `ca serve` user's) keeps 0640.
    let group = crate::cmd::ocsp_responder::Renew {
        key: crate::pki::keys::generate(KeyType::EcdsaP256).unwrap().0,
        key_pem: request.key_pem.clone(),
        days: None,
        key_mode: 0o640,
    };
    let kept = crate::cmd::ocsp_responder::plan(&ca.snapshot(Reads::SIGN), &group, &env).unwrap();
    let key_write = kept.plan.writes.iter().find(|w| w.target == "ocsp.key");
    assert_eq!(key_write.map(|w| w.mode), Some(0o640));
    let responder_serial = issued_serial(&planned.plan);
    ca.apply(&planned.plan);

    let state = ca.snapshot(Reads::SIGN_WITH_LOG);
    let responder = crate::model::responder::load(
        &state,
        Some((&ca.get("ocsp.key"), 0o600)),
        Some(&ca.get("ocsp.crt")),
    )
    .unwrap()
    .expect("a responder");
    assert_eq!(responder.serial.to_string(), responder_serial);
    // Its own certificate, as the index says: good; then revoked by a revoke plan.
    let entry = state.find(&responder.serial).unwrap().unwrap();
    assert_eq!(
        crate::model::responder::status_of(&entry),
        crate::pki::ocsp::Status::Good
    );
    let typed = Typed::parse(&responder_serial).unwrap();
    let revoke = crate::cmd::revoke::plan(
        &state,
        &crate::cmd::revoke::Revoke {
            target: crate::cmd::revoke::Target::Typed(typed),
            reason: Reason::KeyCompromise,
            crl_days: None,
        },
        &env,
    )
    .unwrap();
    ca.apply(&revoke.plan);
    // A revoked responder is refused: nothing is signed with it.
    let state = ca.snapshot(Reads::SIGN_WITH_LOG);
    let err = crate::model::responder::load(
        &state,
        Some((&ca.get("ocsp.key"), 0o600)),
        Some(&ca.get("ocsp.crt")),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("revoked"), "{err}");
}
