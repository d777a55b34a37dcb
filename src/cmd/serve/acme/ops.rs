//! The ACME server's changes to the state directory: each request that changes acme.json —
//! a new account, a new order, a validated challenge, a finalize — is one journaled commit
//! under the directory's exclusive lock, planned from the snapshot read under that lock (so a
//! finalize that finds its order already `valid` issues nothing), with the audit record
//! naming the account (SPEC.md ACME-STATE, ACME-AUDIT).

use crate::Env;
use crate::acme::problem::{Kind, Problem, problem};
use crate::acme::state::{Failure, Identifier, State};
use crate::error::{Error, Result};
use crate::model::change::{AuditInfo, Refusal, allot_serial, finish_plan_for, issue_entry};
use crate::model::layout::{ACME, SERIAL, cert_file};
use crate::model::log::LogAppend;
use crate::model::plan::FileWrite;
use crate::model::snapshot::Snapshot;
use crate::pki::csr::CheckedCsr;
use crate::pki::issuance::Request;
use crate::pki::names::San;
use crate::store::{Access, Reads, Session};

use super::Acme;

/// The name of the profile ACME certificates are issued under: the policy's, if it has one
/// by this name, else the built-in one ([`BUILTIN_PROFILE`]).
pub const PROFILE: &str = "acme";

/// The built-in `acme` profile (SPEC.md ACME-PROFILE): a TLS server certificate for a week.
pub const BUILTIN_PROFILE: &str = "[profiles.acme]
key_usage = [\"digitalSignature\", \"keyEncipherment\"]
extended_key_usage = [\"serverAuth\"]
default_days = 7
max_days = 90
";

/// What a request changes besides acme.json: the audit operation, the account, and for an
/// issuance the certificate's writes and index line.
pub struct Change {
    pub operation: &'static str,
    pub account: String,
    pub writes: Vec<FileWrite>,
    pub log: LogAppend,
    pub serials: Vec<String>,
    pub csr_sha256: Option<String>,
}

impl Change {
    /// A change of acme.json alone.
    pub fn of(operation: &'static str, account: &str) -> Change {
        Change {
            operation,
            account: account.to_string(),
            writes: Vec::new(),
            log: LogAppend::default(),
            serials: Vec::new(),
            csr_sha256: None,
        }
    }
}

/// What a transaction's function is given and returns: the snapshot, acme.json to change,
/// the command's environment; a value and the change to commit, if any.
pub type Step<'a, T> = dyn FnOnce(&Snapshot, &mut State, &Env) -> std::result::Result<(T, Option<Change>), Problem>
    + 'a;

/// Runs `f` on the state read under the exclusive lock; when it returns a change, commits it
/// with the new acme.json in one journaled commit. One at a time in this process.
pub fn transact<T>(
    acme: &Acme,
    f: impl FnOnce(&Snapshot, &mut State, &Env) -> std::result::Result<(T, Option<Change>), Problem>,
) -> std::result::Result<T, Problem> {
    transact_reading(acme, Reads::SIGN, Box::new(f))
}

/// [`transact`] with index.log opened too (`reads`): revokeCert looks the certificate up.
pub fn transact_reading<T>(
    acme: &Acme,
    reads: Reads,
    f: Box<Step<'_, T>>,
) -> std::result::Result<T, Problem> {
    let _one = acme.writer.lock().unwrap_or_else(|p| p.into_inner());
    let session = Session::open(&acme.dir, Access::Write, &acme.open).map_err(internal)?;
    let snapshot = session.snapshot(reads, &acme.pass).map_err(internal)?;
    let env = Env {
        now: crate::clock::now().map_err(internal)?,
        ..acme.env.clone()
    };
    let mut state = load_state(&snapshot).map_err(internal)?;
    let (value, change) = f(&snapshot, &mut state, &env)?;
    if let Some(change) = change {
        state.prune(env.now);
        let mut writes = change.writes;
        writes.push(FileWrite::public(ACME, state.to_bytes()));
        let info = AuditInfo {
            operation: change.operation,
            serials: change.serials,
            csr_sha256: change.csr_sha256,
            policy_sha256: None,
        };
        let mut plan = finish_plan_for(
            &snapshot,
            &env,
            change.log,
            writes,
            // An empty account: a revocation signed by the certificate's key of a certificate
            // no ACME account ordered.
            (info, (!change.account.is_empty()).then_some(change.account)),
        )
        .map_err(internal)?;
        drop(snapshot);
        session.commit(&mut plan).map_err(internal)?;
    }
    Ok(value)
}

/// Reads the state without changing it (shared lock, no key): POST-as-GET of an order,
/// authorization or certificate.
pub fn read<T>(
    acme: &Acme,
    f: impl FnOnce(&Snapshot, &State) -> std::result::Result<T, Problem>,
) -> std::result::Result<T, Problem> {
    let session = Session::open(&acme.dir, Access::Read, &acme.open).map_err(internal)?;
    let reads = Reads {
        key: false,
        log: crate::store::LogReads::None,
    };
    let snapshot = session.snapshot(reads, &acme.pass).map_err(internal)?;
    let state = load_state(&snapshot).map_err(internal)?;
    f(&snapshot, &state)
}

/// acme.json from the snapshot (empty before the first ACME commit).
pub fn load_state(snapshot: &Snapshot) -> Result<State> {
    match &snapshot.acme {
        None => Ok(State::default()),
        Some(bytes) => State::parse(bytes).map_err(|e| {
            Error::state(
                snapshot.dir.join(ACME),
                crate::error::StateError::AcmeState(e.to_string()),
            )
        }),
    }
}

/// The `acme` profile in force: the policy's, else the built-in one.
pub fn profile(snapshot: &Snapshot) -> Result<crate::pki::profile::Profile> {
    let policy = snapshot.policy()?;
    if let Ok(p) = policy.leaf(PROFILE) {
        return Ok(p.clone());
    }
    let text = format!("[urls]\ncrl = []\nca_issuers = []\nocsp = []\n\n{BUILTIN_PROFILE}");
    crate::policy::parse::parse(&text, None)
        .ok()
        .and_then(|p| p.profiles.into_iter().next())
        .ok_or_else(|| Error::bug("the built-in acme profile does not parse"))
}

/// The SAN an identifier is issued as (`dns` → DNS, `ip` → IP).
pub fn san_of(id: &Identifier) -> Option<San> {
    match id.kind.as_str() {
        "dns" => Some(San::Dns(id.value.clone())),
        "ip" => id.value.parse().ok().map(San::Ip),
        _ => None,
    }
}

/// The identifier a SAN (or a CN) of a CSR names, as an order keeps it.
fn identifier_of(san: &San) -> Option<Identifier> {
    let (kind, value) = match san {
        San::Dns(d) => ("dns", d.to_ascii_lowercase()),
        San::Ip(ip) => ("ip", ip.to_string()),
        _ => return None,
    };
    Some(Identifier {
        kind: kind.into(),
        value,
    })
}

/// newOrder's gate for one identifier: the `acme` profile's rules and the name constraints
/// of this CA and every CA above it; the refusal names the rule.
pub fn gate_identifier(snapshot: &Snapshot, id: &Identifier) -> std::result::Result<(), Failure> {
    let failure = |e: String| Failure(crate::term::escape(&e));
    let profile = profile(snapshot).map_err(|e| failure(e.to_string()))?;
    let san = san_of(id).ok_or_else(|| failure(format!("{} is not a name", id.value)))?;
    crate::policy::gate::check_name(&profile, &san, &san.to_string())
        .map_err(|e| failure(e.to_string()))?;
    for ca in std::iter::once(&snapshot.ca.cert).chain(&snapshot.chain) {
        ca.constraints
            .allows(&san, &ca.subject_shown)
            .map_err(|e| failure(e.to_string()))?;
    }
    Ok(())
}

/// finalize's issuance: the CSR must name exactly the order's identifiers (RFC 8555 7.4);
/// the certificate is issued under the `acme` profile through the same gate as `ca sign`
/// (policy, name constraints, key rules), with the next serial. Returns the serial and the
/// change to commit.
pub fn issue(
    snapshot: &Snapshot,
    csr: &CheckedCsr,
    names: &[Identifier],
    account: &str,
    env: &Env,
) -> std::result::Result<(String, Change), Problem> {
    let mut asked: Vec<Identifier> = Vec::new();
    for san in &csr.sans {
        let id = identifier_of(san).ok_or_else(|| {
            problem(
                Kind::BadCsr,
                format!("the CSR names {san}, which the order does not"),
            )
        })?;
        asked.push(id);
    }
    if let Some(cn) = csr.subject.common_name() {
        let san = match cn.parse() {
            Ok(ip) => San::Ip(ip),
            Err(_) => San::Dns(cn.to_string()),
        };
        asked.extend(identifier_of(&san));
    }
    asked.sort();
    asked.dedup();
    let mut wanted = names.to_vec();
    wanted.sort();
    if asked != wanted {
        let shown = |v: &[Identifier]| {
            v.iter()
                .map(|i| format!("{}:{}", i.kind, i.value))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(problem(
            Kind::BadCsr,
            crate::term::escape(&format!(
                "the CSR names {} but the order names {}",
                shown(&asked),
                shown(&wanted)
            )),
        ));
    }
    let profile = profile(snapshot).map_err(internal)?;
    let policy = snapshot.policy().map_err(internal)?;
    let days = crate::policy::gate::days(&profile, None).map_err(|e| refused(e.into()))?;
    let sans: Vec<San> = names.iter().filter_map(san_of).collect();
    let mut request = Request::from_csr(csr, sans, &profile, days, &policy.urls);
    // An empty subject (certbot's) is named after the order's first name that fits a CN
    // (at most 64 characters, RFC 5280 ub-common-name).
    let named;
    if csr.subject.is_empty()
        && let Some(cn) = names.iter().find(|n| n.value.len() <= 64)
    {
        named = crate::pki::names::Subject(vec![("CN".into(), cn.value.clone())]);
        request.subject = &named;
    }
    let (serial, next) = allot_serial(&snapshot.serial, env).map_err(internal)?;
    let issuer = snapshot.ca.issuer().map_err(|e| internal(e.into()))?;
    let mut notes = Vec::new();
    let (pem, entry) = issue_entry(snapshot, &issuer, &request, &serial, env, &mut notes).map_err(
        |e| match e {
            Error::Refusal(r) => refused(r),
            e => internal(e),
        },
    )?;
    let mut log = LogAppend::default();
    log.issued(&entry);
    let change = Change {
        operation: "acme-issue",
        account: account.to_string(),
        writes: vec![
            FileWrite::public(cert_file(&serial), pem),
            FileWrite::public(SERIAL, next.to_file()),
        ],
        log,
        serials: vec![serial.to_string()],
        csr_sha256: Some(csr.sha256.clone()),
    };
    Ok((serial.to_string(), change))
}

/// What the policy or the name constraints refuse: `rejectedIdentifier`, naming the rule;
/// anything else about the request: `badCSR`.
fn refused(r: Refusal) -> Problem {
    match r {
        Refusal::Policy(_) | Refusal::Constraint(_) | Refusal::CnConstraint { .. } => {
            problem(Kind::RejectedIdentifier, r.reason())
        }
        other => problem(Kind::BadCsr, other.reason()),
    }
}

/// An error of the server's own (I/O, a state that does not verify): `serverInternal`, and
/// the log says it.
pub fn internal(e: Error) -> Problem {
    let text = crate::term::escape(&e.to_string());
    crate::term::warn(&format!("serve: acme: {text}"));
    problem(Kind::ServerInternal, text)
}
