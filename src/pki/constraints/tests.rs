//! Name constraints: matching, closing, encoding and containment (NC-*).

use super::closed::closing;
use super::*;

fn san(s: &str) -> San {
    San::parse(s).unwrap()
}
fn sub(s: &str) -> Subtree {
    Subtree::parse(s).unwrap()
}

#[test]
fn subtrees_match_as_rfc5280_says_nc_match() {
    let lab = sub("DNS:lab.test");
    assert_eq!(lab.covers(&san("DNS:lab.test")), Some(true));
    assert_eq!(lab.covers(&san("DNS:a.b.LAB.test")), Some(true));
    assert_eq!(lab.covers(&san("DNS:*.lab.test")), Some(true));
    assert_eq!(lab.covers(&san("DNS:evillab.test")), Some(false));
    assert_eq!(lab.covers(&san("IP:10.0.0.1")), None);
    // Not accepted from the command line (NC-DNS-FORM), still understood in a certificate.
    assert!(matches!(
        Subtree::parse("DNS:.lab.test"),
        Err(ConstraintError::DnsBelowOnly { .. })
    ));
    let below = Subtree::Dns(".lab.test".into());
    assert_eq!(below.covers(&san("DNS:lab.test")), Some(false));
    assert_eq!(below.covers(&san("DNS:www.lab.test")), Some(true));
    let net = sub("IP:10.1.2.3/8");
    assert_eq!(net, Subtree::Ip("10.0.0.0".parse().unwrap(), 8));
    assert_eq!(net.covers(&san("IP:10.200.0.1")), Some(true));
    assert_eq!(net.covers(&san("IP:11.0.0.1")), Some(false));
    assert_eq!(net.covers(&san("IP:::ffff:10.0.0.1")), Some(false));
    assert_eq!(sub("IP:fd00::/8").covers(&san("IP:fd12::1")), Some(true));
    let host = sub("email:lab.test");
    assert_eq!(host.covers(&san("email:a@lab.test")), Some(true));
    assert_eq!(host.covers(&san("email:a@x.lab.test")), Some(false));
    assert_eq!(
        sub("email:.lab.test").covers(&san("email:a@x.lab.test")),
        Some(true)
    );
    assert_eq!(
        sub("email:a@lab.test").covers(&san("email:b@lab.test")),
        Some(false)
    );
    for bad in [
        "DNS:*.lab.test",
        "IP:10.0.0.0",
        "IP:10.0.0.0/33",
        "email:@x",
        "x",
        "URI:spiffe://lab.test",
        "URI:",
    ] {
        assert!(Subtree::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        Subtree::parse("URI:.Lab.test"),
        Ok(Subtree::Uri(".lab.test".into()))
    );
    let u = |s: &str| San::uri(s).unwrap();
    let below = Subtree::Uri(".lab.test".into());
    assert_eq!(below.covers(&u("spiffe://a.lab.test/x")), Some(true));
    assert_eq!(below.covers(&u("spiffe://A.LAB.test:8443/x")), Some(true));
    assert_eq!(below.covers(&u("spiffe://lab.test/x")), Some(false));
    assert_eq!(
        below.covers(&u("spiffe://evil.test/a.lab.test")),
        Some(false)
    );
    assert_eq!(below.covers(&u("spiffe://x@a.lab.test/")), Some(false));
    assert_eq!(below.covers(&u("urn:uuid:1")), Some(false));
    // Userinfo after a `:`, a trailing dot, a `:` in the path, `://` not at the first
    // `:`, an empty label: no plain host (the attack review's bypasses).
    for odd in [
        "https://x.lab.test:1@evil.test/",
        "https://a.lab.test./",
        "https://a.lab.test/x:y",
        "urn:x://a.lab.test",
        "https://.lab.test/",
        "https://..lab.test/",
    ] {
        assert_eq!(below.covers(&u(odd)), Some(false), "{odd}");
    }
    assert_eq!(below.covers(&u("https://a.lab.test:8443/x")), Some(true));
    let exact = Subtree::Uri("lab.test".into());
    assert_eq!(exact.covers(&u("https://lab.test/")), Some(true));
    assert_eq!(exact.covers(&u("https://a.lab.test/")), Some(false));
    assert!(Subtree::Uri(".a.lab.test".into()).within(&below));
    assert!(Subtree::Uri("a.lab.test".into()).within(&below));
    assert!(!Subtree::Uri("lab.test".into()).within(&below));
    assert!(!below.within(&exact));
}

#[test]
fn closed_constraints_exclude_the_types_not_permitted_nc_closed() {
    let c = Constraints::closed(vec![sub("DNS:lab.test")], vec![sub("DNS:secret.lab.test")]);
    assert!(c.allows(&san("DNS:www.lab.test"), "X").is_ok());
    assert!(matches!(
        c.allows(&san("DNS:www.example.com"), "X"),
        Err(Violation::NotPermitted { .. })
    ));
    assert!(matches!(
        c.allows(&san("DNS:a.secret.lab.test"), "X"),
        Err(Violation::Excluded { .. })
    ));
    let ip = c.allows(&san("IP:8.8.8.8"), "X").unwrap_err();
    assert_eq!(
        ip.to_string(),
        "IP:8.8.8.8: X issues no IP addresses (its name constraints close them: only the \
         types it permits)"
    );
    assert_eq!(
        c.spelled(),
        Spelled {
            permitted: vec!["DNS:lab.test".into()],
            excluded: vec!["DNS:secret.lab.test".into()],
            closed: vec!["IP", "email"],
        }
    );
    assert!(c.allows(&san("IP:::1"), "X").is_err());
    assert!(c.allows(&san("email:a@lab.test"), "X").is_err());
    // Only exclusions: nothing else is closed.
    let open = Constraints::closed(vec![], vec![sub("DNS:example.com")]);
    assert_eq!(open.excluded.len(), 1);
    assert!(open.allows(&san("IP:8.8.8.8"), "X").is_ok());
}

/// NC-CLOSE-ENCODING: what a certificate says is read back as the same constraints; a
/// closed IP is one permitted IPv4 subtree (255.255.255.255/32), never the two-family
/// exclusions Java crashes on (ArrayIndexOutOfBoundsException, 3-tier hierarchies).
#[test]
fn closed_types_are_written_as_one_permitted_subtree_and_read_back_nc_close_encoding() {
    let written = |c: &Constraints| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        c.apply(&mut params, &[]);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    };
    for c in [
        Constraints::closed(vec![sub("DNS:lab.test")], vec![sub("DNS:secret.lab.test")]),
        Constraints::closed(vec![sub("IP:10.0.0.0/8")], vec![]),
        Constraints::closed(vec![sub("email:lab.test")], vec![sub("IP:10.9.0.0/16")]),
        Constraints::closed(vec![sub("URI:.lab.test")], vec![]),
        Constraints::closed(vec![], vec![sub("IP:0.0.0.0/0")]),
    ] {
        let der = written(&c);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(Constraints::of_certificate(&cert), c);
        let (permitted, excluded) = c.written(&[]);
        // Both address families never meet in one list of the certificate.
        for list in [&permitted, &excluded] {
            let v4 = list
                .iter()
                .any(|s| matches!(s, Subtree::Ip(a, _) if a.is_ipv4()));
            let v6 = list
                .iter()
                .any(|s| matches!(s, Subtree::Ip(a, _) if a.is_ipv6()));
            assert!(!(v4 && v6), "{list:?}");
        }
    }
    let dns_only = Constraints::closed(vec![sub("DNS:lab.test")], vec![]);
    let (permitted, excluded) = dns_only.written(&[]);
    assert_eq!(
        permitted,
        [
            sub("DNS:lab.test"),
            sub("IP:255.255.255.255/32"),
            sub("email:closed.invalid")
        ]
    );
    assert!(
        excluded.is_empty(),
        "Java drops a permitted subtree also excluded"
    );
    // Below CAs that permit the type, the closing subtree lies inside the first subtree
    // the nearest of them permits (Java throws on a permitted subtree disjoint from one
    // above); a CA that closes the type itself is passed over.
    let parent = Constraints::closed(
        vec![sub("DNS:dev.lab.test"), sub("email:dev.lab.test")],
        vec![],
    );
    let root = Constraints::closed(
        vec![
            sub("DNS:lab.test"),
            sub("IP:10.0.0.0/8"),
            sub("IP:fd00::/8"),
            sub("email:.lab.test"),
        ],
        vec![],
    );
    let child = Constraints::closed(vec![sub("URI:.x.dev.lab.test")], vec![]);
    let (permitted, excluded) = child.written(&[&parent, &root]);
    assert_eq!(
        permitted,
        [
            sub("URI:.x.dev.lab.test"),
            sub("DNS:closed.invalid.dev.lab.test"),
            sub("IP:10.0.0.0/32"),
            sub("email:closed.invalid@dev.lab.test")
        ]
    );
    assert!(excluded.is_empty());
    assert_eq!(
        closing(NameKind::Email, Some(&sub("email:.lab.test"))),
        sub("email:closed.invalid.lab.test")
    );
    assert_eq!(
        closing(NameKind::Ip, Some(&sub("IP:fd00::/8"))),
        sub("IP:fd00::/128")
    );
    // Read back: DNS and email closed again; IP as the one address it permits.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    child.apply(&mut params, &[&parent, &root]);
    let key = rcgen::KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let read = Constraints::of_certificate(&cert);
    assert_eq!(
        read.permitted,
        [sub("URI:.x.dev.lab.test"), sub("IP:10.0.0.0/32")]
    );
    assert_eq!(read.closed_kinds(), [NameKind::Dns, NameKind::Email]);
}

#[test]
fn a_child_lies_within_its_parent_nc_within() {
    let parent = Constraints::closed(
        vec![sub("DNS:lab.test"), sub("IP:10.0.0.0/8")],
        vec![sub("DNS:secret.lab.test")],
    );
    let ok = |p: &[&str]| Constraints {
        permitted: p.iter().map(|s| sub(s)).collect(),
        excluded: vec![],
    };
    let mut inner = ok(&["DNS:dev.lab.test", "IP:10.1.0.0/16"]);
    // (`.lab.test`, read from an older certificate: NC-DNS-FORM.)
    inner.permitted.push(Subtree::Dns(".lab.test".into()));
    assert_eq!(parent.contains(&inner), Ok(()));
    assert_eq!(
        parent.contains(&ok(&["DNS:example.com"])),
        Err(sub("DNS:example.com"))
    );
    assert_eq!(
        parent.contains(&ok(&["IP:0.0.0.0/0"])),
        Err(sub("IP:0.0.0.0/0"))
    );
    assert_eq!(
        parent.contains(&ok(&["DNS:x.secret.lab.test"])),
        Err(sub("DNS:x.secret.lab.test"))
    );
    assert_eq!(
        parent.contains(&ok(&["email:lab.test"])),
        Err(sub("email:lab.test")),
        "email is excluded whole"
    );
    assert_eq!(
        Constraints::default().contains(&ok(&["DNS:anything.test"])),
        Ok(())
    );
}
