//! `init --key-on-token` (SPEC.md TOKEN-GENERATE): a new key pair made on the token, the one
//! change fileca ever makes to a token. The caller records the key's label and CKA_ID
//! durably before [`Generator::generate`], and calls [`Generator::delete`] when init fails,
//! so no key is left behind that nothing names.

use std::path::{Path, PathBuf};

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::Session;
use zeroize::Zeroizing;

use super::{KeyRef, Pkcs11Uri, TokenError, TokenKey, failed, finish, public_key};
use crate::pki::keys::KeyKind;

/// A token, logged in, ready to make one key named by `uri` (its label and CKA_ID).
pub struct Generator {
    session: Session,
    /// The URI of the key to make: `object=` and `id=` both set.
    pub uri: Pkcs11Uri,
    pub module: PathBuf,
    token: String,
    ctx: cryptoki::context::Pkcs11,
    slot: cryptoki::slot::Slot,
    pin: Zeroizing<String>,
}

/// Finds the token, logs in, and checks that nothing on it has the new key's label or id
/// (fileca never touches a key it did not make). `id` is used when the URI gives none.
pub fn prepare(
    uri: &Pkcs11Uri,
    module: &Path,
    pin: Zeroizing<String>,
    id: Vec<u8>,
) -> Result<Generator, TokenError> {
    let Some(label) = uri.object.clone() else {
        return Err(TokenError::Generate {
            uri: uri.to_string(),
            why: "give the new key's label as object=LABEL".into(),
        });
    };
    let ctx = super::load(module)?;
    let (slot, info) = super::find_token(&ctx, uri, module)?;
    let token = info.label().trim_end().to_string();
    let session = ctx
        .open_rw_session(slot)
        .map_err(failed("opening a read-write session"))?;
    super::login(&ctx, slot, &session, &pin, &token)?;
    let mut uri = uri.clone();
    uri.id = Some(uri.id.clone().unwrap_or(id));
    for (what, attr) in [
        ("label", Attribute::Label(label.into_bytes())),
        ("id", Attribute::Id(uri.id.clone().unwrap_or_default())),
    ] {
        let found = session
            .find_objects(&[attr])
            .map_err(failed("looking for objects"))?;
        if !found.is_empty() {
            return Err(TokenError::Generate {
                uri: uri.to_string(),
                why: format!(
                    "the token already holds {} object(s) with this {what}; fileca makes a new \
                     key only under a label and id nothing uses (adopt an existing key with \
                     --key alone)",
                    found.len()
                ),
            });
        }
    }
    Ok(Generator {
        session,
        uri,
        module: module.to_path_buf(),
        token,
        ctx,
        slot,
        pin,
    })
}

impl Generator {
    /// Makes the key pair on the token: private, sensitive, never extractable.
    pub fn generate(self, kind: KeyKind) -> Result<(TokenKey, KeyRef), TokenError> {
        let label = Attribute::Label(self.uri.object.clone().unwrap_or_default().into_bytes());
        let id = Attribute::Id(self.uri.id.clone().unwrap_or_default());
        let (mechanism, shape) = match kind {
            KeyKind::P256 => (
                Mechanism::EccKeyPairGen,
                Attribute::EcParams(vec![
                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                ]),
            ),
            KeyKind::P384 => (
                Mechanism::EccKeyPairGen,
                Attribute::EcParams(vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
            ),
            KeyKind::Rsa(bits) => (
                Mechanism::RsaPkcsKeyPairGen,
                Attribute::ModulusBits((bits as std::os::raw::c_ulong).into()),
            ),
            KeyKind::Ed25519 => {
                let offered = self
                    .ctx
                    .get_mechanism_list(self.slot)
                    .map_err(failed("listing the token's mechanisms"))?;
                for (want, why) in [
                    (
                        MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                        "making an Ed25519 key needs",
                    ),
                    (MechanismType::EDDSA, "signing with an Ed25519 key needs"),
                ] {
                    super::offers(&offered, want, &self.token, why)?;
                }
                (
                    Mechanism::EccEdwardsKeyPairGen,
                    // id-Ed25519 (RFC 8410), as SoftHSM2 and PKCS#11 3.0 tokens accept it.
                    Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x70]),
                )
            }
        };
        let mut public = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            label.clone(),
            id.clone(),
            shape,
        ];
        if matches!(kind, KeyKind::Rsa(_)) {
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
        }
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            label,
            id,
        ];
        self.session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(failed("generating the key pair"))?;
        let key_public = public_key(&self.session, &self.uri, &self.token)?;
        let reference = KeyRef {
            uri: self.uri.clone(),
            module: self.module.clone(),
            public_key_sha256: crate::pki::hex::sha256(&key_public.spki()),
        };
        let logged_in = super::LoggedIn {
            ctx: &self.ctx,
            module: &self.module,
            slot: self.slot,
            pin: self.pin,
        };
        let key = finish(self.session, &self.uri, self.token, key_public, logged_in)?;
        Ok((key, reference))
    }
}

/// Deletes the key pair a failed `init --key-on-token` made (every key object with its label
/// and CKA_ID), logging in again if the module was finalised meanwhile.
pub fn delete(
    uri: &Pkcs11Uri,
    module: &Path,
    pin: &Zeroizing<String>,
) -> Result<usize, TokenError> {
    let ctx = super::load(module)?;
    let (slot, info) = super::find_token(&ctx, uri, module)?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(failed("opening a read-write session"))?;
    super::login(&ctx, slot, &session, pin, info.label().trim_end())?;
    let mut deleted = 0;
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let found = session
            .find_objects(&super::template(uri, class))
            .map_err(failed("looking for the new key"))?;
        for object in found {
            session
                .destroy_object(object)
                .map_err(failed("deleting the new key"))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

impl Generator {
    /// What the durable record written before the key exists says: where the key will be.
    pub fn record(&self) -> String {
        format!(
            "fileca init --key-on-token record v1\nuri: {}\nmodule: {}\n",
            self.uri,
            self.module.display()
        )
    }
}

/// The record an interrupted `init --key-on-token` left (`record` names its file), as the
/// error that names its key and the command that deletes it.
pub fn interrupted(record: String, bytes: &[u8]) -> TokenError {
    let (uri, module) = recorded(bytes);
    let selector = match Pkcs11Uri::parse(&uri) {
        Ok(u) => format!(
            "--token-label '{}' --id {}",
            u.token.unwrap_or_default(),
            crate::pki::hex::lower(&u.id.unwrap_or_default())
        ),
        Err(_) => "--id ID".into(),
    };
    TokenError::Interrupted {
        record,
        uri,
        module,
        selector,
    }
}

/// The URI and module a record names ("?" where a line is missing).
pub fn recorded(bytes: &[u8]) -> (String, PathBuf) {
    let text = String::from_utf8_lossy(bytes);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or("?")
            .to_string()
    };
    (field("uri: "), PathBuf::from(field("module: ")))
}
