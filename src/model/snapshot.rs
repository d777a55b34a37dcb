//! The loaded state of a CA: every state file parsed and cross-checked enough to act on it.
//! `ca check` goes further (see cmd/check.rs); this is what every command relies on. What
//! it refuses is a [`SnapshotError`] (besides the typed errors of the files it parses).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::audit;
use crate::model::header::Header;
use crate::model::layout::{AUDIT, CERT, CHAIN, CRLNUMBER, KEY, SERIAL};
use crate::model::log::{Entry, Log};
use crate::passphrase;
use crate::pki::ca::{Ca, CaCert};
use crate::pki::keys;
use crate::pki::serial::Serial;

pub use crate::error::model::SnapshotError;

/// The bytes of the state files as the session read them under the lock, before anything is
/// decided: what [`Snapshot::from_raw`] parses and cross-checks without touching the
/// directory again ([`crate::store::Session::snapshot`] reads it; tests build it in memory).
pub struct Raw {
    /// The state directory (for messages).
    pub dir: PathBuf,
    pub cert: Vec<u8>,
    /// ca.key and its mode, read only by a command that signs.
    pub key: Option<RawKey>,
    /// index.json, parsed (its length check against index.log is the session's).
    pub header: Header,
    pub serial: Vec<u8>,
    pub crlnumber: Vec<u8>,
    /// audit.log's length and last line.
    pub audit_len: u64,
    pub audit_last: Option<Vec<u8>>,
    pub crl: Option<Vec<u8>>,
    pub chain: Option<Vec<u8>>,
    pub policy: Option<Vec<u8>>,
    /// acme.json, when the ACME server has written one (format 5).
    pub acme: Option<Vec<u8>>,
    /// The names in the state directory's top level (e.g. archived CA certificates).
    pub present: BTreeSet<String>,
    /// index.log: in memory for the plans that read certificates (revoke, renew, crl),
    /// opened for a command that answers, absent for the others.
    pub log: Option<Log>,
}

/// ca.key as read: its bytes (wiped when dropped) and its permission bits.
pub struct RawKey {
    pub bytes: zeroize::Zeroizing<Vec<u8>>,
    pub mode: u32,
}

/// Everything a plan may read, as a value: the state files parsed and checked against each
/// other and against the signed checkpoint. A plan is a function of a snapshot, its request
/// and the environment; it touches nothing else (no file, no clock, no terminal).
pub struct Snapshot {
    /// The state directory (for messages).
    pub dir: PathBuf,
    pub ca: Ca,
    /// index.json.
    pub header: Header,
    /// The next serial to issue.
    pub serial: Serial,
    /// The next CRL number.
    pub crlnumber: Serial,
    /// Length of audit.log, where the next record goes.
    pub audit_len: u64,
    /// Hash of audit.log's last line: the next record's `prev`.
    pub audit_prev: String,
    /// SHA-256 of ca.crl as the last checkpoint signed it (read from ca.crl only when there is
    /// no checkpoint yet: `ca upgrade`).
    pub crl_sha256: Option<String>,
    /// ca.crl's bytes as read at load (None: no CRL yet).
    pub crl: Option<Vec<u8>>,
    /// chain.pem of a sub-CA: its issuers up to the root, parent first (SPEC.md CHAIN-*).
    pub chain: Vec<CaCert>,
    /// chain.pem's SHA-256, as the checkpoint records it (CHECKPOINT-CHAIN).
    pub chain_sha256: Option<String>,
    /// acme.json's bytes as read under the lock (ACME-STATE: checked against the checkpoint).
    pub acme: Option<Vec<u8>>,
    policy: Option<Vec<u8>>,
    present: BTreeSet<String>,
    log: Option<Log>,
}

impl Snapshot {
    /// Parses and checks what the session read: ca.crt, ca.key (when present: the command
    /// signs; its passphrase from `pass`, read before the lock), index.json, serial and
    /// crlnumber, and that index.json's signed checkpoint verifies with ca.crt's key and is
    /// of the state found: a command that signs never signs over a rewritten history (SPEC.md
    /// CHECKPOINT-CURRENT), and a command that answers about certificates answers only from
    /// the signed state (VERIFIED-READ; index.log's lines are chained to the signed
    /// `log_head` as they are read, model::log).
    pub fn from_raw(
        raw: Raw,
        pass: &passphrase::Source,
        allow_insecure_key: bool,
    ) -> Result<Snapshot> {
        let snapshot = Snapshot::unverified(raw, pass, allow_insecure_key)?;
        // CHECKPOINT-CHAIN for a chain.pem no checkpoint has recorded yet (a sub-CA last
        // signed by fileca 0.2): used — and then recorded — only if it is ca.crt's issuers
        // up to a root; one planted in a root or an adopted CA is refused.
        if !snapshot.chain.is_empty()
            && snapshot
                .header
                .checkpoint
                .as_ref()
                .is_some_and(|cp| cp.chain_sha256.is_none())
        {
            let ders: Vec<Vec<u8>> = snapshot.chain.iter().map(|c| c.der.clone()).collect();
            let genuine = crate::pki::chain::to_root(&snapshot.ca.cert.der, &ders)
                .is_ok_and(|path| path == ders);
            if !genuine {
                return Err(Error::state(
                    snapshot.dir.join(CHAIN),
                    SnapshotError::ChainUnsigned,
                ));
            }
        }
        crate::model::checkpoint::verify_current(
            &snapshot.dir,
            &snapshot.ca.cert,
            &snapshot.header,
            snapshot.audit_len,
            (&snapshot.serial, &snapshot.crlnumber),
            snapshot.crl.as_deref(),
            snapshot.chain_sha256.as_deref(),
        )?;
        crate::model::checkpoint::verify_acme(
            &snapshot.dir,
            &snapshot.header,
            snapshot.acme.as_deref(),
        )?;
        Ok(snapshot)
    }

    /// [`Snapshot::from_raw`] without the checkpoint checks: `ca upgrade` builds the header
    /// of a directory no checkpoint has signed yet.
    pub fn unverified(
        raw: Raw,
        pass: &passphrase::Source,
        allow_insecure_key: bool,
    ) -> Result<Snapshot> {
        let dir = raw.dir;
        let header = raw.header;
        let mut ca_cert = ca_cert(&dir, &raw.cert)?;
        let chain_sha256 = raw.chain.as_deref().map(crate::hex::sha256);
        let mut chain = match raw.chain {
            Some(bytes) => crate::pki::pem::decode_certificates(&bytes, bytes.len())
                .map_err(|e| Error::state(dir.join(CHAIN), e))?
                .iter()
                .map(|der| CaCert::parse(der).map_err(|e| Error::state(dir.join(CHAIN), e)))
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        resolve_closings(&mut ca_cert, &mut chain);
        let ca = match raw.key {
            Some(key) => {
                if key.mode & 0o077 != 0
                    && !allow_insecure_key
                    && !crate::token::KeyRef::is_reference(&key.bytes)
                {
                    return Err(Error::state(
                        dir.join(KEY),
                        SnapshotError::InsecureKey {
                            mode: key.mode,
                            path: dir.join(KEY),
                        },
                    ));
                }
                ca_with_key(&dir, ca_cert, &key.bytes, pass)?
            }
            None => Ca::public(ca_cert),
        };
        let serial = parse_counter(&dir, SERIAL, &raw.serial)?;
        let crlnumber = parse_counter(&dir, CRLNUMBER, &raw.crlnumber)?;
        if let Some(last) = header.max_serial()
            && serial <= last
        {
            return Err(Error::state(
                dir.join(SERIAL),
                SnapshotError::CounterNotAbove {
                    counter: serial.clone(),
                    last,
                },
            ));
        }
        let audit_prev = raw
            .audit_last
            .map_or_else(|| audit::GENESIS.to_string(), |l| audit::line_hash(&l));
        if audit_prev != header.audit_head {
            return Err(Error::state(dir.join(AUDIT), SnapshotError::AuditHead));
        }
        // ca.crl is read once: CHECKPOINT-CURRENT compares these bytes with the checkpoint,
        // and `status` reports from them (a file swapped in after the check is not read).
        let crl_sha256 = match &header.checkpoint {
            Some(cp) => cp.crl_sha256.clone(),
            None => raw.crl.as_deref().map(crate::hex::sha256),
        };
        Ok(Snapshot {
            crl: raw.crl,
            dir,
            crl_sha256,
            chain,
            chain_sha256,
            ca,
            header,
            serial,
            crlnumber,
            audit_len: raw.audit_len,
            audit_prev,
            policy: raw.policy,
            acme: raw.acme,
            present: raw.present,
            log: raw.log,
        })
    }

    /// The policy in force (SPEC.md POLICY-HASH): policy.toml as index.json records it, or
    /// the built-in policy. Read by the commands that issue, so a policy.toml changed by hand
    /// stops issuance but never revocation or CRLs.
    pub fn policy(&self) -> Result<crate::policy::Policy> {
        crate::policy::in_force(
            &self.dir,
            self.policy.as_deref(),
            self.header.policy_sha256.as_deref(),
        )
    }

    /// What follows a certificate this CA issues in a full chain (SPEC.md CHAIN-OUT): this
    /// CA's certificate and the CAs above it, the root excepted; nothing for a root CA.
    pub fn intermediates_pem(&self) -> String {
        match self.chain.split_last() {
            None => String::new(),
            Some((_, above)) => std::iter::once(&self.ca.cert)
                .chain(above)
                .map(|c| crate::pki::pem::pem_of("CERTIFICATE", &c.der))
                .collect(),
        }
    }

    /// The trust anchor: chain.pem's last certificate, or ca.crt for a root.
    pub fn root_pem(&self) -> String {
        let root = self.chain.last().unwrap_or(&self.ca.cert);
        crate::pki::pem::pem_of("CERTIFICATE", &root.der)
    }

    /// Is there an entry (of any kind) named `name` in the state directory's top level?
    pub fn has_file(&self, name: &str) -> bool {
        self.present.contains(name)
    }

    /// index.log, which the session reads into the snapshot for the commands whose plans
    /// read certificates ([`crate::store::Session::snapshot`]).
    fn log(&self) -> Result<&Log> {
        self.log.as_ref().ok_or_else(|| {
            Error::bug("a plan read index.log, which its snapshot was loaded without")
        })
    }

    /// index.log as the session loaded it (opened, or in memory), for a walk of every entry
    /// (`ca ocsp --out-dir`, `ca serve`): each walk verifies it against the signed log_head.
    pub fn log_ref(&self) -> Result<&Log> {
        self.log()
    }

    /// The certificate a typed serial names (exact, or a unique tail; SPEC.md SERIAL-INPUT).
    pub fn resolve(&self, typed: &crate::model::log::Typed) -> Result<crate::model::log::Entry> {
        Ok(crate::model::log::resolve(
            self.log()?,
            &self.header,
            typed,
        )??)
    }

    /// The entry of `serial` in index.log, if any.
    pub fn find(&self, serial: &Serial) -> Result<Option<crate::model::log::Entry>> {
        crate::model::log::find(self.log()?, &self.header, serial)
    }

    /// The entry of a certificate given as a file (`revoke --cert`, `export --cert`; `path`
    /// names it): index.log must record it, byte for byte.
    pub fn recorded_entry(&self, path: &Path, der: &[u8]) -> Result<crate::model::log::Entry> {
        let cert = crate::pki::pem::certificate(der).map_err(|e| Error::input(path, e.into()))?;
        let serial = Serial::from_magnitude(cert.raw_serial());
        match self.find(&serial)? {
            Some(e) if e.sha256 == crate::hex::sha256(der) => Ok(e),
            _ => Err(crate::model::change::Refusal::NotRecorded {
                path: path.to_path_buf(),
                serial,
            }
            .into()),
        }
    }

    /// Every revocation in index.log, re-hashed against the signed log_head (CRL-CHAIN).
    pub fn revocations(&self) -> Result<Vec<crate::model::log::Revocation>> {
        crate::model::log::revocations(self.log()?, &self.header)
    }
}

/// Checks that `pem` (certs/SERIAL.pem as read) holds the certificate this entry records:
/// its SHA-256, its serial, and a signature by `ca`'s key (so an index line edited to match a
/// planted file does not pass either). A file replaced behind fileca's back is never
/// re-signed (`renew`) or handed out (`show --pem`) as the CA's certificate (SPEC.md
/// SHOW-RECORDED). Returns the DER; `path` names the file in messages.
pub fn check_recorded(
    path: &Path,
    pem: &[u8],
    entry: &Entry,
    ca: &crate::pki::ca::CaCert,
) -> Result<Vec<u8>> {
    let der = crate::pki::pem::decode_one(pem, &["CERTIFICATE"], crate::pki::pem::MAX_PEM_BYTES)
        .map_err(|m| Error::state(path, m))?;
    if crate::hex::sha256(&der) != entry.sha256 {
        return Err(Error::state(
            path,
            SnapshotError::Replaced(entry.serial.clone()),
        ));
    }
    let ours = x509_parser::parse_x509_certificate(&der).is_ok_and(|(_, c)| {
        Serial::from_magnitude(c.raw_serial()) == entry.serial && ca.signed(&c)
    });
    if !ours {
        return Err(Error::state(
            path,
            SnapshotError::NotSigned(entry.serial.clone()),
        ));
    }
    Ok(der)
}

/// Reads back the closed name types of ca.crt and chain.pem's CAs, top-down: the IP form of
/// NC-CLOSE-ENCODING is known only with the CAs above
/// ([`crate::pki::constraints::Constraints::resolve_closing`]).
pub fn resolve_closings(ca: &mut CaCert, chain: &mut [CaCert]) {
    for i in (0..chain.len()).rev() {
        let (head, tail) = chain.split_at_mut(i + 1);
        let above: Vec<_> = tail.iter().map(|c| &c.constraints).collect();
        head[i].constraints.resolve_closing(&above);
    }
    let above: Vec<_> = chain.iter().map(|c| &c.constraints).collect();
    ca.constraints.resolve_closing(&above);
}

/// Parses ca.crt; anything wrong with it is a state error naming it.
pub fn ca_cert(dir: &Path, bytes: &[u8]) -> Result<CaCert> {
    CaCert::parse(bytes).map_err(|e| Error::state(dir.join(CERT), e))
}

/// The CA with its key: ca.key decrypted (with a passphrase from `pass` when it is encrypted)
/// and checked to belong to `cert`. When ca.key is a token key reference (SPEC.md KEYREF) the
/// token is opened and logged in here — the one device a snapshot touches while it is built,
/// so that the plan still gets a value that signs (`CaKey::Remote`) and stays a function of
/// the snapshot.
pub fn ca_with_key(
    dir: &Path,
    cert: CaCert,
    key_bytes: &[u8],
    pass: &passphrase::Source,
) -> Result<Ca> {
    let key_path = dir.join(KEY);
    if crate::token::KeyRef::is_reference(key_bytes) {
        // The key is on a token (SPEC.md KEYREF): opened and logged in with the PIN read
        // before the lock; its public key checked against the reference's hash, then against
        // ca.crt.
        let reference =
            crate::token::KeyRef::parse(key_bytes).map_err(|e| Error::state(&key_path, e))?;
        let pin = pass.pin(&reference)?;
        let key = crate::token::open(&reference, pin)?;
        return Ca::with_key(cert, crate::pki::ca::CaKey::Remote(Box::new(key))).map_err(|_| {
            Error::KeyCertMismatch {
                key: key_path,
                cert: dir.join(CERT),
            }
        });
    }
    let key_text = std::str::from_utf8(key_bytes)
        .map_err(|_| Error::state(&key_path, SnapshotError::KeyNotPem))?;
    let plain;
    let key_text = if keys::is_encrypted(key_text) {
        let passphrase = pass.read_early(&key_path)?;
        plain = keys::decrypt_pem(key_text, &passphrase).map_err(|e| match e {
            keys::DecryptError::WrongPassphrase => {
                crate::passphrase::PassphraseError::Wrong(key_path.clone()).into()
            }
            other => Error::state(&key_path, other),
        })?;
        plain.as_str()
    } else {
        // An operator who passes a passphrase expects an encrypted key: a plaintext one may
        // have been swapped in by someone who can write the directory (SPEC.md THREAT-WRITER,
        // the CA swapped whole).
        if pass.given() {
            crate::term::warn(&format!(
                "warning: a passphrase file was given, but {} is not encrypted (if it was, it \
                 has been replaced: compare ca.crt's fingerprint with a copy you trust)",
                key_path.display()
            ));
        }
        key_text
    };
    let key = keys::key_pair(key_text).map_err(|m| Error::state(&key_path, m))?;
    Ca::with_key(cert, crate::pki::ca::CaKey::File(key)).map_err(|_| Error::KeyCertMismatch {
        key: key_path,
        cert: dir.join(CERT),
    })
}

/// Refuses to sign outside the CA certificate's validity, naming the certificate's file.
pub fn check_valid(cert: &CaCert, now: time::OffsetDateTime, path: &Path) -> Result<()> {
    cert.valid_at(now).map_err(|reason| {
        Error::Refusal(crate::model::change::Refusal::CaNotValid {
            cert: path.to_path_buf(),
            reason,
        })
    })
}

/// Parses a counter file (`serial` or `crlnumber`) as read.
pub fn parse_counter(dir: &Path, name: &str, bytes: &[u8]) -> Result<Serial> {
    Serial::parse_file(bytes).ok_or_else(|| Error::state(dir.join(name), SnapshotError::Counter))
}
