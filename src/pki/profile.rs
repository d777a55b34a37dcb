//! Certificate profiles: the CA's policy for the extensions of what it issues. A CSR never
//! chooses these (SPEC.md `SIGN-POLICY`).

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};

use crate::pki::keys::KeyKind;

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// TLS server: digitalSignature (+ keyEncipherment for RSA keys), EKU serverAuth.
    Server,
    /// TLS client: digitalSignature, EKU clientAuth.
    Client,
    /// Both: digitalSignature (+ keyEncipherment for RSA keys), EKU serverAuth and clientAuth.
    ServerClient,
    /// A subordinate CA (SPEC.md SUBCA-*): basicConstraints CA:TRUE with a path length,
    /// keyCertSign+cRLSign(+digitalSignature), no EKU, name constraints; `sign` only.
    SubCa,
}

impl Profile {
    /// Every built-in profile.
    pub const ALL: [Profile; 4] = [
        Profile::Server,
        Profile::Client,
        Profile::ServerClient,
        Profile::SubCa,
    ];

    /// The profile stored under `name` in index.log.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name stored in index.json.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Server => "server",
            Profile::Client => "client",
            Profile::ServerClient => "server-client",
            Profile::SubCa => "sub-ca",
        }
    }

    /// Key usages for a subject key of kind `key`. keyEncipherment only for RSA, the only
    /// key type that can encrypt a TLS 1.2 premaster secret.
    pub fn key_usages(self, key: KeyKind) -> Vec<KeyUsagePurpose> {
        if self == Profile::SubCa {
            return vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        let mut ku = vec![KeyUsagePurpose::DigitalSignature];
        if matches!(key, KeyKind::Rsa(_)) && self != Profile::Client {
            ku.push(KeyUsagePurpose::KeyEncipherment);
        }
        ku
    }

    /// Extended key usages.
    pub fn extended_key_usages(self) -> Vec<ExtendedKeyUsagePurpose> {
        match self {
            Profile::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Profile::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Profile::ServerClient => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Profile::SubCa => vec![],
        }
    }
}
