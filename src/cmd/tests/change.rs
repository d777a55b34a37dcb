//! The shared plan builders of model/change.rs called in process on a real CA directory,
//! matching refusals by variant (here, at the top, because building the directory takes the
//! whole command line).
use crate::Env;
use crate::error::{Error, Result};
use crate::model::change::*;
use crate::model::layout::{INDEX, INDEX_LOG, SERIAL};
use crate::model::log::LogAppend;
use crate::passphrase::Source;
use crate::pki::ca::NotValid;
use crate::pki::issuance::Request;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;
use crate::store::{Access, OpenOptions, Session};
use clap::Parser;

fn ca(dir: &std::path::Path, args: &[&str]) {
    let mut argv = vec!["ca", "--quiet", "--dir", dir.to_str().unwrap()];
    argv.extend_from_slice(args);
    crate::run(crate::cli::Cli::parse_from(argv)).unwrap();
}

fn open(dir: &std::path::Path) -> Session {
    let opts = OpenOptions {
        lock_timeout: std::time::Duration::from_secs(5),
        allow_network_fs: false,
        allow_insecure_key: false,
        allow_insecure_dir: false,
        announce_wait: false,
    };
    Session::open(dir, Access::Read, &opts).unwrap()
}

fn env(now: time::OffsetDateTime) -> Env {
    Env {
        now,
        user: "plan-test".into(),
        rng: crate::rand::Rng::seeded(3),
        fixed_time: true,
    }
}

#[test]
/// Long because it is one scenario over one directory, each refusal beside the plan it guards.
fn plans_refuse_with_typed_refusals_and_build_whole_plans() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    ca(&dir, &["init", "--subject", "CN=Plan Test", "--days", "30"]);
    let out = tmp.path().join("out");
    ca(
        &dir,
        &["issue", "web.test", "--out-dir", out.to_str().unwrap()],
    );
    let session = open(&dir);
    let state = session
        .snapshot(crate::store::Reads::SIGN_WITH_LOG, &Source::default())
        .unwrap();
    let now = env(time::OffsetDateTime::now_utc());
    let issued = state.revocations().map(|r| r.len()).unwrap();
    assert_eq!(issued, 0);
    let serial = Serial::parse_canonical(state.header.max_serial.as_deref().unwrap()).unwrap();

    let mut log = LogAppend::default();
    let refusal = |r: Result<String>| match r {
        Err(Error::Refusal(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refusal(mark_revoked(
            &state,
            &mut log,
            (&serial, Reason::RemoveFromCrl),
            &now,
            &mut Vec::new()
        )),
        Refusal::RemoveFromCrl
    );
    let unknown = serial.next().unwrap();
    assert_eq!(
        refusal(mark_revoked(
            &state,
            &mut log,
            (&unknown, Reason::Superseded),
            &now,
            &mut Vec::new()
        )),
        Refusal::UnknownSerial {
            serial: unknown,
            log: dir.join(INDEX_LOG)
        }
    );
    assert!(log.bytes.is_empty(), "a refusal appends nothing");
    assert_eq!(
        mark_revoked(
            &state,
            &mut log,
            (&serial, Reason::KeyCompromise),
            &now,
            &mut Vec::new()
        )
        .unwrap(),
        "CN=web.test"
    );

    // A whole plan: the certificate, the counter, both appends, a new index.json.
    let subject = crate::pki::names::Subject::parse("CN=plan.test").unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let policy = crate::policy::Policy::builtin();
    let request = Request {
        subject: &subject,
        sans: vec![crate::pki::names::San::dns("plan.test").unwrap()],
        spki_der: &rcgen::PublicKeyData::subject_public_key_info(&key),
        subject_public_key: rcgen::PublicKeyData::der_bytes(&key),
        key: crate::pki::keys::KeyKind::P256,
        profile: policy.profile("server").unwrap(),
        days: 365,
        urls: &policy.urls,
        sub_ca: None,
    };
    let mut notes = Vec::new();
    let (plan, pem) =
        issue_one(&state, &request, &now, &mut notes, Issue::new("sign", None)).unwrap();
    // The serial is the counter's block with 64 random bits (SERIAL-RANDOM): the seeded
    // stream gives the same one again, and the counter moves to the next block.
    let (allotted, next) = state
        .serial
        .allot(env(now.now).rng.bytes().unwrap())
        .unwrap();
    let targets: Vec<&str> = plan.writes.iter().map(|w| w.target.as_str()).collect();
    assert_eq!(
        targets,
        [&format!("certs/{allotted}.pem"), SERIAL, INDEX][..]
    );
    assert_eq!(plan.writes[1].bytes, next.to_file());
    assert_eq!(plan.writes[0].bytes, pem.as_bytes());
    assert_eq!(plan.appends.len(), 2);
    assert_eq!(plan.generation_after, state.header.generation + 1);
    assert!(
        notes.iter().any(|n| n.committed().contains("clamped")),
        "30-day CA"
    );

    // Nothing is signed by a CA that has expired.
    let later = env(state.ca.cert.not_after + time::Duration::days(1));
    let mut notes = Vec::new();
    match issue_one(
        &state,
        &request,
        &later,
        &mut notes,
        Issue::new("sign", None),
    ) {
        Err(Error::Refusal(Refusal::CaNotValid { reason, .. })) => {
            assert_eq!(reason, NotValid::Expired(state.ca.cert.not_after))
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    drop(state);
    drop(session);

    ca(&dir, &["revoke", &serial.to_string()]);
    let session = open(&dir);
    let state = session
        .snapshot(crate::store::Reads::SIGN_WITH_LOG, &Source::default())
        .unwrap();
    match mark_revoked(
        &state,
        &mut LogAppend::default(),
        (&serial, Reason::Superseded),
        &now,
        &mut Vec::new(),
    ) {
        Err(Error::Refusal(Refusal::AlreadyRevoked { reason, .. })) => {
            assert_eq!(reason, Reason::Unspecified)
        }
        other => panic!("{other:?}"),
    }
}
