//! JWS verification: each accepted algorithm, and each refusal (a bad signature, the wrong
//! url, a mismatched alg, both or neither of jwk and kid, alg none).

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

use super::*;

/// A test account key: signs, and names itself as a JWK.
enum Key {
    Ec(EcdsaKeyPair, &'static str),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl Key {
    fn p256() -> Key {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pk = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Key::Ec(
            EcdsaKeyPair::from_pkcs8(alg, pk.as_ref(), &rng).unwrap(),
            "P-256",
        )
    }

    fn p384() -> Key {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P384_SHA384_FIXED_SIGNING;
        let pk = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Key::Ec(
            EcdsaKeyPair::from_pkcs8(alg, pk.as_ref(), &rng).unwrap(),
            "P-384",
        )
    }

    fn ed25519() -> Key {
        let pk = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Key::Ed(Ed25519KeyPair::from_pkcs8(pk.as_ref()).unwrap())
    }

    /// RSA 2048 from openssl (ring does not generate RSA keys).
    fn rsa() -> Key {
        // ring's documented way: PKCS#8 DER through `openssl pkcs8 -topk8 -nocrypt`.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(
                "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform PEM \
                 | openssl pkcs8 -topk8 -nocrypt -outform DER",
            )
            .output()
            .expect("openssl (package openssl) generates the RSA test key");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Key::Rsa(RsaKeyPair::from_pkcs8(&out.stdout).unwrap())
    }

    fn jwk(&self) -> serde_json::Value {
        match self {
            Key::Ec(k, crv) => {
                let p = k.public_key().as_ref();
                let n = (p.len() - 1) / 2;
                serde_json::json!({"kty": "EC", "crv": crv, "x": b64url(&p[1..1 + n]), "y": b64url(&p[1 + n..])})
            }
            Key::Ed(k) => {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_key().as_ref())})
            }
            Key::Rsa(k) => {
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                serde_json::json!({"kty": "RSA", "n": b64url(&c.n), "e": b64url(&c.e)})
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::Ec(_, "P-384") => "ES384",
            Key::Ec(..) => "ES256",
            Key::Ed(_) => "EdDSA",
            Key::Rsa(_) => "RS256",
        }
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Key::Ec(k, _) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Key::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .unwrap();
                sig
            }
        }
    }

    /// A flattened JWS of `payload` with this protected header.
    fn jws(&self, header: serde_json::Value, payload: &[u8]) -> Vec<u8> {
        let protected = b64url(header.to_string().as_bytes());
        let payload = b64url(payload);
        let sig = self.sign(format!("{protected}.{payload}").as_bytes());
        serde_json::json!({"protected": protected, "payload": payload, "signature": b64url(&sig)})
            .to_string()
            .into_bytes()
    }

    fn public(&self) -> Jwk {
        Jwk::from_value(&self.jwk()).unwrap()
    }
}

const URL: &str = "https://acme.lab.test/acme/new-account";

fn header(key: &Key) -> serde_json::Value {
    serde_json::json!({"alg": key.alg(), "nonce": "n1", "url": URL, "jwk": key.jwk()})
}

#[test]
fn each_account_key_type_verifies_and_a_tampered_signature_does_not() {
    for key in [Key::p256(), Key::p384(), Key::ed25519(), Key::rsa()] {
        let body = key.jws(header(&key), br#"{"termsOfServiceAgreed":true}"#);
        let parsed = parse(&body).unwrap();
        assert_eq!(parsed.nonce, "n1");
        let Signer::Jwk(jwk) = &parsed.signer else {
            panic!("a jwk request")
        };
        assert_eq!(jwk, &key.public());
        parsed.verify(URL, jwk).unwrap();
        // Another payload under the same signature.
        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["payload"] = b64url(b"{}").into();
        let forged = parse(v.to_string().as_bytes()).unwrap();
        let err = forged.verify(URL, jwk).unwrap_err();
        assert_eq!(err.kind, Kind::Malformed, "{}", key.alg());
        // Another key's signature.
        let other = Key::p256();
        assert!(parsed.verify(URL, &other.public()).is_err());
    }
}

#[test]
fn the_url_must_be_the_one_requested() {
    let key = Key::p256();
    let parsed = parse(&key.jws(header(&key), b"{}")).unwrap();
    let err = parsed
        .verify("https://acme.lab.test/acme/new-order", &key.public())
        .unwrap_err();
    assert_eq!(err.kind, Kind::Unauthorized);
}

#[test]
fn exactly_one_of_jwk_and_kid() {
    let key = Key::p256();
    let mut both = header(&key);
    both["kid"] = "https://acme.lab.test/acme/acct/1".into();
    assert_eq!(
        parse(&key.jws(both, b"{}")).unwrap_err().kind,
        Kind::Malformed
    );
    let mut neither = header(&key);
    neither.as_object_mut().unwrap().remove("jwk");
    assert_eq!(
        parse(&key.jws(neither, b"{}")).unwrap_err().kind,
        Kind::Malformed
    );
    let mut kid = header(&key);
    kid.as_object_mut().unwrap().remove("jwk");
    kid["kid"] = "https://acme.lab.test/acme/acct/1".into();
    let parsed = parse(&key.jws(kid, b"")).unwrap();
    assert_eq!(
        parsed.signer,
        Signer::Kid("https://acme.lab.test/acme/acct/1".into())
    );
    assert!(parsed.is_post_as_get());
}

#[test]
fn refused_algorithms_and_headers() {
    let key = Key::p256();
    for (alg, kind) in [
        ("none", Kind::BadSignatureAlgorithm),
        ("HS256", Kind::BadSignatureAlgorithm),
        ("ES384", Kind::BadSignatureAlgorithm),
    ] {
        let mut h = header(&key);
        h["alg"] = alg.into();
        let r = parse(&key.jws(h, b"{}")).and_then(|p| p.verify(URL, &key.public()));
        assert_eq!(r.unwrap_err().kind, kind, "alg {alg}");
    }
    let mut no_nonce = header(&key);
    no_nonce.as_object_mut().unwrap().remove("nonce");
    assert_eq!(
        parse(&key.jws(no_nonce, b"{}")).unwrap_err().kind,
        Kind::BadNonce
    );
    let mut no_url = header(&key);
    no_url.as_object_mut().unwrap().remove("url");
    assert_eq!(
        parse(&key.jws(no_url, b"{}")).unwrap_err().kind,
        Kind::Malformed
    );
    let mut crit = header(&key);
    crit["crit"] = serde_json::json!(["b64"]);
    crit["b64"] = false.into();
    assert_eq!(
        parse(&key.jws(crit, b"{}")).unwrap_err().kind,
        Kind::Malformed
    );
    let mut small = header(&key);
    small["jwk"]["x"] = b64url(&[1; 31]).into();
    assert_eq!(
        parse(&key.jws(small, b"{}")).unwrap_err().kind,
        Kind::BadSignatureAlgorithm
    );
    for garbage in [&b"{}"[..], b"not json", &[b'a'; MAX_BODY + 1]] {
        assert_eq!(parse(garbage).unwrap_err().kind, Kind::Malformed);
    }
}

#[test]
fn the_thumbprint_is_rfc_7638s_example() {
    // RFC 7638 section 3.1.
    let jwk = Jwk::Rsa {
        n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into(),
        e: "AQAB".into(),
    };
    assert_eq!(
        jwk.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}
