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
pub const JOURNAL: &str = ".journal";
/// The staged journal of format 1 (fileca before protocol v2), removed as a stray.
pub const JOURNAL_STAGE: &str = ".journal.stage";

/// Mode of ca.key: owner read/write only.
pub const MODE_SECRET: u32 = 0o600;
/// Mode of every other state file.
pub const MODE_PUBLIC: u32 = 0o644;
/// Mode of `.lock`: owner only, so no other user can hold a shared lock and block mutations.
pub const MODE_LOCK: u32 = 0o600;
/// Mode of the state directory.
pub const MODE_DIR: u32 = 0o700;
/// Mode of certs/.
pub const MODE_CERTS_DIR: u32 = 0o755;

/// The top-level state files a commit may replace (besides certs/SERIAL.pem and archived
/// CA certificates, ca-SERIAL.crt).
pub const STATE_FILES: [&str; 8] = [KEY, CERT, CRL, SERIAL, CRLNUMBER, INDEX, INDEX_LOG, AUDIT];
