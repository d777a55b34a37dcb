//! Signed checkpoints (SPEC.md CHECKPOINT-*): every commit that loads the CA key signs, with
//! that key, the state it commits — generation, audit head and length, index.log's length and
//! hash chain (`log_head`), the highest serial and the policy hash. Someone who can write the
//! state directory but cannot use the key can then no longer rewrite history up to the last
//! checkpoint without `ca check` seeing it, and the commands that sign refuse to sign over a
//! history that does not extend it.
//!
//! The signed message starts with a domain-separation line, so a checkpoint signature can
//! never be taken for a certificate's or CRL's (whose signed bytes are DER, starting 0x30),
//! nor a certificate's for a checkpoint's.
//!
//! A checkpoint that is malformed or does not verify is a [`CheckpointError`]; a state that
//! is not the one its verified checkpoint signs, [`NotCurrent`].

use base64::Engine;
use rcgen::SigningKey;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hex;
use crate::model::audit;
use crate::model::layout::{ACME, AUDIT, CHAIN, CRL, CRLNUMBER, INDEX, INDEX_LOG, SERIAL};
use crate::pki::ca::CaCert;
use crate::pki::keys::KeyKind;
use crate::pki::serial::Serial;

/// The first line of every signed checkpoint message.
pub const DOMAIN: &str = "fileca signed checkpoint v1";

/// `log_head` of an empty index.log: 64 zeros, like the audit chain's genesis.
pub const LOG_GENESIS: &str = audit::GENESIS;

pub use crate::error::model::CheckpointError;

/// ACME-STATE: acme.json must be the file the checkpoint signs — absent while the checkpoint
/// records none, else of the recorded SHA-256 — so an order or account edited by hand is
/// refused like an edited index.log.
pub fn verify_acme(
    dir: &std::path::Path,
    header: &crate::model::header::Header,
    acme: Option<&[u8]>,
) -> Result<()> {
    let Some(cp) = &header.checkpoint else {
        return Ok(());
    };
    if acme.map(hex::sha256) != cp.acme_sha256 {
        return Err(Error::state(
            dir.join(INDEX),
            NotCurrent::Differs {
                what: ACME,
                generation: cp.generation,
            },
        ));
    }
    Ok(())
}

pub use crate::error::model::NotCurrent;

/// What a checkpoint signs: the state a commit leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub generation: u64,
    /// SHA-256 of audit.log's last line (the record of `generation`).
    pub audit_head: String,
    /// audit.log's length in bytes, up to and including that record.
    pub audit_len: u64,
    /// index.log's length in bytes.
    pub log_len: u64,
    /// index.log's hash chain up to `log_len` (SPEC.md INDEX-LOG-HEAD).
    pub log_head: String,
    /// The highest serial issued, `null` when none.
    pub max_serial: Option<String>,
    /// The `serial` file: the next serial to issue.
    pub serial: String,
    /// The `crlnumber` file: the next CRL number.
    pub crlnumber: String,
    /// SHA-256 of ca.crl's bytes, `null` while there is none.
    pub crl_sha256: Option<String>,
    /// SHA-256 of policy.toml (SPEC.md POLICY-HASH), `null` for the built-in policy.
    pub policy_sha256: Option<String>,
    /// SHA-256 of chain.pem (a sub-CA's issuers, whose name constraints the gate applies), absent
    /// for a root and in checkpoints signed before fileca recorded it (SPEC.md CHECKPOINT-CHAIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_sha256: Option<String>,
    /// SHA-256 of acme.json (the ACME server's accounts and orders, format 5), absent while
    /// there is none (SPEC.md ACME-STATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_sha256: Option<String>,
    /// The CA key's signature over [`Checkpoint::message`], standard base64.
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes: the domain line, then one `name: value` line per field.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "{DOMAIN}\ngeneration: {}\naudit_head: {}\naudit_len: {}\nlog_len: {}\nlog_head: {}\n\
             max_serial: {}\nserial: {}\ncrlnumber: {}\ncrl_sha256: {}\npolicy_sha256: {}\n",
            self.generation,
            self.audit_head,
            self.audit_len,
            self.log_len,
            self.log_head,
            self.max_serial.as_deref().unwrap_or("none"),
            self.serial,
            self.crlnumber,
            self.crl_sha256.as_deref().unwrap_or("none"),
            self.policy_sha256.as_deref().unwrap_or("none"),
        )
        .into_bytes()
        .into_iter()
        // A line only when recorded: checkpoints signed before keep their message.
        .chain(
            self.chain_sha256
                .as_ref()
                .map(|h| format!("chain_sha256: {h}\n").into_bytes())
                .unwrap_or_default(),
        )
        .chain(
            self.acme_sha256
                .as_ref()
                .map(|h| format!("acme_sha256: {h}\n").into_bytes())
                .unwrap_or_default(),
        )
        .collect()
    }

    /// Signs this checkpoint's fields with the CA key (replacing any signature).
    pub fn sign(mut self, key: &dyn SigningKey) -> Result<Checkpoint> {
        let sig = key
            .sign(&self.message())
            .map_err(|e| Error::signing(e, "signing the checkpoint"))?;
        self.signature = base64::engine::general_purpose::STANDARD.encode(sig);
        Ok(self)
    }

    /// Checks the signature against ca.crt's public key.
    pub fn verify(&self, cert: &CaCert) -> std::result::Result<(), CheckpointError> {
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|_| CheckpointError::NotBase64)?;
        let alg: &dyn VerificationAlgorithm = match cert.key_kind {
            KeyKind::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyKind::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyKind::Ed25519 => &signature::ED25519,
            KeyKind::Rsa(_) => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(alg, &cert.subject_public_key)
            .verify(&self.message(), &sig)
            .map_err(|_| CheckpointError::BadSignature {
                generation: self.generation,
            })
    }

    /// Checks the fields' syntax (what serde cannot).
    pub fn check_syntax(&self) -> std::result::Result<(), CheckpointError> {
        for (name, v) in [
            ("audit_head", &self.audit_head),
            ("log_head", &self.log_head),
        ] {
            if !is_sha256_hex(v) {
                return Err(CheckpointError::NotSha256(name));
            }
        }
        for (field, s) in [
            ("max_serial", self.max_serial.as_ref()),
            (SERIAL, Some(&self.serial)),
            (CRLNUMBER, Some(&self.crlnumber)),
        ] {
            if let Some(s) = s
                && Serial::parse_canonical(s).is_none()
            {
                return Err(CheckpointError::NotSerial {
                    field,
                    value: s.clone(),
                });
            }
        }
        if self
            .crl_sha256
            .as_deref()
            .is_some_and(|h| !is_sha256_hex(h))
        {
            return Err(CheckpointError::NotSha256("crl_sha256"));
        }
        for (field, value) in [
            ("policy_sha256", &self.policy_sha256),
            ("chain_sha256", &self.chain_sha256),
            ("acme_sha256", &self.acme_sha256),
        ] {
            if value.as_deref().is_some_and(|h| !is_sha256_hex(h)) {
                return Err(CheckpointError::NotSha256(field));
            }
        }
        Ok(())
    }
}

/// Is `s` 64 lowercase hex digits?
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Extends index.log's hash chain by `bytes` (whole lines, each ending in `\n`):
/// `head = sha256hex(head || line)` for each line, newline included (SPEC.md INDEX-LOG-HEAD).
pub fn chain(head: &str, bytes: &[u8]) -> String {
    let mut head = head.to_string();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        head = chain_line(&head, line);
    }
    head
}

/// index.log's hash chain as it is walked line by line (lines given without their newline),
/// without a String per line (every read of the log runs it, VERIFIED-READ).
pub struct LogChain {
    /// The head as 64 lowercase hex digits.
    head: [u8; 64],
}

impl LogChain {
    /// The chain of an empty log.
    pub fn new() -> LogChain {
        LogChain { head: [b'0'; 64] }
    }

    /// Extends the chain by one line given without its newline.
    pub fn step(&mut self, line: &[u8]) {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.head);
        ctx.update(line);
        ctx.update(b"\n");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in ctx.finish().as_ref().iter().enumerate() {
            self.head[2 * i] = HEX[usize::from(b >> 4)];
            self.head[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }

    /// The head, 64 lowercase hex digits.
    pub fn head(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// Is the chain at `head` (64 lowercase hex digits)?
    pub fn is(&self, head: &str) -> bool {
        self.head == head.as_bytes()
    }
}

impl Default for LogChain {
    fn default() -> LogChain {
        LogChain::new()
    }
}

/// One step of the chain for a line given with its newline (as it is appended).
fn chain_line(head: &str, line: &[u8]) -> String {
    step(head, line, b"")
}

/// `sha256hex(head || line || end)`.
fn step(head: &str, line: &[u8], end: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(head.as_bytes());
    ctx.update(line);
    ctx.update(end);
    hex::lower(ctx.finish().as_ref())
}

/// What every mutation checks before it signs the next checkpoint (SPEC.md CHECKPOINT-CURRENT):
/// index.json's checkpoint verifies with ca.crt's key and signs exactly the state found —
/// every commit signs one, so a valid directory's checkpoint is always of its own generation —
/// and no serial it proves issued is at or above the counter. Costs one signature
/// verification and reads nothing but index.json; the log's content is covered because
/// `log_head` is extended by every append from the signed value, never recomputed (a line
/// edited behind fileca's back is found by `ca check`, and no later checkpoint hides it).
pub fn verify_current(
    dir: &std::path::Path,
    cert: &CaCert,
    header: &crate::model::header::Header,
    audit_len: u64,
    (counter, crlnumber): (&Serial, &Serial),
    crl: Option<&[u8]>,
    chain_sha256: Option<&str>,
) -> Result<()> {
    let index = dir.join(INDEX);
    let cp = header
        .checkpoint
        .as_ref()
        .ok_or_else(|| Error::state(&index, NotCurrent::Missing))?;
    cp.verify(cert)
        .map_err(|e| Error::state(&index, NotCurrent::Checkpoint(e)))?;
    if let Some(max) = cp.max_serial.as_deref().and_then(Serial::parse_canonical)
        && *counter <= max
    {
        return Err(Error::state(
            dir.join(SERIAL),
            NotCurrent::CounterNotAbove {
                counter: counter.clone(),
                max,
            },
        ));
    }
    let differs = |what: &'static str| {
        Error::state(
            &index,
            NotCurrent::Differs {
                what,
                generation: cp.generation,
            },
        )
    };
    if header.generation != cp.generation {
        return Err(differs("the generation"));
    }
    if header.audit_head != cp.audit_head || audit_len != cp.audit_len {
        return Err(differs(AUDIT));
    }
    if header.log_len != cp.log_len || header.log_head != cp.log_head {
        return Err(differs(INDEX_LOG));
    }
    if header.max_serial != cp.max_serial || header.policy_sha256 != cp.policy_sha256 {
        return Err(differs("max_serial or policy_sha256"));
    }
    if counter.to_string() != cp.serial {
        return Err(differs("the serial counter"));
    }
    if crlnumber.to_string() != cp.crlnumber {
        return Err(differs("the CRL number counter"));
    }
    // ca.crl must be the CRL signed last (a planted journal or a hand could put an older one
    // in place: RECOVER-SIGNED); the next checkpoint carries its hash forward, never the
    // file's.
    if crl.map(hex::sha256) != cp.crl_sha256 {
        return Err(differs(CRL));
    }
    // CHECKPOINT-CHAIN: once recorded, chain.pem must be the file signed (deleting it would drop
    // the constraints of the CAs above from the gate).
    if let Some(recorded) = &cp.chain_sha256
        && chain_sha256 != Some(recorded.as_str())
    {
        return Err(differs(CHAIN));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_sha256_over_the_previous_head_and_each_line() {
        let mut walked = LogChain::new();
        assert!(walked.is(LOG_GENESIS));
        walked.step(b"a");
        walked.step(b"b");
        assert!(walked.is(&chain(LOG_GENESIS, b"a\nb\n")));
        assert!(!walked.is(LOG_GENESIS));
        let one = chain(LOG_GENESIS, b"a\n");
        assert_eq!(one, hex::sha256(format!("{LOG_GENESIS}a\n").as_bytes()));
        assert_eq!(chain(&one, b"b\n"), chain(LOG_GENESIS, b"a\nb\n"));
        assert_eq!(chain(LOG_GENESIS, b""), LOG_GENESIS);
    }

    #[test]
    fn the_message_never_looks_like_der() {
        let cp = Checkpoint {
            generation: 1,
            audit_head: LOG_GENESIS.into(),
            audit_len: 1,
            log_len: 0,
            log_head: LOG_GENESIS.into(),
            max_serial: None,
            serial: "01".into(),
            crlnumber: "01".into(),
            crl_sha256: None,
            policy_sha256: None,
            chain_sha256: None,
            acme_sha256: None,
            signature: String::new(),
        };
        let m = cp.message();
        assert!(
            m.ends_with(b"policy_sha256: none\n"),
            "no chain line unless recorded"
        );
        let mut with_chain = cp.clone();
        with_chain.chain_sha256 = Some(LOG_GENESIS.into());
        assert!(
            with_chain
                .message()
                .ends_with(format!("chain_sha256: {LOG_GENESIS}\n").as_bytes())
        );
        assert_ne!(m[0], 0x30);
        assert!(m.starts_with(b"fileca signed checkpoint v1\n"));
        assert_eq!(cp.check_syntax(), Ok(()));
        let bad = |f: fn(&mut Checkpoint)| {
            let mut c = cp.clone();
            f(&mut c);
            c.check_syntax()
        };
        assert_eq!(
            bad(|c| c.max_serial = Some("0a".into())),
            Err(CheckpointError::NotSerial {
                field: "max_serial",
                value: "0a".into()
            })
        );
        assert_eq!(
            bad(|c| c.crlnumber = "1".into()),
            Err(CheckpointError::NotSerial {
                field: "crlnumber",
                value: "1".into()
            })
        );
        assert_eq!(
            bad(|c| c.crl_sha256 = Some("AB".repeat(32))),
            Err(CheckpointError::NotSha256("crl_sha256"))
        );
    }
}
