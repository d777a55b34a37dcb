use super::*;

#[test]
fn rejects_targets_outside_the_state_directory() {
    assert!(is_state_target("index.json"));
    assert!(is_state_target("certs/0A1B.pem"));
    assert!(!is_state_target("../index.json"));
    assert!(!is_state_target("/etc/passwd"));
    assert!(!is_state_target("certs/../../x.pem"));
    assert!(!is_state_target("certs/0a.pem"));
    assert!(is_stage_name(".stage.0"));
    assert!(!is_stage_name(".stage."));
    assert!(!is_stage_name(".stage.0/../x"));
    assert_eq!(
        check_name("../x"),
        Err(JournalError::FileName("../x".into()))
    );
    assert_eq!(check_name(".."), Err(JournalError::FileName("..".into())));
    assert_eq!(check_name("web.pem"), Ok(()));
    assert_eq!(
        check_dir("/etc"),
        Err(JournalError::OutputDir("/etc".into()))
    );
}

fn sample() -> Journal {
    Journal {
        format: FORMAT,
        operation: "sign".into(),
        generation_before: 1,
        generation_after: 2,
        id: "0123abcd".into(),
        renames: vec![Rename {
            staged: ".stage.0".into(),
            target: "serial".into(),
            sha256: crate::hex::sha256(b"0B\n"),
        }],
        appends: vec![Append {
            target: "audit.log".into(),
            offset: 10,
            len: 2,
            staged: None,
            data: b"x\n".to_vec(),
            sha256: crate::hex::sha256(b"x\n"),
        }],
        outputs: vec![Output {
            dir: "../out".into(),
            name: "web.pem".into(),
            source: "certs/0A.pem".into(),
            sha256: "1".repeat(64),
            suffix: Some("-----BEGIN CERTIFICATE-----\n…".into()),
            der: false,
            force: false,
            replaces: None,
        }],
        pairs: Vec::new(),
    }
}

#[test]
fn round_trips() {
    let j = sample();
    match Journal::parse(&j.to_bytes()).unwrap() {
        Parsed::V2(back) => assert_eq!(back, j),
        other => panic!("read as {other:?}"),
    }
    // What a crash while writing leaves is torn, never an error or a commit.
    let bytes = j.to_bytes();
    for cut in [0, 1, 12, bytes.len() / 2, bytes.len() - 2] {
        assert!(
            matches!(Journal::parse(&bytes[..cut]), Ok(Parsed::Torn)),
            "cut {cut}"
        );
    }
    let mut zeroed = bytes.clone();
    zeroed[20..40].fill(0);
    assert!(matches!(Journal::parse(&zeroed), Ok(Parsed::Torn)));
    // Anything else that does not verify is for a human.
    assert!(matches!(
        Journal::parse(b"{not json"),
        Err(JournalError::Json(_))
    ));
}

/// The bytes of a journal whose JSON is `body`, with a valid checksum line.
fn checksummed(body: &str) -> Vec<u8> {
    let body = format!("{body}\n");
    format!("{body}sha256 {}\n", crate::hex::sha256(body.as_bytes())).into_bytes()
}

#[test]
fn malformed_journals_are_refused_with_what_is_wrong() {
    let parse = |bytes: &[u8]| Journal::parse(bytes).err();
    // Valid JSON and checksum, but not a journal.
    assert!(matches!(
        parse(&checksummed("{\"format\":2}")),
        Some(JournalError::Json(_))
    ));
    assert!(matches!(
        parse(&checksummed("[1,2]")),
        Some(JournalError::Json(_))
    ));
    // Format 2 JSON that no crash could have left (it does not start as fileca writes
    // one) and has no checksum line.
    assert_eq!(
        parse(b"{\"operation\":\"sign\",\"format\":2}"),
        Some(JournalError::NoChecksum)
    );
    // Another format.
    assert_eq!(parse(b"{\"format\":7}"), Some(JournalError::Format(7)));
    let mut j = sample();
    j.format = 3;
    assert_eq!(parse(&j.to_bytes()), Some(JournalError::Format(3)));
    // Fields not of their form.
    let mut j = sample();
    j.id = "not hex".into();
    assert_eq!(parse(&j.to_bytes()), Some(JournalError::Id));
    let mut j = sample();
    j.renames[0].sha256 = "00".into();
    assert_eq!(
        parse(&j.to_bytes()),
        Some(JournalError::Hash("serial".into()))
    );
    let mut j = sample();
    j.appends[0].len = 3;
    assert_eq!(
        parse(&j.to_bytes()),
        Some(JournalError::Length("audit.log".into()))
    );
    let mut j = sample();
    j.pairs.push(Pair {
        dir: "../out".into(),
        name: "web".into(),
        staged: "web.tmp".into(),
        serial: "0A".into(),
        files: Vec::new(),
    });
    assert_eq!(
        parse(&j.to_bytes()),
        Some(JournalError::StagingDir("web.tmp".into()))
    );
    // A format 1 journal (no checksum line) is checked too.
    let v1 = "{\"format\":1,\"operation\":\"sign\",\"generation_before\":1,\
              \"generation_after\":2,\"renames\":[{\"staged\":\"x\",\
              \"target\":\"serial\",\"sha256\":\"00\"}]}";
    assert_eq!(
        parse(v1.as_bytes()),
        Some(JournalError::StagedFile("x".into()))
    );
    // What recovery reports keeps its words.
    assert_eq!(
        JournalError::Content("audit.log".into()).to_string(),
        "journal content for \"audit.log\" does not match its hash"
    );
}

#[test]
fn refuses_content_that_does_not_match_its_hash_and_hostile_names() {
    let refused = |j: Journal| Journal::parse(&j.to_bytes()).err();
    let mut j = sample();
    j.appends[0].data = b"y\n".to_vec();
    assert_eq!(refused(j), Some(JournalError::Content("audit.log".into())));
    let mut j = sample();
    j.renames[0].staged = "../x".into();
    assert_eq!(refused(j), Some(JournalError::StagedFile("../x".into())));
    let mut j = sample();
    j.outputs[0].name = "../../etc/passwd".into();
    assert_eq!(
        refused(j),
        Some(JournalError::FileName("../../etc/passwd".into()))
    );
    let mut j = sample();
    j.outputs[0].dir = "/etc".into();
    assert_eq!(refused(j), Some(JournalError::OutputDir("/etc".into())));
    let mut j = sample();
    j.outputs[0].source = "../ca.key".into();
    assert_eq!(refused(j), Some(JournalError::Target("../ca.key".into())));
}

/// ISSUE-P12: a pair file the journal carries is only a PKCS#12 bundle named `*.p12`, with no
/// source, whose bytes hash to the recorded SHA-256: a planted journal cannot make recovery
/// write anything else into a pair directory.
#[test]
fn a_carried_pair_file_must_be_a_pkcs12_bundle() {
    let (key, pem) = crate::pki::keys::generate(crate::pki::keys::KeyType::EcdsaP256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["p.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let key_der =
        crate::pki::pem::decode_one(pem.as_bytes(), &["PRIVATE KEY"], usize::MAX).unwrap();
    let p12 = crate::pki::p12::bundle(
        "p.test",
        &key_der,
        b"id",
        &[cert.der()],
        "passphrase",
        crate::pki::p12::P12Form::Modern,
    )
    .unwrap();
    let with = |name: &str, data: Vec<u8>, source: Option<&str>| {
        let mut j = sample();
        j.pairs = vec![Pair {
            dir: "../out".into(),
            name: "p.test".into(),
            staged: ".p.test.fileca-1-ab".into(),
            serial: "0A".into(),
            files: vec![PairFile {
                name: name.into(),
                mode: 0o600,
                source: source.map(str::to_string),
                sha256: crate::hex::sha256(&data),
                suffix: None,
                data,
            }],
        }];
        Journal::parse(&j.to_bytes()).err()
    };
    assert_eq!(with("p.test.p12", p12.clone(), None), None);
    let carried = |n: &str| Some(JournalError::Carried(n.into()));
    assert_eq!(with("p.test.key", p12.clone(), None), carried("p.test.key"));
    assert_eq!(
        with("p.test.p12", p12, Some("certs/0A.pem")),
        carried("p.test.p12")
    );
    assert_eq!(
        with("p.test.p12", b"#!/bin/sh\n".to_vec(), None),
        carried("p.test.p12")
    );
}

#[test]
fn a_pair_file_mode_other_than_0600_or_0644_is_refused_journal_modes() {
    let mut j = sample();
    let file = |mode| PairFile {
        name: "web.crt".into(),
        mode,
        source: Some("certs/0A.pem".into()),
        sha256: "1".repeat(64),
        suffix: None,
        data: Vec::new(),
    };
    j.pairs = vec![Pair {
        dir: "../out".into(),
        name: "web".into(),
        staged: ".web.fileca-0123".into(),
        serial: "0A".into(),
        files: vec![file(0o644)],
    }];
    assert_eq!(j.check(), Ok(()));
    j.pairs[0].files = vec![file(0o4777)];
    assert_eq!(
        j.check(),
        Err(JournalError::PairMode {
            name: "web.crt".into(),
            mode: 0o4777
        })
    );
}
