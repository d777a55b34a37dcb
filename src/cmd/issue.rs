//! `ca issue`: generate a key pair and issue its certificate in one step, for labs (what
//! minica, mkcert and easy-rsa `build-server-full` offer) (SPEC.md `ISSUE-*`).
//!
//! The key (0600), the certificate and a copy of ca.crt are written to `OUT_DIR/NAME/` as one
//! directory: only the key is staged before the commit point (in an owner-only directory); the
//! certificate is added after it and the directory renamed into place, by this command or by
//! the recovery of the next (SPEC.md OUTPUT-PAIR). With `--p12`, NAME.p12 (key and
//! certificates under a passphrase) is built in the validation phase and carried by the
//! journal, which recovery cannot rebuild it without (ISSUE-P12).

use rcgen::PublicKeyData;

use super::{Context, Planned};
use crate::Env;
use crate::cli::IssueArgs;
use crate::error::{Error, Result};
use crate::model::change::issue_one;
use crate::model::snapshot::Snapshot;
use crate::pki::issuance::{Request, default_san};
use crate::pki::keys::{self, KeyType};
use crate::pki::names::San;
use crate::pki::names::Subject;
use crate::pki::p12::{self, P12Form};
use crate::store::output::{PairFile, PairPlan};
use crate::store::{CERT, MODE_PUBLIC, MODE_SECRET};
use crate::term::Note;

/// What `ca issue` is asked to do: the key is generated before the lock.
pub struct Issue {
    pub name: String,
    pub out_dir: std::path::PathBuf,
    pub subject: Subject,
    /// Was `--subject` given (else the subject is CN=NAME)?
    pub subject_given: bool,
    pub sans: Vec<San>,
    pub key: rcgen::KeyPair,
    pub key_pem: zeroize::Zeroizing<String>,
    pub key_type: KeyType,
    /// The profile's name in the CA's policy, and `--days` if given.
    pub profile: String,
    pub days: Option<u32>,
    /// `--p12`: the form, the passphrase and the key's plain PKCS#8 DER.
    pub p12: Option<P12Request>,
}

/// What NAME.p12 is made of, besides the certificates.
pub struct P12Request {
    pub form: P12Form,
    pub passphrase: zeroize::Zeroizing<String>,
    pub key_der: zeroize::Zeroizing<Vec<u8>>,
}

/// Runs `ca issue`.
pub fn run(args: &IssueArgs, ctx: &Context) -> Result<()> {
    if deliver_undelivered(args, ctx)? {
        return Ok(());
    }
    // Refused now, before the key is made or the CA key read, for a dry run too (DRY-RUN).
    crate::store::output::precheck_pair(&args.out_dir, &args.out_dir.join(&args.name))?;
    let subject = match &args.subject {
        Some(s) => Subject::parse(s).map_err(|err| Error::Name {
            what: "--subject",
            err,
        })?,
        None => Subject(vec![("CN".into(), args.name.clone())]),
    };
    let sans = crate::cli::sans(&args.san)?;
    let (key, mut key_pem) = keys::generate(args.key_type)?;
    let form = match (args.p12, args.p12_legacy) {
        (_, true) => Some(P12Form::Legacy),
        (true, false) => Some(P12Form::Modern),
        (false, false) => None,
    };
    // One passphrase for NAME.key and NAME.p12, asked before the lock, like every secret.
    let pass = match (args.encrypt_key, form) {
        (false, None) => None,
        (encrypt, p12) => {
            let files: Vec<String> = [
                encrypt.then(|| format!("{}.key", args.name)),
                p12.map(|_| format!("{}.p12", args.name)),
            ]
            .into_iter()
            .flatten()
            .collect();
            Some(crate::passphrase::new_passphrase(
                args.key_passphrase_file.as_deref(),
                (
                    &format!("passphrase for {}", files.join(" and ")),
                    "--key-passphrase-file",
                ),
            )?)
        }
    };
    let p12 = match (form, &pass) {
        (Some(form), Some(pass)) => Some(P12Request {
            form,
            passphrase: pass.clone(),
            key_der: zeroize::Zeroizing::new(
                crate::pki::pem::decode_one(key_pem.as_bytes(), &["PRIVATE KEY"], usize::MAX)
                    .map_err(|e| Error::bug_in("the generated key", e))?,
            ),
        }),
        _ => None,
    };
    if let (true, Some(pass)) = (args.encrypt_key, &pass) {
        let encrypted = keys::encrypt_pem(&key_pem, pass, crate::rand::sealing()?)?;
        zeroize::Zeroize::zeroize(&mut key_pem);
        key_pem = encrypted;
    }
    let request = Issue {
        name: args.name.clone(),
        out_dir: args.out_dir.clone(),
        subject,
        subject_given: args.subject.is_some(),
        sans,
        key,
        key_pem: zeroize::Zeroizing::new(key_pem),
        key_type: args.key_type,
        profile: args.profile.clone(),
        days: args.days,
        p12,
    };
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN,
        |state, env| plan(state, &request, env),
    )
}

/// The same `ca issue NAME` run again into the same directory after an interrupted one whose
/// pair recovery recorded as undelivered (SPEC.md RECOVER-UNDELIVERED): completes that
/// delivery instead of issuing another certificate. False when there is none to complete.
fn deliver_undelivered(args: &IssueArgs, ctx: &Context) -> Result<bool> {
    // Cheap and unlocked first: almost always there is no record at all.
    // A record that cannot be read is no "no" (RECOVER-NO-GUESS): the locked read decides.
    // A journal waiting for recovery may be the interrupted issue's own: opening the session
    // recovers it and records its pair first (the re-run right after a kill issued a second
    // certificate, found by the fresh-eyes review).
    let pending = std::fs::symlink_metadata(ctx.dir.join(crate::store::JOURNAL)).is_ok();
    let recorded = crate::store::read_undelivered(&ctx.dir).map_or(true, |r| {
        r.iter()
            .any(|r| r.pairs.iter().any(|p| p.name == args.name))
    });
    if !recorded && !pending {
        return Ok(false);
    }
    let session = crate::store::Session::open(&ctx.dir, crate::store::Access::Write, &ctx.open)?;
    let Some(serial) = session.deliver_pair(&args.name, &args.out_dir)? else {
        return Ok(false);
    };
    if !ctx.quiet {
        crate::term::warn(&format!(
            "delivered {} (certificate {serial}, issued by the interrupted ca issue); no new \
             certificate was issued",
            crate::term::escape(&args.out_dir.join(&args.name).display().to_string())
        ));
    }
    Ok(true)
}

/// The pair directory `dir` of a planned issue: NAME.key (staged before the commit), NAME.crt
/// and NAME.fullchain.pem from the committed certificate, ca.crt (the trust anchor), and
/// NAME.p12 when asked, carried by the journal.
fn pair(
    state: &Snapshot,
    request: &Issue,
    plan: &crate::model::plan::Plan,
    pem: &str,
    dir: std::path::PathBuf,
) -> Result<PairPlan> {
    let source = plan
        .writes
        .iter()
        .find(|w| w.bytes == pem.as_bytes())
        .map(|w| w.target.clone())
        .ok_or_else(|| Error::bug("issue wrote no certificate"))?;
    let serial = crate::model::layout::serial_of_cert_file(&source)
        .ok_or_else(|| Error::bug("issue wrote no certificate"))?
        .to_string();
    // NAME.crt, NAME.fullchain.pem (the certificate and the CAs above it, the root excepted)
    // and ca.crt, the trust anchor: this CA's certificate for a root, else chain.pem's root,
    // which is no new certificate and is staged with the key (CHAIN-OUT).
    let intermediates = state.intermediates_pem();
    let file = |name: String, source: &str, bytes: String, suffix: Option<String>| PairFile {
        name,
        source: source.to_string(),
        bytes: bytes.into_bytes(),
        mode: MODE_PUBLIC,
        suffix,
    };
    let mut files = vec![
        file(
            format!("{}.crt", request.name),
            &source,
            pem.to_string(),
            None,
        ),
        file(
            format!("{}.fullchain.pem", request.name),
            &source,
            format!("{pem}{intermediates}"),
            (!intermediates.is_empty()).then_some(intermediates.clone()),
        ),
    ];
    let mut staged = Vec::new();
    match state.chain.is_empty() {
        true => files.push(file(CERT.to_string(), CERT, state.root_pem(), None)),
        false => staged.push((CERT.to_string(), state.root_pem().into_bytes(), MODE_PUBLIC)),
    }
    // NAME.p12: the key, the certificate, ca.crt and chain.pem (the root last), encrypted.
    let mut carried = Vec::new();
    if let Some(p12) = &request.p12 {
        let leaf = crate::pki::pem::decode_one(pem.as_bytes(), &["CERTIFICATE"], usize::MAX)
            .map_err(|e| Error::bug_in("the issued certificate", e))?;
        let certs: Vec<&[u8]> = std::iter::once(&leaf[..])
            .chain(std::iter::once(&state.ca.cert.der[..]))
            .chain(state.chain.iter().map(|c| &c.der[..]))
            .collect();
        let bytes = p12::bundle(
            &request.name,
            &p12.key_der,
            &keys::key_id(request.key.der_bytes()),
            &certs,
            &p12.passphrase,
            p12.form,
        )?;
        carried.push((
            format!("{}.p12", request.name),
            zeroize::Zeroizing::new(bytes),
            MODE_SECRET,
        ));
    }
    Ok(PairPlan {
        path: dir,
        serial,
        key: (
            format!("{}.key", request.name),
            zeroize::Zeroizing::new(request.key_pem.as_bytes().to_vec()),
            MODE_SECRET,
        ),
        staged,
        files,
        carried,
    })
}

/// Validation phase: the certificate and the plan, with the pair directory OUT_DIR/NAME/
/// (key, certificate, ca.crt) it publishes.
pub fn plan(state: &Snapshot, request: &Issue, env: &Env) -> Result<Planned> {
    let policy = state.policy()?;
    // A refusal (exit 3), not a usage error: which profiles make CAs is the policy's to say.
    let profile = policy
        .leaf(&request.profile)
        .map_err(crate::model::change::Refusal::Policy)?;
    let days = crate::policy::gate::days(profile, request.days)
        .map_err(crate::model::change::Refusal::Policy)?;
    let mut notes = Vec::new();
    let mut sans = crate::pki::issuance::drop_unused(request.sans.clone(), profile, &mut notes);
    if request.sans.is_empty()
        && let Some(san) = default_san(&request.name, profile)
    {
        sans.push(san);
    }
    // SIGN-SAN-CN-KEEP for issue: the default CN=NAME, when the profile would certify NAME
    // (DNS:NAME or IP:NAME without --san), is kept with --san only if NAME is among the SANs —
    // `issue api.lab.test --san IP:10.0.0.5` showed CN=api.lab.test, which nothing certified
    // (pyca rejects it for that name). A --subject the operator gave is theirs (NC-SUBJECT
    // gates it).
    let subject = if !request.sans.is_empty()
        && !request.subject_given
        && default_san(&request.name, profile).is_some()
    {
        crate::pki::issuance::subject_for_sans(&request.subject, &sans, &mut notes)
    } else {
        request.subject.clone()
    };
    let spki = request.key.subject_public_key_info();
    let issuing = Request {
        subject: &subject,
        sans,
        spki_der: &spki,
        subject_public_key: request.key.der_bytes(),
        key: request.key_type.kind(),
        profile,
        days,
        urls: &policy.urls,
        sub_ca: None,
    };
    let (mut plan, pem) = issue_one(
        state,
        &issuing,
        env,
        &mut notes,
        crate::model::change::Issue::new("issue", None),
    )?;
    let dir = request.out_dir.join(&request.name);
    let shown = crate::term::escape(&dir.display().to_string());
    let what = match request.p12 {
        Some(_) => "key, certificate and PKCS#12 bundle",
        None => "key and certificate",
    };
    notes.push(Note::Act {
        done: format!("{what} written to {shown}"),
        would: format!("{what} would be written to {shown}"),
    });
    plan.out_dirs = vec![request.out_dir.clone()];
    plan.pair = Some(pair(state, request, &plan, &pem, dir)?);
    Ok(Planned::new(plan, String::new(), notes))
}
