//! What the user typed: the clap definitions of every command and option. No I/O here; the man
//! page and shell completions are generated from the same definitions.

use std::path::PathBuf;

mod convert;
pub use convert::{constraints, sans, serial, sub_ca, sub_ca_ask};

use clap::{Args, Parser, Subcommand};

use crate::model::log::CertState;
use crate::pki::keys::KeyType;
use crate::pki::reason::Reason;

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
    /// Convert a CA directory written by an earlier fileca (index.json format 1 or 2) to
    /// format 3; on a current directory, do nothing and succeed.
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
    /// Copy the state directory, consistently (other commands wait), into a new directory
    /// DEST; `ca check` passes on the copy. ca.key is copied as it is on disk.
    #[command(
        after_help = "Example:\n  ca --dir ./pki backup /mnt/usb/pki-$(date +%F)\n  ca --dir /mnt/usb/pki-2026-12-07 check"
    )]
    Backup(BackupArgs),
    /// Print this CA's certificates as an OpenSSL index.txt (V/R/E lines), for `openssl ocsp
    /// -index` and other OpenSSL tooling.
    #[command(
        after_help = "Example:\n  ca --dir ./pki export-index > index.txt\n  openssl ocsp -index index.txt -CA pki/ca.crt -rsigner ocsp.crt -rkey ocsp.key -port 8080"
    )]
    ExportIndex,
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

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only certificates in this state.
    #[arg(long, value_enum)]
    pub status: Option<CertState>,
    /// Only valid certificates expiring within this time (e.g. 30d, 12h, 2w).
    #[arg(long, value_name = "DURATION", value_parser = convert::duration)]
    pub expiring: Option<time::Duration>,
    /// Only certificates whose subject or a SAN contains TEXT (case-insensitive).
    #[arg(long = "match", value_name = "TEXT")]
    pub matching: Option<String>,
    /// Machine-readable output (schema in SPEC.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(help = SERIAL_HELP, required_unless_present = "ca", conflicts_with = "ca")]
    pub serial: Option<String>,
    /// Machine-readable output.
    #[arg(long, conflicts_with_all = ["pem", "der", "ca"])]
    pub json: bool,
    /// Print the certificate itself.
    #[arg(long, conflicts_with = "der")]
    pub pem: bool,
    /// Print the certificate as DER (binary; for publishing at an AIA caIssuers URL). Not to
    /// a terminal.
    #[arg(long)]
    pub der: bool,
    /// This CA's own certificate (ca.crt) instead of an issued one: PEM, or DER with --der.
    #[arg(long)]
    pub ca: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate (PEM or DER).
    pub cert: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("secret").multiple(true).args(["encrypt_key", "p12", "p12_legacy"]))]
pub struct IssueArgs {
    /// Name of the pair: the CN (unless --subject) and the file names (1-64 letters, digits,
    /// '.', '_', '-'; a wildcard goes in --san 'DNS:*.NAME').
    #[arg(value_parser = convert::issue_name)]
    pub name: String,
    /// Subject instead of CN=NAME, most specific first (RFC 4514), e.g. "CN=web,O=Example";
    /// or the OpenSSL form "/O=Example/CN=web".
    #[arg(long)]
    pub subject: Option<String>,
    /// Subject alternative name (repeatable); default DNS:NAME for server profiles.
    #[arg(long, value_name = "TYPE:VALUE")]
    pub san: Vec<String>,
    /// Certificate profile, from the CA's policy (`ca policy show`): server, client,
    /// server-client, code-signing, email, ocsp-signing, or one of policy.toml's.
    #[arg(long, default_value = "server", value_name = "PROFILE")]
    pub profile: String,
    /// Key algorithm of the generated key.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: KeyType,
    /// Validity in days (default: the profile's default_days; never above its max_days).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: Option<u32>,
    /// Directory in which OUT_DIR/NAME/ is created (OUT_DIR is created if missing; not `-`).
    #[arg(long, value_name = "OUT_DIR", default_value = ".", value_parser = convert::out_dir)]
    pub out_dir: PathBuf,
    /// Encrypt NAME.key (PKCS#8, scrypt + AES-256-CBC; `openssl pkey -passin` reads it) with
    /// a passphrase from --key-passphrase-file, else typed twice on the terminal.
    #[arg(long)]
    pub encrypt_key: bool,
    /// Also write NAME.p12: the key, the certificate and the chain up to the root, encrypted
    /// (PBES2: PBKDF2-HMAC-SHA-256, AES-256-CBC; HMAC-SHA-256 MAC) with a passphrase from
    /// --key-passphrase-file, else typed twice on the terminal.
    #[arg(long)]
    pub p12: bool,
    /// Write NAME.p12 in the legacy form instead (pbeWithSHAAnd3-KeyTripleDES-CBC, SHA-1
    /// MAC) for old Windows and macOS importers; implies --p12.
    #[arg(long)]
    pub p12_legacy: bool,
    /// File whose first line is the passphrase for NAME.key (--encrypt-key) and NAME.p12
    /// (--p12): one passphrase for both.
    #[arg(long, value_name = "FILE", requires = "secret")]
    pub key_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct ImportOpensslArgs {
    /// The `openssl ca` directory (index.txt, serial, newcerts/) or easy-rsa PKI (index.txt,
    /// serial, certs_by_serial/). Its openssl.cnf, if it has one, says where the files are.
    #[arg(required_unless_present = "config")]
    pub source: Option<PathBuf>,
    /// The openssl.cnf whose CA section (`[ca] default_ca`) names the files: certificate,
    /// private_key, database, serial, crlnumber, new_certs_dir.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The CA key (default: private/cakey.pem or private/ca.key under the source).
    #[arg(long, value_name = "KEY")]
    pub ca_key: Option<PathBuf>,
    /// The CA certificate (default: cacert.pem or ca.crt under the source).
    #[arg(long, value_name = "CERT")]
    pub ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Store ca.key unencrypted. By default an encrypted CA key (its passphrase from
    /// --passphrase-file, $CA_PASSPHRASE_FILE or a prompt) stays encrypted with the same
    /// passphrase; an unencrypted one stays unencrypted.
    #[arg(long)]
    pub decrypt_key: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force (policy.toml, or the built-in policy).
    Show {
        /// Print the built-in policy instead.
        #[arg(long)]
        builtin: bool,
    },
    /// Validate a policy file against this CA and make it the CA's policy (one audited
    /// commit).
    Apply(PolicyApplyArgs),
    /// Edit the policy with $VISUAL or $EDITOR and apply it on save (the lock is not held
    /// while the editor is open; refused if the CA changed meanwhile).
    Edit(PolicyEditArgs),
}

#[derive(Debug, Args)]
pub struct PolicyApplyArgs {
    /// The policy file (TOML; `ca policy show` prints the current one); `-` reads it from
    /// standard input.
    pub file: PathBuf,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct PolicyEditArgs {
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// File whose first line is the new passphrase (else a prompt on a terminal).
    #[arg(long, value_name = "FILE", conflicts_with = "remove")]
    pub new_passphrase_file: Option<PathBuf>,
    /// Store ca.key unencrypted.
    #[arg(long)]
    pub remove: bool,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct RenewCaArgs {
    /// Validity of the new CA certificate in days, from now.
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
    /// Instead of self-signing, write a certificate request for the same key and subject to
    /// FILE (`-`: stdout) for the parent CA to sign (`sign --profile sub-ca`); `install-ca`
    /// then swaps the new certificate in. Nothing in the CA changes.
    #[arg(long, value_name = "FILE", conflicts_with = "days")]
    pub csr_out: Option<PathBuf>,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    #[arg(help = SERIAL_HELP)]
    pub serial: String,
    /// Certify the key of this CSR instead of the old key (subject and SANs stay).
    #[arg(long, value_name = "CSR_FILE")]
    pub csr: Option<PathBuf>,
    /// Validity in days (default: the profile's default_days; never above its max_days).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: Option<u32>,
    /// Revoke the old certificate (reason superseded) in the same commit.
    #[arg(long)]
    pub revoke_old: bool,
    #[command(flatten)]
    pub out: OutArgs,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The CA's subject, most specific first (RFC 4514), e.g. "CN=Lab Root CA,O=Example,C=DE";
    /// the OpenSSL form "/C=DE/O=Example/CN=Lab Root CA" means the same.
    #[arg(
        long,
        required_unless_present = "import_cert",
        conflicts_with = "import_cert"
    )]
    pub subject: Option<String>,
    /// Adopt an existing CA key (PKCS#8, PKCS#1 or SEC1 PEM, unencrypted or encrypted with
    /// the passphrase from --passphrase-file, $CA_PASSPHRASE_FILE or a prompt); needs
    /// --import-cert. An encrypted key stays encrypted in ca.key, with the same passphrase.
    #[arg(long, value_name = "KEY", requires = "import_cert")]
    pub import_key: Option<PathBuf>,
    /// Adopt an existing CA certificate (PEM); needs --import-key.
    #[arg(long, value_name = "CERT", requires = "import_key")]
    pub import_cert: Option<PathBuf>,
    /// Key algorithm of the CA key.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: KeyType,
    /// Validity of the CA certificate in days (default 3650; with --parent: of the sub-CA
    /// certificate the parent issues, clamped to the parent's, by default 3650 or the
    /// parent's sub-ca max_days if lower).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: Option<u32>,
    /// Maximum number of intermediate CAs below this one (basicConstraints pathLenConstraint).
    #[arg(long)]
    pub path_len: Option<u8>,
    /// Create a sub-CA of the CA in PARENT_DIR on this machine, in one resumable command:
    /// pending CA, the parent's `sign --profile sub-ca` (with --path-len, --permit,
    /// --exclude, --days), `install-ca`. --passphrase-file is the parent's.
    #[arg(long, value_name = "PARENT_DIR", conflicts_with_all = ["import_cert", "csr_out", "encrypt_key"])]
    pub parent: Option<PathBuf>,
    /// Create a pending CA: its key, and a certificate request for a parent CA to sign
    /// (`ca sign CSR --profile sub-ca`), written to FILE (`-`: stdout) and kept as ca.csr;
    /// then `ca install-ca CERT` completes it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["import_cert", "permit", "exclude", "path_len", "days"])]
    pub csr_out: Option<PathBuf>,
    /// Names this CA may certify (repeatable): DNS:lab.test (it and below), DNS:.lab.test
    /// (below only), IP:10.0.0.0/8, email:lab.test. Types not permitted are excluded whole.
    #[arg(long, value_name = "TYPE:NAME", conflicts_with = "import_cert")]
    pub permit: Vec<String>,
    /// Names this CA may never certify (repeatable), in the --permit forms.
    #[arg(long, value_name = "TYPE:NAME", conflicts_with = "import_cert")]
    pub exclude: Vec<String>,
    /// URL of this CA's CRL (DER, `ca crl --der --out`), put as a CRL Distribution Point into
    /// every certificate it issues: the `[urls] crl` of its initial policy (repeatable;
    /// http:// or ldap://).
    #[arg(long, value_name = "URL", conflicts_with_all = ["csr_out", "parent"])]
    pub crl_url: Vec<String>,
    /// URL of this CA's certificate (DER, `ca show --ca --der`), put into the Authority
    /// Information Access of every certificate it issues (repeatable).
    #[arg(long, value_name = "URL", conflicts_with_all = ["csr_out", "parent"])]
    pub ca_issuers_url: Vec<String>,
    /// URL of an OCSP responder for this CA, put into the Authority Information Access of
    /// every certificate it issues (repeatable).
    #[arg(long, value_name = "URL", conflicts_with_all = ["csr_out", "parent"])]
    pub ocsp_url: Vec<String>,
    /// Store ca.key encrypted (PBES2: scrypt + AES-256-CBC) with the passphrase from
    /// --passphrase-file, $CA_PASSPHRASE_FILE or a prompt.
    #[arg(long)]
    pub encrypt_key: bool,
    /// With an encrypted --import-key: store ca.key unencrypted instead of keeping the key's
    /// encryption.
    #[arg(long, requires = "import_key", conflicts_with = "encrypt_key")]
    pub decrypt_key: bool,
    /// Validate and show what would be created, but create nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub key: KeyArgs,
}

impl Command {
    /// `--passphrase-file` given after the command's name, on the commands that take it.
    pub fn passphrase_file(&self) -> Option<&PathBuf> {
        let key = match self {
            Command::Init(a) => &a.key,
            Command::ImportOpenssl(a) => &a.key,
            Command::Sign(a) => &a.mutation.key,
            Command::Revoke(a) => &a.mutation.key,
            Command::Crl(a) => &a.mutation.key,
            Command::Renew(a) => &a.mutation.key,
            Command::Issue(a) => &a.mutation.key,
            Command::RenewCa(a) => &a.mutation.key,
            Command::Passwd(a) => &a.mutation.key,
            Command::Policy(PolicyCommand::Apply(a)) => &a.mutation.key,
            Command::Policy(PolicyCommand::Edit(a)) => &a.mutation.key,
            Command::Policy(PolicyCommand::Show { .. }) => return None,
            Command::Upgrade(a) => &a.mutation.key,
            Command::Check(a) => &a.key,
            Command::InstallCa(a) => &a.mutation.key,
            Command::Status(_)
            | Command::List(_)
            | Command::Show(_)
            | Command::Verify(_)
            | Command::Log(_)
            | Command::ExportIndex
            | Command::Backup(_)
            | Command::Completions { .. }
            | Command::Man { .. } => return None,
        };
        key.passphrase_file.as_ref()
    }
}

/// Options shared by every mutating command.
#[derive(Debug, Args)]
pub struct MutationArgs {
    /// Refuse (exit 7) unless the CA is still at this generation (see `ca status`).
    #[arg(long, value_name = "N")]
    pub expect_generation: Option<u64>,
    /// Validate and show what would change, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// The CA key's passphrase source, on the commands that use the key (read-only commands
/// never ask for it, so their help does not offer it).
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// File whose first line is the CA key's passphrase (else $CA_PASSPHRASE_FILE, else a
    /// prompt on a terminal). Never give a passphrase on the command line.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Where a command writes a copy of what it produced.
#[derive(Debug, Args)]
pub struct OutArgs {
    /// Write the result to FILE instead of stdout, once committed (refuses to replace an
    /// existing file unless --force; `-`, /dev/stdout, a device or a FIFO are written as streams).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file.
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// CSR files (PEM or DER) or directories of them (*.pem, *.csr, *.der); `-` reads one CSR
    /// from standard input. Several CSRs are issued in one all-or-nothing commit.
    #[arg(value_name = "CSR", required_unless_present = "from_list")]
    pub csr: Vec<PathBuf>,
    /// Also sign every CSR file named in FILE (one path per line; # comments).
    #[arg(long, value_name = "FILE")]
    pub from_list: Option<PathBuf>,
    /// Write each certificate to DIR/<CSR file stem>.crt instead of stdout (DIR is created if
    /// missing; not `-`).
    #[arg(long, value_name = "DIR", conflicts_with = "out", value_parser = convert::out_dir)]
    pub out_dir: Option<PathBuf>,
    /// Certificate profile, from the CA's policy (`ca policy show`): it decides key usages,
    /// extended key usages, names and validity. Built in: server, client, server-client,
    /// code-signing, email, ocsp-signing, sub-ca.
    #[arg(long, default_value = "server", value_name = "PROFILE")]
    pub profile: String,
    /// Validity in days (default: the profile's default_days; never above its max_days;
    /// clamped to the CA certificate's notAfter).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: Option<u32>,
    /// Subject alternative name: DNS:name, IP:address, email:address or URI:uri (a SPIFFE ID
    /// such as URI:spiffe://lab.test/ns/web). Repeatable. When
    /// given, these replace the SANs requested in the CSR.
    #[arg(long, value_name = "TYPE:VALUE")]
    pub san: Vec<String>,
    /// Print (or write) each certificate followed by the CA certificates above it, the root
    /// excepted: what a TLS server sends. The same as the certificate alone for a root CA.
    #[arg(long)]
    pub fullchain: bool,
    #[command(flatten)]
    pub sub_ca: SubCaArgs,
    #[command(flatten)]
    pub out: OutArgs,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

/// What a CA certificate may do below it: `sign --profile sub-ca` and `init`.
#[derive(Debug, Args)]
pub struct SubCaArgs {
    /// basicConstraints pathLenConstraint of the sub-CA: how many CAs may follow below it
    /// (default 0: it signs only leaves; below this CA's own).
    #[arg(long, value_name = "N")]
    pub path_len: Option<u8>,
    /// Names the CA may certify (repeatable): DNS:lab.test (it and below), DNS:.lab.test
    /// (below only), IP:10.0.0.0/8, email:lab.test. Types not permitted are excluded whole.
    #[arg(long, value_name = "TYPE:NAME")]
    pub permit: Vec<String>,
    /// Names the CA may never certify (repeatable), in the --permit forms.
    #[arg(long, value_name = "TYPE:NAME")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[arg(help = SERIAL_HELP, required_unless_present = "cert", conflicts_with = "cert")]
    pub serial: Option<String>,
    /// Revoke the certificate in this file (it must be the one index.log records).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// RFC 5280 reason code (case does not matter).
    #[arg(long, value_enum, default_value = "unspecified", ignore_case = true)]
    pub reason: Reason,
    /// Also publish a new CRL in the same atomic commit (written to ca.crl and printed on
    /// stdout, as `ca crl` does).
    #[arg(long)]
    pub crl: bool,
    /// With --crl: days until the CRL's nextUpdate.
    #[arg(long, default_value_t = 30, requires = "crl", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub crl_days: u32,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct CrlArgs {
    /// Days until the CRL's nextUpdate.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// Print (or write to --out FILE) the CRL as DER, what CRL Distribution Point URLs serve
    /// (RFC 5280 4.2.1.13); ca.crl stays PEM. Not to a terminal.
    #[arg(long)]
    pub der: bool,
    #[command(flatten)]
    pub out: OutArgs,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

/// `ca backup` arguments.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The directory to create with the copy (it must not exist, or be empty).
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Machine-readable output (schema in SPEC.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InstallCaArgs {
    /// The CA certificate the parent issued (PEM; certificates of its chain may follow it);
    /// `-` reads it from standard input.
    pub cert: PathBuf,
    /// The issuers up to the root, if not in CERT after the certificate (PEM; `-`: standard
    /// input, when CERT is a file).
    #[arg(long, value_name = "FILE")]
    pub chain: Option<PathBuf>,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Machine-readable output (schema in SPEC.md).
    #[arg(long)]
    pub json: bool,
    /// With the passphrase of an encrypted ca.key, check also checks that it matches ca.crt.
    #[command(flatten)]
    pub key: KeyArgs,
}
