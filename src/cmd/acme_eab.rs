//! `ca acme eab add`: an External Account Binding key for `serve --acme` (SPEC.md
//! ACME-EAB): an HS256 MAC key of 32 random bytes (drawn before the lock), stored under its
//! key id in acme.json by one audited journaled commit, and printed once on stdout. The key
//! registers one ACME account; `serve` then drops it from acme.json.

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::acme::state::{Eab, State};
use crate::cli::EabAddArgs;
use crate::error::{Error, Refused, Result};
use crate::model::layout::ACME;
use crate::model::log::LogAppend;
use crate::model::plan::FileWrite;
use crate::model::snapshot::Snapshot;
use crate::term::Note;

/// What `eab add` is asked to do: the id and the key, both chosen before the lock.
pub struct Add {
    pub id: String,
    pub key: String,
}

/// Runs `ca acme eab add`.
pub fn run(args: &EabAddArgs, ctx: &Context) -> Result<()> {
    let id = match &args.id {
        Some(id) => {
            let ok = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(Refused::EabId {
                    id: id.clone(),
                    why: "use 1 to 64 of A-Z a-z 0-9 - _",
                }
                .into());
            }
            id.clone()
        }
        None => crate::acme::b64url(&ctx.env.rng.bytes::<16>()?),
    };
    let request = Add {
        id,
        key: crate::acme::b64url(&ctx.env.rng.bytes::<32>()?),
    };
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN,
        |state, env| plan(state, &request, env),
    )
}

/// Validation phase: acme.json with the new key, and its audit record.
pub fn plan(state: &Snapshot, request: &Add, env: &Env) -> Result<Planned> {
    let mut acme = match &state.acme {
        None => State::default(),
        Some(bytes) => State::parse(bytes).map_err(|e| {
            Error::state(
                state.dir.join(ACME),
                crate::error::StateError::AcmeState(e.to_string()),
            )
        })?,
    };
    if acme.eab.contains_key(&request.id) {
        return Err(Refused::EabId {
            id: request.id.clone(),
            why: "acme.json already has a key of this id",
        }
        .into());
    }
    acme.eab.insert(
        request.id.clone(),
        Eab {
            key: Some(request.key.clone()),
            created: env.now,
            account: None,
        },
    );
    let writes = vec![FileWrite::public(ACME, acme.to_bytes())];
    let plan = super::finish_plan(
        state,
        env,
        LogAppend::default(),
        writes,
        AuditInfo::of("acme-eab-add", Vec::new()),
    )?;
    let stdout = format!("eab_kid={}\neab_hmac_key={}\n", request.id, request.key);
    let notes = vec![Note::act(
        "added",
        "would add",
        &format!(
            "External Account Binding key {} (it registers one account)",
            crate::term::escape(&request.id)
        ),
    )];
    Ok(Planned::new(plan, stdout, notes))
}
