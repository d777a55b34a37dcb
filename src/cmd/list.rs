//! `ca list`: the inventory of issued certificates (SPEC.md `LIST-*`).

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::Context;
use crate::cli::ListArgs;
use crate::clock::fmt;
use crate::error::{Error, Result};
use crate::index::{CertState, Entry};
use crate::store::{Access, Session};

/// One row of `ca list --json` (SPEC.md LIST-JSON). Field names and types are stable.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    pub serial: &'a str,
    pub subject: &'a str,
    pub sans: &'a [String],
    pub profile: &'a str,
    pub not_before: String,
    pub not_after: String,
    pub state: CertState,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<&'a str>,
    pub renewed_from: Option<&'a str>,
    pub sha256: &'a str,
}

impl<'a> Row<'a> {
    pub fn new(e: &'a Entry, now: OffsetDateTime) -> Row<'a> {
        Row {
            serial: &e.serial,
            subject: &e.subject,
            sans: &e.sans,
            profile: &e.profile,
            not_before: fmt(e.not_before),
            not_after: fmt(e.not_after),
            state: e.state(now),
            revoked_at: e.revoked_at.map(fmt),
            revocation_reason: e.revocation_reason.as_deref(),
            renewed_from: e.renewed_from.as_deref(),
            sha256: &e.sha256,
        }
    }
}

/// Runs `ca list`.
pub fn run(args: &ListArgs, ctx: &Context) -> Result<()> {
    let within = args
        .expiring
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|m| Error::refused(format!("--expiring: {m}")))?;
    let needle = args.matching.as_deref().map(str::to_lowercase);
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let header = crate::index::open(session.dir())?;
    let entries = crate::index::load_all(session.dir(), &header)?;
    let rows: Vec<Row<'_>> = entries
        .iter()
        .filter(|e| args.status.is_none_or(|s| e.state(ctx.now) == s))
        .filter(|e| {
            within
                .is_none_or(|d| e.state(ctx.now) == CertState::Valid && e.not_after <= ctx.now + d)
        })
        .filter(|e| {
            needle.as_deref().is_none_or(|n| {
                e.subject.to_lowercase().contains(n)
                    || e.sans.iter().any(|s| s.to_lowercase().contains(n))
            })
        })
        .map(|e| Row::new(e, ctx.now))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| Error::Internal(e.to_string()))?
        );
        return Ok(());
    }
    println!(
        "{:<32}  {:<7}  {:<20}  {:<13}  SUBJECT / SANS",
        "SERIAL", "STATE", "NOT AFTER", "PROFILE"
    );
    for r in &rows {
        let state = match r.state {
            CertState::Valid => "valid",
            CertState::Revoked => "revoked",
            CertState::Expired => "expired",
        };
        println!(
            "{:<32}  {:<7}  {:<20}  {:<13}  {}{}",
            r.serial,
            state,
            r.not_after,
            r.profile,
            r.subject,
            if r.sans.is_empty() {
                String::new()
            } else {
                format!(" [{}]", r.sans.join(", "))
            }
        );
    }
    Ok(())
}

/// Parses `30d`, `12h`, `2w`, `90m` or a plain number of days.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "d"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30d, 12h or 2w"))?;
    match unit {
        "d" => Ok(Duration::days(n)),
        "h" => Ok(Duration::hours(n)),
        "w" => Ok(Duration::weeks(n)),
        "m" => Ok(Duration::minutes(n)),
        _ => Err(format!("{s:?}: unknown unit {unit:?} (use m, h, d or w)")),
    }
}
