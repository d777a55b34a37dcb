//! `ca sign`: issue a certificate for a CSR under the CA's policy (SPEC.md `SIGN-*`).

use std::io::Read;
use std::path::Path;

use rcgen::{CertificateParams, IsCa, KeyIdMethod, SubjectPublicKeyInfo};
use time::Duration;

use super::{AuditInfo, Context, Planned};
use crate::cli::SignArgs;
use crate::csr::{self, CheckedCsr};
use crate::error::{Error, Result};
use crate::hex;
use crate::index::{Entry, Status};
use crate::keys::{self, KeyKind};
use crate::names::{self, San, Subject};
use crate::profile::Profile;
use crate::serial::Serial;
use crate::state::State;
use crate::store::{FileWrite, SERIAL};

/// How far notBefore is set back to tolerate clients with slightly slow clocks.
pub const BACKDATE: Duration = Duration::seconds(60);

/// Runs `ca sign`.
pub fn run(args: &SignArgs, ctx: &Context) -> Result<()> {
    let csr_bytes = read_input(&args.csr)?;
    let checked = csr::check(&csr_bytes).map_err(|m| Error::bad_input(&args.csr, m))?;
    let sans = parse_sans(&args.san)?;
    let out = args.out.out.clone().map(|o| (o, args.out.force));
    super::mutate(ctx, &args.mutation, |state| {
        plan(state, &checked, &sans, args.profile, args.days, ctx).map(|p| p.with_out(out))
    })
}

/// Parses `--san` options.
pub fn parse_sans(sans: &[String]) -> Result<Vec<San>> {
    sans.iter()
        .map(|s| San::parse(s))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|m| Error::refused(format!("--san: {m}")))
}

/// What is to be certified: an identity and a public key.
pub struct Request<'a> {
    pub subject: &'a Subject,
    pub sans: Vec<San>,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: &'a [u8],
    /// The subjectPublicKey bit string content.
    pub subject_public_key: &'a [u8],
    pub key: KeyKind,
}

/// Validation phase: the new certificate, index and serial counter.
pub fn plan(
    state: &State,
    csr: &CheckedCsr,
    override_sans: &[San],
    profile: Profile,
    days: u32,
    ctx: &Context,
) -> Result<Planned> {
    let mut notes = Vec::new();
    if !csr.ignored.is_empty() {
        notes.push(format!(
            "ignored what the CSR requested (the {} profile decides): {}",
            profile.name(),
            csr.ignored.join("; ")
        ));
    }
    let sans = choose_sans(csr, override_sans, profile, &mut notes);
    let request = Request {
        subject: &csr.subject,
        sans,
        spki_der: &csr.spki_der,
        subject_public_key: &csr.subject_public_key,
        key: csr.key,
    };
    let serial = state.serial.clone();
    let (pem, entry) = issue(state, &request, &serial, profile, days, ctx, &mut notes)?;
    let mut index = state.index.clone();
    index.certificates.push(entry);
    let plan = super::finish_plan(
        state,
        ctx,
        index,
        vec![
            FileWrite::public(format!("certs/{serial}.pem"), pem.clone()),
            FileWrite::public(SERIAL, next_serial(&serial)?.to_file()),
        ],
        AuditInfo {
            operation: "sign",
            serials: vec![serial.to_string()],
            csr_sha256: Some(csr.sha256.clone()),
        },
    );
    Ok(Planned::new(plan, pem, notes))
}

/// The SANs to issue: `--san` replaces the CSR's; a server certificate without any gets its
/// CN when that is a DNS name.
fn choose_sans(
    csr: &CheckedCsr,
    override_sans: &[San],
    profile: Profile,
    notes: &mut Vec<String>,
) -> Vec<San> {
    let mut sans = if override_sans.is_empty() {
        csr.sans.clone()
    } else {
        let dropped: Vec<String> = csr
            .sans
            .iter()
            .filter(|s| !override_sans.contains(s))
            .map(|s| s.to_string())
            .collect();
        if !dropped.is_empty() {
            notes.push(format!(
                "--san replaces the CSR's SANs; not issued: {}",
                dropped.join(", ")
            ));
        }
        let mut v: Vec<San> = Vec::new();
        for s in override_sans {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
        v
    };
    if sans.is_empty()
        && profile != Profile::Client
        && let Some(cn) = csr
            .subject
            .common_name()
            .filter(|cn| names::is_dns_name(cn))
        && let Ok(san) = San::dns(cn)
    {
        notes.push(format!("no SANs requested; added {san} from the CN"));
        sans.push(san);
    }
    sans
}

/// The serial after `serial`, or a refusal when the 20-octet space is exhausted.
pub fn next_serial(serial: &Serial) -> Result<Serial> {
    serial.next().ok_or_else(|| {
        Error::refused("the serial counter is exhausted (20 octets); create a new CA")
    })
}

/// Builds and signs one certificate with serial `serial` under `profile`; returns its PEM and
/// its index entry. Pure: nothing is written.
pub fn issue(
    state: &State,
    req: &Request<'_>,
    serial: &Serial,
    profile: Profile,
    days: u32,
    ctx: &Context,
    notes: &mut Vec<String>,
) -> Result<(String, Entry)> {
    let ca = &state.ca;
    ca.check_valid_at(ctx.now, &ctx.dir)?;
    if req.subject.is_empty() {
        return Err(Error::refused(
            "the subject is empty; fileca requires at least one subject attribute such as CN",
        ));
    }
    if state.index.find(serial).is_some() {
        return Err(Error::state(
            ctx.dir.join(SERIAL),
            format!("serial {serial} is already in index.json"),
        ));
    }
    let not_before = (ctx.now - BACKDATE).max(ca.cert.not_before);
    let mut not_after = ctx.now + Duration::days(i64::from(days));
    if not_after > ca.cert.not_after {
        notes.push(format!(
            "notAfter clamped to the CA certificate's notAfter {}",
            crate::clock::fmt(ca.cert.not_after)
        ));
        not_after = ca.cert.not_after;
    }

    let mut params = CertificateParams::default();
    params.distinguished_name = req.subject.to_rcgen().map_err(Error::refused)?;
    params.subject_alt_names = req
        .sans
        .iter()
        .map(|s| s.to_rcgen())
        .collect::<std::result::Result<_, _>>()
        .map_err(|m| Error::refused(format!("SAN {m}")))?;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = profile.key_usages(req.key);
    params.extended_key_usages = profile.extended_key_usages();
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::PreSpecified(keys::key_id(req.subject_public_key));
    let public_key = SubjectPublicKeyInfo::from_der(req.spki_der)
        .map_err(|e| Error::refused(format!("the public key: {e}")))?;
    let issuer = ca.issuer()?;
    let cert = params
        .signed_by(&public_key, &issuer)
        .map_err(|e| Error::Internal(format!("signing: {e}")))?;
    notes.push(format!(
        "issued serial {serial} to {}, valid until {}",
        req.subject,
        crate::clock::fmt(not_after)
    ));
    let entry = Entry {
        serial: serial.to_string(),
        subject: req.subject.to_string(),
        sans: req.sans.iter().map(|s| s.to_string()).collect(),
        profile: profile.name().to_string(),
        not_before,
        not_after,
        status: Status::Valid,
        revoked_at: None,
        revocation_reason: None,
        sha256: hex::sha256(cert.der()),
        renewed_from: None,
    };
    Ok((cert.pem(), entry))
}

/// Reads a CSR from a file or, for `-`, standard input; bounded so a huge input cannot
/// exhaust memory.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let limit = (csr::MAX_CSR_BYTES + 1) as u64;
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("<stdin>", e))?;
    } else {
        let f = std::fs::File::open(path).map_err(|e| Error::bad_input(path, e.to_string()))?;
        let meta = f.metadata().map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::bad_input(path, "not a regular file"));
        }
        f.take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(buf)
}
