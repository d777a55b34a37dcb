//! CA lifecycle (SPEC.md RENEW-CA-*).

use crate::harness::*;

fn pubkey(path: &std::path::Path) -> String {
    openssl(&["x509", "-in", path.to_str().unwrap(), "-noout", "-pubkey"]).1
}

#[test]
fn renew_ca_keeps_old_certificates_valid_and_archives_the_old_ca_renew_ca() {
    let env = Env::empty();
    env.ok(&[
        "init",
        "--subject",
        "CN=Lifecycle CA,O=fileca,C=DE",
        "--days",
        "30",
        "--path-len",
        "1",
    ]);
    let (leaf, _) = env.sign(&csr("p256-default.pem"), &[]);
    let old_crt = std::fs::read(env.dir.join("ca.crt")).unwrap();
    let old_serial = openssl(&[
        "x509",
        "-in",
        env.dir.join("ca.crt").to_str().unwrap(),
        "-noout",
        "-serial",
    ])
    .1;
    let old_serial = old_serial.trim().trim_start_matches("serial=").to_string();
    env.ok(&["renew-ca", "--days", "3650"]);
    let archived = env.dir.join(format!("ca-{old_serial}.crt"));
    assert_eq!(
        std::fs::read(&archived).unwrap(),
        old_crt,
        "the old certificate is kept byte for byte"
    );
    assert_eq!(
        pubkey(&archived),
        pubkey(&env.dir.join("ca.crt")),
        "same key"
    );
    let (_, text) = openssl(&[
        "x509",
        "-in",
        env.dir.join("ca.crt").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(
        text.contains("CA:TRUE, pathlen:1")
            && text.contains("Subject: C = DE, O = fileca, CN = Lifecycle CA"),
        "{text}"
    );
    assert!(
        verify(&env, &leaf, false).0,
        "a certificate issued before still verifies"
    );
    // New certificates may now run past the old CA's notAfter.
    let (fresh, _) = env.sign(&csr("p384-default.pem"), &["--days", "365"]);
    assert!(verify(&env, &fresh, false).0);
    env.ok(&["crl"]);
    assert!(verify(&env, &leaf, true).0);
    env.assert_check_ok();
    assert!(
        String::from_utf8(env.ok(&["log"]).stdout)
            .unwrap()
            .contains("renew-ca")
    );
}

#[test]
#[ignore = "full tier: a crash at every mutation, one process per fault point"]
fn crash_at_every_mutation_of_renew_ca_leaves_old_or_new_renew_ca_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let before = snapshot(&base);
    let args: Vec<String> = vec!["renew-ca".into(), "--days".into(), "900".into()];
    let probe = tmp.path().join("probe");
    copy_dir(&base, &probe);
    let trace = trace_mutations(&probe, &args);
    let commit = commit_point(&trace);
    let old = std::fs::read(base.join("ca.crt")).unwrap();
    for n in 1..=trace.len() {
        let (dir, _) = run_with_fault(
            tmp.path(),
            &base,
            &format!("r{n}"),
            &args,
            &format!("abort@{n}"),
        );
        assert!(
            ca_at(&dir).arg("status").output().unwrap().status.success(),
            "abort@{n}"
        );
        if n <= commit {
            assert_unchanged(&before, &snapshot(&dir));
        } else {
            let now = std::fs::read(dir.join("ca.crt")).unwrap();
            assert_ne!(now, old, "abort@{n}: the new certificate is in place");
            let archived: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("ca-"))
                .collect();
            assert_eq!(archived.len(), 1, "abort@{n}");
            assert_eq!(std::fs::read(dir.join(&archived[0])).unwrap(), old);
            assert_eq!(pubkey(&dir.join("ca.crt")), pubkey(&base.join("ca.crt")));
        }
        assert!(
            ca_at(&dir).arg("check").output().unwrap().status.success(),
            "abort@{n}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn issue_generates_a_key_pair_openssl_reads_issue() {
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let env = Env::new();
        let out = env.path("issued");
        std::fs::create_dir(&out).unwrap();
        env.ok(&[
            "issue",
            "web.lab.test",
            "--key-type",
            kt,
            "--out-dir",
            out.to_str().unwrap(),
        ]);
        let dir = out.join("web.lab.test");
        let key = dir.join("web.lab.test.key");
        let crt = dir.join("web.lab.test.crt");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let (ok, from_key) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
        assert!(ok, "{kt}: {from_key}");
        assert_eq!(
            from_key,
            pubkey(&crt),
            "{kt}: key and certificate belong together"
        );
        let pem = std::fs::read_to_string(&crt).unwrap();
        assert!(verify(&env, &pem, false).0);
        assert!(x509_text(&env, &pem).contains("DNS:web.lab.test"));
        assert_eq!(
            std::fs::read(dir.join("ca.crt")).unwrap(),
            std::fs::read(env.dir.join("ca.crt")).unwrap()
        );
        env.refused(
            &["issue", "web.lab.test", "--out-dir", out.to_str().unwrap()],
            REFUSED,
        );
        env.refused(
            &["issue", "../escape", "--out-dir", out.to_str().unwrap()],
            USAGE,
        );
        env.assert_check_ok();
    }
}

#[test]
#[ignore = "full tier: a crash at every mutation, one process per fault point"]
fn crash_at_every_mutation_of_issue_publishes_both_files_or_neither_issue_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let before = snapshot(&base);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let args = |o: &std::path::Path| -> Vec<String> {
        vec![
            "issue".into(),
            "pair.test".into(),
            "--out-dir".into(),
            o.to_str().unwrap().into(),
        ]
    };
    let probe = tmp.path().join("probe");
    copy_dir(&base, &probe);
    let probe_out = tmp.path().join("probe-out");
    std::fs::create_dir(&probe_out).unwrap();
    let trace = trace_mutations(&probe, &args(&probe_out));
    let commit = commit_point(&trace);
    for n in 1..=trace.len() {
        let o = tmp.path().join(format!("o{n}"));
        std::fs::create_dir(&o).unwrap();
        let (dir, _) = run_with_fault(
            tmp.path(),
            &base,
            &format!("d{n}"),
            &args(&o),
            &format!("abort@{n}"),
        );
        assert!(ca_at(&dir).arg("status").output().unwrap().status.success());
        let pair = o.join("pair.test");
        if pair.exists() {
            let names: Vec<_> = std::fs::read_dir(&pair)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            // NAME.key, NAME.crt, NAME.fullchain.pem (CHAIN-OUT) and ca.crt.
            assert_eq!(
                names.len(),
                4,
                "abort@{n}: a published pair is complete: {names:?}"
            );
            assert_eq!(
                pubkey(&pair.join("pair.test.crt")),
                openssl(&[
                    "pkey",
                    "-in",
                    pair.join("pair.test.key").to_str().unwrap(),
                    "-pubout"
                ])
                .1
            );
        }
        if n <= commit {
            assert_unchanged(&before, &snapshot(&dir));
            assert!(
                !pair.exists(),
                "abort@{n}: nothing published before the commit"
            );
        }
        // Nothing but hidden staging leftovers (owner-only) and the pair itself.
        for e in std::fs::read_dir(&o).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name == "pair.test" || name.starts_with(".pair.test.fileca-"),
                "abort@{n}: {name}"
            );
        }
        assert!(ca_at(&dir).arg("check").output().unwrap().status.success());
        // The next issue into the same directory removes an abandoned staging directory.
        let again = ca_at(&dir)
            .args(["issue", "pair.test", "--out-dir", o.to_str().unwrap()])
            .output()
            .unwrap();
        let leftovers = std::fs::read_dir(&o)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(
            leftovers,
            0,
            "abort@{n}: {}",
            String::from_utf8_lossy(&again.stderr)
        );
    }
}

/// Makes a self-signed CA with openssl: (key file, cert file). `keygen` are genpkey arguments;
/// `convert` optionally rewrites the key (e.g. to PKCS#1 or SEC1).
pub fn openssl_ca(
    env: &Env,
    name: &str,
    keygen: &[&str],
    convert: Option<&[&str]>,
    ca: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = env.path(&format!("{name}.key"));
    let crt = env.path(&format!("{name}.crt"));
    let mut args = vec!["genpkey"];
    args.extend_from_slice(keygen);
    args.extend(["-out", key.to_str().unwrap()]);
    assert!(openssl(&args).0);
    let bc = if ca {
        "basicConstraints=critical,CA:TRUE"
    } else {
        "basicConstraints=critical,CA:FALSE"
    };
    let (ok, out) = openssl(&[
        "req",
        "-x509",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        &format!("/CN={name}"),
        "-days",
        "100",
        "-addext",
        bc,
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-out",
        crt.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    if let Some(conv) = convert {
        let mut args = conv.to_vec();
        args.extend(["-in", key.to_str().unwrap(), "-out", key.to_str().unwrap()]);
        assert!(openssl(&args).0, "{args:?}");
    }
    (key, crt)
}

#[test]
#[ignore = "full tier: every key form, RSA included"]
fn init_adopts_existing_ca_keys_in_every_supported_form_import_key() {
    let env = Env::empty();
    type Case<'a> = (&'a str, Vec<&'a str>, Option<Vec<&'a str>>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "rsa2048-pkcs8",
            vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            None,
            "rsa-2048",
        ),
        (
            "rsa4096-pkcs1",
            vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
            Some(vec!["rsa", "-traditional"]),
            "rsa-4096",
        ),
        (
            "p256-sec1",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Some(vec!["ec"]),
            "ecdsa-p256",
        ),
        (
            "p384-pkcs8",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            None,
            "ecdsa-p384",
        ),
        (
            "ed25519-pkcs8",
            vec!["-algorithm", "ED25519"],
            None,
            "ed25519",
        ),
    ];
    for (name, keygen, convert, kind) in cases {
        let (key, crt) = openssl_ca(&env, name, &keygen, convert.as_deref(), true);
        let dir = env.path(&format!("ca-{name}"));
        let out = std::process::Command::new(bin())
            .arg("--dir")
            .arg(&dir)
            .args([
                "init",
                "--import-key",
                key.to_str().unwrap(),
                "--import-cert",
                crt.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = |args: &[&str]| {
            std::process::Command::new(bin())
                .arg("--dir")
                .arg(&dir)
                .args(args)
                .output()
                .unwrap()
        };
        let status: serde_json::Value =
            serde_json::from_slice(&run(&["status", "--json"]).stdout).unwrap();
        assert_eq!(status["key_type"], kind, "{name}");
        assert_eq!(
            std::fs::read_to_string(dir.join("ca.key"))
                .unwrap()
                .lines()
                .next(),
            Some("-----BEGIN PRIVATE KEY-----")
        );
        let leaf = run(&["sign", csr("p256-default.pem").to_str().unwrap()]);
        assert!(
            leaf.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&leaf.stderr)
        );
        let p = write(&env, "leaf.pem", &leaf.stdout);
        let (ok, text) = openssl(&[
            "verify",
            "-CAfile",
            dir.join("ca.crt").to_str().unwrap(),
            p.to_str().unwrap(),
        ]);
        assert!(ok, "{name}: {text}");
        assert!(run(&["crl"]).status.success());
        assert!(run(&["check"]).status.success(), "{name}");
        let log = String::from_utf8(run(&["log"]).stdout).unwrap();
        assert!(log.contains("import"), "{log}");
    }
}

/// A key that is not the certificate's, a certificate that is no CA, and an encrypted key with
/// no passphrase to be had (IMPORT-ENCRYPTED reads it when there is one) are refused.
#[test]
fn import_refuses_mismatched_non_ca_and_encrypted_keys_without_a_passphrase_import_refuse() {
    let env = Env::empty();
    let (k1, c1) = openssl_ca(
        &env,
        "one",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        None,
        true,
    );
    let (_, c2) = openssl_ca(
        &env,
        "two",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        None,
        true,
    );
    let (k3, c3) = openssl_ca(
        &env,
        "leaf",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        None,
        false,
    );
    let enc = env.path("enc.key");
    assert!(
        openssl(&[
            "pkey",
            "-in",
            k1.to_str().unwrap(),
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            enc.to_str().unwrap()
        ])
        .0
    );
    for (key, crt, needle) in [
        (&k1, &c2, "does not match"),
        (&k3, &c3, "not a CA"),
        (&enc, &c1, "encrypted key"),
    ] {
        let out = env
            .ca()
            .args([
                "init",
                "--import-key",
                key.to_str().unwrap(),
                "--import-cert",
                crt.to_str().unwrap(),
            ])
            .env_remove("CA_PASSPHRASE_FILE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(REFUSED), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("secret"));
        assert!(!env.dir.exists(), "nothing created");
    }
}

/// The INTEGERs of the scrypt parameters of an encrypted PKCS#8 key (N, r, p in hex), read
/// by `openssl asn1parse`, independently of fileca and of the pkcs8 crate.
fn scrypt_parameters(key: &std::path::Path) -> Vec<String> {
    let (ok, dump) = openssl(&["asn1parse", "-in", key.to_str().unwrap()]);
    assert!(ok, "{dump}");
    let lines: Vec<&str> = dump.lines().collect();
    let kdf = lines
        .iter()
        .position(|l| l.contains("OBJECT") && l.ends_with(":scrypt"))
        .unwrap_or_else(|| panic!("no scrypt KDF: {dump}"));
    let cipher = lines
        .iter()
        .position(|l| l.ends_with(":aes-256-cbc"))
        .unwrap_or_else(|| panic!("no AES-256-CBC: {dump}"));
    lines[kdf..cipher]
        .iter()
        .filter(|l| l.contains("prim: INTEGER"))
        .map(|l| l.rsplit(':').next().unwrap().to_string())
        .collect()
}

#[test]
fn an_encrypted_ca_key_is_read_by_openssl_and_a_wrong_passphrase_changes_nothing_encrypt_key() {
    for kt in ["ecdsa-p256", "ed25519"] {
        let env = Env::empty();
        let p1 = pass_file(&env, "p1", "correct horse");
        let wrong = pass_file(&env, "wrong", "incorrect");
        env.ok(&[
            "--passphrase-file",
            &p1,
            "init",
            "--subject",
            "CN=Sealed",
            "--key-type",
            kt,
            "--encrypt-key",
        ]);
        let key = env.dir.join("ca.key");
        assert!(
            std::fs::read_to_string(&key)
                .unwrap()
                .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        );
        let (ok, out) = openssl(&[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-passin",
            &format!("file:{p1}"),
            "-pubout",
        ]);
        assert!(ok, "{kt}: {out}");
        assert_eq!(out, pubkey(&env.dir.join("ca.crt")));
        assert_eq!(
            scrypt_parameters(&key),
            ["4000", "08", "01"],
            "{kt}: scrypt N = 2^14, r = 8, p = 1 (SPEC.md ENCRYPT-KEY)"
        );
        let err = env.refused(
            &[
                "--passphrase-file",
                &wrong,
                "sign",
                csr("p256-default.pem").to_str().unwrap(),
            ],
            REFUSED,
        );
        assert!(
            err.contains("wrong passphrase") && !err.contains("incorrect"),
            "{err}"
        );
        let err = env.refused(
            &["sign", csr("p256-default.pem").to_str().unwrap()],
            REFUSED,
        );
        assert!(err.contains("--passphrase-file"), "{err}");
        // Reading needs no passphrase.
        env.ok(&["status"]);
        env.ok(&["check"]);
        let out = env
            .ca()
            .args(["sign", csr("p256-default.pem").to_str().unwrap()])
            .env("CA_PASSPHRASE_FILE", &p1)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(verify(&env, &String::from_utf8_lossy(&out.stdout), false).0);
    }
}

#[test]
fn passwd_sets_changes_and_removes_the_passphrase_passwd() {
    let env = Env::new();
    let p1 = pass_file(&env, "p1", "first passphrase");
    let p2 = pass_file(&env, "p2", "second passphrase");
    let key = env.dir.join("ca.key");
    let openssl_reads = |pass: Option<&str>| {
        let mut args = vec!["pkey", "-in", key.to_str().unwrap(), "-noout"];
        let pin;
        if let Some(p) = pass {
            pin = format!("file:{p}");
            args.extend(["-passin", &pin]);
        } else {
            args.extend(["-passin", "pass:"]);
        }
        openssl(&args).0
    };
    env.ok(&["passwd", "--new-passphrase-file", &p1]);
    assert!(openssl_reads(Some(&p1)));
    env.refused(
        &[
            "--passphrase-file",
            &p2,
            "passwd",
            "--new-passphrase-file",
            &p2,
        ],
        REFUSED,
    );
    env.ok(&[
        "--passphrase-file",
        &p1,
        "passwd",
        "--new-passphrase-file",
        &p2,
    ]);
    assert!(openssl_reads(Some(&p2)) && !openssl_reads(Some(&p1)));
    env.ok(&["--passphrase-file", &p2, "passwd", "--remove"]);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(openssl_reads(None));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    env.assert_check_ok();
    let log = String::from_utf8(env.ok(&["log"]).stdout).unwrap();
    assert_eq!(log.matches("passwd").count(), 3);
    assert!(
        !std::fs::read_to_string(env.dir.join("audit.log"))
            .unwrap()
            .contains("second")
    );
}

#[test]
#[ignore = "full tier: a crash at every mutation, one process per fault point"]
fn crash_at_every_mutation_of_passwd_leaves_the_old_or_the_new_encryption_passwd_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let newpass = tmp.path().join("new.pass");
    std::fs::write(&newpass, "s3cret passphrase\n").unwrap();
    let args: Vec<String> = vec![
        "passwd".into(),
        "--new-passphrase-file".into(),
        newpass.to_str().unwrap().into(),
    ];
    let probe = tmp.path().join("probe");
    copy_dir(&base, &probe);
    let trace = trace_mutations(&probe, &args);
    let commit = commit_point(&trace);
    let old_key = std::fs::read(base.join("ca.key")).unwrap();
    for n in 1..=trace.len() {
        let (dir, _) = run_with_fault(
            tmp.path(),
            &base,
            &format!("p{n}"),
            &args,
            &format!("abort@{n}"),
        );
        assert!(ca_at(&dir).arg("status").output().unwrap().status.success());
        let key = std::fs::read(dir.join("ca.key")).unwrap();
        if n <= commit {
            assert_eq!(key, old_key, "abort@{n}: the old key");
        } else {
            let (ok, _) = openssl(&[
                "pkey",
                "-in",
                dir.join("ca.key").to_str().unwrap(),
                "-passin",
                &format!("file:{}", newpass.display()),
                "-noout",
            ]);
            assert!(ok, "abort@{n}: the new encryption");
        }
        let check = ca_at(&dir)
            .arg("check")
            .arg("--passphrase-file")
            .arg(&newpass)
            .output()
            .unwrap();
        assert!(
            check.status.success() || n <= commit,
            "abort@{n}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}

/// Builds a real `openssl ca` directory: three certificates signed by `openssl ca`, one revoked
/// with keyCompromise, serial file 1003, crlnumber 05.
pub(crate) fn openssl_ca_dir(env: &Env) -> std::path::PathBuf {
    openssl_ca_dir_with(env, None)
}

/// [`openssl_ca_dir`], with the CA key left encrypted by `openssl req -keyout` (its default:
/// PKCS#8, PBES2 with DES-EDE3-CBC) under `pass` when one is given, instead of `-nodes`.
pub(crate) fn openssl_ca_dir_with(env: &Env, pass: Option<&str>) -> std::path::PathBuf {
    let src = env.path("demoCA");
    let script = r#"
set -e
cd "$1"
mkdir -p newcerts private
if [ -n "$PASS" ]; then keyopt="-passout env:PASS"; caopt="-passin env:PASS"; else keyopt=-nodes; caopt=; fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 $keyopt -keyout private/cakey.pem \
  -subj "/CN=Legacy CA/O=Old" -days 365 -out cacert.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
: > index.txt; echo 1000 > serial; echo 05 > crlnumber
cat > openssl.cnf <<CNF
[ ca ]
default_ca = d
[ d ]
dir = $1
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = \$dir/cacert.pem
private_key = \$dir/private/cakey.pem
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = sha256
default_days = 200
policy = p
unique_subject = no
x509_extensions = x
[ p ]
commonName = supplied
[ x ]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = clientAuth
CNF
for i in 1 2 3; do openssl ca -config openssl.cnf $caopt -batch -notext -in "$2" -out c$i.pem 2>/dev/null; done
openssl ca -config openssl.cnf $caopt -revoke c2.pem -crl_reason keyCompromise 2>/dev/null
"#;
    std::fs::create_dir(&src).unwrap();
    let st = std::process::Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&src)
        .arg(csr("p256-default.pem"))
        .env("PASS", pass.unwrap_or(""))
        .status()
        .unwrap();
    assert!(st.success());
    src
}

#[test]
fn import_openssl_adopts_a_real_openssl_ca_directory_import_openssl() {
    let env = Env::empty();
    let src = openssl_ca_dir(&env);
    let before = snapshot(&src);
    env.ok(&["import-openssl", src.to_str().unwrap()]);
    assert_unchanged(&before, &snapshot(&src));
    env.assert_check_ok();
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"]).stdout).unwrap();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["serial"], "1001");
    assert_eq!(rows[1]["state"], "revoked");
    assert_eq!(rows[1]["revocation_reason"], "keyCompromise");
    assert_eq!(rows[0]["profile"], "client");
    let s = env.status();
    assert_eq!(s["next_serial"], "1003");
    assert_eq!(s["next_crl_number"], "05");
    // The next serial does not collide, and the CRL covers the imported revocation.
    let (fresh, serial) = env.sign(&csr("p384-default.pem"), &[]);
    // SERIAL-RANDOM: the imported counter 1003 rounds up to the first 2^64 block; the low
    // 64 bits are random.
    assert_eq!((serial.len(), &serial[..2]), (18, "01"), "{serial}");
    assert_eq!(env.counter(), "020000000000000000");
    assert!(verify(&env, &fresh, false).0);
    env.ok(&["crl"]);
    let revoked = std::fs::read_to_string(src.join("c2.pem")).unwrap();
    let kept = std::fs::read_to_string(src.join("c1.pem")).unwrap();
    assert!(!verify(&env, &revoked, true).0);
    assert!(verify(&env, &kept, true).0);
    env.assert_check_ok();
}

#[test]
fn import_openssl_reports_inconsistencies_and_imports_nothing_import_openssl_refuse() {
    let env = Env::empty();
    let src = openssl_ca_dir(&env);
    std::fs::remove_file(src.join("newcerts/1002.pem")).unwrap();
    std::fs::write(src.join("serial"), "1001\n").unwrap();
    let before = snapshot(&src);
    let out = env.run(&["import-openssl", src.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(REFUSED), "{err}");
    assert!(err.contains("no certificate file for serial 1002"), "{err}");
    assert!(err.contains("not above the highest issued serial"), "{err}");
    assert!(!env.dir.exists());
    assert_unchanged(&before, &snapshot(&src));
}

#[test]
fn import_openssl_reads_an_easy_rsa_layout_import_openssl() {
    let env = Env::empty();
    let src = openssl_ca_dir(&env);
    // easy-rsa keeps certs_by_serial/, ca.crt and private/ca.key, and no openssl.cnf (one
    // would say where the files are: IMPORT-OPENSSL-CNF).
    std::fs::remove_file(src.join("openssl.cnf")).unwrap();
    std::fs::rename(src.join("newcerts"), src.join("certs_by_serial")).unwrap();
    std::fs::rename(src.join("cacert.pem"), src.join("ca.crt")).unwrap();
    std::fs::rename(src.join("private/cakey.pem"), src.join("private/ca.key")).unwrap();
    env.ok(&["import-openssl", src.to_str().unwrap()]);
    env.assert_check_ok();
    assert_eq!(env.status()["certificates"]["total"], 3);
}

#[test]
#[ignore = "full tier: script (util-linux) for a terminal"]
fn the_passphrase_prompt_reads_a_terminal_without_echo_passphrase_prompt() {
    require("script", "util-linux (bsdutils on Debian 12 and older)");
    let env = Env::empty();
    let p = pass_file(&env, "p", "tty-secret");
    env.ok(&[
        "--passphrase-file",
        &p,
        "init",
        "--subject",
        "CN=Prompted",
        "--encrypt-key",
    ]);
    let out_crt = env.path("prompted.crt");
    let args = format!(
        "sign {} --out {}",
        csr("p256-default.pem").display(),
        out_crt.display()
    );
    let out = on_terminal(&env, &args, &["tty-secret"]);
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{transcript}");
    assert!(transcript.contains("passphrase for"), "{transcript}");
    assert!(
        !transcript.contains("tty-secret"),
        "the passphrase was echoed: {transcript}"
    );
    assert!(verify(&env, &std::fs::read_to_string(&out_crt).unwrap(), false).0);
}

/// A source counter that exists but cannot be read is a problem, never "absent" (which would
/// start the imported CRL numbers at 01 again while the source had published 02): a dangling
/// symlink, a directory. Nothing is imported.
#[test]
fn import_openssl_never_treats_an_unreadable_counter_as_absent_import_openssl_refuse() {
    for (what, make) in [("dangling symlink", 0), ("directory", 1)] {
        let env = Env::empty();
        let src = openssl_ca_dir(&env);
        let counter = src.join("crlnumber");
        let _ = std::fs::remove_file(&counter);
        if make == 0 {
            std::os::unix::fs::symlink(src.join("gone"), &counter).unwrap();
        } else {
            std::fs::create_dir(&counter).unwrap();
        }
        let out = env.run(&["import-openssl", src.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(REFUSED), "{what}: {err}");
        assert!(err.contains("crlnumber"), "{what}: {err}");
        assert!(!env.dir.exists(), "{what}");
    }
}

/// Runs `ca ARGS` on a pseudo-terminal (util-linux `script`), typing each of `lines` once
/// its prompt (a line ending in ": ") has appeared on the terminal; then closes the input.
pub(crate) fn on_terminal(env: &Env, args: &str, lines: &[&str]) -> std::process::Output {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    require("script", "util-linux (bsdutils on Debian 12 and older)");
    let cmd = format!("{} --dir {} {args}", bin().display(), env.dir.display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let pump = {
        let transcript = Arc::clone(&transcript);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                transcript.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = 0; // the transcript's length when the last line was typed
    for (i, line) in lines.iter().enumerate() {
        let prompted = wait_until(DEADLINE, || {
            let text = transcript.lock().unwrap();
            (text.len() > seen && text.ends_with(b": ")).then_some(())
        });
        let text = String::from_utf8_lossy(&transcript.lock().unwrap()).into_owned();
        assert!(
            prompted.is_some(),
            "no prompt for line {i} of ca {args}: {text}"
        );
        seen = text.len();
        // The prompt is printed just before echo is turned off: a moment for that switch,
        // which is not observable from outside `script`'s terminal.
        std::thread::sleep(std::time::Duration::from_millis(100));
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    let status = child.wait().unwrap();
    pump.join().unwrap();
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let stdout = std::mem::take(&mut *transcript.lock().unwrap());
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// PASSWD-NEW: a new passphrase typed on a terminal is asked twice; a mismatch is exit 3 and
/// creates or changes nothing (a typo made ca.key unrecoverable); one shorter than 8
/// characters is refused, from a file too; a passphrase file others can read is warned about.
#[test]
#[ignore = "full tier: script (util-linux) for a terminal"]
fn new_passphrases_are_confirmed_long_enough_and_kept_private_passwd_new() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::empty();
    let out = on_terminal(
        &env,
        "init --subject CN=T --encrypt-key",
        &["first-secret", "other-secret"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(REFUSED), "{text}");
    assert!(
        text.contains("(again)") && text.contains("differ"),
        "{text}"
    );
    assert!(!env.dir.exists());
    let out = on_terminal(
        &env,
        "init --subject CN=T --encrypt-key",
        &["same-secret", "same-secret"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        std::fs::read_to_string(env.dir.join("ca.key"))
            .unwrap()
            .contains("ENCRYPTED")
    );

    // passwd: the same rules, nothing changed on a mismatch or a short passphrase.
    let current = pass_file(&env, "current", "same-secret");
    std::fs::set_permissions(&current, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = snapshot(&env.dir);
    let out = on_terminal(
        &env,
        &format!("--passphrase-file {current} passwd"),
        &["new-secret-1", "new-secret-2"],
    );
    assert_eq!(out.status.code(), Some(REFUSED));
    assert_unchanged(&before, &snapshot(&env.dir));
    let short = pass_file(&env, "short", "seven77");
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = env.refused(
        &[
            "--passphrase-file",
            &current,
            "passwd",
            "--new-passphrase-file",
            &short,
        ],
        REFUSED,
    );
    assert!(err.contains("shorter than 8 characters"), "{err}");
    assert_unchanged(&before, &snapshot(&env.dir));
    let fresh = Env::empty();
    fresh.refused(
        &[
            "--passphrase-file",
            &short,
            "init",
            "--subject",
            "CN=S",
            "--encrypt-key",
        ],
        REFUSED,
    );
    assert!(!fresh.dir.exists());

    // A private passphrase file: no warning; a world-readable one: a warning, not a refusal.
    let out = env.ok(&["--passphrase-file", &current, "crl"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable by other users"));
    std::fs::set_permissions(&current, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.ok(&["--passphrase-file", &current, "crl"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is readable by other users (mode 644); chmod 600 it"),
        "{err}"
    );
}

/// KEY-RSA: `init` and `issue` generate RSA keys (2048, 3072, 4096 bits) that OpenSSL reads
/// as valid PKCS#8, plain or encrypted; an RSA CA signs with sha256WithRSAEncryption and
/// what it issues verifies with openssl.
#[test]
#[ignore = "full tier: big sizes: RSA key generation"]
fn rsa_keys_are_generated_for_cas_and_pairs_key_rsa() {
    let env = Env::with_key("rsa-2048");
    assert_eq!(env.status()["key_type"], "rsa-2048");
    let pkey = |path: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["pkey", "-in", path.to_str().unwrap(), "-noout", "-text"];
        args.extend_from_slice(extra);
        openssl(&args)
    };
    let (ok, text) = pkey(&env.dir.join("ca.key"), &["-check"]);
    assert!(
        ok && text.contains("Private-Key: (2048 bit") && text.contains("valid"),
        "{text}"
    );
    let pass = write(&env, "pass", b"correct horse battery\n");
    for (kt, bits) in [("rsa-3072", "3072"), ("rsa-4096", "4096")] {
        let out = env.path(kt);
        let mut args = vec![
            "issue",
            kt,
            "--key-type",
            kt,
            "--out-dir",
            out.to_str().unwrap(),
        ];
        if kt == "rsa-4096" {
            args.extend([
                "--encrypt-key",
                "--key-passphrase-file",
                pass.to_str().unwrap(),
            ]);
        }
        env.ok(&args);
        let key = out.join(kt).join(format!("{kt}.key"));
        let passin = format!("file:{}", pass.display());
        let (ok, text) = pkey(&key, &["-check", "-passin", &passin]);
        assert!(
            ok && text.contains(&format!("Private-Key: ({bits} bit")),
            "{kt}: {text}"
        );
        let crt = std::fs::read_to_string(out.join(kt).join(format!("{kt}.crt"))).unwrap();
        assert!(verify(&env, &crt, false).0, "{kt}");
        let text = x509_text(&env, &crt);
        assert!(
            text.contains(&format!("Public-Key: ({bits} bit)"))
                && text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{kt}: {text}"
        );
    }
    env.assert_check_ok();
}
