//! ca.key at rest: PKCS#8 encrypted under a passphrase with PBES2 (scrypt, AES-256-CBC), in
//! the form `openssl pkey -passin` reads (SPEC.md ENCRYPT-KEY). Keys given for import, in the
//! other encrypted forms OpenSSL writes, are read by [`super::import_private_key`].

use std::sync::Arc;

/// Is this ca.key content an encrypted PKCS#8 key?
pub fn is_encrypted(pem_text: &str) -> bool {
    pem_text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// Why an encrypted ca.key cannot be decrypted. The caller names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The passphrase does not decrypt the key.
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("malformed PEM: {0}")]
    Pem(Arc<pem::PemError>),
    #[error("not an encrypted PKCS#8 key: {0}")]
    NotEncryptedPkcs8(pkcs8::der::Error),
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` PEM (PBES2) to PKCS#8 PEM.
pub fn decrypt_pem(
    pem_text: &str,
    passphrase: &str,
) -> Result<zeroize::Zeroizing<String>, DecryptError> {
    use pkcs8::der::Decode;
    let block = pem::parse(pem_text).map_err(|e| DecryptError::Pem(Arc::new(e)))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(block.contents())
        .map_err(DecryptError::NotEncryptedPkcs8)?;
    let doc = info
        .decrypt(passphrase)
        .map_err(|_| DecryptError::WrongPassphrase)?;
    Ok(zeroize::Zeroizing::new(pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        doc.as_bytes().to_vec(),
    ))))
}

/// scrypt cost of an encrypted ca.key: N = 2^14, r = 8, p = 1 (16 MiB, SPEC.md ENCRYPT-KEY).
/// The most OpenSSL 3.0 reads: its scrypt memory limit is 32 MiB, which N = 2^15 with r = 8
/// exceeds. Pinned here rather than left to the pkcs8 crate's default, which may change.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

/// Why a key cannot be encrypted (`init`, `issue --encrypt-key`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    #[error("malformed PEM: {0}")]
    Pem(Arc<pem::PemError>),
    #[error("not a PKCS#8 key: {0}")]
    NotPkcs8(pkcs8::der::Error),
    #[error("scrypt parameters: {0}")]
    Scrypt(pkcs8::pkcs5::scrypt::errors::InvalidParams),
    #[error("PBES2 parameters: {0}")]
    Pbes2(pkcs8::pkcs5::Error),
    #[error("encryption failed: {0}")]
    Encrypt(pkcs8::Error),
}

/// The random bytes of one encryption: the scrypt salt and the AES-CBC IV. The caller draws
/// them (randomness comes in as an argument, so a test can pin the output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealing {
    pub salt: [u8; 16],
    pub iv: [u8; 16],
}

/// Encrypts a PKCS#8 PEM key with PBES2 (scrypt, AES-256-CBC), in the form
/// `openssl pkey -passin` reads.
pub fn encrypt_pem(
    pkcs8_pem: &str,
    passphrase: &str,
    sealing: Sealing,
) -> Result<String, EncryptError> {
    use pkcs8::der::Decode;
    use pkcs8::pkcs5::{pbes2, scrypt};
    let block = pem::parse(pkcs8_pem).map_err(|e| EncryptError::Pem(Arc::new(e)))?;
    let info =
        pkcs8::PrivateKeyInfoRef::from_der(block.contents()).map_err(EncryptError::NotPkcs8)?;
    let cost =
        scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P).map_err(EncryptError::Scrypt)?;
    let params = pbes2::Parameters::generate_scrypt_aes256cbc(cost, &sealing.salt, sealing.iv)
        .map_err(EncryptError::Pbes2)?;
    let doc = info
        .encrypt_with_params(params, passphrase)
        .map_err(EncryptError::Encrypt)?;
    Ok(pem::encode(&pem::Pem::new(
        "ENCRYPTED PRIVATE KEY",
        doc.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The salt and IV come in as an argument: the same ones give the same file, and it
    /// decrypts with its passphrase only.
    #[test]
    fn a_sealed_key_is_a_function_of_its_sealing_and_opens_with_its_passphrase() {
        let (_, pem) = crate::pki::keys::generate(crate::pki::keys::KeyType::EcdsaP256).unwrap();
        let sealing = Sealing {
            salt: [1; 16],
            iv: [2; 16],
        };
        let sealed = encrypt_pem(&pem, "pass", sealing).unwrap();
        assert_eq!(sealed, encrypt_pem(&pem, "pass", sealing).unwrap());
        assert!(is_encrypted(&sealed));
        let opened = decrypt_pem(&sealed, "pass").unwrap();
        let der = |text: &str| pem::parse(text).unwrap().into_contents();
        assert_eq!(der(&opened), der(&pem));
        assert_eq!(
            decrypt_pem(&sealed, "wrong"),
            Err(DecryptError::WrongPassphrase)
        );
    }
}
