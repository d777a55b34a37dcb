//! OpenSSL's traditional ("legacy") PEM encryption of a private key, read so that existing CA
//! keys can be adopted: `openssl rsa -aes256 -traditional`, `openssl ec -aes256`, `openssl
//! genrsa -traditional` and OpenSSL 1.0-era tools write it. fileca never writes it (ca.key is
//! PBES2, SPEC.md ENCRYPT-KEY).
//!
//! The format (RFC 1421 headers, as OpenSSL's `PEM_read_bio_PrivateKey` reads them):
//!
//! ```text
//! -----BEGIN RSA PRIVATE KEY-----
//! Proc-Type: 4,ENCRYPTED
//! DEK-Info: AES-256-CBC,<IV in hex>
//!
//! <base64 of the CBC-encrypted, PKCS#7-padded DER key>
//! ```
//!
//! The cipher key is OpenSSL's `EVP_BytesToKey` with MD5, one iteration and the first 8 bytes of
//! the IV as salt: `D_1 = MD5(passphrase || salt)`, `D_i = MD5(D_(i-1) || passphrase || salt)`,
//! the key being the first bytes of `D_1 || D_2 || …`. The block ciphers, CBC and MD5 come from
//! the RustCrypto crates (`aes`, `des`, `cbc`, `md-5`); only this composition is here. The
//! format has no integrity check: a wrong passphrase shows as bad padding or, rarely, as
//! plaintext that is not one DER structure, and both are reported as a wrong passphrase.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyInit, KeyIvInit};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

/// Why a traditional encrypted key cannot be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyError {
    /// `DEK-Info` is missing or malformed.
    Header(HeaderProblem),
    /// The cipher named by `DEK-Info` is not one fileca reads.
    Cipher(String),
    /// The passphrase does not decrypt the key.
    WrongPassphrase,
}

/// What is wrong with a block's `DEK-Info` header (the values quoted are the file's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderProblem {
    #[error("Proc-Type: 4,ENCRYPTED without DEK-Info")]
    NoDekInfo,
    #[error("DEK-Info {0:?} is not CIPHER,IV")]
    NotCipherIv(String),
    #[error("DEK-Info IV {0:?} is not hex")]
    IvNotHex(String),
    #[error("DEK-Info IV has {len} bytes, {cipher} needs {needs}")]
    IvLength {
        len: usize,
        cipher: String,
        needs: usize,
    },
}

/// The ciphers read: what `openssl rsa|ec|genrsa -aes128|-aes192|-aes256|-des3` writes.
pub const CIPHERS: &str = "AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC";

/// Does this PEM block carry `Proc-Type: 4,ENCRYPTED`?
pub fn is_encrypted(block: &pem::Pem) -> bool {
    block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.trim() == "4,ENCRYPTED")
}

/// Decrypts the DER of a block for which [`is_encrypted`] holds.
pub fn decrypt(block: &pem::Pem, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, LegacyError> {
    let dek = block
        .headers()
        .get("DEK-Info")
        .ok_or(LegacyError::Header(HeaderProblem::NoDekInfo))?;
    let (name, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| LegacyError::Header(HeaderProblem::NotCipherIv(dek.to_string())))?;
    let name = name.trim();
    let iv = crate::pki::hex::decode(iv_hex.trim())
        .ok_or_else(|| LegacyError::Header(HeaderProblem::IvNotHex(iv_hex.to_string())))?;
    let (key_len, block_len) = match name.to_ascii_uppercase().as_str() {
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        "DES-EDE3-CBC" => (24, 8),
        _ => return Err(LegacyError::Cipher(name.to_string())),
    };
    if iv.len() != block_len {
        return Err(LegacyError::Header(HeaderProblem::IvLength {
            len: iv.len(),
            cipher: name.to_string(),
            needs: block_len,
        }));
    }
    // OpenSSL's PEM_do_header uses the first 8 bytes of the IV as the salt.
    let key = bytes_to_key(passphrase, &iv[..8], key_len);
    let mut buf = Zeroizing::new(block.contents().to_vec());
    let plain_len = match name.to_ascii_uppercase().as_str() {
        "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, &iv, &mut buf),
        "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, &iv, &mut buf),
        "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, &iv, &mut buf),
        _ => cbc_decrypt::<des::TdesEde3>(&key, &iv, &mut buf),
    }
    .ok_or(LegacyError::WrongPassphrase)?;
    buf.truncate(plain_len);
    // Bad padding is the usual sign of a wrong passphrase; good padding by chance (about 1 in
    // 256) leaves bytes that are not one complete DER structure.
    use pkcs8::der::Decode;
    if pkcs8::der::asn1::AnyRef::from_der(&buf).is_err() {
        return Err(LegacyError::WrongPassphrase);
    }
    Ok(buf)
}

/// OpenSSL's `EVP_BytesToKey(cipher, EVP_md5(), salt, passphrase, count = 1)`, key part only
/// (the IV is the one in DEK-Info).
fn bytes_to_key(passphrase: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Option<Zeroizing<[u8; 16]>> = None;
    while out.len() < len {
        let mut md5 = Md5::new();
        if let Some(p) = &prev {
            md5.update(p.as_slice());
        }
        md5.update(passphrase);
        md5.update(salt);
        let digest = Zeroizing::new(<[u8; 16]>::from(md5.finalize()));
        out.extend_from_slice(digest.as_slice());
        prev = Some(digest);
    }
    out.truncate(len);
    out
}

/// CBC-decrypts `buf` in place and removes the PKCS#7 padding; the plaintext's length, or
/// `None` when the padding (or the length) is wrong.
fn cbc_decrypt<C: BlockCipherDecrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Option<usize> {
    let mode = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    mode.decrypt_padded::<Pkcs7>(buf).ok().map(<[u8]>::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl enc -aes-256-cbc -P -md md5 -S 0102030405060708 -pass pass:fileca-test`
    /// prints key=49D5E0F5DC699D84521E3EAB6CDB7230EE7AA89ACAC89FE571B267B0406A628B (and, for
    /// -des-ede3-cbc, its first 24 bytes): the same derivation.
    #[test]
    fn bytes_to_key_matches_openssl() {
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        let key = bytes_to_key(b"fileca-test", &salt, 32);
        assert_eq!(
            crate::pki::hex::upper(&key),
            "49D5E0F5DC699D84521E3EAB6CDB7230EE7AA89ACAC89FE571B267B0406A628B"
        );
        let key = bytes_to_key(b"fileca-test", &salt, 24);
        assert_eq!(
            crate::pki::hex::upper(&key),
            "49D5E0F5DC699D84521E3EAB6CDB7230EE7AA89ACAC89FE5"
        );
    }

    #[test]
    fn malformed_headers_and_unknown_ciphers_are_named() {
        let block = |dek: &str| {
            let text = format!(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n{dek}\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"
            );
            pem::parse(text).unwrap()
        };
        let b = block("DEK-Info: AES-256-CBC,00");
        assert!(is_encrypted(&b));
        assert!(matches!(decrypt(&b, b"x"), Err(LegacyError::Header(_))));
        let b = block("DEK-Info: BF-CBC,0001020304050607");
        assert_eq!(decrypt(&b, b"x"), Err(LegacyError::Cipher("BF-CBC".into())));
        let b = block("DEK-Info: DES-EDE3-CBC,0001020304050607");
        assert_eq!(decrypt(&b, b"x"), Err(LegacyError::WrongPassphrase));
    }
}
