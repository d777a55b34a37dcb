use proptest::prelude::*;

use super::*;
use crate::model::header::Header;

proptest! {
    /// SPEC.md INDEX-LOG: an issued line round-trips through the parser.
    #[test]
    fn issued_lines_round_trip(
        serial in proptest::collection::vec(any::<u8>(), 1..16),
        subject in "[ -~]{0,40}",
        sans in proptest::collection::vec("[a-z0-9.:@-]{1,30}", 0..4),
        nb in 0i64..4_000_000_000,
        na in 0i64..4_000_000_000,
        renewed in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..8)),
    ) {
        let t = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let e = Entry {
            serial: Serial::from_magnitude(&serial),
            subject, sans, profile: "server".into(),
            not_before: t(nb), not_after: t(na),
            revoked: None,
            released: None,
            sha256: "0".repeat(64),
            renewed_from: renewed.map(|r| Serial::from_magnitude(&r)),
        };
        let line = e.issued_line();
        prop_assert!(line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n'));
        match parse_line(&line[..line.len() - 1]) {
            Ok(Line::Issued(l)) => prop_assert_eq!(Entry::from_issued(l).unwrap(), e),
            _ => prop_assert!(false, "misread"),
        }
    }

    /// Arbitrary bytes never panic the parsers.
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_line(&bytes);
        let _ = Header::parse(&bytes);
    }
}
