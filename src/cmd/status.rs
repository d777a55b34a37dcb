//! `ca status`: a summary of the CA for people (`--json` for scripts; schema in SPEC.md).

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::Context;
use crate::cli::JsonArgs;
use crate::clock::fmt;
use crate::csr::decode_one;
use crate::error::{Error, Result};
use crate::index::Status;
use crate::state::State;
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
}

#[derive(Debug, Serialize)]
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
}

/// Runs `ca status`.
pub fn run(args: &JsonArgs, ctx: &Context) -> Result<()> {
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let state = State::load(&session)?;
    let crl = match session.read_optional(CRL)? {
        Some(bytes) => {
            Some(crl_info(&bytes, ctx.now).map_err(|m| Error::state(ctx.dir.join(CRL), m))?)
        }
        None => None,
    };
    let report = report(&state, crl, ctx.now);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?
        );
        return Ok(());
    }
    let c = &report.certificates;
    println!("subject:       {}", report.subject);
    println!("key type:      {}", report.key_type);
    println!(
        "validity:      {} to {}{}",
        report.not_before,
        report.not_after,
        if report.ca_expired { " (EXPIRED)" } else { "" }
    );
    println!(
        "certificates:  {} issued: {} valid, {} revoked, {} expired",
        c.total, c.valid, c.revoked, c.expired
    );
    println!("next serial:   {}", report.next_serial);
    match &report.crl {
        Some(crl) => println!(
            "CRL:           number {}, next update {}{}; next CRL number {}",
            crl.number,
            crl.next_update.as_deref().unwrap_or("(none)"),
            if crl.expired { " (EXPIRED)" } else { "" },
            report.next_crl_number
        ),
        None => println!(
            "CRL:           none published yet (run `ca crl`); next CRL number {}",
            report.next_crl_number
        ),
    }
    println!("generation:    {}", report.generation);
    Ok(())
}

/// Builds the report from the loaded state.
pub fn report(state: &State, crl: Option<CrlInfo>, now: OffsetDateTime) -> StatusReport {
    let mut counts = Counts {
        total: state.index.certificates.len(),
        valid: 0,
        revoked: 0,
        expired: 0,
    };
    for e in &state.index.certificates {
        match e.status {
            Status::Revoked => counts.revoked += 1,
            Status::Valid if e.not_after < now => counts.expired += 1,
            Status::Valid => counts.valid += 1,
        }
    }
    StatusReport {
        subject: state.ca.cert.subject.clone(),
        key_type: state.ca.cert.key_kind.to_string(),
        not_before: fmt(state.ca.cert.not_before),
        not_after: fmt(state.ca.cert.not_after),
        ca_expired: now > state.ca.cert.not_after,
        certificates: counts,
        next_serial: state.serial.to_string(),
        next_crl_number: state.crlnumber.to_string(),
        crl,
        generation: state.index.generation,
    }
}

/// Reads the number and dates of ca.crl.
pub fn crl_info(bytes: &[u8], now: OffsetDateTime) -> std::result::Result<CrlInfo, String> {
    let der = decode_one(bytes, &["X509 CRL"], crate::store::MAX_STATE_FILE as usize)?;
    let (_, crl) =
        CertificateRevocationList::from_der(&der).map_err(|e| format!("not a valid CRL: {e}"))?;
    let number = crl
        .crl_number()
        .map(|n| crate::serial::Serial::from_magnitude(&n.to_bytes_be()).to_string())
        .ok_or("the CRL has no CRL number")?;
    let next = crl.next_update().map(|t| t.to_datetime());
    Ok(CrlInfo {
        number,
        this_update: fmt(crl.last_update().to_datetime()),
        next_update: next.map(fmt),
        expired: next.is_some_and(|n| n < now),
    })
}
