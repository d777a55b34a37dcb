//! `ca sign` (SPEC.md SIGN-*, CSR-*).

use crate::harness::*;

#[test]
fn sign_issues_a_verifiable_certificate_and_records_it_sign_index() {
    let env = Env::new();
    let (pem, serial) = env.sign(&csr("p256-sans.pem"), &[]);
    let (ok, out) = verify(&env, &pem, false);
    assert!(ok, "{out}");
    let idx = env.index();
    assert_eq!(idx["generation"], 2);
    let e = &idx["certificates"][0];
    assert_eq!(e["serial"], serial.as_str());
    assert_eq!(e["subject"], "CN=multi.example.test,O=Example,C=DE");
    assert_eq!(e["status"], "valid");
    assert_eq!(e["profile"], "server");
    assert_eq!(
        e["sans"],
        serde_json::json!([
            "DNS:multi.example.test",
            "DNS:www.multi.example.test",
            "IP:192.0.2.7",
            "IP:2001:db8::7",
            "email:ops@example.test"
        ])
    );
    let stored = std::fs::read_to_string(env.dir.join(format!("certs/{serial}.pem"))).unwrap();
    assert_eq!(stored, pem);
    let text = x509_text(&env, &pem);
    assert!(text.contains("DNS:multi.example.test, DNS:www.multi.example.test, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:7, email:ops@example.test"), "{text}");
    assert!(text.contains(&"Serial Number:".to_string()), "{text}");
    // SERIAL-RANDOM: the counter moved to the block above the serial, whose low 64 bits
    // are random.
    let counter = env.counter();
    assert_eq!((serial.len(), counter.len()), (32, 32));
    assert!(counter > serial, "the counter moved on: {counter} {serial}");
    assert!(counter.ends_with("0000000000000000"), "{counter}");
    env.assert_check_ok();
}

#[test]
fn sign_profiles_decide_key_usages_sign_profile() {
    let cases = [
        (
            "server",
            "p256-default.pem",
            "Digital Signature\n",
            "TLS Web Server Authentication\n",
        ),
        (
            "client",
            "p256-default.pem",
            "Digital Signature\n",
            "TLS Web Client Authentication\n",
        ),
        (
            "server-client",
            "p256-default.pem",
            "Digital Signature\n",
            "TLS Web Server Authentication, TLS Web Client Authentication\n",
        ),
        (
            "server",
            "rsa2048-default.pem",
            "Digital Signature, Key Encipherment\n",
            "TLS Web Server Authentication\n",
        ),
        (
            "client",
            "rsa2048-default.pem",
            "Digital Signature\n",
            "TLS Web Client Authentication\n",
        ),
    ];
    let env = Env::new();
    for (profile, fixture, ku, eku) in cases {
        let (pem, _) = env.sign(&csr(fixture), &["--profile", profile]);
        let text = x509_text(&env, &pem);
        assert!(
            text.contains(&format!("X509v3 Key Usage: critical\n                {ku}")),
            "{profile}: {text}"
        );
        assert!(
            text.contains(&format!(
                "X509v3 Extended Key Usage: \n                {eku}"
            )),
            "{profile}: {text}"
        );
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains("Authority Key Identifier"), "{text}");
    }
}

#[test]
fn sign_ignores_ca_true_and_key_cert_sign_from_the_csr_sign_policy() {
    let env = Env::new();
    let out = env.ok(&["sign", csr("p256-wants-ca.pem").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CA:TRUE") && stderr.contains("ignored"),
        "{stderr}"
    );
    let text = x509_text(&env, &String::from_utf8_lossy(&out.stdout));
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(!text.contains("Certificate Sign"), "{text}");
    assert!(!text.contains("CRL Sign"), "{text}");
    // And OpenSSL refuses to use it as a CA.
    let (ok, _) = verify(&env, &String::from_utf8_lossy(&out.stdout), false);
    assert!(ok);
}

#[test]
fn sign_san_option_replaces_the_csr_sans_sign_san() {
    let env = Env::new();
    let out = env.ok(&[
        "sign",
        csr("p256-sans.pem").to_str().unwrap(),
        "--san",
        "DNS:only.example.test",
        "--san",
        "IP:10.0.0.1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not issued: DNS:multi.example.test"),
        "{stderr}"
    );
    let text = x509_text(&env, &String::from_utf8_lossy(&out.stdout));
    assert!(
        text.contains("DNS:only.example.test, IP Address:10.0.0.1\n"),
        "{text}"
    );
    assert!(!text.contains("multi.example.test, DNS"), "{text}");
}

#[test]
fn sign_adds_the_cn_as_san_for_servers_only_sign_san_cn() {
    let env = Env::new();
    let (pem, _) = env.sign(&csr("p256-default.pem"), &[]);
    assert!(x509_text(&env, &pem).contains("DNS:p256.example.test"));
    let (pem, _) = env.sign(&csr("p256-default.pem"), &["--profile", "client"]);
    assert!(!x509_text(&env, &pem).contains("Subject Alternative Name"));
}

#[test]
fn sign_refuses_bad_san_options_sign_san() {
    let env = Env::new();
    for san in [
        "DNS:bad..example",
        "IP:1.2.3",
        "email:nobody",
        "URI:not a uri",
        "URI:spiffe://",
        "dirName:CN=x",
        "DNS:*.*.example",
    ] {
        env.refused(
            &[
                "sign",
                csr("p256-default.pem").to_str().unwrap(),
                "--san",
                san,
            ],
            USAGE,
        );
    }
}

#[test]
fn sign_clamps_not_after_to_the_ca_sign_clamp() {
    let env = Env::empty();
    env.ok(&["init", "--subject", "CN=Short CA", "--days", "30"]);
    let out = env.ok(&[
        "sign",
        csr("p256-default.pem").to_str().unwrap(),
        "--days",
        "365",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("clamped"));
    let leaf = write(&env, "leaf.pem", &out.stdout);
    let (_, a) = openssl(&["x509", "-in", leaf.to_str().unwrap(), "-noout", "-enddate"]);
    let (_, b) = openssl(&[
        "x509",
        "-in",
        env.dir.join("ca.crt").to_str().unwrap(),
        "-noout",
        "-enddate",
    ]);
    assert_eq!(a, b);
}

#[test]
fn sign_refuses_with_an_expired_ca_sign_expired() {
    let env = Env::empty();
    env.ok(&["init", "--subject", "CN=Short CA", "--days", "1"]);
    let before = snapshot(&env.dir);
    let out = env
        .ca()
        .args(["sign", csr("p256-default.pem").to_str().unwrap()])
        .env("FILECA_NOW", "2099-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(REFUSED));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"));
    assert_unchanged(&before, &snapshot(&env.dir));
}

#[test]
fn sign_reads_stdin_sign_stdin() {
    use std::io::Write;
    let env = Env::new();
    let mut child = env
        .ca()
        .args(["sign", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(csr("ed25519-default.pem")).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(verify(&env, &String::from_utf8_lossy(&out.stdout), false).0);
}

#[test]
fn sign_refuses_every_bad_csr_and_changes_nothing_csr_gate() {
    let env = Env::new();
    let cases = [
        ("rsa2048-sha1.pem", "SHA-1"),
        ("rsa2048-md5.pem", "MD5"),
        ("rsa2048-sha224.pem", "SHA-224"),
        ("p256-sha1.pem", "SHA-1"),
        ("p256-sha3-256.pem", "SHA-3"),
        ("rsa1024-default.pem", "1024 bits"),
        ("p521-default.pem", "curve"),
        ("secp256k1-default.pem", "curve"),
        ("ed448-default.pem", "Ed448"),
        ("dsa-default.pem", "DSA"),
        ("p256-bad-dns.pem", "bad_name"),
        ("p256-idn-utf8.pem", "A-labels"),
        ("p256-empty-subject.pem", "empty"),
        ("p256-bad-signature.pem", "does not verify"),
    ];
    for (fixture, needle) in cases {
        let err = env.refused(&["sign", csr(fixture).to_str().unwrap()], REFUSED);
        assert!(err.contains(needle), "{fixture}: {err}");
        assert!(
            err.contains(fixture),
            "{fixture}: the error names the file: {err}"
        );
    }
}

#[test]
fn sign_refuses_non_csr_input_csr_gate() {
    let env = Env::new();
    let crt = env.dir.join("ca.crt");
    let err = env.refused(&["sign", crt.to_str().unwrap()], REFUSED);
    assert!(err.contains("CERTIFICATE"), "{err}");
    let garbage = write(&env, "garbage.csr", b"\x30\x03\x02\x01\x00garbage");
    env.refused(&["sign", garbage.to_str().unwrap()], REFUSED);
    let two = [
        std::fs::read(csr("p256-default.pem")).unwrap(),
        std::fs::read(csr("p384-default.pem")).unwrap(),
    ]
    .concat();
    let two = write(&env, "two.csr", &two);
    let err = env.refused(&["sign", two.to_str().unwrap()], REFUSED);
    assert!(err.contains("2 PEM blocks"), "{err}");
    let missing = env.path("missing.csr");
    env.refused(&["sign", missing.to_str().unwrap()], REFUSED);
    let big = write(&env, "big.csr", &vec![b'A'; 10 * 1024 * 1024]);
    let err = env.refused(&["sign", big.to_str().unwrap()], REFUSED);
    assert!(err.contains("limit"), "{err}");
}

#[test]
fn sign_out_writes_only_after_commit_and_never_overwrites_sign_out() {
    let env = Env::new();
    let out_path = env.path("leaf.crt");
    let out = env.ok(&[
        "sign",
        csr("p256-default.pem").to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.stdout.is_empty(), "--out replaces stdout");
    let pem = std::fs::read_to_string(&out_path).unwrap();
    assert!(verify(&env, &pem, false).0);
    let err = env.refused(
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ],
        REFUSED,
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), pem);
    env.ok(&[
        "sign",
        csr("p256-default.pem").to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
        "--force",
    ]);
    assert_ne!(std::fs::read_to_string(&out_path).unwrap(), pem);
    let leftovers: Vec<_> = std::fs::read_dir(env.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("fileca-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let link = env.path("link.crt");
    std::os::unix::fs::symlink(env.path("elsewhere"), &link).unwrap();
    env.refused(
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--out",
            link.to_str().unwrap(),
            "--force",
        ],
        REFUSED,
    );
    assert!(!env.path("elsewhere").exists());
}

/// A missing `--out` directory is refused before anything is done (exit 3, EXIT-REFUSED;
/// it was an I/O error, exit 4, found at the commit).
#[test]
fn sign_out_into_a_missing_directory_changes_nothing_sign_out() {
    let env = Env::new();
    let out_path = env.path("no/such/dir/leaf.crt");
    env.refused(
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ],
        REFUSED,
    );
}

/// What `openssl x509 ARGS` prints about the certificate `pem`.
fn x509_says(env: &Env, pem: &str, args: &[&str]) -> String {
    let f = write(env, "inspected.pem", pem.as_bytes());
    let mut all = vec!["x509", "-in", f.to_str().unwrap(), "-noout"];
    all.extend_from_slice(args);
    openssl(&all).1
}

/// The subjectAltName extension of `pem`, as openssl prints it.
fn sans_of(env: &Env, pem: &str) -> String {
    x509_says(env, pem, &["-ext", "subjectAltName"])
}

/// The subject of `pem` in RFC 2253 order, as openssl prints it.
fn subject_of(env: &Env, pem: &str) -> String {
    x509_says(env, pem, &["-subject", "-nameopt", "RFC2253"])
}

/// A CSR made by openssl with `subj` and no SANs.
fn csr_for(env: &Env, name: &str, subj: &str) -> std::path::PathBuf {
    csr_with(env, name, subj, &[])
}

/// A CSR made by openssl with `subj` and `extra` options (`-addext …`).
fn csr_with(env: &Env, name: &str, subj: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = env.path(&format!("{name}.csr"));
    let key = env.path(&format!("{name}.key"));
    let mut args = vec![
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        subj,
        "-out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, log) = openssl(&args);
    assert!(ok, "{log}");
    out
}

/// SIGN-HOST: a server certificate always names a host in a DNS or IP SAN (webpki, Go and
/// Python ignore the CN): a single-label CN becomes DNS:NAME, an address IP:ADDR, and a CN
/// that names no host is refused naming --san (a client certificate needs none); `ca issue
/// NAME` gets DNS:NAME or IP:NAME for single labels and addresses too.
#[test]
fn server_certificates_always_name_a_host_sign_host() {
    let env = Env::new();
    let (pem, _) = env.sign(&csr_for(&env, "intranet", "/CN=intranet"), &[]);
    assert!(
        sans_of(&env, &pem).contains("DNS:intranet"),
        "{}",
        sans_of(&env, &pem)
    );
    let (pem, _) = env.sign(&csr_for(&env, "addr", "/CN=192.0.2.10"), &[]);
    assert!(
        sans_of(&env, &pem).contains("IP Address:192.0.2.10"),
        "{}",
        sans_of(&env, &pem)
    );
    let jane = csr_for(&env, "jane", "/CN=Jane Doe");
    let before = snapshot(&env.dir);
    for profile in ["server", "server-client"] {
        let err = env.refused(
            &["sign", jane.to_str().unwrap(), "--profile", profile],
            REFUSED,
        );
        assert!(
            err.contains("needs a DNS or IP subjectAltName") && err.contains("--san"),
            "{err}"
        );
    }
    assert_unchanged(&before, &snapshot(&env.dir));
    env.sign(&jane, &["--profile", "client"]);
    env.sign(&jane, &["--san", "DNS:jane.example.test"]);
    for (name, want) in [
        ("localhost", "DNS:localhost"),
        ("printer", "DNS:printer"),
        ("10.0.0.5", "IP Address:10.0.0.5"),
    ] {
        let out_dir = env.path("pairs");
        env.ok(&["issue", name, "--out-dir", out_dir.to_str().unwrap()]);
        let crt = out_dir.join(name).join(format!("{name}.crt"));
        let (_, sans) = openssl(&[
            "x509",
            "-in",
            crt.to_str().unwrap(),
            "-noout",
            "-ext",
            "subjectAltName",
        ]);
        assert!(sans.contains(want), "{name}: {sans}");
    }
}

/// SIGN-SAN-CN-KEEP: with --san, the CSR's CN stays only if it is one of the SANs; otherwise
/// it is left out (other attributes kept), or replaced by the first SAN when nothing else
/// would remain — the certificate never shows a name it does not certify.
#[test]
fn san_replacement_keeps_the_cn_only_if_certified_sign_san_cn_keep() {
    let env = Env::new();
    let web = csr_for(&env, "web", "/O=Example/CN=web.example.test");
    let (pem, _) = env.sign(
        &web,
        &[
            "--san",
            "DNS:web.example.test",
            "--san",
            "DNS:api.example.test",
        ],
    );
    assert!(
        subject_of(&env, &pem).contains("CN=web.example.test"),
        "{}",
        subject_of(&env, &pem)
    );
    let out = env.ok(&[
        "sign",
        web.to_str().unwrap(),
        "--san",
        "DNS:api.example.test",
    ]);
    let pem = String::from_utf8(out.stdout).unwrap();
    let s = subject_of(&env, &pem);
    assert!(!s.contains("CN=") && s.contains("O=Example"), "{s}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("left out of the subject"));
    let only_cn = csr_for(&env, "only", "/CN=web.example.test");
    let (pem, _) = env.sign(&only_cn, &["--san", "DNS:api.example.test"]);
    assert!(
        subject_of(&env, &pem).contains("CN=api.example.test"),
        "{}",
        subject_of(&env, &pem)
    );
}

/// CSR-SHA512: ECDSA CSRs signed with SHA-512 (`openssl req -sha512`) are verified (RustCrypto
/// p256/p384; ring cannot) and signed; one whose signature was altered is refused.
#[test]
fn ecdsa_sha512_csrs_are_verified_and_signed_csr_sha512() {
    let env = Env::new();
    for fixture in ["p256-sha512.pem", "p384-sha512.pem"] {
        let (pem, _) = env.sign(&csr(fixture), &[]);
        assert!(verify(&env, &pem, false).0, "{fixture}");
        // Alter the signature's last byte (DER form): refused, nothing changed.
        let der = env.path("req.der");
        let (ok, log) = openssl(&[
            "req",
            "-in",
            csr(fixture).to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ]);
        assert!(ok, "{log}");
        let mut bytes = std::fs::read(&der).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let bad = write(&env, "bad.der", &bytes);
        let before = snapshot(&env.dir);
        let err = env.refused(&["sign", bad.to_str().unwrap()], REFUSED);
        assert!(err.contains("does not verify"), "{fixture}: {err}");
        assert_unchanged(&before, &snapshot(&env.dir));
    }
}

/// SAN-URI: URI SANs (SPIFFE IDs for mTLS) are accepted from --san and from a CSR, checked for
/// well-formedness, issued as uniformResourceIdentifier, and kept by renew.
#[test]
fn uri_sans_are_issued_san_uri() {
    let env = Env::new();
    let (pem, serial) = env.sign(
        &csr("p256-default.pem"),
        &[
            "--profile",
            "server-client",
            "--san",
            "DNS:web.lab.test",
            "--san",
            "URI:spiffe://lab.test/ns/web",
        ],
    );
    let sans = sans_of(&env, &pem);
    assert!(
        sans.contains("URI:spiffe://lab.test/ns/web") && sans.contains("DNS:web.lab.test"),
        "{sans}"
    );
    let renewed = String::from_utf8(env.ok(&["renew", &serial]).stdout).unwrap();
    assert!(sans_of(&env, &renewed).contains("URI:spiffe://lab.test/ns/web"));
    // From a CSR.
    let out = csr_with(
        &env,
        "uri",
        "/CN=svc",
        &[
            "-addext",
            "subjectAltName=URI:spiffe://lab.test/ns/svc,DNS:svc.lab.test",
        ],
    );
    let (pem, _) = env.sign(&out, &[]);
    assert!(
        sans_of(&env, &pem).contains("URI:spiffe://lab.test/ns/svc"),
        "{}",
        sans_of(&env, &pem)
    );
    env.assert_check_ok();
}

#[test]
fn every_serial_carries_64_random_bits_serial_random() {
    let env = Env::new();
    // One by one and in a batch: the high 64 bits count, the low 64 bits are random.
    env.sign(&csr("p256-default.pem"), &[]);
    let batch = env.path("batch");
    std::fs::create_dir(&batch).unwrap();
    for name in [
        "p256-default.pem",
        "p384-default.pem",
        "ed25519-default.pem",
    ] {
        std::fs::copy(csr(name), batch.join(name)).unwrap();
    }
    env.ok(&["sign", batch.to_str().unwrap()]);
    env.sign(&csr("p384-default.pem"), &[]);
    let index = env.index();
    let serials: Vec<String> = index["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(serials.len(), 5);
    let high = |s: &str| u64::from_str_radix(&s[..16], 16).unwrap();
    let low = |s: &str| u64::from_str_radix(&s[16..], 16).unwrap();
    for pair in serials.windows(2) {
        assert_eq!(pair[0].len(), 32);
        assert_eq!(high(&pair[1]), high(&pair[0]) + 1, "{pair:?}");
        // Not the last one plus one: 64 bits the next one shares nothing predictable with.
        assert_ne!(low(&pair[1]), low(&pair[0]).wrapping_add(1), "{pair:?}");
    }
    let lows: std::collections::BTreeSet<u64> = serials.iter().map(|s| low(s)).collect();
    assert_eq!(lows.len(), serials.len(), "{serials:?}");
    // The counter is the block after the last serial; the certificate carries the serial
    // (as openssl reads it) and check agrees.
    let last = serials.last().unwrap();
    assert_eq!(
        env.counter(),
        format!("{:016X}{}", high(last) + 1, "0".repeat(16))
    );
    let pem = std::fs::read_to_string(env.dir.join(format!("certs/{last}.pem"))).unwrap();
    assert_eq!(
        x509_says(&env, &pem, &["-serial"]).trim(),
        format!("serial={last}")
    );
    env.assert_check_ok();
}

/// NAME-ORDER: subject strings are RFC 4514 (most specific first) and are encoded reversed,
/// so the certificate holds C, O, CN in that order; the OpenSSL `/C=…/O=…/CN=…` form gives
/// the same subject; every output shows RFC 4514 order; index.log keeps ASN.1 order; renew
/// keeps the subject's encoding.
#[test]
fn subjects_are_rfc4514_strings_encoded_most_general_first_name_order() {
    let env = Env::empty();
    env.ok(&["init", "--subject", "CN=Order Root,O=Example\\, Inc.,C=DE"]);
    let ca = std::fs::read_to_string(env.dir.join("ca.crt")).unwrap();
    assert_eq!(
        subject_of(&env, &ca).trim(),
        "subject=CN=Order Root,O=Example\\, Inc.,C=DE"
    );
    // openssl's default (ASN.1 order) output: C comes first in the certificate.
    assert_eq!(
        x509_says(&env, &ca, &["-subject"]).trim(),
        "subject=C = DE, O = \"Example, Inc.\", CN = Order Root"
    );
    assert_eq!(
        env.status()["subject"],
        "CN=Order Root,O=Example\\, Inc.,C=DE"
    );
    let text = String::from_utf8(env.ok(&["status"]).stdout).unwrap();
    // (The text output escapes the backslash, as it does every character it shows escaped.)
    assert!(
        text.contains("subject:       CN=Order Root,O=Example"),
        "{text}"
    );
    assert!(text.contains("Inc.,C=DE\n"), "{text}");

    // The OpenSSL form: the same DER subject.
    let other = Env::empty();
    other.ok(&["init", "--subject", "/C=DE/O=Example, Inc./CN=Order Root"]);
    let other_ca = std::fs::read_to_string(other.dir.join("ca.crt")).unwrap();
    assert_eq!(
        x509_says(&other, &other_ca, &["-subject"]),
        x509_says(&env, &ca, &["-subject"])
    );

    // issue --subject, and a CSR made with openssl's -subj (ASN.1 order).
    let out = env.path("issued");
    env.ok(&[
        "issue",
        "host.test",
        "--subject",
        "CN=host.test,O=Example",
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let pem = std::fs::read_to_string(out.join("host.test/host.test.crt")).unwrap();
    assert_eq!(
        subject_of(&env, &pem).trim(),
        "subject=CN=host.test,O=Example"
    );
    let csr = csr_for(&env, "web", "/C=DE/O=Example/CN=web.test");
    let (pem, serial) = env.sign(&csr, &[]);
    assert_eq!(
        subject_of(&env, &pem).trim(),
        "subject=CN=web.test,O=Example,C=DE"
    );
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"]).stdout).unwrap();
    let subjects: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["CN=host.test,O=Example", "CN=web.test,O=Example,C=DE"]
    );
    let text = String::from_utf8(env.ok(&["list"]).stdout).unwrap();
    assert!(text.contains("CN=web.test,O=Example,C=DE"), "{text}");
    let show = String::from_utf8(env.ok(&["show", &serial]).stdout).unwrap();
    assert!(
        show.contains("subject:       CN=web.test,O=Example,C=DE"),
        "{show}"
    );
    let found =
        String::from_utf8(env.ok(&["list", "--match", "web.test,o=example"]).stdout).unwrap();
    assert!(found.contains(&serial), "{found}");
    // index.log keeps ASN.1 order, the order of the certificate (and of openssl's index.txt).
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    assert!(
        log.contains(r#""subject":"C=DE,O=Example,CN=web.test""#),
        "{log}"
    );
    assert!(
        log.contains(r#""subject":"O=Example,CN=host.test""#),
        "{log}"
    );

    // renew re-issues the same subject, byte for byte.
    let renewed = String::from_utf8(env.ok(&["renew", &serial]).stdout).unwrap();
    assert_eq!(
        x509_says(&env, &renewed, &["-subject"]),
        x509_says(&env, &pem, &["-subject"])
    );
    let revoked = String::from_utf8(env.ok(&["revoke", &serial]).stderr).unwrap();
    assert!(revoked.contains("CN=web.test,O=Example,C=DE"), "{revoked}");
    env.assert_check_ok();
}

/// NAME-ORDER: a CA whose subject is in typed order (CN first, as an earlier fileca encoded
/// `CN=…,O=…`) keeps issuing certificates whose issuer is a byte copy of its subject.
#[test]
fn the_issuer_is_a_byte_copy_of_the_ca_subject_name_order() {
    let env = Env::empty();
    let (key, cert) = (env.path("old.key"), env.path("old.crt"));
    openssl_self_signed(
        &key,
        &cert,
        "/CN=Old Root/O=Example",
        &[
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    env.ok(&[
        "init",
        "--import-key",
        key.to_str().unwrap(),
        "--import-cert",
        cert.to_str().unwrap(),
    ]);
    assert_eq!(env.status()["subject"], "O=Example,CN=Old Root");
    let (pem, _) = env.sign(&csr("p256-default.pem"), &[]);
    let der = |pem: &[u8]| pem::parse(pem).unwrap().into_contents();
    let ca_der = der(&std::fs::read(env.dir.join("ca.crt")).unwrap());
    let leaf_der = der(pem.as_bytes());
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
    assert!(verify(&env, &pem, false).0);
}
