//! fileca: a file-based certificate authority whose state survives failures, crashes and
//! concurrent use. `main.rs` parses the command line and calls [`run`]; everything else lives
//! here. See docs/design.md for the architecture and SPEC.md for the contract.

pub mod cli;
pub mod clock;
pub mod cmd;
pub mod cnf;
pub mod error;
pub mod input;
pub mod model;
pub mod par;
pub mod passphrase;
pub mod pki;
pub mod policy;
pub mod rand;
pub mod render;
pub mod store;

/// Hex and SHA-256 fingerprints live in the PKI core, which needs them; the rest of the crate
/// reaches them here.
pub use pki::hex;

use cli::{Cli, Command};
use error::{Result, exit};

/// What a command learns from its surroundings once, before it starts: the time, the
/// operator (for the audit trail) and the random source its plan draws from.
#[derive(Debug, Clone)]
pub struct Env {
    /// The time of the command, read once.
    pub now: time::OffsetDateTime,
    /// The operator, from the password database.
    pub user: String,
    /// Where plans draw random serials from.
    pub rng: rand::Rng,
}

/// Runs one parsed command line; returns the exit code on success.
pub fn run(cli: Cli) -> Result<i32> {
    let now = clock::now()?;
    let mut ctx = cmd::Context::new(
        cli.dir,
        cli.lock_timeout,
        cli.allow_network_fs,
        cli.allow_insecure_key,
        Env {
            now,
            user: current_user(),
            rng: rand::Rng::for_command(),
        },
        cli.quiet,
    );
    // After the command's name, or before it (SPEC.md PASS-SOURCE).
    let pass_file = cli
        .command
        .passphrase_file()
        .or(cli.passphrase_file.as_ref());
    ctx.pass = passphrase::Source::new(pass_file.cloned());
    ctx.open.allow_insecure_dir = cli.allow_insecure_dir;
    // Most commands hold the CA key or a passphrase at some point: no core dump, no ptrace
    // by other processes of the user (SPEC.md HOSTILE-DUMP). Best effort: a kernel that
    // refuses leaves the process as it was.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    // Debug builds only: the way tests reach the panic hook (SPEC.md EXIT-INTERNAL).
    #[cfg(debug_assertions)]
    if std::env::var_os("FILECA_TEST_PANIC").is_some() {
        panic!("FILECA_TEST_PANIC is set");
    }
    match &cli.command {
        Command::Init(a) => cmd::init::run(a, &ctx)?,
        Command::Sign(a) => cmd::sign::run(a, &ctx)?,
        Command::Revoke(a) => cmd::revoke::run(a, &ctx)?,
        Command::Crl(a) => cmd::crl::run(a, &ctx)?,
        Command::Status(a) => cmd::status::run(a, &ctx)?,
        Command::Check(a) => return cmd::check::run(a, &ctx),
        Command::List(a) => cmd::list::run(a, &ctx)?,
        Command::Show(a) => cmd::show::run(a, &ctx)?,
        Command::Verify(a) => return cmd::verify::run(a, &ctx),
        Command::Renew(a) => cmd::renew::run(a, &ctx)?,
        Command::RenewCa(a) => cmd::renew_ca::run(a, &ctx)?,
        Command::InstallCa(a) => cmd::install_ca::run(a, &ctx)?,
        Command::Issue(a) => cmd::issue::run(a, &ctx)?,
        Command::Passwd(a) => cmd::passwd::run(a, &ctx)?,
        Command::Upgrade(a) => cmd::upgrade::run(a, &ctx)?,
        Command::ImportOpenssl(a) => cmd::import_openssl::run(a, &ctx)?,
        Command::Log(a) => cmd::log::run(a, &ctx)?,
        Command::ExportIndex => cmd::export_index::run(&ctx)?,
        Command::Backup(a) => cmd::backup::run(a, &ctx)?,
        Command::Policy(a) => cmd::policy::run(a, &ctx)?,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "ca", &mut script);
            render::print(&String::from_utf8_lossy(&script))?;
        }
        Command::Man { command: sub } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            command.build();
            let command = match sub {
                None => command,
                Some(name) => {
                    // `policy apply` or `policy-apply`: a command of a command (ca-policy-apply(1)).
                    let path: Vec<&str> = name.split([' ', '-']).collect();
                    let nested = match path.as_slice() {
                        [outer, inner] => command
                            .get_subcommands()
                            .find(|c| c.get_name() == *outer)
                            .and_then(|c| c.get_subcommands().find(|s| s.get_name() == *inner))
                            .cloned(),
                        _ => None,
                    };
                    let found = nested
                        .map(|c| c.name(format!("ca-{}", path.join("-"))))
                        .or_else(|| {
                            command
                                .get_subcommands()
                                .find(|c| c.get_name() == name)
                                .cloned()
                        })
                        .ok_or_else(|| {
                            error::Error::Usage(format!(
                                "no command {:?}; `ca --help` lists them",
                                render::escape(name)
                            ))
                        })?;
                    // The page the main page refers to as ca-NAME(1). clap's `help` mirrors
                    // every command as a subcommand of its own; its page names none of them
                    // (there is no ca-help-init(1)).
                    match found.has_subcommands() {
                        true if name == "help" => clap::Command::new(format!("ca-{name}"))
                            .about(found.get_about().cloned().unwrap_or_default())
                            .override_usage(format!("ca {name} [COMMAND]")),
                        // `policy`: its page lists its commands, each with its own page.
                        true => found
                            .name(format!("ca-{name}"))
                            .override_usage(format!("ca {name} <COMMAND>")),
                        false if found.get_name().starts_with("ca-") => found,
                        false => found.name(format!("ca-{name}")),
                    }
                }
            };
            let mut page = Vec::new();
            // Every page's footer: the version and the date (DOCS-MAN).
            clap_mangen::Man::new(command)
                .date(man_date())
                .source(format!("fileca {}", env!("CARGO_PKG_VERSION")))
                .manual("fileca manual")
                .render(&mut page)
                .map_err(|e| error::Error::Internal(format!("rendering the man page: {e}")))?;
            // clap_mangen has no EXIT STATUS section; the codes are part of the contract.
            page.extend_from_slice(EXIT_STATUS_ROFF.as_bytes());
            render::print(&String::from_utf8_lossy(&page))?;
        }
    }
    Ok(exit::OK)
}

/// The name of the user running fileca, from the password database (not `$USER`, which the
/// caller controls), or the numeric uid.
pub fn current_user() -> String {
    let uid = nix::unistd::Uid::current();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid:{uid}"),
    }
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
