//! The OCSP answers of `ca serve` (SPEC.md SERVE-OCSP), apart from HTTP: the request's bytes
//! (a POST body, or a GET path decoded by [`decode_get`]) in, an [`Answer`] out — an OCSP
//! error status, or a signed response. A request without a nonce is answered from a response
//! cached for the snapshot it was signed from (refreshed after [`REFRESH`]); a request with a
//! nonce is signed for it.
//!
//! Invariant: every input gives an answer, never a panic (tests/serve_fuzz.rs feeds it random
//! and mutated requests); a `good` comes only from the statuses of a verified snapshot.

use std::sync::Arc;

use base64::Engine;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use time::OffsetDateTime;

use super::Shared;
use super::load::Served;
use crate::pki::ocsp::{self, ErrorStatus, Status};

/// How long a response without a nonce is valid (its nextUpdate after thisUpdate).
pub const VALIDITY: time::Duration = time::Duration::hours(1);
/// After how long a cached response is signed again (and the most HTTP caches may keep it).
pub const REFRESH: time::Duration = time::Duration::minutes(5);
/// The most cached responses (one per CertID set asked about); when full, one entry not used
/// lately makes room for each new one (cache.rs). A response and its key are at most ~4 KB
/// (16 CertIDs and the responder certificate), so the cache stays under ~40 MB whatever is
/// asked (review finding: 100,000 allowed ~470 MB).
pub const MAX_CACHED: usize = 10_000;

/// A signed response, with what its HTTP headers say computed once (the cache hands out
/// clones: the DER and the header values are shared, not copied).
#[derive(Clone)]
pub struct Cached {
    pub der: Bytes,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    pub expires: HeaderValue,
}

/// What an OCSP request is answered with.
pub enum Answer {
    /// An OCSP error status (malformedRequest, unauthorized, tryLater, internalError).
    Error(ErrorStatus),
    /// A successful response; `cacheable` when it answers no nonce (RFC 5019's headers).
    Signed { response: Cached, cacheable: bool },
}

impl Answer {
    /// The OCSPResponse DER.
    pub fn der(&self) -> Bytes {
        match self {
            Answer::Error(s) => Bytes::from(ocsp::error_response(*s)),
            Answer::Signed { response, .. } => response.der.clone(),
        }
    }
}

/// The DER request of a GET (RFC 6960 A.1): the rest of the path after the OCSP path,
/// URL-encoded base64; `None` when it is not.
pub fn decode_get(rest: &str) -> Option<Vec<u8>> {
    let b64 = percent_decode(rest)?;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim_end_matches('\n'))
        .ok()
}

/// Answers a GET: the rest of its path after the OCSP path (`malformedRequest` when it is
/// not URL-encoded base64).
pub fn answer_get(shared: &Shared, rest: &str, now: OffsetDateTime) -> Answer {
    match decode_get(rest) {
        Some(der) => answer(shared, &der, now),
        None => {
            shared.metrics.ocsp("malformedRequest");
            Answer::Error(ErrorStatus::MalformedRequest)
        }
    }
}

/// Answers an OCSP request (DER) at `now`, counting it in the metrics.
pub fn answer(shared: &Shared, der: &[u8], now: OffsetDateTime) -> Answer {
    let answer = answer_uncounted(shared, der, now);
    if let Answer::Error(status) = &answer {
        shared.metrics.ocsp(match status {
            ErrorStatus::MalformedRequest => "malformedRequest",
            ErrorStatus::InternalError => "internalError",
            ErrorStatus::TryLater => "tryLater",
            ErrorStatus::Unauthorized => "unauthorized",
        });
    }
    answer
}

fn answer_uncounted(shared: &Shared, der: &[u8], now: OffsetDateTime) -> Answer {
    let Ok(request) = ocsp::parse_request(der) else {
        return Answer::Error(ErrorStatus::MalformedRequest);
    };
    let (served, confirmed_at) = match issuer_of(shared, &request) {
        Ok(s) => s,
        Err(status) => return Answer::Error(status),
    };
    let Some(responder) = served.responder.as_ref().filter(|r| r.not_after > now) else {
        return Answer::Error(ErrorStatus::TryLater);
    };
    let cacheable = request.nonce.is_none();
    let key: Vec<u8> = served
        .generation
        .to_be_bytes()
        .into_iter()
        .chain(served.ca_etag.bytes())
        .chain(request.ids.iter().flat_map(|id| id.der.iter().copied()))
        .collect();
    if cacheable
        && let Some(c) = shared.cache.lock().ok().and_then(|mut c| c.get(&key))
        && now < c.this_update + REFRESH
    {
        shared.metrics.ocsp("cached");
        return Answer::Signed {
            response: c,
            cacheable,
        };
    }
    let answers: Vec<(&ocsp::CertId, Status)> = request
        .ids
        .iter()
        .map(|id| {
            let status = id
                .serial
                .as_ref()
                .and_then(|s| served.statuses.get(s))
                .unwrap_or(Status::Unknown);
            (id, status)
        })
        .collect();
    for (_, status) in &answers {
        shared.metrics.ocsp(match status {
            Status::Good => "good",
            Status::Revoked { .. } => "revoked",
            Status::Unknown => "unknown",
        });
    }
    let Some(times) =
        crate::model::responder::times_confirmed(responder, confirmed_at, now, VALIDITY)
    else {
        return Answer::Error(ErrorStatus::TryLater);
    };
    let signed = ocsp::sign_response(
        &ocsp::Responder {
            key: &responder.key,
            cert_der: &responder.cert_der,
        },
        &answers,
        request.nonce.as_deref(),
        times,
    );
    let der = match signed {
        Ok(d) => Bytes::from(d),
        Err(e) => {
            crate::term::warn(&format!("serve: signing an OCSP response failed: {e}"));
            return Answer::Error(ErrorStatus::InternalError);
        }
    };
    // RFC 5019's headers go only with a cacheable response: a response to a nonce does not
    // pay for a SHA-256 and two dates it never sends (seen in a profile of the nonce rows).
    let header = |s: &dyn Fn() -> String| match cacheable {
        true => HeaderValue::from_str(&s()).unwrap_or(HeaderValue::from_static("")),
        false => HeaderValue::from_static(""),
    };
    let response = Cached {
        etag: header(&|| super::load::etag(&der)),
        last_modified: header(&|| super::http::http_date(times.this_update)),
        expires: header(&|| super::http::http_date(times.next_update)),
        der,
        this_update: times.this_update,
        next_update: times.next_update,
    };
    if cacheable && let Ok(mut cache) = shared.cache.lock() {
        cache.insert(key, response.clone());
    }
    Answer::Signed {
        response,
        cacheable,
    }
}

/// The served CA every CertID of `request` names: `unauthorized` for an issuer no served
/// directory is (or for CertIDs of two issuers), `tryLater` when it is one whose state
/// cannot be verified now — or when some directory's issuer cannot be known at all.
fn issuer_of(
    shared: &Shared,
    request: &ocsp::Request,
) -> std::result::Result<(Arc<Served>, OffsetDateTime), ErrorStatus> {
    let slots = shared
        .slots
        .read()
        .map_err(|_| ErrorStatus::InternalError)?;
    let first = &request.ids[0];
    let mut unknown_issuer = false;
    for slot in slots.iter() {
        let (hashes, served) = match (&slot.served, &slot.fallback) {
            (Some(s), _) => (&s.hashes, Some(s)),
            (None, Some((_, h))) => (h, None),
            (None, None) => {
                unknown_issuer = true;
                continue;
            }
        };
        if hashes.matches(first) {
            if !request.ids.iter().all(|id| hashes.matches(id)) {
                return Err(ErrorStatus::Unauthorized);
            }
            return served
                .cloned()
                .map(|s| (s, slot.confirmed_at))
                .ok_or(ErrorStatus::TryLater);
        }
    }
    Err(if unknown_issuer {
        ErrorStatus::TryLater
    } else {
        ErrorStatus::Unauthorized
    })
}

/// `%XX` decoding of a path segment; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits, nothing else (`from_str_radix` alone would take "+1").
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
