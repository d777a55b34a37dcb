//! The `--dry-run` report of a mutation, printed by `cmd::mutate` instead of committing (init
//! describes its new directory itself, in cmd/init.rs): what the plan would commit and publish,
//! and its notes in their dry-run wording ([`Note::dry_run`]), without the signed objects
//! themselves (a dry run never hands out a certificate the index does not record).

use crate::error::Result;
use crate::store::Plan;
use crate::term::{Note, escape};

/// Prints the report of `plan` and its `notes` on stdout.
pub fn print(plan: &Plan, notes: &[Note]) -> Result<()> {
    crate::term::print(&text(plan, notes))
}

/// The report: a line naming the generations, then one indented line per file, directory
/// and note.
pub fn text(plan: &Plan, notes: &[Note]) -> String {
    let mut out = format!(
        "dry run: {} would move the CA from generation {} to {}; nothing was written\n",
        plan.operation, plan.generation_before, plan.generation_after
    );
    for w in &plan.writes {
        out.push_str(&format!(
            "  would write {} ({} bytes)\n",
            w.target,
            w.bytes.len()
        ));
    }
    for a in &plan.appends {
        out.push_str(&format!(
            "  would append {} bytes to {}\n",
            a.bytes.len(),
            a.target
        ));
    }
    for d in &plan.out_dirs {
        if !d.is_dir() {
            out.push_str(&format!(
                "  would create the directory {}\n",
                escape(&d.display().to_string())
            ));
        }
    }
    for o in &plan.outputs {
        out.push_str(&format!(
            "  would write {}\n",
            escape(&o.path.display().to_string())
        ));
    }
    if let Some(pair) = &plan.pair {
        let key = (&pair.key.0, pair.key.2);
        let staged = pair.staged.iter().map(|(n, _, m)| (n, *m));
        let files = pair.files.iter().map(|f| (&f.name, f.mode));
        let carried = pair.carried.iter().map(|(n, _, m)| (n, *m));
        for (name, mode) in std::iter::once(key)
            .chain(staged)
            .chain(files)
            .chain(carried)
        {
            out.push_str(&format!(
                "  would write {} (mode {mode:o})\n",
                escape(&pair.path.join(name).display().to_string())
            ));
        }
    }
    for n in notes {
        out.push_str(&format!("  {}\n", n.dry_run()));
    }
    out
}
