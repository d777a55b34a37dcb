//! `ca check`'s output: one `problem:` line per violated invariant and a verdict line, or
//! `--json` (SPEC.md CHECK-JSON). Whether problems make exit 1 is the command's.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::term::escape;

/// The `--json` document (SPEC.md `CHECK-JSON`).
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub generation: Option<u64>,
    pub certificates: usize,
    pub problems: Vec<Problem>,
    /// What an interrupted command committed and recovery did not deliver outside the state
    /// directory (SPEC.md RECOVER-UNDELIVERED): not a problem of the state, a task for its
    /// user, listed until the next change (a pair's while its key waits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<String>,
    /// What could not be checked and why, which is not a problem of the state: a CA key on a
    /// token that is not present now (SPEC.md TOKEN-CHECK).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One violated invariant.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// The file concerned, relative to the state directory.
    pub file: String,
    pub problem: String,
}

/// Prints the report of the state directory `dir` as JSON or as text.
pub fn print(report: &CheckReport, dir: &Path, json: bool) -> Result<()> {
    if json {
        return super::print_json(report);
    }
    crate::term::print(&text(report, dir))
}

/// The text form.
pub fn text(report: &CheckReport, dir: &Path) -> String {
    let mut out = String::new();
    // Problems quote what they found in files others may have written: escaped.
    for p in &report.problems {
        crate::outln!(out, "problem: {}: {}", escape(&p.file), escape(&p.problem));
    }
    for u in &report.undelivered {
        crate::outln!(out, "undelivered: {}", escape(u));
    }
    for n in &report.notes {
        crate::outln!(out, "note: {}", escape(n));
    }
    if report.ok {
        crate::outln!(
            out,
            "ok: {} certificate(s), generation {}, every invariant holds",
            report.certificates,
            report.generation.unwrap_or(0)
        );
    } else {
        crate::outln!(
            out,
            "{} problem(s) found in {}",
            report.problems.len(),
            escape(&dir.display().to_string())
        );
    }
    out
}
