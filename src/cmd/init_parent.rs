//! `ca init --parent PARENT_DIR` (SPEC.md PARENT-*): the lab shortcut when a sub-CA and its
//! parent are directories on the same machine — the three steps of the offline procedure in
//! one command, each a complete step of its own: (1) the new directory is created as a
//! pending CA, its key durable; (2) the parent's commit issues and records its certificate
//! (`sign --profile sub-ca`); (3) `install-ca` completes it. A kill between steps leaves every
//! step done so far visible (`status` of both), and the same command again resumes from the
//! last completed step: a pending directory is reused, and a sub-CA certificate the parent
//! already issued for its key is installed rather than issued twice — so the parent never
//! records a CA certificate whose key is gone.

use std::path::{Path, PathBuf};

use super::Context;
use crate::cli::{InitArgs, KeyArgs, MutationArgs};
use crate::error::{Error, Result};
use crate::pki::pem::MAX_PEM_BYTES;
use crate::store::{self, Access, Session};

/// Runs `ca init --parent`.
/// Long because it is the resumable flow of SPEC.md INIT-PARENT, step 2 (the parent signs, or
/// signed in an earlier run) with the note it leaves for each way that step can stop; steps 1
/// and 3 are their own functions.
pub fn run(args: &InitArgs, ctx: &Context, parent: &Path) -> Result<()> {
    let dir = &ctx.dir;
    let note = |m: &str| {
        if !ctx.quiet {
            crate::term::warn(&format!("note: {m}"));
        }
    };
    let shown = |p: &Path| crate::term::escape(&p.display().to_string());
    parent_can_issue_sub_cas(parent, ctx)?;
    if pending_or_done(args, ctx, parent)? {
        return Ok(());
    }
    let csr_pem = store::read_state_file(dir, store::CSR)?;
    let csr_der = crate::pki::pem::decode_one(&csr_pem, &["CERTIFICATE REQUEST"], MAX_PEM_BYTES)
        .map_err(|e| Error::state(dir.join(store::CSR), e))?;
    let csr =
        crate::pki::csr::check(&csr_der).map_err(|e| Error::state(dir.join(store::CSR), e))?;
    if let Some(subject) = &args.subject {
        let wanted = super::new_ca::subject_of(args)?;
        if wanted != csr.subject {
            return Err(Error::Refused(crate::error::Refused::ParentSubject {
                dir: dir.clone(),
                asked: subject.clone(),
            }));
        }
    }
    // Step 2: the parent's certificate for this key — issued now, or by a previous run.
    let pctx = Context {
        dir: parent.to_path_buf(),
        open: ctx.open.clone(),
        env: ctx.env.clone(),
        quiet: ctx.quiet,
        pass: crate::passphrase::Source::new(ctx.pass.file().map(Path::to_path_buf))
            .with_pin_file(ctx.pass.pin_file().map(Path::to_path_buf)),
    };
    // The parent's certificate and chain.pem (the new CA's chain; signing does not change
    // them), and what it already issued for this key.
    let (found, chain) = parent_view(&pctx, &csr.spki_der)?;
    let mut parent_undelivered = None;
    let issued = match found {
        Some((serial, der)) => {
            note(&format!(
                "resuming: {} already issued certificate {serial} for this key",
                shown(parent)
            ));
            (serial, der)
        }
        None => {
            let sub = crate::cli::sub_ca_ask(args.path_len, &args.permit, &args.exclude)?;
            pctx.passphrase_ahead()?;
            let mutation = MutationArgs {
                expect_generation: None,
                dry_run: false,
                key: KeyArgs {
                    passphrase_file: None,
                    pin_file: None,
                },
            };
            // Looked for again under the parent's exclusive lock: two `init --parent` of one
            // new CA at once must not both have the parent sign (the first one's certificate
            // is then installed by whichever gets there).
            let load = |session: &Session| {
                let state = session.snapshot(crate::store::Reads::SIGN, &pctx.pass)?;
                if let Some((serial, _)) = issued_for(session, &state, &csr.spki_der, pctx.env.now)?
                {
                    return Err(crate::error::Refused::IssuedMeanwhile {
                        serial: serial.to_string(),
                    }
                    .into());
                }
                Ok((state, ()))
            };
            super::mutate_with(&pctx, &mutation, load, |state, (), env| {
                let request = super::signing::Sign {
                    csr: &csr,
                    sans: &[],
                    profile: "sub-ca",
                    // Not given: 3650 days, or less if the parent's profile allows less
                    // (an unasked default is not a refusal, POLICY-GATE).
                    days: Some(args.days.unwrap_or_else(|| {
                        let cap = state
                            .policy()
                            .ok()
                            .and_then(|p| p.profile("sub-ca").ok().and_then(|p| p.max_days));
                        cap.map_or(super::new_ca::DEFAULT_DAYS, |m| m.min(super::new_ca::DEFAULT_DAYS))
                    })),
                    sub_ca: &sub,
                    sub_ca_only: true,
                };
                // The certificate is installed, not printed.
                super::signing::plan(state, &request, env).map(|mut p| {
                    p.stdout.clear();
                    p
                })
            })
            .or_else(|e| match e {
                // The parent's certificate is committed; only its report failed (stderr):
                // finish the install first, then say what was not delivered.
                Error::Undelivered { msg } => {
                    parent_undelivered = Some(msg);
                    Ok(())
                }
                // Another run had it signed while this one waited: that one is installed.
                Error::Refused(crate::error::Refused::IssuedMeanwhile { .. }) => Ok(()),
                e => {
                    // The subject is the pending CA's (its key's request): another one needs
                    // a new pending CA.
                    let subject_refused = matches!(
                        e,
                        Error::Refusal(crate::model::change::Refusal::CaCnConstraint { .. })
                    );
                    note(&if subject_refused {
                        format!(
                            "{} stays pending for this subject: remove {} and run the command again with another --subject",
                            shown(dir),
                            shown(dir)
                        )
                    } else {
                        format!(
                            "{} stays pending: run the command again (with other --permit, --exclude, --path-len or --days), or remove {}",
                            shown(dir),
                            shown(dir)
                        )
                    });
                    Err(e)
                }
            })?;
            parent_view(&pctx, &csr.spki_der)?
                .0
                .ok_or_else(|| Error::bug("the parent's certificate is not in its index"))?
        }
    };
    // Step 3: install it, with the parent's certificate and chain as the chain.
    let (serial, der) = issued;
    let mut certs = vec![der];
    certs.extend(chain);
    let cert_path: PathBuf = parent.join(crate::model::layout::cert_file(&serial));
    // The new CA's key is not encrypted: the parent's passphrase is not its (a passphrase
    // file given for the parent would otherwise be reported as given for an unencrypted key).
    // A key on a token keeps the PIN read for it in step 1 (the same --pin-file, read once).
    let child = Context {
        pass: ctx.pass.pin_only(),
        ..ctx.clone()
    };
    let installed = super::pending::complete_pending(&child, &cert_path, certs);
    match (installed, parent_undelivered) {
        (Ok(()), Some(msg)) => Err(Error::Undelivered { msg }),
        (done, _) => done,
    }
}

/// Before anything is created: the parent can issue a sub-CA at all (its policy has a
/// profile sub-ca of kind sub-ca), so a policy that cannot leaves no pending directory.
fn parent_can_issue_sub_cas(parent: &Path, ctx: &Context) -> Result<()> {
    let session = crate::store::Session::open(parent, crate::store::Access::Read, &ctx.open)?;
    let state = &session.verified_state()?;
    let policy = state.policy()?;
    use crate::policy::PolicyRefusal;
    let refuse = |e| -> Error { crate::model::change::Refusal::Policy(e).into() };
    match policy.profile("sub-ca") {
        Ok(p) if p.kind == crate::pki::profile::Kind::SubCa => {}
        Ok(p) => {
            return Err(refuse(PolicyRefusal::NotSubCaProfile {
                profile: p.name.clone(),
            }));
        }
        Err(PolicyRefusal::UnknownProfile { known, .. }) => {
            return Err(refuse(PolicyRefusal::ParentNoSubCa { known }));
        }
        Err(e) => return Err(refuse(e)),
    }
    Ok(())
}

/// Step 1 of `init --parent`: the pending CA, created now or left by a previous run. True
/// when a previous run finished (the directory is already a sub-CA of `parent`).
fn pending_or_done(args: &InitArgs, ctx: &Context, parent: &Path) -> Result<bool> {
    let dir = &ctx.dir;
    let note = |m: &str| {
        if !ctx.quiet {
            crate::term::warn(&format!("note: {m}"));
        }
    };
    let shown = |p: &Path| crate::term::escape(&p.display().to_string());
    // Step 1: the pending CA (or the one a previous run left).
    if store::is_pending(dir) {
        note(&format!("resuming: {} is a pending CA", shown(dir)));
    } else if dir.join(store::INDEX).exists() && dir.join(store::CHAIN).exists() {
        // Done by a previous run when its chain starts at the parent's certificate.
        let chain = store::read_state_file(dir, store::CHAIN)?;
        let parent_ca = store::read_state_file(parent, store::CERT)?;
        let first = crate::pki::pem::decode_certificates(&chain, MAX_PEM_BYTES)
            .map_err(|e| Error::state(dir.join(store::CHAIN), e))?;
        let parent_der = crate::pki::pem::decode_one(&parent_ca, &["CERTIFICATE"], MAX_PEM_BYTES)
            .map_err(|e| Error::state(parent.join(store::CERT), e))?;
        if first.first() == Some(&parent_der) {
            // What an interrupted install may have left beside it goes now.
            store::remove_abandoned_siblings(dir);
            note(&format!(
                "nothing to do: {} is already a sub-CA of {}",
                shown(dir),
                shown(parent)
            ));
            return Ok(true);
        }
        return Err(store::check_can_create(dir)
            .err()
            .unwrap_or_else(|| Error::bug("a complete CA where init --parent expected none")));
    } else if args.token_key.is_some() {
        // The new CA's key on a token (TOKEN-PARENT): adopted or made there, as for
        // `init --csr-out --key pkcs11:…`; a key made here is deleted if the pending CA
        // cannot be created (TOKEN-GENERATE).
        let subject = super::new_ca::subject_of(args)?;
        let (key, reference, made) = super::init_token::key(args, ctx)?;
        let created = super::new_ca::plan_pending_on_token(&subject, &key, &reference)
            .and_then(|(files, _)| store::create(dir, &files));
        match made {
            Some(made) => super::init_token::settle(dir, made, created)?,
            None => created?,
        }
        note(&format!("created the pending CA {}", shown(dir)));
    } else {
        let subject = super::new_ca::subject_of(args)?;
        let (mut files, _) = super::new_ca::plan_pending(&subject, args.key_type, None)?;
        let created = store::create(dir, &files);
        for f in &mut files {
            zeroize::Zeroize::zeroize(&mut f.bytes);
        }
        created?;
        note(&format!("created the pending CA {}", shown(dir)));
    }
    Ok(false)
}

/// The newest valid, unrevoked sub-CA certificate the parent (`session`, `state`) issued
/// for the key `spki_der`.
fn issued_for(
    session: &Session,
    state: &crate::model::snapshot::Snapshot,
    spki_der: &[u8],
    now: time::OffsetDateTime,
) -> Result<Option<Issued>> {
    let mut found = None;
    crate::model::log::for_each_entry(&session.open_log()?, &state.header, |e| {
        if e.profile == "sub-ca" && e.revoked.is_none() && e.not_after > now {
            let (_, der) = session.read_recorded(&e, &state.ca.cert)?;
            let cert = crate::pki::pem::certificate(&der).map_err(|m| {
                Error::state(
                    session
                        .dir()
                        .join(crate::model::layout::cert_file(&e.serial)),
                    m,
                )
            })?;
            if cert.public_key().raw == spki_der {
                found = Some((e.serial.clone(), der.clone()));
            }
        }
        Ok(())
    })?;
    Ok(found)
}

/// A certificate the parent issued: its serial and DER.
type Issued = (crate::pki::serial::Serial, Vec<u8>);

/// The newest valid, unrevoked sub-CA certificate the parent's index records for the key
/// `spki_der` (its serial and DER), and the parent's certificate followed by its chain.pem:
/// the candidates for the new CA's chain.
fn parent_view(pctx: &Context, spki_der: &[u8]) -> Result<(Option<Issued>, Vec<Vec<u8>>)> {
    let session = Session::open(&pctx.dir, Access::Read, &pctx.open)?;
    let state = &session.verified_state()?;
    let found = issued_for(&session, state, spki_der, pctx.env.now)?;
    let chain = std::iter::once(&state.ca.cert)
        .chain(&state.chain)
        .map(|c| c.der.clone())
        .collect();
    Ok((found, chain))
}
