//! `ca verify`: a verdict on a certificate file against this CA (SPEC.md `VERIFY-*`).
//!
//! `run` reads the file (before the lock), opens a shared session and reaches the verdict
//! from ca.crt, chain.pem, the archived CA certificates and index.log, then checks the path
//! from the certificate to the root through ca.crt and chain.pem (VERIFY-PATH);
//! `render::verify` defines the verdicts and the report and prints it. The verdict's exit
//! code is the command's.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::Context;
use crate::cli::VerifyArgs;
use crate::error::{Error, Result};
use crate::hex;
use crate::model::log::CertState;
use crate::pki::chain::{LinkProblem, check_links};
use crate::pki::pem::MAX_PEM_BYTES;
use crate::pki::serial::Serial;
use crate::render::verify::{PathLink, Verdict, VerifyReport};
use crate::store::{Access, CERT, CHAIN, Session};

/// Runs `ca verify`; returns the verdict's exit code.
pub fn run(args: &VerifyArgs, ctx: &Context) -> Result<i32> {
    let bytes = crate::input::read_csr(&args.cert)?;
    // The first certificate: a full chain file (`sign --fullchain`, NAME.fullchain.pem) is
    // verified as its leaf (VERIFY-FIRST).
    let der = crate::pki::pem::decode_certificates(&bytes, MAX_PEM_BYTES)
        .map_err(|e| Error::input(&args.cert, e.into()))?
        .swap_remove(0);
    let cert =
        crate::pki::pem::certificate(&der).map_err(|e| Error::input(&args.cert, e.into()))?;
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    // Read under the lock: a concurrent renew-ca may have installed a newer ca.crt.
    let now = ctx.now()?;
    let report = query(&session, &cert, &der, now)?;
    crate::render::verify::print(&report, &args.cert, args.json)?;
    Ok(report.verdict.exit_code())
}

/// The verdict at `now` on `cert` (whose DER is `der`): checked against chain.pem's CAs,
/// ca.crt, then the CA certificates renew-ca archived, then index.log; then the path to the
/// root.
pub fn query(
    session: &Session,
    cert: &X509Certificate<'_>,
    der: &[u8],
    now: OffsetDateTime,
) -> Result<VerifyReport> {
    // VERIFIED-READ: the verdict comes only from the state the signed checkpoint covers.
    let state = session.verified_state()?;
    let (ca, header) = (&state.ca.cert, &state.header);
    let serial = Serial::from_magnitude(cert.raw_serial());
    // chain.pem as loaded (and checked) with the state, never read again: a file swapped in
    // after the load is not what was verified.
    let chain: Vec<Vec<u8>> = state.chain.iter().map(|c| c.der.clone()).collect();
    if let Some(at) = chain.iter().position(|c| c == der) {
        return Ok(above(cert, der, &chain, at, now, serial));
    }
    // ca.crt and the certificates renew-ca or install-ca archived are this CA's own, also
    // when a parent issued them (a sub-CA).
    // An archive is this CA's only if it holds this CA's key and is signed by that key
    // (renew-ca) or by the parent (install-ca): a file of another key planted under the
    // archive's name is no earlier certificate of this CA (review finding).
    let archived = crate::model::layout::archived_ca_file(&serial);
    let is_archived = session.read_optional(&archived)?.is_some_and(|b| {
        crate::pki::pem::decode_one(&b, &["CERTIFICATE"], MAX_PEM_BYTES).is_ok_and(|d| d == der)
    }) && cert.public_key().raw == ca.spki_der.as_slice()
        && (ca.signed(cert) || state.chain.first().is_some_and(|p| p.signed(cert)));
    let (verdict, detail) = if !ca.issued(cert) && der != ca.der && !is_archived {
        (
            Verdict::NotIssuedByThisCa,
            format!(
                "issuer {} is not this CA or the signature does not verify",
                crate::term::escape(&cert.issuer().to_string())
            ),
        )
    } else if cert.subject().to_string() == ca.subject {
        own_verdict(cert, der == ca.der, is_archived, now)
    } else {
        match crate::model::log::find(&session.open_log()?, header, &serial)? {
            Some(e) if e.sha256 == hex::sha256(der) => match e.state(now) {
                CertState::Revoked if let Some(r) = e.revoked => (
                    Verdict::Revoked,
                    format!(
                        "revoked on {} ({})",
                        crate::clock::fmt(r.at),
                        r.reason.typed()
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
    // The path: a certificate this CA signed goes up through ca.crt, then chain.pem; this
    // CA's own certificate through chain.pem.
    let own = cert.subject().to_string() == ca.subject;
    let issuers: Vec<(&[u8], &'static str)> = match verdict {
        Verdict::NotIssuedByThisCa => Vec::new(),
        _ => (!own)
            .then_some((&ca.der[..], CERT))
            .into_iter()
            .chain(chain.iter().map(|c| (&c[..], CHAIN)))
            .collect(),
    };
    Ok(with_path(
        cert,
        der,
        serial,
        (verdict, detail),
        &issuers,
        now,
    ))
}

/// The verdict on a certificate self-signed by this CA's key under its name: ca.crt itself
/// (`is_ca_crt`), or a certificate of this CA that renew-ca archived. Not a leaf, so not in
/// the index.
fn own_verdict(
    cert: &X509Certificate<'_>,
    is_ca_crt: bool,
    is_archived: bool,
    now: OffsetDateTime,
) -> (Verdict, String) {
    // Self-signed by this CA's key under its name: ca.crt itself, or a certificate of this
    // CA that renew-ca archived. Not a leaf, so not in the index.
    let (from, until) = (
        cert.validity().not_before.to_datetime(),
        cert.validity().not_after.to_datetime(),
    );
    let which = if is_ca_crt {
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
}

/// The verdict on one of chain.pem's certificates (`at`): a CA above this one, within its
/// validity and with a good path to the root (VERIFY-ABOVE).
fn above(
    cert: &X509Certificate<'_>,
    der: &[u8],
    chain: &[Vec<u8>],
    at: usize,
    now: OffsetDateTime,
    serial: Serial,
) -> VerifyReport {
    let which = match at {
        0 => "the parent of this CA (chain.pem's first)".to_string(),
        _ if at + 1 == chain.len() => "the root above this CA (chain.pem's last)".to_string(),
        _ => format!("a CA above this one (chain.pem's certificate {})", at + 1),
    };
    let (from, until) = (
        cert.validity().not_before.to_datetime(),
        cert.validity().not_after.to_datetime(),
    );
    let (verdict, detail) = if now > until {
        (
            Verdict::Expired,
            format!("{which}, expired on {}", crate::clock::fmt(until)),
        )
    } else if now < from {
        (
            Verdict::NotYetValid,
            format!("{which}, not valid before {}", crate::clock::fmt(from)),
        )
    } else if at + 1 == chain.len() && !crate::pki::chain::self_signed(cert) {
        (
            Verdict::PathBroken,
            format!("{which}: {}", LinkProblem::NoRoot),
        )
    } else {
        (
            Verdict::AboveThisCa,
            format!("{which}, valid until {}", crate::clock::fmt(until)),
        )
    };
    let issuers: Vec<(&[u8], &'static str)> =
        chain[at + 1..].iter().map(|c| (&c[..], CHAIN)).collect();
    with_path(cert, der, serial, (verdict, detail), &issuers, now)
}

/// The report of a verdict on `cert` (DER `der`), with the path from it up through `issuers`
/// (DER and the file holding each); a broken link turns a `valid`, `this-ca` or `above-this-ca` verdict into
/// `path-broken` (VERIFY-PATH).
fn with_path(
    cert: &X509Certificate<'_>,
    der: &[u8],
    serial: Serial,
    (verdict, detail): (Verdict, String),
    issuers: &[(&[u8], &'static str)],
    now: OffsetDateTime,
) -> VerifyReport {
    let mut report = VerifyReport {
        verdict,
        serial: serial.to_string(),
        subject: crate::pki::names::name_shown(cert.subject()),
        detail,
        path: Vec::new(),
    };
    let ders: Vec<&[u8]> = issuers.iter().map(|(d, _)| *d).collect();
    let checked = check_links(der, &ders, now);
    for ((link, file), result) in issuers.iter().zip(checked) {
        let parsed = crate::pki::pem::certificate(link).ok();
        report.path.push(PathLink {
            subject: parsed
                .as_ref()
                .map_or_else(String::new, |c| crate::pki::names::name_shown(c.subject())),
            serial: parsed.as_ref().map_or_else(String::new, |c| {
                Serial::from_magnitude(c.raw_serial()).to_string()
            }),
            file,
            not_after: parsed.as_ref().map_or_else(String::new, |c| {
                crate::clock::fmt(c.validity().not_after.to_datetime())
            }),
            problem: result.err().map(|e| e.to_string()),
        });
    }
    let broken = report.path.iter().find_map(|l| {
        l.problem
            .as_ref()
            .map(|p| format!("{} ({}) {p}", crate::term::escape(&l.subject), l.file))
    });
    if let Some(why) = broken
        && matches!(
            report.verdict,
            Verdict::Valid | Verdict::ThisCa | Verdict::AboveThisCa
        )
    {
        report.detail = format!(
            "{}; but the path to the root is broken: {why}",
            report.detail
        );
        report.verdict = Verdict::PathBroken;
    }
    report
}
