//! PLAN-PURE for a hierarchy, on snapshots in memory: `init --parent`'s steps (the pending
//! CA's key and request, the parent's sub-CA signature, completing the pending CA: also
//! `install-ca` of a pending CA) and `install-ca` of a renewed certificate (INSTALL-SWAP),
//! with their refusals. Nothing is read from a directory: the parent and the child are maps.

use std::path::{Path, PathBuf};

use time::Duration;

use super::{DIR, Mem, env_at, issued_serial, refusal, t0};
use crate::error::{Error, Refused};
use crate::model::change::Refusal;
use crate::model::layout::{CERT, CHAIN, KEY};
use crate::passphrase::Source;
use crate::pki::ca::CaCert;
use crate::pki::keys::KeyType;
use crate::pki::names::Subject;
use crate::pki::pem::{MAX_PEM_BYTES, decode_one};
use crate::store::{Plan, Reads};

/// The DER of the one certificate `plan` writes.
fn issued_der(plan: &Plan) -> Vec<u8> {
    let file = crate::model::layout::cert_file(&issued_serial(plan));
    let pem = &plan.writes.iter().find(|w| w.target == file).unwrap().bytes;
    decode_one(pem, &["CERTIFICATE"], MAX_PEM_BYTES).unwrap()
}

/// `csr_pem` signed by `parent` under its sub-ca profile, as `init --parent` asks.
fn sign_sub_ca(parent: &mut Mem, csr_pem: &str, seed: u64) -> Vec<u8> {
    let der = decode_one(csr_pem.as_bytes(), &["CERTIFICATE REQUEST"], MAX_PEM_BYTES).unwrap();
    let csr = crate::pki::csr::check(&der).unwrap();
    let ask = crate::policy::SubCaAsk::default();
    let request = super::super::signing::Sign {
        csr: &csr,
        sans: &[],
        profile: "sub-ca",
        days: Some(180),
        sub_ca: &ask,
        sub_ca_only: true,
    };
    let env = env_at(t0() + Duration::hours(1), seed);
    let planned =
        super::super::signing::plan(&parent.snapshot(Reads::SIGN), &request, &env).unwrap();
    parent.apply(&planned.plan);
    issued_der(&planned.plan)
}

/// What `install-ca` (or `init --parent`'s last step) is given for the pending CA.
fn install(certs: Vec<Vec<u8>>, key_file: &[u8], csr: &str) -> super::super::pending::Install {
    super::super::pending::Install {
        dir: PathBuf::from(DIR),
        cert_path: PathBuf::from("issuing.crt"),
        certs,
        key_file: zeroize::Zeroizing::new(key_file.to_vec()),
        csr: csr.as_bytes().to_vec(),
    }
}

fn ca_of(cert: &[u8], key_file: &[u8]) -> crate::error::Result<crate::pki::ca::Ca> {
    crate::model::snapshot::ca_with_key(
        Path::new(DIR),
        CaCert::parse(cert).unwrap(),
        key_file,
        &Source::default(),
    )
}

#[test]
/// Long because it is one scenario: each step planned on what the previous one left.
fn init_parent_steps_and_install_ca_in_memory_plan_pure_subca_install_swap() {
    let mut root = Mem::init();
    let root_der = root.snapshot(Reads::SIGN).ca.cert.der.clone();
    let subject = Subject::parse("CN=Plan Issuing").unwrap();

    // Step 1: the pending CA, a key and a request signed by it.
    let (pending, csr_pem) =
        super::super::new_ca::plan_pending(&subject, KeyType::EcdsaP256, None).unwrap();
    let key_file = pending
        .iter()
        .find(|w| w.target == KEY)
        .unwrap()
        .bytes
        .clone();
    assert!(csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));

    // Step 2: the parent signs it as a sub-CA.
    let child_der = sign_sub_ca(&mut root, &csr_pem, 5);
    let env = env_at(t0() + Duration::hours(2), 6);

    // Step 3, refused: without a way to the root; a certificate for another key; too late.
    let ca = ca_of(&child_der, &key_file).unwrap();
    let no_chain = install(vec![child_der.clone()], &key_file, &csr_pem);
    assert!(matches!(
        super::super::pending::plan(&no_chain, &ca, &env),
        Err(Error::Refused(Refused::Chain { .. }))
    ));
    assert!(matches!(
        ca_of(&root_der, &key_file),
        Err(Error::KeyCertMismatch { .. })
    ));
    let later = env_at(t0() + Duration::days(400), 6);
    let request = install(
        vec![child_der.clone(), root_der.clone()],
        &key_file,
        &csr_pem,
    );
    assert!(matches!(
        refusal(super::super::pending::plan(&request, &ca, &later)),
        Refusal::CaNotValid { .. }
    ));

    // Step 3: every file of the complete CA, whose snapshot verifies, and which issues.
    let (files, serial) = super::super::pending::plan(&request, &ca, &env).unwrap();
    let mut child = Mem {
        files: files.into_iter().map(|w| (w.target, w.bytes)).collect(),
    };
    assert_eq!(child.snapshot(Reads::SIGN).ca.cert.der, child_der);
    assert_eq!(
        serial.to_string(),
        crate::pki::serial::Serial::from_magnitude(
            crate::pki::pem::certificate(&child_der)
                .unwrap()
                .raw_serial()
        )
        .to_string()
    );
    let chain = decode_one(&child.get(CHAIN), &["CERTIFICATE"], MAX_PEM_BYTES).unwrap();
    assert_eq!(chain, root_der, "chain.pem holds the parent's certificate");
    let leaf = super::csr("shop.lab.test");
    let planned = super::super::signing::plan(
        &child.snapshot(Reads::SIGN),
        &super::sign_request(&leaf),
        &env,
    )
    .unwrap();
    let leaf_der = issued_der(&planned.plan);
    let leaf_x509 = crate::pki::pem::certificate(&leaf_der).unwrap();
    let child_x509 = crate::pki::pem::certificate(&child_der).unwrap();
    assert!(
        leaf_x509
            .verify_signature(Some(child_x509.public_key()))
            .is_ok(),
        "the new CA signs"
    );
    assert!(crate::pki::chain::to_root(&child_der, std::slice::from_ref(&root_der)).is_ok());
    child.apply(&planned.plan);

    // install-ca of a renewed certificate (INSTALL-SWAP): refused for the one installed and
    // for another key's; then ca.crt is the new one, the old one archived.
    let swap = |child: &Mem, certs: &[Vec<u8>]| {
        super::super::install_ca::plan_swap(
            &child.snapshot(Reads::SIGN),
            Path::new("renewed.crt"),
            certs,
            &env,
        )
    };
    assert!(matches!(
        refusal(swap(&child, &[child_der.clone(), root_der.clone()])),
        Refusal::AlreadyInstalled(_)
    ));
    assert!(matches!(
        swap(&child, std::slice::from_ref(&root_der)),
        Err(Error::Refused(Refused::NotForThisKey { .. }))
    ));
    let renewed = sign_sub_ca(&mut root, &csr_pem, 7);
    let planned = swap(&child, &[renewed.clone(), root_der.clone()]).unwrap();
    child.apply(&planned.plan);
    let snap = child.snapshot(Reads::SIGN);
    assert_eq!(snap.ca.cert.der, renewed);
    let old = crate::model::layout::archived_ca_file(&serial);
    let archived = decode_one(&child.get(&old), &["CERTIFICATE"], MAX_PEM_BYTES).unwrap();
    assert_eq!(
        archived, child_der,
        "{old} keeps the certificate it replaced"
    );
    assert_ne!(child.get(CERT), archived);
}
