//! index.txt's revocation field and its times, as `openssl ca` writes them.

use time::{Date, Month, OffsetDateTime, Time};

use super::problem::ImportProblem;
use crate::model::log::Revoked;
use crate::pki::reason::Reason;

/// index.txt's revocation field: `DATE[,REASON[,ARG]]`. `openssl ca -crl_hold INSTRUCTION`
/// writes `holdInstruction,INSTRUCTION` (a certificateHold, whose instruction fileca does not
/// carry), `-crl_compromise TIME` writes `keyTime,TIME` and `-crl_CA_compromise TIME`
/// `CAkeyTime,TIME` (keyCompromise and cACompromise; the invalidity time is not carried).
/// removeFromCRL is refused: it only means something in a delta CRL.
pub(super) fn revocation_of(field: &str) -> std::result::Result<Revoked, ImportProblem> {
    let mut parts = field.splitn(3, ',');
    let date = parts.next().unwrap_or_default();
    let at = parse_utc_time(date).ok_or_else(|| ImportProblem::RevocationDate(date.to_string()))?;
    let reason = match parts.next() {
        None => Reason::Unspecified,
        Some(r) => match r.to_ascii_lowercase().as_str() {
            "holdinstruction" => Reason::CertificateHold,
            "keytime" => Reason::KeyCompromise,
            "cakeytime" => Reason::CaCompromise,
            _ => reason_of(r)
                .filter(|&r| r != Reason::RemoveFromCrl)
                .ok_or_else(|| ImportProblem::Reason(r.to_string()))?,
        },
    };
    Ok(Revoked { at, reason })
}

/// An X.509 UTCTime as index.txt writes it, `YYMMDDHHMMSSZ`; years 50–99 are 19xx
/// (RFC 5280 4.1.2.5.1).
fn parse_utc_time(s: &str) -> Option<OffsetDateTime> {
    let d = s.strip_suffix('Z')?;
    if d.len() != 12 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| d[i..i + 2].parse::<u8>().ok();
    let yy = i32::from(n(0)?);
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    let date = Date::from_calendar_date(year, Month::try_from(n(2)?).ok()?, n(4)?).ok()?;
    let time = Time::from_hms(n(6)?, n(8)?, n(10)?).ok()?;
    Some(date.with_time(time).assume_utc())
}

/// OpenSSL's reason names (index.txt) to RFC 5280's.
fn reason_of(s: &str) -> Option<Reason> {
    Some(match s.to_ascii_lowercase().as_str() {
        "unspecified" => Reason::Unspecified,
        "keycompromise" => Reason::KeyCompromise,
        "cacompromise" => Reason::CaCompromise,
        "affiliationchanged" => Reason::AffiliationChanged,
        "superseded" => Reason::Superseded,
        "cessationofoperation" => Reason::CessationOfOperation,
        "certificatehold" => Reason::CertificateHold,
        "removefromcrl" => Reason::RemoveFromCrl,
        "privilegewithdrawn" => Reason::PrivilegeWithdrawn,
        "aacompromise" => Reason::AaCompromise,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_txt_revocation_fields_as_openssl_ca_writes_them_import_openssl() {
        let r = |f: &str| {
            revocation_of(f)
                .map(|r| r.reason)
                .map_err(|e| e.to_string())
        };
        assert_eq!(r("261207120000Z"), Ok(Reason::Unspecified));
        assert_eq!(r("261207120000Z,keyCompromise"), Ok(Reason::KeyCompromise));
        assert_eq!(r("261207120000Z,CACompromise"), Ok(Reason::CaCompromise));
        // -crl_hold, -crl_compromise, -crl_CA_compromise (review finding: holds were refused).
        assert_eq!(
            r("261207120000Z,holdInstruction,holdInstructionReject"),
            Ok(Reason::CertificateHold)
        );
        assert_eq!(
            r("261207120000Z,certificateHold"),
            Ok(Reason::CertificateHold)
        );
        assert_eq!(
            r("261207120000Z,keyTime,20261201000000Z"),
            Ok(Reason::KeyCompromise)
        );
        assert_eq!(
            r("261207120000Z,CAkeyTime,20261201000000Z"),
            Ok(Reason::CaCompromise)
        );
        assert!(r("261207120000Z,removeFromCRL").is_err_and(|e| e.contains("delta CRL")));
        assert!(r("261207120000Z,because").is_err());
        assert!(r("2612071200Z").is_err_and(|e| e.contains("YYMMDDHHMMSSZ")));
        assert_eq!(
            revocation_of("261207120000Z").unwrap().at,
            time::macros::datetime!(2026-12-07 12:00 UTC)
        );
    }
}
