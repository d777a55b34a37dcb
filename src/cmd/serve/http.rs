//! The HTTP side of `ca serve`: accepting connections (bounded in number, with header and
//! body timeouts and a request size limit), routing to the CRL, the CA certificate, OCSP,
//! `/healthz` and `/metrics` — 404 for anything else — and a graceful stop on SIGTERM/SIGINT.
//!
//! OCSP (RFC 6960 appendix A, RFC 5019): POST `application/ocsp-request`, or GET with the
//! base64 request (URL-encoded) after the OCSP path. A request without a nonce is answered
//! from a response cached for the snapshot it was signed from (refreshed after
//! [`REFRESH`]); a request with a nonce is signed for it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use time::OffsetDateTime;

use super::Shared;
use super::load::Served;
use crate::error::{Error, Result};
use crate::pki::ocsp::{self, ErrorStatus, Status};

/// How long a response without a nonce is valid (its nextUpdate after thisUpdate).
pub const VALIDITY: time::Duration = time::Duration::hours(1);
/// After how long a cached response is signed again (and the most HTTP caches may keep it).
pub const REFRESH: time::Duration = time::Duration::minutes(5);
/// The most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time allowed for a request's headers, and for its body.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one connection keeps its slot, whatever it does (SERVE-LIMITS).
pub const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(120);
/// The most cached responses (one per CertID set asked about); the cache is emptied when full.
/// A response and its key are at most ~4 KB (16 CertIDs and the responder certificate), so the
/// cache stays under ~40 MB whatever is asked (review finding: 100,000 allowed ~470 MB).
const MAX_CACHED: usize = 10_000;

/// A response signed for a request without a nonce.
#[derive(Clone)]
pub struct Cached {
    der: Bytes,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
}

type Body = Full<Bytes>;

/// Listens on `listen` and serves until a signal (or `exit_after`).
pub async fn serve(
    listen: SocketAddr,
    shared: Arc<Shared>,
    exit_after: Option<Duration>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("--listen {listen}"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(format!("--listen {listen}"), e))?;
    crate::term::warn(&format!("serve: listening on http://{bound}"));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::bug_in("installing the SIGTERM handler", e))?;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let deadline = async {
        match exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut deadline => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // EMFILE and friends: wait a moment rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut deadline => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // A connection that sends nothing within HEADER_TIMEOUT gives its slot back: hyper's
            // header timeout starts only once it knows the protocol (review finding: 1,024
            // silent connections stopped the server for good).
            let mut first = [0u8; 1];
            match tokio::time::timeout(HEADER_TIMEOUT, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return drop(permit),
            }
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(128)
                .max_header_list_size(64 * 1024);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            // Nor does one keep a slot longer than MAX_CONNECTION_LIFE (an HTTP/2 client that
            // sent its preface and then nothing; an idle keep-alive is closed by hyper sooner).
            let _ = tokio::time::timeout(MAX_CONNECTION_LIFE, watcher.watch(conn)).await;
            drop(permit);
        });
    }
    drop(listener);
    crate::term::warn("serve: stopping (finishing the requests in progress)");
    tokio::select! {
        _ = graceful.shutdown() => {},
        _ = tokio::time::sleep(Duration::from_secs(5)) => {},
    }
    crate::term::warn("serve: stopped");
    Ok(())
}

/// Routes one request and counts it.
async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    let (route, response) = route(shared, req).await;
    shared
        .metrics
        .request(route, response.status().as_u16(), start.elapsed());
    response
}

/// What a path is, for one request.
enum Target {
    Crl(Arc<Served>),
    Ca(Arc<Served>),
    /// The path of a CA that has no verified snapshot.
    Unavailable,
    /// The OCSP path, and the rest of the path after it (a GET request).
    Ocsp(String),
    Healthz,
    Metrics,
    None,
}

async fn route(shared: &Shared, req: Request<Incoming>) -> (&'static str, Response<Body>) {
    let path = req.uri().path().to_string();
    let target = find(shared, &path);
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    let head = method == Method::HEAD;
    let now = OffsetDateTime::now_utc();
    match target {
        Target::Crl(s) if get => ("crl", crl(&req, &s, now, head)),
        Target::Ca(s) if get => ("ca", ca_cert(&req, &s, head)),
        Target::Unavailable if get => (
            "unavailable",
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the CA's state cannot be verified now\n",
            ),
        ),
        Target::Healthz if get => ("healthz", healthz(shared)),
        Target::Metrics if get => {
            let text = match shared.slots.read() {
                Ok(slots) => shared.metrics.render(&slots),
                Err(_) => String::new(),
            };
            let mut r = plain(StatusCode::OK, &text);
            set(&mut r, header::CONTENT_TYPE, "text/plain; version=0.0.4");
            ("metrics", r)
        }
        Target::Ocsp(rest) if method == Method::POST => {
            let body = tokio::time::timeout(
                BODY_TIMEOUT,
                Limited::new(req.into_body(), ocsp::MAX_REQUEST_BYTES).collect(),
            )
            .await;
            match body {
                Ok(Ok(b)) if rest.is_empty() => {
                    ("ocsp", ocsp_response(shared, &b.to_bytes(), now, false))
                }
                Ok(Ok(_)) => ("ocsp", plain(StatusCode::NOT_FOUND, "not found\n")),
                Ok(Err(_)) => (
                    "ocsp",
                    plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large\n"),
                ),
                Err(_) => (
                    "ocsp",
                    plain(StatusCode::REQUEST_TIMEOUT, "request body timed out\n"),
                ),
            }
        }
        Target::Ocsp(rest) if get && !rest.is_empty() => {
            match percent_decode(&rest).and_then(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim_end_matches('\n'))
                    .ok()
            }) {
                Some(der) => ("ocsp", ocsp_response(shared, &der, now, true)),
                None => (
                    "ocsp",
                    ocsp_bytes(
                        ocsp::error_response(ErrorStatus::MalformedRequest).into(),
                        shared,
                        "malformedRequest",
                    ),
                ),
            }
        }
        Target::None => ("other", plain(StatusCode::NOT_FOUND, "not found\n")),
        _ => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            set(&mut r, header::ALLOW, "GET, HEAD, POST");
            ("other", r)
        }
    }
}

/// Which served file or service `path` names.
fn find(shared: &Shared, path: &str) -> Target {
    match path {
        "/healthz" => return Target::Healthz,
        "/metrics" => return Target::Metrics,
        _ => {}
    }
    let Ok(slots) = shared.slots.read() else {
        return Target::None;
    };
    for slot in slots.iter() {
        let Some(routes) = slot.routes() else {
            continue;
        };
        let crl = routes.crl.iter().any(|p| p == path);
        let ca = routes.ca.iter().any(|p| p == path);
        match (&slot.served, crl, ca) {
            (Some(s), true, _) => return Target::Crl(s.clone()),
            (Some(s), _, true) => return Target::Ca(s.clone()),
            (None, true, _) | (None, _, true) => return Target::Unavailable,
            _ => {}
        }
    }
    for slot in slots.iter() {
        let Some(routes) = slot.routes() else {
            continue;
        };
        for p in &routes.ocsp {
            if path == p {
                return Target::Ocsp(String::new());
            }
            let base = p.trim_end_matches('/');
            if let Some(rest) = path.strip_prefix(base).and_then(|r| r.strip_prefix('/'))
                && !rest.is_empty()
            {
                return Target::Ocsp(rest.to_string());
            }
        }
    }
    Target::None
}

/// The CRL as DER, its caching bounded by its nextUpdate.
fn crl(req: &Request<Incoming>, s: &Served, now: OffsetDateTime, head: bool) -> Response<Body> {
    let Some(crl) = &s.crl else {
        return plain(
            StatusCode::NOT_FOUND,
            "no CRL has been signed yet (ca crl)\n",
        );
    };
    let max_age = crl
        .next_update
        .map_or(3600, |n| (n - now).whole_seconds().clamp(0, 3600));
    let mut r = file(req, &crl.der, &crl.etag, "application/pkix-crl", head);
    set(&mut r, header::LAST_MODIFIED, &http_date(crl.this_update));
    if let Some(next) = crl.next_update {
        set(&mut r, header::EXPIRES, &http_date(next));
    }
    set(
        &mut r,
        header::CACHE_CONTROL,
        &format!("public, max-age={max_age}, no-transform"),
    );
    r
}

/// ca.crt as DER.
fn ca_cert(req: &Request<Incoming>, s: &Served, head: bool) -> Response<Body> {
    let mut r = file(req, &s.ca_der, &s.ca_etag, "application/pkix-cert", head);
    set(
        &mut r,
        header::CACHE_CONTROL,
        "public, max-age=3600, no-transform",
    );
    r
}

/// A served file, or 304 when the client has it (If-None-Match).
fn file(
    req: &Request<Incoming>,
    body: &[u8],
    etag: &str,
    kind: &str,
    head: bool,
) -> Response<Body> {
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if cached {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if head {
        let mut r = Response::new(Full::new(Bytes::new()));
        set(&mut r, header::CONTENT_LENGTH, &body.len().to_string());
        r
    } else {
        Response::new(Full::new(Bytes::copy_from_slice(body)))
    };
    set(&mut r, header::CONTENT_TYPE, kind);
    set(&mut r, header::ETAG, etag);
    r
}

/// 200 when every directory's newest state is served, else 503 naming what is not.
fn healthz(shared: &Shared) -> Response<Body> {
    let Ok(slots) = shared.slots.read() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
    };
    match super::metrics::health(&slots, OffsetDateTime::now_utc()) {
        (true, text) => plain(StatusCode::OK, &text),
        (false, text) => plain(StatusCode::SERVICE_UNAVAILABLE, &text),
    }
}

/// Answers an OCSP request (DER).
fn ocsp_response(shared: &Shared, der: &[u8], now: OffsetDateTime, get: bool) -> Response<Body> {
    let Ok(request) = ocsp::parse_request(der) else {
        let malformed = ocsp::error_response(ErrorStatus::MalformedRequest);
        return ocsp_bytes(malformed.into(), shared, "malformedRequest");
    };
    let (served, confirmed_at) = match issuer_of(shared, &request) {
        Ok(s) => s,
        Err(status) => {
            let kind = match status {
                ErrorStatus::TryLater => "tryLater",
                _ => "unauthorized",
            };
            return ocsp_bytes(ocsp::error_response(status).into(), shared, kind);
        }
    };
    let Some(responder) = served.responder.as_ref().filter(|r| r.not_after > now) else {
        return ocsp_bytes(
            ocsp::error_response(ErrorStatus::TryLater).into(),
            shared,
            "tryLater",
        );
    };
    let key: Vec<u8> = served
        .generation
        .to_be_bytes()
        .into_iter()
        .chain(served.hashes_key())
        .chain(request.ids.iter().flat_map(|id| id.der.iter().copied()))
        .collect();
    if request.nonce.is_none()
        && let Some(c) = shared.cache.lock().ok().and_then(|c| c.get(&key).cloned())
        && now < c.this_update + REFRESH
    {
        shared.metrics.ocsp("cached");
        return ocsp_ok(c, now, get);
    }
    let answers: Vec<(&ocsp::CertId, Status)> = request
        .ids
        .iter()
        .map(|id| {
            let status = id
                .serial
                .as_ref()
                .and_then(|s| served.statuses.get(s).copied())
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
        let stale = ocsp::error_response(ErrorStatus::TryLater);
        return ocsp_bytes(stale.into(), shared, "tryLater");
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
            return ocsp_bytes(
                ocsp::error_response(ErrorStatus::InternalError).into(),
                shared,
                "internalError",
            );
        }
    };
    let cached = Cached {
        der,
        this_update: times.this_update,
        next_update: times.next_update,
    };
    if request.nonce.is_none()
        && let Ok(mut cache) = shared.cache.lock()
    {
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, cached.clone());
    }
    // A response to a nonce is for this request only.
    ocsp_ok(cached, now, get && request.nonce.is_none())
}

impl Served {
    /// The issuer's key hash, to tell apart cache entries of the served CAs.
    fn hashes_key(&self) -> Vec<u8> {
        self.ca_etag.as_bytes().to_vec()
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

/// A successful OCSP response; a GET without a nonce gets RFC 5019's caching headers.
fn ocsp_ok(c: Cached, now: OffsetDateTime, cacheable: bool) -> Response<Body> {
    let etag = super::load::etag(&c.der);
    let mut r = Response::new(Full::new(c.der));
    set(&mut r, header::CONTENT_TYPE, "application/ocsp-response");
    if cacheable {
        let max_age = (c.this_update + REFRESH - now)
            .whole_seconds()
            .clamp(0, (c.next_update - now).whole_seconds().max(0));
        set(
            &mut r,
            header::CACHE_CONTROL,
            &format!("max-age={max_age}, public, no-transform, must-revalidate"),
        );
        set(&mut r, header::LAST_MODIFIED, &http_date(c.this_update));
        set(&mut r, header::EXPIRES, &http_date(c.next_update));
        set(&mut r, header::ETAG, &etag);
    } else {
        set(&mut r, header::CACHE_CONTROL, "no-store");
    }
    r
}

/// An OCSP error status (HTTP 200: the answer is in the body, RFC 6960 A.1).
fn ocsp_bytes(der: Bytes, shared: &Shared, kind: &'static str) -> Response<Body> {
    shared.metrics.ocsp(kind);
    let mut r = Response::new(Full::new(der));
    set(&mut r, header::CONTENT_TYPE, "application/ocsp-response");
    set(&mut r, header::CACHE_CONTROL, "no-store");
    r
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(text.as_bytes())));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    r
}

fn set(r: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// An IMF-fixdate (RFC 9110 5.6.7).
fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// `%XX` decoding of a path segment; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
