//! A command's change to the state directory, computed from its snapshot: the issued or
//! revoked entries, the new CRL, the advanced counters, the moved generation, the audit record
//! and the signed checkpoint — one [`Plan`] that `store` commits. Nothing here writes.

use crate::Env;
use crate::error::{Error, Result};
use crate::model::audit;
use crate::model::header::Header;
use crate::model::layout::{
    AUDIT, CERT, CHAIN, CRL, CRLNUMBER, INDEX, INDEX_LOG, KEY, MODE_SECRET, SERIAL,
};
use crate::model::log::{Entry, LogAppend};
use crate::model::plan::{FileAppend, FileWrite, Plan};
use crate::model::snapshot::{Snapshot, check_valid};
use crate::pki::issuance::{self, Request};
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;
use crate::term::Note;

impl Refusal {
    /// The reason alone, without what it means for the command ("nothing was issued"): one
    /// CSR's line in a refused batch, whose report says that once.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Policy(p) => p.to_string(),
            Refusal::Constraint(v) => v.to_string(),
            Refusal::SubtreeOutside { subtree, ca } => {
                format!("--permit {subtree} is not within the names {ca} may certify")
            }
            other => other.to_string(),
        }
    }
}

pub use crate::error::refusal::Refusal;

/// What an operation records in the audit trail.
pub struct AuditInfo {
    pub operation: &'static str,
    pub serials: Vec<String>,
    pub csr_sha256: Option<String>,
    /// `policy apply`: the new policy.toml's SHA-256, recorded in index.json and the record.
    pub policy_sha256: Option<String>,
}

impl AuditInfo {
    /// An operation on `serials` that no CSR asked for.
    pub fn of(operation: &'static str, serials: Vec<String>) -> AuditInfo {
        AuditInfo {
            operation,
            serials,
            csr_sha256: None,
            policy_sha256: None,
        }
    }
}

/// Finishes a plan: moves the generation on, appends `log` to index.log, writes index.json
/// and `writes`, and appends the audit record in the same commit (SPEC.md AUDIT-ATOMIC). A
/// command that loaded the CA key also signs a checkpoint of the state it commits (SPEC.md
/// CHECKPOINT-SIGN); the others carry the last one forward.
pub fn finish_plan(
    state: &Snapshot,
    env: &Env,
    log: LogAppend,
    writes: Vec<FileWrite>,
    info: AuditInfo,
) -> Result<Plan> {
    finish_plan_for(state, env, log, writes, (info, None))
}

/// [`finish_plan`] of a change made for an ACME account, whose id the audit record names
/// (SPEC.md ACME-AUDIT).
pub fn finish_plan_for(
    state: &Snapshot,
    env: &Env,
    log: LogAppend,
    mut writes: Vec<FileWrite>,
    (info, acme_account): (AuditInfo, Option<String>),
) -> Result<Plan> {
    let mut header = state.header.clone();
    let generation_before = header.generation;
    header.generation = generation_before + 1;
    if info.policy_sha256.is_some() {
        header.policy_sha256 = info.policy_sha256.clone();
    }
    let record = audit::Record {
        time: env.now,
        operation: info.operation.to_string(),
        serials: info.serials,
        csr_sha256: info.csr_sha256,
        policy_sha256: info.policy_sha256.clone(),
        acme_account,
        user: env.user.clone(),
        generation: header.generation,
        prev: state.audit_prev.clone(),
    };
    let (line, audit_head) = record.to_line_and_hash();
    header.audit_head = audit_head;
    let mut appends = Vec::new();
    if !log.bytes.is_empty() {
        if log.max_serial > header.max_serial() {
            header.max_serial = log.max_serial.map(|s| s.to_string());
        }
        header.log_head = crate::model::checkpoint::chain(&header.log_head, &log.bytes);
        appends.push(FileAppend {
            target: INDEX_LOG.to_string(),
            offset: header.log_len,
            bytes: log.bytes,
        });
        header.log_len += appends[0].bytes.len() as u64;
    }
    let audit_len = state.audit_len + line.len() as u64;
    appends.push(FileAppend {
        target: AUDIT.to_string(),
        offset: state.audit_len,
        bytes: line,
    });
    if let Some(key) = state.ca.signing_key() {
        // The checkpoint signs the files as this commit leaves them.
        let written = |name: &str| writes.iter().find(|w| w.target == name);
        let counter = |name: &str, now: &crate::pki::serial::Serial| match written(name) {
            Some(w) => crate::pki::serial::Serial::parse_file(&w.bytes).ok_or_else(|| {
                Error::bug("the plan writes a counter file (serial, crlnumber) that does not parse")
            }),
            None => Ok(now.clone()),
        };
        let files = crate::model::header::Files {
            audit_len,
            serial: counter(SERIAL, &state.serial)?,
            crlnumber: counter(CRLNUMBER, &state.crlnumber)?,
            crl_sha256: match written(CRL) {
                Some(w) => Some(crate::hex::sha256(&w.bytes)),
                None => state.crl_sha256.clone(),
            },
            chain_sha256: match written(CHAIN) {
                Some(w) => Some(crate::hex::sha256(&w.bytes)),
                None => state.chain_sha256.clone(),
            },
            acme_sha256: match written(crate::model::layout::ACME) {
                Some(w) => Some(crate::hex::sha256(&w.bytes)),
                None => state.acme.as_deref().map(crate::hex::sha256),
            },
        };
        header.sign_checkpoint(&files, key)?;
    }
    writes.push(FileWrite::public(INDEX, header.to_bytes()));
    Ok(Plan {
        operation: info.operation,
        generation_before,
        generation_after: header.generation,
        writes,
        appends,
        outputs: Vec::new(),
        pair: None,
        out_dirs: Vec::new(),
    })
}

/// How one certificate is issued: the operation the audit trail records, the CSR it came
/// from, and for `renew` the certificate it renews (and whether the same commit revokes that
/// one as superseded).
pub struct Issue {
    pub operation: &'static str,
    pub csr_sha256: Option<String>,
    pub renews: Option<(Serial, bool)>,
}

impl Issue {
    /// A certificate issued for `operation`, from a CSR with this hash if any.
    pub fn new(operation: &'static str, csr_sha256: Option<String>) -> Issue {
        Issue {
            operation,
            csr_sha256,
            renews: None,
        }
    }
}

/// Issues one certificate with the next serial and builds the whole plan for it: the
/// certificate file, the advanced counter, the index entry (and the renewed certificate's
/// revocation) and the audit record.
pub fn issue_one(
    state: &Snapshot,
    request: &Request<'_>,
    env: &Env,
    notes: &mut Vec<Note>,
    issue: Issue,
) -> Result<(Plan, String)> {
    let (serial, next) = allot_serial(&state.serial, env)?;
    let (pem, mut entry) = issue_entry(state, &state.ca.issuer()?, request, &serial, env, notes)?;
    let mut log = LogAppend::default();
    let mut serials = vec![serial.to_string()];
    if let Some((old, revoke)) = issue.renews {
        if revoke {
            mark_revoked(state, &mut log, (&old, Reason::Superseded), env, notes)?;
            notes.push(Note::act(
                "revoked",
                "would revoke",
                &format!("{old} (superseded); run `ca crl` to publish it"),
            ));
            serials.push(old.to_string());
        }
        entry.renewed_from = Some(old);
    }
    log.issued(&entry);
    let plan = finish_plan(
        state,
        env,
        log,
        vec![
            FileWrite::public(crate::model::layout::cert_file(&serial), pem.clone()),
            FileWrite::public(SERIAL, next.to_file()),
        ],
        AuditInfo {
            operation: issue.operation,
            serials,
            csr_sha256: issue.csr_sha256,
            policy_sha256: None,
        },
    )?;
    Ok((plan, pem))
}

/// The archived copy of ca.crt (`old` is it, parsed) that renew-ca and install-ca keep as
/// `ca-<SERIAL>.crt`: its serial, its file name and the write; refused if that file exists.
pub fn archive_ca(
    state: &Snapshot,
    old: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<(Serial, String, FileWrite)> {
    let serial = Serial::from_magnitude(old.raw_serial());
    let archive = crate::model::layout::archived_ca_file(&serial);
    if state.has_file(&archive) {
        return Err(Error::state(
            state.dir.join(&archive),
            crate::model::snapshot::SnapshotError::ArchiveExists,
        ));
    }
    let write = FileWrite::public(
        archive.clone(),
        crate::pki::pem::pem_of("CERTIFICATE", &state.ca.cert.der),
    );
    Ok((serial, archive, write))
}

/// A new certificate serial from the counter `counter` with 64 random bits from `env`, and
/// the counter after it (SPEC.md SERIAL-RANDOM); a refusal when the 20-octet space is
/// exhausted.
pub fn allot_serial(counter: &Serial, env: &Env) -> Result<(Serial, Serial)> {
    counter
        .allot(env.rng.bytes()?)
        .ok_or(Error::Refusal(Refusal::SerialsExhausted))
}

/// Signs one certificate with serial `serial` for `request` and builds its index entry: the
/// CA must be valid now and the serial above every issued one.
pub fn issue_entry(
    state: &Snapshot,
    issuer: &rcgen::Issuer<'_, &crate::pki::ca::CaKey>,
    request: &Request<'_>,
    serial: &Serial,
    env: &Env,
    notes: &mut Vec<Note>,
) -> Result<(String, Entry)> {
    check_valid(&state.ca.cert, env.now, &state.dir.join(CERT))?;
    let cas: Vec<&crate::pki::ca::CaCert> = std::iter::once(&state.ca.cert)
        .chain(&state.chain)
        .collect();
    crate::policy::gate::check(request.profile, request.key, &request.sans, request.subject)
        .map_err(Refusal::Policy)?;
    check_constraints(&cas, request)?;
    if request.profile.names_hosts() && !issuance::names_a_host(&request.sans) {
        return Err(Refusal::NoHostName {
            profile: request.profile.name.clone(),
            subject: crate::term::escape(&request.subject.to_string()),
        }
        .into());
    }
    if let Some(max) = state.header.max_serial()
        && *serial <= max
    {
        return Err(Error::state(
            state.dir.join(SERIAL),
            crate::model::snapshot::SnapshotError::CounterNotAbove {
                counter: serial.clone(),
                last: max,
            },
        ));
    }
    let above: Vec<&crate::pki::constraints::Constraints> =
        state.chain.iter().map(|c| &c.constraints).collect();
    let issued = issuance::issue(
        &state.ca.cert,
        &above,
        issuer,
        request,
        serial,
        env.now,
        notes,
    )?;
    let entry = Entry {
        serial: serial.clone(),
        subject: request.subject.stored(),
        sans: request.sans.iter().map(|s| s.to_string()).collect(),
        profile: request.profile.name.clone(),
        not_before: issued.not_before,
        not_after: issued.not_after,
        revoked: None,
        released: None,
        sha256: issued.sha256,
        renewed_from: None,
    };
    Ok((issued.pem, entry))
}

/// Records the revocation of `serial` in `log`; returns its subject. Refuses unknown and
/// already revoked serials and removeFromCRL; a certificate on hold may be revoked for good
/// (any other reason), once, and `notes` then says so (SPEC.md UNHOLD).
pub fn mark_revoked(
    state: &Snapshot,
    log: &mut LogAppend,
    (serial, reason): (&Serial, Reason),
    env: &Env,
    notes: &mut Vec<Note>,
) -> Result<String> {
    if reason == Reason::RemoveFromCrl {
        return Err(Error::Refusal(Refusal::RemoveFromCrl));
    }
    let entry = state.find(serial)?.ok_or_else(|| {
        Error::Refusal(Refusal::UnknownSerial {
            serial: serial.clone(),
            log: state.dir.join(INDEX_LOG),
        })
    })?;
    match entry.revoked {
        None => {}
        Some(held)
            if held.reason == Reason::CertificateHold && reason == Reason::CertificateHold =>
        {
            return Err(Error::Refusal(Refusal::AlreadyHeld {
                serial: serial.clone(),
                at: held.at,
            }));
        }
        // A hold made final (UNHOLD).
        Some(held) if held.reason == Reason::CertificateHold => notes.push(Note::text(format!(
            "{serial} was on hold since {}: the hold becomes final ({}) and can no longer be released",
            crate::clock::fmt(held.at),
            reason.typed()
        ))),
        Some(r) => {
            return Err(Error::Refusal(Refusal::AlreadyRevoked {
                serial: serial.clone(),
                at: r.at,
                reason: r.reason,
            }));
        }
    }
    log.revoked(serial, env.now, reason.name());
    Ok(crate::pki::names::shown(&entry.subject))
}

/// Every file of a new CA directory: the key (0600; `key` is the key pair and the PEM to
/// store, encrypted or not), the certificate, both counters, the index holding `entries`, and
/// an audit trail whose first record (generation 1) is `audit` (operation, serials), with a
/// first checkpoint signed by the key, and policy.toml if `policy` is given (its hash in
/// index.json and the record). Shared by `init`, `install-ca` and `import-openssl`.
pub fn new_ca_files(
    env: &Env,
    (signer, key_pem): (&dyn rcgen::SigningKey, String),
    cert_pem: String,
    (serial, crlnumber): (&Serial, &Serial),
    audit: (&str, Vec<String>),
    entries: Vec<crate::model::log::Entry>,
    (policy, chain): (Option<&str>, Option<&str>),
) -> Result<Vec<FileWrite>> {
    let policy_sha256 = policy.map(|p| crate::hex::sha256(p.as_bytes()));
    let record = audit::Record {
        time: env.now,
        operation: audit.0.into(),
        serials: audit.1,
        csr_sha256: None,
        policy_sha256: policy_sha256.clone(),
        acme_account: None,
        user: env.user.clone(),
        generation: 1,
        prev: audit::GENESIS.into(),
    };
    let (line, audit_head) = record.to_line_and_hash();
    let log = LogAppend::of_entries(&entries);
    let mut header = Header::new();
    header.audit_head = audit_head;
    header.log_len = log.bytes.len() as u64;
    header.log_head = crate::model::checkpoint::chain(&header.log_head, &log.bytes);
    header.max_serial = log.max_serial.map(|s| s.to_string());
    header.policy_sha256 = policy_sha256;
    let files = crate::model::header::Files {
        audit_len: line.len() as u64,
        serial: serial.clone(),
        crlnumber: crlnumber.clone(),
        crl_sha256: None,
        chain_sha256: chain.map(|c| crate::hex::sha256(c.as_bytes())),
        acme_sha256: None,
    };
    header.sign_checkpoint(&files, signer)?;
    let policy = policy
        .map(|p| FileWrite::public(crate::model::layout::POLICY, p.as_bytes().to_vec()))
        .into_iter()
        .chain(chain.map(|c| FileWrite::public(crate::model::layout::CHAIN, c.to_string())));
    Ok([
        FileWrite {
            target: KEY.into(),
            bytes: key_pem.into_bytes(),
            mode: MODE_SECRET,
        },
        FileWrite::public(CERT, cert_pem),
        FileWrite::public(SERIAL, serial.to_file()),
        FileWrite::public(CRLNUMBER, crlnumber.to_file()),
        FileWrite::public(INDEX, header.to_bytes()),
        FileWrite::public(INDEX_LOG, log.bytes),
        FileWrite::public(AUDIT, line),
    ]
    .into_iter()
    .chain(policy)
    .collect())
}

mod crl;
mod gate;
pub use crl::crl_writes;
pub use gate::{check_constraints, cn_as_dns, cn_names};
