//! `ca serve`'s ACME options (SPEC.md ACME-*), flattened into [`super::ServeArgs`], and
//! `ca acme`'s subcommands (ACME-EAB).

use clap::{Args, Subcommand};

use super::MutationArgs;

/// `--acme` and its options.
#[derive(Debug, Args)]
pub struct AcmeArgs {
    /// Also serve an ACME directory (RFC 8555, preview: http-01 for DNS names and IP
    /// addresses, dns-01 for DNS names and wildcards, tls-alpn-01) over HTTPS at /acme/directory. Loads the CA key (its passphrase once at
    /// start) and issues under the `acme` profile; needs one DIR.
    #[arg(long)]
    pub acme: bool,
    /// A name or address of this server for its TLS certificate (repeatable; default
    /// localhost).
    #[arg(long, value_name = "NAME", requires = "acme")]
    pub acme_host: Vec<String>,
    /// Address the ACME HTTPS server listens on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8443",
        requires = "acme"
    )]
    pub acme_listen: std::net::SocketAddr,
    /// Port http-01 challenges are fetched from (RFC 8555: 80; another for tests).
    #[arg(long, value_name = "PORT", default_value_t = 80, requires = "acme")]
    pub acme_http_port: u16,
    /// Port tls-alpn-01 challenges are validated on (RFC 8737: 443; another for tests).
    #[arg(long, value_name = "PORT", default_value_t = 443, requires = "acme")]
    pub acme_tls_port: u16,
    /// DNS server (IP:PORT) that resolves the names to validate and answers dns-01's TXT
    /// queries (default: the system's).
    #[arg(long, value_name = "ADDR", requires = "acme")]
    pub acme_resolver: Option<std::net::SocketAddr>,
    /// Refuse new accounts without an External Account Binding made with
    /// `ca acme eab add` (each binding registers one account).
    #[arg(long, requires = "acme")]
    pub acme_eab_required: bool,
    /// URL of the terms of service new accounts must agree to (the directory's
    /// meta.termsOfService; newAccount without termsOfServiceAgreed is then refused).
    #[arg(long, value_name = "URL", requires = "acme")]
    pub acme_terms: Option<String>,
    /// New orders an account may make per hour (rateLimited beyond, with Retry-After).
    #[arg(long, value_name = "N", default_value_t = 100, requires = "acme")]
    pub acme_order_limit: usize,
    /// The CA key's passphrase or token PIN, which only `--acme` reads (refused without it:
    /// plain serve never loads the CA key).
    #[command(flatten)]
    pub key: super::KeyArgs,
}

#[derive(Debug, Subcommand)]
pub enum AcmeCommand {
    /// External Account Binding keys for `serve --acme` (RFC 8555 7.3.4).
    #[command(subcommand)]
    Eab(EabCommand),
}

#[derive(Debug, Subcommand)]
pub enum EabCommand {
    /// Make an External Account Binding key (HS256): stored in acme.json by one audited
    /// commit (needs the CA key) and printed once; it registers one ACME account.
    Add(EabAddArgs),
}

#[derive(Debug, Args)]
pub struct EabAddArgs {
    /// The key id (1 to 64 of A-Z a-z 0-9 - _; default: 16 random bytes, base64url).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    #[command(flatten)]
    pub mutation: MutationArgs,
}
