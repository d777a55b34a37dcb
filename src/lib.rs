//! fileca: a file-based certificate authority whose state survives failures, crashes and
//! concurrent use. `main.rs` parses the command line and calls [`run`]; everything else lives
//! here. See docs/design.md for the architecture and SPEC.md for the contract.
//!
//! No unsafe code but four statements, each allowed where it stands with its reason: borrowing
//! a descriptor the user named by number (`--out /dev/fd/N`, term.rs), walking the
//! password database (store/trust.rs), and finding and calling a PKCS#11 module's C_Sign for
//! a key that wants a login per signature (token/context.rs). `forbid` would admit no
//! exception; `deny` admits only these four, which the structure test counts.
#![deny(unsafe_code)]

pub mod acme;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod cnf;
pub mod error;
pub mod fsio;
pub mod input;
pub mod model;
pub mod par;
pub mod passphrase;
pub mod pki;
pub mod policy;
pub mod rand;
pub mod render;
pub mod store;
pub mod term;
pub mod token;

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
    /// `now` is fixed for the whole command ([`run_with`]); else each lock taken reads the
    /// clock again ([`cmd::Context::now`]).
    pub fixed_time: bool,
}

/// The time and the random stream of a command run in process by a test: what `FILECA_NOW`
/// and `FILECA_TEST_SEED` are to a process, without the environment.
#[derive(Debug, Clone, Copy)]
pub struct Fixed {
    pub now: time::OffsetDateTime,
    pub seed: u64,
}

/// Runs one parsed command line; returns the exit code on success.
pub fn run(cli: Cli) -> Result<i32> {
    run_with(cli, None)
}

/// [`run`], with the time and randomness fixed when `fixed` is given.
pub fn run_with(cli: Cli, fixed: Option<Fixed>) -> Result<i32> {
    let now = match fixed {
        Some(f) => clock::truncate(f.now),
        None => clock::now()?,
    };
    let mut ctx = cmd::Context::new(
        cli.dir,
        cli.lock_timeout,
        cli.allow_network_fs,
        cli.allow_insecure_key,
        Env {
            now,
            user: current_user(),
            rng: fixed.map_or_else(rand::Rng::for_command, |f| rand::Rng::seeded(f.seed)),
            fixed_time: fixed.is_some(),
        },
        cli.quiet,
    );
    // After the command's name, or before it (SPEC.md PASS-SOURCE).
    let pass_file = cli
        .command
        .passphrase_file()
        .or(cli.passphrase_file.as_ref());
    ctx.pass =
        passphrase::Source::new(pass_file.cloned()).with_pin_file(cli.command.pin_file().cloned());
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
        // `init --parent` is its own flow (SPEC.md INIT-PARENT); `--csr-out` wins over it.
        Command::Init(a) => match (&a.parent, &a.csr_out) {
            // It commits in the parent and then creates the CA: there is no plan of both to
            // show, and a dry run must write nothing (DRY-RUN).
            (Some(_), None) if a.dry_run => {
                return Err(error::Error::Usage(
                    "init --parent has no --dry-run (it commits in the parent, then creates the CA): \
                     try `ca --dir PARENT sign CSR --profile sub-ca --dry-run` on a request, or \
                     init --csr-out FILE and install-ca"
                        .into(),
                ));
            }
            (Some(parent), None) => cmd::init_parent::run(a, &ctx, parent)?,
            _ => cmd::init::run(a, &ctx)?,
        },
        Command::Sign(a) => cmd::sign::run(a, &ctx)?,
        Command::Revoke(a) => cmd::revoke::run(a, &ctx)?,
        Command::Unhold(a) => cmd::unhold::run(a, &ctx)?,
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
        Command::Export(a) => cmd::export::run(a, &ctx)?,
        Command::ExportIndex => cmd::export_index::run(&ctx)?,
        Command::OcspResponder(cli::OcspResponderCommand::Renew(a)) => {
            cmd::ocsp_responder::run(a, &ctx)?
        }
        Command::Ocsp(a) => cmd::ocsp::run(a, &ctx)?,
        Command::Serve(a) => cmd::serve::run(a, &ctx)?,
        Command::Backup(a) => cmd::backup::run(a, &ctx)?,
        Command::Policy(a) => cmd::policy::run(a, &ctx)?,
        Command::Acme(cli::AcmeCommand::Eab(cli::EabCommand::Add(a))) => {
            cmd::acme_eab::run(a, &ctx)?
        }
        Command::Completions { shell } => {
            term::print(&String::from_utf8_lossy(&cli::man::completions(*shell)))?;
        }
        Command::Man { command: sub } => {
            term::print(&String::from_utf8_lossy(&cli::man::page(sub.as_deref())?))?;
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
