//! The one room that talks to PKCS#11 tokens (SPEC.md TOKEN-*): it loads the module ca.key's
//! reference names, finds the token and the key, logs in once with the PIN read before the
//! lock, and hands out a [`TokenKey`] — an rcgen `SigningKey` — so that certificates, CRLs and
//! checkpoints are signed on the token through the same seam as a key in memory. Nothing on
//! a token is changed except by `init --key-on-token` ([`generate`]).
//!
//! Invariants: the PIN is never part of an error or a message; a token whose public key is not
//! the one the reference records is refused before the PIN is used ([`TokenError::KeyChanged`]);
//! a signature the token fails to make fails the command before its commit point.

mod context;
mod error;
pub mod generate;
pub mod keyref;
mod module;
mod public;
pub mod uri;

use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use zeroize::Zeroizing;

use crate::pki::keys::KeyKind;
use error::PinFlags;
pub use error::TokenError;
pub use keyref::KeyRef;
pub use module::{DEFAULT_MODULES, ENV_MODULE, module_path};
use public::{Public, public_key};
pub use uri::Pkcs11Uri;

/// A private key on a token, logged in, ready to sign. The session is shared by every
/// signature of the command (a batch logs in once) and serialised by a mutex.
pub struct TokenKey {
    session: Mutex<Session>,
    key: ObjectHandle,
    kind: KeyKind,
    alg: &'static SignatureAlgorithm,
    /// The subjectPublicKey content (what rcgen compares and embeds).
    public: Vec<u8>,
    /// For a key with CKA_ALWAYS_AUTHENTICATE: the login before each signature.
    context: Option<context::ContextLogin>,
}

/// What [`finish`] needs to give a key that wants a login per signature its
/// [`context::ContextLogin`]: the module, the slot, the PIN read once.
pub(crate) struct LoggedIn<'a> {
    ctx: &'a Pkcs11,
    module: &'a Path,
    slot: Slot,
    pin: Zeroizing<String>,
}

/// Where a token key is and whether it is there now, without a PIN: for `status` and `check`.
pub struct Probe {
    pub token_label: String,
    pub token_serial: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo of the public key found beside the key.
    pub public_key_sha256: String,
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// Finds the token and the key's public half without logging in.
pub fn probe(reference: &KeyRef) -> Result<Probe, TokenError> {
    let ctx = load(&reference.module)?;
    let (slot, info) = find_token(&ctx, &reference.uri, &reference.module)?;
    let session = ctx
        .open_ro_session(slot)
        .map_err(failed("opening a session"))?;
    let token = info.label().trim_end().to_string();
    let public = public_key(&session, &reference.uri, &token)?;
    let spki = public.spki();
    Ok(Probe {
        token_label: token,
        token_serial: info.serial_number().trim_end().to_string(),
        public_key_sha256: crate::pki::hex::sha256(&spki),
        spki,
    })
}

/// Opens the key a reference names: loads the module, finds the token and the key, checks
/// its public key against the reference's hash (before the PIN is used: a replaced key costs
/// no PIN try), then logs in with `pin`.
pub fn open(reference: &KeyRef, pin: Zeroizing<String>) -> Result<TokenKey, TokenError> {
    let ctx = load(&reference.module)?;
    let (slot, info) = find_token(&ctx, &reference.uri, &reference.module)?;
    let token = info.label().trim_end().to_string();
    let session = ctx
        .open_ro_session(slot)
        .map_err(failed("opening a session"))?;
    let public = public_key(&session, &reference.uri, &token)?;
    if crate::pki::hex::sha256(&public.spki()) != reference.public_key_sha256 {
        return Err(TokenError::KeyChanged {
            uri: reference.uri.to_string(),
        });
    }
    login(&ctx, slot, &session, &pin, &token)?;
    let logged_in = LoggedIn {
        ctx: &ctx,
        module: &reference.module,
        slot,
        pin,
    };
    finish(session, &reference.uri, token, public, logged_in)
}

/// What `init --key pkcs11:…` adopts: the key opened and logged in, with the reference that
/// ca.key will hold.
pub fn adopt(
    uri: &Pkcs11Uri,
    module: &Path,
    pin: Zeroizing<String>,
) -> Result<(TokenKey, KeyRef), TokenError> {
    let ctx = load(module)?;
    let (slot, info) = find_token(&ctx, uri, module)?;
    let token = info.label().trim_end().to_string();
    let session = ctx
        .open_ro_session(slot)
        .map_err(failed("opening a session"))?;
    login(&ctx, slot, &session, &pin, &token)?;
    let public = public_key(&session, uri, &token)?;
    let reference = KeyRef {
        uri: uri.clone(),
        module: module.to_path_buf(),
        public_key_sha256: crate::pki::hex::sha256(&public.spki()),
    };
    let logged_in = LoggedIn {
        ctx: &ctx,
        module,
        slot,
        pin,
    };
    Ok((finish(session, uri, token, public, logged_in)?, reference))
}

impl TokenKey {
    fn sign_raw(&self, msg: &[u8]) -> Result<Vec<u8>, TokenError> {
        let session = self.session.lock().map_err(|_| TokenError::Failed {
            what: "signing",
            rv: "an earlier signature panicked".into(),
        })?;
        let sign = |mechanism: &Mechanism, data: &[u8]| match &self.context {
            Some(context) => context.sign(&session, mechanism, self.key, data),
            None => session
                .sign(mechanism, self.key, data)
                .map_err(failed("signing")),
        };
        let n = match self.kind {
            KeyKind::P256 => 32,
            KeyKind::P384 => 48,
            // Pure Ed25519 (RFC 8032): the token's 64 bytes are the X.509 signature.
            KeyKind::Ed25519 => {
                let pure = EddsaParams::new(EddsaSignatureScheme::Ed25519);
                return sign(&Mechanism::Eddsa(pure), msg);
            }
            KeyKind::Rsa(_) => return sign(&Mechanism::Sha256RsaPkcs, msg),
        };
        let raw = sign(&Mechanism::Ecdsa, &digest(self.kind, msg))?;
        ecdsa_der(&raw, n).ok_or(TokenError::Failed {
            what: "signing",
            rv: format!(
                "the token's ECDSA signature is {} bytes, not {}",
                raw.len(),
                2 * n
            ),
        })
    }
}

/// The digest an ECDSA key of `kind` signs (CKM_ECDSA takes the hash, not the message).
fn digest(kind: KeyKind, msg: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match kind {
        KeyKind::P384 => sha2::Sha384::digest(msg).to_vec(),
        _ => sha2::Sha256::digest(msg).to_vec(),
    }
}

impl PublicKeyData for TokenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl SigningKey for TokenKey {
    /// Signs on the token; ECDSA's raw r||s becomes the DER X.509 and checkpoints use. rcgen's
    /// error type has no room for the token's own words: they are kept for
    /// [`take_failure`], and the command fails with exit 4 before its commit point.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_raw(msg).map_err(|e| {
            if let Ok(mut last) = LAST_FAILURE.lock() {
                last.get_or_insert(e);
            }
            rcgen::Error::RemoteKeyError
        })
    }
}

/// The first signing failure of this process (signatures of a batch run on several threads).
static LAST_FAILURE: Mutex<Option<TokenError>> = Mutex::new(None);

/// Why the token failed to sign, once rcgen reported `RemoteKeyError`.
pub fn take_failure() -> TokenError {
    LAST_FAILURE
        .lock()
        .ok()
        .and_then(|mut l| l.take())
        .unwrap_or(TokenError::Failed {
            what: "signing",
            rv: "the module gave no reason".into(),
        })
}

impl crate::pki::ca::RemoteKey for TokenKey {}

/// DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` from a token's r||s of `n`-byte
/// halves (PKCS#11 CKM_ECDSA).
pub fn ecdsa_der(raw: &[u8], n: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * n {
        return None;
    }
    let (r, s) = raw.split_at(n);
    Some(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(r, true);
            w.next().write_bigint_bytes(s, true);
        })
    }))
}

pub(crate) fn failed(what: &'static str) -> impl Fn(CkError) -> TokenError {
    move |e| TokenError::Failed {
        what,
        rv: e.to_string(),
    }
}

/// Loads and initialises a module.
fn load(module: &Path) -> Result<Pkcs11, TokenError> {
    module::trusted(module)?;
    let ctx = Pkcs11::new(module).map_err(|e| TokenError::Module {
        module: module.to_path_buf(),
        reason: match e {
            CkError::LibraryLoading(l) => l.to_string(),
            other => other.to_string(),
        },
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(TokenError::Module {
            module: module.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// The one slot whose token matches the URI's token attributes.
fn find_token(
    ctx: &Pkcs11,
    uri: &Pkcs11Uri,
    module: &Path,
) -> Result<(Slot, TokenInfo), TokenError> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(failed("listing the module's slots"))?;
    let mut present = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let matches =
            |want: &Option<String>, have: &str| want.as_ref().is_none_or(|w| w == have.trim_end());
        if !info.token_initialized() {
            continue;
        }
        if matches(&uri.token, info.label())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.model, info.model())
        {
            return Ok((slot, info));
        }
        present.push(format!("{:?}", info.label().trim_end()));
    }
    Err(TokenError::NoToken {
        uri: uri.to_string(),
        module: module.to_path_buf(),
        present,
    })
}

/// Logs the user in; a refused PIN is reported with the token's PIN flags.
fn login(
    ctx: &Pkcs11,
    slot: Slot,
    session: &Session,
    pin: &Zeroizing<String>,
    token: &str,
) -> Result<(), TokenError> {
    login_as(ctx, slot, session, pin, token, UserType::User)
}

/// Logs in as `user` (the user, or CKU_CONTEXT_SPECIFIC before a signature).
fn login_as(
    ctx: &Pkcs11,
    slot: Slot,
    session: &Session,
    pin: &Zeroizing<String>,
    token: &str,
    user: UserType,
) -> Result<(), TokenError> {
    let flags = ctx
        .get_token_info(slot)
        .map_err(failed("reading the token's flags"))?;
    if flags.user_pin_locked() {
        return Err(TokenError::Locked {
            token: token.to_string(),
        });
    }
    let auth = cryptoki::types::AuthPin::from(pin.as_str());
    match session.login(user, Some(&auth)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
            let after = ctx.get_token_info(slot).ok();
            Err(error::wrong_pin(
                token,
                after.as_ref().map(PinFlags::of).unwrap_or_default(),
            ))
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(TokenError::Locked {
            token: token.to_string(),
        }),
        Err(e) => Err(failed("logging in")(e)),
    }
}

/// The search template of the URI's object attributes for a key of `class`.
fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

/// The one object of `class` matching the URI.
pub(crate) fn one_object(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
    token: &str,
    what: &'static str,
) -> Result<ObjectHandle, TokenError> {
    let found = session
        .find_objects(&template(uri, class))
        .map_err(failed("looking for the key"))?;
    match found[..] {
        [one] => Ok(one),
        [] => Err(TokenError::NoKey {
            uri: uri.to_string(),
            token: token.to_string(),
            what,
        }),
        _ => Err(TokenError::Ambiguous {
            uri: uri.to_string(),
            token: token.to_string(),
            count: found.len(),
        }),
    }
}

/// The logged-in key: its private object, with a login before each signature when it has
/// CKA_ALWAYS_AUTHENTICATE.
fn finish(
    session: Session,
    uri: &Pkcs11Uri,
    token: String,
    public: Public,
    logged_in: LoggedIn<'_>,
) -> Result<TokenKey, TokenError> {
    let key = one_object(
        &session,
        uri,
        ObjectClass::PRIVATE_KEY,
        &token,
        "private key",
    )?;
    // A key that wants the PIN for every signature (CKA_ALWAYS_AUTHENTICATE: YubiKey PIV slot
    // 9c by default) signs through `context` (TOKEN-ALWAYS).
    let always = session
        .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
        .map_err(failed("reading the key's attributes"))?
        .into_iter()
        .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true)));
    let context = match always {
        true => Some(context::ContextLogin::new(
            logged_in.ctx,
            logged_in.module,
            logged_in.slot,
            token.clone(),
            logged_in.pin,
        )?),
        false => None,
    };
    if public.kind == KeyKind::Ed25519 {
        let offered = logged_in
            .ctx
            .get_mechanism_list(logged_in.slot)
            .map_err(failed("listing the token's mechanisms"))?;
        offers(
            &offered,
            MechanismType::EDDSA,
            &token,
            "signing with an Ed25519 key needs",
        )?;
    }
    let alg = match public.kind {
        KeyKind::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyKind::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
        KeyKind::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
    };
    Ok(TokenKey {
        session: Mutex::new(session),
        key,
        kind: public.kind,
        alg,
        public: public.key,
        context,
    })
}

/// Refuses a token whose mechanism list lacks `want` (CKM_EDDSA for an Ed25519 key,
/// CKM_EC_EDWARDS_KEY_PAIR_GEN to make one): said before any signature or change.
pub(crate) fn offers(
    offered: &[MechanismType],
    want: MechanismType,
    token: &str,
    why: &'static str,
) -> Result<(), TokenError> {
    match offered.contains(&want) {
        true => Ok(()),
        false => Err(TokenError::NoMechanism {
            token: token.to_string(),
            mechanism: if want == MechanismType::EDDSA {
                "CKM_EDDSA"
            } else {
                "CKM_EC_EDWARDS_KEY_PAIR_GEN"
            },
            why,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_ecdsa_signature_becomes_der_integers() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero to stay positive
        raw[63] = 1; // s is 1
        let der = ecdsa_der(&raw, 32).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x21, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert_eq!(ecdsa_der(&raw, 48), None);
    }

    #[test]
    fn a_token_without_eddsa_is_refused_with_the_mechanism_named_token_keytypes() {
        let none = [MechanismType::ECDSA, MechanismType::RSA_PKCS];
        let err = offers(
            &none,
            MechanismType::EDDSA,
            "lab",
            "signing with an Ed25519 key needs",
        )
        .unwrap_err();
        assert!(matches!(
            err,
            TokenError::NoMechanism {
                mechanism: "CKM_EDDSA",
                ..
            }
        ));
        let text = err.to_string();
        assert!(
            text.contains("does not offer CKM_EDDSA") && text.contains("pkcs11-tool -M"),
            "{text}"
        );
        let making =
            offers(&none, MechanismType::ECC_EDWARDS_KEY_PAIR_GEN, "lab", "x").unwrap_err();
        assert!(
            making.to_string().contains("CKM_EC_EDWARDS_KEY_PAIR_GEN"),
            "{making}"
        );
        assert!(offers(&[MechanismType::EDDSA], MechanismType::EDDSA, "lab", "x").is_ok());
    }
}
