//! Writes the hostile CSRs of testdata/bad/ that `openssl req` cannot make (NUL and control
//! characters, malformed SANs, duplicate extensions, a wrong version, BER lengths, Ed25519
//! key parameters, too many SANs), properly signed so that only the property under test is
//! wrong. Run: `cargo run --example make_bad_csrs`.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // a fixture generator, not part of fileca

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SigningKey,
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

    let mut p = CertificateParams::default();
    p.distinguished_name = dn("many.example.test");
    p.subject_alt_names = (0..101)
        .map(|i| SanType::DnsName(format!("n{i}.example.test").try_into().unwrap()))
        .collect();
    cases.push(("too-many-sans.pem", p));

    for (name, params) in cases {
        let csr = params.serialize_request(&key).expect("CSR");
        std::fs::write(out.join(name), csr.pem().expect("PEM")).expect("write");
        println!("wrote testdata/bad/{name}");
    }

    // Requests built field by field, for what rcgen never writes.
    let ecdsa_sha256 = tlv(
        0x30,
        &oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let spki = key.subject_public_key_info();
    let raw: Vec<(&str, Vec<u8>)> = vec![
        // version 4 ("v5"): PKCS#10 knows only v1 (0).
        (
            "version-4.pem",
            request(
                &key,
                &ecdsa_sha256,
                &info(4, &name("v5.example.test"), &spki),
                false,
            ),
        ),
        // The outer SEQUENCE length in three octets (82 00 xx) where fewer suffice; outside
        // the signed part, so the signature still verifies.
        (
            "ber-length-outer.pem",
            request(
                &key,
                &ecdsa_sha256,
                &info(0, &name("ber.example.test"), &spki),
                true,
            ),
        ),
        // The subject's length as 81 xx where one octet suffices, inside the signed part.
        (
            "ber-length-signed.pem",
            request(
                &key,
                &ecdsa_sha256,
                &info(0, &long_form(&name("ber2.example.test")), &spki),
                false,
            ),
        ),
    ];
    // An Ed25519 key whose AlgorithmIdentifier carries NULL parameters (RFC 8410: absent).
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key");
    let ed_oid = oid(&[0x2b, 0x65, 0x70]);
    let ed_params = [ed_oid.clone(), vec![0x05, 0x00]].concat();
    let mut bits = vec![0];
    bits.extend_from_slice(ed.der_bytes());
    let ed_spki = tlv(0x30, &[tlv(0x30, &ed_params), tlv(0x03, &bits)].concat());
    let ed_req = request(
        &ed,
        &tlv(0x30, &ed_oid),
        &info(0, &name("ed-params.example.test"), &ed_spki),
        false,
    );
    for (file, der) in raw
        .into_iter()
        .chain([("ed25519-key-parameters.pem", ed_req)])
    {
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        std::fs::write(out.join(file), pem).expect("write");
        println!("wrote testdata/bad/{file}");
    }
}

/// A DER TLV with a minimal length (contents below 64 KiB).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut v = vec![tag];
    match n {
        0..=0x7f => v.push(n as u8),
        0x80..=0xff => v.extend([0x81, n as u8]),
        _ => v.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(content);
    v
}

/// The same TLV with its length in the long form `82 hi lo`, never minimal for these sizes.
fn long_form(der: &[u8]) -> Vec<u8> {
    let (tag, content) = split(der);
    let n = content.len();
    [vec![tag, 0x82, (n >> 8) as u8, n as u8], content.to_vec()].concat()
}

/// Tag and contents of a DER TLV with a short or 81/82 length.
fn split(der: &[u8]) -> (u8, &[u8]) {
    match der[1] {
        0x81 => (der[0], &der[3..]),
        0x82 => (der[0], &der[4..]),
        _ => (der[0], &der[2..]),
    }
}

fn oid(body: &[u8]) -> Vec<u8> {
    tlv(0x06, body)
}

/// Name: CN=cn as one UTF8String attribute.
fn name(cn: &str) -> Vec<u8> {
    let atv = tlv(
        0x30,
        &[oid(&[0x55, 0x04, 0x03]), tlv(0x0c, cn.as_bytes())].concat(),
    );
    tlv(0x30, &tlv(0x31, &atv))
}

/// CertificationRequestInfo with an empty attribute set.
fn info(version: u8, subject: &[u8], spki: &[u8]) -> Vec<u8> {
    tlv(
        0x30,
        &[
            tlv(0x02, &[version]),
            subject.to_vec(),
            spki.to_vec(),
            vec![0xa0, 0x00],
        ]
        .concat(),
    )
}

/// The signed request; `outer_long` writes the outer length in the non-minimal `82` form.
fn request(key: &impl SigningKey, alg: &[u8], info: &[u8], outer_long: bool) -> Vec<u8> {
    let mut sig = vec![0];
    sig.extend(key.sign(info).expect("sign"));
    let body = [info.to_vec(), alg.to_vec(), tlv(0x03, &sig)].concat();
    if outer_long {
        long_form(&tlv(0x30, &body))
    } else {
        tlv(0x30, &body)
    }
}
