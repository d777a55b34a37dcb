//! Every state-file parser on arbitrary bytes: index.json, serial/crlnumber, the journal, the
//! audit log and policy.toml. Each must return a value or an error, never panic; parsed
//! values must re-serialise to something that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

use fileca::model::header::Header;
use fileca::pki::serial::Serial;
use fileca::store::journal::{Journal, Parsed};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = Header::parse(data) {
        assert_eq!(Header::parse(&header.to_bytes()).ok(), Some(header));
    }
    if let Some(serial) = Serial::parse_file(data) {
        assert_eq!(serial.to_file(), data);
    }
    if let Ok(Parsed::V2(journal)) = Journal::parse(data) {
        match Journal::parse(&journal.to_bytes()) {
            Ok(Parsed::V2(again)) => assert_eq!(again, journal),
            _ => panic!("a parsed journal does not parse back"),
        }
    }
    let _ = fileca::model::audit::verify(data, 3, "");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Serial::parse_user(text);
        // The policy file: every problem has a place inside the text.
        if let Err(problems) = fileca::policy::parse::parse(text, None) {
            assert!(!problems.is_empty());
            assert!(problems.iter().all(|p| p.line >= 1 && p.column >= 1));
        }
    }
});
