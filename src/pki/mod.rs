//! The PKI core: pure functions over bytes and values — no I/O, no clap, no paths. What a
//! certificate, a CSR, a name, a key, a serial, a reason, a profile and a CRL are, and how one
//! is issued. Commands feed it what they read; the store writes what it returns.

pub mod ca;
pub mod chain;
pub mod constraints;
pub mod crl;
pub mod csr;
pub mod issuance;
pub mod keys;
pub mod legacy_pem;
pub mod names;
pub mod p12;
pub mod pem;
pub mod profile;
pub mod reason;
pub mod serial;
