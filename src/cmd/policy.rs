//! `ca policy show|apply|edit` (SPEC.md POLICY-CMD): the CA's policy file, changed only
//! through the commit protocol.
//!
//! `apply` reads the file before the lock, validates the whole of it against the CA in the
//! plan and commits policy.toml with its SHA-256 in index.json (and in the audit record, whose
//! operation is `policy`). `edit` copies the policy to a private temporary file, runs
//! `$VISUAL`/`$EDITOR` on it without holding any lock, and applies the result with the
//! generation it started from; a file that does not validate is opened again (on a terminal),
//! as visudo and crontab -e do.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::{MutationArgs, PolicyApplyArgs, PolicyCommand, PolicyEditArgs};
use crate::error::{Error, Refused, Result};
use crate::model::layout::POLICY;
use crate::model::snapshot::Snapshot;
use crate::policy::{DEFAULT_TOML, MAX_BYTES as MAX_POLICY_BYTES};
use crate::store::{Access, FileWrite, Session};
use crate::term::Note;

/// Runs `ca policy …`.
pub fn run(cmd: &PolicyCommand, ctx: &Context) -> Result<()> {
    match cmd {
        PolicyCommand::Show { builtin } => show(ctx, *builtin),
        PolicyCommand::Apply(a) => apply(a, ctx),
        PolicyCommand::Edit(a) => edit(a, ctx),
    }
}

/// The policy in force as text, and the generation read with it.
fn current(ctx: &Context) -> Result<(String, u64)> {
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let header = session.header()?;
    let (_, text) = crate::store::read_policy(&session, header.policy_sha256.as_deref())?;
    Ok((text, header.generation))
}

fn show(ctx: &Context, builtin: bool) -> Result<()> {
    // A read command: a closed pipe is a normal end, another failure exit 4 (EXIT-PIPE).
    if builtin {
        return crate::term::print(DEFAULT_TOML);
    }
    let (text, _) = current(ctx)?;
    crate::term::print(&shown(&text))
}

/// The policy's text as `show` prints it: what `policy apply` refuses (terminal controls,
/// bidi and zero-width characters, POLICY-TEXT) escaped as `\u{…}` should a file in force
/// hold one; lines, tabs and everything else as they are, so the output applies again.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (at, ch) in text.char_indices() {
        let crlf = ch == '\r' && text[at + 1..].starts_with('\n');
        if crate::term::is_unsafe(ch) && !matches!(ch, '\n' | '\t') && !crlf {
            out.push_str(&format!("\\u{{{:04x}}}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Reads a policy file given on the command line (before the lock).
fn read_file(path: &Path) -> Result<String> {
    let bytes = crate::input::read_or_stdin(path, MAX_POLICY_BYTES)?;
    String::from_utf8(bytes).map_err(|_| {
        Refused::Policy {
            file: path.to_path_buf(),
            problems: vec![crate::policy::parse::Problem {
                line: 1,
                column: 1,
                message: "not UTF-8 text".into(),
            }],
        }
        .into()
    })
}

fn apply(args: &PolicyApplyArgs, ctx: &Context) -> Result<()> {
    let text = read_file(&args.file)?;
    apply_text(&text, &args.file, &args.mutation, ctx)
}

fn apply_text(text: &str, file: &Path, mutation: &MutationArgs, ctx: &Context) -> Result<()> {
    match super::mutate(ctx, mutation, crate::store::Reads::SIGN, |state, env| {
        plan(state, text, file, env)
    }) {
        // Applying the policy in force changes nothing: no commit, no audit record.
        Err(Error::Refused(Refused::PolicyUnchanged(sha))) => {
            if !ctx.quiet {
                crate::term::warn(&format!(
                    "note: this policy (sha256 {sha}) is already in force; nothing changed"
                ));
            }
            Ok(())
        }
        other => other,
    }
}

/// Validation phase: the whole file checked against this CA; policy.toml and its hash.
pub fn plan(state: &Snapshot, text: &str, file: &Path, env: &Env) -> Result<Planned> {
    let new = crate::policy::parse::parse(text, Some(&state.ca.cert)).map_err(|problems| {
        Error::from(Refused::Policy {
            file: file.to_path_buf(),
            problems,
        })
    })?;
    let sha = crate::hex::sha256(text.as_bytes());
    if state.header.policy_sha256.as_deref() == Some(sha.as_str()) && state.policy().is_ok() {
        return Err(Refused::PolicyUnchanged(sha).into());
    }
    let plan = super::finish_plan(
        state,
        env,
        crate::model::log::LogAppend::default(),
        vec![FileWrite::public(POLICY, text.as_bytes().to_vec())],
        AuditInfo {
            operation: "policy",
            serials: Vec::new(),
            csr_sha256: None,
            policy_sha256: Some(sha.clone()),
        },
    )?;
    let mut notes = vec![Note::act(
        "applied",
        "would apply",
        &format!(
            "{} (sha256 {sha})",
            if file == Path::new(EDITED) {
                EDITED.to_string()
            } else {
                format!(
                    "the policy in {}",
                    crate::term::escape(&file.display().to_string())
                )
            }
        ),
    )];
    // A policy is the whole list of profiles: say which come and go (a removed profile's
    // certificates can no longer be renewed).
    if let Ok(old) = state.policy() {
        let names = |p: &crate::policy::Policy| -> Vec<String> {
            p.profiles.iter().map(|p| p.name.clone()).collect()
        };
        let (old, new) = (names(&old), names(&new));
        let gone: Vec<&str> = old
            .iter()
            .filter(|n| !new.contains(n))
            .map(String::as_str)
            .collect();
        let added: Vec<&str> = new
            .iter()
            .filter(|n| !old.contains(n))
            .map(String::as_str)
            .collect();
        if !gone.is_empty() {
            notes.push(Note::text(format!(
                "profiles no longer in the policy: {} (--profile cannot name them; certificates issued under them cannot be renewed)",
                gone.join(", ")
            )));
        }
        if !added.is_empty() {
            notes.push(Note::text(format!("new profiles: {}", added.join(", "))));
        }
    }
    Ok(Planned::new(plan, String::new(), notes))
}

/// How `edit` names what it applies (the temporary file is gone by then).
const EDITED: &str = "the edited policy";

/// The editor to run: $VISUAL, else $EDITOR, else vi.
fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into())
}

/// Runs the editor on `file` through the shell (an editor variable may carry arguments, as
/// `code --wait`), with the terminal as its standard streams.
fn run_editor(file: &Path) -> Result<bool> {
    let editor = editor();
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file)
        .status()
        .map_err(|e| Error::io(Path::new("/bin/sh"), e))?;
    Ok(status.success())
}

fn edit(args: &PolicyEditArgs, ctx: &Context) -> Result<()> {
    let named = ["VISUAL", "EDITOR"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|e| !e.trim().is_empty()));
    if !named && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no editor: set $VISUAL or $EDITOR (vi is the default only on a terminal), or use `ca policy show` and `ca policy apply FILE`".into(),
        ));
    }
    let (text, generation) = current(ctx)?;
    let expect = args.mutation.expect_generation.unwrap_or(generation);
    let mut tmp = tempfile::Builder::new()
        .prefix("fileca-policy-")
        .suffix(".toml")
        .tempfile()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.flush())
        .map_err(|e| Error::io(tmp.path(), e))?;
    let path: PathBuf = tmp.path().to_path_buf();
    loop {
        if !run_editor(&path)? {
            let kept = path.clone();
            let err = Refused::EditorFailed {
                editor: editor(),
                kept,
            };
            return Err(keep(tmp, &path, err.into(), false));
        }
        let edited = match read_file(&path) {
            Ok(t) => t,
            // Not text: a problem of the edit, like one that does not validate.
            Err(Error::Refused(Refused::Policy { problems, .. })) => match retry(problems)? {
                true => continue,
                false => return Err(keep(tmp, &path, Refused::PolicyEditAbandoned.into(), true)),
            },
            // Gone, too large, not a regular file: kept if it still is one.
            Err(e) => return Err(keep(tmp, &path, e, true)),
        };
        if edited == text {
            if !ctx.quiet {
                crate::term::warn("note: the policy was not changed; nothing applied");
            }
            return Ok(());
        }
        let mutation = MutationArgs {
            expect_generation: Some(expect),
            dry_run: args.mutation.dry_run,
            key: crate::cli::KeyArgs {
                passphrase_file: None,
                pin_file: None,
            },
        };
        match apply_text(&edited, Path::new(EDITED), &mutation, ctx) {
            Err(Error::Refused(Refused::Policy { problems, .. })) => {
                if !retry(problems)? {
                    return Err(keep(tmp, &path, Refused::PolicyEditAbandoned.into(), true));
                }
            }
            Err(e @ Error::Conflict { .. }) => return Err(keep(tmp, &path, e, true)),
            // Applied: say so without naming the temporary file, which is about to go.
            other => return other,
        }
    }
}

/// Shows why the edit was not applied and, on a terminal, asks whether to edit again.
fn retry(problems: Vec<crate::policy::parse::Problem>) -> Result<bool> {
    let shown = Refused::Policy {
        file: PathBuf::from("the edited policy"),
        problems,
    };
    crate::term::warn(&format!("error: {shown}"));
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    ask("Edit again? [Y/n] ")
}

/// Keeps the operator's work for `ca policy apply` (saying where, if `say`) and returns
/// `err`; says so when the file is gone.
fn keep(tmp: tempfile::NamedTempFile, path: &Path, err: Error, say: bool) -> Error {
    let shown = crate::term::escape(&path.display().to_string());
    let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    // Not a regular file any more: dropping the temporary path removes whatever is there.
    let kept = if is_file {
        tmp.into_temp_path().keep().ok()
    } else {
        None
    };
    match kept {
        Some(_) => {
            if say {
                crate::term::warn(&format!(
                    "note: your edit is kept in {shown}; to apply it (once valid, to the CA as it is now): `ca policy apply {shown}`"
                ));
            }
        }
        _ => crate::term::warn(&format!(
            "note: the edited file {shown} is gone or not a file; nothing was applied"
        )),
    }
    err
}

/// Asks a yes/no question on the terminal; yes unless the answer starts with n.
fn ask(question: &str) -> Result<bool> {
    crate::term::prompt(question);
    let mut line = String::new();
    let got = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io(Path::new("/dev/stdin"), e))?;
    // End of input (Ctrl-D) is no: never reopen the editor without an answer.
    Ok(got > 0 && !line.trim_start().to_ascii_lowercase().starts_with('n'))
}
