//! `ca log`'s output: the audit trail as aligned columns, or `--json` (SPEC.md LOG-*). The
//! report is the records themselves (`model::audit::Record`, whose serde form is the JSON).

use crate::error::Result;
use crate::model::audit::Record;
use crate::term::escape;

/// Prints the records as JSON or as text.
pub fn print(records: &[Record], json: bool) -> Result<()> {
    if json {
        return super::print_json(records);
    }
    crate::term::print(&text(records))
}

/// The text form: one line per record, columns as wide as their widest value
/// ("import-openssl", a long user name).
pub fn text(records: &[Record]) -> String {
    // Records are fileca's own, but audit.log is a file others may have written: every
    // string in it is escaped (SPEC.md HOSTILE-TERMINAL).
    let shown: Vec<(String, String)> = records
        .iter()
        .map(|r| (escape(&r.operation), escape(&r.user)))
        .collect();
    let op_width = shown.iter().map(|s| s.0.chars().count()).max().unwrap_or(0);
    let user_width = shown.iter().map(|s| s.1.chars().count()).max().unwrap_or(0);
    let gen_width = records
        .iter()
        .map(|r| r.generation.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (r, (op, user)) in records.iter().zip(&shown) {
        // An ACME change names its account (SPEC.md ACME-AUDIT).
        let account = r
            .acme_account
            .as_ref()
            .map(|a| format!("  account {}", escape(a)))
            .unwrap_or_default();
        let line = format!(
            "{}  gen {:<gen_width$}  {:<op_width$}  {:<user_width$}  {}{account}",
            crate::clock::fmt(r.time),
            r.generation,
            op,
            user,
            escape(&r.serials.join(" "))
        );
        crate::outln!(out, "{}", line.trim_end());
    }
    out
}
