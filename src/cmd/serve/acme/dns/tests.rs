//! ACME-DNS01's client against crafted answers (review findings: records of another owner
//! counted, and junk datagrams held a lookup past its 10 s).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::*;

const NAME: &str = "_acme-challenge.web.lab.test";

/// `name` in wire form.
fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A record: `owner` (wire form or a pointer), type, class IN, TTL 60, `data`.
fn record(owner: &[u8], kind: u16, data: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&kind.to_be_bytes());
    r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
    r.extend_from_slice(&(data.len() as u16).to_be_bytes());
    r.extend_from_slice(data);
    r
}

fn txt(value: &str) -> Vec<u8> {
    let mut d = vec![value.len() as u8];
    d.extend_from_slice(value.as_bytes());
    d
}

/// The answer to `query` (its id and question echoed) with `records`.
fn answer(query: &[u8], records: &[Vec<u8>]) -> Vec<u8> {
    let mut m = query[..2].to_vec();
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, records.len() as u8, 0, 0, 0, 0]);
    m.extend_from_slice(&query[12..]);
    for r in records {
        m.extend_from_slice(r);
    }
    m
}

#[test]
fn only_records_owned_by_the_name_asked_count() {
    let q = question(7, NAME, TXT).unwrap();
    // The question's name by pointer (offset 12), as resolvers compress it.
    let own = answer(&q, &[record(&[0xc0, 12], TXT, &txt("right"))]);
    assert_eq!(parse_answer(&own, &q, NAME, TXT).unwrap(), [txt("right")]);
    // A CNAME to evil.example and evil.example's TXT: nothing for the name asked.
    let cname = answer(
        &q,
        &[
            record(&[0xc0, 12], 5, &wire("evil.example")),
            record(&wire("evil.example"), TXT, &txt("right")),
        ],
    );
    assert!(parse_answer(&cname, &q, NAME, TXT).unwrap().is_empty());
    let other = answer(&q, &[record(&wire("evil.example"), TXT, &txt("right"))]);
    assert!(parse_answer(&other, &q, NAME, TXT).unwrap().is_empty());
    // Owner names compare case-insensitively (DNS 0x20 resolvers echo mixed case).
    let upper = answer(
        &q,
        &[record(&wire(&NAME.to_uppercase()), TXT, &txt("right"))],
    );
    assert_eq!(parse_answer(&upper, &q, NAME, TXT).unwrap().len(), 1);
}

#[test]
fn an_answer_to_another_question_is_refused() {
    let q = question(7, NAME, TXT).unwrap();
    let other = question(7, "_acme-challenge.evil.lab.test", TXT).unwrap();
    let forged = answer(&other, &[record(&[0xc0, 12], TXT, &txt("right"))]);
    assert!(parse_answer(&forged, &q, NAME, TXT).is_err());
    let a_type = question(7, NAME, A).unwrap();
    let wrong_type = answer(&a_type, &[]);
    assert!(parse_answer(&wrong_type, &q, NAME, TXT).is_err());
    // A pointer loop is refused, not followed for ever.
    let mut looped = answer(&q, &[]);
    looped[7] = 1;
    looped.extend_from_slice(&record(&[0xc0, looped.len() as u8], TXT, &txt("x")));
    assert!(parse_answer(&looped, &q, NAME, TXT).is_err());
}

#[test]
fn junk_datagrams_do_not_extend_the_wait() {
    let resolver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = resolver.local_addr().unwrap();
    let junk = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, from) = resolver.recv_from(&mut buf).unwrap();
        // Replies with another id, every 50 ms for 2 s: each is ignored.
        let mut wrong = buf[..n].to_vec();
        wrong[0] ^= 0xff;
        for _ in 0..40 {
            let _ = resolver.send_to(&wrong, from);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let start = Instant::now();
    let result = query_within(addr, NAME, TXT, Duration::from_millis(400));
    let took = start.elapsed();
    assert!(result.is_err());
    assert!(took < Duration::from_millis(1500), "{took:?}");
    junk.join().unwrap();
}

/// A response to the query `q` (a.test, TXT) with `answers` of type `kind`, by pointer.
fn message(q: &[u8], flags: [u8; 2], kind: u16, answers: &[&[u8]]) -> Vec<u8> {
    let mut m = q[..2].to_vec();
    m.extend_from_slice(&flags);
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&q[12..]);
    for data in answers {
        m.extend_from_slice(&record(&[0xc0, 12], kind, data));
    }
    m
}

#[test]
fn txt_answers_are_read_and_bad_ones_refused() {
    let q = question(0xabcd, "a.test", TXT).unwrap();
    let m = message(&q, [0x81, 0x80], TXT, &[b"\x03abc\x02de", b"\x01x"]);
    let data = parse_answer(&m, &q, "a.test", TXT).unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0], b"\x03abc\x02de");
    // Records of another type are skipped.
    let a = question(0xabcd, "a.test", A).unwrap();
    let m_a = message(&a, [0x81, 0x80], TXT, &[b"\x01x"]);
    assert!(parse_answer(&m_a, &a, "a.test", A).unwrap().is_empty());
    // Truncated (TC), an error rcode, a record cut short: failures, no panic.
    let tc = message(&q, [0x83, 0x80], TXT, &[b"\x01x"]);
    assert!(parse_answer(&tc, &q, "a.test", TXT).is_err());
    let nx = message(&q, [0x81, 0x83], TXT, &[]);
    assert!(parse_answer(&nx, &q, "a.test", TXT).is_err());
    let cut = message(&q, [0x81, 0x80], TXT, &[b"\x05abcde"]);
    assert!(parse_answer(&cut[..cut.len() - 2], &q, "a.test", TXT).is_err());
    for n in 12..m.len() {
        let _ = parse_answer(&m[..n], &q, "a.test", TXT);
    }
}
