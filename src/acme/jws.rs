//! JWS as ACME uses it (RFC 8555 6.2, RFC 7515 flattened JSON): the protected header's `alg`,
//! `nonce`, `url`, and exactly one of `jwk` (newAccount) or `kid` (every other request), a
//! signature by the account key with ES256, ES384, RS256 or EdDSA (Ed25519), verified with
//! ring. The JWK thumbprint is RFC 7638's.
//!
//! [`parse`] checks the form and the rules that need no state; the caller then checks the
//! nonce and the url and looks up the key ([`Parsed::verify`]).

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::problem::{Kind, Problem, problem};
use super::{b64url, b64url_decode};

/// The largest JWS body read (a CSR of a 4096-bit RSA key with many names fits).
pub const MAX_BODY: usize = 64 * 1024;

/// An account's public key as a JWK (RFC 7517), only the members that define it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum Jwk {
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
    #[serde(rename = "OKP")]
    Okp { crv: String, x: String },
}

impl Jwk {
    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order,
    /// without whitespace, base64url.
    pub fn thumbprint(&self) -> String {
        let canonical = match self {
            Jwk::Ec { crv, x, y } => {
                format!(
                    r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                    q(crv),
                    q(x),
                    q(y)
                )
            }
            Jwk::Rsa { n, e } => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, q(e), q(n)),
            Jwk::Okp { crv, x } => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, q(crv), q(x)),
        };
        b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// Reads a JWK from the header's `jwk` member: one of the key types and curves fileca
    /// verifies, members base64url of the right sizes.
    pub fn from_value(v: &Value) -> Result<Jwk, Problem> {
        let jwk: Jwk = serde_json::from_value(v.clone()).map_err(|e| {
            problem(
                Kind::BadSignatureAlgorithm,
                format!("jwk is not an EC, RSA or OKP public key: {e}"),
            )
        })?;
        let len = |s: &str| b64url_decode(s).map(|b| b.len());
        let ok = match &jwk {
            Jwk::Ec { crv, x, y } if crv == "P-256" => len(x) == Some(32) && len(y) == Some(32),
            Jwk::Ec { crv, x, y } if crv == "P-384" => len(x) == Some(48) && len(y) == Some(48),
            Jwk::Okp { crv, x } if crv == "Ed25519" => len(x) == Some(32),
            Jwk::Rsa { n, e } => {
                len(n).is_some_and(|n| (256..=1024).contains(&n)) && len(e).is_some()
            }
            _ => false,
        };
        match ok {
            true => Ok(jwk),
            false => Err(problem(
                Kind::BadSignatureAlgorithm,
                "jwk: supported are EC P-256 and P-384, RSA 2048 to 8192 bits, OKP Ed25519",
            )),
        }
    }

    /// Is this the public key of `spki` (a certificate's)? revokeCert signed with the
    /// certificate's own key (RFC 8555 7.6): the same curve point, Ed25519 key, or RSA modulus
    /// and exponent (leading zeros aside).
    pub fn is_key_of(&self, spki: &x509_parser::x509::SubjectPublicKeyInfo) -> bool {
        use x509_parser::public_key::PublicKey;
        let d = |s: &str| b64url_decode(s).unwrap_or_default();
        let trim = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|x| *x == 0).collect() };
        let raw = spki.subject_public_key.data.as_ref();
        match (self, spki.parsed()) {
            (Jwk::Ec { x, y, .. }, Ok(PublicKey::EC(_))) => {
                raw == [&[4u8][..], &d(x), &d(y)].concat()
            }
            (Jwk::Okp { x, .. }, _) => {
                spki.algorithm.algorithm.to_id_string() == "1.3.101.112" && raw == d(x)
            }
            (Jwk::Rsa { n, e }, Ok(PublicKey::RSA(k))) => {
                trim(k.modulus) == trim(&d(n)) && trim(k.exponent) == trim(&d(e))
            }
            _ => false,
        }
    }

    /// The `alg` this key signs with.
    fn alg(&self) -> &'static str {
        match self {
            Jwk::Ec { crv, .. } if crv == "P-384" => "ES384",
            Jwk::Ec { .. } => "ES256",
            Jwk::Rsa { .. } => "RS256",
            Jwk::Okp { .. } => "EdDSA",
        }
    }

    /// Does `sig` sign `msg` with this key?
    fn verifies(&self, msg: &[u8], sig: &[u8]) -> bool {
        let d = |s: &str| b64url_decode(s).unwrap_or_default();
        match self {
            Jwk::Ec { crv, x, y } => {
                let alg: &dyn signature::VerificationAlgorithm = match crv.as_str() {
                    "P-384" => &signature::ECDSA_P384_SHA384_FIXED,
                    _ => &signature::ECDSA_P256_SHA256_FIXED,
                };
                let point = [&[4u8][..], &d(x), &d(y)].concat();
                UnparsedPublicKey::new(alg, point).verify(msg, sig).is_ok()
            }
            Jwk::Okp { x, .. } => UnparsedPublicKey::new(&signature::ED25519, d(x))
                .verify(msg, sig)
                .is_ok(),
            Jwk::Rsa { n, e } => RsaPublicKeyComponents { n: d(n), e: d(e) }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
        }
    }
}

/// A JSON string literal.
fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Who signs a request: a new key (newAccount) or an account (`kid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    Jwk(Jwk),
    Kid(String),
}

/// A request whose form is checked and whose signature is not yet.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub alg: String,
    pub nonce: String,
    pub url: String,
    pub signer: Signer,
    /// The payload's bytes; empty for POST-as-GET.
    pub payload: Vec<u8>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses a flattened JWS (RFC 8555 6.2): the form, `alg` one fileca verifies, `nonce`,
/// `url`, and exactly one of `jwk` and `kid`.
pub fn parse(body: &[u8]) -> Result<Parsed, Problem> {
    parse_as(body, true)
}

/// Parses the inner JWS of a key change (RFC 8555 7.3.5): as [`parse`], but it must have a
/// `jwk` (the new key) and no `nonce`.
pub fn parse_inner(body: &[u8]) -> Result<Parsed, Problem> {
    let inner = parse_as(body, false)?;
    match inner.signer {
        Signer::Jwk(_) => Ok(inner),
        Signer::Kid(_) => Err(problem(
            Kind::Malformed,
            "the inner JWS of a key change is signed with the new key's jwk",
        )),
    }
}

/// [`parse`] with a `nonce` required (`outer`) or forbidden (a key change's inner JWS).
fn parse_as(body: &[u8], outer: bool) -> Result<Parsed, Problem> {
    let malformed = |d: &str| problem(Kind::Malformed, d.to_string());
    if body.len() > MAX_BODY {
        return Err(malformed("the request body is too large"));
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Flat {
        protected: String,
        payload: String,
        signature: String,
    }
    let flat: Flat = serde_json::from_slice(body)
        .map_err(|e| malformed(&format!("not a flattened JWS object: {e}")))?;
    let header_bytes =
        b64url_decode(&flat.protected).ok_or_else(|| malformed("protected is not base64url"))?;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&header_bytes)
        .map_err(|_| malformed("the protected header is not a JSON object"))?;
    let text = |k: &str| -> Result<String, Problem> {
        match header.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(malformed(&format!("protected header {k} is not a string"))),
            None => Err(malformed(&format!("the protected header has no {k}"))),
        }
    };
    // No JWS extension is understood (RFC 7515 4.1.11: a `crit` header must then be refused),
    // and unencoded payloads (RFC 7797 `b64`) are not ACME's.
    if header.contains_key("crit") || header.contains_key("b64") {
        return Err(malformed("crit and b64 are not supported in ACME requests"));
    }
    let alg = text("alg")?;
    if !["ES256", "ES384", "RS256", "EdDSA"].contains(&alg.as_str()) {
        return Err(problem(
            Kind::BadSignatureAlgorithm,
            format!(
                "alg {} is not accepted: use ES256, ES384, RS256 or EdDSA",
                q(&alg)
            ),
        ));
    }
    let nonce = match (outer, header.contains_key("nonce")) {
        (true, _) => text("nonce").map_err(|p| problem(Kind::BadNonce, p.detail))?,
        (false, false) => String::new(),
        (false, true) => return Err(malformed("the inner JWS of a key change has no nonce")),
    };
    let url = text("url")?;
    let signer = match (header.get("jwk"), header.get("kid")) {
        (Some(jwk), None) => Signer::Jwk(Jwk::from_value(jwk)?),
        (None, Some(Value::String(kid))) => Signer::Kid(kid.clone()),
        (None, Some(_)) => return Err(malformed("kid is not a string")),
        _ => {
            return Err(malformed(
                "the protected header must hold exactly one of jwk and kid",
            ));
        }
    };
    let payload = match flat.payload.as_str() {
        "" => Vec::new(),
        p => b64url_decode(p).ok_or_else(|| malformed("payload is not base64url"))?,
    };
    let signature =
        b64url_decode(&flat.signature).ok_or_else(|| malformed("signature is not base64url"))?;
    Ok(Parsed {
        alg,
        nonce,
        url,
        signer,
        payload,
        signing_input: format!("{}.{}", flat.protected, flat.payload).into_bytes(),
        signature,
    })
}

impl Parsed {
    /// Checks that `url` is the URL the request was sent to (RFC 8555 6.4) and that the
    /// signature is `key`'s with the header's `alg`.
    pub fn verify(&self, request_url: &str, key: &Jwk) -> Result<(), Problem> {
        if self.url != request_url {
            return Err(problem(
                Kind::Unauthorized,
                format!(
                    "the JWS url {} is not the URL this request was sent to ({})",
                    q(&self.url),
                    q(request_url)
                ),
            ));
        }
        if key.alg() != self.alg {
            return Err(problem(
                Kind::BadSignatureAlgorithm,
                format!(
                    "alg {} does not match the account key ({})",
                    self.alg,
                    key.alg()
                ),
            ));
        }
        match key.verifies(&self.signing_input, &self.signature) {
            true => Ok(()),
            false => Err(problem(
                Kind::Malformed,
                "the JWS signature does not verify",
            )),
        }
    }

    /// The payload as JSON; an empty payload (POST-as-GET) is refused where one is needed.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Problem> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| problem(Kind::Malformed, format!("the payload: {e}")))
    }

    /// Is this a POST-as-GET (an empty payload, RFC 8555 6.3)?
    pub fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }
}

#[cfg(test)]
mod tests;
