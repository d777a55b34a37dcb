//! One CA as `ca serve` answers for it: a verified snapshot turned into what the handlers
//! need (SPEC.md SERVE-STATE).
//!
//! The files are read under the shared lock and nothing else happens under it: parsing,
//! verification against the signed checkpoint, the walk of index.log chained to the signed
//! `log_head` and the responder check all run after the lock is released, on the bytes read.
//! A state that fails any of them is never served; the caller keeps the last one that passed.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::layout::{CERT, INDEX, INDEX_LOG, JOURNAL, OCSP_CERT, OCSP_KEY, POLICY};
use crate::model::responder::Responder;
use crate::model::snapshot::Snapshot;
use crate::pki::ocsp::IssuerHashes;
use crate::store::{LogReads, OpenOptions, Reads, Session};

/// Where a CA's files are served: the paths of its policy's `[urls]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    pub crl: Vec<String>,
    pub ca: Vec<String>,
    pub ocsp: Vec<String>,
}

impl Routes {
    fn of(urls: &crate::policy::Urls) -> Routes {
        let paths = |list: &[String]| list.iter().filter_map(|u| url_path(u)).collect();
        Routes {
            crl: paths(&urls.crl),
            ca: paths(&urls.ca_issuers),
            ocsp: paths(&urls.ocsp),
        }
    }
}

/// The path of an `http://host[:port]/path` URL (`/` when it has none).
pub fn url_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    Some(match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    })
}

/// The CRL as served: DER, and the times its caching headers are bounded by.
pub struct Crl {
    pub der: Vec<u8>,
    pub etag: String,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
}

/// A verified snapshot of one CA, as served.
pub struct Served {
    pub generation: u64,
    pub loaded_at: OffsetDateTime,
    pub ca_der: Vec<u8>,
    pub ca_etag: String,
    /// ca.crt's notBefore: its Last-Modified (SERVE-CRL).
    pub ca_not_before: OffsetDateTime,
    pub crl: Option<Crl>,
    pub hashes: IssuerHashes,
    /// Every certificate index.log records: revoked (time, reason) or good.
    pub statuses: super::statuses::Statuses,
    pub responder: Option<Responder>,
    pub routes: Routes,
}

/// What identifies the files a load read, compared each poll: a change means a commit (or an
/// edit behind fileca's back), and a new load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<(String, Option<Stamp>)>);

/// A file's size and modification time (seconds, nanoseconds).
type Stamp = (u64, i64, i64);

/// The fingerprint of `dir` now: index.json, index.log, ca.crt, ca.crl, ocsp.crt and
/// ocsp.key (size, mtime) and the presence of a `.journal`. Read without the lock.
pub fn fingerprint(dir: &Path) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    Fingerprint(
        [
            INDEX,
            INDEX_LOG,
            CERT,
            crate::model::layout::CRL,
            OCSP_CERT,
            OCSP_KEY,
            POLICY,
            JOURNAL,
        ]
        .iter()
        .map(|name| {
            let m = std::fs::symlink_metadata(dir.join(name)).ok();
            (
                name.to_string(),
                m.map(|m| (m.size(), m.mtime(), m.mtime_nsec())),
            )
        })
        .collect(),
    )
}

/// Can this process read `dir`'s ocsp.key, when there is one? Checked at start (SPEC.md
/// SERVE-STATE): a `serve` user that cannot would answer tryLater for good.
pub fn check_key_readable(dir: &Path) -> Result<()> {
    let path = dir.join(OCSP_KEY);
    match crate::store::open_read_nofollow(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(Error::state(
            path,
            crate::model::responder::ResponderError::Unreadable(crate::fsio::uid()),
        )),
        // Missing, or any other failure: the load says it, and is retried.
        _ => Ok(()),
    }
}

/// Is an interrupted commit waiting in `dir`?
pub fn has_journal(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(JOURNAL)).is_ok()
}

/// Loads and verifies `dir` at `now`: the shared lock only while the files are read.
pub fn load(dir: &Path, opts: &OpenOptions, now: OffsetDateTime) -> Result<Served> {
    let (raw, key, cert) = {
        let session = Session::open_reader(dir, opts)?;
        let header = session.header()?;
        let raw = session.raw(
            Reads {
                key: false,
                log: LogReads::Memory,
            },
            header,
        )?;
        let key = match session.read_optional(OCSP_KEY)? {
            Some(k) => Some((
                zeroize::Zeroizing::new(k),
                crate::store::mode_of(dir, OCSP_KEY)?,
            )),
            None => None,
        };
        (raw, key, session.read_optional(OCSP_CERT)?)
    };
    let state = Snapshot::from_raw(raw, &crate::passphrase::Source::default(), false)?;
    let responder = crate::model::responder::load(
        &state,
        key.as_ref().map(|(k, mode)| (k.as_slice(), *mode)),
        cert.as_deref(),
    )?;
    let mut statuses = super::statuses::Builder::default();
    crate::model::log::for_each_entry(state.log_ref()?, &state.header, |e| {
        statuses.push(&e.serial, crate::model::responder::status_of(&e));
        Ok(())
    })?;
    let statuses = statuses.build();
    let policy = state.policy()?;
    let hashes = IssuerHashes::of_certificate(&state.ca.cert.der)
        .ok_or_else(|| Error::bug("ca.crt does not parse again"))?;
    let crl = match &state.crl {
        Some(bytes) => {
            let parsed = crate::pki::crl::parse(bytes, bytes.len(), Some(&state.ca.cert))
                .map_err(|e| Error::state(dir.join(crate::model::layout::CRL), e))?;
            let der = crate::pki::pem::decode_one(bytes, &["X509 CRL"], bytes.len())
                .map_err(|e| Error::state(dir.join(crate::model::layout::CRL), e))?;
            Some(Crl {
                etag: etag(&der),
                der,
                this_update: parsed.this_update,
                next_update: parsed.next_update,
            })
        }
        None => None,
    };
    Ok(Served {
        generation: state.header.generation,
        loaded_at: now,
        ca_etag: etag(&state.ca.cert.der),
        ca_der: state.ca.cert.der.clone(),
        ca_not_before: state.ca.cert.not_before,
        crl,
        hashes,
        statuses,
        responder,
        routes: Routes::of(&policy.urls),
    })
}

/// What `serve` can know of a CA it cannot load: where it is served and which issuer it is,
/// from ca.crt and policy.toml as found (not verified: used only to answer 503 / tryLater
/// for it, never to answer about a certificate).
pub fn unverified_routes(dir: &Path) -> Option<(Routes, IssuerHashes)> {
    let cert = crate::store::read_state_file(dir, CERT).ok()?;
    let der = crate::pki::pem::decode_one(&cert, &["CERTIFICATE"], crate::pki::pem::MAX_PEM_BYTES)
        .ok()?;
    let hashes = IssuerHashes::of_certificate(&der)?;
    let urls = match crate::store::read_state_file(dir, POLICY).ok() {
        Some(bytes) => {
            crate::policy::parse::parse(std::str::from_utf8(&bytes).ok()?, None)
                .ok()?
                .urls
        }
        None => crate::policy::Policy::builtin().urls,
    };
    Some((Routes::of(&urls), hashes))
}

/// A strong ETag: the first 128 bits of the body's SHA-256 (32 hex digits), quoted.
pub fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", &crate::hex::sha256(bytes)[..32])
}

/// The directories served, as given.
pub type Dirs = Vec<PathBuf>;
