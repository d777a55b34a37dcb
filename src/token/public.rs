//! The public half of a token key, read from the public key object beside it (readable
//! without a login), and its DER SubjectPublicKeyInfo: what ca.key's reference hashes and
//! what must equal ca.crt's key.

use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass};
use cryptoki::session::Session;

use super::{Pkcs11Uri, TokenError, failed, one_object};
use crate::pki::keys::KeyKind;

/// The public half of a token key, as the token gives it.
pub(super) struct Public {
    pub(super) kind: KeyKind,
    /// The subjectPublicKey content: an uncompressed EC point, or a PKCS#1 RSAPublicKey.
    pub(super) key: Vec<u8>,
}

impl Public {
    /// The DER SubjectPublicKeyInfo, as it appears in a certificate.
    pub(super) fn spki(&self) -> Vec<u8> {
        // AlgorithmIdentifier DER: id-ecPublicKey with the named curve, or rsaEncryption
        // with NULL parameters (RFC 5480, RFC 3279).
        const P256: &[u8] = &[
            0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
            0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ];
        const P384: &[u8] = &[
            0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
            0x81, 0x04, 0x00, 0x22,
        ];
        // id-Ed25519 with absent parameters (RFC 8410).
        const ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
        const RSA: &[u8] = &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let alg = match self.kind {
            KeyKind::P384 => P384,
            KeyKind::Rsa(_) => RSA,
            KeyKind::Ed25519 => ED25519,
            KeyKind::P256 => P256,
        };
        yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_der(alg);
                w.next().write_bitvec_bytes(&self.key, self.key.len() * 8);
            })
        })
    }
}

/// The public key object beside the key (public objects are readable without a login).
pub(super) fn public_key(
    session: &Session,
    uri: &Pkcs11Uri,
    token: &str,
) -> Result<Public, TokenError> {
    let handle = one_object(session, uri, ObjectClass::PUBLIC_KEY, token, "public key")?;
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(failed("reading the public key"))?;
    let (mut key_type, mut params, mut point, mut modulus, mut exponent) =
        (None, None, None, None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    let unsupported = |what: String| TokenError::Unsupported {
        uri: uri.to_string(),
        what,
    };
    match key_type {
        Some(t) if t == CkKeyType::EC => {
            const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
            const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
            let (kind, n) = match params.as_deref() {
                Some(P256) => (KeyKind::P256, 32),
                Some(P384) => (KeyKind::P384, 48),
                _ => {
                    return Err(unsupported(
                        "an EC key on a curve other than P-256 or P-384".into(),
                    ));
                }
            };
            let point = point.ok_or_else(|| unsupported("an EC key without its point".into()))?;
            // CKA_EC_POINT is a DER OCTET STRING holding the point (PKCS#11 2.40); a few
            // tokens give the bare point.
            let key = match point.len() == 2 * n + 1 {
                true => point,
                false => yasna::parse_der(&point, |r| r.read_bytes())
                    .map_err(|_| unsupported("an EC key whose point cannot be read".into()))?,
            };
            if key.len() != 2 * n + 1 || key[0] != 0x04 {
                return Err(unsupported(
                    "an EC key whose point is not uncompressed".into(),
                ));
            }
            Ok(Public { kind, key })
        }
        Some(t) if t == CkKeyType::EC_EDWARDS => ed25519(params, point, unsupported),
        Some(t) if t == CkKeyType::RSA => {
            let (Some(n), Some(e)) = (modulus, exponent) else {
                return Err(unsupported("an RSA key without its modulus".into()));
            };
            let n = strip_zeros(&n);
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if !(crate::pki::keys::RSA_MIN_BITS..=crate::pki::keys::RSA_MAX_BITS).contains(&bits) {
                return Err(unsupported(format!("an RSA key of {bits} bits")));
            }
            let key = yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next().write_bigint_bytes(n, true);
                    w.next().write_bigint_bytes(strip_zeros(&e), true);
                })
            });
            Ok(Public {
                kind: KeyKind::Rsa(bits),
                key,
            })
        }
        other => Err(unsupported(format!("a key of PKCS#11 type {other:?}"))),
    }
}

/// An Ed25519 public key from CKA_EC_PARAMS and CKA_EC_POINT (TOKEN-KEYTYPES).
fn ed25519(
    params: Option<Vec<u8>>,
    point: Option<Vec<u8>>,
    unsupported: impl Fn(String) -> TokenError,
) -> Result<Public, TokenError> {
    // CKA_EC_PARAMS: the curve's OID (id-Ed25519) or, from PKCS#11 3.0 tokens, the
    // PrintableString "edwards25519".
    const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
    if !matches!(params.as_deref(), Some(ED25519_OID | ED25519_NAME)) {
        return Err(unsupported("an Edwards key other than Ed25519".into()));
    }
    let point = point.ok_or_else(|| unsupported("an Ed25519 key without its point".into()))?;
    // The 32-byte public key, as a DER OCTET STRING (PKCS#11 3.0) or bare.
    let key = match point.len() == 32 {
        true => point,
        false => yasna::parse_der(&point, |r| r.read_bytes())
            .map_err(|_| unsupported("an Ed25519 key whose point cannot be read".into()))?,
    };
    if key.len() != 32 {
        return Err(unsupported("an Ed25519 key that is not 32 bytes".into()));
    }
    Ok(Public {
        kind: KeyKind::Ed25519,
        key,
    })
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}
