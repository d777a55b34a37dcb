//! What `status` and `check` say of a pending CA (SPEC.md PENDING-STATUS): a key and its
//! request, no certificate yet. Read-only; no lock is needed, as nothing but `install-ca`
//! (which replaces the whole directory at once) changes a pending CA.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::pki::pem::MAX_PEM_BYTES;
use crate::render::check::{CheckReport, Problem};
use crate::store;

/// `ca status --json` of a pending CA.
#[derive(Debug, Serialize)]
pub struct PendingReport {
    pub pending: bool,
    pub subject: String,
    pub key_type: String,
    /// The request, for the parent to sign.
    pub csr: String,
    pub next: String,
}

/// The report, and the problems `check` lists: the request must be a valid CSR signed by its
/// key, and (when ca.key is not encrypted) that key must be ca.key's.
pub fn query(dir: &Path) -> Result<(PendingReport, Vec<Problem>)> {
    let mut problems = Vec::new();
    let csr_bytes = store::read_state_file(dir, store::CSR)?;
    let key_bytes = zeroize::Zeroizing::new(store::read_state_file(dir, store::KEY)?);
    let checked = crate::pki::pem::decode_one(&csr_bytes, &["CERTIFICATE REQUEST"], MAX_PEM_BYTES)
        .map_err(|e| e.to_string())
        .and_then(|der| crate::pki::csr::check(&der).map_err(|e| e.to_string()));
    let (subject, key_type) = match &checked {
        Ok(c) => (c.subject.to_string(), c.key.to_string()),
        Err(m) => {
            problems.push(Problem {
                file: store::CSR.into(),
                problem: m.clone(),
            });
            ("?".into(), "?".into())
        }
    };
    let text = String::from_utf8_lossy(&key_bytes);
    if let Ok(c) = &checked
        && !crate::pki::keys::is_encrypted(&text)
    {
        match crate::pki::keys::key_pair(&text) {
            Ok(key) if rcgen::PublicKeyData::subject_public_key_info(&key) == c.spki_der => {}
            Ok(_) => problems.push(Problem {
                file: store::KEY.into(),
                problem: "is not the key of ca.csr".into(),
            }),
            Err(e) => problems.push(Problem {
                file: store::KEY.into(),
                problem: e.to_string(),
            }),
        }
    }
    let shown = crate::render::escape(&dir.display().to_string());
    Ok((
        PendingReport {
            pending: true,
            subject,
            key_type,
            csr: format!("{}/{}", dir.display(), store::CSR),
            next: format!(
                "have the parent CA sign the request (`ca --dir PARENT sign {shown}/ca.csr --profile sub-ca --out CERT`), then run `ca --dir {shown} install-ca CERT`"
            ),
        },
        problems,
    ))
}

/// `ca status` of a pending CA.
pub fn status(dir: &Path, json: bool) -> Result<()> {
    let (report, _) = query(dir)?;
    if json {
        return crate::render::print_json(&report);
    }
    let mut out = String::new();
    crate::outln!(
        out,
        "pending CA:    {} ({})",
        crate::render::escape(&report.subject),
        report.key_type
    );
    crate::outln!(out, "request:       {}", crate::render::escape(&report.csr));
    crate::outln!(out, "next:          {}", report.next);
    crate::render::print(&out)
}

/// `ca check` of a pending CA: its problems, or an ok line naming it pending.
pub fn check(dir: &Path, json: bool) -> Result<bool> {
    let (report, problems) = query(dir)?;
    let ok = problems.is_empty();
    let check = CheckReport {
        ok,
        generation: None,
        certificates: 0,
        problems,
        undelivered: Vec::new(),
    };
    if json || !ok {
        crate::render::check::print(&check, dir, json)?;
    } else {
        crate::render::print(&format!(
            "ok: pending CA {}: its request ca.csr is signed by its key; no certificate yet\n",
            crate::render::escape(&report.subject)
        ))?;
    }
    Ok(ok)
}
