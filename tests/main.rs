//! The one integration test binary: drives the real `ca` binary. Each module covers one area
//! and names the SPEC.md requirement IDs it tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // tests build fixtures with std::fs and print notes

mod harness;

mod acme;
mod acme_account;
mod acme_alpn;
mod acme_client;
mod acme_crash;
mod acme_dns;
mod acme_eab;
mod acme_revoke;
mod acme_subca;
mod adopt;
mod batch;
mod boundary;
mod chain_reports;
mod check;
mod checkpoint;
mod commit;
mod concurrency;
mod crash;
mod edges;
mod environment;
mod export;
mod hierarchy;
mod hostile;
mod init;
mod inprocess;
mod inputs;
mod interop;
mod keys;
mod lint;
mod ocsp;
mod operator;
mod outputs;
mod p12;
mod pkcs11;
mod pkcs11_adopt;
mod pkcs11_keys;
mod policy;
mod powerloss;
mod powerloss_subca;
mod readme;
mod recovery;
mod revoke_crl;
mod serve;
mod serve_fuzz;
mod serve_http;
mod sign;
mod simdisk;
mod status;
mod structure;
mod terminal;
mod unhold;
mod upgrade;
