//! `ca check`: read-only verification of every invariant in SPEC.md (`INV-*`). It lists every
//! problem it finds instead of stopping at the first, and never repairs anything.
//!
//! `run` opens a shared session (an interrupted commit it cannot complete is reported as a
//! problem); [`check`] is the query: it reads every state file through the session and
//! collects the problems into the report; `render::check` prints it. Problems mean exit 1.

use std::collections::HashSet;

use super::Context;
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

/// Runs `ca check`; returns the exit code (0 clean, 1 problems).
pub fn run(args: &CheckArgs, ctx: &Context) -> Result<i32> {
    if store::is_pending(&ctx.dir) {
        let ok = super::pending::check(&ctx.dir, args.json)?;
        return Ok(if ok { exit::OK } else { exit::PROBLEMS });
    }
    // The key is checked only when a passphrase can be had, asked before the shared lock.
    if ctx.pass.available() {
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
        },
        Err(e) => return Err(e),
    };
    crate::render::check::print(&report, &ctx.dir, args.json)?;
    Ok(if report.ok { exit::OK } else { exit::PROBLEMS })
}

/// Checks everything, collecting problems.
pub fn check(session: &Session, pass: &crate::passphrase::Source) -> CheckReport {
    let mut problems = Vec::new();
    let mut add = |file: &str, problem: String| {
        problems.push(Problem {
            file: file.to_string(),
            problem,
        })
    };
    let dir = session.dir();

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

    let header = match session.load_header() {
        Ok(h) => Some(h),
        Err(e) => {
            add(INDEX, strip(&e));
            None
        }
    };
    // POLICY-HASH: policy.toml is the one index.json records (or absent with none).
    if let Some(h) = &header
        && let Err(e) = crate::policy::read(session, h.policy_sha256.as_deref())
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
    let counter = |name: &str| -> std::result::Result<Serial, String> {
        let b = session.read(name).map_err(|e| strip(&e))?;
        Serial::parse_file(&b)
            .ok_or_else(|| "not an uppercase hex number with a final newline".to_string())
    };
    let serial = counter(SERIAL).map_err(|m| add(SERIAL, m)).ok();
    let crlnumber = counter(CRLNUMBER).map_err(|m| add(CRLNUMBER, m)).ok();
    // Read once: hashed for the checkpoint, parsed and verified below.
    let crl_file = session.read_optional(CRL);

    if let Some(entries) = &entries {
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
        if let Some(counter) = &serial
            && let Some(max) = entries.iter().map(|e| e.serial.clone()).max()
            && *counter <= max
        {
            add(
                SERIAL,
                format!("counter {counter} is not above the highest issued serial {max}"),
            );
        }
    }

    if let Some(h) = &header {
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
                    let files = (serial.as_ref(), crlnumber.as_ref(), crl_sha256);
                    for (file, p) in check_checkpoint(session, cert, h, &bytes, files) {
                        add(file, p);
                    }
                }
            }
            Err(e) => add(AUDIT, strip(&e)),
        }
    }

    match &crl_file {
        Ok(Some(bytes)) => {
            match crate::pki::crl::parse(bytes, store::MAX_STATE_FILE as usize, ca_cert.as_ref())
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
                        let revoked: std::collections::HashSet<String> = entries
                            .iter()
                            .filter(|e| e.revoked.is_some())
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
                    match (number, &crlnumber) {
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

    let undelivered = match store::read_undelivered(dir) {
        Ok(records) => records.into_iter().flat_map(|r| r.messages).collect(),
        Err(e) => {
            add(store::UNDELIVERED, format!("cannot be read: {e}"));
            Vec::new()
        }
    };
    CheckReport {
        ok: problems.is_empty(),
        generation: header.as_ref().map(|h| h.generation),
        certificates: entries.as_ref().map_or(0, Vec::len),
        problems,
        undelivered,
    }
}

/// The signed checkpoint (SPEC.md CHECK-CHECKPOINT): its signature verifies with ca.crt's
/// key; audit.log's record of its generation ends at its `audit_len` and hashes to its
/// `audit_head`; index.log's first `log_len` bytes chain to its `log_head`; and it is the
/// checkpoint of the state found (every commit signs one). History is then exactly what the
/// CA key signed.
fn check_checkpoint(
    session: &Session,
    cert: &CaCert,
    header: &crate::model::header::Header,
    audit: &[u8],
    (serial, crlnumber, crl): (Option<&Serial>, Option<&Serial>, Option<Option<String>>),
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let Some(cp) = &header.checkpoint else {
        return vec![(INDEX, "has no signed checkpoint".into())];
    };
    if let Err(e) = cp.verify(cert) {
        problems.push((INDEX, e.to_string()));
    }
    let g = cp.generation;
    if g != header.generation {
        problems.push((
            INDEX,
            format!(
                "its generation {} is not the signed checkpoint's ({g}): history was rewritten",
                header.generation
            ),
        ));
    }
    let signed_audit = usize::try_from(cp.audit_len)
        .ok()
        .and_then(|n| audit.get(..n))
        .and_then(|a| a.strip_suffix(b"\n"))
        .map(|a| a.rsplit(|&b| b == b'\n').next().unwrap_or(a));
    let audit_ok = signed_audit.is_some_and(|line| {
        audit::line_hash(line) == cp.audit_head
            && serde_json::from_slice::<audit::Record>(line).is_ok_and(|r| r.generation == g)
    });
    if !audit_ok {
        problems.push((
            AUDIT,
            format!(
                "its record of generation {g} is not the one the signed checkpoint names \
                 (records edited, removed or re-hashed)"
            ),
        ));
    } else if audit.len() as u64 != cp.audit_len {
        problems.push((
            AUDIT,
            format!(
                "holds {} bytes after the record the signed checkpoint ends with (generation {g})",
                audit.len() as u64 - cp.audit_len.min(audit.len() as u64)
            ),
        ));
    }
    let chained = session
        .open_log()
        .and_then(|log| crate::model::log::log_head(&log, cp.log_len))
        .ok();
    if chained.as_ref() != Some(&cp.log_head) {
        problems.push((
            INDEX_LOG,
            format!(
                "its first {} bytes are not the ones the signed checkpoint (generation {g}) \
                 covers: lines were edited, removed or inserted",
                cp.log_len
            ),
        ));
    } else if header.log_len != cp.log_len || header.log_head != cp.log_head {
        problems.push((
            INDEX_LOG,
            format!("has lines the signed checkpoint (generation {g}) does not cover"),
        ));
    }
    for (file, found, signed) in [
        (SERIAL, serial, &cp.serial),
        (CRLNUMBER, crlnumber, &cp.crlnumber),
    ] {
        if found.map(Serial::to_string).as_ref() != Some(signed) {
            problems.push((
                file,
                format!(
                    "is not the counter the signed checkpoint records ({signed}): edited behind \
                     fileca's back"
                ),
            ));
        }
    }
    if crl.as_ref() != Some(&cp.crl_sha256) {
        problems.push((
            CRL,
            match &cp.crl_sha256 {
                Some(_) => "is not the CRL the signed checkpoint records (replaced by an older \
                            one, or removed)"
                    .into(),
                None => "exists, but the signed checkpoint records none".into(),
            },
        ));
    }
    // CHECKPOINT-CHAIN: chain.pem as signed (once recorded).
    if let Some(signed) = &cp.chain_sha256 {
        let found = session
            .read_optional(store::CHAIN)
            .ok()
            .flatten()
            .map(|b| hex::sha256(&b));
        if found.as_ref() != Some(signed) {
            problems.push((
                store::CHAIN,
                "is not the chain the signed checkpoint records (replaced or removed: the name \
                 constraints of the CAs above would no longer be applied)"
                    .into(),
            ));
        }
    }
    if header.max_serial != cp.max_serial {
        problems.push((
            INDEX,
            format!(
                "max_serial is not the one the signed checkpoint records ({})",
                cp.max_serial.as_deref().unwrap_or("none")
            ),
        ));
    }
    problems
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
