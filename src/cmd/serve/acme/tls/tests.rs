//! When the server's TLS certificate is reissued (ACME-TLS): signed by ca.crt, naming every
//! host, and not in the last third of its validity.

use time::macros::datetime;

use super::*;

/// A CA and a certificate it signs for `hosts`, valid over `from..to`: (cert PEM, CA PEM).
fn issued(
    hosts: &[&str],
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
) -> (String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf =
        rcgen::CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
            .unwrap();
    leaf.not_before = from;
    leaf.not_after = to;
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (cert.pem(), ca_cert.pem())
}

fn dns(h: &str) -> San {
    San::Dns(h.into())
}

#[test]
fn the_tls_certificate_is_kept_until_its_last_third_and_only_for_its_hosts_acme_tls() {
    let from = datetime!(2026-12-01 0:00 UTC);
    let to = datetime!(2026-12-31 0:00 UTC);
    let (cert, ca) = issued(&["localhost", "acme.lab.test"], from, to);
    let (c, a) = (cert.as_bytes(), ca.as_bytes());
    let early = datetime!(2026-12-10 0:00 UTC);
    assert!(still_good(c, a, &[dns("localhost")], early));
    assert!(still_good(
        c,
        a,
        &[dns("localhost"), dns("acme.lab.test")],
        early
    ));
    assert!(
        !still_good(c, a, &[dns("other.lab.test")], early),
        "a host it does not name"
    );
    let late = datetime!(2026-12-22 0:00 UTC);
    assert!(
        !still_good(c, a, &[dns("localhost")], late),
        "in its last third"
    );
    assert!(!still_good(
        c,
        a,
        &[dns("localhost")],
        datetime!(2026-11-30 0:00 UTC)
    ));
    let (_, other_ca) = issued(&["localhost"], from, to);
    assert!(
        !still_good(c, other_ca.as_bytes(), &[dns("localhost")], early),
        "another CA"
    );
    assert!(!still_good(b"garbage", a, &[dns("localhost")], early));
    // `--acme-host 127.0.0.1`: an IP SAN.
    let (cert, ca) = issued(&["localhost", "127.0.0.1"], from, to);
    let ip = San::Ip("127.0.0.1".parse().unwrap());
    assert!(still_good(
        cert.as_bytes(),
        ca.as_bytes(),
        &[dns("localhost"), ip.clone()],
        early
    ));
    let (cert, ca) = issued(&["localhost"], from, to);
    assert!(!still_good(cert.as_bytes(), ca.as_bytes(), &[ip], early));
}

#[test]
fn the_served_certificate_is_swapped_in_place_acme_tls() {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let first = params.self_signed(&key).unwrap();
    let pair: Pair = (
        first.pem().into_bytes(),
        zeroize::Zeroizing::new(key.serialize_pem().into_bytes()),
    );
    let current = Current::new(&pair).unwrap();
    let served = |c: &Current| c.0.read().unwrap().cert[0].to_vec();
    assert_eq!(served(&current), first.der().to_vec());
    let key2 = rcgen::KeyPair::generate().unwrap();
    let second = params.self_signed(&key2).unwrap();
    let pair2: Pair = (
        second.pem().into_bytes(),
        zeroize::Zeroizing::new(key2.serialize_pem().into_bytes()),
    );
    current.replace(&pair2).unwrap();
    assert_eq!(served(&current), second.der().to_vec());
    // A key that is not the certificate's is refused, and the served pair stays.
    let mismatched: Pair = (pair.0.clone(), pair2.1.clone());
    assert!(current.replace(&mismatched).is_err());
    assert_eq!(served(&current), second.der().to_vec());
    assert!(config(std::sync::Arc::new(current)).is_ok());
}
