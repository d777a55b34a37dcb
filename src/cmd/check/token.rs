//! `ca check` of a CA whose key is on a PKCS#11 token (SPEC.md TOKEN-CHECK, TOKEN-GENERATE):
//! the token looked at without a PIN, and the record an interrupted `init --key-on-token`
//! may have left beside the CA.

use super::Problems;
use crate::pki::ca::CaCert;
use crate::store::{self, KEY};

/// ca.key as a token key reference (SPEC.md TOKEN-CHECK): its form, and, when the token is
/// present, that its public key is the one the reference records and ca.crt's. No PIN is
/// used; a token that is absent is a note, never a problem (a root kept offline is normal).
pub(super) fn token_problems(key: &[u8], cert: &CaCert, p: &mut Problems) {
    let reference = match crate::token::KeyRef::parse(key) {
        Ok(r) => r,
        Err(e) => return p.add(KEY, e.to_string()),
    };
    match crate::token::probe(&reference) {
        Ok(found) if found.public_key_sha256 != reference.public_key_sha256 => p.add(
            KEY,
            crate::token::TokenError::KeyChanged {
                uri: reference.uri.to_string(),
            }
            .to_string(),
        ),
        Ok(found) if found.spki != cert.spki_der => p.add(
            KEY,
            format!(
                "the public key of {} on the token does not match ca.crt's",
                reference.uri
            ),
        ),
        Ok(found) => p.1.push(format!(
            "the CA key is on the token {:?} (serial {}), present, and matches ca.crt",
            found.token_label, found.token_serial
        )),
        Err(e) => p.1.push(format!(
            "the CA key is on a token that could not be checked now ({e}); ca.key names {} \
             through {}",
            reference.uri,
            reference.module.display()
        )),
    }
}

/// The record of an `init --key-on-token` left beside the CA (SPEC.md TOKEN-GENERATE): when
/// it names this CA's own key (init was killed after creating the CA) only the record is to
/// go — a note; else it names a key that may be on the token unused — a problem saying how
/// to delete it.
pub(super) fn token_record_problems(dir: &std::path::Path, p: &mut Problems) {
    let Some(bytes) = store::token_record::read(dir) else {
        return;
    };
    let path = store::token_record::path(dir);
    let name = format!(
        "../{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let (uri, _) = crate::token::generate::recorded(&bytes);
    let ours = store::read_state_file(dir, KEY)
        .ok()
        .and_then(|k| crate::token::KeyRef::parse(&k).ok())
        .is_some_and(|r| r.uri.to_string() == uri);
    match ours {
        true => p.1.push(format!(
            "{name} is left by an `init --key-on-token` killed after it created this CA; it \
             names this CA's own key: remove the record (rm {}), never the key",
            path.display()
        )),
        false => p.add(
            &name,
            crate::token::generate::interrupted(path.display().to_string(), &bytes).to_string(),
        ),
    }
}
