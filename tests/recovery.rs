//! Recovery that cannot be steered or fooled (SPEC.md RECOVER-INSIDE, RECOVER-OWNER,
//! RECOVER-SIGNED, RECOVER-NO-GUESS, RECOVER-UNDELIVERED): a journal is acted on only if it is
//! the owner's 0600 regular file; recovery creates, replaces or removes nothing outside the
//! state directory; what a planted journal renames into place is refused by the signed
//! checkpoint; an I/O error while recovering decides nothing (exit 4, the journal kept), and
//! no failed or killed recovery leaves a state that is neither before nor after.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

/// A journal's text with its checksum line.
fn journal_text(journal: &serde_json::Value) -> String {
    let body = format!("{journal}\n");
    format!("{body}sha256 {}\n", fileca::hex::sha256(body.as_bytes()))
}

/// Writes `.journal` as fileca would (0600, the running user's).
fn plant(dir: &Path, journal: &serde_json::Value) {
    let path = dir.join(".journal");
    std::fs::write(&path, journal_text(journal)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn sha(bytes: &[u8]) -> String {
    fileca::hex::sha256(bytes)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `ca ARGS` in `dir` with a read fault (`FILECA_READ_FAULT=N`, debug builds).
fn with_read_fault(dir: &Path, args: &[&str], n: usize) -> Output {
    ca_at(dir)
        .args(args)
        .env("FILECA_READ_FAULT", n.to_string())
        .output()
        .unwrap()
}

/// How many reads (opens and lstats through the seam) `ca ARGS` makes in `dir`: run on a copy.
fn count_reads(root: &Path, dir: &Path, args: &[&str]) -> usize {
    let probe = root.join("read-probe");
    let _ = std::fs::remove_dir_all(&probe);
    copy_dir(dir, &probe);
    let out = ca_at(&probe)
        .args(args)
        .env("FILECA_READ_TRACE", "1")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&probe).unwrap();
    stderr(&out)
        .lines()
        .filter(|l| l.starts_with("fileca-read "))
        .count()
}

/// The state directory's snapshot without what recovery records for `ca check`
/// (`.undelivered`) and without the lock.
fn state_of(dir: &Path) -> Snapshot {
    let mut s = snapshot(dir);
    s.remove(".undelivered");
    s.remove(".lock");
    s
}

/// `ca issue` generates a new key each run, so its certificate (and the index lines and
/// checkpoint over it) differ between runs, as does the ca.key `passwd` encrypts: those are
/// compared by name and mode, everything else by content.
fn comparable(s: &Snapshot, name: &str) -> Snapshot {
    let issue = name.starts_with("issue");
    if !issue && name != "passwd" {
        return s.clone();
    }
    s.iter()
        .map(|(k, (mode, v))| {
            // passwd encrypts ca.key under a random salt and IV.
            let varies = (issue
                && (k.starts_with("certs/") || k == "index.json" || k == "index.log"))
                || (name == "passwd" && k == "ca.key");
            (k.clone(), (*mode, if varies { None } else { v.clone() }))
        })
        .collect()
}

/// The first differences between two snapshots, for messages.
fn differences(a: &Snapshot, b: &Snapshot) -> String {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("missing {k}")),
            Some(w) if w != v => out.push(format!("differs {k}")),
            _ => {}
        }
    }
    out.extend(
        b.keys()
            .filter(|k| !a.contains_key(*k))
            .map(|k| format!("extra {k}")),
    );
    out.join(", ")
}

#[track_caller]
fn assert_state(now: &Snapshot, expected: &Snapshot, what: &str) {
    assert!(now == expected, "{what}: {}", differences(expected, now));
}

#[test]
fn a_planted_journal_writes_nothing_outside_the_state_directory_recover_inside() {
    let env = Env::new();
    let home = env.path("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".profile"), "the owner's profile\n").unwrap();
    let ca_crt = std::fs::read(env.dir.join("ca.crt")).unwrap();
    let suffix = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIattacker attacker@evil\n";
    let mut appended = ca_crt.clone();
    appended.extend_from_slice(suffix.as_bytes());
    // The review's journal: ~/.ssh/authorized_keys with the attacker's key as a suffix, and
    // ~/.profile replaced under "force" with the hash of what is there now.
    plant(
        &env.dir,
        &serde_json::json!({
            "format": 2, "operation": "sign", "generation_before": 1, "generation_after": 1,
            "id": "00ff",
            "outputs": [
                {"dir": "../home/.ssh", "name": "authorized_keys", "source": "ca.crt",
                 "suffix": suffix, "sha256": sha(&appended)},
                {"dir": "../home", "name": ".profile", "source": "ca.crt",
                 "sha256": sha(&ca_crt), "force": true,
                 "replaces": sha(b"the owner's profile\n")},
            ],
        }),
    );
    let before_home = snapshot(&home);
    let out = env.run(&["status"]);
    let err = stderr(&out);
    assert!(out.status.success(), "its own exit code: {err}");
    assert_unchanged(&before_home, &snapshot(&home));
    assert!(err.contains("was not written to"), "{err}");
    assert!(err.contains("authorized_keys"), "{err}");
    assert!(!env.dir.join(".journal").exists());
    // check lists what was not delivered, without calling it a problem of the state...
    let out = env.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("undelivered:") && text.contains("authorized_keys"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&env.run(&["check", "--json"]).stdout).unwrap();
    assert_eq!(json["undelivered"].as_array().unwrap().len(), 2, "{json}");
    // ...until the next change.
    env.ok(&["crl"]);
    let text = String::from_utf8_lossy(&env.run(&["check"]).stdout).into_owned();
    assert!(!text.contains("undelivered"), "{text}");
    assert!(!env.dir.join(".undelivered").exists());
    assert_unchanged(&before_home, &snapshot(&home));
}

#[test]
fn only_the_owners_0600_journal_is_acted_on_recover_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    // A genuine journal: sign killed right after its commit point.
    let args: Vec<String> = vec![
        "sign".into(),
        csr("p256-default.pem").to_str().unwrap().into(),
    ];
    let reference = tmp.path().join("reference");
    copy_dir(&base, &reference);
    let trace = trace_mutations(&reference, &args);
    let after = state_of(&reference);
    let killed = tmp.path().join("killed");
    copy_dir(&base, &killed);
    let out = ca_at(&killed)
        .args(&args)
        .env(
            "FILECA_FAULT",
            format!("abort@{}", first_after_commit(&trace)),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let journal = std::fs::read(killed.join(".journal")).unwrap();
    type Spoil = Box<dyn Fn(&Path)>;
    let variants: Vec<(&str, Spoil)> = vec![
        (
            "mode 0644",
            Box::new(|d: &Path| {
                std::fs::set_permissions(d.join(".journal"), std::fs::Permissions::from_mode(0o644))
                    .unwrap()
            }),
        ),
        (
            "a symbolic link",
            Box::new(|d: &Path| {
                let real = d.parent().unwrap().join(format!(
                    "real-journal-{}",
                    d.file_name().unwrap().to_string_lossy()
                ));
                std::fs::rename(d.join(".journal"), &real).unwrap();
                std::os::unix::fs::symlink(&real, d.join(".journal")).unwrap();
            }),
        ),
        (
            "a FIFO",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join(".journal")).unwrap();
                let st = std::process::Command::new("mkfifo")
                    .args(["-m", "600"])
                    .arg(d.join(".journal"))
                    .status()
                    .unwrap();
                assert!(st.success());
            }),
        ),
        (
            "another user's",
            Box::new(|d: &Path| {
                if is_root() {
                    std::os::unix::fs::chown(d.join(".journal"), Some(65534), Some(65534)).unwrap();
                } else {
                    // Without root, a journal of another user cannot be made: a 0640 one
                    // stands in (refused by the same check).
                    std::fs::set_permissions(
                        d.join(".journal"),
                        std::fs::Permissions::from_mode(0o640),
                    )
                    .unwrap();
                }
            }),
        ),
    ];
    for (i, (what, spoil)) in variants.iter().enumerate() {
        let ws = tmp.path().join(format!("ws{i}"));
        copy_dir(&killed, &ws);
        spoil(&ws);
        let before = snapshot(&ws);
        for cmd in [&["status"][..], &["crl"][..], &["list"][..]] {
            let out = ca_at(&ws).args(cmd).output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(STATE), "{what} {cmd:?}: {err}");
            assert!(
                err.contains(".journal") && err.contains("did nothing"),
                "{what}: names it and says nothing was done: {err}"
            );
            assert_unchanged(&before, &snapshot(&ws));
        }
        // check reports it (exit 1) and changes nothing either.
        let out = ca_at(&ws).arg("check").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert_unchanged(&before, &snapshot(&ws));
    }
    // The owner's own 0600 journal is rolled forward to exactly "after".
    assert_eq!(std::fs::read(killed.join(".journal")).unwrap(), journal);
    assert!(
        ca_at(&killed)
            .arg("status")
            .output()
            .unwrap()
            .status
            .success()
    );
    assert_state(&state_of(&killed), &after, "the owner's journal");
}

/// Renames the given (target, bytes) into place through a planted journal, as someone who
/// can write the state directory (but not use the CA key) could.
fn plant_renames(dir: &Path, files: &[(&str, Vec<u8>)]) {
    let mut renames = Vec::new();
    for (i, (target, bytes)) in files.iter().enumerate() {
        let staged = format!(".stage.{i}");
        std::fs::write(dir.join(&staged), bytes).unwrap();
        renames.push(serde_json::json!({"staged": staged, "target": target,
                                        "sha256": sha(bytes)}));
    }
    plant(
        dir,
        &serde_json::json!({
            "format": 2, "operation": "revoke", "generation_before": 5, "generation_after": 6,
            "id": "0a0b", "renames": renames,
        }),
    );
}

#[test]
fn a_planted_journal_only_leads_to_a_state_the_checkpoint_refuses_recover_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let revoked = read_index(&base)["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let log = std::fs::read_to_string(base.join("index.log")).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("index.json")).unwrap()).unwrap();
    // index.log without its revocation line, index.json's log_len fixed up to match.
    let without: String = log
        .lines()
        .filter(|l| !l.contains("\"revoked\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, log, "the base holds a revocation");
    let mut fixed = header.clone();
    fixed["log_len"] = without.len().into();
    let fixed = format!("{}\n", serde_json::to_string_pretty(&fixed).unwrap());
    // An older CRL (without the revocation's successor) and a wound-back counter.
    let older_crl = {
        let ws = tmp.path().join("older");
        copy_dir(&base, &ws);
        std::fs::read(ws.join("ca.crl")).unwrap()
    };
    let newer = tmp.path().join("newer");
    copy_dir(&base, &newer);
    assert!(ca_at(&newer).arg("crl").output().unwrap().status.success());
    type Files<'a> = Vec<(&'a str, Vec<u8>)>;
    let cases: Vec<(&str, &Path, Files)> = vec![
        (
            "index.log without the revocation",
            &base,
            vec![("index.log", without.clone().into_bytes())],
        ),
        (
            "index.log and index.json rewritten consistently",
            &base,
            vec![
                ("index.log", without.into_bytes()),
                ("index.json", fixed.into_bytes()),
            ],
        ),
        (
            "a wound-back serial counter",
            &base,
            vec![("serial", b"01\n".to_vec())],
        ),
        ("an older ca.crl", &newer, vec![("ca.crl", older_crl)]),
    ];
    for (i, (what, from, files)) in cases.into_iter().enumerate() {
        let ws = tmp.path().join(format!("case{i}"));
        copy_dir(from, &ws);
        plant_renames(&ws, &files);
        // Recovery applies it (the journal is the owner's, complete)...
        let _ = ca_at(&ws).arg("status").output().unwrap();
        assert!(!ws.join(".journal").exists(), "{what}");
        let tampered = snapshot(&ws);
        // ...and nothing trusts it: every change is refused, so no later commit signs it into
        // a new checkpoint; check reports it.
        for cmd in [
            vec!["sign", csr("rsa2048-default.pem").to_str().unwrap()],
            vec!["crl"],
            vec!["revoke", &revoked],
        ] {
            let out = ca_at(&ws).args(&cmd).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(STATE),
                "{what}: {cmd:?}: {}",
                stderr(&out)
            );
            assert_unchanged(&tampered, &snapshot(&ws));
        }
        let out = ca_at(&ws).arg("check").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{what}");
    }
}

/// One command of the recovery sweeps: its reference after-state and the points (1-based
/// mutation numbers) at which it is killed after its commit point.
struct Killed {
    name: &'static str,
    /// The CA it runs on.
    base: PathBuf,
    args: Vec<String>,
    after: Snapshot,
    kills: Vec<usize>,
}

/// The commands of the recovery sweeps, each with the points it is killed at: every
/// mutation after the commit point for `revoke --crl` (the review's case) and `issue` (whose
/// pair is the richest output); for the rest (`sign --out`, `issue --p12`, `renew-ca`,
/// `upgrade` from format 1) the first mutation after the commit point, one in the middle and
/// the last; and so for crl, revoke, renew, a batch sign into --out-dir, passwd and policy
/// apply. (install-ca and init --parent, which need a hierarchy, are swept for power loss in
/// tests/powerloss_subca.rs; the kill sweeps of tests/outputs.rs and tests/crash.rs cover
/// every point of every command without read faults.)
fn killed_commands(root: &Path, base: &Path) -> Vec<Killed> {
    let index = read_index(base);
    let valid = index["certificates"][1]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let first = valid.clone();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let pass = root.join("p12.pass");
    std::fs::write(&pass, "p12 passphrase of the sweep\n").unwrap();
    // The format 1 fixture, with the modes fileca insists on.
    let v1 = root.join("v1");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/v1-ca"),
        &v1,
    );
    std::fs::set_permissions(&v1, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(v1.join("ca.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let commands: Vec<(&'static str, &Path, Vec<String>, bool)> = vec![
        (
            "revoke --crl",
            base,
            vec!["revoke".into(), valid, "--crl".into()],
            true,
        ),
        (
            "sign --out",
            base,
            vec![
                "sign".into(),
                s(&csr("rsa2048-default.pem")),
                "--out".into(),
                s(&out.join("web.pem")),
            ],
            false,
        ),
        (
            "issue",
            base,
            vec![
                "issue".into(),
                "host.lab.test".into(),
                "--out-dir".into(),
                s(&out),
            ],
            true,
        ),
        (
            "issue --p12",
            base,
            vec![
                "issue".into(),
                "laptop".into(),
                "--profile".into(),
                "client".into(),
                "--p12".into(),
                "--key-passphrase-file".into(),
                s(&pass),
                "--out-dir".into(),
                s(&out),
            ],
            false,
        ),
        ("renew-ca", base, vec!["renew-ca".into()], false),
        ("upgrade", &v1, vec!["upgrade".into()], false),
        ("crl", base, vec!["crl".into()], false),
        (
            "revoke",
            base,
            vec![
                "revoke".into(),
                first.clone(),
                "--reason".into(),
                "superseded".into(),
            ],
            false,
        ),
        ("renew", base, vec!["renew".into(), first.clone()], false),
        (
            "batch sign --out-dir",
            base,
            vec![
                "sign".into(),
                s(&csr("p256-default.pem")),
                s(&csr("ed25519-default.pem")),
                "--out-dir".into(),
                s(&out.join("batch")),
            ],
            false,
        ),
        (
            "passwd",
            base,
            vec!["passwd".into(), "--new-passphrase-file".into(), s(&pass)],
            false,
        ),
        (
            "policy apply",
            base,
            vec![
                "policy".into(),
                "apply".into(),
                s(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/policy/web.toml")),
            ],
            false,
        ),
    ];
    commands
        .into_iter()
        .map(|(name, base, args, every)| {
            let reference = root.join(format!("ref-{}", name.replace(' ', "_")));
            copy_dir(base, &reference);
            let trace = trace_mutations(&reference, &args);
            let after = state_of(&reference);
            std::fs::remove_dir_all(&reference).unwrap();
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).unwrap();
            // After the commit point up to the journal's removal: renames, appends, flushes,
            // outputs.
            let (first, last) = (first_after_commit(&trace), trace.len());
            let kills = if every {
                (first..=last).collect()
            } else {
                let mut k = vec![first, (first + last) / 2, last];
                k.dedup();
                k
            };
            Killed {
                name,
                base: base.to_path_buf(),
                args,
                after,
                kills,
            }
        })
        .collect()
}

/// Runs the command of `k` in a fresh copy of `base` killed at mutation `at`; returns the
/// copy (holding a committed journal, or already the after-state).
fn kill_at(root: &Path, k: &Killed, at: usize, tag: &str) -> PathBuf {
    let ws = root.join(tag);
    let _ = std::fs::remove_dir_all(&ws);
    copy_dir(&k.base, &ws);
    let out_dir = root.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = ca_at(&ws)
        .args(&k.args)
        .env("FILECA_FAULT", format!("abort@{at}"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{} abort@{at} did not crash", k.name);
    ws
}

#[test]
#[ignore = "full tier: an I/O error at every read of every recovery, one process per fault point"]
fn an_io_error_while_recovering_decides_nothing_and_loses_nothing_recover_no_guess() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let mut runs = 0;
    for k in killed_commands(tmp.path(), &base) {
        for &at in &k.kills {
            let killed = kill_at(tmp.path(), &k, at, "killed");
            if !killed.join(".journal").exists() {
                continue; // the journal was removed: nothing left to recover
            }
            // Every read of the recovering command fails once, in turn (the review's case is
            // `ca crl` after revoke --crl died at its second rename, with EIO opening ca.crl).
            let recovering: &[&str] = if k.name == "revoke --crl" {
                &["crl"]
            } else {
                &["status"]
            };
            let reads = count_reads(tmp.path(), &killed, recovering);
            assert!(reads > 3, "{}: the read trace works", k.name);
            for n in 1..=reads {
                let what = format!(
                    "{} abort@{at}, then {recovering:?} with EIO at read {n}",
                    k.name
                );
                let ws = tmp.path().join("ws");
                let _ = std::fs::remove_dir_all(&ws);
                copy_dir(&killed, &ws);
                let out = with_read_fault(&ws, recovering, n);
                runs += 1;
                let code = out.status.code();
                assert!(
                    matches!(code, Some(0) | Some(IO)),
                    "{what}: exit {code:?}: {}",
                    stderr(&out)
                );
                if code == Some(IO) && stderr(&out).contains("recovering") {
                    assert!(ws.join(".journal").exists(), "{what}: the journal is kept");
                }
                // The next command completes it: exactly "after" (for crl: after, then
                // one more CRL, which the reference does not have: compare without it).
                if code != Some(0) {
                    let next = ca_at(&ws).arg("status").output().unwrap();
                    assert!(next.status.success(), "{what}: {}", stderr(&next));
                }
                if n == reads {
                    let check = ca_at(&ws).arg("check").output().unwrap();
                    assert_eq!(
                        check.status.code(),
                        Some(0),
                        "{what}: {}",
                        String::from_utf8_lossy(&check.stdout)
                    );
                }
                if k.name != "revoke --crl" || code != Some(0) {
                    assert_state(
                        &comparable(&state_of(&ws), k.name),
                        &comparable(&k.after, k.name),
                        &what,
                    );
                } else {
                    // The revocation is there and the CRL after it names it.
                    let show = ca_at(&ws).args(["list", "--json"]).output().unwrap();
                    assert!(
                        String::from_utf8_lossy(&show.stdout)
                            .matches("revoked")
                            .count()
                            >= 2
                    );
                }
            }
        }
    }
    assert!(runs > 50, "the sweep ran ({runs} faulted recoveries)");
}

#[test]
#[ignore = "full tier: kill loop over recoveries"]
fn a_killed_recovery_is_recovered_by_the_next_command_recover_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let mut runs = 0;
    for k in killed_commands(tmp.path(), &base) {
        // Killed right after its commit point, then its recovery killed at every mutation.
        let at = k.kills[0];
        let killed = kill_at(tmp.path(), &k, at, "killed");
        let probe = tmp.path().join("probe");
        let _ = std::fs::remove_dir_all(&probe);
        copy_dir(&killed, &probe);
        let recovery = trace_mutations(&probe, &["status".to_string()]);
        std::fs::remove_dir_all(&probe).unwrap();
        assert!(!recovery.is_empty(), "{}: recovery mutates", k.name);
        for m in 1..=recovery.len() {
            let ws = tmp.path().join("ws");
            let _ = std::fs::remove_dir_all(&ws);
            copy_dir(&killed, &ws);
            let out = ca_at(&ws)
                .arg("status")
                .env("FILECA_FAULT", format!("abort@{m}"))
                .output()
                .unwrap();
            assert!(!out.status.success());
            // And the next recovery fails at its first read, then the one after completes.
            let out = with_read_fault(&ws, &["status"], 1);
            assert!(matches!(out.status.code(), Some(0) | Some(IO)));
            let check = ca_at(&ws).arg("check").output().unwrap();
            assert_eq!(
                check.status.code(),
                Some(0),
                "{} recovery abort@{m}",
                k.name
            );
            assert_state(
                &comparable(&state_of(&ws), k.name),
                &comparable(&k.after, k.name),
                &format!("{} recovery abort@{m} ({})", k.name, recovery[m - 1]),
            );
            runs += 1;
        }
    }
    assert!(runs > 10);
}

/// The deterministic CA, an empty output directory `issued`, the arguments of `ca issue
/// web.lab.test --out-dir issued` and the mutations of a clean run (whose pair is removed).
fn issue_web(root: &Path) -> (PathBuf, PathBuf, Vec<String>, Vec<String>) {
    let base = deterministic_ca(root);
    let out = root.join("issued");
    std::fs::create_dir(&out).unwrap();
    let args: Vec<String> = vec![
        "issue".into(),
        "web.lab.test".into(),
        "--out-dir".into(),
        out.to_str().unwrap().into(),
    ];
    let reference = root.join("reference");
    copy_dir(&base, &reference);
    let trace = trace_mutations(&reference, &args);
    std::fs::remove_dir_all(out.join("web.lab.test")).unwrap();
    (base, out, args, trace)
}

#[test]
fn an_issue_killed_after_its_commit_keeps_its_key_until_the_same_issue_delivers_it_recover_undelivered()
 {
    let tmp = tempfile::tempdir().unwrap();
    let (base, out, args, trace) = issue_web(tmp.path());
    let dir = tmp.path().join("ca");
    copy_dir(&base, &dir);
    // Killed at the first mutation after its commit point: the staging directory still
    // holds its marker.
    let killed = ca_at(&dir)
        .args(&args)
        .env(
            "FILECA_FAULT",
            format!("abort@{}", first_after_commit(&trace)),
        )
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let staged: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(staged.len(), 1, "{staged:?}");
    let staged = out.join(&staged[0]);
    let outside = snapshot(&out);
    // Recovery completes the state, names the staging directory, touches nothing outside.
    let status = ca_at(&dir).arg("status").output().unwrap();
    let err = stderr(&status);
    assert!(status.status.success(), "{err}");
    let shown = std::fs::canonicalize(&staged).unwrap();
    assert!(err.contains(&shown.display().to_string()), "{err}");
    assert!(
        err.contains("ca issue web.lab.test"),
        "says to re-run: {err}"
    );
    assert_unchanged(&outside, &snapshot(&out));
    let serial = read_index(&dir)["certificates"][2]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let count = read_index(&dir)["certificates"].as_array().unwrap().len();
    // Another issue into the same directory does not take the committed key for abandoned.
    let other = ca_at(&dir)
        .args([
            "issue",
            "other.lab.test",
            "--out-dir",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(other.status.success(), "{}", stderr(&other));
    assert!(
        staged.exists(),
        "the committed key is kept: {}",
        stderr(&other)
    );
    // A mutation does not drop the record of a pair whose key still waits.
    let text =
        String::from_utf8_lossy(&ca_at(&dir).arg("check").output().unwrap().stdout).into_owned();
    assert!(
        text.contains("undelivered:") && text.contains(&serial),
        "{text}"
    );
    // The same command again delivers it: no new certificate.
    let again = ca_at(&dir).args(&args).output().unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("delivered"), "{}", stderr(&again));
    assert_eq!(
        read_index(&dir)["certificates"].as_array().unwrap().len(),
        count + 1,
        "only other.lab.test was issued since"
    );
    let pair = out.join("web.lab.test");
    assert!(pair.join("web.lab.test.key").exists());
    let crt = std::fs::read_to_string(pair.join("web.lab.test.crt")).unwrap();
    let shown = ca_at(&dir)
        .args(["show", &serial, "--pem"])
        .output()
        .unwrap();
    assert_eq!(crt.as_bytes(), &shown.stdout[..]);
    assert!(!staged.exists());
    assert!(!dir.join(".undelivered").exists());
    let check = ca_at(&dir).arg("check").output().unwrap();
    assert_eq!(check.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&check.stdout).contains("undelivered"));
}

#[test]
fn a_staged_file_whose_target_already_holds_its_bytes_is_no_proof_of_a_rename_recover_reorder() {
    // The install-ca swap after a power loss: the journal durable, the staged copy of an
    // unchanged file (chain.pem there; ca.crt here) gone with its directory entry, another
    // staged file's data lost. Nothing was applied: roll back, never "partly applied".
    let env = Env::new();
    let ca_crt = std::fs::read(env.dir.join("ca.crt")).unwrap();
    std::fs::write(env.dir.join(".stage.1"), b"").unwrap(); // its data never reached the disk
    plant(
        &env.dir,
        &serde_json::json!({
            "format": 2, "operation": "install-ca", "generation_before": 1,
            "generation_after": 2, "id": "0c0d",
            "renames": [
                {"staged": ".stage.0", "target": "ca.crt", "sha256": sha(&ca_crt)},
                {"staged": ".stage.1", "target": "serial", "sha256": sha(b"0A\n")},
            ],
        }),
    );
    let mut before = snapshot(&env.dir);
    before.remove(".journal");
    before.remove(".stage.1");
    let out = env.run(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_unchanged(&before, &snapshot(&env.dir));
    env.assert_check_ok();
    // An append already in place is proof the commit point passed: then a staged file that
    // does not hold its content is a human's to resolve.
    let log = std::fs::read(env.dir.join("index.log")).unwrap();
    let line = b"{\"revoked\":\"01\"}\n".to_vec();
    let mut grown = log.clone();
    grown.extend_from_slice(&line);
    std::fs::write(env.dir.join("index.log"), &grown).unwrap();
    std::fs::write(env.dir.join(".stage.0"), b"").unwrap();
    use base64::Engine;
    plant(
        &env.dir,
        &serde_json::json!({
            "format": 2, "operation": "revoke", "generation_before": 1,
            "generation_after": 2, "id": "0e0f",
            "renames": [{"staged": ".stage.0", "target": "serial", "sha256": sha(b"0A\n")}],
            "appends": [{"target": "index.log", "offset": log.len(), "len": line.len(),
                         "data": base64::engine::general_purpose::STANDARD.encode(&line),
                         "sha256": sha(&line)}],
        }),
    );
    let before = snapshot(&env.dir);
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(STATE), "{}", stderr(&out));
    assert!(stderr(&out).contains("partly applied"), "{}", stderr(&out));
    assert_unchanged(&before, &snapshot(&env.dir));
}

#[test]
fn a_killed_or_failed_csr_out_leaves_no_copy_behind_recover_csr_out() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let req = out.join("sub.csr");
    let init = |dir: &Path| -> Vec<String> {
        vec![
            "--dir".into(),
            dir.to_str().unwrap().into(),
            "init".into(),
            "--subject".into(),
            "CN=Sub".into(),
            "--csr-out".into(),
            req.to_str().unwrap().into(),
        ]
    };
    let hidden = || -> Vec<String> {
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    };
    // The trace of a clean run: the copy's create, write and rename.
    let probe = tmp.path().join("probe");
    let trace = {
        let o = std::process::Command::new(bin())
            .args(init(&probe))
            .env("FILECA_FAULT_TRACE", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
            .lines()
            .filter(|l| l.starts_with("fileca-mutation "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    std::fs::remove_file(&req).unwrap();
    let mut copy_ops: Vec<usize> = trace
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(".sub.csr.fileca-"))
        .map(|(i, _)| i + 1)
        .collect();
    assert!(copy_ops.len() >= 3, "{trace:#?}");
    // And the fsync of the directory after the rename: a failure there takes the name back
    // (exit 4 means nothing written), where it used to leave the request published.
    let last = *copy_ops.last().unwrap();
    assert!(trace[last].contains("FsyncDir"), "{trace:#?}");
    copy_ops.push(last + 1);
    for (i, &n) in copy_ops.iter().enumerate() {
        // An I/O error at each step of the copy: nothing left beside the request's name.
        let dir = tmp.path().join(format!("e{i}"));
        let o = std::process::Command::new(bin())
            .args(init(&dir))
            .env("FILECA_FAULT", format!("error@{n}"))
            .output()
            .unwrap();
        assert!(!o.status.success(), "error@{n}");
        assert!(
            hidden().is_empty(),
            "error@{n} ({}): {:?}",
            trace[n - 1],
            hidden()
        );
        assert!(
            !req.exists(),
            "error@{n} ({}): the request is published",
            trace[n - 1]
        );
        let _ = std::fs::remove_file(&req);
        // A kill at each step: what it leaves is removed by the next --csr-out there.
        let dir = tmp.path().join(format!("k{i}"));
        let o = std::process::Command::new(bin())
            .args(init(&dir))
            .env("FILECA_FAULT", format!("abort@{n}"))
            .output()
            .unwrap();
        assert!(!o.status.success());
        let _ = std::fs::remove_file(&req);
        let next = tmp.path().join(format!("n{i}"));
        let o = std::process::Command::new(bin())
            .args(init(&next))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(hidden().is_empty(), "abort@{n}: {:?}", hidden());
        std::fs::remove_file(&req).unwrap();
    }
}

#[test]
fn init_parent_finishes_the_install_before_it_reports_a_failing_stderr_recover_init_parent() {
    // stderr fails (a full disk behind it) while the parent's commit is reported: the
    // install still completes, then exit 8 says what was not delivered.
    let env = Env::new();
    let sub = env.path("sub");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let status = std::process::Command::new(bin())
        .arg("--dir")
        .arg(&sub)
        .args(["init", "--subject", "CN=Sub CA", "--parent"])
        .arg(&env.dir)
        .env_remove("FILECA_NOW")
        .stdout(std::process::Stdio::null())
        .stderr(full)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(UNDELIVERED));
    assert!(sub.join("ca.crt").exists(), "installed");
    assert!(!sub.join("ca.csr").exists() || sub.join("index.json").exists());
    let check = std::process::Command::new(bin())
        .arg("--dir")
        .arg(&sub)
        .arg("check")
        .env_remove("FILECA_NOW")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// Sets a POSIX ACL on `path` giving uid 65534 rwx (mask rwx), as `setfacl -m u:nobody:rwx`.
fn acl_for_nobody(path: &Path) {
    let entry = |tag: u16, perm: u16, id: u32| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend(perm.to_le_bytes());
        e.extend(id.to_le_bytes());
        e
    };
    let mut acl = 2u32.to_le_bytes().to_vec();
    for e in [
        entry(1, 7, u32::MAX),
        entry(2, 7, 65534),
        entry(4, 5, u32::MAX),
        entry(0x10, 7, u32::MAX),
        entry(0x20, 5, u32::MAX),
    ] {
        acl.extend(e);
    }
    rustix::fs::setxattr(
        path,
        "system.posix_acl_access",
        &acl,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

#[test]
fn recovery_redelivers_only_what_is_valid_owned_and_recorded_recover_undelivered_recover_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, out, args, trace) = issue_web(tmp.path());
    let at = first_after_commit(&trace);
    let killed = |tag: &str| -> PathBuf {
        let dir = tmp.path().join(tag);
        copy_dir(&base, &dir);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir(&out).unwrap();
        let k = ca_at(&dir)
            .args(&args)
            .env("FILECA_FAULT", format!("abort@{at}"))
            .output()
            .unwrap();
        assert!(!k.status.success());
        assert!(ca_at(&dir).arg("status").output().unwrap().status.success());
        dir
    };
    let count = |dir: &Path| read_index(dir)["certificates"].as_array().unwrap().len();

    // 1. Revoked after the recovery said "re-run or revoke": the re-run does not deliver it
    //    (exit 3, naming the staging directory); once that is removed, it issues anew.
    let dir = killed("revoked");
    let serial = read_index(&dir)["certificates"][2]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        ca_at(&dir)
            .args(["revoke", &serial])
            .output()
            .unwrap()
            .status
            .success()
    );
    let n = count(&dir);
    let again = ca_at(&dir).args(&args).output().unwrap();
    assert_eq!(again.status.code(), Some(REFUSED), "{}", stderr(&again));
    assert!(stderr(&again).contains("revoked"), "{}", stderr(&again));
    assert!(!out.join("web.lab.test").exists());
    assert_eq!(count(&dir), n);
    let staged: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(staged.len(), 1);
    std::fs::remove_dir_all(&staged[0]).unwrap();
    let fresh = ca_at(&dir).args(&args).output().unwrap();
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(count(&dir), n + 1, "issued anew");
    assert!(!dir.join(".undelivered").exists());

    // 1b. Expired meanwhile: not delivered either.
    let dir = killed("expired");
    let late = ca_at(&dir)
        .args(&args)
        .env("FILECA_NOW", "2028-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert_eq!(late.status.code(), Some(REFUSED), "{}", stderr(&late));
    assert!(stderr(&late).contains("expired"), "{}", stderr(&late));

    // 2. An I/O error reading .undelivered is no "no record": nothing is issued.
    let dir = killed("eio");
    let n = count(&dir);
    let saved = tmp.path().join("issued-saved");
    copy_dir(&out, &saved);
    let reads = count_reads(
        tmp.path(),
        &dir,
        &["issue", "web.lab.test", "--out-dir", out.to_str().unwrap()],
    );
    assert!(reads > 5, "{reads} reads");
    for r in 1..=reads {
        let ws = tmp.path().join("eio-ws");
        let _ = std::fs::remove_dir_all(&ws);
        copy_dir(&dir, &ws);
        std::fs::remove_dir_all(&out).unwrap();
        copy_dir(&saved, &out);
        let o = with_read_fault(
            &ws,
            &["issue", "web.lab.test", "--out-dir", out.to_str().unwrap()],
            r,
        );
        assert_eq!(
            count(&ws),
            n,
            "EIO at read {r}: a second certificate ({})",
            stderr(&o)
        );
    }

    // 3. An ACL that lets another user write the directory is a trust problem.
    let dir = killed("acl");
    acl_for_nobody(&dir);
    let before = snapshot(&dir);
    let sign = ca_at(&dir)
        .args(["sign", csr("p256-default.pem").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(sign.status.code(), Some(STATE), "{}", stderr(&sign));
    assert!(stderr(&sign).contains("setfacl -b"), "{}", stderr(&sign));
    assert_unchanged(&before, &snapshot(&dir));
    assert_eq!(
        ca_at(&dir).arg("check").output().unwrap().status.code(),
        Some(1)
    );

    // 4. A .undelivered that is not the user's 0600 file is not used, and check says so.
    let dir = killed("foreign");
    std::fs::set_permissions(
        dir.join(".undelivered"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let before = snapshot(&dir);
    let again = ca_at(&dir).args(&args).output().unwrap();
    assert_eq!(again.status.code(), Some(STATE), "{}", stderr(&again));
    assert_unchanged(&before, &snapshot(&dir));
    let check = ca_at(&dir).arg("check").output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains(".undelivered"));

    // 5. A directory named .stage.N is no stray fileca can remove: exit 5, not 4 forever.
    let dir = tmp.path().join("stage-dir");
    copy_dir(&base, &dir);
    std::fs::create_dir(dir.join(".stage.1")).unwrap();
    let st = ca_at(&dir).arg("status").output().unwrap();
    assert_eq!(st.status.code(), Some(STATE), "{}", stderr(&st));
    assert!(dir.join(".stage.1").is_dir());

    // 6. A journal naming a serial index.log does not record is not reported as issued.
    let env = Env::new();
    let fake = b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
    plant(
        &env.dir,
        &serde_json::json!({
            "format": 2, "operation": "sign", "generation_before": 1, "generation_after": 1,
            "id": "00aa",
            "outputs": [{"dir": "..", "name": "keep", "source": "certs/01.pem",
                         "sha256": sha(fake)}],
        }),
    );
    let st = env.run(&["status"]);
    assert!(st.status.success(), "{}", stderr(&st));
    assert!(!stderr(&st).contains("ca show 01"), "{}", stderr(&st));
    assert!(stderr(&st).contains("not this CA's"), "{}", stderr(&st));
    assert!(!env.dir.join(".undelivered").exists());
}

#[test]
fn a_failed_command_leaves_an_old_lock_mode_alone_lock_mode() {
    // A directory whose .lock an older fileca made 0644: a command that fails before its
    // commit point changes nothing, the mode included; the next commit fixes it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let lock = dir.join(".lock");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mode = || std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
    let c = csr("p256-default.pem");
    let args = ["sign", c.to_str().unwrap()];
    // Fail at the journal's write: the last step before the commit point.
    let probe = tmp.path().join("probe");
    copy_dir(&dir, &probe);
    let trace = trace_mutations(&probe, &args.map(String::from));
    let failed = ca_at(&dir)
        .args(args)
        .env("FILECA_FAULT", format!("error@{}", commit_point(&trace)))
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert_eq!(mode(), 0o644, "a failed command changed .lock");
    assert!(ca_at(&dir).args(args).output().unwrap().status.success());
    assert_eq!(mode(), 0o600, "the next commit makes it owner-only");
}

#[test]
fn eio_from_closing_a_directory_is_no_internal_error_recover_closedir() {
    // Rust std's ReadDir asserts that closedir succeeds: an EIO from close(2) (a network or
    // FUSE filesystem) aborted with exit 70. Directories are listed through rustix now (and
    // std::fs::read_dir is fenced by clippy). strace injects EIO into every close of a
    // descriptor of the state directory itself.
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    for cmd in [&["check"][..], &["status"][..], &["list"][..], &["crl"][..]] {
        let out = std::process::Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-P"])
            .arg(&dir)
            .args(["-e", "trace=close", "-e", "inject=close:error=EIO", "--"])
            .arg(bin())
            .arg("--dir")
            .arg(&dir)
            .args(cmd)
            .env("FILECA_NOW", NOW)
            .output()
            .expect(
                "strace (apt-get install strace; scripts/test.sh does) is needed for this test",
            );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {err}");
        assert!(!err.contains("internal error"), "{cmd:?}: {err}");
    }
}

#[test]
fn the_same_issue_right_after_a_kill_delivers_the_committed_pair_recover_rerun() {
    // No other command in between: the re-run's own recovery records the pair, then it is
    // delivered (the re-run used to look for the record before recovering, and issued a
    // second certificate: the fresh-eyes review, 24 of 24 kills after the commit).
    let tmp = tempfile::tempdir().unwrap();
    let (base, out, args, trace) = issue_web(tmp.path());
    let dir = tmp.path().join("ca");
    copy_dir(&base, &dir);
    let n = read_index(&dir)["certificates"].as_array().unwrap().len();
    for at in [first_after_commit(&trace), trace.len()] {
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&base, &dir);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir(&out).unwrap();
        let killed = ca_at(&dir)
            .args(&args)
            .env("FILECA_FAULT", format!("abort@{at}"))
            .output()
            .unwrap();
        assert!(!killed.status.success());
        let pair = out.join("web.lab.test");
        let published = pair.exists();
        let again = ca_at(&dir).args(&args).output().unwrap();
        if published {
            // Killed after it published the pair (at its journal's removal): nothing to
            // deliver, and a new issue of the name is refused as ever.
            assert_eq!(
                again.status.code(),
                Some(REFUSED),
                "abort@{at}: {}",
                stderr(&again)
            );
            assert!(
                stderr(&again).contains("already exists"),
                "{}",
                stderr(&again)
            );
        } else {
            assert!(again.status.success(), "abort@{at}: {}", stderr(&again));
            assert!(
                stderr(&again).contains("no new certificate"),
                "{}",
                stderr(&again)
            );
        }
        let certs = read_index(&dir)["certificates"].as_array().unwrap().len();
        assert_eq!(
            certs,
            n + 1,
            "abort@{at}: one certificate, not two: {}",
            stderr(&again)
        );
        assert!(pair.join("web.lab.test.key").exists(), "abort@{at}");
        let hidden: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "abort@{at}: {hidden:?}");
        let check = ca_at(&dir).arg("check").output().unwrap();
        assert_eq!(check.status.code(), Some(0));
        assert!(!String::from_utf8_lossy(&check.stdout).contains("undelivered"));
    }
}
