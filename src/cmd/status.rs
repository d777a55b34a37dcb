//! `ca status`: a summary of the CA for people (`--json` for scripts; schema in SPEC.md).
//!
//! `run` opens a shared session and loads the snapshot; [`query`] computes the report (the
//! counts, the published CRL, the warnings) and writes nothing; `render::status` defines the
//! report and prints it.

use time::{Duration, OffsetDateTime};

use super::Context;
use crate::cli::JsonArgs;
use crate::clock::fmt;
use crate::error::{Error, Result};
use crate::model::snapshot::Snapshot;
use crate::render::status::{Counts, CrlInfo, StatusReport};
use crate::store::{Access, CRL, Session};
use std::collections::HashMap;

/// Warn when the CA certificate expires within this many days.
pub const WARN_CA_DAYS: i64 = 90;
/// Warn about valid certificates expiring within this many days.
pub const WARN_CERT_DAYS: i64 = 30;

/// Runs `ca status`.
pub fn run(args: &JsonArgs, ctx: &Context) -> Result<()> {
    if crate::store::is_pending(&ctx.dir) {
        return super::pending::status(&ctx.dir, args.json);
    }
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    // Read under the lock: a concurrent renew-ca may have installed a newer ca.crt.
    let now = ctx.now()?;
    let state = session.verified_state()?;
    let mut report = query(&session, &state, now)?;
    report.key = key_location(&session)?;
    crate::render::status::print(&report, args.json)
}

/// Where the CA key lives when ca.key is a token key reference: the token looked at without
/// a login (SPEC.md TOKEN-STATUS). None for a key in ca.key.
fn key_location(session: &Session) -> Result<Option<crate::render::status::KeyLocation>> {
    let bytes = session.read(crate::store::KEY)?;
    if !crate::token::KeyRef::is_reference(&bytes) {
        return Ok(None);
    }
    let reference = crate::token::KeyRef::parse(&bytes)
        .map_err(|e| Error::state(session.dir().join(crate::store::KEY), e))?;
    let probe = crate::token::probe(&reference).and_then(|p| {
        match p.public_key_sha256 == reference.public_key_sha256 {
            true => Ok(p),
            false => Err(crate::token::TokenError::KeyChanged {
                uri: reference.uri.to_string(),
            }),
        }
    });
    let (label, serial, why) = match probe {
        Ok(p) => (Some(p.token_label), Some(p.token_serial), None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    Ok(Some(crate::render::status::KeyLocation {
        uri: reference.uri.to_string(),
        module: reference.module.display().to_string(),
        present: why.is_none(),
        token_label: label,
        token_serial: serial,
        absent_because: why,
    }))
}

/// The report at `now`: reads ca.crl and counts the certificates as index.log is read.
pub fn query(session: &Session, state: &Snapshot, now: OffsetDateTime) -> Result<StatusReport> {
    let crl = match &state.crl {
        Some(bytes) => {
            Some(crl_info(bytes, now).map_err(|m| Error::state(state.dir.join(CRL), m))?)
        }
        None => None,
    };
    let tally = count(&session.open_log()?, state, crl.as_ref(), now)?;
    let mut report = report(state, tally, crl, now);
    report
        .warnings
        .extend(responder_warning(session, state, now));
    Ok(report)
}

/// The delegated OCSP responder (SPEC.md OCSP-RESPONDER), when there is one: expired, in the
/// last third of its validity, or failing its checks.
fn responder_warning(session: &Session, state: &Snapshot, now: OffsetDateTime) -> Option<String> {
    match session.responder(state) {
        Ok(None) => None,
        Ok(Some(r)) if r.not_after <= now => Some(format!(
            "the OCSP responder certificate (ocsp.crt) expired on {}; run `ca ocsp-responder renew`",
            fmt(r.not_after)
        )),
        Ok(Some(r)) if crate::model::responder::in_last_third(&r, now) => Some(format!(
            "the OCSP responder certificate (ocsp.crt) expires on {}; run `ca ocsp-responder renew`",
            fmt(r.not_after)
        )),
        Ok(Some(_)) => None,
        Err(e) => Some(format!(
            "{e}; no OCSP response can be signed until it is fixed"
        )),
    }
}

/// Counts the certificates in one verified pass over index.log (INDEX-COST): each issued line
/// is classed by its dates alone (scanned, not parsed), and only the classes other than
/// "valid" are remembered by serial; at the end, each certificate the log leaves revoked moves
/// from its class to `revoked`. Memory grows with the revoked, expired and expiring
/// certificates, not with all of them.
pub fn count(
    log: &crate::model::log::Log,
    state: &Snapshot,
    crl: Option<&CrlInfo>,
    now: OffsetDateTime,
) -> Result<Tally> {
    let now_s = now.unix_timestamp();
    let mut tally = Tally::default();
    let mut unusual: HashMap<Vec<u8>, Class> = HashMap::new();
    let standings = crate::model::log::scan_issued(log, &state.header, |d| {
        let class = Class::of(d.not_before, d.not_after, now_s);
        tally.counts.total += 1;
        tally.add(class, 1);
        if class != Class::Valid {
            unusual.insert(d.serial.to_vec(), class);
        }
    })?;
    // Published: the CRL lists it as the log has it (same second, same reason). Times alone
    // cannot tell, at one-second resolution, a revocation just before `ca crl` from one just
    // after (review finding), nor a hold from the final revocation that replaced it.
    let published = |serial: &str, r: &crate::model::log::Revoked| {
        crl.and_then(|c| c.listed.get(serial))
            .is_some_and(|&(at, reason)| {
                // A CRL entry without a reason code is `unspecified` (RFC 5280 5.3.1).
                at == r.at.unix_timestamp()
                    && reason.unwrap_or(crate::pki::reason::Reason::Unspecified) == r.reason
            })
    };
    for (serial, standing) in standings {
        if let Some(r) = standing.revoked {
            let class = unusual
                .get(serial.as_bytes())
                .copied()
                .unwrap_or(Class::Valid);
            tally.add(class, -1);
            tally.counts.revoked += 1;
            if r.reason == crate::pki::reason::Reason::CertificateHold {
                tally.counts.held += 1;
            }
            if !published(&serial, &r) {
                tally.unpublished += 1;
            }
        } else if standing.released.is_some() && crl.is_some_and(|c| c.listed.contains_key(&serial))
        {
            // A released hold the published CRL still lists (UNHOLD).
            tally.unpublished += 1;
        }
    }
    Ok(tally)
}

/// How an unrevoked certificate stands at a time, by its dates alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Valid,
    /// Valid, within 30 days of notAfter or in the last third of a shorter life (a 30-day
    /// certificate is not "expiring" the day it is issued: STATUS-WARN).
    Expiring,
    Expired,
}

impl Class {
    fn of(not_before: i64, not_after: i64, now: i64) -> Class {
        let window = (WARN_CERT_DAYS * 86_400).min((not_after - not_before) / 3);
        if not_after < now {
            Class::Expired
        } else if not_after - now < window {
            Class::Expiring
        } else {
            Class::Valid
        }
    }
}

/// What `ca status` counts over the certificates.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: Counts,
    /// Revocations (and releases of a hold) after the published CRL's thisUpdate (all
    /// revocations, without a CRL).
    pub unpublished: usize,
    /// Valid certificates expiring within WARN_CERT_DAYS.
    pub expiring_soon: usize,
}

impl Tally {
    /// Adds `n` (1 or -1) certificates of `class`.
    fn add(&mut self, class: Class, n: isize) {
        let bump = |c: &mut usize| *c = c.saturating_add_signed(n);
        match class {
            Class::Expired => bump(&mut self.counts.expired),
            Class::Expiring => {
                bump(&mut self.counts.valid);
                bump(&mut self.expiring_soon);
            }
            Class::Valid => bump(&mut self.counts.valid),
        }
    }
}

/// Builds the report from the loaded state and the tally of its certificates.
pub fn report(
    state: &Snapshot,
    tally: Tally,
    crl: Option<CrlInfo>,
    now: OffsetDateTime,
) -> StatusReport {
    let mut warnings = Vec::new();
    let ca_after = state.ca.cert.not_after;
    if now > ca_after {
        warnings.push(format!("the CA certificate expired on {}", fmt(ca_after)));
    } else if ca_after - now < Duration::days(WARN_CA_DAYS) {
        warnings.push(format!(
            "the CA certificate expires on {} (within {WARN_CA_DAYS} days)",
            fmt(ca_after)
        ));
    }
    match &crl {
        Some(c) if c.expired => warnings.push(format!(
            "the CRL expired on {}: relying parties that check it reject every certificate; run `ca crl`",
            c.next_update.as_deref().unwrap_or("?")
        )),
        // In the last third of its validity, the rule `serve` logs by too (STATUS-WARN,
        // SERVE-WARN): a CRL just published is not yet worth a warning, whatever its period.
        Some(c) if c.next_update_at.is_some_and(|n| n - now < (n - c.this_update_at) / 3) =>
        {
            warnings.push(format!(
                "the CRL's next update is {}; run `ca crl`",
                c.next_update.as_deref().unwrap_or("?")
            ))
        }
        _ => {}
    }
    if tally.unpublished > 0 {
        warnings.push(format!(
            "{} revocation(s) or release(s) of a hold not yet in a published CRL; run `ca crl`",
            tally.unpublished
        ));
    }
    if tally.expiring_soon > 0 {
        warnings.push(format!(
            "{} certificate(s) expire within {WARN_CERT_DAYS} days (ca list --expiring {WARN_CERT_DAYS}d)",
            tally.expiring_soon
        ));
    }
    let policy = crate::render::status::PolicyInfo {
        sha256: state.header.policy_sha256.clone(),
        profiles: match state.policy() {
            Ok(p) => p.profiles.iter().map(|p| p.name.clone()).collect(),
            Err(e) => {
                warnings.push(format!("{e}; nothing can be issued until it is fixed"));
                Vec::new()
            }
        },
    };
    StatusReport {
        policy,
        subject: state.ca.cert.subject_shown.clone(),
        key_type: state.ca.cert.key_kind.to_string(),
        not_before: fmt(state.ca.cert.not_before),
        not_after: fmt(state.ca.cert.not_after),
        ca_expired: now > state.ca.cert.not_after,
        path_len: state.ca.cert.path_len,
        parent: state.chain.first().map(|c| c.subject_shown.clone()),
        depth: state.chain.len(),
        name_constraints: {
            let s = state.ca.cert.constraints.spelled();
            crate::render::status::NameConstraints {
                permitted: s.permitted,
                excluded: s.excluded,
                closed: s.closed,
            }
        },
        certificates: tally.counts,
        next_serial: state.serial.to_string(),
        next_crl_number: state.crlnumber.to_string(),
        crl,
        generation: state.header.generation,
        warnings,
        key: None,
    }
}

pub use crate::error::store::CrlInfoError;

/// Reads the number and dates of ca.crl.
pub fn crl_info(bytes: &[u8], now: OffsetDateTime) -> std::result::Result<CrlInfo, CrlInfoError> {
    let crl = crate::pki::crl::parse(bytes, crate::store::MAX_STATE_FILE as usize, None)?;
    let number = crl
        .number
        .map(|n| n.to_string())
        .ok_or(CrlInfoError::NoNumber)?;
    let next = crl.next_update;
    let this = crl.this_update;
    Ok(CrlInfo {
        number,
        this_update: fmt(this),
        next_update: next.map(fmt),
        expired: next.is_some_and(|n| n < now),
        this_update_at: this,
        next_update_at: next,
        listed: crl
            .entries
            .iter()
            .map(|(s, at, reason)| (s.to_string(), (at.unix_timestamp(), *reason)))
            .collect(),
    })
}
