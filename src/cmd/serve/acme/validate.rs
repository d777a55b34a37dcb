//! Challenge validation. http-01 (RFC 8555 8.3): the server resolves the identifier —
//! through `--acme-resolver` when given (a minimal DNS A query over UDP, dns.rs), else the
//! system resolver — and fetches `http://NAME:PORT/.well-known/acme-challenge/TOKEN` from the
//! addresses found, expecting exactly the key authorization `TOKEN.THUMBPRINT`. It goes only
//! where the name points, follows no redirect, reads at most [`MAX_RESPONSE`] bytes and gives
//! up after [`TIMEOUT`]. dns-01 (RFC 8555 8.4): a TXT query for `_acme-challenge.NAME` to
//! `--acme-resolver` (else the first nameserver of /etc/resolv.conf) must find the
//! base64url SHA-256 of the key authorization.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::dns;
use crate::acme::state::{Failure, Identifier};

/// Time allowed for each connection, and for each DNS answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes of a challenge response read.
pub const MAX_RESPONSE: usize = 8 * 1024;

/// Where validation requests go: the http-01 port and the resolver.
#[derive(Debug, Clone)]
pub struct Target {
    pub http_port: u16,
    /// Where tls-alpn-01 connects (`--acme-tls-port`, RFC 8737: 443).
    pub tls_port: u16,
    pub resolver: Option<SocketAddr>,
}

/// Checks the http-01 challenge `token` of identifier `id`: Ok, or why it failed (for the
/// authorization's error). An `ip` identifier is fetched from that address, with the address
/// as Host (RFC 8738 7); a `dns` one from the addresses it resolves to.
pub fn http01(
    target: &Target,
    id: &Identifier,
    token: &str,
    key_authz: &str,
) -> Result<(), Failure> {
    let name = id.value.as_str();
    let (addrs, host) = match (id.kind.as_str(), name.parse::<IpAddr>()) {
        ("ip", Ok(ip @ IpAddr::V6(_))) => (vec![ip], format!("[{ip}]")),
        ("ip", Ok(ip)) => (vec![ip], ip.to_string()),
        ("ip", Err(_)) => return Err(fail(format!("{name} is not an IP address"))),
        _ => (resolve(target, name)?, name.to_string()),
    };
    let mut last = format!("{name} has no address");
    for ip in addrs {
        match fetch(SocketAddr::new(ip, target.http_port), &host, token) {
            Ok(body) if body.trim_end() == key_authz => return Ok(()),
            Ok(body) => {
                return Err(fail(format!(
                    "http://{host}:{}/.well-known/acme-challenge/{token} answered {:?}, not the key authorization",
                    target.http_port,
                    body.chars().take(100).collect::<String>()
                )));
            }
            Err(e) => last = format!("fetching the challenge from {ip}: {e}"),
        }
    }
    Err(fail(last))
}

/// The addresses validation goes to for `id`: an `ip` identifier's own, a `dns` name's as
/// resolved.
pub fn addresses(target: &Target, id: &Identifier) -> Result<Vec<IpAddr>, Failure> {
    match (id.kind.as_str(), id.value.parse::<IpAddr>()) {
        ("ip", Ok(ip)) => Ok(vec![ip]),
        ("ip", Err(_)) => Err(fail(format!("{} is not an IP address", id.value))),
        _ => resolve(target, &id.value),
    }
}

/// Checks the dns-01 challenge of the name `name` (a wildcard's base name): a TXT record of
/// `_acme-challenge.NAME` must be the base64url SHA-256 of `key_authz` (RFC 8555 8.4).
pub fn dns01(target: &Target, name: &str, key_authz: &str) -> Result<(), Failure> {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authz.as_bytes());
    let expected = crate::acme::b64url(digest.as_ref());
    let server = target
        .resolver
        .or_else(dns::system_resolver)
        .ok_or_else(|| fail("no resolver for dns-01: give serve --acme-resolver ADDR"))?;
    let qname = format!("_acme-challenge.{name}");
    let found = dns::query_txt(server, &qname)?;
    match found.contains(&expected) {
        true => Ok(()),
        false => Err(fail(format!(
            "{qname} has no TXT record {expected:?} (found {:?})",
            found
                .iter()
                .take(4)
                .map(|t| t.chars().take(100).collect::<String>())
                .collect::<Vec<_>>()
        ))),
    }
}

/// A failure in words.
pub fn fail(s: impl Into<String>) -> Failure {
    Failure(s.into())
}

/// The addresses of `name`.
fn resolve(target: &Target, name: &str) -> Result<Vec<IpAddr>, Failure> {
    match target.resolver {
        Some(server) => dns::query_a(server, name),
        None => (name, target.http_port)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect())
            .map_err(|e| fail(format!("resolving {name}: {e}"))),
    }
}

/// One GET over HTTP/1.0; the body of a 200 answer.
fn fetch(addr: SocketAddr, host: &str, token: &str) -> Result<String, Failure> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| fail(e.to_string()))?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;
    s.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;
    let request = format!(
        "GET /.well-known/acme-challenge/{token} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: fileca-acme\r\nAccept: */*\r\n\r\n"
    );
    s.write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut buf = Vec::new();
    s.take((MAX_RESPONSE + 4096) as u64)
        .read_to_end(&mut buf)
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("the answer is not HTTP"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    if status != "200" {
        return Err(fail(format!("HTTP status {status}")));
    }
    Ok(body.chars().take(MAX_RESPONSE).collect())
}
