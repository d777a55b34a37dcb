//! `ca verify`'s output: the verdict on one certificate file, as a line or `--json` (SPEC.md
//! VERIFY-*). The verdict itself is reached by `cmd/verify.rs`; each has its exit code.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;

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
    /// One of chain.pem's certificates: a CA above this one (VERIFY-ABOVE).
    AboveThisCa,
    /// Otherwise `valid`, `this-ca` or `above-this-ca`, but a link of the path to the root
    /// (ca.crt, chain.pem) is expired, not yet valid or does not sign the one below, or the
    /// path ends at no self-signed root (VERIFY-PATH).
    PathBroken,
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
            Verdict::AboveThisCa => "above-this-ca",
            Verdict::PathBroken => "path-broken",
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
            Verdict::AboveThisCa => 16,
            Verdict::PathBroken => 17,
        }
    }
}

/// The `--json` document (SPEC.md VERIFY-*).
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub verdict: Verdict,
    pub serial: String,
    /// RFC 4514 order.
    pub subject: String,
    /// Why: dates, the revocation, the issuer found (escaped where it quotes the file).
    pub detail: String,
    /// The issuers up to the root, as checked: the certificate's issuer first (VERIFY-PATH);
    /// empty for a certificate this CA did not sign, and for a root's own certificate.
    pub path: Vec<PathLink>,
}

/// One issuer on the path to the root.
#[derive(Debug, Serialize)]
pub struct PathLink {
    /// RFC 4514 order.
    pub subject: String,
    pub serial: String,
    /// Where it is: `ca.crt` or `chain.pem`.
    pub file: &'static str,
    pub not_after: String,
    /// Why this link fails; `null` when it holds.
    pub problem: Option<String>,
}

/// Prints the verdict on the certificate file `path` as JSON or as a line.
pub fn print(report: &VerifyReport, path: &Path, json: bool) -> Result<()> {
    if json {
        return super::print_json(report);
    }
    let mut text = format!(
        "{}: {} (serial {}, {})\n",
        crate::term::escape(&path.display().to_string()),
        report.verdict.name(),
        report.serial,
        report.detail
    );
    // Each line: the certificate above the previous one, which it signed.
    for link in &report.path {
        let state = match &link.problem {
            Some(p) => format!("BROKEN: {p}"),
            None => format!("ok, valid until {}", link.not_after),
        };
        text.push_str(&format!(
            "  issued by {} ({}, serial {}): {state}\n",
            crate::term::escape(&link.subject),
            link.file,
            link.serial
        ));
    }
    crate::term::print(&text)
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
            Verdict::AboveThisCa,
            Verdict::PathBroken,
        ];
        for v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), v.name());
        }
        let codes: std::collections::HashSet<i32> = all.iter().map(|v| v.exit_code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
