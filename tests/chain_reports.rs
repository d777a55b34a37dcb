//! What the read commands report about a hierarchy. VERIFY-PATH, VERIFY-ABOVE: in a sub-CA,
//! `ca verify` checks and shows the path from the certificate to the root through ca.crt and
//! chain.pem — each link signs the one below it, is valid now, and the last is self-signed —
//! and a broken or expired link is the verdict `path-broken` (exit 17); chain.pem's own
//! certificates are `above-this-ca` (exit 16). LIST-CA, SHOW-CA: `list --json` and `show`
//! give a sub-CA's row its parent and depth.

use std::path::Path;

use crate::harness::*;
use crate::hierarchy::{key_and_csr, openssl_signed, run_ok};

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// `ca verify FILE --json` at `dir` (pinned time): (exit code, report).
fn verify_json(dir: &Path, file: &Path) -> (i32, serde_json::Value) {
    let out = ca_at(dir)
        .args(["verify", &s(file), "--json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out.status.code().unwrap(), v)
}

/// `ca verify FILE --json` at `dir` gives `verdict` (exit `code`), its detail saying `says`.
#[track_caller]
fn expect(dir: &Path, file: &Path, (code, verdict): (i32, &str), says: &str) -> serde_json::Value {
    let (got, v) = verify_json(dir, file);
    assert_eq!((got, v["verdict"].as_str()), (code, Some(verdict)), "{v}");
    assert!(v["detail"].as_str().unwrap().contains(says), "{v}");
    v
}

/// The subjects of a report's path.
fn path_subjects(v: &serde_json::Value) -> Vec<String> {
    v["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["subject"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn verify_follows_chain_pem_to_the_root_verify_path() {
    let work = tempfile::tempdir().unwrap();
    let at = |n: &str| work.path().join(n);
    // root → Int (pathlen 1) → Issuing (pathlen 0) → leaf.
    run_ok(&at("root"), &["init", "--subject", "CN=Root"]);
    run_ok(
        &at("int"),
        &[
            "init",
            "--subject",
            "CN=Int",
            "--parent",
            &s(&at("root")),
            "--path-len",
            "1",
        ],
    );
    let iss = at("iss");
    run_ok(
        &iss,
        &[
            "init",
            "--subject",
            "CN=Issuing",
            "--parent",
            &s(&at("int")),
        ],
    );
    run_ok(&iss, &["issue", "web.test", "--out-dir", &s(&at("pairs"))]);
    let leaf = at("pairs/web.test/web.test.crt");

    // A leaf: valid, and the path ca.crt → chain.pem's two, every link holding.
    let (code, v) = verify_json(&iss, &leaf);
    assert_eq!((code, v["verdict"].as_str()), (0, Some("valid")), "{v}");
    assert_eq!(path_subjects(&v), ["CN=Issuing", "CN=Int", "CN=Root"]);
    let files: Vec<&str> = v["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["ca.crt", "chain.pem", "chain.pem"]);
    assert!(
        v["path"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["problem"].is_null()),
        "{v}"
    );
    let text = ca_at(&iss).args(["verify", &s(&leaf)]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.matches("  issued by ").count(), 3, "{text}");
    assert!(text.contains("issued by CN=Root (chain.pem"), "{text}");

    // VERIFY-ABOVE: chain.pem's certificates are CAs above this one, not foreign ones.
    let above = (16, "above-this-ca");
    let v = expect(&iss, &at("int/ca.crt"), above, "the parent of this CA");
    assert_eq!(path_subjects(&v), ["CN=Root"]);
    let v = expect(&iss, &at("root/ca.crt"), above, "the root above this CA");
    assert_eq!(path_subjects(&v), Vec::<String>::new());
    // This CA's own certificate: its path is chain.pem.
    let (code, v) = verify_json(&iss, &iss.join("ca.crt"));
    assert_eq!((code, v["verdict"].as_str()), (15, Some("this-ca")), "{v}");
    assert_eq!(path_subjects(&v), ["CN=Int", "CN=Root"]);
    // A root's leaf: the path is ca.crt alone.
    run_ok(
        &at("root"),
        &["issue", "r.test", "--out-dir", &s(&at("pairs"))],
    );
    let (code, v) = verify_json(&at("root"), &at("pairs/r.test/r.test.crt"));
    assert_eq!(code, 0, "{v}");
    assert_eq!(path_subjects(&v), ["CN=Root"]);

    // A chain.pem whose root is another CA of the same name, put in place by hand: it is not
    // the chain.pem the signed checkpoint records, so verify answers nothing from it
    // (VERIFIED-READ, exit 5) and check reports it. (A broken link verify reports as
    // path-broken: an_expired_link_is_a_broken_path_verify_path.)
    let broken = at("broken");
    copy_dir(&iss, &broken);
    run_ok(&at("other"), &["init", "--subject", "CN=Root"]);
    let chain = std::fs::read_to_string(broken.join("chain.pem")).unwrap();
    let int_pem = &chain[..chain.find("-----END CERTIFICATE-----").unwrap() + 26];
    let other_root = std::fs::read_to_string(at("other/ca.crt")).unwrap();
    std::fs::write(broken.join("chain.pem"), format!("{int_pem}{other_root}")).unwrap();
    for args in [
        vec!["verify", &s(&leaf)],
        vec!["verify", &s(&leaf), "--json"],
    ] {
        let out = ca_at(&broken).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {err}");
        assert!(out.stdout.is_empty() && err.contains("chain.pem"), "{err}");
    }
    assert!(
        !ca_at(&broken)
            .arg("check")
            .output()
            .unwrap()
            .status
            .success()
    );
}

/// An expired link under a leaf that is still valid: a root made by openssl for 2 days above
/// an intermediate valid for 30 — path-broken once the root has expired.
#[test]
fn an_expired_link_is_a_broken_path_verify_path() {
    let env = Env::empty();
    let (root_key, root) = (env.path("root.key"), env.path("root.crt"));
    openssl_self_signed(
        &root_key,
        &root,
        "/CN=Short Root",
        &[
            "-days",
            "2",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let int_csr = env.path("int.csr");
    env.ok(&["init", "--subject", "CN=Int", "--csr-out", &s(&int_csr)]);
    let int = env.path("int.crt");
    openssl_signed(
        &env,
        &int_csr,
        (&root, &root_key),
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid",
        &int,
    );
    env.ok(&["install-ca", &s(&int), "--chain", &s(&root)]);
    let (_, csr) = key_and_csr(&env, "leaf", "/CN=leaf.test", crate::hierarchy::P256);
    let leaf = env.path("leaf.crt");
    env.ok(&["sign", &s(&csr), "--days", "10", "--out", &s(&leaf)]);
    let in_5_days = (time::OffsetDateTime::now_utc() + time::Duration::days(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let run = |now: Option<&str>| {
        let mut c = env.ca();
        c.args(["verify", &s(&leaf), "--json"]);
        if let Some(n) = now {
            c.env("FILECA_NOW", n);
        }
        let out = c.output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), v)
    };
    let (code, v) = run(None);
    assert_eq!(code, 0, "{v}");
    let (code, v) = run(Some(&in_5_days));
    assert_eq!(
        (code, v["verdict"].as_str()),
        (17, Some("path-broken")),
        "{v}"
    );
    assert!(
        v["path"][1]["problem"]
            .as_str()
            .unwrap()
            .starts_with("expired on"),
        "{v}"
    );
    assert!(v["path"][0]["problem"].is_null(), "{v}");
}

/// LIST-CA, SHOW-CA: a row of profile `sub-ca` names its parent (this CA) and its depth (this
/// CA's + 1, as `status` of the sub-CA shows it); other rows have both null.
#[test]
fn list_and_show_give_a_sub_ca_its_parent_and_depth_list_ca() {
    let work = tempfile::tempdir().unwrap();
    let at = |n: &str| work.path().join(n);
    let (root, int) = (at("root"), at("int"));
    run_ok(&root, &["init", "--subject", "CN=Root"]);
    run_ok(
        &int,
        &[
            "init",
            "--subject",
            "CN=Int",
            "--parent",
            &s(&root),
            "--path-len",
            "1",
        ],
    );
    run_ok(
        &at("iss"),
        &["init", "--subject", "CN=Issuing", "--parent", &s(&int)],
    );
    run_ok(
        &root,
        &["issue", "leaf.test", "--out-dir", &s(&at("pairs"))],
    );
    let list = |dir: &Path| -> Vec<serde_json::Value> {
        let out = run_ok(dir, &["list", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let status_depth = |dir: &Path| -> u64 {
        let out = run_ok(dir, &["status", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["depth"]
            .as_u64()
            .unwrap()
    };
    for (dir, below, parent) in [(&root, &int, "CN=Root"), (&int, &at("iss"), "CN=Int")] {
        for row in list(dir) {
            crate::operator::assert_schema(&row, "list.json");
            if row["profile"] == "sub-ca" {
                assert_eq!(row["parent"], parent, "{row}");
                assert_eq!(row["depth"].as_u64(), Some(status_depth(below)), "{row}");
                assert_eq!(row["depth"].as_u64(), Some(status_depth(dir) + 1), "{row}");
                let serial = row["serial"].as_str().unwrap();
                let out = run_ok(dir, &["show", serial, "--json"]);
                let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(
                    (&shown["parent"], &shown["depth"]),
                    (&row["parent"], &row["depth"])
                );
                let text = String::from_utf8(run_ok(dir, &["show", serial]).stdout).unwrap();
                assert!(
                    text.contains(&format!("parent:        {parent}\n")),
                    "{text}"
                );
                assert!(
                    text.contains(&format!("depth:         {}\n", row["depth"])),
                    "{text}"
                );
            } else {
                assert!(row["parent"].is_null() && row["depth"].is_null(), "{row}");
                let serial = row["serial"].as_str().unwrap();
                let text = String::from_utf8(run_ok(dir, &["show", serial]).stdout).unwrap();
                assert!(
                    !text.contains("parent:") && !text.contains("depth:"),
                    "{text}"
                );
            }
        }
    }
    assert_eq!(list(&root).len(), 2);
}
