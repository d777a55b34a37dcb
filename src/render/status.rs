//! `ca status`'s output: a summary for people, or `--json` for scripts (SPEC.md STATUS-JSON);
//! the warnings go to stderr after the summary (STATUS-WARN).

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::Result;
use crate::term::escape;

/// The `--json` document (SPEC.md `STATUS-JSON`).
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub subject: String,
    pub key_type: String,
    pub not_before: String,
    pub not_after: String,
    pub ca_expired: bool,
    /// basicConstraints pathLenConstraint (null: none).
    pub path_len: Option<u32>,
    /// A sub-CA's parent (chain.pem's first certificate); null for a root.
    pub parent: Option<String>,
    /// How many CAs are above this one up to the root (0: a root or an adopted CA without
    /// chain.pem).
    pub depth: usize,
    /// nameConstraints in `--permit`/`--exclude` spelling (SPEC.md NC-*).
    pub name_constraints: NameConstraints,
    /// The policy in force (SPEC.md POLICY-*, STATUS-JSON).
    pub policy: PolicyInfo,
    pub certificates: Counts,
    pub next_serial: String,
    pub next_crl_number: String,
    pub crl: Option<CrlInfo>,
    pub generation: u64,
    /// Conditions that need the operator's attention (SPEC.md STATUS-WARN).
    pub warnings: Vec<String>,
    /// Where the CA key lives when it is on a PKCS#11 token (SPEC.md TOKEN-STATUS); absent
    /// for a key in ca.key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyLocation>,
}

/// A CA key on a token: the reference's URI (never a PIN) and module, and what a look at the
/// token without a login found.
#[derive(Debug, Serialize)]
pub struct KeyLocation {
    pub uri: String,
    pub module: String,
    /// The token's label and serial, when present.
    pub token_label: Option<String>,
    pub token_serial: Option<String>,
    /// Is the token there now, with the key the reference records?
    pub present: bool,
    /// Why it is not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absent_because: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct NameConstraints {
    pub permitted: Vec<String>,
    pub excluded: Vec<String>,
    /// Name types closed whole: `DNS`, `IP`, `email` (NC-CLOSED).
    pub closed: Vec<&'static str>,
}

/// policy.toml's SHA-256 (null: the built-in policy) and the profiles it has (empty when
/// policy.toml cannot be used: a warning says why).
#[derive(Debug, Default, Serialize)]
pub struct PolicyInfo {
    pub sha256: Option<String>,
    pub profiles: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub total: usize,
    pub valid: usize,
    pub revoked: usize,
    /// Of `revoked`, those on certificateHold (releasable with `ca unhold`).
    pub held: usize,
    pub expired: usize,
}

#[derive(Debug, Serialize)]
pub struct CrlInfo {
    pub number: String,
    pub this_update: String,
    pub next_update: Option<String>,
    pub expired: bool,
    #[serde(skip)]
    pub this_update_at: OffsetDateTime,
    #[serde(skip)]
    pub next_update_at: Option<OffsetDateTime>,
    /// What it lists: serial (canonical hex) → revocation time (Unix seconds) and reason.
    #[serde(skip)]
    pub listed: std::collections::HashMap<String, (i64, Option<crate::pki::reason::Reason>)>,
}

/// Prints the report as JSON (warnings included), or as text on stdout and one
/// `warning: …` line per warning on stderr.
pub fn print(report: &StatusReport, json: bool) -> Result<()> {
    if json {
        return super::print_json(report);
    }
    crate::term::print(&text(report))?;
    for w in &report.warnings {
        crate::term::warn(&format!("warning: {w}"));
    }
    Ok(())
}

/// Where a token key lives, and whether the token is there (TOKEN-STATUS).
fn key_lines(out: &mut String, k: &KeyLocation) {
    crate::outln!(
        *out,
        "key on token:  {} (module {})",
        escape(&k.uri),
        escape(&k.module)
    );
    match (&k.token_label, &k.token_serial, &k.absent_because) {
        (Some(label), Some(serial), None) => crate::outln!(
            *out,
            "token:         {} (serial {}), present",
            escape(label),
            escape(serial)
        ),
        (_, _, why) => crate::outln!(
            *out,
            "token:         not present now ({})",
            escape(why.as_deref().unwrap_or("?"))
        ),
    }
}

/// The text form on stdout (the warnings aside).
pub fn text(report: &StatusReport) -> String {
    let c = &report.certificates;
    let mut out = String::new();
    crate::outln!(out, "subject:       {}", escape(&report.subject));
    crate::outln!(out, "key type:      {}", report.key_type);
    if let Some(k) = &report.key {
        key_lines(&mut out, k);
    }
    crate::outln!(
        out,
        "validity:      {} to {}{}",
        report.not_before,
        report.not_after,
        if report.ca_expired { " (EXPIRED)" } else { "" }
    );
    if let Some(parent) = &report.parent {
        crate::outln!(
            out,
            "issued by:     {} ({} CA(s) above, chain.pem)",
            escape(parent),
            report.depth
        );
    }
    if let Some(n) = report.path_len {
        crate::outln!(
            out,
            "path length:   {n} (CAs that may follow below this one)"
        );
    }
    let nc = &report.name_constraints;
    if !nc.permitted.is_empty() {
        crate::outln!(out, "permitted:     {}", escape(&nc.permitted.join(", ")));
    }
    if !nc.excluded.is_empty() {
        crate::outln!(out, "excluded:      {}", escape(&nc.excluded.join(", ")));
    }
    if !nc.closed.is_empty() {
        crate::outln!(
            out,
            "closed:        {} (no name of these types is issued)",
            nc.closed.join(", ")
        );
    }
    crate::outln!(
        out,
        "policy:        {} (profiles: {})",
        match &report.policy.sha256 {
            Some(h) => format!("policy.toml, sha256 {h}"),
            None => "built-in".to_string(),
        },
        match report.policy.profiles.is_empty() {
            true => "none usable".to_string(),
            false => escape(&report.policy.profiles.join(", ")),
        }
    );
    let held = match c.held {
        0 => String::new(),
        n => format!(" ({n} on hold)"),
    };
    crate::outln!(
        out,
        "certificates:  {} issued: {} valid, {} revoked{held}, {} expired",
        c.total,
        c.valid,
        c.revoked,
        c.expired
    );
    crate::outln!(
        out,
        "serials from:  {} (+ 64 random bits)",
        report.next_serial
    );
    match &report.crl {
        Some(crl) => crate::outln!(
            out,
            "CRL:           number {}, next update {}{}; next CRL number {}",
            crl.number,
            crl.next_update.as_deref().unwrap_or("(none)"),
            if crl.expired { " (EXPIRED)" } else { "" },
            report.next_crl_number
        ),
        None => crate::outln!(
            out,
            "CRL:           none published yet (run `ca crl`); next CRL number {}",
            report.next_crl_number
        ),
    }
    crate::outln!(out, "generation:    {}", report.generation);
    out
}
