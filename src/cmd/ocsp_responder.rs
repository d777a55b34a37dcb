//! `ca ocsp-responder renew`: issue the CA's delegated OCSP responder certificate for a fresh
//! P-256 key and keep the pair in the state directory (SPEC.md OCSP-RESPONDER).
//!
//! The certificate is issued like any other (profile `ocsp-signing`: OCSPSigning and
//! id-pkix-ocsp-nocheck; recorded in index.log, audited), and `ocsp.key` (0600) and `ocsp.crt`
//! are written by the same journaled commit, so the pair on disk is always one the index
//! records. The key is generated before the lock, as `ca issue` does. `ca ocsp` and
//! `ca serve` sign with this pair and never load ca.key.

use rcgen::PublicKeyData;

use super::{Context, Planned};
use crate::Env;
use crate::cli::OcspResponderRenewArgs;
use crate::error::Result;
use crate::model::change::issue_one;
use crate::model::plan::FileWrite;
use crate::model::snapshot::Snapshot;
use crate::pki::issuance::Request;
use crate::pki::keys::{self, KeyType};
use crate::pki::names::Subject;
use crate::store::{MODE_SECRET, OCSP_CERT, OCSP_KEY};
use crate::term::Note;

/// The profile the responder certificate is issued under.
pub const PROFILE: &str = "ocsp-signing";

/// What `renew` is asked to do: the key is generated before the lock.
pub struct Renew {
    pub key: rcgen::KeyPair,
    pub key_pem: zeroize::Zeroizing<String>,
    pub days: Option<u32>,
}

/// Runs `ca ocsp-responder renew`.
pub fn run(args: &OcspResponderRenewArgs, ctx: &Context) -> Result<()> {
    let (key, key_pem) = keys::generate(KeyType::EcdsaP256)?;
    let request = Renew {
        key,
        key_pem: zeroize::Zeroizing::new(key_pem),
        days: args.days,
    };
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN,
        |state, env| plan(state, &request, env),
    )
}

/// Validation phase: the responder certificate issued like any other, plus ocsp.key and
/// ocsp.crt replaced in the same commit.
pub fn plan(state: &Snapshot, request: &Renew, env: &Env) -> Result<Planned> {
    let policy = state.policy()?;
    let profile = policy
        .leaf(PROFILE)
        .map_err(crate::model::change::Refusal::Policy)?;
    let days = crate::policy::gate::days(profile, request.days)
        .map_err(crate::model::change::Refusal::Policy)?;
    let subject = Subject(vec![("CN".into(), "OCSP Responder".into())]);
    let spki = request.key.subject_public_key_info();
    let issuing = Request {
        subject: &subject,
        sans: Vec::new(),
        spki_der: &spki,
        subject_public_key: request.key.der_bytes(),
        key: KeyType::EcdsaP256.kind(),
        profile,
        days,
        // The responder's own certificate needs no revocation pointers (ocsp-nocheck), but
        // carries the policy's like everything this CA issues.
        urls: &policy.urls,
        sub_ca: None,
    };
    let mut notes = Vec::new();
    let (mut plan, pem) = issue_one(
        state,
        &issuing,
        env,
        &mut notes,
        crate::model::change::Issue::new("ocsp-responder-renew", None),
    )?;
    plan.writes.push(FileWrite {
        target: OCSP_KEY.into(),
        bytes: request.key_pem.as_bytes().to_vec(),
        mode: MODE_SECRET,
    });
    plan.writes.push(FileWrite::public(OCSP_CERT, pem.clone()));
    let shown = crate::term::escape(&state.dir.display().to_string());
    notes.push(Note::Act {
        done: format!(
            "OCSP responder key and certificate written to {shown}/{OCSP_KEY}, {OCSP_CERT}"
        ),
        would: format!(
            "OCSP responder key and certificate would be written to {shown}/{OCSP_KEY}, {OCSP_CERT}"
        ),
    });
    Ok(Planned::new(plan, String::new(), notes))
}
