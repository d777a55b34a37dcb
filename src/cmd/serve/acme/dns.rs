//! A minimal DNS client (RFC 1035) for challenge validation: one query over UDP to one
//! server, A records for http-01 and TXT records for dns-01. Bounded: one datagram of at most
//! [`MAX_MESSAGE`] bytes is read (a truncated answer is a failure: TCP is not used), each
//! answer waited for at most [`super::validate::TIMEOUT`], and an answer whose id or sender
//! differs is ignored. CNAMEs are not followed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

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
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    sock.send_to(&q, server).map_err(io)?;
    let mut buf = [0u8; MAX_MESSAGE];
    loop {
        let (n, from) = sock.recv_from(&mut buf).map_err(io)?;
        if from != server || n < 12 || buf[..2] != id.to_be_bytes() {
            continue;
        }
        return parse_answer(&buf[..n], q.len(), name, qtype);
    }
}

/// The data of the answers of type `qtype` in a DNS message whose question section ends at
/// `question_end`.
fn parse_answer(
    msg: &[u8],
    question_end: usize,
    name: &str,
    qtype: u16,
) -> Result<Vec<Vec<u8>>, Failure> {
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
    let count = usize::from(u16::from_be_bytes([msg[6], msg[7]]));
    let mut at = question_end;
    let mut out = Vec::new();
    for _ in 0..count {
        // The owner name: a pointer (2 bytes) or labels.
        loop {
            let len = *msg.get(at).ok_or_else(truncated)?;
            if len & 0xc0 == 0xc0 {
                at += 2;
                break;
            }
            at += 1 + usize::from(len);
            if len == 0 {
                break;
            }
        }
        let fixed = msg.get(at..at + 10).ok_or_else(truncated)?;
        let (kind, len) = (
            u16::from_be_bytes([fixed[0], fixed[1]]),
            usize::from(u16::from_be_bytes([fixed[8], fixed[9]])),
        );
        let data = msg.get(at + 10..at + 10 + len).ok_or_else(truncated)?;
        if kind == qtype {
            out.push(data.to_vec());
        }
        at += 10 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to a query of `question_len` bytes (12-byte header + question) with
    /// `answers` records of type `kind`, each the given data.
    fn message(flags: [u8; 2], kind: u16, answers: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut m = vec![0xab, 0xcd, flags[0], flags[1], 0, 1];
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(b"\x01a\x04test\x00\x00\x10\x00\x01");
        let question_end = m.len();
        for data in answers {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&kind.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        (m, question_end)
    }

    #[test]
    fn txt_answers_are_read_and_bad_ones_refused() {
        let (m, end) = message([0x81, 0x80], TXT, &[b"\x03abc\x02de", b"\x01x"]);
        let data = parse_answer(&m, end, "a.test", TXT).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0], b"\x03abc\x02de");
        // Records of another type are skipped.
        assert!(parse_answer(&m, end, "a.test", A).unwrap().is_empty());
        // Truncated (TC), an error rcode, a record cut short: failures, no panic.
        let (tc, end) = message([0x83, 0x80], TXT, &[b"\x01x"]);
        assert!(parse_answer(&tc, end, "a.test", TXT).is_err());
        let (nx, end) = message([0x81, 0x83], TXT, &[]);
        assert!(parse_answer(&nx, end, "a.test", TXT).is_err());
        let (cut, end) = message([0x81, 0x80], TXT, &[b"\x05abcde"]);
        assert!(parse_answer(&cut[..cut.len() - 2], end, "a.test", TXT).is_err());
        for n in 12..m.len() {
            let _ = parse_answer(&m[..n], end.min(n), "a.test", TXT);
        }
    }
}
