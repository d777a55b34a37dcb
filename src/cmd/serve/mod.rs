//! `ca serve`: the CA answers at the URLs its certificates name — the CRL, the CA
//! certificate and OCSP — for one or more state directories (SPEC.md SERVE-*).
//!
//! Invariants: serve never loads ca.key, never recovers and never writes a state directory
//! (it opens it with [`crate::store::Session::open_reader`]); it answers only from a snapshot
//! that passed the verification every read command does (VERIFIED-READ), held as an
//! immutable [`load::Served`] value; a state that fails it — a `.journal` waiting, a log
//! edited behind fileca's back — is not served: the last verified snapshot stays, or, without
//! one, the answer is 503 / OCSP `tryLater`, never `good`. A poller notices a new generation
//! within [`POLL`] and loads it; the shared lock is held only while the files are read.
//!
//! hyper 1 on a two-thread tokio runtime does the HTTP (HTTP/1.1, and HTTP/2 over cleartext
//! with prior knowledge); `term` is still the only writer of stderr (the log).

pub mod acme;
pub mod answer;
pub mod cache;
pub mod http;
pub mod load;
pub mod metrics;
pub mod statuses;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use super::Context;
use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::pki::ocsp::IssuerHashes;
use crate::store::OpenOptions;
use load::{Fingerprint, Routes, Served};

/// How often each directory is checked for a new generation: a committed change is served
/// within this (plus the time to load it).
pub const POLL: Duration = Duration::from_millis(200);

/// One served directory: its verified snapshot, if any, and what is known without one.
pub struct Slot {
    pub dir: PathBuf,
    pub served: Option<Arc<Served>>,
    /// Where it is served and which issuer it is, from unverified files, when no verified
    /// snapshot could be had: enough to answer 503 / tryLater for it.
    pub fallback: Option<(Routes, IssuerHashes)>,
    /// Why the files found are not the ones served (an interrupted commit, a state that does
    /// not verify); `None` when the newest state is served.
    pub problem: Option<String>,
    /// When the served snapshot was last confirmed to be the newest state (loaded, or its
    /// files unchanged at a poll): an OCSP answer's thisUpdate.
    pub confirmed_at: OffsetDateTime,
}

impl Slot {
    /// The routes of this directory, verified or not.
    pub fn routes(&self) -> Option<&Routes> {
        match (&self.served, &self.fallback) {
            (Some(s), _) => Some(&s.routes),
            (None, Some((r, _))) => Some(r),
            (None, None) => None,
        }
    }
}

/// What every request handler reads.
pub struct Shared {
    pub slots: RwLock<Vec<Slot>>,
    pub metrics: metrics::Metrics,
    /// Cached responses to requests without a nonce (RFC 5019), per snapshot: keyed by the
    /// generation and the request's CertIDs; bounded, one entry evicted at a time when full;
    /// emptied when a snapshot is replaced.
    pub cache: Mutex<cache::Clock<Vec<u8>, answer::Cached>>,
}

/// Runs `ca serve` until SIGTERM or SIGINT.
pub fn run(args: &ServeArgs, ctx: &Context) -> Result<()> {
    let dirs = match args.dirs.is_empty() {
        true => vec![ctx.dir.clone()],
        false => args.dirs.clone(),
    };
    // ACME (SPEC.md ACME-*): only with --acme is the CA key loaded.
    let key = &args.acme.key;
    if !args.acme.acme && (key.passphrase_file.is_some() || key.pin_file.is_some()) {
        return Err(Error::Usage(
            "--passphrase-file and --pin-file are for serve --acme: plain serve never loads the CA key".into(),
        ));
    }
    let acme = match (args.acme.acme, dirs.as_slice()) {
        (false, _) => None,
        (true, [one]) => {
            crate::store::check_is_state_dir(one)?;
            Some(acme::prepare(&args.acme, ctx, one.clone())?)
        }
        (true, _) => return Err(Error::Usage("--acme serves one DIR".into())),
    };
    serve(
        args.listen,
        dirs,
        ctx.open.clone(),
        (args.exit_after.map(std::time::Duration::from_secs), acme),
    )
}

/// Runs the server until SIGTERM or SIGINT (or `exit_after`).
pub fn serve(
    listen: SocketAddr,
    dirs: Vec<PathBuf>,
    opts: OpenOptions,
    (exit_after, acme): (Option<Duration>, Option<acme::Acme>),
) -> Result<()> {
    // What can never become a CA directory while serve runs is refused at start (review
    // finding: a DIR given as a symlink ran and answered 503 for good): a symlink, a file, a
    // missing directory, a pending sub-CA, a directory without a CA.
    for dir in &dirs {
        crate::store::check_is_state_dir(dir)?;
        load::check_key_readable(dir)?;
    }
    let shared = Arc::new(Shared {
        slots: RwLock::new(
            dirs.iter()
                .map(|d| Slot {
                    dir: d.clone(),
                    served: None,
                    fallback: None,
                    problem: None,
                    confirmed_at: OffsetDateTime::UNIX_EPOCH,
                })
                .collect(),
        ),
        metrics: metrics::Metrics::default(),
        cache: Mutex::new(cache::Clock::new(answer::MAX_CACHED)),
    });
    let mut prints: Vec<Option<Fingerprint>> = vec![None; dirs.len()];
    let mut retry_at = vec![None; dirs.len()];
    poll_once(&shared, &dirs, &opts, &mut prints, &mut retry_at);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::bug_in("starting the server runtime", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(POLL);
                poll_once(&shared, &dirs, &opts, &mut prints, &mut retry_at);
            }
        })
    };
    let result = runtime.block_on(async {
        match acme {
            None => http::serve(listen, shared, exit_after).await,
            Some(a) => {
                let (r, a) = tokio::join!(
                    http::serve(listen, shared, exit_after),
                    acme::serve(std::sync::Arc::new(a), exit_after)
                );
                r.and(a)
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    result
}

/// Checks each directory once and loads the ones whose files changed.
fn poll_once(
    shared: &Shared,
    dirs: &[PathBuf],
    opts: &OpenOptions,
    prints: &mut [Option<Fingerprint>],
    retry_at: &mut [Option<std::time::Instant>],
) {
    for (i, dir) in dirs.iter().enumerate() {
        let print = load::fingerprint(dir);
        let now = OffsetDateTime::now_utc();
        if prints[i].as_ref() == Some(&print) {
            // Unchanged since the snapshot served was loaded: still the newest state.
            let mut slots = match shared.slots.write() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            slots[i].confirmed_at = now;
            continue;
        }
        // A state that failed is tried again at most once a second, whether or not its files
        // change (a failure may be passing: descriptors, permissions, a missing .lock).
        if retry_at[i].is_some_and(|t| std::time::Instant::now() < t) {
            continue;
        }
        let shown = crate::term::escape(&dir.display().to_string());
        let outcome = if load::has_journal(dir) {
            Err(
                "a commit is in progress, or was interrupted (.journal; if it stays, run any ca \
                 command on the directory to complete it)"
                    .to_string(),
            )
        } else {
            load::load(dir, opts, now).map_err(|e| e.to_string())
        };
        let mut slots = match shared.slots.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let slot = &mut slots[i];
        // A generation below the one served is a directory rolled back (SERVE-STATE): the
        // newer state served stays, and the rollback is said.
        let outcome = match (outcome, &slot.served) {
            (Ok(new), Some(old)) if new.generation < old.generation => Err(format!(
                "generation {} is older than generation {} served before (the directory was \
                 rolled back or replaced)",
                new.generation, old.generation
            )),
            (outcome, _) => outcome,
        };
        let loaded = outcome.is_ok();
        match outcome {
            Ok(served) => {
                crate::term::warn(&format!(
                    "serve: {shown}: serving generation {}",
                    served.generation
                ));
                warn_expiring(&shown, &served, now);
                slot.served = Some(Arc::new(served));
                slot.fallback = None;
                slot.problem = None;
                slot.confirmed_at = now;
                if let Ok(mut cache) = shared.cache.lock() {
                    cache.clear();
                }
            }
            Err(why) if slot.problem.as_ref() == Some(&why) => {}
            Err(why) => {
                let keeping = match &slot.served {
                    Some(s) => format!("still serving generation {}", s.generation),
                    None => "answering 503 / OCSP tryLater for it".to_string(),
                };
                crate::term::warn(&format!(
                    "serve: {shown}: not served: {}; {keeping}",
                    crate::term::escape(&why)
                ));
                if slot.served.is_none() {
                    slot.fallback = load::unverified_routes(dir);
                }
                slot.problem = Some(why);
            }
        }
        // Loaded: not loaded again until its files change. Not loaded: tried again in a
        // second (a journal is usually a commit in progress).
        if loaded {
            prints[i] = Some(print);
            retry_at[i] = None;
        } else {
            prints[i] = None;
            let wait = if load::has_journal(dir) {
                Duration::ZERO
            } else {
                Duration::from_secs(1)
            };
            retry_at[i] = Some(std::time::Instant::now() + wait);
        }
    }
}

/// The CRL or the responder certificate in the last third of its validity (SPEC.md
/// SERVE-WARN): serve keeps serving them, and says so.
fn warn_expiring(shown: &str, served: &Served, now: OffsetDateTime) {
    if let Some(r) = &served.responder
        && crate::model::responder::in_last_third(r, now)
    {
        crate::term::warn(&format!(
            "serve: {shown}: warning: the OCSP responder certificate expires on {}; run `ca ocsp-responder renew`",
            crate::clock::fmt(r.not_after)
        ));
    }
    if served.responder.is_none() {
        crate::term::warn(&format!(
            "serve: {shown}: no OCSP responder (ocsp.key, ocsp.crt): OCSP answers tryLater; run `ca ocsp-responder renew`"
        ));
    }
    if let Some(crl) = &served.crl
        && let Some(next) = crl.next_update
        && now >= next - (next - crl.this_update) / 3
    {
        crate::term::warn(&format!(
            "serve: {shown}: warning: the CRL's nextUpdate is {}; run `ca crl` (serve never signs one)",
            crate::clock::fmt(next)
        ));
    }
}
