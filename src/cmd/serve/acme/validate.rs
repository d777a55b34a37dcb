//! http-01 validation (RFC 8555 8.3): the server resolves the identifier — through
//! `--acme-resolver` when given (a minimal DNS A query over UDP), else the system resolver —
//! and fetches `http://NAME:PORT/.well-known/acme-challenge/TOKEN` from the addresses found,
//! expecting exactly the key authorization `TOKEN.THUMBPRINT`. It goes only where the name
//! points, follows no redirect, reads at most [`MAX_RESPONSE`] bytes and gives up after
//! [`TIMEOUT`].

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use crate::acme::state::{Failure, Identifier};

/// Time allowed for each connection, and for each DNS answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes of a challenge response read.
pub const MAX_RESPONSE: usize = 8 * 1024;

/// Where validation requests go: the http-01 port and the resolver.
#[derive(Debug, Clone)]
pub struct Target {
    pub http_port: u16,
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

/// A failure in words.
fn fail(s: impl Into<String>) -> Failure {
    Failure(s.into())
}

/// The addresses of `name`.
fn resolve(target: &Target, name: &str) -> Result<Vec<IpAddr>, Failure> {
    match target.resolver {
        Some(server) => query_a(server, name),
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

/// A minimal DNS client (RFC 1035): one A query over UDP to `server`, the A records of the
/// answer (CNAMEs are not followed).
pub fn query_a(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, Failure> {
    let io = |e: std::io::Error| fail(format!("asking {server} for {name}: {e}"));
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).map_err(io)?;
    sock.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    let id: u16 = ring::rand::generate::<[u8; 2]>(&ring::rand::SystemRandom::new())
        .map(|r| u16::from_be_bytes(r.expose()))
        .map_err(|_| fail("no randomness for the DNS query id"))?;
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(fail(format!("{name} is not a DNS name")));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sock.send_to(&q, server).map_err(io)?;
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = sock.recv_from(&mut buf).map_err(io)?;
        if from != server || n < 12 || buf[..2] != id.to_be_bytes() {
            continue;
        }
        return parse_answer(&buf[..n], q.len(), name);
    }
}

/// The A records of a DNS answer whose question section ends at `question_end`.
fn parse_answer(msg: &[u8], question_end: usize, name: &str) -> Result<Vec<IpAddr>, Failure> {
    let rcode = msg[3] & 0x0f;
    if rcode != 0 {
        return Err(fail(format!(
            "the resolver answered rcode {rcode} for {name}"
        )));
    }
    let count = usize::from(u16::from_be_bytes([msg[6], msg[7]]));
    let mut at = question_end;
    let mut out = Vec::new();
    for _ in 0..count {
        // The owner name: a pointer (2 bytes) or labels.
        loop {
            let len = *msg.get(at).ok_or_else(|| fail("a truncated DNS answer"))?;
            if len & 0xc0 == 0xc0 {
                at += 2;
                break;
            }
            at += 1 + usize::from(len);
            if len == 0 {
                break;
            }
        }
        let fixed = msg
            .get(at..at + 10)
            .ok_or_else(|| fail("a truncated DNS answer"))?;
        let (kind, len) = (
            u16::from_be_bytes([fixed[0], fixed[1]]),
            usize::from(u16::from_be_bytes([fixed[8], fixed[9]])),
        );
        let data = msg
            .get(at + 10..at + 10 + len)
            .ok_or_else(|| fail("a truncated DNS answer"))?;
        if kind == 1 && len == 4 {
            out.push(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            )));
        }
        at += 10 + len;
    }
    match out.is_empty() {
        true => Err(fail(format!("{name} has no A record"))),
        false => Ok(out),
    }
}
