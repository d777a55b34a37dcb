//! `ca status`: a summary of the CA for people (`--json` for scripts; schema in SPEC.md).

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::Context;
use crate::cli::JsonArgs;
use crate::clock::fmt;
use crate::error::{Error, Result};
use crate::model::log::Entry;
use crate::model::snapshot::State;
use crate::store::{Access, CRL, Session};

/// The `--json` document (SPEC.md `STATUS-JSON`).
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub subject: String,
    pub key_type: String,
    pub not_before: String,
    pub not_after: String,
    pub ca_expired: bool,
    pub certificates: Counts,
    pub next_serial: String,
    pub next_crl_number: String,
    pub crl: Option<CrlInfo>,
    pub generation: u64,
    /// Conditions that need the operator's attention (SPEC.md STATUS-WARN).
    pub warnings: Vec<String>,
}

/// Warn when the CA certificate expires within this many days.
pub const WARN_CA_DAYS: i64 = 90;
/// Warn when the CRL's nextUpdate falls within this many days.
pub const WARN_CRL_DAYS: i64 = 7;
/// Warn about valid certificates expiring within this many days.
pub const WARN_CERT_DAYS: i64 = 30;

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub total: usize,
    pub valid: usize,
    pub revoked: usize,
    pub expired: usize,
}

#[derive(Debug, Serialize)]
pub struct CrlInfo {
    pub number: String,
    pub this_update: String,
    pub next_update: Option<String>,
    pub expired: bool,
    #[serde(skip)]
    pub this_update_at: OffsetDateTime,
    #[serde(skip)]
    pub next_update_at: Option<OffsetDateTime>,
}

/// Runs `ca status`.
pub fn run(args: &JsonArgs, ctx: &Context) -> Result<()> {
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let state = State::load(&session, None)?;
    let crl = match session.read_optional(CRL)? {
        Some(bytes) => {
            Some(crl_info(&bytes, ctx.env.now).map_err(|m| Error::state(ctx.dir.join(CRL), m))?)
        }
        None => None,
    };
    let mut tally = Tally::default();
    crate::model::log::for_each_entry(&session, &state.header, |e| {
        tally.add(&e, crl.as_ref(), ctx.env.now);
        Ok(())
    })?;
    let report = report(&state, tally, crl, ctx.env.now);
    if args.json {
        let json =
            serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?;
        return crate::render::print(&format!("{json}\n"));
    }
    let c = &report.certificates;
    let mut out = String::new();
    crate::outln!(
        out,
        "subject:       {}",
        crate::render::escape(&report.subject)
    );
    crate::outln!(out, "key type:      {}", report.key_type);
    crate::outln!(
        out,
        "validity:      {} to {}{}",
        report.not_before,
        report.not_after,
        if report.ca_expired { " (EXPIRED)" } else { "" }
    );
    crate::outln!(
        out,
        "certificates:  {} issued: {} valid, {} revoked, {} expired",
        c.total,
        c.valid,
        c.revoked,
        c.expired
    );
    crate::outln!(
        out,
        "serials from:  {} (+ 64 random bits)",
        report.next_serial
    );
    match &report.crl {
        Some(crl) => crate::outln!(
            out,
            "CRL:           number {}, next update {}{}; next CRL number {}",
            crl.number,
            crl.next_update.as_deref().unwrap_or("(none)"),
            if crl.expired { " (EXPIRED)" } else { "" },
            report.next_crl_number
        ),
        None => crate::outln!(
            out,
            "CRL:           none published yet (run `ca crl`); next CRL number {}",
            report.next_crl_number
        ),
    }
    crate::outln!(out, "generation:    {}", report.generation);
    crate::render::print(&out)?;
    for w in &report.warnings {
        crate::render::warn(&format!("warning: {w}"));
    }
    Ok(())
}

/// What `ca status` counts over the certificates.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: Counts,
    /// Revocations after the published CRL's thisUpdate (or all, without a CRL).
    pub unpublished: usize,
    /// Valid certificates expiring within WARN_CERT_DAYS.
    pub expiring_soon: usize,
}

impl Tally {
    /// Counts one certificate.
    pub fn add(&mut self, e: &Entry, crl: Option<&CrlInfo>, now: OffsetDateTime) {
        self.counts.total += 1;
        match e.revoked {
            Some(r) => {
                self.counts.revoked += 1;
                if crl.is_none_or(|c| c.this_update_at < r.at) {
                    self.unpublished += 1;
                }
            }
            None if e.not_after < now => self.counts.expired += 1,
            None => {
                self.counts.valid += 1;
                if e.not_after - now < Duration::days(WARN_CERT_DAYS) {
                    self.expiring_soon += 1;
                }
            }
        }
    }
}

/// Builds the report from the loaded state and the tally of its certificates.
pub fn report(
    state: &State,
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
        // Due within 7 days, or within the last quarter of a shorter CRL's life: a 7-day
        // CRL just published is not yet worth a warning (STATUS-WARN).
        Some(c)
            if c.next_update_at.is_some_and(|n| {
                let window = Duration::days(WARN_CRL_DAYS).min((n - c.this_update_at) / 4);
                n - now < window
            }) =>
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
            "{} revocation(s) not yet in a published CRL; run `ca crl`",
            tally.unpublished
        ));
    }
    if tally.expiring_soon > 0 {
        warnings.push(format!(
            "{} certificate(s) expire within {WARN_CERT_DAYS} days (ca list --expiring {WARN_CERT_DAYS}d)",
            tally.expiring_soon
        ));
    }
    StatusReport {
        subject: state.ca.cert.subject_shown.clone(),
        key_type: state.ca.cert.key_kind.to_string(),
        not_before: fmt(state.ca.cert.not_before),
        not_after: fmt(state.ca.cert.not_after),
        ca_expired: now > state.ca.cert.not_after,
        certificates: tally.counts,
        next_serial: state.serial.to_string(),
        next_crl_number: state.crlnumber.to_string(),
        crl,
        generation: state.header.generation,
        warnings,
    }
}

/// Reads the number and dates of ca.crl.
pub fn crl_info(bytes: &[u8], now: OffsetDateTime) -> std::result::Result<CrlInfo, String> {
    let crl = crate::pki::crl::parse(bytes, crate::store::MAX_STATE_FILE as usize, None)
        .map_err(|e| e.to_string())?;
    let number = crl
        .number
        .map(|n| n.to_string())
        .ok_or("the CRL has no CRL number")?;
    let next = crl.next_update;
    let this = crl.this_update;
    Ok(CrlInfo {
        number,
        this_update: fmt(this),
        next_update: next.map(fmt),
        expired: next.is_some_and(|n| n < now),
        this_update_at: this,
        next_update_at: next,
    })
}
