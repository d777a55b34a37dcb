//! Reading an issued line's serial and dates without a JSON parser, for the walks that touch
//! every line (`ca status`). index.log's lines are fileca's own compact serialization (keys
//! in a fixed order, SPEC.md INDEX-LOG), and what a walk scans is used only after the lines
//! chain to the signed `log_head` (VERIFIED-READ): a line is as fileca wrote it. Anything not
//! of exactly that shape gives `None`, and the caller parses the line in full
//! ([`super::parse_line`]), which reports what is wrong with it.

/// An issued line's serial (canonical hex, as written) and its validity, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedDates<'a> {
    pub serial: &'a [u8],
    pub not_before: i64,
    pub not_after: i64,
}

/// The serial and dates of an issued line (without its newline), found from the line's
/// fixed tail: `…,"not_before":"T","not_after":"T","sha256":"<64 hex>"` then, for a renewal,
/// `,"renewed_from":"<serial>"`, then `}`.
pub fn issued_dates(line: &[u8]) -> Option<IssuedDates<'_>> {
    let rest = line.strip_prefix(super::ISSUED)?;
    let serial = &rest[..rest.iter().take(41).position(|&b| b == b'"')?];
    let body = line.strip_suffix(b"\"}")?;
    // Without renewed_from, the line ends in the sha256 value; with it, in its serial.
    let sha_key = |end: usize| {
        end.checked_sub(64 + SHA256.len())
            .filter(|&k| body.get(k..k + SHA256.len()) == Some(SHA256))
    };
    let key = match sha_key(body.len()) {
        Some(k) => k,
        None => {
            let quote = body.iter().rposition(|&b| b == b'"')?;
            let k = quote.checked_sub(RENEWED.len() - 1)?;
            if body.get(k..=quote)? != RENEWED {
                return None;
            }
            sha_key(k)?
        }
    };
    let (not_after, k) = value_before(body, key, NOT_AFTER)?;
    let (not_before, _) = value_before(body, k, NOT_BEFORE)?;
    Some(IssuedDates {
        serial,
        not_before: unix_seconds(not_before)?,
        not_after: unix_seconds(not_after)?,
    })
}

const SHA256: &[u8] = b"\",\"sha256\":\"";
const RENEWED: &[u8] = b"\",\"renewed_from\":\"";
const NOT_AFTER: &[u8] = b"\",\"not_after\":\"";
const NOT_BEFORE: &[u8] = b"\",\"not_before\":\"";

/// The 20-byte time value ending just before `end` (where its closing quote starts), if the
/// key `key` (from the previous value's closing quote to this value's opening one) precedes
/// it; and where that key starts.
fn value_before<'a>(line: &'a [u8], end: usize, key: &[u8]) -> Option<(&'a [u8], usize)> {
    let start = end.checked_sub(20)?;
    let k = start.checked_sub(key.len())?;
    (line.get(k..start)? == key).then(|| (&line[start..end], k))
}

/// `YYYY-MM-DDTHH:MM:SSZ` (what fileca writes: UTC, whole seconds) as Unix seconds.
pub fn unix_seconds(t: &[u8]) -> Option<i64> {
    if t.len() != 20 || t[4] != b'-' || t[7] != b'-' || t[10] != b'T' || t[13] != b':' {
        return None;
    }
    if t[16] != b':' || t[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        t[r].iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::log::Entry;
    use crate::pki::serial::Serial;

    fn entry(renewed: bool) -> Entry {
        Entry {
            serial: Serial::parse_canonical("5C0A4B1F").unwrap(),
            subject: "CN=a \"quoted\" \\ name,O=x".into(),
            sans: vec!["DNS:a.example".into(), "IP:192.0.2.7".into()],
            profile: "server".into(),
            not_before: time::macros::datetime!(2026-01-31 23:59:58 UTC),
            not_after: time::macros::datetime!(2028-02-29 00:00:01 UTC),
            revoked: None,
            released: None,
            sha256: "ab".repeat(32),
            renewed_from: renewed.then(|| Serial::parse_canonical("0A").unwrap()),
        }
    }

    #[test]
    fn the_scanner_reads_what_the_parser_reads_or_nothing() {
        for renewed in [false, true] {
            let e = entry(renewed);
            let line = e.issued_line();
            let line = &line[..line.len() - 1];
            let d = issued_dates(line).unwrap();
            assert_eq!(d.serial, b"5C0A4B1F");
            assert_eq!(d.not_before, e.not_before.unix_timestamp());
            assert_eq!(d.not_after, e.not_after.unix_timestamp());
        }
        let line = entry(false).issued_line();
        let line = &line[..line.len() - 1];
        // Any other shape is left to the parser.
        for bad in [
            &line[..line.len() - 1],
            &line[1..],
            b"{\"revoked\":\"0A\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"keyCompromise\"}",
            b"{\"issued\":\"0A\"}",
            b"",
        ] {
            assert_eq!(issued_dates(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let fraction = String::from_utf8(line.to_vec())
            .unwrap()
            .replace("00:00:01Z", "00:00:01.5Z");
        assert_eq!(issued_dates(fraction.as_bytes()), None);
    }

    #[test]
    fn unix_seconds_agrees_with_the_time_crate() {
        use time::format_description::well_known::Rfc3339;
        for s in [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2000-02-29T12:34:56Z",
            "2026-12-07T12:00:00Z",
            "2100-03-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
        ] {
            let want = time::OffsetDateTime::parse(s, &Rfc3339)
                .unwrap()
                .unix_timestamp();
            assert_eq!(unix_seconds(s.as_bytes()), Some(want), "{s}");
        }
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00+00:00",
        ] {
            assert_eq!(unix_seconds(bad.as_bytes()), None, "{bad}");
        }
    }
}
