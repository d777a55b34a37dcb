//! `ca renew`: a new certificate for the subject, SANs and key (or a new CSR's key) of an
//! issued one, linked to it in the index; optionally revoking it in the same commit
//! (SPEC.md `RENEW-*`).

use super::{Context, Planned};
use crate::Env;
use crate::cli::RenewArgs;
use crate::error::{Error, Result};
use crate::model::change::{Refusal, issue_one};
use crate::model::snapshot::State;
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
    let out = args.out.out.clone().map(|o| (o, args.out.force));
    if let Some(out) = &args.out.out {
        crate::store::output::precheck(out, args.out.force)?;
    }
    super::mutate(ctx, &args.mutation, |state, env| {
        plan(state, &request, env).and_then(|p| p.with_out(out))
    })
}

/// Validation phase.
pub fn plan(state: &State, request: &Renew, env: &Env) -> Result<Planned> {
    let Renew {
        old,
        csr,
        days,
        revoke_old,
    } = request;
    let (csr, days, revoke_old) = (csr.as_ref(), *days, *revoke_old);
    let entry = state.resolve(old)?;
    let old = &entry.serial;
    if csr.is_none()
        && entry
            .revoked
            .is_some_and(|r| r.reason == crate::pki::reason::Reason::KeyCompromise)
    {
        return Err(Refusal::CompromisedKey(old.clone()).into());
    }
    let path = state.dir.join(crate::model::layout::cert_file(old));
    let (_, der) = state.read_recorded(&entry)?;
    let cert = crate::pki::pem::certificate(&der).map_err(|m| Error::state(&path, m))?;
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
