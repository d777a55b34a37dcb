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

/// The `--json` document (SPEC.md VERIFY-*).
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub verdict: Verdict,
    pub serial: String,
    /// RFC 4514 order.
    pub subject: String,
    /// Why: dates, the revocation, the issuer found (escaped where it quotes the file).
    pub detail: String,
}

/// Prints the verdict on the certificate file `path` as JSON or as a line.
pub fn print(report: &VerifyReport, path: &Path, json: bool) -> Result<()> {
    if json {
        return super::print_json(report);
    }
    super::print(&format!(
        "{}: {} (serial {}, {})\n",
        super::escape(&path.display().to_string()),
        report.verdict.name(),
        report.serial,
        report.detail
    ))
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
