//! `ca check`: read-only verification of every invariant in SPEC.md (`INV-*`). It lists every
//! problem it finds instead of stopping at the first, and never repairs anything.
//!
//! `run` opens a shared session (an interrupted commit it cannot complete is reported as a
//! problem); [`check`] is the query: it reads every state file through the session and
//! collects the problems into the report; `render::check` prints it. Problems mean exit 1.

use std::collections::HashSet;

use super::Context;

mod checkpoint;
mod token;
use crate::cli::CheckArgs;
use crate::error::{Error, Result, exit};
use crate::hex;
use crate::model::audit;
use crate::pki::ca::CaCert;
use crate::pki::pem::MAX_PEM_BYTES;
use crate::pki::pem::decode_one;
use crate::pki::serial::Serial;
use crate::render::check::{CheckReport, Problem};
use crate::store::{
    self, AUDIT, Access, CERT, CERTS, CRL, CRLNUMBER, INDEX, INDEX_LOG, KEY, SERIAL, Session,
};
use checkpoint::check_checkpoint;
use token::{token_problems, token_record_problems};

/// Runs `ca check`; returns the exit code (0 clean, 1 problems).
pub fn run(args: &CheckArgs, ctx: &Context) -> Result<i32> {
    if store::is_pending(&ctx.dir) {
        let ok = super::pending::check(&ctx.dir, args.json)?;
        return Ok(if ok { exit::OK } else { exit::PROBLEMS });
    }
    // The key is checked only when a passphrase can be had, asked before the shared lock.
    // A key on a token is checked without its PIN (TOKEN-CHECK): none is asked.
    let on_token =
        store::read_state_file(&ctx.dir, KEY).is_ok_and(|k| crate::token::KeyRef::is_reference(&k));
    if ctx.pass.available() && !on_token {
        ctx.passphrase_ahead()?;
    }
    let report = match Session::open(&ctx.dir, Access::Read, &ctx.open) {
        Ok(session) => check(&session, &ctx.pass),
        Err(Error::Recovery { msg, .. }) => CheckReport {
            ok: false,
            generation: None,
            certificates: 0,
            problems: vec![Problem {
                file: store::JOURNAL.into(),
                problem: format!("an interrupted commit could not be completed: {msg}"),
            }],
            undelivered: Vec::new(),
            notes: Vec::new(),
        },
        Err(e) => return Err(e),
    };
    crate::render::check::print(&report, &ctx.dir, args.json)?;
    Ok(if report.ok { exit::OK } else { exit::PROBLEMS })
}

/// Checks everything, collecting problems. Each part below checks one file or one rule and
/// adds what it finds, in the order the report lists them.
pub fn check(session: &Session, pass: &crate::passphrase::Source) -> CheckReport {
    let mut p = Problems::default();
    let dir = session.dir();
    leftover_problems(session, &mut p);
    let (cert_bytes, ca_cert) = read_ca(session, &mut p);
    sibling_problems(dir, &mut p);
    chain_and_key_problems(
        session,
        pass,
        cert_bytes.as_deref(),
        ca_cert.as_ref(),
        &mut p,
    );
    let (header, entries) = load_state(session, &mut p);
    let serial = counter(session, SERIAL, &mut p);
    let crlnumber = counter(session, CRLNUMBER, &mut p);
    // Read once: hashed for the checkpoint, parsed and verified below.
    let crl_file = session.read_optional(CRL);
    if let Some(entries) = &entries {
        certificate_problems(session, entries, ca_cert.as_ref(), serial.as_ref(), &mut p);
    }
    if let Some(h) = &header {
        let counters = (serial.as_ref(), crlnumber.as_ref());
        audit_problems(
            session,
            h,
            entries.as_deref(),
            ca_cert.as_ref(),
            counters,
            &crl_file,
            &mut p,
        );
    }
    crl_problems(
        &crl_file,
        ca_cert.as_ref(),
        entries.as_deref(),
        crlnumber.as_ref(),
        &mut p,
    );
    responder_problems(session, &mut p);
    let mut add = |file: &str, problem: String| p.add(file, problem);
    let undelivered = match store::read_undelivered(dir) {
        Ok(records) => records.into_iter().flat_map(|r| r.messages).collect(),
        Err(e) => {
            add(store::UNDELIVERED, format!("cannot be read: {e}"));
            Vec::new()
        }
    };
    CheckReport {
        ok: p.0.is_empty(),
        generation: header.as_ref().map(|h| h.generation),
        certificates: entries.as_ref().map_or(0, Vec::len),
        problems: p.0,
        undelivered,
        notes: p.1,
    }
}

/// ocsp.key and ocsp.crt, when present (SPEC.md OCSP-RESPONDER): the key is the
/// certificate's, 0600, and the certificate one this CA issued, recorded and not revoked.
/// Checked against the verified state only: when it cannot be had, the problems above say why.
fn responder_problems(session: &Session, p: &mut Problems) {
    if !session.has(store::OCSP_KEY) && !session.has(store::OCSP_CERT) {
        return;
    }
    let Ok(state) = session.verified_state() else {
        return;
    };
    if let Err(e) = session.responder(&state) {
        match e {
            Error::State { path, problem } => {
                let file = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                p.add(&file, problem.to_string())
            }
            other => p.add(store::OCSP_CERT, other.to_string()),
        }
    }
}

/// The problems found so far, in the order found.
#[derive(Default)]
struct Problems(Vec<Problem>, Vec<String>);

impl Problems {
    fn add(&mut self, file: &str, problem: String) {
        self.0.push(Problem {
            file: file.to_string(),
            problem,
        })
    }
}

/// Staged files or a journal present right now (normally none: opening the session
/// recovered them).
fn leftover_problems(session: &Session, p: &mut Problems) {
    let mut add = |file: &str, problem: String| p.add(file, problem);
    match session.leftovers() {
        Ok(left) => {
            for name in left {
                add(
                    &name,
                    "left over from an interrupted commit (run any ca command to recover)".into(),
                );
            }
        }
        Err(e) => add(".", e.to_string()),
    }
}

/// ca.crt, read and parsed: its bytes and the certificate, when they can be had.
fn read_ca(session: &Session, p: &mut Problems) -> (Option<Vec<u8>>, Option<CaCert>) {
    let mut add = |file: &str, problem: String| p.add(file, problem);
    let cert_bytes = match session.read(CERT) {
        Ok(b) => Some(b),
        Err(e) => {
            add(CERT, strip(&e));
            None
        }
    };
    let ca_cert = match cert_bytes.as_deref().map(CaCert::parse) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            add(CERT, e.to_string());
            None
        }
        None => None,
    };
    (cert_bytes, ca_cert)
}

/// Who may write the directory (HOSTILE-TRUST), and what an interrupted init or install-ca
/// left beside it.
fn sibling_problems(dir: &std::path::Path, p: &mut Problems) {
    let mut add = |file: &str, problem: String| p.add(file, problem);
    for p in store::trust_problems(dir) {
        add(".", p);
    }
    // A sibling an interrupted init or install-ca left (it may hold a copy of ca.key): the
    // next mutating command removes it when it can prove it is fileca's (INSTALL-ATOMIC).
    for name in store::init_leftovers(dir) {
        add(
            &format!("../{name}"),
            "left by an interrupted init or install-ca (it may hold a copy of ca.key); the next \
             command that changes the CA removes it"
                .into(),
        );
    }
    token_record_problems(dir, p);
}

/// chain.pem (CHAIN-CHECK), and ca.key: owner-only, and the key of ca.crt.
fn chain_and_key_problems(
    session: &Session,
    pass: &crate::passphrase::Source,
    cert_bytes: Option<&[u8]>,
    ca_cert: Option<&CaCert>,
    p: &mut Problems,
) {
    let dir = session.dir();
    let mut add = |file: &str, problem: String| p.add(file, problem);
    // CHAIN-CHECK: chain.pem is ca.crt's issuers up to a self-signed root, each signing the
    // one before.
    if let (Some(ca), Ok(Some(chain))) = (&ca_cert, session.read_optional(store::CHAIN)) {
        let certs = crate::pki::pem::decode_certificates(&chain, store::MAX_STATE_FILE as usize);
        match certs {
            Ok(certs) => match crate::pki::chain::to_root(&ca.der, &certs) {
                Ok(path) if path == certs => {}
                Ok(_) => add(
                    store::CHAIN,
                    "holds certificates that are not ca.crt's issuers in order up to the root"
                        .into(),
                ),
                Err(e) => add(store::CHAIN, format!("ca.crt {e}")),
            },
            Err(e) => add(store::CHAIN, e.to_string()),
        }
    }
    match store::mode_of(dir, KEY) {
        Ok(mode) if mode & 0o077 != 0 => add(
            KEY,
            format!(
                "mode {mode:o} lets other users read the CA key; run: chmod 600 {}",
                dir.join(KEY).display()
            ),
        ),
        _ => {}
    }
    if let (Some(_), Some(cert)) = (&ca_cert, &cert_bytes) {
        match session.read(KEY) {
            Ok(key) if crate::token::KeyRef::is_reference(&key) => {
                if let Ok(cert) = CaCert::parse(cert) {
                    token_problems(&key, &cert, p);
                }
            }
            Ok(mut key) => {
                // An encrypted key is checked only when a passphrase can be had.
                let encrypted = crate::pki::keys::is_encrypted(&String::from_utf8_lossy(&key));
                if (!encrypted || pass.available())
                    && let Ok(cert) = CaCert::parse(cert)
                    && let Err(e) = crate::model::snapshot::ca_with_key(dir, cert, &key, pass)
                {
                    add(KEY, strip(&e));
                }
                zeroize::Zeroize::zeroize(&mut key);
            }
            Err(e) => add(KEY, strip(&e)),
        }
    }
}

/// index.json (with the policy it records) and index.log, loaded.
fn load_state(
    session: &Session,
    p: &mut Problems,
) -> (
    Option<crate::model::header::Header>,
    Option<Vec<crate::model::log::Entry>>,
) {
    let mut add = |file: &str, problem: String| p.add(file, problem);
    let header = match session.load_header() {
        Ok(h) => Some(h),
        Err(e) => {
            add(INDEX, strip(&e));
            None
        }
    };
    // POLICY-HASH: policy.toml is the one index.json records (or absent with none).
    if let Some(h) = &header
        && let Err(e) = crate::store::read_policy(session, h.policy_sha256.as_deref())
    {
        add(crate::model::layout::POLICY, strip(&e));
    }
    let entries = header.as_ref().and_then(|h| {
        if let Err(e) = session.check_log_len(h) {
            add(INDEX_LOG, strip(&e));
        }
        match session
            .open_log()
            .and_then(|log| crate::model::log::load_all(&log, h))
        {
            Ok(v) => Some(v),
            Err(e) => {
                add(&file_of(&e, INDEX_LOG), strip(&e));
                None
            }
        }
    });
    (header, entries)
}

/// A counter file (serial, crlnumber): an uppercase hex number with a final newline.
fn counter(session: &Session, name: &str, p: &mut Problems) -> Option<Serial> {
    match session.read(name) {
        Ok(b) => match Serial::parse_file(&b) {
            Some(n) => Some(n),
            None => {
                p.add(
                    name,
                    "not an uppercase hex number with a final newline".to_string(),
                );
                None
            }
        },
        Err(e) => {
            p.add(name, strip(&e));
            None
        }
    }
}

/// Every certificate index.log lists: its file, hash, serial, notAfter, issuer and
/// signature; nothing in certs/ that index.log does not list; the serial counter above them.
fn certificate_problems(
    session: &Session,
    entries: &[crate::model::log::Entry],
    ca_cert: Option<&CaCert>,
    serial: Option<&Serial>,
    p: &mut Problems,
) {
    let mut add = |file: &str, problem: String| p.add(file, problem);
    let mut names = HashSet::new();
    for e in entries {
        let file = crate::model::layout::cert_file(&e.serial);
        names.insert(format!("{}.pem", e.serial));
        let bytes = match session.read(&file) {
            Ok(b) => b,
            Err(err) => {
                add(
                    &file,
                    format!(
                        "index.log lists serial {} but its certificate is unreadable: {}",
                        e.serial,
                        strip(&err)
                    ),
                );
                continue;
            }
        };
        let der = match decode_one(&bytes, &["CERTIFICATE"], MAX_PEM_BYTES) {
            Ok(d) => d,
            Err(m) => {
                add(&file, m.to_string());
                continue;
            }
        };
        if hex::sha256(&der) != e.sha256 {
            add(
                &file,
                format!(
                    "SHA-256 differs from the one index.log records for serial {}",
                    e.serial
                ),
            );
        }
        let cert = match crate::pki::pem::certificate(&der) {
            Ok(c) => c,
            Err(m) => {
                add(&file, m.to_string());
                continue;
            }
        };
        let cert_serial = Serial::from_magnitude(cert.raw_serial());
        if cert_serial != e.serial {
            add(
                &file,
                format!("holds serial {cert_serial}, not {}", e.serial),
            );
        }
        if cert.validity().not_after.to_datetime() != e.not_after {
            add(
                &file,
                format!("notAfter differs from index.log for serial {}", e.serial),
            );
        }
        if let Some(ca) = &ca_cert
            && cert.issuer().to_string() != ca.subject
        {
            add(&file, "issuer is not the subject of ca.crt".into());
        }
        if let Some(ca) = &ca_cert
            && !ca.signed(&cert)
        {
            add(&file, "signature does not verify against ca.crt".into());
        }
    }
    match session.list_certs_dir() {
        Ok(entries) => {
            for name in entries {
                if !names.contains(&name) {
                    add(
                        &format!("{CERTS}/{name}"),
                        "is not listed in index.log".into(),
                    );
                }
            }
        }
        Err(e) => add(CERTS, strip(&e)),
    }
    if let Some(counter) = serial
        && let Some(max) = entries.iter().map(|e| e.serial.clone()).max()
        && *counter <= max
    {
        add(
            SERIAL,
            format!("counter {counter} is not above the highest issued serial {max}"),
        );
    }
}

/// audit.log against index.json and index.log, and the signed checkpoint.
fn audit_problems(
    session: &Session,
    h: &crate::model::header::Header,
    entries: Option<&[crate::model::log::Entry]>,
    ca_cert: Option<&CaCert>,
    (serial, crlnumber): (Option<&Serial>, Option<&Serial>),
    crl_file: &Result<Option<Vec<u8>>>,
    p: &mut Problems,
) {
    let mut add = |file: &str, problem: String| p.add(file, problem);
    match session.read(AUDIT) {
        Ok(bytes) => {
            for p in audit::verify(&bytes, h.generation, &h.audit_head) {
                add(AUDIT, p);
            }
            if let Some(entries) = &entries {
                for p in audit::cross_check(entries, &audit::records(&bytes)) {
                    add(AUDIT, p);
                }
            }
            if let Some(cert) = &ca_cert {
                let crl_sha256 = crl_file
                    .as_ref()
                    .ok()
                    .map(|b| b.as_deref().map(hex::sha256));
                let files = (serial, crlnumber, crl_sha256);
                for (file, p) in check_checkpoint(session, cert, h, &bytes, files) {
                    add(file, p);
                }
            }
        }
        Err(e) => add(AUDIT, strip(&e)),
    }
}

/// ca.crl: signed by ca.crt, numbered below the next CRL number, and every serial it lists
/// still revoked in index.log, or on a hold released since (CHECK-HISTORY, UNHOLD).
fn crl_problems(
    crl_file: &Result<Option<Vec<u8>>>,
    ca_cert: Option<&CaCert>,
    entries: Option<&[crate::model::log::Entry]>,
    crlnumber: Option<&Serial>,
    p: &mut Problems,
) {
    let mut add = |file: &str, problem: String| p.add(file, problem);
    match &crl_file {
        Ok(Some(bytes)) => {
            match crate::pki::crl::parse(bytes, store::MAX_STATE_FILE as usize, ca_cert)
                .map(|c| {
                    let listed: Vec<String> = c.listed.iter().map(|s| s.to_string()).collect();
                    (c.number, c.verified, listed)
                })
                .map_err(|e| e.to_string())
            {
                Ok((number, verified, listed)) => {
                    if verified == Some(false) {
                        add(CRL, "signature does not verify against ca.crt".into());
                    }
                    // The CRL is signed; the index is not: every serial the CA revoked in a
                    // signed CRL must still be revoked in the index (CHECK-HISTORY).
                    if verified == Some(true)
                        && let Some(entries) = &entries
                    {
                        // A released hold (UNHOLD) is history the CRL may still list.
                        let revoked: std::collections::HashSet<String> = entries
                            .iter()
                            .filter(|e| e.revoked.is_some() || e.released.is_some())
                            .map(|e| e.serial.to_string())
                            .collect();
                        for s in &listed {
                            if !revoked.contains(s.as_str()) {
                                add(
                                    INDEX_LOG,
                                    format!(
                                        "{s} is revoked in the signed ca.crl but not in index.log \
                                     (a revocation line removed?)"
                                    ),
                                );
                            }
                        }
                    }
                    match (number, crlnumber) {
                        (None, _) => add(CRL, "has no CRL number".into()),
                        (Some(n), Some(next)) if n >= *next => add(
                            CRLNUMBER,
                            format!("next CRL number {next} is not above the number {n} of ca.crl"),
                        ),
                        _ => {}
                    }
                }
                Err(m) => add(CRL, m),
            }
        }
        Ok(None) => {}
        Err(e) => add(CRL, strip(e)),
    }
}

/// The state file an error concerns (its name), or `default`.
fn file_of(e: &Error, default: &str) -> String {
    match e {
        Error::State { path, .. } | Error::Io { path, .. } => path
            .file_name()
            .map_or_else(|| default.to_string(), |n| n.to_string_lossy().into_owned()),
        _ => default.to_string(),
    }
}

/// An error's message without the path prefix (the problem's `file` carries it).
fn strip(e: &Error) -> String {
    match e {
        Error::State { problem, .. } => problem.to_string(),
        Error::Io { err, .. } => err.to_string(),
        other => other.to_string(),
    }
}
