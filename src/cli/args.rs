//! The options of each command, as clap parses them: what [`Command`](super::Command) holds
//! for every subcommand. No I/O; the value parsers are in convert.rs.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{SERIAL_HELP, convert};
use crate::model::log::CertState;
use crate::pki::keys::KeyType;
use crate::pki::reason::Reason;

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
    /// The CA key (default: private/cakey.pem or private/ca.key under the source), or the
    /// RFC 7512 URI of the CA key on a PKCS#11 token ('pkcs11:token=…;object=…', with
    /// --module): ca.key then holds a reference to it (SPEC.md TOKEN-IMPORT).
    #[arg(long, value_name = "KEY")]
    pub ca_key: Option<PathBuf>,
    /// With --ca-key pkcs11:…: the token's PKCS#11 module (else $CA_PKCS11_MODULE, else the
    /// first installed of SPEC.md's TOKEN-MODULE-DEFAULT list).
    #[arg(long, value_name = "PATH")]
    pub module: Option<PathBuf>,
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
    /// Keep the CA key on a PKCS#11 token: the key named by this RFC 7512 URI, e.g.
    /// 'pkcs11:token=lab-root;object=root-key' (P-256, P-384, Ed25519, RSA; no PIN in it).
    /// ca.key then holds a reference to it (SPEC.md KEYREF), and everything is signed on the
    /// token. Needs --module or $CA_PKCS11_MODULE. With --parent: the new sub-CA's key.
    #[arg(
        long = "key",
        value_name = "PKCS11_URI",
        conflicts_with_all = ["import_cert", "encrypt_key"]
    )]
    pub token_key: Option<String>,
    /// With --key: generate the key pair on the token (--key-type ecdsa-p256, ecdsa-p384,
    /// ed25519 where the token offers CKM_EDDSA, rsa-2048/3072/4096) under the URI's object= label (and id=, else a random CKA_ID),
    /// instead of adopting an existing key. Nothing may already use that label or id.
    #[arg(long, requires = "token_key", conflicts_with = "dry_run")]
    pub key_on_token: bool,
    /// The token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so (else
    /// $CA_PKCS11_MODULE, else the first installed of SPEC.md's TOKEN-MODULE-DEFAULT list).
    #[arg(long, value_name = "PATH", requires = "token_key")]
    pub module: Option<PathBuf>,
    /// Validate and show what would be created, but create nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub key: KeyArgs,
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
    /// When the CA key is on a PKCS#11 token: file whose first line is the token's user PIN
    /// (else $CA_PIN_FILE, else a prompt on a terminal). Never give a PIN on the command line.
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
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
    #[command(flatten)]
    pub publish: PublishArgs,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

/// `--crl [--crl-days N]`: a mutation of the revocation set that also publishes the CRL.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Also publish a new CRL in the same atomic commit (written to ca.crl and printed on
    /// stdout, as `ca crl` does).
    #[arg(long)]
    pub crl: bool,
    /// With --crl: days until the CRL's nextUpdate.
    #[arg(long, default_value_t = 30, requires = "crl", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub crl_days: u32,
}

impl PublishArgs {
    /// The CRL's days, when one is to be published.
    pub fn days(&self) -> Option<u32> {
        self.crl.then_some(self.crl_days)
    }
}

/// `ca unhold` arguments.
#[derive(Debug, Args)]
pub struct UnholdArgs {
    #[arg(help = SERIAL_HELP)]
    pub serial: String,
    #[command(flatten)]
    pub publish: PublishArgs,
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
    /// The directory to create with the copy (it must not exist, or be empty); with --tar,
    /// the archive file to create (`-`: stdout, not a terminal).
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
    /// Write one tar archive (POSIX ustar, mode 0600: it holds ca.key) instead of a
    /// directory; restore with `mkdir -m 700 DIR && tar -xpf DEST -C DIR`.
    #[arg(long)]
    pub tar: bool,
}

/// Arguments of `ca export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("form").required(true).args(["p12", "p12_legacy", "fullchain"])))]
pub struct ExportArgs {
    #[arg(help = SERIAL_HELP, required_unless_present = "cert", conflicts_with = "cert")]
    pub serial: Option<String>,
    /// The certificate itself instead of its serial (it must be one this CA's index records).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// The certificate's private key, as you hold it (PEM: PKCS#8, PKCS#1 or SEC1, encrypted
    /// or not); it must be the certificate's key.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// File whose first line is --key's passphrase, if it is encrypted (else asked on the
    /// terminal).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub key_passphrase_file: Option<PathBuf>,
    /// Write a PKCS#12 bundle to OUT (a new file, mode 0600): the key, the certificate and
    /// the CAs above it up to the root, encrypted (PBES2 with AES-256, HMAC-SHA-256).
    #[arg(long, value_name = "OUT", requires = "key")]
    pub p12: Option<PathBuf>,
    /// As --p12, in the legacy form (pbeWithSHAAnd3-KeyTripleDES-CBC, SHA-1 MAC) for old
    /// Windows and macOS importers.
    #[arg(long, value_name = "OUT", requires = "key")]
    pub p12_legacy: Option<PathBuf>,
    /// Write the certificate followed by the CAs above it, the root excepted (PEM; no key) to
    /// OUT (`-`: stdout).
    #[arg(long, value_name = "OUT")]
    pub fullchain: Option<PathBuf>,
    /// File whose first line is the passphrase of the PKCS#12 bundle (else typed twice on the
    /// terminal).
    #[arg(long, value_name = "FILE")]
    pub p12_passphrase_file: Option<PathBuf>,
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

/// `ca ocsp-responder` subcommands.
#[derive(Debug, Subcommand)]
pub enum OcspResponderCommand {
    /// Issue a new delegated OCSP responder certificate (profile ocsp-signing, with
    /// id-pkix-ocsp-nocheck) for a fresh P-256 key, and keep both in the state directory
    /// (ocsp.crt, ocsp.key 0600). Needs the CA key; one audited commit.
    Renew(OcspResponderRenewArgs),
}

#[derive(Debug, Args)]
pub struct OcspResponderRenewArgs {
    /// Validity in days (default: the ocsp-signing profile's default_days, 30 in the
    /// built-in policy).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: Option<u32>,
    #[command(flatten)]
    pub mutation: MutationArgs,
}

#[derive(Debug, Args)]
pub struct OcspArgs {
    #[arg(
        help = "Serial number of the certificate (as `ca list` shows it, or a unique tail of 8 or more digits)",
        required_unless_present = "out_dir",
        conflicts_with = "out_dir",
        requires = "out"
    )]
    pub serial: Option<String>,
    /// Write the DER response to FILE (refuses to replace an existing file unless --force).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Write a response for every unexpired certificate to DIR/SERIAL.der (DIR is created
    /// if missing; existing responses there are replaced: they are meant to be refreshed).
    #[arg(long, value_name = "DIR", value_parser = convert::out_dir)]
    pub out_dir: Option<PathBuf>,
    /// Hours until the responses' nextUpdate (at most the responder certificate's notAfter).
    #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u32).range(1..=8760))]
    pub hours: u32,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The CA directories to serve (default: --dir), e.g. a root and its issuing CAs.
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Stop after this many seconds (tests, timed demos; default: at SIGTERM or SIGINT).
    #[arg(long, value_name = "SECS", hide = true)]
    pub exit_after: Option<u64>,
    #[command(flatten)]
    pub acme: super::AcmeArgs,
}
