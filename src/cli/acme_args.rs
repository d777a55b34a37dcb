//! `ca serve`'s ACME options (SPEC.md ACME-*), flattened into [`super::ServeArgs`].

use clap::Args;

/// `--acme` and its options.
#[derive(Debug, Args)]
pub struct AcmeArgs {
    /// Also serve an ACME directory (RFC 8555, preview: http-01 for DNS names and IP
    /// addresses, dns-01 for DNS names and wildcards) over HTTPS at /acme/directory. Loads the CA key (its passphrase once at
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
    /// DNS server (IP:PORT) that resolves the names to validate and answers dns-01's TXT
    /// queries (default: the system's).
    #[arg(long, value_name = "ADDR", requires = "acme")]
    pub acme_resolver: Option<std::net::SocketAddr>,
    /// The CA key's passphrase or token PIN, which only `--acme` reads (refused without it:
    /// plain serve never loads the CA key).
    #[command(flatten)]
    pub key: super::KeyArgs,
}
