//! The layout of the state directory (SPEC.md `DIR-*`): every file name and mode, spelled
//! once. `store` re-exports these; nothing else spells a state file's name.

/// File names inside the state directory (SPEC.md `DIR-*`).
pub const KEY: &str = "ca.key";
pub const CERT: &str = "ca.crt";
pub const CRL: &str = "ca.crl";
pub const SERIAL: &str = "serial";
pub const CRLNUMBER: &str = "crlnumber";
pub const INDEX: &str = "index.json";
pub const INDEX_LOG: &str = "index.log";
pub const AUDIT: &str = "audit.log";
pub const CERTS: &str = "certs";
pub const LOCK: &str = ".lock";
/// The certificate request of a pending CA, kept after `install-ca` (SPEC.md PENDING-*).
pub const CSR: &str = "ca.csr";
/// The issuers of ca.crt up to and including the root (SPEC.md CHAIN-*), for a sub-CA.
pub const CHAIN: &str = "chain.pem";
/// The CA's policy (SPEC.md POLICY-*), when it has one of its own, and the largest
/// policy.toml read: the policy module's, which sits below this one.
pub use crate::policy::{FILE as POLICY, MAX_BYTES as MAX_POLICY_BYTES};
/// The delegated OCSP responder's key (PKCS#8 PEM, 0600) and certificate (SPEC.md
/// OCSP-RESPONDER), written by `ca ocsp-responder renew`.
pub const OCSP_KEY: &str = "ocsp.key";
pub const OCSP_CERT: &str = "ocsp.crt";
/// The ACME server's accounts, orders and authorizations (SPEC.md ACME-STATE), written by
/// `ca serve --acme` through the journaled commit; its SHA-256 is in the signed checkpoint.
pub const ACME: &str = "acme.json";
/// The ACME server's own TLS key (PKCS#8 PEM, 0600) and certificate, issued by this CA
/// (SPEC.md ACME-TLS).
pub const ACME_TLS_KEY: &str = "acme-tls.key";
pub const ACME_TLS_CERT: &str = "acme-tls.crt";
pub const JOURNAL: &str = ".journal";
/// What recovery committed but did not deliver outside the state directory (SPEC.md
/// RECOVER-UNDELIVERED): one JSON object per line, listed by `ca check`, removed by the next
/// commit.
pub const UNDELIVERED: &str = ".undelivered";
/// The staged journal of format 1 (fileca before protocol v2), removed as a stray.
pub const JOURNAL_STAGE: &str = ".journal.stage";

/// Mode of ca.key: owner read/write only.
pub const MODE_SECRET: u32 = 0o600;
/// Mode of every other state file.
pub const MODE_PUBLIC: u32 = 0o644;
/// ocsp.key readable by the group of a `ca serve` user (never by others, never writable by
/// the group): kept by `ca ocsp-responder renew` when the key it replaces has it.
pub const MODE_GROUP_SECRET: u32 = 0o640;
/// Mode of `.lock`: owner only, so no other user can hold a shared lock and block mutations.
pub const MODE_LOCK: u32 = 0o600;
/// Mode of the state directory.
pub const MODE_DIR: u32 = 0o700;
/// Mode of certs/.
pub const MODE_CERTS_DIR: u32 = 0o755;

/// The top-level state files a commit may replace (besides certs/SERIAL.pem and archived
/// CA certificates, ca-SERIAL.crt).
pub const STATE_FILES: [&str; 16] = [
    KEY,
    CERT,
    CRL,
    SERIAL,
    CRLNUMBER,
    INDEX,
    INDEX_LOG,
    AUDIT,
    CSR,
    CHAIN,
    POLICY,
    OCSP_KEY,
    OCSP_CERT,
    ACME,
    ACME_TLS_KEY,
    ACME_TLS_CERT,
];

/// The file of an issued certificate, relative to the state directory: `certs/SERIAL.pem`.
pub fn cert_file(serial: &impl std::fmt::Display) -> String {
    format!("{CERTS}/{serial}.pem")
}

/// The serial named by a `certs/SERIAL.pem` path (relative to the state directory), if it is
/// one.
pub fn serial_of_cert_file(rel: &str) -> Option<&str> {
    rel.strip_prefix(CERTS)?
        .strip_prefix('/')?
        .strip_suffix(".pem")
}

/// The archived CA certificate that `ca renew-ca` keeps: `ca-SERIAL.crt`.
pub fn archived_ca_file(serial: &impl std::fmt::Display) -> String {
    format!("ca-{serial}.crt")
}

/// The serial named by an archived CA certificate's file name, if it is one.
pub fn serial_of_archived_ca(name: &str) -> Option<&str> {
    name.strip_prefix("ca-")?.strip_suffix(".crt")
}
