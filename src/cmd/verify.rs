//! `ca verify`: a verdict on a certificate file against this CA (SPEC.md `VERIFY-*`).
//!
//! `run` reads the file (before the lock), opens a shared session and reaches the verdict
//! from ca.crt, the archived CA certificates and index.log; `render::verify` defines the
//! verdicts and the report and prints it. The verdict's exit code is the command's.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::Context;
use crate::cli::VerifyArgs;
use crate::error::{Error, Result};
use crate::hex;
use crate::model::log::CertState;
use crate::pki::pem::MAX_PEM_BYTES;
use crate::pki::pem::decode_one;
use crate::pki::serial::Serial;
use crate::render::verify::{Verdict, VerifyReport};
use crate::store::{Access, CERT, Session};

/// Runs `ca verify`; returns the verdict's exit code.
pub fn run(args: &VerifyArgs, ctx: &Context) -> Result<i32> {
    let bytes = crate::input::read_csr(&args.cert)?;
    let der = decode_one(&bytes, &["CERTIFICATE"], MAX_PEM_BYTES)
        .map_err(|e| Error::input(&args.cert, e.into()))?;
    let cert =
        crate::pki::pem::certificate(&der).map_err(|e| Error::input(&args.cert, e.into()))?;
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let report = query(&session, &cert, &der, ctx.env.now)?;
    crate::render::verify::print(&report, &args.cert, args.json)?;
    Ok(report.verdict.exit_code())
}

/// The verdict at `now` on `cert` (whose DER is `der`): checked against ca.crt, then the CA
/// certificates renew-ca archived, then index.log.
pub fn query(
    session: &Session,
    cert: &X509Certificate<'_>,
    der: &[u8],
    now: OffsetDateTime,
) -> Result<VerifyReport> {
    let ca = crate::model::snapshot::ca_cert(session.dir(), &session.read(CERT)?)?;
    let header = crate::model::header::open(session)?;
    let serial = Serial::from_magnitude(cert.raw_serial());
    // ca.crt and the certificates renew-ca or install-ca archived are this CA's own, also
    // when a parent issued them (a sub-CA).
    let archived = crate::model::layout::archived_ca_file(&serial);
    let is_archived = session.read_optional(&archived)?.is_some_and(|b| {
        crate::pki::pem::decode_one(&b, &["CERTIFICATE"], MAX_PEM_BYTES).is_ok_and(|d| d == der)
    });
    let (verdict, detail) = if !ca.issued(cert) && der != ca.der && !is_archived {
        (
            Verdict::NotIssuedByThisCa,
            format!(
                "issuer {} is not this CA or the signature does not verify",
                crate::render::escape(&cert.issuer().to_string())
            ),
        )
    } else if cert.subject().to_string() == ca.subject {
        // Self-signed by this CA's key under its name: ca.crt itself, or a certificate of this
        // CA that renew-ca archived. Not a leaf, so not in the index.
        let (from, until) = (
            cert.validity().not_before.to_datetime(),
            cert.validity().not_after.to_datetime(),
        );
        let which = if der == ca.der {
            "this CA's own certificate (ca.crt)"
        } else if is_archived {
            "an earlier certificate of this CA (renew-ca)"
        } else {
            ""
        };
        if which.is_empty() {
            // Self-signed with the CA's key under its name, but neither ca.crt nor one
            // renew-ca archived: made with the key outside fileca.
            (
                Verdict::NotInIndex,
                "a CA certificate signed by this CA's key that fileca did not make (neither \
                 ca.crt nor an archived one; run ca check)"
                    .to_string(),
            )
        } else if now > until {
            (
                Verdict::Expired,
                format!("{which}, expired on {}", crate::clock::fmt(until)),
            )
        } else if now < from {
            (
                Verdict::NotYetValid,
                format!("{which}, not valid before {}", crate::clock::fmt(from)),
            )
        } else {
            (
                Verdict::ThisCa,
                format!("{which}, valid until {}", crate::clock::fmt(until)),
            )
        }
    } else {
        match crate::model::log::find(session, &header, &serial)? {
            Some(e) if e.sha256 == hex::sha256(der) => match e.state(now) {
                CertState::Revoked if let Some(r) = e.revoked => (
                    Verdict::Revoked,
                    format!(
                        "revoked on {} ({})",
                        crate::clock::fmt(r.at),
                        r.reason.name()
                    ),
                ),
                CertState::Expired => (
                    Verdict::Expired,
                    format!("expired on {}", crate::clock::fmt(e.not_after)),
                ),
                _ if now < cert.validity().not_before.to_datetime() => (
                    Verdict::NotYetValid,
                    format!("not valid before {}", cert.validity().not_before),
                ),
                _ => (
                    Verdict::Valid,
                    format!(
                        "issued by this CA, valid until {}",
                        crate::clock::fmt(e.not_after)
                    ),
                ),
            },
            _ => (
                Verdict::NotInIndex,
                "signed by this CA's key but not recorded in index.log (run ca check)".to_string(),
            ),
        }
    };
    Ok(VerifyReport {
        verdict,
        serial: serial.to_string(),
        subject: crate::pki::names::name_shown(cert.subject()),
        detail,
    })
}
