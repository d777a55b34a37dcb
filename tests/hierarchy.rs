//! CA hierarchies (SPEC.md SUBCA-*, NC-*): a root signs a sub-CA's CSR with the sub-ca
//! profile, the sub-CA (adopted with `init --import-*`) issues leaves, and OpenSSL and GnuTLS
//! verify the chains; name constraints are in the certificates and enforced at the gate.

use std::path::{Path, PathBuf};

use crate::harness::*;

/// A key and CSR made by openssl: `alg` is `-newkey`'s argument and options.
fn key_and_csr(env: &Env, name: &str, subj: &str, alg: &[&str]) -> (PathBuf, PathBuf) {
    let (key, csr) = (
        env.path(&format!("{name}.key")),
        env.path(&format!("{name}.csr")),
    );
    let mut args = vec!["req", "-new", "-nodes", "-newkey"];
    args.extend_from_slice(alg);
    args.extend([
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        subj,
        "-out",
        csr.to_str().unwrap(),
    ]);
    let (ok, log) = openssl(&args);
    assert!(ok, "{log}");
    (key, csr)
}

const P256: &[&str] = &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P384: &[&str] = &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
const ED25519: &[&str] = &["ed25519"];
const RSA: &[&str] = &["rsa:2048"];

/// `root` signs `csr` as a sub-CA with `extra` options, and the sub-CA is adopted in a new
/// directory with its key. Returns the new CA.
fn sub_ca(root: &Env, name: &str, (key, csr): (&Path, &Path), extra: &[&str]) -> Env {
    let crt = root.path(&format!("{name}.crt"));
    let mut args = vec![
        "sign",
        csr.to_str().unwrap(),
        "--profile",
        "sub-ca",
        "--out",
        crt.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    root.ok(&args);
    let sub = Env::empty();
    sub.ok(&[
        "init",
        "--import-key",
        key.to_str().unwrap(),
        "--import-cert",
        crt.to_str().unwrap(),
    ]);
    sub
}

/// The files `parts` concatenated into a new file `name` of the workspace.
fn concat(env: &Env, name: &str, parts: &[&Path]) -> PathBuf {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend(std::fs::read(p).unwrap());
    }
    write(env, name, &bytes)
}

/// `openssl verify -x509_strict` of `leaf` with `root` trusted and `chain` untrusted, and
/// GnuTLS `certtool --verify` of the same chain.
fn verify_chain(env: &Env, root: &Path, chain: &[&Path], leaf: &Path) -> (bool, bool, String) {
    let untrusted = concat(env, "untrusted.pem", chain);
    let (ossl, log) = openssl(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        root.to_str().unwrap(),
        "-untrusted",
        untrusted.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    let full = concat(env, "full.pem", &[&[leaf], chain].concat());
    let out = std::process::Command::new("certtool")
        .args(["--verify", "--load-ca-certificate"])
        .arg(root)
        .arg("--infile")
        .arg(&full)
        .output()
        .expect("certtool (GnuTLS, apt-get install gnutls-bin) is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let gnutls = out.status.success() && text.contains("Chain verification output: Verified");
    (ossl, gnutls, format!("{log}\n{text}"))
}

/// SUBCA-PROFILE, NC-INIT, NC-GATE: a name-constrained root signs a sub-CA; the sub-CA's
/// certificate says CA:TRUE pathlen 0, keyCertSign+cRLSign, the constraints (critical), SKI
/// and AKI and no EKU; leaves it issues verify with OpenSSL and GnuTLS; names outside the
/// constraints are refused at the gate, byte-identical; a leaf forced past fileca is
/// rejected by openssl verify, so the constraint is really in the certificate.
#[test]
fn a_constrained_root_signs_a_sub_ca_whose_leaves_verify_subca_profile() {
    let root = Env::empty();
    root.ok(&[
        "init",
        "--subject",
        "CN=Lab Root,O=Lab",
        "--path-len",
        "1",
        "--permit",
        "DNS:lab.test",
        "--permit",
        "IP:10.0.0.0/8",
    ]);
    let status = root.status();
    assert_eq!(
        status["name_constraints"],
        serde_json::json!({"permitted": ["DNS:lab.test", "IP:10.0.0.0/8"], "excluded": ["email:(every address)"]})
    );
    assert_eq!(status["path_len"], 1);
    let (int_key, int_csr) = key_and_csr(&root, "int", "/O=Lab/CN=Lab Issuing CA", P256);
    // The root's own gate: a sub-CA may not reach beyond the root's names or depth.
    for (extra, words) in [
        (
            &["--permit", "DNS:example.com"][..],
            "--permit DNS:example.com is not within",
        ),
        (
            &["--permit", "IP:0.0.0.0/0"][..],
            "--permit IP:0.0.0.0/0 is not within",
        ),
        (
            &["--permit", "email:lab.test"][..],
            "--permit email:lab.test is not within",
        ),
        (&["--path-len", "1"][..], "at most 0"),
    ] {
        let mut args = vec!["sign", int_csr.to_str().unwrap(), "--profile", "sub-ca"];
        args.extend_from_slice(extra);
        let err = root.refused(&args, REFUSED);
        assert!(err.contains(words), "{extra:?}: {err}");
    }
    // Usage errors: sub-CA options elsewhere, a URI constraint, --san, a batch, issue.
    let csr = int_csr.to_str().unwrap();
    for args in [
        &["sign", csr, "--permit", "DNS:lab.test"][..],
        &[
            "sign",
            csr,
            "--profile",
            "sub-ca",
            "--permit",
            "URI:.lab.test",
        ],
        &[
            "sign",
            csr,
            "--profile",
            "sub-ca",
            "--permit",
            "DNS:*.lab.test",
        ],
        &[
            "sign",
            csr,
            "--profile",
            "sub-ca",
            "--san",
            "DNS:x.lab.test",
        ],
        &["sign", csr, csr, "--profile", "sub-ca"],
        &["issue", "x.lab.test", "--profile", "sub-ca"],
    ] {
        root.refused(args, USAGE);
    }
    let int = sub_ca(
        &root,
        "int",
        (&int_key, &int_csr),
        &[
            "--permit",
            "DNS:dev.lab.test",
            "--exclude",
            "DNS:secret.dev.lab.test",
        ],
    );
    let int_crt = int.dir.join("ca.crt");
    let text = x509_text(&root, &std::fs::read_to_string(&int_crt).unwrap());
    for want in [
        "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0",
        "X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign",
        "X509v3 Name Constraints: critical",
        "DNS:dev.lab.test",
        "DNS:secret.dev.lab.test",
        "IP:0.0.0.0/0.0.0.0",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "Subject: O = Lab, CN = Lab Issuing CA",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(!text.contains("Extended Key Usage"), "{text}");
    let list: serde_json::Value =
        serde_json::from_slice(&root.ok(&["list", "--json"]).stdout).unwrap();
    assert_eq!(list[0]["profile"], "sub-ca");
    // renew of a sub-CA is the parent's decision again, with its options.
    let serial = list[0]["serial"].as_str().unwrap().to_string();
    let err = root.refused(&["renew", &serial], REFUSED);
    assert!(err.contains("--profile sub-ca"), "{err}");

    // The sub-CA issues within its names only; verifiers accept its leaves.
    let out = int.path("out");
    int.ok(&[
        "issue",
        "web.dev.lab.test",
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let leaf = out.join("web.dev.lab.test/web.dev.lab.test.crt");
    let (ossl, gnutls, log) = verify_chain(&int, &root.dir.join("ca.crt"), &[&int_crt], &leaf);
    assert!(ossl && gnutls, "{log}");
    for (args, words) in [
        (
            &[
                "issue",
                "www.example.com",
                "--out-dir",
                out.to_str().unwrap(),
            ][..],
            "DNS:www.example.com is outside the permitted names of CN=Lab Issuing CA,O=Lab (DNS:dev.lab.test)",
        ),
        (
            &[
                "issue",
                "a.secret.dev.lab.test",
                "--out-dir",
                out.to_str().unwrap(),
            ],
            "inside the excluded DNS:secret.dev.lab.test",
        ),
        (
            &[
                "issue",
                "h",
                "--san",
                "DNS:h.dev.lab.test",
                "--san",
                "IP:10.1.1.1",
                "--out-dir",
                out.to_str().unwrap(),
            ],
            "IP:10.1.1.1 is inside the excluded IP:0.0.0.0/0",
        ),
    ] {
        let err = int.refused(args, REFUSED);
        assert!(err.contains(words), "{err}");
    }
    // A CSR whose CN is outside, and a batch with one outside: refused whole.
    let (_, outside) = key_and_csr(&int, "outside", "/CN=www.example.com", P256);
    let err = int.refused(&["sign", outside.to_str().unwrap()], REFUSED);
    assert!(err.contains("DNS:www.example.com is outside"), "{err}");
    let (_, inside) = key_and_csr(&int, "inside", "/CN=api.dev.lab.test", P256);
    int.refused(
        &["sign", inside.to_str().unwrap(), outside.to_str().unwrap()],
        REFUSED,
    );
    // A pathlen-0 CA signs no sub-CA.
    let err = int.refused(
        &["sign", inside.to_str().unwrap(), "--profile", "sub-ca"],
        REFUSED,
    );
    assert!(err.contains("it may sign no CA certificates"), "{err}");

    // Forced past fileca: openssl signs a leaf for www.example.com with the sub-CA's key;
    // openssl verify rejects it because the constraint is in the sub-CA's certificate.
    let forced = int.path("forced.crt");
    let ext = write(&int, "forced.ext", b"subjectAltName=DNS:www.example.com\n");
    let (ok, log) = openssl(&[
        "x509",
        "-req",
        "-in",
        outside.to_str().unwrap(),
        "-CA",
        int_crt.to_str().unwrap(),
        "-CAkey",
        int_key.to_str().unwrap(),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        forced.to_str().unwrap(),
    ]);
    assert!(ok, "{log}");
    let (ossl, gnutls, log) = verify_chain(&int, &root.dir.join("ca.crt"), &[&int_crt], &forced);
    assert!(!ossl && !gnutls, "{log}");
    assert!(log.contains("subtree violation"), "{log}");

    // renew-ca keeps the constraints byte for byte (NC-RENEW).
    let before = x509_text(&int, &std::fs::read_to_string(&int_crt).unwrap());
    int.ok(&["renew-ca", "--days", "300"]);
    let after = x509_text(&int, &std::fs::read_to_string(&int_crt).unwrap());
    let nc = |t: &str| {
        t[t.find("Name Constraints").unwrap()..]
            .lines()
            .take(8)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(nc(&before), nc(&after));
    root.assert_check_ok();
    int.assert_check_ok();
}

/// `openssl verify -x509_strict -crl_check_all` of `leaf` through `chain` with every CA's CRL.
fn verify_with_crls(env: &Env, root: &Path, chain: &[&Path], crls: &[&Path], leaf: &Path) -> bool {
    let untrusted = concat(env, "untrusted-crl.pem", chain);
    let mut args = vec![
        "verify".to_string(),
        "-x509_strict".into(),
        "-crl_check_all".into(),
        "-CAfile".into(),
        root.display().to_string(),
        "-untrusted".into(),
        untrusted.display().to_string(),
    ];
    for crl in crls {
        args.extend(["-CRLfile".to_string(), crl.display().to_string()]);
    }
    args.push(leaf.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(&args).0
}

/// SUBCA-CHAIN: root (pathlen 2) → intermediate (pathlen 1) → issuing CA (pathlen 0) →
/// leaves, every key type as root, intermediate, issuing CA and leaf at least once across the
/// three chains; OpenSSL and GnuTLS verify them; revocation at both levels below the root is
/// seen by `openssl verify -crl_check_all` with the three CAs' CRLs.
#[test]
fn three_tier_chains_of_every_key_type_verify_and_revoke_subca_chain() {
    for (root_kt, int_alg, issuing_alg, leaf_alg) in [
        ("ed25519", P384, RSA, P256),
        ("rsa-2048", ED25519, P256, RSA),
        ("ecdsa-p384", P256, ED25519, ED25519),
    ] {
        let root = Env::empty();
        root.ok(&[
            "init",
            "--subject",
            "CN=Root",
            "--key-type",
            root_kt,
            "--path-len",
            "2",
        ]);
        let (k, c) = key_and_csr(&root, "int", "/CN=Intermediate", int_alg);
        let int = sub_ca(&root, "int", (&k, &c), &["--path-len", "1"]);
        let (k, c) = key_and_csr(&int, "issuing", "/CN=Issuing", issuing_alg);
        let issuing = sub_ca(&int, "issuing", (&k, &c), &[]);
        let ca = |env: &Env| env.dir.join("ca.crt");
        let leaves: Vec<PathBuf> = ["a", "b"]
            .iter()
            .map(|n| {
                let (_, csr) = key_and_csr(&issuing, n, &format!("/CN={n}.lab.test"), leaf_alg);
                let out = issuing.path(&format!("{n}.crt"));
                issuing.ok(&[
                    "sign",
                    csr.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                ]);
                out
            })
            .collect();
        let chain = [ca(&issuing), ca(&int)];
        let chain: Vec<&Path> = chain.iter().map(PathBuf::as_path).collect();
        for leaf in &leaves {
            let (ossl, gnutls, log) = verify_chain(&root, &ca(&root), &chain, leaf);
            assert!(ossl && gnutls, "{root_kt}: {log}");
        }
        // The issuing CA may sign no further CA; the intermediate's pathlen is below 2.
        let text = x509_text(&root, &std::fs::read_to_string(ca(&int)).unwrap());
        assert!(text.contains("CA:TRUE, pathlen:1"), "{text}");
        let (_, c) = key_and_csr(&issuing, "deeper", "/CN=Deeper", P256);
        issuing.refused(
            &["sign", c.to_str().unwrap(), "--profile", "sub-ca"],
            REFUSED,
        );

        // Revocation: a leaf at the issuing CA, then the issuing CA at the intermediate.
        let serial_of = |p: &Path| {
            openssl(&["x509", "-in", p.to_str().unwrap(), "-noout", "-serial"])
                .1
                .trim()
                .trim_start_matches("serial=")
                .to_string()
        };
        issuing.ok(&["revoke", &serial_of(&leaves[0]), "--crl"]);
        int.ok(&["crl"]);
        root.ok(&["crl"]);
        let crl = |env: &Env| env.dir.join("ca.crl");
        let crls = [crl(&root), crl(&int), crl(&issuing)];
        let crls: Vec<&Path> = crls.iter().map(PathBuf::as_path).collect();
        assert!(
            !verify_with_crls(&root, &ca(&root), &chain, &crls, &leaves[0]),
            "{root_kt}"
        );
        assert!(
            verify_with_crls(&root, &ca(&root), &chain, &crls, &leaves[1]),
            "{root_kt}"
        );
        int.ok(&["revoke", "--cert", ca(&issuing).to_str().unwrap(), "--crl"]);
        assert!(
            !verify_with_crls(&root, &ca(&root), &chain, &crls, &leaves[1]),
            "{root_kt}"
        );
        for env in [&root, &int, &issuing] {
            env.assert_check_ok();
        }
    }
}
