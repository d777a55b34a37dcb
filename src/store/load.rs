//! What a session reads before a command decides anything: index.json, index.log opened or
//! read whole, and the [`Snapshot`] value a plan is a function of. Everything is read here,
//! under the lock, through the state-file checks of [`super::read_state_file`] (no symlink,
//! one link, a regular file, a size limit); parsing and cross-checking is the model's
//! ([`Snapshot::from_raw`]), which touches nothing.

use std::collections::BTreeSet;

use crate::error::{Error, Result, StateError};
use crate::model::header::Header;
use crate::model::layout::{
    AUDIT, CERT, CHAIN, CRL, CRLNUMBER, INDEX, INDEX_LOG, KEY, MAX_POLICY_BYTES, POLICY, SERIAL,
};
use crate::model::log::{Entry, Log};
use crate::model::snapshot::{Raw, RawKey, Snapshot};
use crate::passphrase;

use super::Session;

/// Which of the state files a plan reads besides the CA's own (ca.crt, the counters,
/// index.json, chain.pem, policy.toml, ca.crl, audit.log's last line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// ca.key: the command signs. Its passphrase comes from what was read before the lock.
    pub key: bool,
    /// How the snapshot holds index.log.
    pub log: LogReads,
}

/// How a snapshot holds index.log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogReads {
    /// Not at all: the plan reads no certificate.
    None,
    /// Opened under the lock, to be streamed: a command that answers (`show` looks a serial
    /// up), or a plan that reads certificates (revoke, unhold, renew, crl). The handle is read
    /// only through [`crate::model::log::Log`], whose every walk chains the lines it reads to
    /// the signed `log_head`, so the plan sees the log as it was under the lock or refuses;
    /// it is not copied into memory (about 280 MB at 1,000,000 certificates).
    Open,
    /// Read whole into memory under the lock: a reader that lets the lock go before it walks
    /// the log (`ca serve` holds it only while the files are read, SERVE-STATE; `ca ocsp`).
    Memory,
}

impl Reads {
    /// A command that signs and reads no certificate (sign, issue, renew-ca, passwd, policy).
    pub const SIGN: Reads = Reads {
        key: true,
        log: LogReads::None,
    };
    /// A command that signs and reads certificates (revoke, unhold, renew, crl).
    pub const SIGN_WITH_LOG: Reads = Reads {
        key: true,
        log: LogReads::Open,
    };
    /// A command that only answers (status, list, show, verify…): no key, index.log opened
    /// to be streamed, never held in memory.
    pub const ANSWER: Reads = Reads {
        key: false,
        log: LogReads::Open,
    };
}

impl Session {
    /// index.json, parsed.
    pub fn load_header(&self) -> Result<Header> {
        let bytes = self.read(INDEX)?;
        Header::parse(&bytes).map_err(|m| Error::state(self.dir().join(INDEX), m))
    }

    /// index.json, with index.log's length checked against it: what a command that reads
    /// certificates without loading the CA needs first.
    pub fn header(&self) -> Result<Header> {
        let header = self.load_header()?;
        self.check_log_len(&header)?;
        Ok(header)
    }

    /// Checks that index.log is exactly as long as index.json records: a log edited,
    /// truncated or extended behind fileca's back is refused before anything relies on it.
    pub fn check_log_len(&self, header: &Header) -> Result<()> {
        let (_, len) = super::open_state_file(self.dir(), INDEX_LOG)?;
        if len != header.log_len {
            return Err(Error::state(
                self.dir().join(INDEX_LOG),
                StateError::LogLength {
                    len,
                    recorded: header.log_len,
                },
            ));
        }
        Ok(())
    }

    /// index.log opened once, to be walked (and verified against the signed `log_head`) by
    /// model::log.
    pub fn open_log(&self) -> Result<Log> {
        let (file, len) = super::open_state_file(self.dir(), INDEX_LOG)?;
        Ok(Log::file(file, len, self.dir().join(INDEX_LOG)))
    }

    /// The bytes of the state files a plan may read, with `header` as index.json (`ca
    /// upgrade` builds it from an earlier format).
    pub fn raw(&self, reads: Reads, header: Header) -> Result<Raw> {
        // Read in the order the files were always checked in, so the first problem reported
        // stays the same.
        let dir = self.dir();
        let cert = self.read(CERT)?;
        let key = if reads.key {
            let mode = super::mode_of(dir, KEY)?;
            Some(RawKey {
                mode,
                bytes: zeroize::Zeroizing::new(self.read(KEY)?),
            })
        } else {
            None
        };
        let chain = self.read_optional(CHAIN)?;
        let serial = self.read(SERIAL)?;
        let crlnumber = self.read(CRLNUMBER)?;
        let (audit_len, audit_last) = super::read_last_line(dir, AUDIT)?;
        let crl = self.read_optional(CRL)?;
        let policy = self.read_optional_max(POLICY, MAX_POLICY_BYTES)?;
        let acme = self.read_optional(crate::model::layout::ACME)?;
        let log = match reads.log {
            LogReads::None => None,
            LogReads::Open => Some(self.open_log()?),
            LogReads::Memory => Some(self.open_log()?.into_memory()?),
        };
        let present = crate::fsio::list_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .collect::<BTreeSet<String>>();
        Ok(Raw {
            dir: dir.to_path_buf(),
            cert,
            key,
            header,
            serial,
            crlnumber,
            audit_len,
            audit_last,
            crl,
            chain,
            policy,
            acme,
            present,
            log,
        })
    }

    /// The snapshot a plan runs on, verified against the signed checkpoint (SPEC.md
    /// CHECKPOINT-CURRENT, VERIFIED-READ). `pass` is the CA key's passphrase source, read
    /// before the lock.
    pub fn snapshot(&self, reads: Reads, pass: &passphrase::Source) -> Result<Snapshot> {
        let raw = self.raw(reads, self.header()?)?;
        Snapshot::from_raw(raw, pass, self.allow_insecure_key())
    }

    /// The snapshot of a command that only answers (no key, index.log streamed), verified
    /// against the signed checkpoint like every other (SPEC.md VERIFIED-READ).
    pub fn verified_state(&self) -> Result<Snapshot> {
        self.snapshot(Reads::ANSWER, &passphrase::Source::default())
    }

    /// The delegated OCSP responder, ocsp.key and ocsp.crt checked against `state` (SPEC.md
    /// OCSP-RESPONDER): `None` when the CA has none.
    pub fn responder(
        &self,
        state: &Snapshot,
    ) -> Result<Option<crate::model::responder::Responder>> {
        use crate::model::layout::{OCSP_CERT, OCSP_KEY};
        let key = self.read_optional(OCSP_KEY)?.map(zeroize::Zeroizing::new);
        let mode = match key {
            Some(_) => super::mode_of(self.dir(), OCSP_KEY)?,
            None => 0,
        };
        let cert = self.read_optional(OCSP_CERT)?;
        crate::model::responder::load(
            state,
            key.as_deref().map(|k| (k.as_slice(), mode)),
            cert.as_deref(),
        )
    }

    /// certs/SERIAL.pem of `entry`, checked to be the certificate the index records
    /// ([`crate::model::snapshot::check_recorded`], SPEC.md SHOW-RECORDED): its PEM and DER.
    pub fn read_recorded(
        &self,
        entry: &Entry,
        ca: &crate::pki::ca::CaCert,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let file = crate::model::layout::cert_file(&entry.serial);
        // The index records it: a file that is gone is a damaged state (exit 5), not an I/O
        // error.
        let pem = match self.read_optional(&file)? {
            Some(pem) => pem,
            None => {
                return Err(Error::state(
                    self.dir().join(&file),
                    crate::model::snapshot::SnapshotError::CertMissing(entry.serial.clone()),
                ));
            }
        };
        let der = crate::model::snapshot::check_recorded(&self.dir().join(&file), &pem, entry, ca)?;
        Ok((pem, der))
    }
}
