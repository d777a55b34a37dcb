//! Concurrent commands on one directory (SPEC.md LOCK-*): they serialise and never lose or
//! duplicate anything.

use std::collections::HashSet;
use std::process::Stdio;

use crate::harness::*;

#[test]
#[ignore = "full tier: 80 parallel processes"]
fn twenty_parallel_signs_get_twenty_distinct_serials_lock_sign() {
    let env = Env::new();
    let csr_path = csr("p256-default.pem");
    for round in 1..=3 {
        let children: Vec<_> = (0..20)
            .map(|_| {
                env.ca()
                    .args(["sign", csr_path.to_str().unwrap()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut pems = HashSet::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            pems.insert(out.stdout);
        }
        assert_eq!(pems.len(), 20);
        let index = env.index();
        let certs = index["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 20 * round);
        let serials: HashSet<_> = certs
            .iter()
            .map(|c| c["serial"].as_str().unwrap())
            .collect();
        assert_eq!(serials.len(), 20 * round, "duplicate serials");
        assert_eq!(index["generation"], 1 + 20 * round as u64);
        // Every certificate printed is the one recorded.
        for pem in &pems {
            let p = write(&env, "printed.pem", pem);
            let (_, s) = openssl(&["x509", "-in", p.to_str().unwrap(), "-noout", "-serial"]);
            let s = s.trim().trim_start_matches("serial=").to_string();
            assert!(serials.contains(s.as_str()), "{s} not in the index");
        }
        env.assert_check_ok();
    }
    // The same with outputs: twenty parallel `sign --out` into one directory give twenty
    // files, each the certificate the index records under its serial.
    let outdir = env.path("out");
    std::fs::create_dir(&outdir).unwrap();
    let children: Vec<_> = (0..20)
        .map(|i| {
            env.ca()
                .args([
                    "sign",
                    csr_path.to_str().unwrap(),
                    "--out",
                    outdir.join(format!("c{i}.pem")).to_str().unwrap(),
                ])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let found = crate::outputs::certificates_under(&outdir);
    assert_eq!(found.len(), 20);
    crate::outputs::assert_outputs_recorded(&env.dir, &outdir, "parallel --out");
    let distinct: HashSet<_> = found.iter().map(|(_, s, _)| s.clone()).collect();
    assert_eq!(distinct.len(), 20, "duplicate serials among the outputs");
}

#[test]
fn mixed_sign_revoke_crl_and_status_in_parallel_lock_mixed() {
    let env = Env::new();
    let csr_path = csr("ed25519-default.pem");
    let mut serials = Vec::new();
    for _ in 0..10 {
        serials.push(env.sign(&csr_path, &[]).1);
    }
    let mut children = Vec::new();
    for (i, serial) in serials.iter().enumerate() {
        children.push((
            "revoke",
            env.ca()
                .args(["revoke", serial])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        children.push((
            "sign",
            env.ca()
                .args(["sign", csr_path.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        if i % 2 == 0 {
            children.push((
                "crl",
                env.ca()
                    .args(["crl"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
            children.push((
                "status",
                env.ca()
                    .args(["status", "--json"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
        }
    }
    for (what, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = env.status();
    assert_eq!(s["certificates"]["total"], 20);
    assert_eq!(s["certificates"]["revoked"], 10);
    assert_eq!(s["next_crl_number"], "06");
    // 10 signs + 10 revokes + 5 CRLs after the first 10 signs.
    assert_eq!(s["generation"], 1 + 10 + 10 + 10 + 5);
    env.assert_check_ok();
}

#[test]
fn racing_inits_exactly_one_wins_lock_init() {
    for _ in 0..5 {
        let env = Env::empty();
        let children: Vec<_> = (0..6)
            .map(|i| {
                env.ca()
                    .args(["init", "--subject", &format!("CN=Racer {i}")])
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let codes: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap().status.code())
            .collect();
        assert_eq!(
            codes.iter().filter(|c| **c == Some(0)).count(),
            1,
            "{codes:?}"
        );
        assert!(
            codes.iter().all(|c| *c == Some(0) || *c == Some(REFUSED)),
            "{codes:?}"
        );
        env.assert_check_ok();
        let names: Vec<_> = std::fs::read_dir(env.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "leftovers: {names:?}");
    }
}

#[test]
fn a_held_lock_times_out_with_a_clear_message_lock_timeout() {
    let env = Env::new();
    let holder = LockHolder::hold(&env.dir.join(".lock"));
    let err = env.refused(
        &[
            "--lock-timeout",
            "1",
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
        ],
        BUSY,
    );
    assert!(
        err.contains(".lock") && err.contains("--lock-timeout"),
        "{err}"
    );
    holder.release();
    env.ok(&["sign", csr("p256-default.pem").to_str().unwrap()]);
}

/// LOCK-WAIT: a command that has to wait for the lock more than a moment says so once, naming
/// the lock file, then goes on when the holder is done; --quiet says nothing.
#[test]
fn waiting_for_the_lock_is_announced_once_lock_wait() {
    let env = Env::new();
    let lock = env.dir.join(".lock");
    // Announced: the lock is released only once the waiting command has said so.
    let holder = LockHolder::hold(&lock);
    let mut waiter = env
        .ca()
        .arg("status")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(waiter.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut err, &mut first).unwrap();
    assert!(first.contains("waiting for the lock on"), "{first}");
    holder.release();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(waiter.wait().unwrap().success(), "{first}{rest}");
    let all = format!("{first}{rest}");
    assert_eq!(all.matches("waiting for the lock on").count(), 1, "{all}");
    assert!(all.contains(".lock (held by another ca command)"), "{all}");

    // --quiet: held for several announce intervals after the command has opened the lock
    // file (so it is waiting), and nothing is said.
    let holder = LockHolder::hold(&lock);
    let waiter = env
        .ca()
        .args(["--quiet", "status"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_open(waiter.id(), &lock);
    std::thread::sleep(std::time::Duration::from_millis(1500)); // 3 × ANNOUNCE_AFTER
    holder.release();
    let out = waiter.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("waiting for the lock on").count(), 0, "{err}");
}

#[test]
#[ignore = "full tier: real clock: waits for a second to pass"]
fn a_command_that_waited_for_a_renew_ca_judges_the_new_ca_crt_by_a_later_clock_lock_clock() {
    // Real time (no FILECA_NOW): a clock read before the lock, while a renew-ca held it, made
    // sign refuse "ca.crt is not valid before T" (44 of 8,072 runs).
    let env = Env::new();
    let renewed = env.path("renewed");
    let holder = LockHolder::hold(&env.dir.join(".lock"));
    let mut sign = env
        .ca()
        .args(["sign", csr("p256-default.pem").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // sign has read any early clock and is waiting once it says so...
    let mut err = std::io::BufReader::new(sign.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut err, &mut first).unwrap();
    assert!(first.contains("waiting for the lock on"), "{first}");
    // ...then, in a later second (certificates count whole seconds), renew-ca runs on a copy:
    // its ca.crt is not valid before that second. It is put in place while sign waits.
    let second =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let waiting_since = second(std::time::SystemTime::now());
    wait_until(std::time::Duration::from_secs(5), || {
        (second(std::time::SystemTime::now()) > waiting_since).then_some(())
    })
    .unwrap();
    copy_dir(&env.dir, &renewed);
    let out = clean_ca(&renewed).arg("renew-ca").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for entry in std::fs::read_dir(&renewed).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".lock" || entry.file_type().unwrap().is_dir() {
            continue;
        }
        std::fs::copy(entry.path(), env.dir.join(&name)).unwrap();
    }
    holder.release();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let out = sign.wait_with_output().unwrap();
    assert!(out.status.success(), "{first}{rest}");
}
