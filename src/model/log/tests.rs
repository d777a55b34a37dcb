use super::read::{Table, pick};
use super::*;
use crate::model::checkpoint::LOG_GENESIS;
use crate::model::header::{Files, Header, HeaderError};

fn entry(serial: &str) -> Entry {
    Entry {
        serial: Serial::parse_canonical(serial).unwrap(),
        subject: "CN=a".into(),
        sans: vec!["DNS:a.example".into()],
        profile: "server".into(),
        not_before: time::macros::datetime!(2026-01-01 0:00 UTC),
        not_after: time::macros::datetime!(2027-01-01 0:00 UTC),
        revoked: None,
        released: None,
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
    assert_eq!(
        pick(&decimal, vec![]),
        Err(SerialLookup::NotFound {
            typed: "12345678".into(),
            decimal: true,
            short: false,
        })
    );
    // What was typed is what the message names, not the serial it stands for (a new user
    // typed 1234567 and read "serial 01234567").
    assert_eq!(
        pick(&Typed::parse("1234567").unwrap(), vec![])
            .unwrap_err()
            .to_string(),
        "no certificate with serial 1234567 in index.log (serials are hexadecimal, as `ca list` \
         shows them; decimal is not accepted) (a serial's tail must have at least 8 digits)"
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
        Line::Revoked(_) | Line::Released(_) => panic!("misread"),
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
        chain_sha256: None,
        acme_sha256: None,
    };
    h.sign_checkpoint(&files, &key).unwrap();
    assert_eq!(Header::parse(&h.to_bytes()).unwrap(), h);
    let mut p = h.clone();
    p.policy_sha256 = Some(LOG_GENESIS.into());
    assert!(
        Header::parse(&p.to_bytes()).is_ok(),
        "a recorded policy hash is read"
    );
    p.policy_sha256 = Some("not a hash".into());
    assert_eq!(Header::parse(&p.to_bytes()), Err(HeaderError::PolicyHash));
    h.format = 99;
    assert_eq!(
        Header::parse(&h.to_bytes()),
        Err(HeaderError::Unsupported(99))
    );
    let v1 = b"{\"format\": 1, \"generation\": 1, \"audit_head\": \"\", \"certificates\": []}";
    assert_eq!(Header::parse(v1), Err(HeaderError::NeedsUpgrade(1)));
    let v2 = b"{\"format\": 2, \"generation\": 1, \"audit_head\": \"\", \"log_len\": 0, \"max_serial\": null}";
    assert_eq!(Header::parse(v2), Err(HeaderError::NeedsUpgrade(2)));
    assert!(
        HeaderError::NeedsUpgrade(2)
            .to_string()
            .contains("run `ca upgrade` once")
    );
    assert!(matches!(Header::parse(b"{"), Err(HeaderError::Json(_))));
}

/// The line without its newline, as index.log is read.
fn bare(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap()
}

#[test]
fn bad_lines_are_refused() {
    let err = |line: &[u8]| parse_line(line).err();
    assert_eq!(err(b"{}"), Some(LineError::NotARecord));
    assert!(matches!(
        err(b"{\"issued\":\"0a\"}"),
        Some(LineError::IssuedJson(_))
    ));
    assert_eq!(
        err(b"{\"revoked\":\"0A\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"because\"}"),
        Some(LineError::UnknownReason {
            serial: "0A".into(),
            reason: "because".into()
        })
    );
    assert!(matches!(
        err(b"{\"revoked\":\"0A\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"keyCompromise\",\"x\":1}"),
        Some(LineError::RevocationJson(_))
    ));
    assert_eq!(
        err(&revoked_line("0a", entry("0A").not_before, "keyCompromise")),
        Some(LineError::RevokesInvalidSerial("0a".into()))
    );
    let mut e = entry("0A");
    e.sha256 = "AB".repeat(32);
    assert_eq!(
        err(bare(&e.issued_line())),
        Some(LineError::InvalidSha256("0A".into()))
    );
}

#[test]
fn a_serial_issued_twice_or_a_revocation_of_an_unknown_serial_is_refused() {
    let a = entry("0A");
    let revoke = |serial: &str| revoked_line(serial, a.not_before, "keyCompromise");
    let mut table = Table::default();
    assert_eq!(table.add(bare(&a.issued_line())), Ok(()));
    assert_eq!(
        table.add(bare(&a.issued_line())),
        Err(LineError::IssuedTwice("0A".into()))
    );
    assert_eq!(
        table.add(bare(&revoke("0B"))),
        Err(LineError::RevokesUnissued("0B".into()))
    );
    assert_eq!(table.add(bare(&revoke("0A"))), Ok(()));
    assert_eq!(
        table.add(bare(&revoke("0A"))),
        Err(LineError::RevokedTwice("0A".into()))
    );
    let mut b = entry("0B");
    b.renewed_from = Some(a.serial.clone());
    let renewal = String::from_utf8(b.issued_line())
        .unwrap()
        .replace("\"renewed_from\":\"0A\"", "\"renewed_from\":\"0a\"");
    assert_eq!(
        table.add(bare(renewal.as_bytes())),
        Err(LineError::NamesInvalidSerial("0a".into()))
    );
    assert_eq!(table.entries.len(), 1);
    assert_eq!(table.max, Some(a.serial.clone()));
    // The file-level error numbers the line; its text is what `ca check` and stderr show.
    let numbered = LogError::Line {
        n: 2,
        err: LineError::IssuedTwice("0A".into()),
    };
    assert_eq!(
        numbered.to_string(),
        "line 2 issues serial 0A a second time"
    );
    assert_eq!(
        LogError::Line {
            n: 3,
            err: LineError::RevokesUnissued("0B".into())
        }
        .to_string(),
        "line 3 revokes 0B, which no earlier line issues"
    );
}

/// A log of `lines` (each with its newline) and the header that records it.
fn log_of(lines: &[Vec<u8>]) -> (Log, Header) {
    let bytes: Vec<u8> = lines.concat();
    let mut header = Header::new();
    header.log_len = bytes.len() as u64;
    let log = Log::bytes(bytes, "index.log".into());
    header.log_head = log_head(&log, header.log_len).unwrap();
    (log, header)
}

#[test]
fn a_hold_may_be_released_or_made_final_and_every_reader_agrees_unhold() {
    let (a, b, c) = (entry("0A"), entry("0B"), entry("0C"));
    let t = |h: u8| time::macros::datetime!(2026-03-01 0:00 UTC) + time::Duration::hours(h.into());
    let lines = vec![
        a.issued_line(),
        b.issued_line(),
        c.issued_line(),
        revoked_line("0A", t(1), "certificateHold"),
        revoked_line("0B", t(2), "certificateHold"),
        revoked_line("0C", t(3), "superseded"),
        released_line("0A", t(4)),
        revoked_line("0B", t(5), "keyCompromise"),
        revoked_line("0A", t(6), "certificateHold"),
        released_line("0A", t(7)),
    ];
    assert_eq!(
        String::from_utf8(released_line("0A", t(7))).unwrap(),
        "{\"released\":\"0A\",\"at\":\"2026-03-01T07:00:00Z\"}\n"
    );
    let (log, header) = log_of(&lines);
    let mut table = Table::default();
    for l in &lines {
        table.add(bare(l)).unwrap();
    }
    let mut streamed = Vec::new();
    for_each_entry(&log, &header, |e| {
        streamed.push(e);
        Ok(())
    })
    .unwrap();
    let found: Vec<Entry> = [&a, &b, &c]
        .iter()
        .map(|e| find(&log, &header, &e.serial).unwrap().unwrap())
        .collect();
    assert_eq!(table.entries, streamed);
    assert_eq!(table.entries, found);
    let [ea, eb, ec] = [&found[0], &found[1], &found[2]];
    assert_eq!((ea.revoked, ea.released), (None, Some(t(7))));
    assert_eq!(ea.state(t(8)), CertState::Valid);
    assert_eq!(
        eb.revoked.map(|r| (r.at, r.reason)),
        Some((t(5), Reason::KeyCompromise))
    );
    assert_eq!(eb.released, None);
    assert_eq!(ec.revoked.map(|r| r.reason), Some(Reason::Superseded));
    // The CRL lists what is revoked now, each once, in the order of its last revocation.
    let crl: Vec<(String, String)> = revocations(&log, &header)
        .unwrap()
        .into_iter()
        .map(|r| (r.revoked, r.reason))
        .collect();
    assert_eq!(
        crl,
        [
            ("0C".to_string(), "superseded".to_string()),
            ("0B".to_string(), "keyCompromise".to_string())
        ]
    );
}

#[test]
fn only_a_hold_is_released_and_a_hold_is_made_final_once_unhold() {
    let a = entry("0A");
    let t = a.not_before;
    let refused = |events: &[Vec<u8>], err: LineError| {
        let mut lines = vec![a.issued_line()];
        lines.extend_from_slice(events);
        let mut table = Table::default();
        let last = lines.len() - 1;
        for l in &lines[..last] {
            table.add(bare(l)).unwrap();
        }
        assert_eq!(table.add(bare(&lines[last])), Err(err.clone()));
        // The streaming readers refuse the same log.
        let (log, header) = log_of(&lines);
        assert!(for_each_entry(&log, &header, |_| Ok(())).is_err());
        assert!(find(&log, &header, &a.serial).is_err());
        assert!(revocations(&log, &header).is_err());
    };
    let un = || LineError::ReleasesUnheld("0A".into());
    refused(&[released_line("0A", t)], un());
    refused(
        &[revoked_line("0A", t, "superseded"), released_line("0A", t)],
        un(),
    );
    refused(
        &[
            revoked_line("0A", t, "certificateHold"),
            released_line("0A", t),
            released_line("0A", t),
        ],
        un(),
    );
    refused(
        &[
            revoked_line("0A", t, "certificateHold"),
            revoked_line("0A", t, "certificateHold"),
        ],
        LineError::RevokedTwice("0A".into()),
    );
    refused(
        &[
            revoked_line("0A", t, "certificateHold"),
            revoked_line("0A", t, "keyCompromise"),
            revoked_line("0A", t, "superseded"),
        ],
        LineError::RevokedTwice("0A".into()),
    );
    refused(
        &[
            revoked_line("0A", t, "certificateHold"),
            revoked_line("0A", t, "keyCompromise"),
            released_line("0A", t),
        ],
        un(),
    );
    refused(
        &[
            revoked_line("0A", t, "certificateHold"),
            revoked_line("0A", t, "removeFromCRL"),
        ],
        LineError::RemoveFromCrl("0A".into()),
    );
    refused(
        &[revoked_line("0A", t, "removeFromCRL")],
        LineError::RemoveFromCrl("0A".into()),
    );
    assert!(matches!(
        parse_line(b"{\"released\":\"0a\",\"at\":\"2026-01-01T00:00:00Z\"}"),
        Err(LineError::ReleasesInvalidSerial(_))
    ));
    assert!(matches!(
        parse_line(b"{\"released\":\"0A\",\"at\":\"2026-01-01T00:00:00Z\",\"reason\":\"x\"}"),
        Err(LineError::ReleaseJson(_))
    ));
    assert!(concerns(&released_line("0A", t), "0A") && !concerns(&released_line("0A", t), "0A0B"));
}
