//! `ca list`: the inventory of issued certificates (SPEC.md `LIST-*`).

use std::io::Write;

use time::{Duration, OffsetDateTime};

use super::Context;
use crate::cli::ListArgs;
use crate::error::{Error, Result};
use crate::model::log::{CertState, Entry};
use crate::render::Row;
use crate::store::{Access, Session};

/// Runs `ca list`.
pub fn run(args: &ListArgs, ctx: &Context) -> Result<()> {
    let within = args
        .expiring
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|m| crate::error::Refused::Duration(m.to_string()))?;
    let needle = args.matching.as_deref().map(str::to_lowercase);
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let header = crate::model::header::open(&session)?;
    let keep = |e: &Entry| {
        args.status.is_none_or(|s| e.state(ctx.env.now) == s)
            && within.is_none_or(|d| {
                // A difference of two times never overflows; `now + d` could (`99999999999d`).
                e.state(ctx.env.now) == CertState::Valid && e.not_after - ctx.env.now <= d
            })
            && needle.as_deref().is_none_or(|n| {
                crate::pki::names::shown(&e.subject)
                    .to_lowercase()
                    .contains(n)
                    || e.sans.iter().any(|s| s.to_lowercase().contains(n))
            })
    };
    // Rows are written as the log is read, so memory does not grow with the number of
    // certificates (SPEC.md LIST-STREAM). Output is buffered; if the log turns out damaged
    // the buffer is discarded, so a failed list prints nothing unless it had already
    // produced more than the buffer holds.
    let mut out = crate::render::Stream::new(OUT_BUFFER);
    match write_rows(&mut out, &session, &header, args.json, ctx.env.now, keep) {
        Ok(()) => out.finish(),
        Err(e) => {
            out.discard();
            Err(e)
        }
    }
}

/// Output buffer of `ca list`: 64 KiB, about 150 rows.
const OUT_BUFFER: usize = 1 << 16;

/// Writes the rows `keep` selects, as JSON or as the table.
fn write_rows(
    out: &mut impl Write,
    session: &Session,
    header: &crate::model::header::Header,
    json: bool,
    now: OffsetDateTime,
    keep: impl Fn(&Entry) -> bool,
) -> Result<()> {
    let io = |e: std::io::Error| Error::io("<stdout>", e);
    if json {
        use serde::ser::{SerializeSeq, Serializer};
        let json = |e: serde_json::Error| Error::io("<stdout>", std::io::Error::other(e));
        let mut ser = serde_json::Serializer::pretty(&mut *out);
        let mut seq = ser.serialize_seq(None).map_err(json)?;
        crate::model::log::for_each_entry(session, header, |e| {
            if keep(&e) {
                seq.serialize_element(&Row::new(&e, now)).map_err(json)?;
            }
            Ok(())
        })?;
        seq.end().map_err(json)?;
        return writeln!(out).map_err(io);
    }
    // Rows are written as the log is read: the widest serial is the highest (a canonical serial
    // never gets shorter as it grows), which index.json records; 40 digits for 20 octets.
    let width = header
        .max_serial()
        .map_or(6, |s| s.to_string().len())
        .max(6);
    writeln!(
        out,
        "{:<width$}  {:<7}  {:<20}  {:<13}  SUBJECT / SANS",
        "SERIAL", "STATE", "NOT AFTER", "PROFILE"
    )
    .map_err(io)?;
    crate::model::log::for_each_entry(session, header, |e| {
        if !keep(&e) {
            return Ok(());
        }
        let r = Row::new(&e, now);
        let state = r.state.name();
        writeln!(
            out,
            "{:<width$}  {:<7}  {:<20}  {:<13}  {}{}",
            r.serial,
            state,
            r.not_after,
            r.profile,
            crate::render::escape(&r.subject),
            if r.sans.is_empty() {
                String::new()
            } else {
                crate::render::escape(&format!(" [{}]", r.sans.join(", ")))
            }
        )
        .map_err(io)
    })
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
    let seconds: i64 = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "w" => 604_800,
        "m" => 60,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use m, h, d or w)")),
    };
    n.checked_mul(seconds)
        .map(Duration::seconds)
        .ok_or_else(|| format!("{s:?} is too long a duration"))
}
