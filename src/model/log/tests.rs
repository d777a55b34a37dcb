use super::*;
use crate::model::header::{Files, HeaderError};

fn entry(serial: &str) -> Entry {
    Entry {
        serial: Serial::parse_canonical(serial).unwrap(),
        subject: "CN=a".into(),
        sans: vec!["DNS:a.example".into()],
        profile: "server".into(),
        not_before: time::macros::datetime!(2026-01-01 0:00 UTC),
        not_after: time::macros::datetime!(2027-01-01 0:00 UTC),
        revoked: None,
        sha256: "ab".repeat(32),
        renewed_from: None,
    }
}

#[test]
fn a_typed_serial_is_parsed_leniently_and_an_ambiguous_tail_lists_the_matches() {
    let typed = Typed::parse("serial=0A1B2C3D4E5F").unwrap();
    assert_eq!(
        typed.serial,
        Serial::parse_canonical("0A1B2C3D4E5F").unwrap()
    );
    assert_eq!(Typed::parse("0a:1b").unwrap().digits, "0A1B");
    assert_eq!(Typed::parse(" 0X0A1B ").unwrap().digits, "0A1B");
    assert!(Typed::parse("../etc").is_none());
    let tail = Typed::parse("2C3D4E5F").unwrap();
    let e = |s: &str| entry(s);
    assert_eq!(
        pick(&tail, vec![e("0A1B2C3D4E5F")])
            .unwrap()
            .serial
            .to_string(),
        "0A1B2C3D4E5F"
    );
    assert_eq!(
        pick(&tail, vec![e("0A1B2C3D4E5F"), e("FF2C3D4E5F")]),
        Err(SerialLookup::Ambiguous {
            typed: "2C3D4E5F".into(),
            matches: vec!["0A1B2C3D4E5F".into(), "FF2C3D4E5F".into()]
        })
    );
    let decimal = Typed::parse("12345678").unwrap();
    assert!(
        pick(&decimal, vec![])
            .unwrap_err()
            .to_string()
            .contains("decimal")
    );
}

#[test]
fn lines_round_trip_and_have_their_documented_form() {
    let e = entry("0A");
    let line = e.issued_line();
    assert_eq!(
        String::from_utf8(line.clone()).unwrap(),
        format!(
            "{{\"issued\":\"0A\",\"subject\":\"CN=a\",\"sans\":[\"DNS:a.example\"],\
             \"profile\":\"server\",\"not_before\":\"2026-01-01T00:00:00Z\",\
             \"not_after\":\"2027-01-01T00:00:00Z\",\"sha256\":\"{}\"}}\n",
            "ab".repeat(32)
        )
    );
    match parse_line(&line[..line.len() - 1]).unwrap() {
        Line::Issued(l) => assert_eq!(Entry::from_issued(l).unwrap(), e),
        Line::Revoked(_) => panic!("misread"),
    }
    let r = revoked_line("0A", e.not_before, "keyCompromise");
    assert_eq!(
        r,
        b"{\"revoked\":\"0A\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"keyCompromise\"}\n"
    );
    assert!(concerns(&r, "0A") && !concerns(&r, "0A0B") && !concerns(&line, "0B"));
}

#[test]
fn header_round_trips_and_refuses_other_formats() {
    let mut h = Header::new();
    h.max_serial = Some("0A".into());
    h.audit_head = LOG_GENESIS.into();
    assert_eq!(Header::parse(&h.to_bytes()), Err(HeaderError::NoCheckpoint));
    let key = rcgen::KeyPair::generate().unwrap();
    let files = Files {
        audit_len: 1,
        serial: Serial::from_u64(2),
        crlnumber: Serial::from_u64(1),
        crl_sha256: None,
    };
    h.sign_checkpoint(&files, &key).unwrap();
    assert_eq!(Header::parse(&h.to_bytes()).unwrap(), h);
    let mut p = h.clone();
    p.policy_sha256 = Some(LOG_GENESIS.into());
    assert_eq!(Header::parse(&p.to_bytes()), Err(HeaderError::Policy));
    h.format = 99;
    assert!(Header::parse(&h.to_bytes()).is_err());
    let v1 = b"{\"format\": 1, \"generation\": 1, \"audit_head\": \"\", \"certificates\": []}";
    assert_eq!(Header::parse(v1), Err(HeaderError::NeedsUpgrade(1)));
    let v2 = b"{\"format\": 2, \"generation\": 1, \"audit_head\": \"\", \"log_len\": 0, \"max_serial\": null}";
    assert_eq!(Header::parse(v2), Err(HeaderError::NeedsUpgrade(2)));
    assert!(
        HeaderError::NeedsUpgrade(2)
            .to_string()
            .contains("run `ca upgrade` once")
    );
    assert!(Header::parse(b"{").is_err());
}

#[test]
fn bad_lines_are_refused() {
    for bad in [
        &b"{}"[..],
        b"{\"issued\":\"0a\"}",
        b"{\"revoked\":\"0A\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"because\"}",
        b"{\"revoked\":\"0A\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"keyCompromise\",\"x\":1}",
    ] {
        assert!(parse_line(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}
