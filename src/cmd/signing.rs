//! The plan of one signed CSR, shared by `ca sign` and `ca init --parent` (which signs the new
//! CA's request on its parent): a command never imports another.

use super::Planned;
use crate::Env;
use crate::error::{Error, Result};
use crate::model::change::Refusal;
use crate::model::change::issue_one;
use crate::model::snapshot::Snapshot;
use crate::pki::csr::CheckedCsr;
use crate::pki::issuance::{Request, choose_sans};
use crate::pki::names::San;
use crate::term::Note;

/// What `ca sign` of one CSR is asked to issue.
pub struct Sign<'a> {
    pub csr: &'a CheckedCsr,
    /// `--san`: replaces the CSR's SANs.
    pub sans: &'a [San],
    /// The profile's name in the CA's policy.
    pub profile: &'a str,
    /// `--days`, if given.
    pub days: Option<u32>,
    /// `--path-len`, `--permit`, `--exclude`: for a sub-CA profile.
    pub sub_ca: &'a crate::policy::SubCaAsk,
    /// Only a sub-CA profile will do (`init --parent`).
    pub sub_ca_only: bool,
}

/// Validation phase: the new certificate, index and serial counter.
pub fn plan(state: &Snapshot, request: &Sign<'_>, env: &Env) -> Result<Planned> {
    let Sign {
        csr,
        sans: override_sans,
        profile,
        days,
        sub_ca,
        sub_ca_only,
    } = *request;
    let policy = state.policy()?;
    let profile = policy.profile(profile).map_err(Refusal::Policy)?;
    if sub_ca_only && profile.kind != crate::pki::profile::Kind::SubCa {
        return Err(
            Refusal::Policy(crate::policy::PolicyRefusal::NotSubCaProfile {
                profile: profile.name.clone(),
            })
            .into(),
        );
    }
    let sub_ca = crate::policy::sub_ca(profile, sub_ca).map_err(|e| match e {
        // Options that do not apply to the profile: a usage error, as for any option.
        e @ crate::policy::PolicyRefusal::NotSubCa { .. } => Error::Usage(e.to_string()),
        e => Refusal::Policy(e).into(),
    })?;
    if sub_ca.is_some() && !override_sans.is_empty() {
        return Err(Error::Usage(format!(
            "a sub-CA certificate carries no SANs; --san does not apply to --profile {}",
            profile.name
        )));
    }
    let days = crate::policy::gate::days(profile, days).map_err(Refusal::Policy)?;
    let mut notes = Vec::new();
    if !csr.ignored.is_empty() {
        notes.push(Note::text(format!(
            "ignored what the CSR requested (the {} profile decides): {}",
            profile.name,
            crate::term::escape(&csr.ignored.join("; "))
        )));
    }
    let sans = match &sub_ca {
        // A CA certificate names no hosts; the CSR's SANs are not issued.
        Some(_) => {
            if !csr.sans.is_empty() {
                notes.push(Note::text(
                    "a sub-CA certificate carries no SANs; the CSR's SANs are not issued",
                ));
            }
            Vec::new()
        }
        None => choose_sans(csr, override_sans, profile, &mut notes),
    };
    let mut request = Request::from_csr(csr, sans, profile, days, &policy.urls);
    request.sub_ca = sub_ca;
    let subject;
    if !override_sans.is_empty() {
        subject = crate::pki::issuance::subject_for_sans(&csr.subject, &request.sans, &mut notes);
        request.subject = &subject;
    }
    let (plan, pem) = issue_one(
        state,
        &request,
        env,
        &mut notes,
        crate::model::change::Issue::new("sign", Some(csr.sha256.clone())),
    )?;
    Ok(Planned::new(plan, pem, notes))
}
