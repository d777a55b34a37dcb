//! The CSR gate (PEM/DER decoding, PKCS#10 parsing, allowlists, signature, names) on
//! arbitrary bytes: it must return a value or a refusal, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fileca::pki::csr::check(data);
    let _ = fileca::pki::pem::decode_one(data, &["CERTIFICATE"], 1 << 20);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fileca::pki::names::Subject::parse(text);
        let _ = fileca::pki::names::San::parse(text);
        let _ = fileca::pki::constraints::Subtree::parse(text);
    }
});
