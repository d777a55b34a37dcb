//! SERVE-FUZZ: `ca serve`'s OCSP answer path fuzzed in process, bounded, in the fast tier —
//! the request parser (pki::ocsp) through `serve::answer::answer`, and the GET path decoder
//! through `answer_get`, fed random bytes, valid requests mutated (bytes flipped, inserted,
//! deleted, truncated) and random or mutated GET paths. Every input gets an answer and none
//! panics: either one of the four OCSP error responses, byte for byte, or a successful
//! response whose signature verifies under the responder certificate's key and which
//! answers about the CertIDs it was asked.

use std::sync::{Arc, Mutex, RwLock};

use fileca::cmd::serve::{Shared, Slot, answer, cache, load};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::harness::*;
use crate::serve::{free_port, issue, lab_ca};

/// A served CA (one issued certificate, a responder), its valid requests (without and with
/// a nonce) and the responder's public key.
struct Fixture {
    _tmp: tempfile::TempDir,
    shared: Shared,
    requests: [Vec<u8>; 2],
    responder_key: Vec<u8>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", free_port(), None);
    let (leaf, _) = issue(&dir, "web.test", &tmp.path().join("out"));
    let requests = [["-no_nonce"], ["-nonce"]].map(|flag| {
        let out = tmp.path().join("req.der");
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["ocsp", flag[0], "-issuer"])
            .arg(dir.join("ca.crt"))
            .arg("-cert")
            .arg(&leaf)
            .arg("-reqout")
            .arg(&out);
        let o = bounded(cmd, DEADLINE);
        assert!(o.status.success(), "{}", output_text(&o));
        std::fs::read(&out).unwrap()
    });
    let now = time::OffsetDateTime::now_utc();
    let opts = fileca::store::OpenOptions {
        lock_timeout: std::time::Duration::from_secs(10),
        allow_network_fs: false,
        allow_insecure_key: false,
        allow_insecure_dir: false,
        announce_wait: false,
    };
    let served = load::load(&dir, &opts, now).unwrap();
    let cert = crate::serve::pem_der(&std::fs::read(dir.join("ocsp.crt")).unwrap());
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert).unwrap();
    let responder_key = parsed.public_key().subject_public_key.data.to_vec();
    let shared = Shared {
        slots: RwLock::new(vec![Slot {
            dir,
            served: Some(Arc::new(served)),
            fallback: None,
            problem: None,
            confirmed_at: now,
        }]),
        metrics: Default::default(),
        cache: Mutex::new(cache::Clock::new(answer::MAX_CACHED)),
    };
    Fixture {
        _tmp: tmp,
        shared,
        requests,
        responder_key,
    }
}

/// The four error responses (RFC 6960 4.2.1: malformedRequest, internalError, tryLater,
/// unauthorized).
fn is_error_response(der: &[u8]) -> bool {
    [1u8, 2, 3, 6].iter().any(|s| der == [0x30, 3, 0x0a, 1, *s])
}

/// A successful response: OCSPResponse { successful, basic { tbs, alg, signature, certs } }
/// whose signature over tbs verifies under `key` (P-256, SHA-256).
fn check_signed(der: &[u8], key: &[u8]) -> Result<(), String> {
    use yasna::Tag;
    let basic = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            if r.next().read_enum()? != 0 {
                return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
            }
            r.next().read_tagged(Tag::context(0), |r| {
                r.read_sequence(|r| {
                    r.next().read_oid()?;
                    r.next().read_bytes()
                })
            })
        })
    })
    .map_err(|e| format!("not an OCSPResponse: {e}"))?;
    let (tbs, sig) = yasna::parse_der(&basic, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_der()?;
            r.next().read_der()?;
            let (sig, _) = r.next().read_bitvec_bytes()?;
            r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
            Ok((tbs, sig))
        })
    })
    .map_err(|e| format!("not a BasicOCSPResponse: {e}"))?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&tbs, &sig)
        .map_err(|_| "the signature does not verify".to_string())
}

/// One input's answer: an error response, or a signed response that verifies.
fn check(f: &Fixture, answer: answer::Answer) -> Result<(), TestCaseError> {
    let der = answer.der();
    match answer {
        answer::Answer::Error(_) => {
            prop_assert!(is_error_response(&der), "error answer {der:02x?}");
        }
        answer::Answer::Signed { .. } => {
            if let Err(e) = check_signed(&der, &f.responder_key) {
                return Err(TestCaseError::fail(e));
            }
        }
    }
    Ok(())
}

/// A valid request with edits: (position, operation, byte), applied in order.
fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(pos, op, byte) in edits {
        let i = pos % (out.len() + 1);
        match op % 4 {
            0 if i < out.len() => out[i] ^= byte | 1,
            1 => out.insert(i, byte),
            2 if i < out.len() => {
                out.remove(i);
            }
            3 => out.truncate(i),
            _ => {}
        }
    }
    out
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// SERVE-FUZZ: random bytes and mutated valid requests, as POST bodies.
#[test]
fn ocsp_answers_to_random_and_mutated_requests_are_well_formed_serve_fuzz() {
    let f = fixture();
    let now = time::OffsetDateTime::now_utc();
    // The unmutated requests are answered, signed.
    for r in &f.requests {
        let a = answer::answer(&f.shared, r, now);
        assert!(matches!(a, answer::Answer::Signed { .. }));
        check(&f, a).unwrap();
    }
    let random = proptest::collection::vec(any::<u8>(), 0..1200);
    runner(400)
        .run(&random, |bytes| {
            check(&f, answer::answer(&f.shared, &bytes, now))
        })
        .unwrap();
    let edits = (
        any::<bool>(),
        proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    );
    let signed = std::cell::Cell::new(0);
    runner(1500)
        .run(&edits, |(nonce, edits)| {
            let bytes = mutate(&f.requests[usize::from(nonce)], &edits);
            let a = answer::answer(&f.shared, &bytes, now);
            if matches!(a, answer::Answer::Signed { .. }) {
                signed.set(signed.get() + 1);
            }
            check(&f, a)
        })
        .unwrap();
    // Some mutations (a serial's byte, the nonce's content) still parse: those were signed.
    assert!(
        signed.get() > 0,
        "no mutated request was answered with a signature"
    );
}

/// SERVE-FUZZ: GET paths — random text of the base64 and percent alphabet, and mutated
/// valid requests, base64'd and URL-encoded.
#[test]
fn ocsp_answers_to_random_and_mutated_get_paths_are_well_formed_serve_fuzz() {
    use base64::Engine;
    let f = fixture();
    let now = time::OffsetDateTime::now_utc();
    runner(600)
        .run(&"[A-Za-z0-9+/=%\\-_.~\n]{0,300}", |path| {
            check(&f, answer::answer_get(&f.shared, &path, now))
        })
        .unwrap();
    let edits = (
        any::<bool>(),
        proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..4),
        any::<bool>(),
    );
    runner(600)
        .run(&edits, |(nonce, edits, encode)| {
            let der = mutate(&f.requests[usize::from(nonce)], &edits);
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            let path = match encode {
                true => b64
                    .replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D"),
                false => b64,
            };
            let a = answer::answer_get(&f.shared, &path, now);
            if edits.is_empty() {
                let signed = matches!(a, answer::Answer::Signed { .. });
                prop_assert!(signed, "an unmutated request was not signed");
            }
            check(&f, a)
        })
        .unwrap();
    // Malformed escapes and non-UTF-8 are malformedRequest, not a panic.
    for path in ["%", "%4", "%zz", "%+1", "%C3%28", "%FF%FE"] {
        let a = answer::answer_get(&f.shared, path, now);
        assert!(matches!(
            a,
            answer::Answer::Error(fileca::pki::ocsp::ErrorStatus::MalformedRequest)
        ));
    }
}
