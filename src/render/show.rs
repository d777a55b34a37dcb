//! `ca show`'s output: one certificate for people, or `--json` (SPEC.md SHOW-JSON). The
//! `--pem` form is the recorded file itself, printed as it is.

use serde::Serialize;

use super::list::Row;
use crate::error::Result;
use crate::term::escape;

/// `ca show --json` (SPEC.md SHOW-JSON): the list row plus what the certificate says.
#[derive(Debug, Serialize)]
pub struct ShowReport<'a> {
    #[serde(flatten)]
    pub row: Row<'a>,
    pub key_type: String,
    pub key_usage: Vec<String>,
    pub extended_key_usage: Vec<String>,
    /// What the policy put in (SHOW-EXT): CRL Distribution Point URIs, AIA caIssuers and
    /// OCSP URIs, certificatePolicies OIDs.
    pub crl_urls: Vec<String>,
    pub ca_issuers: Vec<String>,
    pub ocsp: Vec<String>,
    pub policies: Vec<String>,
    /// A CA certificate's pathLenConstraint and name constraints (`--permit` spelling);
    /// null for a leaf.
    pub ca: Option<CaLimits>,
}

/// What a CA certificate allows below it.
#[derive(Debug, Serialize)]
pub struct CaLimits {
    pub path_len: Option<u32>,
    pub permitted: Vec<String>,
    pub excluded: Vec<String>,
    /// Name types closed whole: `DNS`, `IP`, `email` (NC-CLOSED).
    pub closed: Vec<&'static str>,
}

/// Prints the report as JSON or as text.
pub fn print(shown: &ShowReport<'_>, json: bool) -> Result<()> {
    if json {
        return super::print_json(shown);
    }
    crate::term::print(&text(shown))
}

/// The text form: one `label: value` line each.
pub fn text(shown: &ShowReport<'_>) -> String {
    let r = &shown.row;
    let mut out = String::new();
    crate::outln!(out, "serial:        {}", r.serial);
    crate::outln!(out, "subject:       {}", escape(&r.subject));
    crate::outln!(
        out,
        "SANs:          {}",
        if r.sans.is_empty() {
            "(none)".into()
        } else {
            escape(&r.sans.join(", "))
        }
    );
    crate::outln!(out, "key:           {}", shown.key_type);
    crate::outln!(out, "validity:      {} to {}", r.not_before, r.not_after);
    crate::outln!(out, "profile:       {}", escape(r.profile));
    crate::outln!(out, "key usage:     {}", shown.key_usage.join(", "));
    crate::outln!(
        out,
        "ext key usage: {}",
        if shown.extended_key_usage.is_empty() {
            "(none)".to_string()
        } else {
            shown.extended_key_usage.join(", ")
        }
    );
    for (label, list) in [
        ("CRL URLs:     ", &shown.crl_urls),
        ("CA issuers:   ", &shown.ca_issuers),
        ("OCSP:         ", &shown.ocsp),
        ("policies:     ", &shown.policies),
    ] {
        if !list.is_empty() {
            crate::outln!(out, "{label} {}", escape(&list.join(", ")));
        }
    }
    if let Some(ca) = &shown.ca {
        crate::outln!(
            out,
            "path length:   {}",
            ca.path_len.map_or("(none)".to_string(), |n| n.to_string())
        );
        if !ca.permitted.is_empty() {
            crate::outln!(out, "permitted:     {}", escape(&ca.permitted.join(", ")));
        }
        if !ca.excluded.is_empty() {
            crate::outln!(out, "excluded:      {}", escape(&ca.excluded.join(", ")));
        }
        if !ca.closed.is_empty() {
            crate::outln!(
                out,
                "closed:        {} (no name of these types is issued)",
                ca.closed.join(", ")
            );
        }
    }
    match (&r.revoked_at, r.revocation_reason) {
        (Some(at), reason) => crate::outln!(
            out,
            "status:        revoked on {at} ({})",
            // What users type (caCompromise), not index.log's RFC spelling (REVOKE-REASONS).
            reason
                .and_then(crate::pki::reason::Reason::from_name)
                .map_or("unspecified", crate::pki::reason::Reason::typed)
        ),
        _ => crate::outln!(out, "status:        {}", r.state.name()),
    }
    if let (Some(at), None) = (&r.hold_released_at, &r.revoked_at) {
        crate::outln!(out, "hold released: {at} (ca unhold)");
    }
    if let Some(from) = &r.renewed_from {
        crate::outln!(out, "renewed from:  {from}");
    }
    // A sub-CA this CA issued: where it stands (SHOW-CA).
    if let (Some(parent), Some(depth)) = (r.parent, r.depth) {
        crate::outln!(out, "parent:        {}", escape(parent));
        crate::outln!(out, "depth:         {depth}");
    }
    crate::outln!(out, "sha256:        {}", r.sha256);
    out
}
