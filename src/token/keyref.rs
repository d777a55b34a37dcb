//! ca.key when the CA key lives on a PKCS#11 token: not a key but a reference to one (SPEC.md
//! KEYREF), four lines of text, part of state format 4. Pure: bytes in, a value out.
//!
//! ```text
//! fileca pkcs11 key reference v1
//! uri: pkcs11:token=lab-root;object=root-key;type=private
//! module: /usr/lib/softhsm/libsofthsm2.so
//! public-key-sha256: <SHA-256 of the key's DER SubjectPublicKeyInfo, lowercase hex>
//! ```
//!
//! The hash lets every command refuse a token whose key was replaced (exit 5) before it asks
//! the token to sign anything; the URI never holds a PIN (the parser refuses one).

use std::path::PathBuf;

use super::uri::{Pkcs11Uri, UriError};

/// The first line of a key reference: how ca.key is told apart from a PEM key.
pub const MAGIC: &str = "fileca pkcs11 key reference v1";

/// The largest reference read (a URI and a path; the rest is fixed).
pub const MAX_BYTES: usize = 8192;

/// A parsed key reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub uri: Pkcs11Uri,
    /// The PKCS#11 module (shared library) to load, an absolute path.
    pub module: PathBuf,
    /// SHA-256 of the public key's DER SubjectPublicKeyInfo, lowercase hex.
    pub public_key_sha256: String,
}

/// Why ca.key, which starts like a key reference, is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefError {
    #[error(
        "is not a key reference of this form: {MAGIC:?}, then the lines \"uri: \", \"module: \" \
         and \"public-key-sha256: \" (SPEC.md KEYREF)"
    )]
    Form,
    #[error("names a PKCS#11 URI that {0}")]
    Uri(#[from] UriError),
    #[error("names a module that is not an absolute path")]
    ModuleNotAbsolute,
}

impl KeyRef {
    /// Does ca.key, as read, hold a key reference rather than a PEM key?
    pub fn is_reference(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC.as_bytes())
    }

    /// Parses a reference: exactly the four lines, in order, each ending with a newline.
    pub fn parse(bytes: &[u8]) -> Result<KeyRef, KeyRefError> {
        if bytes.len() > MAX_BYTES {
            return Err(KeyRefError::Form);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| KeyRefError::Form)?;
        let body = text.strip_suffix('\n').ok_or(KeyRefError::Form)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [magic, uri, module, hash] = lines[..] else {
            return Err(KeyRefError::Form);
        };
        if magic != MAGIC {
            return Err(KeyRefError::Form);
        }
        let uri = uri.strip_prefix("uri: ").ok_or(KeyRefError::Form)?;
        let module = module.strip_prefix("module: ").ok_or(KeyRefError::Form)?;
        let hash = hash
            .strip_prefix("public-key-sha256: ")
            .ok_or(KeyRefError::Form)?;
        if hash.len() != 64 || !hash.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(KeyRefError::Form);
        }
        let module = PathBuf::from(module);
        if !module.is_absolute() {
            return Err(KeyRefError::ModuleNotAbsolute);
        }
        Ok(KeyRef {
            uri: Pkcs11Uri::parse(uri)?,
            module,
            public_key_sha256: hash.to_string(),
        })
    }

    /// The bytes of ca.key.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!(
            "{MAGIC}\nuri: {}\nmodule: {}\npublic-key-sha256: {}\n",
            self.uri,
            self.module.display(),
            self.public_key_sha256
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_round_trips_and_anything_else_is_refused() {
        let r = KeyRef {
            uri: Pkcs11Uri::parse("pkcs11:token=lab;object=root").unwrap(),
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            public_key_sha256: "ab".repeat(32),
        };
        let bytes = r.to_bytes();
        assert!(KeyRef::is_reference(&bytes));
        assert_eq!(KeyRef::parse(&bytes).unwrap(), r);
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 4);
        for bad in [
            text.replace("module: /", "module: "),
            text.replace("ab", "AB"),
            text.trim_end().to_string(),
            format!("{text}extra\n"),
        ] {
            assert!(KeyRef::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(!KeyRef::is_reference(b"-----BEGIN PRIVATE KEY-----\n"));
    }
}
