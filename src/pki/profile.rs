//! Certificate profiles: the CA's policy for what it issues, as data (SPEC.md `POLICY-*`). A
//! CSR never chooses any of this (SPEC.md `SIGN-POLICY`). The built-in profiles and any in
//! policy.toml are read by `crate::policy` into this one type.

use std::net::IpAddr;

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};

use crate::pki::constraints::Subtree;
use crate::pki::keys::KeyKind;

/// What a profile issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An end-entity certificate (CA:FALSE).
    Leaf,
    /// A subordinate CA (SPEC.md SUBCA-*): CA:TRUE with a path length, keyCertSign+cRLSign
    /// (+digitalSignature), no EKU, name constraints; `sign` only.
    SubCa,
}

/// An extended key usage: one of the names fileca knows, or a dotted OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eku {
    Named(&'static str, ExtendedKeyUsagePurpose),
    Oid(Vec<u64>),
}

/// How an EKU name makes its rcgen purpose.
pub type MakeEku = fn() -> ExtendedKeyUsagePurpose;

/// The EKU names a policy may use, with their rcgen purposes.
pub const EKU_NAMES: [(&str, MakeEku); 6] = [
    ("serverAuth", || ExtendedKeyUsagePurpose::ServerAuth),
    ("clientAuth", || ExtendedKeyUsagePurpose::ClientAuth),
    ("codeSigning", || ExtendedKeyUsagePurpose::CodeSigning),
    ("emailProtection", || {
        ExtendedKeyUsagePurpose::EmailProtection
    }),
    ("timeStamping", || ExtendedKeyUsagePurpose::TimeStamping),
    ("OCSPSigning", || ExtendedKeyUsagePurpose::OcspSigning),
];

/// The key usage names a policy may use (RFC 5280 4.2.1.3 spellings).
pub const KEY_USAGE_NAMES: [(&str, KeyUsagePurpose); 9] = [
    ("digitalSignature", KeyUsagePurpose::DigitalSignature),
    ("nonRepudiation", KeyUsagePurpose::ContentCommitment),
    ("keyEncipherment", KeyUsagePurpose::KeyEncipherment),
    ("dataEncipherment", KeyUsagePurpose::DataEncipherment),
    ("keyAgreement", KeyUsagePurpose::KeyAgreement),
    ("keyCertSign", KeyUsagePurpose::KeyCertSign),
    ("cRLSign", KeyUsagePurpose::CrlSign),
    ("encipherOnly", KeyUsagePurpose::EncipherOnly),
    ("decipherOnly", KeyUsagePurpose::DecipherOnly),
];

impl Eku {
    /// The name (or dotted OID) as a policy spells it.
    pub fn spelling(&self) -> String {
        match self {
            Eku::Named(n, _) => (*n).to_string(),
            Eku::Oid(arcs) => dotted(arcs),
        }
    }

    fn to_rcgen(&self) -> ExtendedKeyUsagePurpose {
        match self {
            Eku::Named(_, p) => p.clone(),
            Eku::Oid(arcs) => ExtendedKeyUsagePurpose::Other(arcs.clone()),
        }
    }
}

/// An OID's arcs as dotted decimal.
pub fn dotted(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The SAN types a profile issues; others a CSR asks for are dropped with a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SanTypes {
    pub dns: bool,
    pub ip: bool,
    pub email: bool,
    pub uri: bool,
}

impl SanTypes {
    pub const ALL: SanTypes = SanTypes {
        dns: true,
        ip: true,
        email: true,
        uri: true,
    };

    /// Does the profile issue SANs of this one's type?
    pub fn admits(&self, san: &crate::pki::names::San) -> bool {
        use crate::pki::names::San;
        match san {
            San::Dns(_) => self.dns,
            San::Ip(_) => self.ip,
            San::Email(_) => self.email,
            San::Uri(_) => self.uri,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == SanTypes::default()
    }
}

/// The names a profile may certify, per type (`allow_dns`, `allow_ip`, `allow_email`,
/// `allow_uri`): when a profile has any of these lists, a name of a type without a list is not
/// allowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowed {
    pub dns: Option<Vec<String>>,
    pub ip: Option<Vec<(IpAddr, u8)>>,
    pub email: Option<Vec<String>>,
    pub uri: Option<Vec<String>>,
}

/// A key type a profile accepts: one exact type, or any RSA key of at least `min_rsa_bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    Exact(KeyKind),
    AnyRsa,
}

impl KeyRule {
    /// Is `key` of this type?
    pub fn matches(self, key: KeyKind) -> bool {
        match self {
            KeyRule::Exact(k) => k == key,
            KeyRule::AnyRsa => matches!(key, KeyKind::Rsa(_)),
        }
    }

    /// The `key_types` spelling.
    pub fn spelling(self) -> String {
        match self {
            KeyRule::Exact(k) => k.to_string(),
            KeyRule::AnyRsa => "rsa".into(),
        }
    }
}

/// One profile: what a certificate issued under it says and what it may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub kind: Kind,
    /// keyEncipherment and dataEncipherment are set only for RSA subject keys, keyAgreement
    /// only for ECDSA ones: the others cannot do it.
    pub key_usage: Vec<KeyUsagePurpose>,
    pub extended_key_usage: Vec<Eku>,
    pub default_days: u32,
    pub max_days: Option<u32>,
    pub san_types: SanTypes,
    /// `None`: any name of the types issued (within the CA's name constraints).
    pub allowed: Option<Allowed>,
    pub require_san: bool,
    pub allow_wildcard: bool,
    pub allow_single_label: bool,
    /// Empty: every key type fileca accepts.
    pub key_types: Vec<KeyRule>,
    pub min_rsa_bits: usize,
    /// certificatePolicies OIDs.
    pub policies: Vec<Vec<u64>>,
    /// id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1), for OCSP responder certificates.
    pub ocsp_nocheck: bool,
    /// Sub-CA profiles: the longest path length a sub-CA may get, and the subtrees its
    /// permitted names must lie within / that it always excludes.
    pub max_path_len: Option<u8>,
    pub permit: Vec<Subtree>,
    pub exclude: Vec<Subtree>,
}

impl Profile {
    /// Key usages for a subject key of kind `key` (see [`Profile::key_usage`]).
    pub fn key_usages(&self, key: KeyKind) -> Vec<KeyUsagePurpose> {
        if self.kind == Kind::SubCa {
            return vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        let rsa = matches!(key, KeyKind::Rsa(_));
        let ecdsa = matches!(key, KeyKind::P256 | KeyKind::P384);
        self.key_usage
            .iter()
            .filter(|u| match u {
                KeyUsagePurpose::KeyEncipherment | KeyUsagePurpose::DataEncipherment => rsa,
                KeyUsagePurpose::KeyAgreement
                | KeyUsagePurpose::EncipherOnly
                | KeyUsagePurpose::DecipherOnly => ecdsa,
                _ => true,
            })
            .cloned()
            .collect()
    }

    /// Extended key usages.
    pub fn extended_key_usages(&self) -> Vec<ExtendedKeyUsagePurpose> {
        self.extended_key_usage.iter().map(Eku::to_rcgen).collect()
    }

    /// Has the profile this EKU (by name)?
    pub fn has_eku(&self, name: &str) -> bool {
        self.extended_key_usage
            .iter()
            .any(|e| matches!(e, Eku::Named(n, _) if *n == name))
    }

    /// A TLS server certificate must name a host (a DNS or IP SAN): TLS clients ignore the CN.
    pub fn names_hosts(&self) -> bool {
        self.kind == Kind::Leaf && self.has_eku("serverAuth")
    }

    /// Does the profile accept a subject key of this kind?
    pub fn accepts_key(&self, key: KeyKind) -> bool {
        if let KeyKind::Rsa(bits) = key
            && bits < self.min_rsa_bits
        {
            return false;
        }
        self.lists_key(key)
    }

    /// Is the key's type among `key_types` (size aside)?
    pub fn lists_key(&self, key: KeyKind) -> bool {
        self.key_types.is_empty() || self.key_types.iter().any(|r| r.matches(key))
    }
}
