//! Batch signing (SPEC.md BATCH-*): many CSRs, one all-or-nothing commit.

use crate::harness::*;

fn csr_dir(env: &Env, names: &[&str]) -> std::path::PathBuf {
    let dir = env.path("requests");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, n) in names.iter().enumerate() {
        let from = match n.strip_prefix("bad:") {
            Some(b) => bad_csr(b),
            None => csr(n),
        };
        std::fs::copy(from, dir.join(format!("r{i:02}.pem"))).unwrap();
    }
    dir
}

fn bad_csr(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/csr")
        .join(name)
}

#[test]
fn a_directory_of_csrs_is_issued_in_one_commit_batch_sign() {
    let env = Env::new();
    let dir = csr_dir(
        &env,
        &[
            "p256-default.pem",
            "rsa2048-default.pem",
            "ed25519-default.pem",
        ],
    );
    let out = env.path("issued");
    std::fs::create_dir(&out).unwrap();
    let g = env.status()["generation"].as_u64().unwrap();
    env.ok(&[
        "sign",
        dir.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let s = env.status();
    assert_eq!(s["generation"].as_u64().unwrap(), g + 1, "one commit");
    assert_eq!(s["certificates"]["total"], 3);
    for i in 0..3 {
        let pem = std::fs::read_to_string(out.join(format!("r{i:02}.crt"))).unwrap();
        assert!(verify(&env, &pem, false).0);
    }
    let audit = std::fs::read_to_string(env.dir.join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["serials"].as_array().unwrap().len(), 3);
    env.assert_check_ok();
}

#[test]
fn one_bad_csr_fails_the_whole_batch_and_every_bad_one_is_named_batch_atomic() {
    let env = Env::new();
    let dir = csr_dir(
        &env,
        &[
            "p256-default.pem",
            "bad:rsa2048-sha1.pem",
            "p384-default.pem",
            "bad:rsa1024-default.pem",
        ],
    );
    let out = env.path("issued");
    std::fs::create_dir(&out).unwrap();
    let err = env.refused(
        &[
            "sign",
            dir.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ],
        REFUSED,
    );
    assert!(err.contains("2 of 4 CSRs refused"), "{err}");
    assert!(err.contains("r01.pem") && err.contains("SHA-1"), "{err}");
    assert!(err.contains("r03.pem") && err.contains("1024"), "{err}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn from_list_and_several_files_batch_sign() {
    let env = Env::new();
    let list = write(
        &env,
        "list.txt",
        format!(
            "# requests\n{}\n\n{}\n",
            csr("p256-default.pem").display(),
            csr("p384-default.pem").display()
        )
        .as_bytes(),
    );
    let out = env.ok(&[
        "sign",
        "--from-list",
        list.to_str().unwrap(),
        csr("ed25519-default.pem").to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("BEGIN CERTIFICATE")
            .count(),
        3
    );
    assert_eq!(env.status()["certificates"]["total"], 3);
    env.refused(
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            csr("p384-default.pem").to_str().unwrap(),
            "--san",
            "DNS:x.example",
        ],
        REFUSED,
    );
    let dup = env.path("dup");
    std::fs::create_dir(&dup).unwrap();
    env.refused(
        &[
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            csr("p256-default.pem").to_str().unwrap(),
            "--out-dir",
            dup.to_str().unwrap(),
        ],
        REFUSED,
    );
}

#[test]
#[ignore = "full tier: an I/O error at every mutation, one process per fault point"]
fn io_error_at_every_mutation_of_a_batch_leaves_before_or_after_batch_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let reqs = tmp.path().join("reqs");
    std::fs::create_dir(&reqs).unwrap();
    for i in 0..10 {
        std::fs::copy(csr("ed25519-default.pem"), reqs.join(format!("r{i}.pem"))).unwrap();
    }
    let args: Vec<String> = vec!["sign".into(), reqs.to_str().unwrap().into()];
    let reference = tmp.path().join("ref");
    copy_dir(&base, &reference);
    let trace = trace_mutations(&reference, &args);
    // No syncfs: every staged certificate is flushed through its own descriptor.
    assert!(
        !trace.iter().any(|l| l.contains(" SyncFs ")),
        "a batch uses no syncfs: {trace:?}"
    );
    let fsyncs = trace.iter().filter(|l| l.contains(" Fsync ")).count();
    assert!(fsyncs >= 10, "each certificate is fsynced: {trace:?}");
    let after = snapshot(&reference);
    let before = snapshot(&base);
    let commit = commit_point(&trace);
    for n in 1..=trace.len() {
        for fault in ["error", "abort"] {
            let (dir, _) = run_with_fault(
                tmp.path(),
                &base,
                &format!("{fault}-{n}"),
                &args,
                &format!("{fault}@{n}"),
            );
            assert!(ca_at(&dir).arg("status").output().unwrap().status.success());
            // An error at or before the journal's chmod (commit + 1) is a clean failure; a
            // failed fsync at the commit point is "outcome unknown" (exit 9), which the next
            // command settles by rolling forward.
            if n <= commit + usize::from(fault == "error") {
                assert_unchanged(&before, &snapshot(&dir));
            } else {
                assert_unchanged(&after, &snapshot(&dir));
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

#[test]
fn a_large_batch_is_checked_and_signed_in_parallel_in_order_batch_parallel() {
    // 100 CSRs take the multi-core path of the gate and of signing (64 or more).
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let reqs = tmp.path().join("reqs");
    std::fs::create_dir(&reqs).unwrap();
    let kinds = [
        "p256-default.pem",
        "ed25519-default.pem",
        "p384-default.pem",
    ];
    for i in 0..100 {
        std::fs::copy(csr(kinds[i % 3]), reqs.join(format!("r{i:03}.pem"))).unwrap();
    }
    let out = tmp.path().join("issued");
    let run = ca_at(&dir)
        .args([
            "sign",
            reqs.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let index = read_index(&dir);
    let certs = index["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 102);
    // Serials count up in the order of the inputs, and each output is its certificate.
    let found = crate::outputs::certificates_under(&out);
    assert_eq!(found.len(), 100);
    for (i, c) in certs[2..].iter().enumerate() {
        let serial = c["serial"].as_str().unwrap();
        let file = out.join(format!("r{i:03}.crt"));
        let (_, s, _) = found.iter().find(|(p, _, _)| *p == file).unwrap();
        assert_eq!(s, serial, "{}", file.display());
        assert_eq!(
            std::fs::read(&file).unwrap(),
            std::fs::read(dir.join(format!("certs/{serial}.pem"))).unwrap()
        );
    }
    assert!(ca_at(&dir).arg("check").output().unwrap().status.success());
    // One bad CSR among 100 refuses the whole batch, naming it; nothing changes.
    let before = snapshot(&dir);
    std::fs::write(reqs.join("r050.pem"), "not a CSR").unwrap();
    let run = ca_at(&dir)
        .args(["sign", reqs.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(REFUSED));
    assert!(String::from_utf8_lossy(&run.stderr).contains("r050.pem"));
    assert_unchanged(&before, &snapshot(&dir));
}
