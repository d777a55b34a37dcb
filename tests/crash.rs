//! Crash sweeps and a SIGKILL campaign (SPEC.md COMMIT-CRASH): the process aborts at the N-th
//! mutation (no destructors, no cleanup); the next command must see exactly the before- or
//! the after-state, and `ca check` must pass. Crashes during recovery itself are included.

use std::time::Duration;

use crate::harness::*;

#[test]
#[ignore = "full tier: kill loop / abort at every mutation, one process per fault point"]
fn crash_at_every_mutation_recovers_to_before_or_after_crash_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let before = snapshot(&base);
    for Sweep {
        name,
        args,
        trace,
        after,
        commit,
    } in sweeps(tmp.path(), &base)
    {
        for n in 1..=trace.len() {
            let (dir, out) = run_with_fault(
                tmp.path(),
                &base,
                &format!("{name}-{n}"),
                &args,
                &format!("abort@{n}"),
            );
            assert!(!out.status.success(), "{name} abort@{n} did not crash");
            // The next command, of any kind, recovers before it reads.
            let status = ca_at(&dir).arg("status").output().unwrap();
            assert!(
                status.status.success(),
                "{name} abort@{n}: {}",
                String::from_utf8_lossy(&status.stderr)
            );
            if n <= commit {
                assert_unchanged(&before, &snapshot(&dir));
            } else {
                assert_unchanged(&after, &snapshot(&dir));
            }
            let check = ca_at(&dir).arg("check").output().unwrap();
            assert!(
                check.status.success(),
                "{name} abort@{n}: {}",
                String::from_utf8_lossy(&check.stdout)
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

#[test]
#[ignore = "full tier: kill loop / abort at every mutation, one process per fault point"]
fn crash_during_recovery_still_recovers_crash_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    for Sweep {
        name,
        args,
        after,
        commit,
        ..
    } in sweeps(tmp.path(), &base)
    {
        // Crash right after the commit point, leaving every rename to recovery; then crash
        // recovery itself at each of its mutations in turn.
        let n = commit + 1;
        let mut m = 1;
        loop {
            let (dir, out) = run_with_fault(
                tmp.path(),
                &base,
                &format!("{name}-r{m}"),
                &args,
                &format!("abort@{n}"),
            );
            assert!(!out.status.success());
            assert!(
                dir.join(".journal").exists(),
                "{name}: crash after the commit point leaves the journal"
            );
            let first = ca_at(&dir)
                .arg("status")
                .env("FILECA_FAULT", format!("abort@{m}"))
                .output()
                .unwrap();
            let again = ca_at(&dir).arg("status").output().unwrap();
            assert!(
                again.status.success(),
                "{name} recovery abort@{m}: {}",
                String::from_utf8_lossy(&again.stderr)
            );
            assert_unchanged(&after, &snapshot(&dir));
            assert!(ca_at(&dir).arg("check").output().unwrap().status.success());
            std::fs::remove_dir_all(&dir).unwrap();
            if first.status.success() {
                break; // recovery finished before the m-th mutation: every point was covered
            }
            m += 1;
            assert!(m < 100, "recovery never finished");
        }
        assert!(m > 3, "{name}: recovery performed only {m} mutations");
    }
}

#[test]
#[ignore = "full tier: kill loop / abort at every mutation, one process per fault point"]
fn crash_at_every_mutation_of_init_leaves_no_half_ca_crash_init() {
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["init", "--subject", "CN=Sweep"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let trace = trace_mutations(&tmp.path().join("probe"), &args);
    for n in 1..=trace.len() {
        let parent = tmp.path().join(format!("p{n}"));
        std::fs::create_dir(&parent).unwrap();
        let dir = parent.join("pki");
        let out = ca_at(&dir)
            .args(&args)
            .env("FILECA_FAULT", format!("abort@{n}"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        if dir.exists() {
            // Past the rename: a complete CA.
            assert!(
                ca_at(&dir).arg("check").output().unwrap().status.success(),
                "init abort@{n}"
            );
        } else {
            // Before it: no CA; the next init cleans up the abandoned staging directory.
            let out = ca_at(&dir).args(&args).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let names: Vec<_> = std::fs::read_dir(&parent)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names,
                vec![std::ffi::OsString::from("pki")],
                "init abort@{n}"
            );
        }
    }
}

#[test]
#[ignore = "full tier: kill loop / abort at every mutation, one process per fault point"]
fn sigkill_campaign_200_signs_crash_sigkill() {
    let env = Env::new();
    let csr_path = csr("p256-default.pem");
    let outdir = env.path("issued");
    std::fs::create_dir(&outdir).unwrap();
    // Kill delays spread over one uncontended sign's duration on this machine, so the kills
    // land throughout the run however fast or loaded the machine is.
    let start = std::time::Instant::now();
    env.ok(&["sign", csr_path.to_str().unwrap()]);
    let span = start.elapsed().as_micros() as u64 + 1;
    // A tiny deterministic generator for the kill delays (no extra crate).
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut issued_before;
    let mut killed_mid = 0;
    for i in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % span);
        issued_before = env.index()["certificates"].as_array().unwrap().len();
        let target = outdir.join(format!("c{i}.pem"));
        let mut child = env
            .ca()
            .args([
                "sign",
                csr_path.to_str().unwrap(),
                "--out",
                target.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid += 1;
        }
        let out = env.run(&["check"]);
        assert!(
            out.status.success(),
            "kill {i} after {delay:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let issued = env.index()["certificates"].as_array().unwrap().len();
        assert!(
            issued == issued_before || issued == issued_before + 1,
            "kill {i}"
        );
        if status.success() {
            assert_eq!(
                issued,
                issued_before + 1,
                "a reported success is durable (kill {i})"
            );
        }
        // The output goes with the certificate: never an unrecorded one; a recorded one
        // that the killed command did not deliver is reported (recovery writes nothing
        // outside the state directory: RECOVER-INSIDE) and listed by `ca check`.
        if target.exists() {
            assert_eq!(issued, issued_before + 1, "kill {i}: an unrecorded output");
        } else if issued == issued_before + 1 {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("undelivered:") && text.contains(&target.display().to_string()),
                "kill {i} after {delay:?}: issued, not delivered, not reported: {text}"
            );
        }
        crate::outputs::assert_outputs_recorded(&env.dir, &outdir, &format!("kill {i}"));
    }
    // What the campaign proves is asserted after every kill above; this only guards against
    // a campaign that killed nothing (every sign finished before its kill) and so proved
    // nothing.
    assert!(
        killed_mid > 0,
        "none of 200 signs was killed before finishing (one took {span} µs)"
    );
}
