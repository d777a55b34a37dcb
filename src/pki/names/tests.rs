use super::*;

#[test]
fn parses_subjects_in_rfc4514_and_openssl_order_name_order() {
    // RFC 4514: most specific first; kept in ASN.1 order (C, O, CN).
    let s = Subject::parse("CN=Lab Root CA, O=Example\\, Inc.,c=DE").unwrap();
    assert_eq!(s.0[0], ("C".into(), "DE".into()));
    assert_eq!(s.0[1], ("O".into(), "Example, Inc.".into()));
    assert_eq!(s.0[2], ("CN".into(), "Lab Root CA".into()));
    assert_eq!(s.to_string(), "CN=Lab Root CA,O=Example\\, Inc.,C=DE");
    assert_eq!(Subject::parse(&s.to_string()).unwrap(), s);
    // The OpenSSL form lists the same subject most general first.
    let o = Subject::parse("/C=DE/O=Example, Inc./CN=Lab Root CA").unwrap();
    assert_eq!(o, s);
    assert_eq!(Subject::parse(" /O=a\\/b/CN=x").unwrap().0[0].1, "a/b");
    // index.log keeps ASN.1 order; shown turns it into RFC 4514 without parsing keys.
    assert_eq!(s.stored(), "C=DE,O=Example\\, Inc.,CN=Lab Root CA");
    assert_eq!(Subject::parse_stored(&s.stored()).unwrap(), s);
    assert_eq!(shown(&s.stored()), s.to_string());
    assert_eq!(shown("2.5.4.97=X,CN=a"), "CN=a,2.5.4.97=X");
    assert_eq!(Subject::parse("CN=only").unwrap().to_string(), "CN=only");
}

#[test]
fn refuses_subjects_with_the_matching_variant() {
    let err = |s: &str| Subject::parse(s).unwrap_err();
    assert_eq!(err("CN=a,CN=b"), NameError::Repeated("CN".into()));
    assert_eq!(err("XX=a"), NameError::UnknownAttribute("XX".into()));
    assert_eq!(err("CN a"), NameError::NotKeyValue("CN a".into()));
    assert_eq!(err("CN=a\\"), NameError::LoneBackslash);
    let value = |key: &str, problem| NameError::Value {
        key: key.into(),
        problem,
    };
    assert_eq!(err("CN="), value("CN", ValueProblem::Empty));
    assert_eq!(err("CN=a\u{0}b"), value("CN", ValueProblem::Control));
    assert_eq!(err("CN=a\u{202e}b"), value("CN", ValueProblem::Invisible));
    assert_eq!(
        err(&format!("O={}", "x".repeat(65))),
        value("O", ValueProblem::TooLong)
    );
    assert_eq!(err("C=Germany"), NameError::Country("Germany".into()));
    assert_eq!(
        err("DC=bücher"),
        NameError::NotAscii {
            key: "DC".into(),
            value: "bücher".into()
        }
    );
}

#[test]
fn checks_sans() {
    assert_eq!(
        San::parse("DNS:WWW.example.com").unwrap(),
        San::Dns("www.example.com".into())
    );
    assert!(San::parse("DNS:*.example.com").is_ok());
    assert!(San::parse("DNS:xn--bcher-kva.de").is_ok());
    assert!(San::parse("IP:::1").is_ok());
    assert!(San::parse("email:a@b.example").is_ok());
}

#[test]
fn refuses_sans_with_the_matching_variant() {
    let dns = |name: &str, problem| {
        assert_eq!(
            San::parse(&format!("DNS:{name}")).unwrap_err(),
            NameError::Dns {
                name: name.into(),
                problem
            },
            "{name}"
        )
    };
    dns("a.*.example.com", DnsProblem::Characters);
    dns("-bad.example", DnsProblem::Hyphen);
    dns("bücher.de", DnsProblem::NotAscii);
    dns("a..b", DnsProblem::EmptyLabel);
    dns("", DnsProblem::Empty);
    dns(&"a".repeat(64), DnsProblem::LongLabel);
    dns(&["a"; 128].join("."), DnsProblem::TooLong);
    assert_eq!(
        San::parse("IP:300.1.1.1").unwrap_err(),
        NameError::Ip {
            san: "IP:300.1.1.1".into(),
            value: "300.1.1.1".into()
        }
    );
    let email = |addr: &str, problem| {
        assert_eq!(
            San::parse(&format!("email:{addr}")).unwrap_err(),
            NameError::Email {
                addr: addr.into(),
                problem
            }
        )
    };
    email("ab.example", EmailProblem::NoAt);
    email("@b.example", EmailProblem::LocalPart);
    email("a@*.example", EmailProblem::WildcardDomain);
    email("a@b..example", EmailProblem::Domain(DnsProblem::EmptyLabel));
    assert_eq!(
        San::parse("dirName:CN=x").unwrap_err(),
        NameError::SanKind {
            san: "dirName:CN=x".into(),
            kind: "dirName".into()
        }
    );
    assert_eq!(
        San::parse("URI:spiffe://lab.test/ns/web").unwrap(),
        San::Uri("spiffe://lab.test/ns/web".into())
    );
    let uri = |u: &str| match San::uri(u) {
        Err(NameError::Uri { problem, .. }) => problem,
        other => panic!("{u}: {other:?}"),
    };
    assert_eq!(uri("spiffe://"), "has an empty host");
    assert_eq!(
        uri("no scheme"),
        "has characters outside printable ASCII (spaces included)"
    );
    assert_eq!(uri("noscheme"), "has no scheme");
    assert_eq!(uri("1http://x"), "has a malformed scheme");
    assert_eq!(uri("urn:"), "is only a scheme");
    assert!(San::uri("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66").is_ok());
    assert_eq!(
        San::parse("example.com").unwrap_err(),
        NameError::SanForm("example.com".into())
    );
    assert_eq!(
        check_san_count(MAX_SANS + 1),
        Err(NameError::TooManySans(101))
    );
    // The messages users see are the Display of these variants.
    assert_eq!(
        San::parse("DNS:-bad.example").unwrap_err().to_string(),
        "DNS name \"-bad.example\" has a label that starts or ends with a hyphen"
    );
}
