//! `ca passwd`: set, change or remove the passphrase of ca.key (SPEC.md `PASSWD-*`). The key
//! file is replaced by one journaled commit: after any interruption ca.key holds the old or
//! the new encryption, never neither.

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::PasswdArgs;
use crate::error::Result;
use crate::model::snapshot::Snapshot;
use crate::passphrase;
use crate::pki::keys;
use crate::store::{FileWrite, KEY, MODE_SECRET};
use crate::term::Note;

/// Runs `ca passwd`.
pub fn run(args: &PasswdArgs, ctx: &Context) -> Result<()> {
    // Both passphrases are read before the lock is taken (SPEC.md HOSTILE-INPUT): a prompt
    // or a slow FIFO must not block other commands. The current one first, as asked before.
    // A token key has no passphrase: said before any PIN is asked (SPEC.md TOKEN-PASSWD).
    if let Ok(key) = crate::store::read_state_file(&ctx.dir, KEY)
        && crate::token::KeyRef::is_reference(&key)
    {
        return Err(crate::token::TokenError::Passwd.into());
    }
    ctx.passphrase_ahead()?;
    if args.remove
        && let Ok(key) = crate::store::read_state_file(&ctx.dir, KEY)
        && !keys::is_encrypted(&String::from_utf8_lossy(&key))
    {
        // Nothing to remove: no commit, no audit record (PASSWD-REMOVE-PLAIN).
        if !ctx.quiet {
            crate::term::warn("note: ca.key is not encrypted; nothing to remove");
        }
        return Ok(());
    }
    let new = if args.remove {
        None
    } else {
        Some(passphrase::new_passphrase(
            args.new_passphrase_file.as_deref(),
            ("new passphrase for ca.key", "--new-passphrase-file"),
        )?)
    };
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN,
        |state, env| plan(state, new.as_deref().map(String::as_str), env),
    )
}

/// Validation phase: ca.key re-encrypted with `new`, or stored plain without one.
pub fn plan(state: &Snapshot, new: Option<&str>, env: &Env) -> Result<Planned> {
    let key = state
        .ca
        .key()?
        .in_memory()
        .ok_or(crate::token::TokenError::Passwd)?;
    let plain = keys::pkcs8_pem(key)?;
    let (content, what) = match new {
        None => (
            plain.to_string(),
            Note::act("removed", "would remove", "the passphrase of ca.key"),
        ),
        Some(new) => {
            let enc = keys::encrypt_pem(&plain, new, env.rng.sealing()?)?;
            (
                enc,
                Note::Act {
                    done: "ca.key is now encrypted with the new passphrase".into(),
                    would: "ca.key would be encrypted with the new passphrase".into(),
                },
            )
        }
    };
    let plan = super::finish_plan(
        state,
        env,
        crate::model::log::LogAppend::default(),
        vec![FileWrite {
            target: KEY.into(),
            bytes: content.into_bytes(),
            mode: MODE_SECRET,
        }],
        AuditInfo::of("passwd", Vec::new()),
    )?;
    Ok(Planned::new(plan, String::new(), vec![what]))
}
