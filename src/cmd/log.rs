//! `ca log`: print the audit trail (SPEC.md `LOG-*`).

use super::Context;
use crate::cli::JsonArgs;
use crate::error::{Error, Result};
use crate::model::audit::Record;
use crate::store::{AUDIT, Access, Session};

/// Runs `ca log`.
pub fn run(args: &JsonArgs, ctx: &Context) -> Result<()> {
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let bytes = session.read(AUDIT)?;
    let path = ctx.dir.join(AUDIT);
    let records = std::str::from_utf8(&bytes)
        .map_err(|_| Error::state(&path, "is not UTF-8"))?
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<Record>(l)
                .map_err(|e| Error::state(&path, format!("line {}: {e} (run ca check)", i + 1)))
        })
        .collect::<Result<Vec<_>>>()?;
    if args.json {
        let json =
            serde_json::to_string_pretty(&records).map_err(|e| Error::Internal(e.to_string()))?;
        return crate::render::print(&format!("{json}\n"));
    }
    // Records are fileca's own, but audit.log is a file others may have written: every
    // string in it is escaped (SPEC.md HOSTILE-TERMINAL).
    // Columns as wide as their widest value ("import-openssl", a long user name).
    let shown: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                crate::render::escape(&r.operation),
                crate::render::escape(&r.user),
            )
        })
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
        let line = format!(
            "{}  gen {:<gen_width$}  {:<op_width$}  {:<user_width$}  {}",
            crate::clock::fmt(r.time),
            r.generation,
            op,
            user,
            crate::render::escape(&r.serials.join(" "))
        );
        crate::outln!(out, "{}", line.trim_end());
    }
    crate::render::print(&out)
}
