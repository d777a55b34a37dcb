//! The shape of the source tree (issue #25, "Layers and names"; STYLE.md "The shape of the
//! code"): no file over 600 lines, no `Result<_, String>`, a PKI core that imports only
//! itself, commands that do not import commands, no import cycle between the top-level
//! modules of src/. In process: the checks read src/**/*.rs with std::fs and spawn nothing.
//! Each failure names the offending file (and line, or the cycle).
//!
//! The scan is textual, not a Rust parser: comment lines (`//`, `///`, `//!`) are skipped,
//! and an import is any `crate::NAME` path (also inside `use crate::{…}`), which is how
//! fileca writes them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under src/, relative to the crate root, with its text; sorted.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry of src/").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            let rel = p.strip_prefix(root).expect("under the crate root");
            (rel.to_string_lossy().into_owned(), text)
        })
        .collect()
}

/// The lines of `text` that are code: (1-based line number, line), comment lines left out.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// The first component of every `crate::` path on `line`: `crate::store::Session` gives
/// `store`; `crate::{error::Error, hex}` gives `error` and `hex`.
fn crate_paths(line: &str) -> Vec<String> {
    paths_after(line, "crate::")
}

/// The first component of every path on `line` that starts with `prefix` (`crate::`,
/// `super::`, `cmd::`), a `{…}` group giving each of its top-level names.
fn paths_after(line: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        // `fileca_crate::` or `mycrate::` is not `crate::`.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: depth 0 items, each up to its first `::`.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.push(item);
        } else {
            found.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    found
        .into_iter()
        .map(|s| {
            let s = s.trim();
            s.split("::").next().unwrap_or("").trim().to_string()
        })
        .filter(|s| !s.is_empty() && s != "self")
        .collect()
}

/// The top-level module a file of src/ belongs to (`src/store/fsio.rs` → `store`,
/// `src/cli.rs` → `cli`); None for the crate root (lib.rs, main.rs).
fn top_module(rel: &str) -> Option<String> {
    let inner = rel.strip_prefix("src/")?;
    match inner.split_once('/') {
        Some((dir, _)) => Some(dir.to_string()),
        None => {
            let stem = inner.strip_suffix(".rs")?;
            (stem != "lib" && stem != "main").then(|| stem.to_string())
        }
    }
}

/// Every `Result<…>` on the line whose error type (its second argument) is `String`.
fn string_results(line: &str) -> usize {
    let mut count = 0;
    let mut rest = line;
    while let Some(at) = rest.find("Result<") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "Result<".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `CheckResult<`, not `Result<`
        }
        let (mut depth, mut args, mut arg) = (0usize, Vec::new(), String::new());
        for c in rest.chars() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' if depth == 0 => break,
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    args.push(std::mem::take(&mut arg));
                    continue;
                }
                _ => {}
            }
            arg.push(c);
        }
        args.push(arg);
        if args.len() == 2 && matches!(args[1].trim(), "String" | "std::string::String") {
            count += 1;
        }
    }
    count
}

#[test]
fn no_file_in_src_is_over_600_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter_map(|(rel, text)| {
            let n = text.lines().count();
            (n > 600).then(|| format!("{rel}: {n} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over 600 lines (split them along what each part does):\n  {}",
        long.join("\n  ")
    );
}

/// Every `fn` of `text` (rustfmt's layout: its body ends at the first `}` line indented as
/// the `fn` line) that spans more than `max` lines and whose header comment — the `///` or
/// `//` lines right above it, past attributes — does not say "Long because": (line, name,
/// length).
fn long_functions(text: &str, max: usize) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let rest = ["pub(crate) ", "pub(super) ", "pub ", "const ", "async "]
            .iter()
            .fold(trimmed, |t, p| t.strip_prefix(p).unwrap_or(t));
        let Some(name) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = name
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{indent}}}");
        let Some(end) = lines[i + 1..].iter().position(|l| *l == close) else {
            continue;
        };
        let len = end + 2;
        if len <= max {
            continue;
        }
        let header: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim_start())
            .skip_while(|l| l.starts_with("#["))
            .take_while(|l| l.starts_with("//"))
            .collect();
        if !header.iter().any(|l| l.contains("Long because")) {
            out.push((i + 1, name, len));
        }
    }
    out
}

#[test]
fn no_function_is_over_100_lines_without_a_reason() {
    let long: Vec<String> = sources()
        .into_iter()
        .flat_map(|(rel, text)| {
            long_functions(&text, 100)
                .into_iter()
                .map(move |(line, name, len)| format!("{rel}:{line}: fn {name}, {len} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "functions over 100 lines (split them, or say why in their header comment with \
         \"Long because …\"):\n  {}",
        long.join("\n  ")
    );
}

#[test]
fn unsafe_code_is_denied_but_at_its_four_documented_statements() {
    let mut allowed = Vec::new();
    for (rel, text) in sources() {
        for (n, line) in code_lines(&text) {
            if line.contains("allow(unsafe_code)") {
                allowed.push(format!("{rel}:{n}"));
            }
        }
    }
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    assert!(lib.contains("#![deny(unsafe_code)]"));
    assert_eq!(
        allowed.len(),
        4,
        "unsafe code is allowed only at the descriptor borrow (term.rs), the password \
         database walk (store/trust.rs) and finding and calling C_Sign for a per-signature login \
         (token/context.rs): {allowed:?}"
    );
}

#[test]
fn no_result_has_a_string_error() {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        for (n, line) in code_lines(&text) {
            // An error type built from any text is a string error by another name.
            let from_text = ["impl From<String> for", "impl From<&str> for"]
                .iter()
                .any(|p| line.contains(p));
            if string_results(line) > 0 || from_text {
                found.push(format!("{rel}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "Result<_, String> or an error built From text (give the error a type, thiserror, \\
         keeping its message):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn pki_imports_nothing_outside_pki() {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        if !rel.starts_with("src/pki/") {
            continue;
        }
        for (n, line) in code_lines(&text) {
            for m in crate_paths(line) {
                if m != "pki" {
                    found.push(format!("{rel}:{n}: crate::{m} ({})", line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "pki/ is the pure core and imports only pki/:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn no_command_imports_another_command() {
    let files = sources();
    // A command module is a file of cmd/ with a `run` entry point (`ca init --parent` is
    // init_parent.rs); the other files of cmd/ (mod.rs, pending.rs) are shared code below
    // the commands.
    let commands: BTreeSet<String> = files
        .iter()
        .filter(|(_, text)| text.contains("pub fn run("))
        .filter_map(|(rel, _)| rel.strip_prefix("src/cmd/")?.strip_suffix(".rs"))
        .filter(|stem| !stem.contains('/') && *stem != "mod")
        .map(str::to_string)
        .collect();
    assert!(
        commands.len() > 10,
        "found too few command modules in src/cmd/: {commands:?}"
    );
    let mut found = Vec::new();
    for (rel, text) in &files {
        let Some(own) = rel
            .strip_prefix("src/cmd/")
            .and_then(|f| f.strip_suffix(".rs"))
            .filter(|f| commands.contains(*f))
        else {
            continue;
        };
        for (n, line) in code_lines(text) {
            for other in &commands {
                if other == own {
                    continue;
                }
                let hit = ["super::", "cmd::"]
                    .iter()
                    .any(|prefix| paths_after(line, prefix).contains(other));
                if hit {
                    found.push(format!("{rel}:{n}: imports {other} ({})", line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a command imports another command (what they share belongs below cmd/):\n  {}",
        found.join("\n  ")
    );
}

/// The imports between top-level modules of src/ (`from -> to`, with the first place each is
/// made), and those of them that lie on a cycle (both ends reach each other).
fn import_graph() -> (BTreeMap<String, String>, BTreeSet<String>) {
    let files = sources();
    let nodes: BTreeSet<String> = files
        .iter()
        .filter_map(|(rel, _)| top_module(rel))
        .collect();
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (rel, text) in &files {
        let Some(from) = top_module(rel) else {
            continue;
        };
        for (n, line) in joined_groups(code_lines(text)) {
            for to in crate_paths(&line) {
                if to != from && nodes.contains(&to) {
                    edges
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| format!("{rel}:{n}"));
                }
            }
        }
    }
    let reach = |from: &str| {
        let mut seen = BTreeSet::from([from.to_string()]);
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for next in edges.get(&n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (n, reach(n))).collect();
    let mut all = BTreeMap::new();
    let mut cyclic = BTreeSet::new();
    for (from, tos) in &edges {
        for (to, at) in tos {
            let edge = format!("{from} -> {to}");
            if reached[to].contains(from) {
                cyclic.insert(edge.clone());
            }
            all.insert(edge, at.clone());
        }
    }
    (all, cyclic)
}

/// The layers of src/, bottom up (docs/design.md draws them): the PKI core (`pki`, and
/// `token`, `cnf`, `par`, `hex` beside it) → `error` (every error type the crate reports, and
/// the exit codes) → `clock`, `rand`, `fsio` (the file seam) → `term` (stdout and stderr) →
/// `input`, `passphrase` → `policy` → `model` → `store` → `render` → `cli` → `cmd`. An
/// import points down, never up: no two top-level modules reach each other.
#[test]
fn no_import_cycle_between_top_level_modules() {
    let (all, cyclic) = import_graph();
    let found: Vec<String> = cyclic.iter().map(|e| format!("{e} ({})", all[e])).collect();
    assert!(
        found.is_empty(),
        "imports that close a cycle between top-level modules of src/ (import downwards only; \
         what two layers share belongs in the lower one):\n  {}",
        found.join("\n  ")
    );
}

/// `lines` with a `crate::{` group that rustfmt wrapped over several lines joined into the
/// line it starts on, so that [`crate_paths`] sees every name of the group.
fn joined_groups<'a>(lines: impl Iterator<Item = (usize, &'a str)>) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (n, line) in lines {
        if open {
            let last = out.last_mut().expect("a group is open on a pushed line");
            last.1.push_str(line.trim());
            open = !line.contains('}');
            continue;
        }
        open = line.trim_end().ends_with("crate::{");
        out.push((n, line.to_string()));
    }
    out
}

#[test]
fn the_function_scanner_measures_bodies_and_reads_reasons() {
    let body = "        x();\n".repeat(120);
    let text = format!(
        "/// Short.\nfn short() {{\n}}\n\n/// No reason.\nfn long() {{\n{body}}}\n\n/// Long because it must.\n#[test]\nfn excused() {{\n{body}}}\n"
    );
    let found = long_functions(&text, 100);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "long");
    assert_eq!(found[0].2, 122);
}

#[test]
fn the_scanners_find_what_they_look_for() {
    let wrapped = "use crate::{\n    error::Error,\n    store::Session,\n};\nfn f() {}";
    let joined = joined_groups(code_lines(wrapped));
    assert_eq!(joined.len(), 2, "{joined:?}");
    assert_eq!(crate_paths(&joined[0].1), ["error", "store"]);
    assert_eq!(string_results("fn f() -> Result<(), String> {"), 1);
    assert_eq!(
        string_results("fn f() -> std::result::Result<Vec<u8>, String> {"),
        1
    );
    assert_eq!(string_results("fn f() -> Result<String, Error> {"), 0);
    assert_eq!(string_results("fn f() -> CheckResult<(), String> {"), 0);
    assert_eq!(
        crate_paths("use crate::{error::Error, hex, store::{self, X}};"),
        ["error", "hex", "store"]
    );
    assert_eq!(crate_paths("let x = crate::term::escape(s);"), ["term"]);
    assert_eq!(
        paths_after("use super::{Context, init::subject_of};", "super::"),
        ["Context", "init"]
    );
    assert_eq!(
        top_module("src/store/fsio/group.rs").as_deref(),
        Some("store")
    );
    assert_eq!(top_module("src/cli.rs").as_deref(), Some("cli"));
    assert_eq!(top_module("src/lib.rs"), None);
}
