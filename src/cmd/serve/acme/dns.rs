//! A minimal DNS client (RFC 1035) for challenge validation: one query over UDP to one
//! server, A records for http-01 and TXT records for dns-01. Bounded: one datagram of at most
//! [`MAX_MESSAGE`] bytes is read (a truncated answer is a failure: TCP is not used), within
//! [`super::validate::TIMEOUT`] in all, from the resolver alone (a connected socket); an
//! answer with another id is ignored, one about another question refused, and only records
//! owned by the name asked count: CNAMEs are not followed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::validate::{TIMEOUT, fail};
use crate::acme::state::Failure;

/// The largest DNS message read.
pub const MAX_MESSAGE: usize = 1500;

/// Record types asked for.
const A: u16 = 1;
const TXT: u16 = 16;

/// The A records of `name`.
pub fn query_a(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, Failure> {
    let out: Vec<IpAddr> = query(server, name, A)?
        .into_iter()
        .filter(|d| d.len() == 4)
        .map(|d| IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])))
        .collect();
    match out.is_empty() {
        true => Err(fail(format!("{name} has no A record"))),
        false => Ok(out),
    }
}

/// The TXT records of `name`, each the concatenation of its strings (RFC 7208 3.3's
/// reading, which dns-01 values of 43 characters never need).
pub fn query_txt(server: SocketAddr, name: &str) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for data in query(server, name, TXT)? {
        let mut text = Vec::new();
        let mut at = 0;
        while let Some(&len) = data.get(at) {
            let piece = data
                .get(at + 1..at + 1 + usize::from(len))
                .ok_or_else(|| fail("a truncated TXT record"))?;
            text.extend_from_slice(piece);
            at += 1 + usize::from(len);
        }
        out.push(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(out)
}

/// The first `nameserver` of /etc/resolv.conf, port 53: where dns-01 asks without
/// `--acme-resolver`.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next()?.parse::<IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// One query of type `qtype` for `name`: the data of the answers of that type.
fn query(server: SocketAddr, name: &str, qtype: u16) -> Result<Vec<Vec<u8>>, Failure> {
    query_within(server, name, qtype, TIMEOUT)
}

/// [`query`], answered within `timeout` in all (review finding: every ignored datagram
/// restarted a 10 s wait, so a sender of junk held the validation for as long as it kept
/// sending). The socket is connected to `server`, so the kernel drops datagrams from any
/// other address or port.
fn query_within(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, Failure> {
    let io = |e: std::io::Error| fail(format!("asking {server} for {name}: {e}"));
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).map_err(io)?;
    sock.connect(server).map_err(io)?;
    let id: u16 = ring::rand::generate::<[u8; 2]>(&ring::rand::SystemRandom::new())
        .map(|r| u16::from_be_bytes(r.expose()))
        .map_err(|_| fail("no randomness for the DNS query id"))?;
    let q = question(id, name, qtype)?;
    sock.send(&q).map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; MAX_MESSAGE];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail(format!(
                "asking {server} for {name}: no answer within {} s",
                timeout.as_secs()
            )));
        }
        sock.set_read_timeout(Some(left)).map_err(io)?;
        let n = sock.recv(&mut buf).map_err(io)?;
        if n < 12 || buf[..2] != id.to_be_bytes() {
            continue;
        }
        return parse_answer(&buf[..n], &q, name, qtype);
    }
}

/// A query message: header (`id`, recursion desired, one question) and the question.
fn question(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, Failure> {
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
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    Ok(q)
}

/// A name at `at` in `msg` (lowercased, labels joined by dots; compression pointers
/// followed, at most 16) and where the record goes on after it.
fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), Failure> {
    let truncated = || fail("a truncated DNS answer");
    let mut labels: Vec<String> = Vec::new();
    let mut after = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at).ok_or_else(truncated)?;
        match len {
            0 => {
                at += 1;
                break;
            }
            l if l & 0xc0 == 0xc0 => {
                let low = *msg.get(at + 1).ok_or_else(truncated)?;
                after.get_or_insert(at + 2);
                jumps += 1;
                if jumps > 16 {
                    return Err(fail("a DNS name whose pointers loop"));
                }
                at = usize::from(u16::from_be_bytes([l & 0x3f, low]));
            }
            l if l & 0xc0 != 0 => return Err(fail("a DNS label of an unknown kind")),
            l => {
                let label = msg
                    .get(at + 1..at + 1 + usize::from(l))
                    .ok_or_else(truncated)?;
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                at += 1 + usize::from(l);
            }
        }
    }
    Ok((labels.join("."), after.unwrap_or(at)))
}

/// The data of the answers of type `qtype` owned by `name` in a DNS message that answers
/// `query` (one question, the one asked: the same name, type and class). Records of other
/// owners — a CNAME's target among them — do not count (review finding: a TXT record of
/// `evil.example` after a CNAME validated `_acme-challenge.NAME`).
fn parse_answer(msg: &[u8], query: &[u8], name: &str, qtype: u16) -> Result<Vec<Vec<u8>>, Failure> {
    let truncated = || fail("a truncated DNS answer");
    if msg[2] & 0x02 != 0 {
        return Err(fail(format!(
            "the answer for {name} is truncated (over {MAX_MESSAGE} bytes; TCP is not used)"
        )));
    }
    let rcode = msg[3] & 0x0f;
    if rcode != 0 {
        return Err(fail(format!(
            "the resolver answered rcode {rcode} for {name}"
        )));
    }
    let asked = name.trim_end_matches('.').to_ascii_lowercase();
    let (echoed, at) = read_name(msg, 12)?;
    let tail = msg.get(at..at + 4).ok_or_else(truncated)?;
    if msg[4..6] != [0, 1] || echoed != asked || tail != &query[query.len() - 4..] {
        return Err(fail(format!(
            "the resolver's answer is not about the question asked ({name})"
        )));
    }
    let count = usize::from(u16::from_be_bytes([msg[6], msg[7]]));
    let mut at = at + 4;
    let mut out = Vec::new();
    for _ in 0..count {
        let (owner, next) = read_name(msg, at)?;
        let fixed = msg.get(next..next + 10).ok_or_else(truncated)?;
        let (kind, len) = (
            u16::from_be_bytes([fixed[0], fixed[1]]),
            usize::from(u16::from_be_bytes([fixed[8], fixed[9]])),
        );
        let data = msg.get(next + 10..next + 10 + len).ok_or_else(truncated)?;
        if kind == qtype && owner == asked {
            out.push(data.to_vec());
        }
        at = next + 10 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
