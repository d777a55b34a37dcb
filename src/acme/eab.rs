//! External Account Binding (RFC 8555 7.3.4): a newAccount carries, in
//! `externalAccountBinding`, a flattened JWS whose payload is the account's JWK, MACed with
//! HS256 by a key the operator handed out (`ca acme eab add`) and named by its key id. Each
//! key binds one account: once used its MAC key is dropped from acme.json.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::b64url_decode;
use super::jws::Jwk;
use super::problem::{Kind, Problem, problem};
use super::state::Eab;

/// Checks the binding `binding` of a newAccount sent to `url` for the account key `jwk`
/// against the unused keys of `keys`: the key id it used.
pub fn verify(
    binding: &Value,
    url: &str,
    jwk: &Jwk,
    keys: &BTreeMap<String, Eab>,
) -> Result<String, Problem> {
    let malformed = |d: &str| problem(Kind::Malformed, format!("externalAccountBinding: {d}"));
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Flat {
        protected: String,
        payload: String,
        signature: String,
    }
    let flat: Flat =
        serde_json::from_value(binding.clone()).map_err(|_| malformed("not a flattened JWS"))?;
    let header: serde_json::Map<String, Value> = b64url_decode(&flat.protected)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the protected header is not base64url JSON"))?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(problem(
            Kind::BadSignatureAlgorithm,
            "externalAccountBinding: alg must be HS256",
        ));
    }
    if header.contains_key("nonce") || header.contains_key("jwk") || header.contains_key("crit") {
        return Err(malformed("the header may hold only alg, kid and url"));
    }
    if header.get("url").and_then(Value::as_str) != Some(url) {
        return Err(malformed("url is not the newAccount URL"));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no kid"))?;
    let key = keys
        .get(kid)
        .and_then(|e| e.key.as_deref())
        .and_then(b64url_decode)
        .ok_or_else(|| {
            problem(
                Kind::Unauthorized,
                "externalAccountBinding: no unused key has this kid (each binds one account)",
            )
        })?;
    let payload: Value = b64url_decode(&flat.payload)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the payload is not base64url JSON"))?;
    let bound = Jwk::from_value(&payload).map_err(|_| malformed("the payload is not a JWK"))?;
    if bound.thumbprint() != jwk.thumbprint() {
        return Err(malformed("the payload is not the account's key"));
    }
    let signature = b64url_decode(&flat.signature).ok_or_else(|| malformed("bad signature"))?;
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let input = format!("{}.{}", flat.protected, flat.payload);
    ring::hmac::verify(&mac, input.as_bytes(), &signature).map_err(|_| {
        problem(
            Kind::Unauthorized,
            "externalAccountBinding: the MAC does not verify with this kid's key",
        )
    })?;
    Ok(kid.to_string())
}
