//! `ca serve --acme`: an ACME server (RFC 8555) over HTTPS beside the OCSP/CRL listener
//! (SPEC.md ACME-*). Unlike plain `serve` it holds the CA key: the passphrase is read once at
//! start and kept only in this (non-dumpable) process, and every change — an account, an
//! order, a validated challenge, an issued certificate — is a journaled commit under the
//! state directory's lock, like any `ca` command's (ops.rs). The server's own TLS certificate
//! is issued by this CA at start when it is missing or in the last third of its validity
//! (tls.rs). handlers.rs answers the resources; validate.rs does http-01 and dns-01 (with
//! dns.rs), alpn.rs tls-alpn-01; account.rs, revoke.rs the account changes and revokeCert.

pub mod account;
pub mod alpn;
pub mod dns;
pub mod handlers;
pub mod ops;
pub mod revoke;
pub mod tls;
pub mod validate;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::acme::nonce::Book;
use crate::cli::AcmeArgs;
use crate::error::{Error, Result};

/// Everything the ACME handlers share.
pub struct Acme {
    pub dir: PathBuf,
    pub open: crate::store::OpenOptions,
    pub pass: crate::passphrase::Source,
    pub env: crate::Env,
    pub listen: SocketAddr,
    pub target: validate::Target,
    pub tls: Arc<rustls::ServerConfig>,
    /// `--acme-eab-required`: newAccount needs an External Account Binding.
    pub eab_required: bool,
    /// `--acme-terms URL`: the terms of service a new account must agree to.
    pub terms: Option<String>,
    /// The certificate served, replaced when it is renewed.
    current: Arc<tls::Current>,
    /// What the TLS certificate is renewed with: the command's context and the hosts.
    ctx: crate::cmd::Context,
    hosts: Vec<String>,
    nonces: Mutex<Book>,
    /// New orders per account per hour (`--acme-order-limit`, ACME-LIMITS).
    pub order_limit: Mutex<crate::acme::limit::Window>,
    /// One ACME commit at a time in this process (the lock orders it with other commands).
    writer: Mutex<()>,
}

impl Acme {
    /// A fresh nonce, remembered until used.
    pub fn nonce(&self) -> String {
        let random = self.random16();
        self.nonces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .issue(random)
    }

    /// Takes `nonce` once.
    pub fn take_nonce(&self, nonce: &str) -> bool {
        self.nonces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .consume(nonce)
    }

    /// A fresh id for an account, order, authorization or token: 16 random bytes, base64url.
    pub fn fresh_id(&self) -> String {
        crate::acme::b64url(&self.random16())
    }

    /// Renews the TLS certificate if it needs it (tls.rs) and serves the result.
    fn renew_tls(&self) -> Result<()> {
        let pair = tls::ensure(&self.ctx, &self.dir, &self.hosts)?;
        self.current.replace(&pair)
    }

    fn random16(&self) -> [u8; 16] {
        // The system's generator; if it failed, the serial rng of the command (never zeros).
        ring::rand::generate::<[u8; 16]>(&ring::rand::SystemRandom::new())
            .map(|r| r.expose())
            .or_else(|_| self.env.rng.bytes::<16>())
            .unwrap_or_else(|_| std::process::abort())
    }
}

/// Prepares `serve --acme` for the state directory `dir`: the passphrase read once, the TLS
/// certificate issued if needed, the TLS configuration built.
pub fn prepare(args: &AcmeArgs, ctx: &super::super::Context, dir: PathBuf) -> Result<Acme> {
    ctx.passphrase_ahead()?;
    let hosts = match args.acme_host.is_empty() {
        true => vec!["localhost".to_string()],
        false => args.acme_host.clone(),
    };
    let pair = tls::ensure(ctx, &dir, &hosts).inspect_err(|e| {
        if matches!(e, Error::Refusal(_)) {
            // The default `localhost` is outside a name-constrained sub-CA's names.
            crate::term::warn(&format!(
                "note: the ACME server's TLS certificate names --acme-host ({}); give \
                 --acme-host NAME with a name this CA may certify",
                crate::term::escape(&hosts.join(", "))
            ));
        }
    })?;
    let current = Arc::new(tls::Current::new(&pair)?);
    let tls = tls::config(current.clone())?;
    Ok(Acme {
        dir,
        open: ctx.open.clone(),
        pass: ctx.pass.clone(),
        env: ctx.env.clone(),
        listen: args.acme_listen,
        target: validate::Target {
            http_port: args.acme_http_port,
            tls_port: args.acme_tls_port,
            resolver: args.acme_resolver,
        },
        tls: Arc::new(tls),
        eab_required: args.acme_eab_required,
        terms: args.acme_terms.clone(),
        current,
        ctx: ctx.clone(),
        hosts,
        nonces: Mutex::new(Book::new(crate::acme::nonce::CAPACITY)),
        order_limit: Mutex::new(crate::acme::limit::Window::new(
            args.acme_order_limit,
            time::Duration::hours(1),
        )),
        writer: Mutex::new(()),
    })
}

/// Serves ACME over HTTPS until SIGTERM/SIGINT (or `exit_after`).
pub async fn serve(acme: Arc<Acme>, exit_after: Option<Duration>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(acme.listen)
        .await
        .map_err(|e| Error::io(format!("--acme-listen {}", acme.listen), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(format!("--acme-listen {}", acme.listen), e))?;
    // The URL clients use names the first --acme-host, which the certificate covers (review
    // finding: the listen address was shown, which the certificate does not name).
    let host = match acme.hosts[0].parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => format!("[{}]", acme.hosts[0]),
        _ => acme.hosts[0].clone(),
    };
    crate::term::warn(&format!(
        "serve: ACME directory at https://{host}:{}/acme/directory (listening on {bound})",
        bound.port()
    ));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::bug_in("installing the SIGTERM handler", e))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(acme.tls.clone());
    let permits = Arc::new(tokio::sync::Semaphore::new(super::http::MAX_CONNECTIONS));
    let deadline = async {
        match exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let renewer = tokio::spawn(renew_loop(acme.clone()));
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut deadline => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let (acme, acceptor) = (acme.clone(), acceptor.clone());
        tokio::spawn(async move {
            let life = super::http::MAX_CONNECTION_LIFE;
            let _ = tokio::time::timeout(life, connection(acme, acceptor, stream)).await;
            drop(permit);
        });
    }
    renewer.abort();
    Ok(())
}

/// Checks the TLS certificate every [`tls::RENEW_CHECK`] and renews it in its last third
/// (SPEC.md ACME-TLS); a failure is logged and tried again at the next check.
async fn renew_loop(acme: Arc<Acme>) {
    let mut tick = tokio::time::interval(tls::RENEW_CHECK);
    // The first tick is at once: the certificate was checked at start.
    tick.tick().await;
    loop {
        tick.tick().await;
        let a = acme.clone();
        let outcome = tokio::task::spawn_blocking(move || a.renew_tls()).await;
        if let Ok(Err(e)) = outcome {
            crate::term::warn(&format!(
                "serve: acme: renewing the TLS certificate: {}",
                crate::term::escape(&e.to_string())
            ));
        }
    }
}

/// One TLS connection: handshake within the header timeout, then HTTP/1.1.
async fn connection(
    acme: Arc<Acme>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
) {
    let tls = match tokio::time::timeout(super::http::HEADER_TIMEOUT, acceptor.accept(stream)).await
    {
        Ok(Ok(s)) => s,
        _ => return,
    };
    let service = hyper::service::service_fn(move |req| {
        let acme = acme.clone();
        async move { Ok::<_, Infallible>(handle(acme, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(super::http::HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// Reads the body (at most the JWS limit, within the body timeout) and answers on a blocking
/// thread: the handlers take the lock, sign and validate challenges.
async fn handle(acme: Arc<Acme>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| acme.listen.to_string());
    let limited = Limited::new(req.into_body(), crate::acme::jws::MAX_BODY);
    let body = match tokio::time::timeout(super::http::BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        _ => {
            return respond(handlers::Reply {
                status: 413,
                headers: Vec::new(),
                body: Vec::new(),
            });
        }
    };
    // The Host a client sent is only used to name URLs back to it; it must look like one.
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !host_ok {
        return respond(handlers::Reply {
            status: 400,
            headers: Vec::new(),
            body: Vec::new(),
        });
    }
    let base = format!("https://{host}");
    let reply =
        tokio::task::spawn_blocking(move || handlers::answer(&acme, &method, &path, &base, &body))
            .await
            .unwrap_or_else(|_| handlers::Reply {
                status: 500,
                headers: Vec::new(),
                body: Vec::new(),
            });
    respond(reply)
}

fn respond(reply: handlers::Reply) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            r.headers_mut().append(name, v);
        }
    }
    r
}
