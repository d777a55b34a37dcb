//! `ca init --key pkcs11:…` (SPEC.md TOKEN-INIT, TOKEN-GENERATE): the CA key on a PKCS#11
//! token, adopted or made there, and — for a key init made — the record that names it until
//! the CA directory does, and its deletion when init fails.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::Context;
use super::init::Source;
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::pki::ca::CaKey;
use crate::store;
use crate::token::KeyRef;

/// A key `init --key-on-token` made, to be deleted if init fails (SPEC.md TOKEN-GENERATE).
pub struct Generated {
    uri: crate::token::Pkcs11Uri,
    module: PathBuf,
    pin: Zeroizing<String>,
}

/// `init --key pkcs11:…`: the token key (see [`key`]) and the rest of the new CA's request.
pub fn source(args: &InitArgs, ctx: &Context) -> Result<(Source, Option<Generated>)> {
    // Everything typed is checked before the PIN is asked or the token touched.
    let subject = super::new_ca::subject_of(args)?;
    let constraints = crate::cli::constraints(&args.permit, &args.exclude)?;
    let (key, reference, generated) = key(args, ctx)?;
    let source = Source::Token {
        key,
        reference,
        subject,
        days: args.days.unwrap_or(super::new_ca::DEFAULT_DAYS),
        path_len: args.path_len,
        constraints,
    };
    Ok((source, generated))
}

/// The token key of `init --key pkcs11:…` (with or without `--csr-out`): adopted, or made on
/// the token (`--key-on-token`), and logged in with the PIN (from the PIN file or a
/// prompt), with the reference ca.key will hold.
pub fn key(args: &InitArgs, ctx: &Context) -> Result<(CaKey, KeyRef, Option<Generated>)> {
    let typed = args.token_key.as_deref().unwrap_or_default();
    let uri = crate::token::Pkcs11Uri::parse(typed)
        .map_err(|e| Error::Usage(format!("--key {}", crate::term::escape(&e.to_string()))))?;
    let module = crate::token::module_path(args.module.as_deref())?;
    let mut generated = None;
    let (key, reference) = if args.key_on_token {
        let kind = args.key_type.kind();
        store::check_can_create(&ctx.dir)?;
        interrupted_generation(&ctx.dir)?;
        let pin = ctx.pass.pin_now(uri.token.as_deref().unwrap_or_default())?;
        let id = ctx.env.rng.bytes::<8>()?.to_vec();
        let maker = crate::token::generate::prepare(&uri, &module, pin.clone(), id)?;
        // Durable before the key exists: a key an init killed from here on is named by the
        // record, never left on the token unnamed.
        store::token_record::write(&ctx.dir, maker.record().as_bytes())?;
        let made = Generated {
            uri: maker.uri.clone(),
            module: module.clone(),
            pin,
        };
        match maker.generate(kind) {
            Ok(pair) => {
                generated = Some(made);
                pair
            }
            Err(e) => return Err(undo_generated(&ctx.dir, made, e.into())),
        }
    } else {
        let pin = ctx.pass.pin_now(uri.token.as_deref().unwrap_or_default())?;
        crate::token::adopt(&uri, &module, pin)?
    };
    Ok((CaKey::Remote(Box::new(key)), reference, generated))
}

/// Refuses `init --key-on-token` where an earlier one was interrupted: its record names a key
/// that may be on the token, which the operator looks at first.
fn interrupted_generation(dir: &Path) -> Result<()> {
    let Some(bytes) = store::token_record::read(dir) else {
        return Ok(());
    };
    let record = store::token_record::path(dir).display().to_string();
    Err(crate::token::generate::interrupted(record, &bytes).into())
}

/// After `init --key-on-token`: on success the record goes (ca.key names the key now); on
/// failure the key is deleted from the token ([`undo_generated`]).
pub fn settle(dir: &Path, made: Generated, result: Result<()>) -> Result<()> {
    match result {
        Ok(()) => {
            if let Err(e) = store::token_record::remove(dir) {
                crate::term::warn(&format!(
                    "warning: the CA is created, but its init record could not be removed ({}); \
                     remove {} by hand",
                    crate::term::escape(&e.to_string()),
                    crate::term::escape(&store::token_record::path(dir).display().to_string())
                ));
            }
            Ok(())
        }
        Err(e) => Err(undo_generated(dir, made, e)),
    }
}

/// A failed `init --key-on-token`: the key it made is deleted from the token, then the
/// record; a key that cannot be deleted keeps its record, and a warning names it. Returns
/// the error that failed init.
fn undo_generated(dir: &Path, made: Generated, err: Error) -> Error {
    match crate::token::generate::delete(&made.uri, &made.module, &made.pin) {
        Ok(_) => {
            let _ = store::token_record::remove(dir);
        }
        Err(d) => crate::term::warn(&format!(
            "warning: the key made on the token could not be deleted ({}); {} names it",
            crate::term::escape(&d.to_string()),
            crate::term::escape(&store::token_record::path(dir).display().to_string())
        )),
    }
    err
}
