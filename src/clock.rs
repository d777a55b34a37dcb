//! The current time, read once at the top of a command and passed down as `now`.
//!
//! Debug builds honour `FILECA_NOW` (RFC 3339) so tests can pin time; release builds ignore it.

use time::OffsetDateTime;

use crate::error::Result;

/// Now, truncated to whole seconds (certificates carry no fractions).
pub fn now() -> Result<OffsetDateTime> {
    #[cfg(debug_assertions)]
    if let Ok(s) = std::env::var("FILECA_NOW") {
        return OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
            .map(truncate)
            .map_err(|e| {
                crate::error::Refused::TestClock {
                    value: s.clone(),
                    err: e.to_string(),
                }
                .into()
            });
    }
    Ok(truncate(OffsetDateTime::now_utc()))
}

/// Drops sub-second precision and normalises to UTC.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Formats a time as RFC 3339 UTC (in the PKI core, whose errors and notes print times).
pub use crate::pki::rfc3339::fmt;
