//! The ACME server's TLS certificate (SPEC.md ACME-TLS): issued by this CA under the built-in
//! `acme-tls` profile for the `--acme-host` names, through the ordinary journaled commit
//! (recorded in index.log, audited as `acme-tls`), with its key in acme-tls.key (0600) and
//! the certificate in acme-tls.crt. At start, and every [`RENEW_CHECK`] while serve runs, it
//! is reissued when missing, when it does not name every host, when ca.crt did not sign it,
//! or in the last third of its validity; [`Current`] then serves the new one.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rcgen::PublicKeyData;
use rustls::sign::CertifiedKey;

use crate::cli::{KeyArgs, MutationArgs};
use crate::error::{Error, Result};
use crate::model::change::{AuditInfo, allot_serial, finish_plan_for, issue_entry};
use crate::model::layout::{ACME_TLS_CERT, ACME_TLS_KEY, MODE_SECRET, SERIAL, cert_file};
use crate::model::log::LogAppend;
use crate::model::plan::FileWrite;
use crate::pki::issuance::Request;
use crate::pki::keys::{self, KeyType};
use crate::pki::names::{San, Subject};
use crate::store::{Access, Session};

/// How often a running server checks whether its certificate needs renewing.
pub const RENEW_CHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// The built-in profile of the server's own certificate.
const PROFILE: &str = "[urls]
crl = []
ca_issuers = []
ocsp = []

[profiles.acme-tls]
key_usage = [\"digitalSignature\"]
extended_key_usage = [\"serverAuth\"]
default_days = 30
";

/// A certificate PEM and its key's PEM.
pub type Pair = (Vec<u8>, zeroize::Zeroizing<Vec<u8>>);

/// The certificate and key PEM to serve with, issued now if needed.
pub fn ensure(ctx: &crate::cmd::Context, dir: &Path, hosts: &[String]) -> Result<Pair> {
    let sans = hosts
        .iter()
        .map(|h| {
            // An address is certified as an IP SAN (`--acme-host 127.0.0.1`), a name as DNS.
            let kind = if h.parse::<std::net::IpAddr>().is_ok() {
                "IP"
            } else {
                "DNS"
            };
            San::parse(&format!("{kind}:{h}"))
                .map_err(|e| Error::Usage(format!("--acme-host {h}: {e}")))
        })
        .collect::<Result<Vec<San>>>()?;
    if let Some(found) = current(ctx, dir, &sans)? {
        return Ok(found);
    }
    let (key, key_pem) = keys::generate(KeyType::EcdsaP256)?;
    let key_pem = zeroize::Zeroizing::new(key_pem);
    let mutation = MutationArgs {
        expect_generation: None,
        dry_run: false,
        key: KeyArgs {
            passphrase_file: None,
            pin_file: None,
        },
    };
    crate::cmd::mutate(ctx, &mutation, crate::store::Reads::SIGN, |state, env| {
        let policy = crate::policy::parse::parse(PROFILE, None)
            .map_err(|_| Error::bug("the built-in acme-tls profile does not parse"))?;
        let profile = &policy.profiles[0];
        let subject = Subject(vec![("CN".into(), hosts[0].clone())]);
        let spki = key.subject_public_key_info();
        let request = Request {
            subject: &subject,
            sans: sans.clone(),
            spki_der: &spki,
            subject_public_key: key.der_bytes(),
            key: KeyType::EcdsaP256.kind(),
            profile,
            days: profile.default_days,
            urls: &state.policy()?.urls,
            sub_ca: None,
        };
        let (serial, next) = allot_serial(&state.serial, env)?;
        let mut notes = Vec::new();
        let (pem, entry) = issue_entry(
            state,
            &state.ca.issuer()?,
            &request,
            &serial,
            env,
            &mut notes,
        )?;
        let mut log = LogAppend::default();
        log.issued(&entry);
        let writes = vec![
            FileWrite::public(cert_file(&serial), pem.clone()),
            FileWrite::public(SERIAL, next.to_file()),
            FileWrite {
                target: ACME_TLS_KEY.into(),
                bytes: key_pem.as_bytes().to_vec(),
                mode: MODE_SECRET,
            },
            FileWrite::public(ACME_TLS_CERT, pem),
        ];
        let info = AuditInfo::of("acme-tls", vec![serial.to_string()]);
        let plan = finish_plan_for(state, env, log, writes, (info, None))?;
        notes.push(crate::term::Note::text(format!(
            "issued the ACME server's TLS certificate {serial} for {}",
            hosts.join(", ")
        )));
        Ok(crate::cmd::Planned::new(plan, String::new(), notes))
    })?;
    current(ctx, dir, &sans)?
        .ok_or_else(|| Error::bug("the ACME TLS certificate just issued does not load"))
}

/// The pair in the directory, if it is still good for `sans`.
fn current(ctx: &crate::cmd::Context, dir: &Path, sans: &[San]) -> Result<Option<Pair>> {
    let session = Session::open(dir, Access::Read, &ctx.open)?;
    let (Some(cert), Some(key)) = (
        session.read_optional(ACME_TLS_CERT)?,
        session.read_optional(ACME_TLS_KEY)?,
    ) else {
        return Ok(None);
    };
    let key = zeroize::Zeroizing::new(key);
    let ca = session.read(crate::model::layout::CERT)?;
    let chain = session.read_optional(crate::model::layout::CHAIN)?;
    if !still_good(&cert, &ca, sans, ctx.now()?) || revoked(&session, &cert, &ctx.pass)? {
        return Ok(None);
    }
    drop(session);
    Ok(Some((served_chain(cert, &ca, chain.as_deref())?, key)))
}

/// Has index.log revoked `cert` (review finding: a TLS certificate revoked — by revokeCert
/// with its own key, or `ca revoke` — was served on, across restarts, until its last third)?
/// Then it is reissued like a missing one.
fn revoked(session: &Session, cert: &[u8], pass: &crate::passphrase::Source) -> Result<bool> {
    let Ok(der) = crate::pki::pem::decode_one(cert, &["CERTIFICATE"], 1 << 20) else {
        return Ok(false); // not ours to judge here: still_good refused it already
    };
    let Ok(x509) = crate::pki::pem::certificate(&der) else {
        return Ok(false);
    };
    let serial = crate::pki::serial::Serial::from_magnitude(x509.raw_serial());
    let reads = crate::store::Reads {
        key: false,
        log: crate::store::LogReads::None,
    };
    let snapshot = session.snapshot(reads, pass)?;
    let entry = crate::model::log::find(&session.open_log()?, &snapshot.header, &serial)?;
    Ok(entry.is_some_and(|e| e.revoked.is_some()))
}

/// What the server presents (ACME-TLS): its certificate, then — for a sub-CA — ca.crt and
/// the CAs of chain.pem between it and the root, so that a client trusting only the root
/// verifies it (review finding: only the leaf was sent, and lego and certbot, told by the
/// README to trust the root, failed on the recommended issuing sub-CA). The root itself is
/// left out (RFC 8446 4.4.2: the client has it).
fn served_chain(mut cert: Vec<u8>, ca: &[u8], chain: Option<&[u8]>) -> Result<Vec<u8>> {
    let Some(chain) = chain else {
        return Ok(cert); // a root: the client's trust anchor is ca.crt itself
    };
    let above = crate::pki::pem::decode_certificates(chain, chain.len())
        .map_err(|e| Error::state(crate::model::layout::CHAIN, e))?;
    cert.extend_from_slice(ca);
    for der in above.iter().take(above.len().saturating_sub(1)) {
        cert.extend_from_slice(crate::pki::pem::pem_of("CERTIFICATE", der).as_bytes());
    }
    Ok(cert)
}

/// Signed by ca.crt, naming every host, and not in the last third of its validity.
pub fn still_good(cert: &[u8], ca: &[u8], sans: &[San], now: time::OffsetDateTime) -> bool {
    let der = |b: &[u8]| crate::pki::pem::decode_one(b, &["CERTIFICATE"], 1 << 20).ok();
    let (Some(cert), Some(ca)) = (der(cert), der(ca)) else {
        return false;
    };
    use x509_parser::prelude::FromDer;
    let (Ok((_, c)), Ok((_, a))) = (
        x509_parser::certificate::X509Certificate::from_der(&cert),
        x509_parser::certificate::X509Certificate::from_der(&ca),
    ) else {
        return false;
    };
    if c.verify_signature(Some(a.public_key())).is_err() {
        return false;
    }
    let (from, to) = (
        c.validity().not_before.timestamp(),
        c.validity().not_after.timestamp(),
    );
    let now = now.unix_timestamp();
    if now < from || now >= to - (to - from) / 3 {
        return false;
    }
    use x509_parser::extensions::GeneralName;
    let names: Vec<San> = c
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(d) => Some(San::Dns(d.to_string())),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(|a| San::Ip(a.into())),
                        16 => <[u8; 16]>::try_from(*b).ok().map(|a| San::Ip(a.into())),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    sans.iter().all(|s| names.contains(s))
}

/// The certificate the server presents: swapped in place when it is renewed, so connections
/// after a renewal get the new one and those in progress keep theirs.
#[derive(Debug)]
pub struct Current(RwLock<Arc<CertifiedKey>>);

impl Current {
    /// The pair as rustls serves it.
    pub fn new(pair: &Pair) -> Result<Current> {
        Ok(Current(RwLock::new(Arc::new(certified(pair)?))))
    }

    /// Serves `pair` from now on.
    pub fn replace(&self, pair: &Pair) -> Result<()> {
        let new = Arc::new(certified(pair)?);
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for Current {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// ring, the crate's one crypto stack; rustls deprecates its ring provider only for lacking
/// the post-quantum key exchange, which no ACME client needs.
#[allow(deprecated)]
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The certificate chain and key of `pair`, the key checked against the certificate.
fn certified((cert_pem, key_pem): &Pair) -> Result<CertifiedKey> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let chain = crate::pki::pem::decode_certificates(cert_pem, cert_pem.len())
        .map_err(|e| Error::bug_in("reading acme-tls.crt", e))?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key = crate::pki::pem::decode_one(key_pem, &["PRIVATE KEY"], key_pem.len())
        .map_err(|e| Error::bug_in("reading acme-tls.key", e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| Error::bug_in("loading acme-tls.key and acme-tls.crt", e))
}

/// The rustls server configuration (ring provider) serving `current`.
pub fn config(current: Arc<Current>) -> Result<rustls::ServerConfig> {
    rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_no_client_auth().with_cert_resolver(current))
        .map_err(|e| Error::bug_in("building the ACME TLS configuration", e))
}

#[cfg(test)]
mod tests;
