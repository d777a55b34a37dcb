//! `ca import-openssl`: adopt an `openssl ca` directory or an easy-rsa PKI into a new fileca
//! directory (SPEC.md `IMPORT-OPENSSL-*`). The source is only read. Every inconsistency found
//! is reported and the import refused, rather than guessed around.

use std::path::{Path, PathBuf};

use time::{Date, Month, OffsetDateTime, Time};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::Context;
use crate::cli::ImportOpensslArgs;
use crate::error::{Error, Result};
use crate::hex;
use crate::input::InputError;
use crate::model::log::{Entry, Revoked};
use crate::pki::ca::{Ca, CaCert};
use crate::pki::keys;
use crate::pki::pem::MAX_PEM_BYTES;
use crate::pki::pem::{decode_one, pem_of};
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;
use crate::store::{self, FileWrite};

/// Runs `ca import-openssl`.
pub fn run(args: &ImportOpensslArgs, ctx: &Context) -> Result<()> {
    let src = &args.source;
    let key_path = pick(
        src,
        args.ca_key.as_deref(),
        &["private/cakey.pem", "private/ca.key"],
    )?;
    let cert_path = pick(src, args.ca_cert.as_deref(), &["cacert.pem", "ca.crt"])?;
    let key_bytes = read(&key_path)?;
    let (_, key_pem) =
        keys::import_private_key(&key_bytes).map_err(|e| Error::input(&key_path, e.into()))?;
    let cert_bytes = read(&cert_path)?;
    let cert = CaCert::parse(&cert_bytes).map_err(|e| Error::input(&cert_path, e.into()))?;
    let key = keys::key_pair(&key_pem).map_err(|e| Error::input(&key_path, e.into()))?;
    let ca = Ca::with_key(cert, key)
        .map_err(|_| Error::input(&key_path, InputError::KeyMismatch(cert_path.to_path_buf())))?;

    let index_path = src.join("index.txt");
    let text = String::from_utf8(crate::input::read(&index_path, store::MAX_STATE_FILE)?)
        .map_err(|_| Error::input(&index_path, InputError::NotUtf8))?;
    let mut problems = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut files = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("index.txt line {}", i + 1);
        match import_line(src, line, &ca) {
            Ok((entry, pem)) => {
                if entries.iter().any(|e| e.serial == entry.serial) {
                    problems.push(format!("{at}: serial {} appears twice", entry.serial));
                    continue;
                }
                files.push(FileWrite::public(
                    crate::model::layout::cert_file(&entry.serial),
                    pem,
                ));
                entries.push(entry);
            }
            Err(m) => problems.push(format!("{at}: {m}")),
        }
    }
    let counter = |name: &str| -> std::result::Result<Option<Serial>, String> {
        let path = src.join(name);
        // Only "does not exist" means absent: a counter that cannot be read (a dangling
        // symlink, a directory, no permission) is a problem, never a reason to start at 01.
        match path.symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => {}
        }
        match crate::input::read(&path, MAX_PEM_BYTES as u64).and_then(|b| {
            String::from_utf8(b).map_err(|_| Error::input(&path, InputError::NotUtf8))
        }) {
            Ok(t) => Serial::parse_user(t.trim())
                .map(Some)
                .ok_or_else(|| format!("{name}: {:?} is not a hex number", t.trim())),
            Err(e) => Err(e.to_string()),
        }
    };
    let max = entries.iter().map(|e| e.serial.clone()).max();
    let serial = match counter("serial") {
        Ok(Some(s)) if max.as_ref().is_some_and(|m| s <= *m) => {
            problems.push(format!(
                "serial: the counter {s} is not above the highest issued serial"
            ));
            None
        }
        Ok(s) => s,
        Err(m) => {
            problems.push(m);
            None
        }
    };
    let crlnumber = counter("crlnumber").unwrap_or_else(|m| {
        problems.push(m);
        None
    });
    if !problems.is_empty() {
        return Err(crate::error::Refused::ImportInconsistent {
            src: src.to_path_buf(),
            problems,
        }
        .into());
    }
    // A counter the source never had: one above the highest serial issued.
    let serial = match (serial, max) {
        (Some(s), _) => s,
        (None, Some(m)) => m
            .next()
            .ok_or(crate::model::change::Refusal::SerialsExhausted)?,
        (None, None) => Serial::from_u64(1),
    };
    let crlnumber = crlnumber.unwrap_or_else(|| Serial::from_u64(1));

    let count = entries.len();
    let revoked = entries.iter().filter(|e| e.revoked.is_some()).count();
    let mut all = crate::model::change::new_ca_files(
        &ctx.env,
        (ca.key()?, key_pem),
        pem_of("CERTIFICATE", &ca.cert.der),
        &serial,
        &crlnumber,
        // The record names every imported serial, so `ca check` can tie each index line to
        // the operation that wrote it (CHECK-HISTORY).
        (
            "import-openssl",
            entries.iter().map(|e| e.serial.to_string()).collect(),
        ),
        entries,
    )?;
    all.extend(files);
    store::create(&ctx.dir, &all)?;
    super::report_created(
        ctx,
        &format!(
            "imported {count} certificate(s) ({revoked} revoked) from {} into {}; next serial {serial}",
            crate::render::escape(&src.display().to_string()),
            crate::render::escape(&ctx.dir.display().to_string())
        ),
    )
}

/// One index.txt line: `STATUS \t EXPIRY \t REVOCATION[,REASON] \t SERIAL \t FILE \t SUBJECT`.
fn import_line(src: &Path, line: &str, ca: &Ca) -> std::result::Result<(Entry, String), String> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 6 {
        return Err(format!("{} fields, expected 6", f.len()));
    }
    let serial = Serial::parse_user(f[3]).ok_or_else(|| format!("serial {:?} is not hex", f[3]))?;
    let candidates = [
        src.join("newcerts").join(format!("{serial}.pem")),
        src.join("certs_by_serial").join(format!("{serial}.pem")),
    ];
    let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        format!("no certificate file for serial {serial} in newcerts/ or certs_by_serial/")
    })?;
    let bytes = crate::input::read(path, MAX_PEM_BYTES as u64).map_err(|e| e.to_string())?;
    let der = decode_one(&bytes, &["CERTIFICATE"], MAX_PEM_BYTES)
        .map_err(|m| format!("{}: {m}", path.display()))?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| format!("{}: {e}", path.display()))?;
    if Serial::from_magnitude(cert.raw_serial()) != serial {
        return Err(format!("{} holds another serial", path.display()));
    }
    if !ca.cert.issued(&cert) {
        return Err(format!(
            "{} was not issued by the CA certificate",
            path.display()
        ));
    }
    let revoked = match f[0] {
        "V" | "E" => None,
        "R" => {
            let (date, reason) = match f[2].split_once(',') {
                Some((d, r)) => (d, Some(r)),
                None => (f[2], None),
            };
            let at = parse_utc_time(date)
                .ok_or_else(|| format!("revocation date {date:?} is not YYMMDDHHMMSSZ"))?;
            let reason = match reason {
                None => Reason::Unspecified,
                Some(r) => {
                    reason_of(r).ok_or_else(|| format!("unknown revocation reason {r:?}"))?
                }
            };
            Some(Revoked { at, reason })
        }
        other => return Err(format!("unknown status {other:?}")),
    };
    let mut sans = Vec::new();
    let mut profile = "imported";
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(s) => {
                for gn in &s.general_names {
                    match gn {
                        GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                        GeneralName::RFC822Name(e) => sans.push(format!("email:{e}")),
                        GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                        GeneralName::IPAddress(b) if b.len() == 4 => sans.push(format!(
                            "IP:{}",
                            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())
                        )),
                        GeneralName::IPAddress(b) if b.len() == 16 => sans.push(format!(
                            "IP:{}",
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())
                        )),
                        _ => {}
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                profile = match (e.server_auth, e.client_auth) {
                    (true, true) => "server-client",
                    (true, false) => "server",
                    (false, true) => "client",
                    _ => "imported",
                };
            }
            _ => {}
        }
    }
    let subject = crate::pki::names::Subject(
        cert.subject()
            .iter_attributes()
            .map(|a| {
                let arcs: Vec<u64> = a
                    .attr_type()
                    .iter()
                    .map(|i| i.collect())
                    .unwrap_or_default();
                let key = crate::pki::names::attr_name(&arcs)
                    .map_or_else(|| a.attr_type().to_id_string(), str::to_string);
                (key, a.as_str().unwrap_or_default().to_string())
            })
            .collect(),
    );
    // Legacy names are kept as they are (escaped on display), except those that could forge
    // a terminal line: control, bidi and zero-width characters (SPEC.md HOSTILE-TERMINAL).
    let subject_text = subject.stored();
    for name in std::iter::once(&subject_text).chain(&sans) {
        if name.chars().any(crate::render::is_unsafe) {
            return Err(format!(
                "name {} holds control, bidi or zero-width characters; not imported",
                crate::render::escape(name)
            ));
        }
    }
    let entry = Entry {
        serial: serial.clone(),
        subject: subject_text,
        sans,
        profile: profile.to_string(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        revoked,
        sha256: hex::sha256(&der),
        renewed_from: None,
    };
    Ok((entry, pem_of("CERTIFICATE", &der)))
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

/// The given path, or the first of `defaults` under `src` that exists.
fn pick(src: &Path, given: Option<&Path>, defaults: &[&str]) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    defaults
        .iter()
        .map(|d| src.join(d))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            crate::error::Refused::ImportMissing {
                src: src.to_path_buf(),
                tried: defaults.iter().map(|d| d.to_string()).collect(),
            }
            .into()
        })
}

/// Reads the CA key or certificate: at most 1 MiB, never blocking (see [`crate::input`]).
fn read(path: &Path) -> Result<Vec<u8>> {
    crate::input::read(path, MAX_PEM_BYTES as u64)
}
