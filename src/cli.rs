//! What the user typed: the clap definitions of every command and option. No I/O here; the man
//! page and shell completions are generated from the same definitions.

use std::path::PathBuf;

mod acme_args;
mod args;
mod convert;
pub mod man;
pub use acme_args::{AcmeArgs, AcmeCommand, EabAddArgs, EabCommand};
pub use args::*;
pub use convert::{constraints, sans, serial, sub_ca, sub_ca_ask};

use clap::{Parser, Subcommand};

/// The heading of the options every command accepts, apart from the command's own in each
/// `--help` (DOCS-HELP).
const GLOBAL: &str = "Global options";

/// Every SERIAL argument's help (revoke, show, renew): one wording (SERIAL-INPUT).
const SERIAL_HELP: &str = "Serial number of the certificate: hex as `ca list` shows it \
    (colons, 0x or serial= as openssl prints it are fine), or its last 8 or more digits if \
    they are unique";

/// fileca: a file-based certificate authority that never breaks its own state.
#[derive(Debug, Parser)]
#[command(name = "ca", version, about, long_about = None)]
#[command(after_help = format!(
    "Example:\n  ca --dir ./pki init --subject \"CN=Lab Root CA,O=Example\"\n  ca --dir ./pki sign server.csr --san DNS:www.example.test --out server.crt\n\n{}",
    crate::error::exit::help()
))]
pub struct Cli {
    /// The CA's state directory.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "CA_DIR",
        default_value = "./ca",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// Seconds to wait for another ca command working on the same directory.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "CA_LOCK_TIMEOUT",
        default_value_t = 30,
        value_name = "SECS"
    )]
    pub lock_timeout: u64,

    /// Allow a state directory on a network filesystem (NFS, SMB), where locks are unreliable.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub allow_network_fs: bool,

    /// File whose first line is the CA key's passphrase, for the commands that use the key
    /// (else $CA_PASSPHRASE_FILE, else a prompt on a terminal). Never give a passphrase on
    /// the command line. Also accepted after those commands' names.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Use a ca.key that group or others can read (normally refused).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub allow_insecure_key: bool,

    /// Mutate a state directory that other users could write or that belongs to someone else
    /// (normally refused, as OpenSSH's StrictModes does; see SPEC.md HOSTILE-TRUST).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub allow_insecure_dir: bool,

    /// No notes on stderr (warnings and errors are still printed).
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a CA: a root (key, self-signed certificate, counters, empty index), a pending
    /// sub-CA (--csr-out), or a sub-CA of a CA on this machine (--parent).
    #[command(
        after_help = "Example:\n  ca --dir ./pki init --subject \"CN=Lab Root CA,O=Example,C=DE\" --days 3650 --path-len 0"
    )]
    Init(InitArgs),
    /// Issue a certificate for a CSR, under the CA's policy.
    #[command(
        after_help = "Example:\n  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n      -keyout web.key -subj /CN=web.example.test -out web.csr\n  ca --dir ./pki sign web.csr --profile server --san DNS:web.example.test --out web.crt\n  ca --dir ./pki sign requests/ --out-dir issued/    # a batch: all or nothing"
    )]
    Sign(SignArgs),
    /// Mark an issued certificate revoked (publish it with `ca crl`).
    #[command(
        after_help = "Example:\n  ca --dir ./pki revoke 1F3A9C0B5D7E2F4A6B8C0D1E2F3A4B5C --reason keyCompromise\n  ca --dir ./pki crl"
    )]
    Revoke(RevokeArgs),
    /// Release a certificateHold: the certificate is valid again (publish it with `ca crl`,
    /// or with --crl in the same commit).
    #[command(
        after_help = "A hold (revoke --reason certificateHold) is the only revocation that can be released;\nthe hold stays in index.log and audit.log as history. A hold can also be made final:\n`ca revoke SERIAL --reason keyCompromise`.\n\nExample:\n  ca --dir ./pki revoke 1F3A9C0B5D7E2F4A6B8C0D1E2F3A4B5C --reason certificateHold\n  ca --dir ./pki unhold 1F3A9C0B5D7E2F4A6B8C0D1E2F3A4B5C --crl"
    )]
    Unhold(UnholdArgs),
    /// Sign a new CRL listing every revoked certificate; writes ca.crl.
    #[command(after_help = "Example:\n  ca --dir ./pki crl --days 7 --out /srv/www/crl/lab.crl")]
    Crl(CrlArgs),
    /// Show the CA's subject, validity, counts, counters and CRL status (or, for a pending
    /// CA, its request and the next step).
    #[command(after_help = "Example:\n  ca --dir ./pki status --json | jq .generation")]
    Status(JsonArgs),
    /// Verify every invariant of the state directory; exit 1 if any problem is found.
    #[command(after_help = "Example:\n  ca --dir ./pki check || echo \"the CA needs attention\"")]
    Check(CheckArgs),
    /// List issued certificates, with filters.
    #[command(
        after_help = "Examples:\n  ca --dir ./pki list --status valid --expiring 30d\n  ca --dir ./pki list --match example.test --json"
    )]
    List(ListArgs),
    /// Show one issued certificate.
    #[command(
        after_help = "Example:\n  ca --dir ./pki show 5C0A4B9E0F1D2C3B4A5968778695A4B3 --pem > web.crt"
    )]
    Show(ShowArgs),
    /// Is this certificate issued by this CA, within its validity and not revoked, with a
    /// good path to the root (a sub-CA: through ca.crt and chain.pem)?
    #[command(
        after_help = "Example:\n  ca --dir ./pki verify web.crt && echo trusted\n\nExit codes: 0 valid, 10 not issued by this CA, 11 expired, 12 not yet valid,\n13 revoked, 14 signed by this CA's key but not in its index, 15 this CA's own certificate,\n16 a CA above this one (in chain.pem), 17 the path to the root is broken (a link of\nca.crt/chain.pem expired, not yet valid or not signing the one below; no root at the end).\n\nA file of several certificates (a full chain) is verified as its first. Whether the CAs\nabove this one are revoked is not checked: that is in their CRLs (openssl verify\n-crl_check_all with every CRL of the chain)."
    )]
    Verify(VerifyArgs),
    /// Issue a new certificate for the same subject, SANs and key as an existing one.
    #[command(
        after_help = "Examples:\n  ca --dir ./pki renew 5C0A4B9E0F1D2C3B4A5968778695A4B3 --days 90 --out web.crt\n  ca --dir ./pki renew 5C0A4B9E0F1D2C3B4A5968778695A4B3 --csr new-key.csr --revoke-old"
    )]
    Renew(RenewArgs),
    /// Generate a key pair and issue its certificate in one step (for labs).
    #[command(
        after_help = "Examples:\n  ca --dir ./pki issue web.lab.test --san DNS:web.lab.test --out-dir ./issued\n  # writes ./issued/web.lab.test/{web.lab.test.key,web.lab.test.crt,web.lab.test.fullchain.pem,ca.crt}\n  ca --dir ./pki issue laptop --profile client --p12 --key-passphrase-file p12.pass\n  # also writes ./laptop/laptop.p12 (key, certificate, chain; `openssl pkcs12 -info` reads it)\n\n--p12-legacy writes NAME.p12 with 3DES and a SHA-1 MAC instead, for old Windows and\nmacOS importers. All files of the pair directory appear together or not at all."
    )]
    Issue(IssueArgs),
    /// Re-issue the CA certificate on the same key with a new validity.
    #[command(
        after_help = "Example:\n  ca --dir ./pki renew-ca --days 3650\n\nThe previous certificate is kept as ca-<SERIAL>.crt; certificates issued before\nkeep verifying against the new ca.crt (same subject and key)."
    )]
    RenewCa(RenewCaArgs),
    /// Install the CA certificate a parent issued: complete a pending CA (`init --csr-out`),
    /// or swap in a renewed one (`renew-ca --csr-out`), with its chain.
    #[command(
        after_help = "Example:\n  ca --dir ./issuing init --subject \"CN=Lab Issuing CA\" --csr-out issuing.csr\n  ca --dir ./root sign issuing.csr --profile sub-ca --out issuing.crt\n  ca --dir ./issuing install-ca issuing.crt --chain root/ca.crt\n\nThe certificate must certify the pending key and chain to a self-signed root through\nthe certificates after it in the same file and in --chain; chain.pem keeps them."
    )]
    InstallCa(InstallCaArgs),
    /// Adopt an `openssl ca` directory or an easy-rsa PKI into a new fileca directory (--dir).
    #[command(
        after_help = "Examples:\n  ca --dir ./pki import-openssl /etc/ssl/demoCA\n  ca --dir ./pki import-openssl --config /srv/ca/openssl.cnf   # files where its CA section says\n  ca --dir ./pki import-openssl ~/easy-rsa/pki --ca-key ~/easy-rsa/pki/private/ca.key\n  ca --dir ./pki --passphrase-file ca.pass import-openssl ~/easy-rsa/pki   # an encrypted CA key\n\nThe source is only read; any inconsistency is reported and nothing is imported.\nAn encrypted CA key stays encrypted in ca.key, with the same passphrase (--decrypt-key: not)."
    )]
    ImportOpenssl(ImportOpensslArgs),
    /// Set, change or remove the passphrase of ca.key (atomically replaced).
    #[command(
        after_help = "Examples:\n  ca --dir ./pki passwd --new-passphrase-file new.pass                      # set\n  ca --dir ./pki --passphrase-file old.pass passwd --new-passphrase-file new.pass  # change\n  ca --dir ./pki --passphrase-file old.pass passwd --remove               # remove"
    )]
    Passwd(PasswdArgs),
    /// Convert a CA directory written by an earlier fileca (index.json format 1 to 4) to
    /// format 5; on a current directory, do nothing and succeed.
    #[command(
        after_help = "Example:\n  ca --dir ./pki upgrade --dry-run\n  ca --dir ./pki upgrade && ca --dir ./pki check"
    )]
    Upgrade(UpgradeArgs),
    /// Show, apply or edit the CA's policy: profiles, name rules, validity limits and the
    /// URLs put into certificates (policy.toml, changed only through these commands).
    #[command(
        subcommand,
        after_help = "Examples:\n  ca --dir ./pki policy show > policy.toml\n  ca --dir ./pki policy apply policy.toml --dry-run\n  ca --dir ./pki policy apply policy.toml\n  ca --dir ./pki policy edit          # $VISUAL or $EDITOR; applied on save"
    )]
    Policy(PolicyCommand),
    /// ACME server administration: External Account Binding keys (`serve --acme`).
    #[command(
        subcommand,
        after_help = "Example:\n  ca --dir ./issuing acme eab add --id lab-proxy\n  ca --dir ./issuing serve --acme --acme-eab-required\n  lego --eab --kid lab-proxy --hmac KEY ...\n\nPrints eab_kid=ID and eab_hmac_key=KEY (base64url) once: the key is stored in\nacme.json until one newAccount uses it."
    )]
    Acme(AcmeCommand),
    /// Copy the state directory, consistently (other commands wait), into a new directory
    /// DEST; `ca check` passes on the copy. ca.key is copied as it is on disk.
    #[command(
        after_help = "Example:\n  ca --dir ./pki backup /mnt/usb/pki-$(date +%F)\n  ca --dir /mnt/usb/pki-2026-12-07 check"
    )]
    Backup(BackupArgs),
    /// Bundle a certificate this CA issued with the key you hold: a PKCS#12 file, or the
    /// certificate with its chain (PEM). Nothing in the CA changes.
    #[command(
        after_help = "Examples:\n  ca --dir ./pki export 5C0A4B9E --key web.key --p12 web.p12\n  ca --dir ./pki export --cert web.crt --fullchain web-chain.pem"
    )]
    Export(ExportArgs),
    /// Print this CA's certificates as an OpenSSL index.txt (V/R/E lines), for `openssl ocsp
    /// -index` and other OpenSSL tooling.
    #[command(
        after_help = "Example:\n  ca --dir ./pki export-index > index.txt\n  openssl ocsp -index index.txt -CA pki/ca.crt -rsigner ocsp.crt -rkey ocsp.key -port 8080"
    )]
    ExportIndex,
    /// Create or rotate the delegated OCSP responder (ocsp.key, ocsp.crt) that `ca ocsp` and
    /// `ca serve` sign with.
    #[command(
        subcommand,
        name = "ocsp-responder",
        after_help = "Example:\n  ca --dir ./pki ocsp-responder renew --days 30\n\nWrites ocsp.key and ocsp.crt in the state directory: the delegated responder that\n`ca ocsp` and `ca serve` sign OCSP responses with (they never load ca.key)."
    )]
    OcspResponder(OcspResponderCommand),
    /// Write pre-signed OCSP responses (for stapling or static serving).
    #[command(
        after_help = "Examples:\n  ca --dir ./pki ocsp 5C0A4B9E --out web.ocsp     # nginx ssl_stapling_file, s_server -status_file\n  ca --dir ./pki ocsp --out-dir /srv/www/ocsp     # every unexpired certificate, SERIAL.der\n\nResponses are signed by the delegated responder (`ca ocsp-responder renew`) and are\nvalid until their nextUpdate (--hours, at most the responder certificate's notAfter):\nrun it again before then."
    )]
    Ocsp(OcspArgs),
    /// Serve the CRL, the CA certificate and OCSP over HTTP at the policy's URLs.
    #[command(
        after_help = "Examples:\n  ca --dir ./pki serve --listen 127.0.0.1:8080\n  ca serve --listen 0.0.0.0:8080 ./root ./issuing    # a root and its issuing CA\n  ca --dir ./issuing serve --acme --acme-host acme.lab.test --acme-listen 0.0.0.0:8443\n\nServes, at the paths of each CA's policy [urls]: the CRL (DER), the CA certificate (DER)\nand OCSP (POST, and GET with the base64 request in the path); /healthz and /metrics.\nWithout --acme it never loads ca.key and never writes the state directory; a committed\nchange is served within a second. --acme (preview, docs/acme.md) also serves ACME over\nHTTPS for one DIR: it then holds the CA key and commits accounts, orders and certificates."
    )]
    Serve(ServeArgs),
    /// Print the audit trail.
    #[command(
        after_help = "Example:\n  ca --dir ./pki log --json | jq '.[] | select(.operation == \"revoke\")'"
    )]
    Log(JsonArgs),
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  ca completions bash > /etc/bash_completion.d/ca")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): ca(1), or with COMMAND the page ca-COMMAND(1) it refers to.
    #[command(
        after_help = "Example:\n  ca man > /usr/local/share/man/man1/ca.1\n  for c in init sign revoke; do ca man $c > /usr/local/share/man/man1/ca-$c.1; done"
    )]
    Man {
        /// A subcommand (init, sign, …): print its page instead.
        command: Option<String>,
    },
}

impl Command {
    /// `--passphrase-file` given after the command's name, on the commands that take it.
    pub fn passphrase_file(&self) -> Option<&PathBuf> {
        self.key_args()?.passphrase_file.as_ref()
    }

    /// `--pin-file`, on the commands that use the CA key.
    pub fn pin_file(&self) -> Option<&PathBuf> {
        self.key_args()?.pin_file.as_ref()
    }

    /// The CA key's secret sources given after the command's name.
    fn key_args(&self) -> Option<&KeyArgs> {
        let key = match self {
            Command::Init(a) => &a.key,
            Command::ImportOpenssl(a) => &a.key,
            Command::Sign(a) => &a.mutation.key,
            Command::Revoke(a) => &a.mutation.key,
            Command::Unhold(a) => &a.mutation.key,
            Command::Crl(a) => &a.mutation.key,
            Command::Renew(a) => &a.mutation.key,
            Command::Issue(a) => &a.mutation.key,
            Command::RenewCa(a) => &a.mutation.key,
            Command::Passwd(a) => &a.mutation.key,
            Command::Policy(PolicyCommand::Apply(a)) => &a.mutation.key,
            Command::Policy(PolicyCommand::Edit(a)) => &a.mutation.key,
            Command::Policy(PolicyCommand::Show { .. }) => return None,
            Command::Acme(AcmeCommand::Eab(EabCommand::Add(a))) => &a.mutation.key,
            Command::Upgrade(a) => &a.mutation.key,
            Command::Check(a) => &a.key,
            Command::InstallCa(a) => &a.mutation.key,
            Command::OcspResponder(OcspResponderCommand::Renew(a)) => &a.mutation.key,
            Command::Serve(a) => &a.acme.key,
            Command::Status(_)
            | Command::List(_)
            | Command::Show(_)
            | Command::Verify(_)
            | Command::Log(_)
            | Command::Export(_)
            | Command::ExportIndex
            | Command::Ocsp(_)
            | Command::Backup(_)
            | Command::Completions { .. }
            | Command::Man { .. } => return None,
        };
        Some(key)
    }
}
