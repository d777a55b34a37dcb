//! Why a token key cannot be used (SPEC.md TOKEN-ERRORS): one variant per way, each with
//! the context to name it and what to do next. Invariant: no variant carries the PIN.

use std::path::PathBuf;

use cryptoki::slot::TokenInfo;

use super::ENV_MODULE;

/// Why a token key cannot be used. None of these carries the PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The module cannot be loaded or initialised (exit 3).
    #[error("cannot load the PKCS#11 module {}: {reason}", .module.display())]
    Module { module: PathBuf, reason: String },
    /// No token in the module's slots matches the URI (exit 3).
    #[error(
        "no token matching {uri} in the module {} (tokens present: {}); is it plugged in?",
        .module.display(),
        if .present.is_empty() { "none".to_string() } else { .present.join(", ") }
    )]
    NoToken {
        uri: String,
        module: PathBuf,
        present: Vec<String>,
    },
    /// No private key (or no public key beside it) on the token matches the URI (exit 3).
    #[error("the token {token:?} holds no {what} matching {uri}")]
    NoKey {
        uri: String,
        token: String,
        what: &'static str,
    },
    /// More than one key matches: the URI must name one (exit 3).
    #[error("{count} keys on the token {token:?} match {uri}: add id=… or object=… to name one")]
    Ambiguous {
        uri: String,
        token: String,
        count: usize,
    },
    /// A key fileca does not sign with (exit 3).
    #[error(
        "the key {uri} is {what}; fileca signs with P-256, P-384, Ed25519 or RSA (2048–8192 \
         bits) keys"
    )]
    Unsupported { uri: String, what: String },
    /// The token does not offer a mechanism the key needs (exit 3).
    #[error(
        "the token {token:?} does not offer {mechanism} (its module's mechanism list, \
         `pkcs11-tool -M`), which {why}; nothing was changed"
    )]
    NoMechanism {
        token: String,
        mechanism: &'static str,
        why: &'static str,
    },
    /// The PIN was refused; what the token's flags say afterwards (exit 3).
    #[error("wrong PIN for the token {token:?}{}; nothing was changed", pin_flags(*.count_low, *.final_try, *.locked))]
    WrongPin {
        token: String,
        count_low: bool,
        final_try: bool,
        locked: bool,
    },
    /// The user PIN is locked: nothing can be signed until it is unblocked (exit 3).
    #[error(
        "the token {token:?} has its user PIN locked (CKF_USER_PIN_LOCKED): unblock it with the \
         token's own tool (e.g. `softhsm2-util`, `pkcs11-tool --init-pin --login --login-type so`, \
         `yubico-piv-tool -a unblock-pin`); nothing was changed"
    )]
    Locked { token: String },
    /// The token's key is not the one ca.key's reference records (exit 5).
    #[error(
        "the public key of {uri} on the token is not the one ca.key records (public-key-sha256): \
         the key on the token was replaced, or this is another token; nothing was changed"
    )]
    KeyChanged { uri: String },
    /// The PIN is needed and cannot be had (exit 3).
    #[error(
        "the PIN of the token {0:?} is needed: give --pin-file FILE or set $CA_PIN_FILE \
         (standard input is not a terminal to ask on)"
    )]
    PinNeeded(String),
    /// `init --key-on-token` cannot make this key (exit 3).
    #[error("cannot make the key {uri} on the token: {why}; nothing was changed")]
    Generate { uri: String, why: String },
    /// An earlier `init --key-on-token` of this directory was interrupted (exit 3).
    #[error(
        "{record} is left by an interrupted `ca init --key-on-token`: the token may hold the \
         key it names ({uri}). If no CA uses that key, delete it with `pkcs11-tool --module {} \
         --login --delete-object --type privkey {sel}` (and `--type pubkey`); then remove \
         {record} and run init again",
        .module.display(),
        sel = .selector
    )]
    Interrupted {
        record: String,
        uri: String,
        module: PathBuf,
        selector: String,
    },
    /// `passwd` on a CA whose key is on a token (exit 3).
    #[error(
        "the CA key is on a PKCS#11 token (ca.key is a reference to it) and has no passphrase: \
         change the token's PIN with the token's own tool (`pkcs11-tool --change-pin`, \
         `softhsm2-util`, `yubico-piv-tool -a change-pin`); nothing was changed"
    )]
    Passwd,
    /// No module was named for `init --key`/`--key-on-token` and none of the search list is
    /// installed (exit 2).
    #[error(
        "no PKCS#11 module: give --module PATH or set ${ENV_MODULE}; {}",
        match .searched.is_empty() {
            true => "the search list is empty".to_string(),
            false => format!(
                "none of the default modules is installed ({})",
                .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    )]
    NoModule { searched: Vec<PathBuf> },
    /// The token failed an operation (removed, an error from the module) (exit 4).
    #[error("the token failed while {what}: {rv}; nothing was changed")]
    Failed { what: &'static str, rv: String },
}

fn pin_flags(count_low: bool, final_try: bool, locked: bool) -> String {
    match (locked, final_try, count_low) {
        (true, _, _) => {
            " (CKF_USER_PIN_LOCKED: the PIN is now locked; unblock it with the token's own tool)"
                .into()
        }
        (_, true, _) => " (CKF_USER_PIN_FINAL_TRY: one more wrong PIN locks it)".into(),
        (_, _, true) => " (CKF_USER_PIN_COUNT_LOW: few tries are left)".into(),
        _ => String::new(),
    }
}

/// What a token's flags (CK_TOKEN_INFO.flags) say about its user PIN after a refused login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PinFlags {
    pub count_low: bool,
    pub final_try: bool,
    pub locked: bool,
}

impl PinFlags {
    pub(crate) fn of(info: &TokenInfo) -> PinFlags {
        PinFlags {
            count_low: info.user_pin_count_low(),
            final_try: info.user_pin_final_try(),
            locked: info.user_pin_locked(),
        }
    }
}

/// The refusal of a wrong PIN, with what the token's flags say afterwards (TOKEN-ERRORS).
pub(crate) fn wrong_pin(token: &str, flags: PinFlags) -> TokenError {
    TokenError::WrongPin {
        token: token.to_string(),
        count_low: flags.count_low,
        final_try: flags.final_try,
        locked: flags.locked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TOKEN-ERRORS: each PIN flag a token may set after a wrong PIN is named in the
    /// message (the strongest one: locked, then final try, then count low), a locked token
    /// says how to unblock it, each saying "nothing was changed" (exit 3: error.rs's tests).
    #[test]
    fn each_pin_flag_is_named_in_the_message_token_pin_flags() {
        let flags = |count_low, final_try, locked| PinFlags {
            count_low,
            final_try,
            locked,
        };
        for (f, says) in [
            (flags(false, false, false), None),
            (
                flags(true, false, false),
                Some("CKF_USER_PIN_COUNT_LOW: few tries are left"),
            ),
            (
                flags(false, true, false),
                Some("CKF_USER_PIN_FINAL_TRY: one more wrong PIN locks it"),
            ),
            (flags(true, true, false), Some("CKF_USER_PIN_FINAL_TRY")),
            (
                flags(false, false, true),
                Some("CKF_USER_PIN_LOCKED: the PIN is now locked"),
            ),
            (flags(true, true, true), Some("CKF_USER_PIN_LOCKED")),
        ] {
            let err = wrong_pin("lab-root", f);
            let text = err.to_string();
            assert!(
                text.starts_with("wrong PIN for the token \"lab-root\""),
                "{text}"
            );
            assert!(text.ends_with("; nothing was changed"), "{text}");
            match says {
                Some(s) => assert!(text.contains(s), "{f:?}: {text}"),
                None => assert!(!text.contains("CKF_"), "{text}"),
            }
            if f.locked {
                assert!(
                    !text.contains("FINAL_TRY") && !text.contains("COUNT_LOW"),
                    "{text}"
                );
            }
        }
        let locked = TokenError::Locked {
            token: "lab-root".into(),
        };
        let text = locked.to_string();
        assert!(
            text.contains("CKF_USER_PIN_LOCKED") && text.contains("unblock"),
            "{text}"
        );
        assert!(text.contains("nothing was changed"), "{text}");
    }
}
