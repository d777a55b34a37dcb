//! Writes the hostile CSRs of testdata/bad/ that `openssl req` cannot make (NUL and control
//! characters, malformed SANs, duplicate extensions), properly signed so that only the
//! property under test is wrong. Run: `cargo run --example make_bad_csrs`.
#![allow(clippy::disallowed_methods)] // a fixture generator, not part of fileca

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

fn main() {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bad");
    let key = KeyPair::generate().expect("P-256 key");
    let dn = |cn: &str| {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn
    };
    let san_oid = [2u64, 5, 29, 17];
    let mut cases: Vec<(&str, CertificateParams)> = Vec::new();

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("bad\0name.example.test");
    cases.push(("nul-in-cn.pem", p));

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("bad\x07name\x1b[31m.example.test");
    cases.push(("control-chars-in-cn.pem", p));

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("nul.example.test");
    p.subject_alt_names = vec![SanType::DnsName("a\0.example.test".try_into().unwrap())];
    cases.push(("nul-in-dns-san.pem", p));

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("ip.example.test");
    // SEQUENCE { [7] 01 02 03 04 05 }: an iPAddress of five octets.
    p.custom_extensions = vec![CustomExtension::from_oid_content(
        &san_oid,
        vec![0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5],
    )];
    cases.push(("ip-san-5-octets.pem", p));

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("dup.example.test");
    p.subject_alt_names = vec![SanType::DnsName("one.example.test".try_into().unwrap())];
    // SEQUENCE { [2] "two.example.test" }: a second subjectAltName extension.
    let mut two = vec![0x30, 18, 0x82, 16];
    two.extend_from_slice(b"two.example.test");
    p.custom_extensions = vec![CustomExtension::from_oid_content(&san_oid, two)];
    cases.push(("duplicate-san-extension.pem", p));

    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    cases.push(("empty-subject-no-san.pem", p));

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("wants-ca.example.test");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    cases.push(("requests-ca-true.pem", p));

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("idn.example.test");
    p.subject_alt_names = vec![SanType::DnsName("xn--.example.test".try_into().unwrap())];
    cases.push(("malformed-a-label.pem", p));

    for (name, params) in cases {
        let csr = params.serialize_request(&key).expect("CSR");
        std::fs::write(out.join(name), csr.pem().expect("PEM")).expect("write");
        println!("wrote testdata/bad/{name}");
    }
}
