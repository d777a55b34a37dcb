//! The man pages and shell completion scripts, generated from the clap definitions of
//! cli.rs (DOCS-MAN): `ca man [COMMAND]` and `ca completions SHELL`. Pure: the bytes are
//! returned, and `lib::run` prints them through render/.

use super::Cli;
use crate::error::{Error, Result};

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "ca", &mut script);
    script
}

/// The man page of `ca` (`sub` None) or of one command: `init`, or a command of a command
/// as `policy apply` or `policy-apply` (ca-policy-apply(1)). An unknown name is a usage
/// error.
pub fn page(sub: Option<&str>) -> Result<Vec<u8>> {
    let command = match sub {
        None => {
            let mut command = <Cli as clap::CommandFactory>::command();
            command.build();
            command
        }
        Some(name) => command_page(name)?,
    };
    let mut page = Vec::new();
    // Every page's footer: the version and the date (DOCS-MAN).
    clap_mangen::Man::new(command)
        .date(man_date())
        .source(format!("fileca {}", env!("CARGO_PKG_VERSION")))
        .manual("fileca manual")
        .render(&mut page)
        .map_err(|e| Error::bug_in("rendering the man page", e))?;
    // clap_mangen has no EXIT STATUS section; the codes are part of the contract.
    page.extend_from_slice(EXIT_STATUS_ROFF.as_bytes());
    Ok(page)
}

/// The clap command whose page `ca man NAME` prints, named as the main page refers to it.
fn command_page(name: &str) -> Result<clap::Command> {
    let mut command = <Cli as clap::CommandFactory>::command();
    command.build();
    // `policy apply` or `policy-apply`: a command of a command (ca-policy-apply(1)); the
    // outer name may hold a dash itself (ca-ocsp-responder-renew(1)).
    let nested = name
        .match_indices([' ', '-'])
        .map(|(i, _)| (&name[..i], &name[i + 1..]))
        .find_map(|(outer, inner)| {
            command
                .get_subcommands()
                .find(|c| c.get_name() == outer)
                .and_then(|c| c.get_subcommands().find(|s| s.get_name() == inner))
                .map(|c| c.clone().name(format!("ca-{outer}-{inner}")))
        });
    let found = nested
        .or_else(|| {
            command
                .get_subcommands()
                .find(|c| c.get_name() == name)
                .cloned()
        })
        .ok_or_else(|| {
            Error::Usage(format!(
                "no command {:?}; `ca --help` lists them",
                crate::term::escape(name)
            ))
        })?;
    // The page the main page refers to as ca-NAME(1). clap's `help` mirrors
    // every command as a subcommand of its own; its page names none of them
    // (there is no ca-help-init(1)).
    Ok(match found.has_subcommands() {
        true if name == "help" => clap::Command::new(format!("ca-{name}"))
            .about(found.get_about().cloned().unwrap_or_default())
            .override_usage(format!("ca {name} [COMMAND]")),
        // `policy`: its page lists its commands, each with its own page.
        true => found
            .name(format!("ca-{name}"))
            .override_usage(format!("ca {name} <COMMAND>")),
        false if found.get_name().starts_with("ca-") => found,
        false => found.name(format!("ca-{name}")),
    })
}

/// The date of this version, for the man pages' footer (DOCS-MAN): set when the version in
/// Cargo.toml changes. A build with `SOURCE_DATE_EPOCH` (reproducible builds) takes its day
/// instead; either way every build of one source tree prints the same pages.
const RELEASE_DATE: &str = "2026-12-07";

/// The man pages' date: `SOURCE_DATE_EPOCH` at build time (its UTC day), else
/// [`RELEASE_DATE`]. Never the time of the run.
fn man_date() -> String {
    option_env!("SOURCE_DATE_EPOCH")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_else(|| RELEASE_DATE.to_string())
}

/// The EXIT STATUS section of `ca man` (SPEC.md section 5).
const EXIT_STATUS_ROFF: &str = r#".SH "EXIT STATUS"
.TP
0
success
.TP
1
\fBca check\fR found problems
.TP
2
usage error: an unknown option or a malformed value (\-\-san and \-\-subject included)
.TP
3
refused: bad input (a file you named that is missing, unreadable or not what it should be) or policy; nothing written
.TP
4
I/O error in the CA directory or on an output; nothing written if before the commit
.TP
5
the state directory is missing, corrupt or needs recovery
.TP
6
the lock was held longer than \-\-lock\-timeout
.TP
7
\-\-expect\-generation did not match
.TP
8
committed, but an output was not delivered (the message names the serial and \fBca show SERIAL \-\-pem\fR)
.TP
9
outcome unknown: the commit's fsync failed; the next command settles it
.TP
10\(en17
\fBca verify\fR verdicts: not issued by this CA, expired, not yet valid, revoked, not in the index, this CA's own certificate, a CA above this one, a broken path to the root
.TP
70
internal error (a bug)
"#;
