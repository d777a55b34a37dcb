//! Key types: generating the CA's key, writing it so OpenSSL can read it, and naming public
//! keys found in certificates and CSRs (with the allowlist the CSR gate applies).

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};
use ring::digest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, Result};

/// Key types fileca generates for a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256 (the default).
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519 (RFC 8410).
    Ed25519,
}

impl KeyType {
    /// The kind of public key this type generates.
    pub fn kind(self) -> KeyKind {
        match self {
            KeyType::EcdsaP256 => KeyKind::P256,
            KeyType::EcdsaP384 => KeyKind::P384,
            KeyType::Ed25519 => KeyKind::Ed25519,
        }
    }

    /// The name `--key-type` takes and messages print.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// A public key fileca accepts, with its size where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa(usize),
    P256,
    P384,
    Ed25519,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::Rsa(bits) => write!(f, "rsa-{bits}"),
            KeyKind::P256 => f.write_str("ecdsa-p256"),
            KeyKind::P384 => f.write_str("ecdsa-p384"),
            KeyKind::Ed25519 => f.write_str("ed25519"),
        }
    }
}

/// Smallest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (ring verifies up to 8192).
pub const RSA_MAX_BITS: usize = 8192;

/// Generates a CA key. Returns the key pair and its PKCS#8 PEM, in the form OpenSSL 3.0 reads
/// (PKCS#8 v1 for Ed25519: ring writes v2, which OpenSSL 3.0 rejects).
pub fn generate(kt: KeyType) -> Result<(KeyPair, String)> {
    let alg = match kt {
        KeyType::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
        KeyType::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
        KeyType::Ed25519 => &PKCS_ED25519,
    };
    let key = KeyPair::generate_for(alg)
        .map_err(|e| Error::Internal(format!("key generation failed: {e}")))?;
    if kt != KeyType::Ed25519 {
        let pem = key.serialize_pem();
        return Ok((key, pem));
    }
    let v1 = ed25519_pkcs8_v1(key.serialized_der())
        .ok_or_else(|| Error::Internal("unexpected Ed25519 PKCS#8 layout from ring".into()))?;
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", v1));
    let key = KeyPair::from_pem(&pem)
        .map_err(|e| Error::Internal(format!("re-reading the Ed25519 key failed: {e}")))?;
    Ok((key, pem))
}

/// The PKCS#8 PEM of a key pair in the form OpenSSL 3.0 reads (v1 for Ed25519).
pub fn pkcs8_pem(key: &KeyPair) -> Result<zeroize::Zeroizing<String>> {
    let der = key.serialized_der();
    let der = if key.algorithm() == &PKCS_ED25519 && der.get(4) == Some(&0x01) {
        ed25519_pkcs8_v1(der)
            .ok_or_else(|| Error::Internal("unexpected Ed25519 PKCS#8 layout".into()))?
    } else {
        der.to_vec()
    };
    Ok(zeroize::Zeroizing::new(pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        der,
    ))))
}

/// Converts ring's Ed25519 PKCS#8 v2 document (RFC 8410 with the public key) to v1.
fn ed25519_pkcs8_v1(v2: &[u8]) -> Option<Vec<u8>> {
    // 30 51 02 01 01 30 05 06 03 2b 65 70 04 22 04 20 <32-byte seed> 81 21 00 <public>
    // (the second byte, the outer length, is not checked: it depends on how the public key
    // is tagged).
    const V2_PREFIX: [u8; 14] = [
        0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    const V1_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    if v2.len() < 48 || v2[0] != 0x30 || v2[2..16] != V2_PREFIX {
        return None;
    }
    let mut v1 = V1_PREFIX.to_vec();
    v1.extend_from_slice(&v2[16..48]);
    Some(v1)
}

/// Why a public key is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the RSA public key is malformed")]
    MalformedRsa,
    #[error("RSA key of {0} bits is too small (at least {RSA_MIN_BITS} bits)")]
    RsaTooSmall(usize),
    #[error("RSA key of {0} bits is too large (at most {RSA_MAX_BITS} bits)")]
    RsaTooLarge(usize),
    #[error("elliptic curve {0} is not supported (use P-256 or P-384)")]
    Curve(String),
    #[error("the EC key names no curve (explicit curve parameters are not supported)")]
    NoCurve,
    #[error(
        "the Ed25519 key's AlgorithmIdentifier has parameters, which RFC 8410 requires to be absent"
    )]
    Ed25519Parameters,
    #[error("{0} keys are not accepted (use RSA >= 2048 bits, ECDSA P-256/P-384 or Ed25519)")]
    Algorithm(String),
}

/// Why a private key given for import, or ca.key, cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyError {
    #[error("not a PEM file")]
    NotPem,
    #[error("malformed PEM: {0}")]
    MalformedPem(String),
    #[error("expected one PEM block, found {0}")]
    Blocks(usize),
    #[error("malformed EC private key: {0}")]
    MalformedEc(String),
    #[error("the EC key does not name its curve")]
    NoCurve,
    #[error("the key is encrypted and no passphrase was given")]
    Encrypted,
    #[error("wrong passphrase for this key (nothing was created)")]
    WrongPassphrase,
    #[error(
        "the key is encrypted with {0}, which fileca cannot decrypt; re-encrypt it with \
         `openssl pkey -in KEY -aes256 -out NEW` (PKCS#8, PBES2) and import NEW"
    )]
    Cipher(String),
    #[error("malformed encryption header: {0}")]
    EncryptionHeader(String),
    #[error(
        "the key's password-based encryption costs more than fileca allows ({0}); \
         re-encrypt it with `openssl pkey -in KEY -aes256 -out NEW`"
    )]
    TooCostly(String),
    #[error("PEM block {0:?} is not a private key")]
    NotAKey(String),
    #[error("unsupported or malformed private key: {0}")]
    Unsupported(String),
    #[error("cannot read the private key (PKCS#8 PEM expected): {0}")]
    NotPkcs8(String),
    #[error("encoding the key as PKCS#8: {0}")]
    Encoding(String),
}

/// Names a public key and applies the allowlist: RSA 2048–8192 bits, ECDSA P-256 or P-384,
/// Ed25519. Anything else is refused with the reason.
pub fn classify(spki: &SubjectPublicKeyInfo) -> Result<KeyKind, KeyError> {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(KeyError::MalformedRsa);
        };
        let m = rsa.modulus;
        let first = m.iter().position(|&b| b != 0).unwrap_or(m.len());
        let m = &m[first..];
        let bits = match m.first() {
            Some(top) => m.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        };
        if bits < RSA_MIN_BITS {
            return Err(KeyError::RsaTooSmall(bits));
        }
        if bits > RSA_MAX_BITS {
            return Err(KeyError::RsaTooLarge(bits));
        }
        return Ok(KeyKind::Rsa(bits));
    }
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 => Ok(KeyKind::P256),
            Some(c) if c == OID_NIST_EC_P384 => Ok(KeyKind::P384),
            Some(c) => Err(KeyError::Curve(c.to_id_string())),
            None => Err(KeyError::NoCurve),
        };
    }
    if *alg == OID_SIG_ED25519 {
        // RFC 8410 section 3: the parameters MUST be absent. ring and OpenSSL refuse such a
        // key, so it must not get past the gate to fail later, under the lock.
        if spki.algorithm.parameters.is_some() {
            return Err(KeyError::Ed25519Parameters);
        }
        return Ok(KeyKind::Ed25519);
    }
    let name = match alg.to_id_string().as_str() {
        "1.2.840.10040.4.1" => "DSA".to_string(),
        "1.3.101.113" => "Ed448".to_string(),
        "1.2.840.10046.2.1" => "Diffie-Hellman".to_string(),
        "1.3.101.110" | "1.3.101.111" => "X25519/X448 (key agreement only)".to_string(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS-only".to_string(),
        other => format!("OID {other}"),
    };
    Err(KeyError::Algorithm(name))
}

/// RFC 5280 4.2.1.2 method (1): the SHA-1 of the subjectPublicKey bit string. The key
/// identifier OpenSSL computes too, so `openssl x509 -text` shows matching SKI and AKI.
pub fn key_id(subject_public_key: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, subject_public_key)
        .as_ref()
        .to_vec()
}

/// Is a key given for import encrypted: an `ENCRYPTED PRIVATE KEY` (PKCS#8) or a block with
/// `Proc-Type: 4,ENCRYPTED` (OpenSSL's traditional form)? Its passphrase is then needed.
pub fn import_is_encrypted(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    pem::parse_many(text).is_ok_and(|blocks| {
        blocks
            .iter()
            .any(|b| b.tag() == "ENCRYPTED PRIVATE KEY" || crate::pki::legacy_pem::is_encrypted(b))
    })
}

/// Reads a CA private key given for import: PKCS#8 (`PRIVATE KEY`), PKCS#1
/// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) PEM, either unencrypted or encrypted with
/// `passphrase` — as PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2: PBKDF2 with HMAC-SHA-1/SHA-2 or
/// scrypt, AES-CBC or DES-EDE3-CBC) or in OpenSSL's traditional `Proc-Type: 4,ENCRYPTED` form
/// ([`crate::pki::legacy_pem`]). Returns the key and its unencrypted PKCS#8 PEM (the form
/// ca.key holds, before any encryption of its own).
pub fn import_private_key(
    bytes: &[u8],
    passphrase: Option<&str>,
) -> Result<(KeyPair, String), PrivateKeyError> {
    use pkcs8::der::Decode;
    use pkcs8::der::asn1::AnyRef;
    let text = std::str::from_utf8(bytes).map_err(|_| PrivateKeyError::NotPem)?;
    let blocks = pem::parse_many(text).map_err(|e| PrivateKeyError::MalformedPem(e.to_string()))?;
    let [block] = blocks.as_slice() else {
        return Err(PrivateKeyError::Blocks(blocks.len()));
    };
    let mut tag = block.tag();
    let der: zeroize::Zeroizing<Vec<u8>> = if tag == "ENCRYPTED PRIVATE KEY" {
        let pass = passphrase.ok_or(PrivateKeyError::Encrypted)?;
        tag = "PRIVATE KEY";
        decrypt_pkcs8(block.contents(), pass)?
    } else if crate::pki::legacy_pem::is_encrypted(block) {
        use crate::pki::legacy_pem::{LegacyError, decrypt};
        let pass = passphrase.ok_or(PrivateKeyError::Encrypted)?;
        decrypt(block, pass.as_bytes()).map_err(|e| match e {
            LegacyError::WrongPassphrase => PrivateKeyError::WrongPassphrase,
            LegacyError::Cipher(c) => PrivateKeyError::Cipher(format!(
                "{c} (fileca reads {})",
                crate::pki::legacy_pem::CIPHERS
            )),
            LegacyError::Header(m) => PrivateKeyError::EncryptionHeader(m),
        })?
    } else {
        zeroize::Zeroizing::new(block.contents().to_vec())
    };
    let pkcs8 = zeroize::Zeroizing::new(match tag {
        "PRIVATE KEY" => der.to_vec(),
        "RSA PRIVATE KEY" => wrap_pkcs8(RSA_ENCRYPTION, Some(AnyRef::NULL), &der)?,
        "EC PRIVATE KEY" => {
            let ec = sec1::EcPrivateKey::from_der(&der)
                .map_err(|e| PrivateKeyError::MalformedEc(e.to_string()))?;
            let curve = ec
                .parameters
                .and_then(|p| p.named_curve())
                .ok_or(PrivateKeyError::NoCurve)?;
            wrap_pkcs8(EC_PUBLIC_KEY, Some(AnyRef::from(&curve)), &der)?
        }
        other => return Err(PrivateKeyError::NotAKey(other.to_string())),
    });
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec()));
    let key = KeyPair::from_pem(&pem).map_err(|e| PrivateKeyError::Unsupported(e.to_string()))?;
    Ok((key, pem))
}

/// The most a key to import may cost to decrypt: PBKDF2 iterations (OpenSSL writes 2048; RFC
/// 8018 calls 10,000,000 appropriate for especially critical keys) and scrypt memory (OpenSSL
/// 3.0's own limit, 32 MiB, so every key OpenSSL reads is read). A hostile file cannot make
/// fileca spin or allocate without bound.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_SCRYPT_BYTES: u64 = 32 * 1024 * 1024;

/// Decrypts an `ENCRYPTED PRIVATE KEY` (PKCS#8 `EncryptedPrivateKeyInfo`) given for import.
fn decrypt_pkcs8(
    der: &[u8],
    passphrase: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, PrivateKeyError> {
    use pkcs8::der::Decode;
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der)
        .map_err(|e| PrivateKeyError::Unsupported(format!("malformed encrypted PKCS#8: {e}")))?;
    match &info.encryption_algorithm {
        EncryptionScheme::Pbes2(p) => match &p.kdf {
            Kdf::Pbkdf2(k) if k.iteration_count > MAX_PBKDF2_ITERATIONS => {
                return Err(PrivateKeyError::TooCostly(format!(
                    "PBKDF2 with {} iterations, at most {MAX_PBKDF2_ITERATIONS}",
                    k.iteration_count
                )));
            }
            Kdf::Scrypt(s) => {
                // OpenSSL's accounting: 128·r·(N + 2) bytes for V, 128·r·p for B.
                let r = u64::from(s.block_size);
                let bytes = 128u64
                    .saturating_mul(r)
                    .saturating_mul(s.cost_parameter.saturating_add(2))
                    .saturating_add(128 * r * u64::from(s.parallelization));
                if bytes > MAX_SCRYPT_BYTES {
                    return Err(PrivateKeyError::TooCostly(format!(
                        "scrypt needing {} MiB, at most {} MiB",
                        bytes >> 20,
                        MAX_SCRYPT_BYTES >> 20
                    )));
                }
            }
            _ => {}
        },
        EncryptionScheme::Pbes1(a) => {
            return Err(PrivateKeyError::Cipher(format!(
                "PKCS#5 v1.5 (PBES1, {:?})",
                a.encryption
            )));
        }
        _ => {}
    }
    match info.decrypt(passphrase) {
        Ok(doc) => Ok(zeroize::Zeroizing::new(doc.as_bytes().to_vec())),
        // Bad padding, or (rarely) good padding around bytes that are not DER: the usual and
        // the unusual sign of a wrong passphrase (CBC has no integrity check).
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed))
        | Err(pkcs8::Error::Asn1(_)) => Err(PrivateKeyError::WrongPassphrase),
        Err(e) => Err(PrivateKeyError::Cipher(e.to_string())),
    }
}

const RSA_ENCRYPTION: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// A PKCS#1 or SEC1 private key as the PKCS#8 PrivateKeyInfo that ca.key holds (RFC 5208):
/// the key's own DER in an OCTET STRING under its algorithm.
fn wrap_pkcs8(
    oid: pkcs8::ObjectIdentifier,
    parameters: Option<pkcs8::der::asn1::AnyRef<'_>>,
    key: &[u8],
) -> Result<Vec<u8>, PrivateKeyError> {
    use pkcs8::der::Encode;
    let key = pkcs8::der::asn1::OctetStringRef::new(key)
        .map_err(|e| PrivateKeyError::Encoding(e.to_string()))?;
    pkcs8::PrivateKeyInfoRef::new(pkcs8::AlgorithmIdentifierRef { oid, parameters }, key)
        .to_der()
        .map_err(|e| PrivateKeyError::Encoding(e.to_string()))
}

/// Is this ca.key content an encrypted PKCS#8 key?
pub fn is_encrypted(pem_text: &str) -> bool {
    pem_text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` PEM (PBES2) to PKCS#8 PEM. `Err(None)` means the
/// passphrase is wrong; `Err(Some(msg))` a malformed or unsupported file.
pub fn decrypt_pem(
    pem_text: &str,
    passphrase: &str,
) -> Result<zeroize::Zeroizing<String>, Option<String>> {
    use pkcs8::der::Decode;
    let block = pem::parse(pem_text).map_err(|e| Some(format!("malformed PEM: {e}")))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(block.contents())
        .map_err(|e| Some(format!("not an encrypted PKCS#8 key: {e}")))?;
    let doc = info.decrypt(passphrase).map_err(|_| None)?;
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

/// Encrypts a PKCS#8 PEM key with PBES2 (scrypt, AES-256-CBC), in the form
/// `openssl pkey -passin` reads.
pub fn encrypt_pem(pkcs8_pem: &str, passphrase: &str) -> Result<String, String> {
    use pkcs8::der::Decode;
    use pkcs8::pkcs5::{pbes2, scrypt};
    let block = pem::parse(pkcs8_pem).map_err(|e| format!("malformed PEM: {e}"))?;
    let info = pkcs8::PrivateKeyInfoRef::from_der(block.contents())
        .map_err(|e| format!("not a PKCS#8 key: {e}"))?;
    let (mut salt, mut iv) = ([0u8; 16], [0u8; 16]);
    crate::rand::fill(&mut salt).map_err(|e| e.to_string())?;
    crate::rand::fill(&mut iv).map_err(|e| e.to_string())?;
    let cost = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
        .map_err(|e| format!("scrypt parameters: {e}"))?;
    let params = pbes2::Parameters::generate_scrypt_aes256cbc(cost, &salt, iv)
        .map_err(|e| format!("PBES2 parameters: {e}"))?;
    let doc = info
        .encrypt_with_params(params, passphrase)
        .map_err(|e| format!("encryption failed: {e}"))?;
    Ok(pem::encode(&pem::Pem::new(
        "ENCRYPTED PRIVATE KEY",
        doc.as_bytes().to_vec(),
    )))
}

/// Parses a PKCS#8 PEM private key.
pub fn key_pair(pem: &str) -> std::result::Result<rcgen::KeyPair, PrivateKeyError> {
    rcgen::KeyPair::from_pem(pem).map_err(|e| PrivateKeyError::NotPkcs8(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encrypted PKCS#8 key whose KDF would cost more than OpenSSL's limits is refused
    /// before anything is derived (the ciphertext here is never reached).
    #[test]
    fn costly_key_derivations_are_refused_before_deriving() {
        use pkcs8::der::Encode;
        use pkcs8::pkcs5::pbes2::{self, Kdf, Pbkdf2Params, ScryptParams};
        let seal = |kdf: Kdf| {
            let params = pbes2::Parameters {
                kdf,
                encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [7; 16] },
            };
            let data = [0u8; 32];
            let info = pkcs8::EncryptedPrivateKeyInfoRef {
                encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
                encrypted_data: pkcs8::der::asn1::OctetStringRef::new(&data).unwrap(),
            };
            pem::encode(&pem::Pem::new(
                "ENCRYPTED PRIVATE KEY",
                info.to_der().unwrap(),
            ))
        };
        let pbkdf2 = seal(Kdf::Pbkdf2(
            Pbkdf2Params::hmac_sha256(MAX_PBKDF2_ITERATIONS + 1, &[1; 16]).unwrap(),
        ));
        let scrypt = seal(Kdf::Scrypt(
            ScryptParams::from_params_and_salt(
                pkcs8::pkcs5::scrypt::Params::new(16, 8, 1).unwrap(),
                &[1; 16],
            )
            .unwrap(),
        ));
        for pem in [pbkdf2, scrypt] {
            assert!(import_is_encrypted(pem.as_bytes()));
            match import_private_key(pem.as_bytes(), Some("x")) {
                Err(PrivateKeyError::TooCostly(_)) => {}
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("decrypted"),
            }
        }
        let cheap = seal(Kdf::Pbkdf2(
            Pbkdf2Params::hmac_sha256(2048, &[1; 16]).unwrap(),
        ));
        assert!(matches!(
            import_private_key(cheap.as_bytes(), Some("x")),
            Err(PrivateKeyError::WrongPassphrase)
        ));
        assert!(matches!(
            import_private_key(cheap.as_bytes(), None),
            Err(PrivateKeyError::Encrypted)
        ));
    }

    #[test]
    fn ed25519_key_is_written_as_pkcs8_v1() {
        let (_, pem) = generate(KeyType::Ed25519).unwrap();
        let der = pem::parse(&pem).unwrap().into_contents();
        assert_eq!(der.len(), 48);
        assert_eq!(der[4], 0x00, "version 0 = PKCS#8 v1");
    }
}
