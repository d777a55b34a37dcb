//! `ca renew`: a new certificate for the subject, SANs and key (or a new CSR's key) of an
//! issued one, linked to it in the index; optionally revoking it in the same commit
//! (SPEC.md `RENEW-*`).

use super::{Context, Planned};
use crate::Env;
use crate::cli::RenewArgs;
use crate::error::{Error, Result};
use crate::model::change::{Refusal, issue_one};
use crate::model::snapshot::Snapshot;
use crate::pki::csr::{self, CheckedCsr};
use crate::pki::issuance::Request;
use crate::pki::keys;
use crate::pki::names::{San, Subject};

/// What `ca renew` is asked to do.
pub struct Renew {
    pub old: crate::model::log::Typed,
    /// `--csr`: certify this request's key instead of the old certificate's.
    pub csr: Option<CheckedCsr>,
    pub days: Option<u32>,
    pub revoke_old: bool,
}

/// Runs `ca renew`.
pub fn run(args: &RenewArgs, ctx: &Context) -> Result<()> {
    let request = Renew {
        old: crate::cli::serial(&args.serial)?,
        csr: match &args.csr {
            Some(path) => {
                let bytes = crate::input::read_csr(path)?;
                Some(csr::check(&bytes).map_err(|e| Error::csr(path, e))?)
            }
            None => None,
        },
        days: args.days,
        revoke_old: args.revoke_old,
    };
    let out = super::Out::open(args.out.out.clone().map(|o| (o, args.out.force)))?;
    // The certificate renewed is found and its file read under the lock, before the plan —
    // after the generation check and the keyCompromise refusal, which need no file.
    let load = |session: &crate::store::Session| {
        let state = session.snapshot(crate::store::Reads::SIGN_WITH_LOG, &ctx.pass)?;
        super::expect_generation(&args.mutation, &state)?;
        let entry = state.resolve(&request.old)?;
        refuse_compromised(&entry, request.csr.as_ref(), None)?;
        let (_, der) = session.read_recorded(&entry, &state.ca.cert)?;
        Ok((state, Recorded { entry, der }))
    };
    super::mutate_with(ctx, &args.mutation, load, |state, recorded, env| {
        plan(state, &request, &recorded, env).and_then(|p| p.with_out(out))
    })
}

/// RENEW-COMPROMISED: a key revoked for keyCompromise is never certified again — not without
/// --csr, and not with a CSR of that same key (`old_spki`, the old certificate's, when read).
fn refuse_compromised(
    entry: &crate::model::log::Entry,
    csr: Option<&crate::pki::csr::CheckedCsr>,
    old_spki: Option<&[u8]>,
) -> Result<()> {
    let compromised = entry
        .revoked
        .is_some_and(|r| r.reason == crate::pki::reason::Reason::KeyCompromise);
    match csr {
        _ if !compromised => Ok(()),
        None => Err(Refusal::CompromisedKey(entry.serial.clone()).into()),
        Some(c) if old_spki == Some(c.spki_der.as_slice()) => {
            Err(Refusal::CompromisedKeyInCsr(entry.serial.clone()).into())
        }
        Some(_) => Ok(()),
    }
}

/// The certificate renewed, as the index records it and its file holds it (checked against
/// each other: SPEC.md SHOW-RECORDED).
pub struct Recorded {
    pub entry: crate::model::log::Entry,
    pub der: Vec<u8>,
}

/// Validation phase.
pub fn plan(state: &Snapshot, request: &Renew, recorded: &Recorded, env: &Env) -> Result<Planned> {
    let Renew {
        old: _,
        csr,
        days,
        revoke_old,
    } = request;
    let (csr, days, revoke_old) = (csr.as_ref(), *days, *revoke_old);
    let Recorded { entry, der } = recorded;
    let old = &entry.serial;
    let path = state.dir.join(crate::model::layout::cert_file(old));
    let cert = crate::pki::pem::certificate(der).map_err(|m| Error::state(&path, m))?;
    refuse_compromised(entry, csr, Some(cert.public_key().raw))?;
    let subject = Subject::parse_stored(&entry.subject).map_err(|m| Error::state(&path, m))?;
    let sans = entry
        .sans
        .iter()
        .map(|s| San::parse(s))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|m| Error::state(&path, m))?;
    // What the certificate is decides, not what its profile is now: a CA certificate is
    // renewed by signing its CSR again (RENEW-SUBCA).
    if cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca)
    {
        return Err(crate::model::change::Refusal::RenewSubCa(old.clone()).into());
    }
    let policy = state.policy()?;
    let profile = policy
        .leaf(&entry.profile)
        .map_err(crate::model::change::Refusal::Policy)?;
    // SAN types the profile no longer issues are dropped, with a note (POLICY-SAN-TYPES).
    let mut notes = Vec::new();
    let sans = crate::pki::issuance::drop_unused(sans, profile, &mut notes);
    let days =
        crate::policy::gate::days(profile, days).map_err(crate::model::change::Refusal::Policy)?;
    let old_spki = cert.public_key();
    let (spki_der, spk, key) = match csr {
        Some(c) => (c.spki_der.clone(), c.subject_public_key.clone(), c.key),
        None => (
            old_spki.raw.to_vec(),
            old_spki.subject_public_key.data.to_vec(),
            keys::classify(old_spki).map_err(|m| Error::state(&path, m))?,
        ),
    };
    let request = Request {
        subject: &subject,
        sans,
        spki_der: &spki_der,
        subject_public_key: &spk,
        key,
        profile,
        days,
        urls: &policy.urls,
        sub_ca: None,
    };
    let issue = crate::model::change::Issue {
        operation: if revoke_old { "renew+revoke" } else { "renew" },
        csr_sha256: csr.map(|c| c.sha256.clone()),
        renews: Some((old.clone(), revoke_old)),
    };
    let (plan, new_pem) = issue_one(state, &request, env, &mut notes, issue)?;
    Ok(Planned::new(plan, new_pem, notes))
}
