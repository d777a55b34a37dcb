//! `ca verify`: a verdict on a certificate file against this CA (SPEC.md `VERIFY-*`).

use serde::Serialize;

use super::Context;
use crate::cli::VerifyArgs;
use crate::error::{Error, Result};
use crate::hex;
use crate::model::log::CertState;
use crate::pki::pem::MAX_PEM_BYTES;
use crate::pki::pem::decode_one;
use crate::pki::serial::Serial;
use crate::store::{Access, CERT, Session};

/// Verdicts and their exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Valid,
    NotIssuedByThisCa,
    Expired,
    NotYetValid,
    Revoked,
    NotInIndex,
    /// The CA's own certificate (ca.crt, or one `renew-ca` archived): self-signed by its key.
    ThisCa,
}

impl Verdict {
    /// The verdict as printed (and in JSON).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::NotIssuedByThisCa => "not-issued-by-this-ca",
            Verdict::Expired => "expired",
            Verdict::NotYetValid => "not-yet-valid",
            Verdict::Revoked => "revoked",
            Verdict::NotInIndex => "not-in-index",
            Verdict::ThisCa => "this-ca",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::NotIssuedByThisCa => 10,
            Verdict::Expired => 11,
            Verdict::NotYetValid => 12,
            Verdict::Revoked => 13,
            Verdict::NotInIndex => 14,
            Verdict::ThisCa => 15,
        }
    }
}

/// Runs `ca verify`; returns the verdict's exit code.
pub fn run(args: &VerifyArgs, ctx: &Context) -> Result<i32> {
    let bytes = crate::input::read_csr(&args.cert)?;
    let der = decode_one(&bytes, &["CERTIFICATE"], MAX_PEM_BYTES)
        .map_err(|e| Error::input(&args.cert, e.into()))?;
    let cert =
        crate::pki::pem::certificate(&der).map_err(|e| Error::input(&args.cert, e.into()))?;
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let ca = crate::model::snapshot::ca_cert(&ctx.dir, &session.read(CERT)?)?;
    let header = crate::model::header::open(&session)?;
    let serial = Serial::from_magnitude(cert.raw_serial());
    let (verdict, detail) = if !ca.issued(&cert) {
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
        let now = ctx.env.now;
        let (from, until) = (
            cert.validity().not_before.to_datetime(),
            cert.validity().not_after.to_datetime(),
        );
        let archived = crate::model::layout::archived_ca_file(&serial);
        let which = if der == ca.der {
            "this CA's own certificate (ca.crt)"
        } else if session.read_optional(&archived)?.is_some_and(|b| {
            crate::pki::pem::decode_one(&b, &["CERTIFICATE"], MAX_PEM_BYTES).is_ok_and(|d| d == der)
        }) {
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
        match crate::model::log::find(&session, &header, &serial)? {
            Some(e) if e.sha256 == hex::sha256(&der) => match e.state(ctx.env.now) {
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
                _ if ctx.env.now < cert.validity().not_before.to_datetime() => (
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
    if args.json {
        #[derive(Serialize)]
        struct Out {
            verdict: Verdict,
            serial: String,
            subject: String,
            detail: String,
        }
        let out = Out {
            verdict,
            serial: serial.to_string(),
            subject: crate::pki::names::name_shown(cert.subject()),
            detail,
        };
        let json =
            serde_json::to_string_pretty(&out).map_err(|e| Error::Internal(e.to_string()))?;
        crate::render::print(&format!("{json}\n"))?;
    } else {
        crate::render::print(&format!(
            "{}: {} (serial {serial}, {})\n",
            crate::render::escape(&args.cert.display().to_string()),
            verdict.name(),
            detail
        ))?;
    }
    Ok(verdict.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_verdicts_are_their_json_values_and_exit_codes_differ() {
        let all = [
            Verdict::Valid,
            Verdict::NotIssuedByThisCa,
            Verdict::Expired,
            Verdict::NotYetValid,
            Verdict::Revoked,
            Verdict::NotInIndex,
            Verdict::ThisCa,
        ];
        for v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), v.name());
        }
        let codes: std::collections::HashSet<i32> = all.iter().map(|v| v.exit_code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
