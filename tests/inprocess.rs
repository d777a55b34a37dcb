//! Fault sweeps run in process (SPEC.md TEST-INPROCESS): every mutating command is run by
//! `fileca::run_with` (a fixed time and random stream) with a fault injected at each of its
//! mutations through the fsio seam (`fsio::fault::inject`) — an EIO, or a crash after
//! which nothing the command does reaches the disk, as `abort@N` leaves it — and recovery
//! is crashed at each of its own mutations too; the next command must then find the
//! directory exactly as it was before or as the fault-free run left it. No process per
//! fault: the sweep of every point of every command takes seconds.

use std::path::{Path, PathBuf};

use clap::Parser;
use fileca::fsio::fault::{self, Fault};

use crate::harness::{IO, Snapshot, UNKNOWN, copy_dir, csr, snapshot};

const FIXED: fileca::Fixed = fileca::Fixed {
    // Within the validity of the CA made below (the same fixed time).
    now: time::macros::datetime!(2026-06-01 12:00 UTC),
    seed: 7,
};

/// Runs `ca --quiet --dir DIR ARGS…` in this process; the exit code (0 on success).
fn ca(dir: &Path, args: &[String]) -> i32 {
    let mut argv: Vec<String> = ["ca", "--quiet", "--dir"].map(String::from).to_vec();
    argv.push(dir.to_str().unwrap().into());
    argv.extend_from_slice(args);
    let cli = fileca::cli::Cli::try_parse_from(&argv).unwrap();
    match fileca::run_with(cli, Some(FIXED)) {
        Ok(code) => code,
        Err(e) => e.exit_code(),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A CA whose every signature is deterministic (Ed25519), with three certificates, one
/// revoked, one on hold, and a CRL: every command below has something to act on.
fn base(root: &Path) -> PathBuf {
    let dir = root.join("base");
    let ok = |args: &[&str]| assert_eq!(ca(&dir, &strings(args)), 0, "{args:?}");
    ok(&[
        "init",
        "--subject",
        "CN=In Process",
        "--key-type",
        "ed25519",
    ]);
    let out = root.join("first.pem");
    for (n, name) in [
        "p256-default.pem",
        "ed25519-default.pem",
        "p384-default.pem",
    ]
    .iter()
    .enumerate()
    {
        let out = root.join(format!("c{n}.pem"));
        ok(&[
            "sign",
            csr(name).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let _ = out;
    let first = serial_of(&root.join("c0.pem"));
    ok(&["revoke", &first, "--reason", "superseded"]);
    let third = serial_of(&root.join("c2.pem"));
    ok(&["revoke", &third, "--reason", "certificateHold"]);
    ok(&["crl", "--out", root.join("base.crl").to_str().unwrap()]);
    dir
}

/// The serial of a PEM certificate file, as fileca prints it.
fn serial_of(pem: &Path) -> String {
    let text = std::fs::read(pem).unwrap();
    let der = pem::parse(&text).unwrap().into_contents();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    cert.raw_serial()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>()
        .trim_start_matches("00")
        .to_string()
}

/// The mutating commands swept, on `base`. Results go to /dev/null: a stream, written after
/// the commit like stdout (OUTPUT-STREAMS), so nothing is journaled outside the directory.
fn commands(root: &Path) -> Vec<(&'static str, Vec<String>)> {
    let second = serial_of(&root.join("c1.pem"));
    let held = serial_of(&root.join("c2.pem"));
    let rsa = csr("rsa2048-default.pem");
    vec![
        (
            "sign",
            strings(&["sign", rsa.to_str().unwrap(), "--out", "/dev/null"]),
        ),
        (
            "revoke",
            strings(&["revoke", &second, "--reason", "keyCompromise"]),
        ),
        (
            "renew",
            strings(&["renew", &second, "--days", "30", "--out", "/dev/null"]),
        ),
        ("crl", strings(&["crl", "--out", "/dev/null"])),
        ("unhold", strings(&["unhold", &held])),
        ("renew-ca", strings(&["renew-ca", "--days", "400"])),
    ]
}

/// Runs `args` on a copy of `base` at `name` with `fault` at `at`: the copy, the exit code and
/// the number of mutations (or reads) the run counted.
fn faulted(
    root: &Path,
    base: &Path,
    name: &str,
    args: &[String],
    fault: Fault,
    at: u64,
) -> (PathBuf, i32, u64) {
    let dir = root.join(name);
    copy_dir(base, &dir);
    let injection = fault::inject(fault, at);
    let code = ca(&dir, args);
    let counted = match fault {
        Fault::ReadError => injection.reads(),
        _ => injection.mutations(),
    };
    drop(injection);
    (dir, code, counted)
}

/// The next command (recovery runs whatever comes next: here `backup`, a read that prints
/// nothing and verifies the whole signed state) leaves exactly `before` or `after` — byte for
/// byte, so `ca check` passes as it does on those two.
fn settles(dir: &Path, before: &Snapshot, after: &Snapshot, what: &str) -> bool {
    let copy = dir.with_extension("bak");
    let code = ca(dir, &backup(&copy));
    assert_eq!(code, 0, "{what}: the next command after the fault");
    std::fs::remove_dir_all(&copy).unwrap();
    let now = snapshot(dir);
    assert!(
        now == *before || now == *after,
        "{what}: the directory is neither before nor after: {}",
        describe(&now, before, after)
    );
    now == *after
}

/// `ca backup DEST`.
fn backup(dest: &Path) -> Vec<String> {
    strings(&["backup", dest.to_str().unwrap()])
}

/// Which files differ from `before` and from `after` (for a failure message).
fn describe(now: &Snapshot, before: &Snapshot, after: &Snapshot) -> String {
    let diff = |other: &Snapshot| -> Vec<String> {
        now.keys()
            .chain(other.keys())
            .filter(|k| now.get(*k) != other.get(*k))
            .cloned()
            .collect()
    };
    format!("vs before {:?}; vs after {:?}", diff(before), diff(after))
}

#[test]
fn every_mutation_of_every_command_crashed_or_failed_in_process_test_inprocess() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let base = base(root);
    let before = snapshot(&base);
    for (name, args) in commands(root) {
        // The fault-free run: the after-state, and how many mutations there are.
        let (reference, code, total) =
            faulted(root, &base, &format!("{name}-ref"), &args, Fault::Error, 0);
        assert_eq!(code, 0, "{name}");
        let after = snapshot(&reference);
        assert_ne!(after, before, "{name} changed nothing");
        assert!(total > 10, "{name}: only {total} mutations");
        // Both outcomes are seen: the sweep crosses the commit point.
        let mut outcomes = std::collections::BTreeSet::new();
        for at in 1..=total {
            for fault in [Fault::Crash, Fault::Error] {
                let tag = format!("{name}-{fault:?}-{at}");
                let (dir, code, _) = faulted(root, &base, &tag, &args, fault, at);
                // An error after the commit point is exit 0 with a warning (committed; the
                // rest is recovery's); before it, a failure that changed nothing.
                assert!(
                    code == 0 || fault == Fault::Crash || code == IO || code == UNKNOWN,
                    "{tag}: exit {code}"
                );
                outcomes.insert(settles(&dir, &before, &after, &tag));
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
        assert_eq!(outcomes.len(), 2, "{name}: only one outcome: {outcomes:?}");
        std::fs::remove_dir_all(&reference).unwrap();
    }
}

#[test]
fn recovery_crashed_at_each_of_its_mutations_in_process_test_inprocess() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let base = base(root);
    let before = snapshot(&base);
    for (name, args) in commands(root) {
        let (reference, _, total) =
            faulted(root, &base, &format!("{name}-ref"), &args, Fault::Error, 0);
        let after = snapshot(&reference);
        // The last crash point that leaves a journal: the command crashed after its commit
        // point, with everything left to recovery.
        let mut left = None;
        for at in (1..=total).rev() {
            let (dir, _, _) = faulted(
                root,
                &base,
                &format!("{name}-probe-{at}"),
                &args,
                Fault::Crash,
                at,
            );
            let journaled = dir.join(".journal").exists();
            std::fs::remove_dir_all(&dir).unwrap();
            if journaled {
                left = Some(at);
                break;
            }
        }
        let at = left.unwrap_or_else(|| panic!("{name}: no crash point leaves a journal"));
        let mut m = 1;
        loop {
            let tag = format!("{name}-rec-{m}");
            let (dir, _, _) = faulted(root, &base, &tag, &args, Fault::Crash, at);
            let recovery = fault::inject(Fault::Crash, m);
            let copy = dir.with_extension("crashed");
            ca(&dir, &backup(&copy));
            let _ = std::fs::remove_dir_all(&copy);
            let done = recovery.mutations() < m;
            drop(recovery);
            settles(&dir, &after, &after, &tag);
            std::fs::remove_dir_all(&dir).unwrap();
            if done {
                break;
            }
            m += 1;
            assert!(m < 200, "{name}: recovery never finished");
        }
        assert!(m > 3, "{name}: recovery made only {m} mutations");
        let _ = &before;
        std::fs::remove_dir_all(&reference).unwrap();
    }
}

#[test]
fn a_failed_read_while_recovering_loses_nothing_in_process_test_inprocess() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let base = base(root);
    let (name, args) = commands(root).remove(1); // revoke: a revocation to lose
    let (reference, _, total) = faulted(root, &base, "ref", &args, Fault::Error, 0);
    let after = snapshot(&reference);
    let mut at = total;
    let crashed = loop {
        let (dir, _, _) = faulted(root, &base, &format!("probe-{at}"), &args, Fault::Crash, at);
        if dir.join(".journal").exists() {
            break dir;
        }
        std::fs::remove_dir_all(&dir).unwrap();
        at -= 1;
    };
    let pending = root.join("pending");
    copy_dir(&crashed, &pending);
    // Count the reads of a recovery, then fail each in turn.
    let copy = |tag: &str| root.join(format!("{tag}.copy"));
    let (probe, _, reads) = faulted(
        root,
        &pending,
        "reads",
        &backup(&copy("reads")),
        Fault::ReadError,
        0,
    );
    std::fs::remove_dir_all(&probe).unwrap();
    std::fs::remove_dir_all(copy("reads")).unwrap();
    assert!(reads > 5, "{name}: only {reads} reads");
    let mut refused = 0;
    for n in 1..=reads {
        let tag = format!("read-{n}");
        let (dir, code, _) = faulted(
            root,
            &pending,
            &tag,
            &backup(&copy(&tag)),
            Fault::ReadError,
            n,
        );
        refused += usize::from(code != 0);
        let _ = std::fs::remove_dir_all(copy(&tag));
        settles(&dir, &after, &after, &tag);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(
        refused > 0,
        "no failed read made the command fail: the fault never bit"
    );
}

/// OCSP-RESPONDER: `ocsp-responder renew` crashed or failed at each of its mutations. Its key
/// is fresh randomness, so the after-state is not byte-comparable: after the next command
/// (`ca check`, which recovers) the directory is exactly as before, or it holds the new pair
/// (ocsp.key 0600, ocsp.crt), one generation on, and `ca check` passes either way.
#[test]
fn ocsp_responder_renew_crashed_or_failed_in_process_test_inprocess() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let base = base(root);
    let before = snapshot(&base);
    let generation = |d: &Path| -> u64 {
        let text = std::fs::read_to_string(d.join("index.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["generation"]
            .as_u64()
            .unwrap()
    };
    let args = strings(&["ocsp-responder", "renew"]);
    let (reference, code, total) = faulted(root, &base, "ocsp-ref", &args, Fault::Error, 0);
    assert_eq!(code, 0);
    assert!(total > 10, "only {total} mutations");
    std::fs::remove_dir_all(&reference).unwrap();
    let mut outcomes = std::collections::BTreeSet::new();
    for at in 1..=total {
        for fault in [Fault::Crash, Fault::Error] {
            let tag = format!("ocsp-{fault:?}-{at}");
            let (dir, code, _) = faulted(root, &base, &tag, &args, fault, at);
            assert!(
                code == 0 || fault == Fault::Crash || code == IO || code == UNKNOWN,
                "{tag}: exit {code}"
            );
            assert_eq!(ca(&dir, &strings(&["check"])), 0, "{tag}: ca check");
            let committed = dir.join("ocsp.key").exists();
            if committed {
                let mode = std::fs::metadata(dir.join("ocsp.key"))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{tag}");
                assert!(dir.join("ocsp.crt").exists(), "{tag}");
                assert_eq!(generation(&dir), generation(&base) + 1, "{tag}");
            } else {
                let now = snapshot(&dir);
                assert!(now == before, "{tag}: {}", describe(&now, &before, &before));
            }
            outcomes.insert(committed);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    assert_eq!(outcomes.len(), 2, "only one outcome: {outcomes:?}");
}
