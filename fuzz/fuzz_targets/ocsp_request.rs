//! OCSP requests (SPEC.md SERVE-OCSP, what `ca serve` reads from the network) on arbitrary
//! bytes: a request or a typed refusal, never a panic; a request read keeps its bounds. The
//! same bytes as a GET path go through serve's decoder (percent, base64) first.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = fileca::pki::ocsp::parse_request(data) {
        assert!(!r.ids.is_empty() && r.ids.len() <= fileca::pki::ocsp::MAX_CERT_IDS);
    }
    if let Ok(path) = std::str::from_utf8(data)
        && let Some(der) = fileca::cmd::serve::answer::decode_get(path)
    {
        let _ = fileca::pki::ocsp::parse_request(&der);
    }
});
