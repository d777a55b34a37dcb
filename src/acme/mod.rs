//! The ACME protocol (RFC 8555) as values: JWS verification of a client's request
//! ([`jws`]), the nonces the server hands out ([`nonce`]), the accounts, orders and
//! authorizations kept in acme.json and the transitions between their states ([`state`]), and
//! the problem documents the server answers with ([`problem`]).
//!
//! Invariant: nothing here does I/O, reads the clock or draws randomness — time and fresh ids
//! come in as arguments — and nothing here imports the rest of the crate but `pki`, so the
//! serve layer (src/cmd/serve/acme/) and the state model both build on it without a cycle.

pub mod eab;
pub mod jws;
pub mod limit;
pub mod nonce;
pub mod problem;
pub mod state;

use base64::Engine;

/// base64url without padding (RFC 8555 6.1, RFC 7515 2).
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for anything else (padding included).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}
