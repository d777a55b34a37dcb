//! Times as fileca prints them: RFC 3339 in UTC, whole seconds (`2026-11-22T21:09:23Z`).
//! In the PKI core because its errors and notes name times; `crate::clock` re-exports it.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Formats a time as RFC 3339 UTC, e.g. `2026-11-22T21:09:23Z`.
pub fn fmt(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}
