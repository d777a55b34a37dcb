//! Every state-file parser on arbitrary bytes: index.json, serial/crlnumber, the journal and
//! the audit log. Each must return a value or an error, never panic; parsed values must
//! re-serialise to something that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = fileca::index::Header::parse(data) {
        assert_eq!(fileca::index::Header::parse(&header.to_bytes()).ok(), Some(header));
    }
    if let Some(serial) = fileca::serial::Serial::parse_file(data) {
        assert_eq!(serial.to_file(), data);
    }
    if let Ok(journal) = fileca::store::journal::Journal::parse(data) {
        assert_eq!(fileca::store::journal::Journal::parse(&journal.to_bytes()).ok(), Some(journal));
    }
    let _ = fileca::audit::verify(data, 3, "");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fileca::serial::Serial::parse_user(text);
    }
});
