//! The HTTP side of `ca serve`: accepting connections (bounded in number, with header and
//! body timeouts and a request size limit), routing to the CRL, the CA certificate, OCSP,
//! `/healthz` and `/metrics` — 404 for anything else — and a graceful stop on SIGTERM/SIGINT.
//!
//! OCSP (RFC 6960 appendix A, RFC 5019): POST `application/ocsp-request`, or GET with the
//! base64 request (URL-encoded) after the OCSP path; answer.rs answers it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use time::OffsetDateTime;

use super::load::Served;
use super::{Shared, answer};
use crate::error::{Error, Result};
use crate::pki::ocsp;

/// The most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time allowed for a request's headers, and for its body.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one connection keeps its slot, whatever it does (SERVE-LIMITS).
pub const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(120);
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

impl Target {
    /// The methods this path answers: the Allow header of its 405 (RFC 9110 15.5.6).
    fn allow(&self) -> &'static str {
        match self {
            Target::Ocsp(rest) if rest.is_empty() => "POST",
            _ => "GET, HEAD",
        }
    }
}

async fn route(shared: &Shared, req: Request<Incoming>) -> (&'static str, Response<Body>) {
    let target = find(shared, req.uri().path());
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
        Target::Ocsp(rest) if method == Method::POST && rest.is_empty() => {
            let body = tokio::time::timeout(
                BODY_TIMEOUT,
                Limited::new(req.into_body(), ocsp::MAX_REQUEST_BYTES).collect(),
            )
            .await;
            match body {
                Ok(Ok(b)) => {
                    let answer = answer::answer(shared, &b.to_bytes(), now);
                    ("ocsp", ocsp_http(answer, now, false))
                }
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
            let answer = answer::answer_get(shared, &rest, now);
            ("ocsp", ocsp_http(answer, now, true))
        }
        Target::None => ("other", plain(StatusCode::NOT_FOUND, "not found\n")),
        other => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            set(&mut r, header::ALLOW, other.allow());
            ("other", r)
        }
    }
}

/// Which served file or service `path` names. The CRL and CA certificate paths come first;
/// then the longest OCSP path that `path` is, or starts with followed by `/` — an OCSP URL
/// without a path is the root, under which every other path is an OCSP GET (SERVE-OCSP).
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
    let mut best: Option<(usize, &str)> = None;
    for routes in slots.iter().filter_map(|s| s.routes()) {
        for p in &routes.ocsp {
            let base = p.trim_end_matches('/');
            let rest = match path == p {
                true => Some(""),
                false => path.strip_prefix(base).and_then(|r| r.strip_prefix('/')),
            };
            if let Some(rest) = rest
                && best.is_none_or(|(len, _)| base.len() > len)
            {
                best = Some((base.len(), rest));
            }
        }
    }
    best.map_or(Target::None, |(_, rest)| Target::Ocsp(rest.to_string()))
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
    let validators = (crl.etag.as_str(), crl.this_update);
    let mut r = file(req, &crl.der, validators, "application/pkix-crl", head);
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

/// ca.crt as DER; its Last-Modified is its notBefore.
fn ca_cert(req: &Request<Incoming>, s: &Served, head: bool) -> Response<Body> {
    let validators = (s.ca_etag.as_str(), s.ca_not_before);
    let mut r = file(req, &s.ca_der, validators, "application/pkix-cert", head);
    set(
        &mut r,
        header::CACHE_CONTROL,
        "public, max-age=3600, no-transform",
    );
    r
}

/// A served file with its `ETag` and `Last-Modified`, or 304 when the client has it (RFC
/// 9110 13.1): `If-None-Match` (weak comparison, `*`) decides when present; otherwise
/// `If-Modified-Since` at or after Last-Modified.
fn file(
    req: &Request<Incoming>,
    body: &[u8],
    (etag, modified): (&str, OffsetDateTime),
    kind: &str,
    head: bool,
) -> Response<Body> {
    let headers = req.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let cached = match text(header::IF_NONE_MATCH) {
        Some(tags) => tags.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
        }),
        None => text(header::IF_MODIFIED_SINCE)
            .and_then(parse_http_date)
            .is_some_and(|since| modified.replace_nanosecond(0).unwrap_or(modified) <= since),
    };
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
    set(&mut r, header::LAST_MODIFIED, &http_date(modified));
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

/// An OCSP answer over HTTP (200: an error status is in the body, RFC 6960 A.1); a GET
/// without a nonce gets RFC 5019's caching headers, every other answer `no-store`.
fn ocsp_http(answer: answer::Answer, now: OffsetDateTime, get: bool) -> Response<Body> {
    let mut r = Response::new(Full::new(answer.der()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ocsp-response"),
    );
    match answer {
        answer::Answer::Signed {
            response: c,
            cacheable: true,
        } if get => {
            let max_age = (c.this_update + answer::REFRESH - now)
                .whole_seconds()
                .clamp(0, (c.next_update - now).whole_seconds().max(0));
            let control = format!("max-age={max_age}, public, no-transform, must-revalidate");
            if let Ok(v) = HeaderValue::from_str(&control) {
                h.insert(header::CACHE_CONTROL, v);
            }
            h.insert(header::LAST_MODIFIED, c.last_modified);
            h.insert(header::EXPIRES, c.expires);
            h.insert(header::ETAG, c.etag);
        }
        _ => {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
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
pub fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// An IMF-fixdate (RFC 9110 5.6.7) as `If-Modified-Since` carries it; `None` for another
/// form (the obsolete RFC 850 and asctime forms are ignored, as the header then is).
fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), format)
        .ok()
        .map(|t| t.assume_utc())
}
