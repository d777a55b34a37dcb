//! `ca export-index`: the certificates this CA issued as an OpenSSL `index.txt` (SPEC.md
//! EXPORT-INDEX), so `openssl ocsp -index` and other OpenSSL tooling can read this CA's state.
//!
//! `run` opens a shared session, loads the verified state and streams one line per
//! certificate in issue order, as `list` streams its rows.

use std::io::Write;

use time::OffsetDateTime;

use super::Context;
use crate::error::Result;
use crate::model::log::{CertState, Entry};
use crate::pki::reason::Reason;
use crate::store::{Access, Session};

/// Runs `ca export-index`.
pub fn run(ctx: &Context) -> Result<()> {
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    // Read under the lock, like list: what is expired is judged at the same instant.
    let now = ctx.now()?;
    // VERIFIED-READ: only the state the signed checkpoint covers is exported.
    let state = &session.verified_state()?;
    let mut out = crate::term::Stream::new(1 << 16);
    let written = crate::model::log::for_each_entry(&session.open_log()?, &state.header, |e| {
        out.write_all(index_line(&e, now).as_bytes())
            .map_err(crate::term::stdout_error)
    });
    match written {
        Ok(()) => out.finish(),
        Err(e) => {
            out.discard();
            Err(e)
        }
    }
}

/// One line of `index.txt`, as `openssl ca` writes it: status (`V` valid, `R` revoked, `E`
/// expired), expiry, revocation time and reason (revoked only), serial (uppercase hex, even
/// number of digits), `unknown` (the file name, which fileca does not keep), and the subject
/// in OpenSSL's one-line form, fields separated by tabs.
pub fn index_line(e: &Entry, now: OffsetDateTime) -> String {
    let status = match e.state(now) {
        CertState::Valid => 'V',
        CertState::Revoked => 'R',
        CertState::Expired => 'E',
    };
    let revoked = match &e.revoked {
        None => String::new(),
        Some(r) => match openssl_reason(r.reason) {
            Some(name) => format!("{},{name}", asn1_time(r.at)),
            None => asn1_time(r.at),
        },
    };
    format!(
        "{status}\t{}\t{revoked}\t{}\tunknown\t{}\n",
        asn1_time(e.not_after),
        e.serial,
        oneline(&e.subject)
    )
}

/// The name `openssl ca` writes after the revocation time; none for unspecified (openssl
/// writes the time alone) and for the two reasons OpenSSL's index does not know
/// (privilegeWithdrawn, aACompromise: written as unspecified, the time alone).
fn openssl_reason(reason: Reason) -> Option<&'static str> {
    Some(match reason {
        Reason::Unspecified | Reason::PrivilegeWithdrawn | Reason::AaCompromise => return None,
        Reason::KeyCompromise => "keyCompromise",
        Reason::CaCompromise => "CACompromise",
        Reason::AffiliationChanged => "affiliationChanged",
        Reason::Superseded => "superseded",
        Reason::CessationOfOperation => "cessationOfOperation",
        Reason::CertificateHold => "certificateHold",
        Reason::RemoveFromCrl => "removeFromCRL",
    })
}

/// A time as an ASN.1 string, as OpenSSL's index keeps it: UTCTime `YYMMDDHHMMSSZ` for
/// 1950–2049, GeneralizedTime `YYYYMMDDHHMMSSZ` otherwise (RFC 5280 4.1.2.5).
fn asn1_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (y, rest) = (
        t.year(),
        format!(
            "{:02}{:02}{:02}{:02}{:02}Z",
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
    );
    if (1950..2050).contains(&y) {
        format!("{:02}{rest}", y % 100)
    } else {
        format!("{y:04}{rest}")
    }
}

/// index.log's subject (ASN.1 order, `,`-joined) in OpenSSL's one-line form: `/K=V` per
/// attribute, a `/` inside a value escaped as `\/`.
fn oneline(stored: &str) -> String {
    match crate::pki::names::Subject::parse_stored(stored) {
        Ok(s) => {
            s.0.iter()
                .map(|(k, v)| format!("/{k}={}", v.replace('\\', "\\\\").replace('/', "\\/")))
                .collect()
        }
        Err(_) => format!("/CN={}", stored.replace('/', "\\/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_time_until_2049_and_generalized_after_export_index() {
        let t = |s: &str| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
        };
        assert_eq!(asn1_time(t("2027-12-07T06:59:59Z")), "271207065959Z");
        assert_eq!(asn1_time(t("2049-12-31T23:59:59Z")), "491231235959Z");
        assert_eq!(asn1_time(t("2050-01-01T00:00:00Z")), "20500101000000Z");
        assert_eq!(oneline("C=DE,O=Lab,CN=a/b"), "/C=DE/O=Lab/CN=a\\/b");
        assert_eq!(openssl_reason(Reason::CaCompromise), Some("CACompromise"));
        assert_eq!(openssl_reason(Reason::Unspecified), None);
    }
}
