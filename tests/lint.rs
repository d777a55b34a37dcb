//! pkilint (SPEC.md LINT-PKIX): every certificate and CRL of a two-tier PKI built with fileca
//! — roots, intermediates, leaves of every profile and key type, made by `issue`, `sign` and
//! `renew`, a renewed root — is clean at NOTICE under pkilint's RFC 5280 linters
//! (`lint_pkix_cert`, `lint_pkix_signer_signee_cert_chain`, `lint_crl -p PKIX`), but for the
//! one finding SPEC.md LINT-PKIX accepts.
//!
//! pkilint is a Python package (PyPI): `scripts/test.sh` installs it in a venv and sets
//! `PKILINT` to its `lint_pkix_cert`; without `PKILINT` it is looked up on PATH. When it is
//! missing the test fails saying how to install it (TEST-TOOLS).

use std::path::{Path, PathBuf};

use crate::harness::*;
use crate::hierarchy::{ED25519, P256, P384, RSA, key_and_csr, openssl_signed};

/// fileca's key types with the matching `openssl req -newkey` arguments.
const KEY_TYPES: [(&str, &[&str]); 4] = [
    ("ecdsa-p256", P256),
    ("ecdsa-p384", P384),
    ("ed25519", ED25519),
    ("rsa-2048", RSA),
];
const LEAF_PROFILES: [&str; 3] = ["server", "client", "server-client"];

/// The directory holding pkilint's scripts (`$PKILINT`'s, else the one on PATH); a failure
/// saying how to install it when there is none (TEST-TOOLS).
fn pkilint_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PKILINT").map(PathBuf::from) {
        assert!(p.is_file(), "PKILINT={} is not a file", p.display());
        return p.parent().unwrap().to_path_buf();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(p) = std::env::split_paths(&path)
        .map(|d| d.join("lint_pkix_cert"))
        .find(|p| p.is_file())
    {
        return p.parent().unwrap().to_path_buf();
    }
    panic!(
        "this test needs pkilint's lint_pkix_cert (the PyPI package pkilint==0.13.3; PKILINT is \
         not set and it is not on PATH). scripts/test.sh installs it; by hand: python3 -m venv \
         ~/.cache/fileca-ci/pkilint-0.13.3 && ~/.cache/fileca-ci/pkilint-0.13.3/bin/pip install \
         pkilint==0.13.3, then PKILINT=~/.cache/fileca-ci/pkilint-0.13.3/bin/lint_pkix_cert"
    );
}

/// The finding fileca once accepted (an empty rfc822Name in excludedSubtrees, NC-CLOSED's old
/// "every address"): counted apart so that the test fails if it ever comes back. A closed
/// type is now a permitted subtree under closed.invalid (NC-CLOSE-ENCODING): Java could not
/// parse a certificate with the empty name at all.
fn accepted(node_path: &str, code: &str, message: &str) -> bool {
    code == "pkix.invalid_email_address_syntax"
        && message == "Invalid e-mail address syntax: \"\""
        && node_path.contains(".extnValue.nameConstraints.excludedSubtrees.")
        && node_path.ends_with(".base.rfc822Name")
}

/// What pkilint found at NOTICE or above on `files`: the findings not accepted, and how many
/// were accepted.
struct Findings {
    bad: Vec<String>,
    accepted: usize,
}

impl Findings {
    /// Runs `dir/tool ARGS -s NOTICE -f JSON --document-format PEM FILES` and sorts what it
    /// reports.
    fn lint(&mut self, dir: &Path, tool: &str, args: &[&str], files: &[&Path]) {
        let out = std::process::Command::new(dir.join(tool))
            .arg("lint")
            .args(args)
            .args(["-s", "NOTICE", "-f", "JSON", "--document-format", "PEM"])
            .args(files)
            .output()
            .unwrap();
        let what = format!("{tool} {args:?} {files:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{what}: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let mut found = 0;
        for result in json["results"].as_array().unwrap() {
            let path = result["node_path"].as_str().unwrap();
            for f in result["finding_descriptions"].as_array().unwrap() {
                let code = f["code"].as_str().unwrap();
                let message = f["message"].as_str().unwrap_or_default();
                found += 1;
                if accepted(path, code, message) {
                    self.accepted += 1;
                } else {
                    let severity = f["severity"].as_str().unwrap();
                    self.bad
                        .push(format!("{what}: {path}: {severity} {code} {message}"));
                }
            }
        }
        // pkilint exits 1 exactly when it reports something at the threshold.
        assert_eq!(out.status.success(), found == 0, "{what}: {out:?}");
    }
}

/// LINT-PKIX: for each key type as root (the next one as intermediate), a name-constrained root
/// (pathlen 1) signs a constrained intermediate (pathlen 0; pending, `sign --profile sub-ca`,
/// `install-ca`) and a second sub-CA it then revokes; the intermediate issues (`issue`) and
/// signs (`sign`, an openssl CSR) a leaf of each profile — every key type appears for every
/// profile in both — renews one and revokes one; both publish a CRL; the root is renewed.
/// pkilint lints every certificate, every issuer/subject pair and both CRLs.
#[test]
#[ignore = "full tier: pkilint (PyPI) and certtool (gnutls-bin)"]
fn a_two_tier_pki_is_clean_under_pkilint_lint_pkix() {
    let pkilint = pkilint_dir();
    let mut findings = Findings {
        bad: Vec::new(),
        accepted: 0,
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    for (i, (root_kt, _)) in KEY_TYPES.iter().enumerate() {
        let root = Env::empty();
        root.ok(&[
            "init",
            "--subject",
            "CN=Lint Root,O=Example,C=DE",
            "--key-type",
            root_kt,
            "--path-len",
            "1",
            "--permit",
            "DNS:lab.test",
        ]);
        let root_crt = root.dir.join("ca.crt");
        let int = Env::empty();
        let (int_kt, _) = KEY_TYPES[(i + 1) % KEY_TYPES.len()];
        let (int_csr, int_crt) = (int.path("int.csr"), root.path("int.crt"));
        int.ok(&[
            "init",
            "--subject",
            "CN=Lint Issuing CA,O=Example,C=DE",
            "--key-type",
            int_kt,
            "--csr-out",
            &s(&int_csr),
        ]);
        root.ok(&[
            "sign",
            &s(&int_csr),
            "--profile",
            "sub-ca",
            "--path-len",
            "0",
            "--permit",
            "DNS:lab.test",
            "--exclude",
            "DNS:secret.lab.test",
            "--out",
            &s(&int_crt),
        ]);
        int.ok(&["install-ca", &s(&int_crt), "--chain", &s(&root_crt)]);
        // A second sub-CA, revoked, so that the root's CRL lists a certificate.
        let (_, other_csr) = key_and_csr(&root, "other", "/O=Example/CN=Other CA", P256);
        let other_crt = root.path("other.crt");
        root.ok(&[
            "sign",
            &s(&other_csr),
            "--profile",
            "sub-ca",
            "--out",
            &s(&other_crt),
        ]);
        root.ok(&["revoke", &root.last_serial(), "--reason", "cACompromise"]);

        let mut leaves = Vec::new();
        for (j, profile) in LEAF_PROFILES.iter().enumerate() {
            let (kt, _) = KEY_TYPES[(i + j) % KEY_TYPES.len()];
            let name = format!("{profile}-{kt}.lab.test");
            int.ok(&[
                "issue",
                &name,
                "--profile",
                profile,
                "--key-type",
                kt,
                "--out-dir",
                &s(&int.path("issued")),
            ]);
            leaves.push(int.path(&format!("issued/{name}/{name}.crt")));
            let (kt, alg) = KEY_TYPES[(i + j + 2) % KEY_TYPES.len()];
            let name = format!("signed-{profile}-{kt}.lab.test");
            let (_, csr) = key_and_csr(&int, &name, &format!("/CN={name}"), alg);
            let crt = int.path(&format!("{name}.crt"));
            int.ok(&["sign", &s(&csr), "--profile", profile, "--out", &s(&crt)]);
            leaves.push(crt);
        }
        let renewed = int.ok(&["renew", &int.last_serial()]).stdout;
        leaves.push(write(&int, "renewed.crt", &renewed));
        int.ok(&["revoke", &int.last_serial(), "--reason", "keyCompromise"]);
        int.ok(&["crl"]);
        root.ok(&["crl"]);

        for cert in [&root_crt, &int.dir.join("ca.crt"), &other_crt]
            .into_iter()
            .chain(&leaves)
        {
            findings.lint(&pkilint, "lint_pkix_cert", &[], &[cert]);
        }
        let chain = "lint_pkix_signer_signee_cert_chain";
        findings.lint(&pkilint, chain, &[], &[&root_crt, &int_crt]);
        findings.lint(&pkilint, chain, &[], &[&root_crt, &other_crt]);
        for leaf in &leaves {
            findings.lint(&pkilint, chain, &[], &[&int_crt, leaf]);
        }
        for dir in [&root.dir, &int.dir] {
            let crl_args = ["-t", "CRL", "-p", "PKIX"];
            findings.lint(&pkilint, "lint_crl", &crl_args, &[&dir.join("ca.crl")]);
        }
        // The renewed root: same key and extensions, a new validity.
        root.ok(&["renew-ca"]);
        findings.lint(&pkilint, "lint_pkix_cert", &[], &[&root_crt]);
        findings.lint(&pkilint, chain, &[], &[&root_crt, &int_crt]);
    }
    assert!(
        findings.bad.is_empty(),
        "pkilint findings:\n{}",
        findings.bad.join("\n")
    );
    // No empty rfc822Name any more: a closed type is a permitted subtree under
    // closed.invalid (NC-CLOSE-ENCODING), which pkilint, Java and pyca read.
    assert_eq!(findings.accepted, 0, "an empty rfc822Name is written again");
}

/// LINT-PKIX's accepted finding is no dead letter: under a root made with `--permit
/// DNS:lab.test`, a leaf forced past fileca (signed by openssl with the root's key) verifies
/// with GnuTLS, and the same leaf with an email SAN is rejected: email is closed (once by an
/// empty rfc822Name in excludedSubtrees, now by the permitted subtree closed.invalid,
/// NC-CLOSE-ENCODING).
#[test]
#[ignore = "full tier: pkilint (PyPI) and certtool (gnutls-bin)"]
fn the_empty_rfc822_name_excludes_every_address_for_gnutls_lint_pkix() {
    let root = Env::empty();
    root.ok(&[
        "init",
        "--subject",
        "CN=Lint Root",
        "--permit",
        "DNS:lab.test",
    ]);
    let (ca, ca_key) = (root.dir.join("ca.crt"), root.dir.join("ca.key"));
    let (_, csr) = key_and_csr(&root, "leaf", "/CN=x.lab.test", P256);
    for (name, san, verifies) in [
        ("dns", "DNS:x.lab.test", true),
        ("email", "DNS:x.lab.test,email:a@lab.test", false),
    ] {
        let crt = root.path(&format!("{name}.crt"));
        let ext = format!("subjectAltName={san}");
        openssl_signed(&root, &csr, (&ca, &ca_key), &ext, &crt);
        let out = std::process::Command::new("certtool")
            .args(["--verify", "--load-ca-certificate"])
            .arg(&ca)
            .arg("--infile")
            .arg(&crt)
            .output()
            .expect("certtool (GnuTLS, apt-get install gnutls-bin) is needed for this test");
        let text = String::from_utf8_lossy(&out.stdout);
        let verified = text.contains("Chain verification output: Verified");
        assert_eq!(verified, verifies, "{san}: {text}");
        if !verifies {
            assert!(text.contains("violates the signer's constraints"), "{text}");
        }
    }
}

/// LINT-PKIX for the policy (SPEC.md POLICY-BUILTIN, POLICY-EXT): under a root whose policy
/// puts CDP and AIA (caIssuers, OCSP) into what it issues, a certificate of every built-in
/// profile — for an ECDSA and an RSA key where the key usages differ — and of a policy profile
/// with certificatePolicies and an EKU given as an OID, is clean at NOTICE.
#[test]
#[ignore = "full tier: pkilint (PyPI) and certtool (gnutls-bin)"]
fn a_certificate_of_every_builtin_profile_is_clean_under_pkilint_lint_pkix() {
    let pkilint = pkilint_dir();
    let mut findings = Findings {
        bad: Vec::new(),
        accepted: 0,
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let root = Env::empty();
    root.ok(&[
        "init",
        "--subject",
        "CN=Lint Policy Root,O=Example,C=DE",
        "--crl-url",
        "http://pki.lab.test/root.crl",
        "--ca-issuers-url",
        "http://pki.lab.test/root.crt",
        "--ocsp-url",
        "http://ocsp.lab.test/",
    ]);
    let root_crt = root.dir.join("ca.crt");
    let mut certs: Vec<PathBuf> = Vec::new();
    let profiles: [(&str, &str, &str); 7] = [
        ("server", "/CN=web.lab.test", "DNS:web.lab.test"),
        ("client", "/CN=Alice Client", ""),
        ("server-client", "/CN=node.lab.test", "DNS:node.lab.test"),
        ("code-signing", "/CN=Release Signing/O=Example", ""),
        ("email", "/CN=Alice", "email:alice@lab.test"),
        ("ocsp-signing", "/CN=OCSP Responder", ""),
        ("sub-ca", "/CN=Lint Sub CA/O=Example", ""),
    ];
    for (alg_name, alg) in [("p256", P256), ("rsa", RSA)] {
        for (profile, subj, san) in profiles {
            let name = format!("{profile}-{alg_name}");
            let (_, csr) = key_and_csr(&root, &name, subj, alg);
            let crt = root.path(&format!("{name}.crt"));
            let mut args = vec![
                "sign".to_string(),
                s(&csr),
                "--profile".into(),
                profile.into(),
            ];
            if !san.is_empty() {
                args.extend(["--san".into(), san.into()]);
            }
            args.extend(["--out".into(), s(&crt)]);
            root.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
            certs.push(crt);
        }
    }
    let policy = write(
        &root,
        "policy.toml",
        format!(
            "{}\n[profiles.custom]\nkey_usage = [\"digitalSignature\"]\nextended_key_usage = [\"1.3.6.1.4.1.99999.7.1\", \"clientAuth\"]\npolicies = [\"1.3.6.1.4.1.99999.1\"]\n",
            String::from_utf8(root.ok(&["policy", "show"]).stdout).unwrap()
        )
        .as_bytes(),
    );
    root.ok(&["policy", "apply", &s(&policy)]);
    let (_, csr) = key_and_csr(&root, "custom", "/CN=Custom", P256);
    let crt = root.path("custom.crt");
    root.ok(&["sign", &s(&csr), "--profile", "custom", "--out", &s(&crt)]);
    certs.push(crt);
    for cert in &certs {
        findings.lint(&pkilint, "lint_pkix_cert", &[], &[cert]);
        findings.lint(
            &pkilint,
            "lint_pkix_signer_signee_cert_chain",
            &[],
            &[&root_crt, cert],
        );
    }
    assert!(
        findings.bad.is_empty(),
        "pkilint findings:\n{}",
        findings.bad.join("\n")
    );
    assert_eq!(findings.accepted, 0);
}

/// LINT-PKIX-LIMITS: what pkilint reports on names RFC 5280 and its successors allow is
/// pkilint's limit, listed in SPEC.md with the text that allows them — a wildcard dNSName
/// (RFC 6125 §6.4.3, RFC 9525 §6.3), a single-label dNSName (RFC 5280 §4.2.1.6 only requires
/// the "preferred name syntax" of RFC 1034 §3.5, which a single label meets) and a
/// `spiffe://` URI (RFC 3986, a scheme pkilint does not know). Each such certificate gets
/// exactly those findings and no other.
#[test]
#[ignore = "full tier: pkilint (PyPI) and certtool (gnutls-bin)"]
fn pkilints_findings_on_wildcard_single_label_and_spiffe_names_are_its_own_limits_lint_pkix() {
    let pkilint = pkilint_dir();
    let env = Env::new();
    let out = env.path("o");
    let o = out.to_str().unwrap();
    env.ok(&["issue", "wild", "--san", "DNS:*.lab.test", "--out-dir", o]);
    env.ok(&["issue", "intranet", "--out-dir", o]);
    let policy = write(
        &env,
        "p.toml",
        b"[profiles.mtls]\nextended_key_usage = [\"clientAuth\"]\nsan_types = [\"uri\"]\nallow_uri = [\"spiffe://lab.test/*\"]\n",
    );
    env.ok(&["policy", "apply", policy.to_str().unwrap()]);
    env.ok(&[
        "issue",
        "billing",
        "--profile",
        "mtls",
        "--subject",
        "CN=billing service",
        "--san",
        "URI:spiffe://lab.test/ns/billing",
        "--out-dir",
        o,
    ]);
    let limits: [(&str, &[&str]); 3] = [
        ("wild", &["pkix.invalid_domain_name_syntax"]),
        ("intranet", &["pkix.invalid_domain_name_syntax"]),
        (
            "billing",
            &["pkix.invalid_uri_syntax", "pkix.uri_scheme_not_known"],
        ),
    ];
    for (name, allowed) in limits {
        let mut findings = Findings {
            bad: Vec::new(),
            accepted: 0,
        };
        let crt = out.join(name).join(format!("{name}.crt"));
        findings.lint(&pkilint, "lint_pkix_cert", &[], &[&crt]);
        let other: Vec<&String> = findings
            .bad
            .iter()
            .filter(|f| !allowed.iter().any(|code| f.contains(&format!(" {code} "))))
            .collect();
        assert!(other.is_empty(), "{name}: {other:#?}");
    }
}
