//! Every command's plan, run in process on snapshots built in memory (SPEC.md PLAN-PURE): no
//! directory, no lock, no clock, no terminal. The "directory" is a map of file names to bytes
//! that starts as `init`'s plan and takes each plan's writes and appends, as a commit would;
//! its path does not exist, so a plan that read anything from the filesystem would fail here.
//! Each refusal is matched by its type, and the snapshot it was refused on still loads and
//! verifies afterwards (a refused plan changes nothing: it is a value).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};

use crate::Env;
use crate::error::{Error, Refused};
use crate::model::change::Refusal;
use crate::model::header::Header;
use crate::model::layout::{
    AUDIT, CERT, CHAIN, CRL, CRLNUMBER, INDEX, INDEX_LOG, KEY, POLICY, SERIAL,
};
use crate::model::log::{Log, Typed};
use crate::model::snapshot::{Raw, RawKey, Snapshot};
use crate::passphrase::Source;
use crate::pki::keys::KeyType;
use crate::pki::names::{San, Subject};
use crate::pki::reason::Reason;
use crate::store::{Plan, Reads};

mod change;
mod hierarchy;
mod remote;

/// A path that does not exist: messages name it; nothing may read it.
const DIR: &str = "/nonexistent/fileca-plan-test";

/// A CA directory as bytes.
struct Mem {
    files: BTreeMap<String, Vec<u8>>,
}

fn env_at(now: OffsetDateTime, seed: u64) -> Env {
    Env {
        now,
        user: "plan-test".into(),
        rng: crate::rand::Rng::seeded(seed),
        fixed_time: true,
    }
}

fn t0() -> OffsetDateTime {
    // A fixed time: plans take it from `Env`, never from the clock.
    time::macros::datetime!(2026-03-01 12:00 UTC)
}

impl Mem {
    /// A new root CA, as `ca init --subject CN=Plan Root --days 365` plans it.
    fn init() -> Mem {
        let request = super::init::Init {
            source: super::init::Source::Generate {
                subject: Subject::parse("CN=Plan Root").unwrap(),
                key_type: KeyType::EcdsaP256,
                days: 365,
                path_len: None,
                constraints: Default::default(),
            },
            passphrase: None,
            urls: Default::default(),
        };
        let writes = super::init::plan(&request, &env_at(t0(), 1)).unwrap();
        Mem {
            files: writes.into_iter().map(|w| (w.target, w.bytes)).collect(),
        }
    }

    fn get(&self, name: &str) -> Vec<u8> {
        self.files
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is missing"))
    }

    /// What the session would read, from the map.
    fn raw(&self, reads: Reads) -> Raw {
        let audit = self.get(AUDIT);
        let audit_last = audit.strip_suffix(b"\n").map(|body| {
            body[body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)..].to_vec()
        });
        Raw {
            dir: PathBuf::from(DIR),
            cert: self.get(CERT),
            key: reads.key.then(|| RawKey {
                bytes: zeroize::Zeroizing::new(self.get(KEY)),
                mode: 0o600,
            }),
            header: Header::parse(&self.get(INDEX)).unwrap(),
            serial: self.get(SERIAL),
            crlnumber: self.get(CRLNUMBER),
            audit_len: audit.len() as u64,
            audit_last,
            crl: self.files.get(CRL).cloned(),
            chain: self.files.get(CHAIN).cloned(),
            policy: self.files.get(POLICY).cloned(),
            acme: self.files.get(crate::model::layout::ACME).cloned(),
            present: self
                .files
                .keys()
                .map(|k| k.split('/').next().unwrap().to_string())
                .collect::<BTreeSet<_>>(),
            log: (reads.log != crate::store::LogReads::None)
                .then(|| Log::bytes(self.get(INDEX_LOG), Path::new(DIR).join(INDEX_LOG))),
        }
    }

    /// The snapshot a command would plan on, verified against the signed checkpoint.
    fn snapshot(&self, reads: Reads) -> Snapshot {
        Snapshot::from_raw(self.raw(reads), &Source::default(), false)
            .unwrap_or_else(|e| panic!("the state does not load: {e}"))
    }

    /// The plan's changes, as a commit makes them: whole writes, appends at their offset.
    fn apply(&mut self, plan: &Plan) {
        for w in &plan.writes {
            self.files.insert(w.target.clone(), w.bytes.clone());
        }
        for a in &plan.appends {
            let file = self.files.entry(a.target.clone()).or_default();
            assert_eq!(
                file.len() as u64,
                a.offset,
                "{} appended at its length",
                a.target
            );
            file.extend_from_slice(&a.bytes);
        }
    }
}

/// A CSR for `dns` with a new P-256 key, checked by the CSR gate.
fn csr(dns: &str) -> crate::pki::csr::CheckedCsr {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![dns.to_string()]).unwrap();
    let der = params.serialize_request(&key).unwrap();
    crate::pki::csr::check(der.der()).unwrap()
}

fn sign_request(csr: &crate::pki::csr::CheckedCsr) -> super::signing::Sign<'_> {
    static NO_SUB_CA: std::sync::LazyLock<crate::policy::SubCaAsk> =
        std::sync::LazyLock::new(Default::default);
    super::signing::Sign {
        csr,
        sans: &[],
        profile: "server",
        days: Some(30),
        sub_ca: &NO_SUB_CA,
        sub_ca_only: false,
    }
}

fn refusal<T>(r: crate::error::Result<T>) -> Refusal {
    match r {
        Err(Error::Refusal(r)) => r,
        Err(e) => panic!("not a refusal: {e:?}"),
        Ok(_) => panic!("not refused"),
    }
}

/// The serial of the one certificate a plan writes.
fn issued_serial(plan: &Plan) -> String {
    let serials: Vec<&str> = plan
        .writes
        .iter()
        .filter_map(|w| crate::model::layout::serial_of_cert_file(&w.target))
        .collect();
    assert_eq!(serials.len(), 1, "{serials:?}");
    serials[0].to_string()
}

#[test]
/// Long because it is one scenario, each plan applied before the next is planned.
fn sign_then_revoke_then_crl_in_memory_plan_pure() {
    let mut ca = Mem::init();
    let env = env_at(t0() + Duration::hours(1), 2);

    // sign: the certificate, the log line, the counter, index.json, one audit record.
    let csr = csr("web.test");
    let planned =
        super::signing::plan(&ca.snapshot(Reads::SIGN), &sign_request(&csr), &env).unwrap();
    let serial = issued_serial(&planned.plan);
    let targets: BTreeSet<&str> = planned
        .plan
        .writes
        .iter()
        .map(|w| w.target.as_str())
        .collect();
    assert!(
        targets.contains(SERIAL) && targets.contains(INDEX),
        "{targets:?}"
    );
    let appended: Vec<&str> = planned
        .plan
        .appends
        .iter()
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(appended, [INDEX_LOG, AUDIT]);
    assert!(planned.stdout.starts_with("-----BEGIN CERTIFICATE-----"));
    ca.apply(&planned.plan);

    // revoke: refused for an unknown serial and removeFromCRL; then revoked once.
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    let typed = |s: &str| super::revoke::Target::Typed(Typed::parse(s).unwrap());
    let revoke = |target, reason| super::revoke::Revoke {
        target,
        reason,
        crl_days: None,
    };
    assert!(matches!(
        super::revoke::plan(
            &snap,
            &revoke(typed("0A0B0C0D0E0F1011"), Reason::Superseded),
            &env
        ),
        Err(Error::Serial(
            crate::model::log::SerialLookup::NotFound { .. }
        ))
    ));
    assert_eq!(
        refusal(super::revoke::plan(
            &snap,
            &revoke(typed(&serial), Reason::RemoveFromCrl),
            &env
        )),
        Refusal::RemoveFromCrl
    );
    let planned =
        super::revoke::plan(&snap, &revoke(typed(&serial), Reason::KeyCompromise), &env).unwrap();
    assert!(
        planned.plan.writes.iter().all(|w| w.target != CRL),
        "no CRL without --crl"
    );
    ca.apply(&planned.plan);
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    assert!(matches!(
        refusal(super::revoke::plan(
            &snap,
            &revoke(typed(&serial), Reason::Superseded),
            &env
        )),
        Refusal::AlreadyRevoked { .. }
    ));

    // crl: lists the revocation, and takes the next CRL number.
    let planned = super::crl::plan(&snap, 7, &env).unwrap();
    let crl = &planned
        .plan
        .writes
        .iter()
        .find(|w| w.target == CRL)
        .unwrap()
        .bytes;
    let der = crate::pki::pem::decode_one(crl, &["X509 CRL"], crl.len()).unwrap();
    let (_, parsed) = x509_parser::parse_x509_crl(&der).unwrap();
    let listed: Vec<String> = parsed
        .iter_revoked_certificates()
        .map(|r| crate::pki::serial::Serial::from_magnitude(r.raw_serial()).to_string())
        .collect();
    assert_eq!(listed, std::slice::from_ref(&serial));
    ca.apply(&planned.plan);
    let after = ca.snapshot(Reads::SIGN_WITH_LOG);
    assert_eq!(after.crlnumber, snap.crlnumber.next().unwrap());
    assert_eq!(after.revocations().unwrap().len(), 1);

    // renew of a key revoked for keyCompromise without a new CSR: refused.
    let entry = after.resolve(&Typed::parse(&serial).unwrap()).unwrap();
    let pem = ca.get(&crate::model::layout::cert_file(&entry.serial));
    let der = crate::model::snapshot::check_recorded(Path::new(DIR), &pem, &entry, &after.ca.cert)
        .unwrap();
    let renew = super::renew::Renew {
        old: Typed::parse(&serial).unwrap(),
        csr: None,
        days: None,
        revoke_old: false,
    };
    let recorded = super::renew::Recorded { entry, der };
    assert!(matches!(
        refusal(super::renew::plan(&after, &renew, &recorded, &env)),
        Refusal::CompromisedKey(_)
    ));
}

#[test]
fn renew_and_batch_sign_in_memory_plan_pure() {
    let mut ca = Mem::init();
    let env = env_at(t0() + Duration::days(1), 3);
    let csrs: Vec<_> = ["a.test", "b.test", "c.test"]
        .iter()
        .map(|n| (PathBuf::from(format!("{n}.csr")), csr(n)))
        .collect();
    let planned =
        super::sign::plan_batch(&ca.snapshot(Reads::SIGN), &csrs, "server", None, &env).unwrap();
    let certs = planned
        .plan
        .writes
        .iter()
        .filter(|w| w.target.starts_with("certs/"))
        .count();
    assert_eq!(certs, 3);
    ca.apply(&planned.plan);

    // renew the first one (same key), revoking it as superseded in the same commit.
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    let first = snap.header.max_serial().unwrap();
    let mut entry = None;
    crate::model::log::for_each_entry(
        &Log::bytes(ca.get(INDEX_LOG), PathBuf::from(DIR)),
        &snap.header,
        |e| {
            entry.get_or_insert(e);
            Ok(())
        },
    )
    .unwrap();
    let entry = entry.unwrap();
    assert_ne!(
        entry.serial, first,
        "issue order, not serial order, decides `first`"
    );
    let pem = ca.get(&crate::model::layout::cert_file(&entry.serial));
    let der = crate::model::snapshot::check_recorded(Path::new(DIR), &pem, &entry, &snap.ca.cert)
        .unwrap();
    let old = entry.serial.to_string();
    let renew = super::renew::Renew {
        old: Typed::parse(&old).unwrap(),
        csr: None,
        days: Some(10),
        revoke_old: true,
    };
    let recorded = super::renew::Recorded { entry, der };
    let planned = super::renew::plan(&snap, &renew, &recorded, &env).unwrap();
    ca.apply(&planned.plan);
    let after = ca.snapshot(Reads::SIGN_WITH_LOG);
    let revoked = after.revocations().unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].revoked, old);
}

#[test]
/// Long because it is one scenario, each plan applied before the next is planned.
fn issue_passwd_policy_and_renew_ca_in_memory_plan_pure() {
    let mut ca = Mem::init();
    let env = env_at(t0() + Duration::days(2), 4);

    // issue: a key pair made by the caller, the certificate in the plan, the pair published
    // after the commit (a plan of files outside the directory, not written by the plan).
    let (key, key_pem) = crate::pki::keys::generate(KeyType::EcdsaP256).unwrap();
    let request = super::issue::Issue {
        name: "web.test".into(),
        out_dir: PathBuf::from(DIR).join("out"),
        subject: Subject::parse("CN=web.test").unwrap(),
        subject_given: false,
        sans: vec![San::dns("web.test").unwrap()],
        key,
        key_pem: zeroize::Zeroizing::new(key_pem),
        key_type: KeyType::EcdsaP256,
        profile: "no-such-profile".into(),
        days: Some(30),
        p12: None,
    };
    assert!(matches!(
        refusal(super::issue::plan(
            &ca.snapshot(Reads::SIGN),
            &request,
            &env
        )),
        Refusal::Policy(_)
    ));
    let request = super::issue::Issue {
        profile: "server".into(),
        ..request
    };
    let planned = super::issue::plan(&ca.snapshot(Reads::SIGN), &request, &env).unwrap();
    assert!(planned.plan.pair.is_some());
    issued_serial(&planned.plan);
    ca.apply(&planned.plan);

    // passwd: ca.key encrypted with the new passphrase; the next snapshot needs it.
    let planned =
        super::passwd::plan(&ca.snapshot(Reads::SIGN), Some("a long passphrase"), &env).unwrap();
    let mut encrypted = Mem {
        files: ca.files.clone(),
    };
    encrypted.apply(&planned.plan);
    assert!(crate::pki::keys::is_encrypted(
        &String::from_utf8(encrypted.get(KEY)).unwrap()
    ));
    let no_pass = Snapshot::from_raw(encrypted.raw(Reads::SIGN), &Source::default(), false);
    assert!(
        matches!(
            no_pass,
            Err(Error::Passphrase(
                crate::passphrase::PassphraseError::ChangedUnderLock(_)
            ))
        ),
        "under the lock a passphrase is never asked for"
    );

    // policy: a policy that does not parse is refused; one that does is recorded.
    let snap = ca.snapshot(Reads::SIGN);
    let file = Path::new("policy.toml");
    assert!(matches!(
        super::policy::plan(&snap, "[profiles.server\n", file, &env),
        Err(Error::Refused(Refused::Policy { .. }))
    ));
    let text = crate::policy::DEFAULT_TOML.replace(
        "extended_key_usage = [\"serverAuth\"]\ndefault_days = 365",
        "extended_key_usage = [\"serverAuth\"]\ndefault_days = 90\nmax_days = 90",
    );
    assert_ne!(
        text,
        crate::policy::DEFAULT_TOML,
        "the default policy changed shape"
    );
    let planned = super::policy::plan(&snap, &text, file, &env).unwrap();
    ca.apply(&planned.plan);
    let snap = ca.snapshot(Reads::SIGN);
    assert_eq!(
        snap.policy().unwrap().profile("server").unwrap().max_days,
        Some(90)
    );

    // renew-ca: the new ca.crt and the old one archived; refused if the archive exists.
    let planned = super::renew_ca::plan(&snap, 365, &env).unwrap();
    let archive = planned
        .plan
        .writes
        .iter()
        .find(|w| crate::model::layout::serial_of_archived_ca(&w.target).is_some())
        .map(|w| w.target.clone())
        .expect("the old ca.crt archived");
    let mut planted = Mem {
        files: ca.files.clone(),
    };
    planted.files.insert(archive, b"planted".to_vec());
    assert!(matches!(
        super::renew_ca::plan(&planted.snapshot(Reads::SIGN), 365, &env),
        Err(Error::State { .. })
    ));
    ca.apply(&planned.plan);
    ca.snapshot(Reads::SIGN);
}

#[test]
fn plans_refuse_outside_the_ca_validity_and_unknown_profiles_plan_pure() {
    let ca = Mem::init();
    let csr = csr("web.test");
    let snap = ca.snapshot(Reads::SIGN);
    let late = env_at(t0() + Duration::days(400), 5);
    assert!(matches!(
        refusal(super::signing::plan(&snap, &sign_request(&csr), &late)),
        Refusal::CaNotValid { .. }
    ));
    let env = env_at(t0() + Duration::days(1), 5);
    let mut request = sign_request(&csr);
    request.profile = "no-such-profile";
    assert!(matches!(
        refusal(super::signing::plan(&snap, &request, &env)),
        Refusal::Policy(_)
    ));
    let mut request = sign_request(&csr);
    request.sub_ca_only = true;
    assert!(matches!(
        refusal(super::signing::plan(&snap, &request, &env)),
        Refusal::Policy(crate::policy::PolicyRefusal::NotSubCaProfile { .. })
    ));
    // The snapshot is a value: what was refused left it as it was.
    ca.snapshot(Reads::SIGN);
}

#[test]
/// Long because it is one scenario: hold, release, hold again, made final, each plan applied.
fn hold_release_and_final_revocation_in_memory_plan_pure_unhold() {
    let mut ca = Mem::init();
    let env = env_at(t0() + Duration::hours(2), 11);
    let csr = csr("held.test");
    let planned =
        super::signing::plan(&ca.snapshot(Reads::SIGN), &sign_request(&csr), &env).unwrap();
    let serial = issued_serial(&planned.plan);
    ca.apply(&planned.plan);
    let typed = || Typed::parse(&serial).unwrap();
    let unhold = |crl_days| super::unhold::Unhold {
        serial: typed(),
        crl_days,
    };
    let revoke = |reason| super::revoke::Revoke {
        target: super::revoke::Target::Typed(typed()),
        reason,
        crl_days: Some(7),
    };

    // Not on hold: refused, and the snapshot still verifies.
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    assert!(matches!(
        refusal(super::unhold::plan(&snap, &unhold(None), &env)),
        Refusal::NotOnHold { .. }
    ));

    // Held (with a CRL listing it), then released with a CRL that omits it.
    ca.apply(
        &super::revoke::plan(&snap, &revoke(Reason::CertificateHold), &env)
            .unwrap()
            .plan,
    );
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    assert_eq!(snap.revocations().unwrap().len(), 1);
    assert!(matches!(
        refusal(super::revoke::plan(
            &snap,
            &revoke(Reason::CertificateHold),
            &env
        )),
        Refusal::AlreadyHeld { .. }
    ));
    let planned = super::unhold::plan(&snap, &unhold(Some(7)), &env).unwrap();
    let released = String::from_utf8(planned.plan.appends[0].bytes.clone()).unwrap();
    assert_eq!(
        released,
        format!("{{\"released\":\"{serial}\",\"at\":\"2026-03-01T14:00:00Z\"}}\n")
    );
    assert!(planned.plan.writes.iter().any(|w| w.target == CRL));
    ca.apply(&planned.plan);
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    assert!(snap.revocations().unwrap().is_empty());
    let entry = snap.resolve(&typed()).unwrap();
    assert_eq!((entry.revoked, entry.released), (None, Some(env.now)));

    // Held again, made final: listed once with the final reason; no longer releasable.
    ca.apply(
        &super::revoke::plan(&snap, &revoke(Reason::CertificateHold), &env)
            .unwrap()
            .plan,
    );
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    let planned = super::revoke::plan(&snap, &revoke(Reason::KeyCompromise), &env).unwrap();
    assert!(
        planned
            .notes
            .iter()
            .any(|n| format!("{n:?}").contains("can no longer be released")),
        "{:?}",
        planned.notes
    );
    ca.apply(&planned.plan);
    let snap = ca.snapshot(Reads::SIGN_WITH_LOG);
    let listed = snap.revocations().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, "keyCompromise");
    assert!(matches!(
        refusal(super::unhold::plan(&snap, &unhold(None), &env)),
        Refusal::NotOnHold { .. }
    ));
}

#[test]
fn upgrade_of_a_signed_directory_writes_only_the_header_in_memory_plan_pure_upgrade_format_3() {
    let mut ca = Mem::init();
    let env = env_at(t0() + Duration::hours(3), 12);
    let csr = csr("kept.test");
    ca.apply(
        &super::signing::plan(&ca.snapshot(Reads::SIGN), &sign_request(&csr), &env)
            .unwrap()
            .plan,
    );
    let log = ca.get(INDEX_LOG);
    let snap = ca.snapshot(Reads::SIGN);
    let planned = super::upgrade::plan(&snap, Vec::new(), &env).unwrap();
    let targets: Vec<&str> = planned
        .plan
        .writes
        .iter()
        .map(|w| w.target.as_str())
        .collect();
    assert_eq!(targets, [INDEX], "index.log is kept byte for byte");
    let appended: Vec<&str> = planned
        .plan
        .appends
        .iter()
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(appended, [AUDIT]);
    assert!(String::from_utf8_lossy(&planned.plan.appends[0].bytes).contains("\"upgrade\""));
    ca.apply(&planned.plan);
    let after = ca.snapshot(Reads::SIGN);
    assert_eq!(after.header.format, crate::model::header::FORMAT);
    assert_eq!(after.header.generation, snap.header.generation + 1);
    assert_eq!(ca.get(INDEX_LOG), log);
}

mod ocsp_responder;
