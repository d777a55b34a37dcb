//! Outputs are part of the commit (SPEC.md OUTPUT-*): a command killed at any instant never
//! leaves, anywhere, a CA-signed certificate that the index does not record, never lets a
//! serial be issued twice counting leftovers, and the next command leaves the CA and the
//! command's outputs together before or after. Regression tests for commit-v2 defects 1 and 5.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::*;

/// Every certificate in every file under `root` (hidden files and subdirectories included):
/// (file, serial in uppercase hex, DER).
pub(crate) fn certificates_under(root: &Path) -> Vec<(PathBuf, String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries {
        let path = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(certificates_under(&path));
            continue;
        } else if !meta.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let ders: Vec<Vec<u8>> = if path.extension().is_some_and(|e| e == "p12") {
            p12_certificates(&bytes)
        } else {
            pem::parse_many(&bytes)
                .unwrap_or_default()
                .into_iter()
                .filter(|p| p.tag() == "CERTIFICATE")
                .map(|p| p.contents().to_vec())
                .collect()
        };
        for der in ders {
            let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("a certificate");
            let serial: String = cert
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            out.push((path.clone(), serial, der));
        }
    }
    out
}

/// ISSUE-P12: a bundle holds certificates too (under the tests' passphrase); one cut short by
/// a failed write holds none, like a torn PEM file.
fn p12_certificates(bytes: &[u8]) -> Vec<Vec<u8>> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let Ok(store) = KeyStore::from_pkcs12(bytes, crate::p12::PASSPHRASE, Pkcs12ImportPolicy::Raw)
    else {
        return Vec::new();
    };
    let mut ders = Vec::new();
    for (_, entry) in store.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(c) => {
                ders.extend(c.certs().iter().map(|c| c.as_der().to_vec()))
            }
            KeyStoreEntry::Certificate(c) => ders.push(c.as_der().to_vec()),
            _ => {}
        }
    }
    ders
}

/// Serials index.log records as issued.
fn recorded(dir: &Path) -> Vec<String> {
    read_index(dir)["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts the promise over a workspace: every certificate outside the state directory has a
/// serial the index records, and no serial names two different certificates.
#[track_caller]
pub(crate) fn assert_outputs_recorded(state: &Path, out: &Path, what: &str) {
    let index = recorded(state);
    // ca.crt and, for a sub-CA, chain.pem's CAs: the chain in an issue pair.
    let mut cas: Vec<Vec<u8>> = Vec::new();
    for f in ["ca.crt", "chain.pem"] {
        if let Ok(bytes) = std::fs::read(state.join(f)) {
            cas.extend(
                pem::parse_many(bytes)
                    .unwrap()
                    .iter()
                    .map(|p| p.contents().to_vec()),
            );
        }
    }
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (file, serial, der) in certificates_under(out) {
        if cas.contains(&der) {
            continue; // the chain in an issue pair
        }
        assert!(
            index.contains(&serial),
            "{what}: {} holds certificate {serial}, which the index does not record",
            file.display()
        );
        if let Some(prev) = seen.insert(serial.clone(), der.clone()) {
            assert_eq!(prev, der, "{what}: serial {serial} names two certificates");
        }
    }
}

/// A workspace: `ws/ca` (the deterministic CA), `ws/out` (empty) and `ws/reqs` (3 CSRs).
fn workspace(root: &Path, name: &str, base: &Path) -> PathBuf {
    let ws = root.join(name);
    std::fs::create_dir(&ws).unwrap();
    copy_dir(base, &ws.join("ca"));
    std::fs::create_dir(ws.join("out")).unwrap();
    std::fs::create_dir(ws.join("reqs")).unwrap();
    for (i, c) in [
        "p256-default.pem",
        "ed25519-default.pem",
        "p384-default.pem",
    ]
    .iter()
    .enumerate()
    {
        std::fs::copy(csr(c), ws.join("reqs").join(format!("r{i}.pem"))).unwrap();
    }
    ws
}

/// The output-writing commands, with arguments relative to a workspace.
fn output_commands(ws: &Path, valid_serial: &str) -> Vec<(&'static str, Vec<String>)> {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = ws.join("out");
    vec![
        (
            "sign --out",
            vec![
                "sign".into(),
                s(&ws.join("reqs/r0.pem")),
                "--out".into(),
                s(&out.join("web.pem")),
            ],
        ),
        (
            "sign --out-dir (batch)",
            vec![
                "sign".into(),
                s(&ws.join("reqs")),
                "--out-dir".into(),
                s(&out),
            ],
        ),
        (
            "renew --out",
            vec![
                "renew".into(),
                valid_serial.into(),
                "--out".into(),
                s(&out.join("renewed.pem")),
            ],
        ),
        (
            "issue",
            vec![
                "issue".into(),
                "site.test".into(),
                "--out-dir".into(),
                s(&out),
            ],
        ),
        (
            "crl --out",
            vec!["crl".into(), "--out".into(), s(&out.join("ca.crl"))],
        ),
    ]
}

/// Rewrites paths of one workspace into another.
fn retarget(args: &[String], from: &Path, to: &Path) -> Vec<String> {
    let (f, t) = (from.to_str().unwrap(), to.to_str().unwrap());
    args.iter().map(|a| a.replace(f, t)).collect()
}

/// The names in a directory, hidden ones included, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "full tier: kill loop"]
fn a_kill_at_any_instant_never_leaves_an_unrecorded_or_reissued_certificate_output_atomic() {
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let before = snapshot(&base);
    let valid = recorded(&base)[1].clone();
    let proto = workspace(tmp.path(), "proto", &base);
    for (name, args) in output_commands(&proto, &valid) {
        // The reference run: its trace and its after-state.
        let reference = workspace(tmp.path(), "reference", &base);
        let ref_args = retarget(&args, &proto, &reference);
        let trace = trace_mutations(&reference.join("ca"), &ref_args);
        let after_out = names(&reference.join("out"));
        assert!(
            after_out.iter().all(|n| !n.starts_with('.')),
            "{name}: a successful run leaves no hidden files: {after_out:?}"
        );
        std::fs::remove_dir_all(&reference).unwrap();
        for n in 1..=trace.len() {
            let ws = workspace(tmp.path(), "ws", &base);
            let state = ws.join("ca");
            let out = ws.join("out");
            let run_args = retarget(&args, &proto, &ws);
            let killed = ca_at(&state)
                .args(&run_args)
                .env("FILECA_FAULT", format!("abort@{n}"))
                .output()
                .unwrap();
            assert!(!killed.status.success(), "{name} abort@{n} did not crash");
            let what = format!("{name} abort@{n} ({})", trace[n - 1]);
            // Even before any recovery, nothing outside holds an unrecorded certificate
            // (a committed journal records the serial in index.log only when applied, so
            // recover first, as every next command does).
            let status = ca_at(&state).arg("status").output().unwrap();
            assert!(
                status.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&status.stderr)
            );
            assert_outputs_recorded(&state, &out, &what);
            let now = snapshot(&state);
            let visible: Vec<String> = names(&out)
                .into_iter()
                .filter(|n| !n.starts_with('.'))
                .collect();
            if now == before {
                assert!(
                    visible.is_empty(),
                    "{what}: published without a commit: {visible:?}"
                );
            } else {
                // Recovered to "after". Recovery writes nothing outside the state directory
                // (RECOVER-INSIDE): what the killed command did not publish, and every
                // hidden copy it left, is named by `ca check` until delivered.
                let check = ca_at(&state).arg("check").output().unwrap();
                assert!(check.status.success(), "{what}");
                let listed = String::from_utf8_lossy(&check.stdout).into_owned();
                for n in &after_out {
                    if !visible.contains(n) {
                        assert!(
                            listed.contains("undelivered:") && listed.contains(n.as_str()),
                            "{what}: {n} neither published nor reported: {listed}"
                        );
                    }
                }
                let foreign: Vec<&String> =
                    visible.iter().filter(|n| !after_out.contains(n)).collect();
                assert!(
                    foreign.is_empty(),
                    "{what}: not outputs of the command: {foreign:?}"
                );
                for n in names(&out).iter().filter(|n| n.starts_with('.')) {
                    assert!(
                        listed.contains(n.as_str()),
                        "{what}: the hidden {n} is not reported: {listed}"
                    );
                }
            }
            // The next sign gets a serial nothing else holds.
            let next = ca_at(&state)
                .args([
                    "sign",
                    ws.join("reqs/r1.pem").to_str().unwrap(),
                    "--out",
                    out.join("other.pem").to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(next.status.success(), "{what}: next sign failed");
            assert_outputs_recorded(&state, &out, &what);
            std::fs::remove_dir_all(&ws).unwrap();
        }
    }
}

#[test]
fn outputs_are_published_only_after_the_commit_and_only_from_committed_content_output_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let out = tmp.path().join("web.pem");
    let trace = trace_mutations(
        &dir,
        &[
            "sign".into(),
            csr("p256-default.pem").to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ],
    );
    let commit = *commit_fsyncs(&trace).end();
    let first_outside = trace
        .iter()
        .position(|l| l.contains("web.pem"))
        .expect("the output is written");
    assert!(
        first_outside + 1 > commit,
        "nothing outside the state directory before the commit point: {trace:#?}"
    );
}

#[test]
fn an_existing_target_after_the_commit_is_not_replaced_and_exits_8_output_undelivered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let out = tmp.path().join("web.pem");
    // A target that exists when the command starts is refused up front (exit 3, nothing
    // written, the file untouched)...
    std::fs::write(&out, "mine").unwrap();
    let before = snapshot(&dir);
    let refused = ca_at(&dir)
        .args([
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(REFUSED));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));
    assert_unchanged(&before, &snapshot(&dir));
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
    // ...while a committed journal whose output appeared meanwhile is completed without
    // touching it, and the output is reported as not delivered.
    let dir2 = tmp.path().join("pki2");
    copy_dir(&dir, &dir2);
    let out2 = tmp.path().join("later.pem");
    let args = [
        "sign".to_string(),
        csr("p256-default.pem").to_str().unwrap().into(),
        "--out".into(),
        out2.to_str().unwrap().into(),
    ];
    let trace = trace_mutations(&dir, &args);
    std::fs::remove_file(&out2).unwrap();
    let commit = commit_point(&trace);
    let killed = ca_at(&dir2)
        .args(&args)
        .env("FILECA_FAULT", format!("abort@{}", commit + 1))
        .output()
        .unwrap();
    assert!(!killed.status.success());
    assert!(dir2.join(".journal").exists());
    std::fs::write(&out2, "someone else's").unwrap();
    let status = ca_at(&dir2).arg("status").output().unwrap();
    assert!(status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("not delivered"), "{stderr}");
    assert_eq!(std::fs::read(&out2).unwrap(), b"someone else's");
}

#[test]
fn stdout_failing_after_the_commit_exits_8_and_names_the_serial_exit_undelivered() {
    let env = Env::new();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = env
        .ca()
        .args(["sign", csr("p256-default.pem").to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(UNDELIVERED), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let serial = env.index()["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        stderr.contains(&format!("ca show {serial} --pem")),
        "{stderr}"
    );
}

#[test]
fn a_recovery_journal_cannot_write_arbitrary_files_elsewhere_output_hostile_journal() {
    // Someone who can write the state directory plants a journal whose output copies a file
    // that is not a recorded certificate (here ca.key) to a new file outside.
    let env = Env::new();
    let key = std::fs::read(env.dir.join("ca.key")).unwrap();
    plant_journal(
        &env.dir,
        serde_json::json!([{"dir": "..", "name": "stolen.key", "source": "ca.key",
                            "sha256": fileca::hex::sha256(&key)}]),
    );
    let out = env.run(&["status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!env.path("stolen.key").exists(), "{stderr}");
    assert!(stderr.contains("not delivered"), "{stderr}");
}

#[test]
fn out_dir_is_created_like_mkdir_p_output_out_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let reqs = tmp.path().join("requests");
    std::fs::create_dir(&reqs).unwrap();
    std::fs::copy(csr("p256-default.pem"), reqs.join("web.pem")).unwrap();
    let issued = tmp.path().join("issued/2026");
    let out = ca_at(&dir)
        .args([
            "sign",
            reqs.to_str().unwrap(),
            "--out-dir",
            issued.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(issued.join("web.crt").exists());
    let pairs = tmp.path().join("pairs");
    let out = ca_at(&dir)
        .args(["issue", "site.test", "--out-dir", pairs.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pairs.join("site.test/site.test.key").exists());
    // --out never creates directories: a missing parent is an error naming it.
    let before = snapshot(&dir);
    let missing = tmp.path().join("srv/www/lab.crl");
    let out = ca_at(&dir)
        .args(["crl", "--out", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("srv/www"), "{stderr}");
    assert!(!stderr.contains(".fileca-"), "no internal name: {stderr}");
    assert_unchanged(&before, &snapshot(&dir));
}

#[test]
fn outputs_never_land_in_the_state_directory_and_recover_exactly_what_was_found_output_recover_recover_inside()
 {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    // No output inside the state directory, even with --force (it would replace `serial`
    // outside the journal).
    let before = snapshot(&dir);
    let out = ca_at(&dir)
        .args([
            "crl",
            "--force",
            "--out",
            dir.join("serial").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(REFUSED), "{out:?}");
    assert_unchanged(&before, &snapshot(&dir));
    // A --force output interrupted before its rename is completed by the next command,
    // replacing exactly the file the command found.
    let crl = tmp.path().join("pub.crl");
    std::fs::write(&crl, "old CRL").unwrap();
    let args: Vec<String> = vec![
        "crl".into(),
        "--force".into(),
        "--out".into(),
        crl.to_str().unwrap().into(),
    ];
    let probe = tmp.path().join("probe");
    copy_dir(&dir, &probe);
    let trace = trace_mutations(&probe, &args);
    std::fs::write(&crl, "old CRL").unwrap();
    let rename = trace
        .iter()
        .position(|l| l.contains(" Rename ") && l.contains(".pub.crl.fileca-"))
        .expect("the output is renamed into place")
        + 1;
    let work = tmp.path().join("work");
    copy_dir(&dir, &work);
    let killed = ca_at(&work)
        .args(&args)
        .env("FILECA_FAULT", format!("abort@{rename}"))
        .output()
        .unwrap();
    assert!(!killed.status.success());
    assert_eq!(std::fs::read(&crl).unwrap(), b"old CRL");
    let status = ca_at(&work).arg("status").output().unwrap();
    assert!(status.status.success());
    // Recovery replaces nothing outside the state directory (RECOVER-INSIDE): the file is
    // as it was, and the warning says how to deliver the committed CRL.
    assert_eq!(std::fs::read(&crl).unwrap(), b"old CRL");
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(
        err.contains("not delivered")
            && err.contains(&format!("cp {}", work.join("ca.crl").display())),
        "{err}"
    );
    // A long file name in a multi-byte script: within NAME_MAX, staged and published.
    let long = tmp.path().join(format!("{}.pem", "é".repeat(120)));
    let out = ca_at(&dir)
        .args([
            "sign",
            csr("p256-default.pem").to_str().unwrap(),
            "--out",
            long.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(long.exists());
    // (A closed stdout, `>&-`, is not a failure: Rust's runtime reopens fds 0-2 on
    // /dev/null at start-up, so it is the same as `>/dev/null`.)
    // A failing stderr while recovering a pending journal never panics.
    let work2 = tmp.path().join("work2");
    copy_dir(&dir, &work2);
    let t = trace_mutations(&probe, &["crl".to_string()]);
    let killed = ca_at(&work2)
        .arg("crl")
        .env("FILECA_FAULT", format!("abort@{}", first_after_commit(&t)))
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = ca_at(&work2).arg("list").stderr(full).output().unwrap();
    assert_ne!(out.status.code(), Some(101), "panicked");
    assert!(out.status.success());
}

#[test]
fn out_to_a_stream_is_written_after_the_commit_like_stdout_output_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let c = csr("p256-default.pem");
    let sign_to = |target: &str| {
        ca_at(&dir)
            .args(["-q", "sign", c.to_str().unwrap(), "--out", target])
            .output()
            .unwrap()
    };
    let out = sign_to("/dev/null");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for target in ["-", "/dev/stdout"] {
        let out = sign_to(target);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!Path::new(target).is_file() || target == "/dev/stdout");
    }
    assert!(
        !dir.join("-").exists() && !Path::new("-").exists(),
        "no file named -"
    );
    // A FIFO with a reader receives the certificate; one without a reader does not hang.
    let fifo = tmp.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // The reader is this process, there before the command starts: the FIFO opened
    // read-write (Linux: never blocks), read once the command is done (a certificate fits in
    // the pipe buffer).
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let out = sign_to(fifo.to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = vec![0; 65536];
    let n = std::io::Read::read(&mut reader, &mut got).unwrap();
    drop(reader);
    assert!(String::from_utf8_lossy(&got[..n]).starts_with("-----BEGIN CERTIFICATE-----"));
    // Without a reader it is refused before the commit (OUTPUT-STREAMS): nothing issued.
    let before = snapshot(&dir);
    let out = sign_to(fifo.to_str().unwrap());
    assert_eq!(out.status.code(), Some(REFUSED));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no reader"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_unchanged(&before, &snapshot(&dir));
    // Any other symlink stays refused.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let out = sign_to(link.to_str().unwrap());
    assert_eq!(out.status.code(), Some(REFUSED));
}

#[test]
fn stdout_appends_and_an_unremovable_journal_or_an_escaped_name_is_only_a_note_output_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let c = csr("p256-default.pem");
    // `--out /dev/stdout` into a file opened for appending appends.
    let log = tmp.path().join("app.log");
    std::fs::write(&log, "IMPORTANT LOG LINE\n".repeat(100)).unwrap();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "FILECA_NOW={NOW} {} -q --dir {} sign {} --out /dev/stdout >> {}",
            bin().display(),
            dir.display(),
            c.display(),
            log.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with(&"IMPORTANT LOG LINE\n".repeat(100)),
        "overwritten"
    );
    assert!(text.ends_with("-----END CERTIFICATE-----\n"));
    // A journal that cannot be removed after every output was delivered is a warning, not
    // an undelivered output.
    let work = tmp.path().join("work");
    copy_dir(&dir, &work);
    let out = tmp.path().join("t.crt");
    let args = [
        "sign".to_string(),
        c.to_str().unwrap().into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ];
    let probe = tmp.path().join("probe");
    copy_dir(&dir, &probe);
    let trace = trace_mutations(&probe, &args);
    std::fs::remove_file(&out).unwrap();
    let last = trace.len(); // the journal's unlink
    assert!(trace[last - 1].contains("Unlink") && trace[last - 1].ends_with("/.journal"));
    let run = ca_at(&work)
        .args(&args)
        .env("FILECA_FAULT", format!("error@{last}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("journal") && !stderr.contains("not delivered"),
        "{stderr}"
    );
    assert!(out.exists());
    // A name with terminal escapes in an "already exists" refusal is escaped.
    let evil = tmp.path().join("x\x1b[31m.crt");
    std::fs::write(&evil, "mine").unwrap();
    let run = ca_at(&dir)
        .args(["sign", c.to_str().unwrap(), "--out", evil.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(REFUSED));
    assert!(!String::from_utf8_lossy(&run.stderr).contains('\x1b'));
}

#[test]
fn an_abandoned_key_is_removed_by_the_next_issue_of_any_name_output_pair_cleanup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let out = tmp.path().join("iss");
    std::fs::create_dir(&out).unwrap();
    let probe = tmp.path().join("probe");
    copy_dir(&dir, &probe);
    let pout = tmp.path().join("pout");
    std::fs::create_dir(&pout).unwrap();
    let trace = trace_mutations(
        &probe,
        &[
            "issue".into(),
            "h1".into(),
            "--out-dir".into(),
            pout.to_str().unwrap().into(),
        ],
    );
    // Killed before its commit point, once the key is staged.
    let key_written = trace
        .iter()
        .position(|l| l.contains(" Fsync ") && l.contains("h1.key"))
        .expect("the key is fsynced")
        + 1;
    let killed = ca_at(&dir)
        .args(["issue", "h1", "--out-dir", out.to_str().unwrap()])
        .env("FILECA_FAULT", format!("abort@{key_written}"))
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let hidden = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count()
    };
    assert_eq!(hidden(&out), 1, "the staged key");
    let next = ca_at(&dir)
        .args(["issue", "h2", "--out-dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert_eq!(hidden(&out), 0, "{}", String::from_utf8_lossy(&next.stderr));
}

#[test]
fn a_failing_stdout_never_panics_a_read_command_output_read_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    // A closed pipe is a normal end; a full device an I/O error; never exit 101.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} completions bash | head -1 >/dev/null; echo rc=${{PIPESTATUS:-x}}",
            bin().display()
        ))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    // Every read command prints through render/: a full device is exit 4 with a message, a
    // broken pipe exit 0 with nothing on stderr.
    let serial = read_index(&dir)["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let cert = dir.join("certs").join(format!("{serial}.pem"));
    let commands: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--json"],
        vec!["list"],
        vec!["list", "--json"],
        vec!["show", &serial],
        vec!["show", &serial, "--json"],
        vec!["show", &serial, "--pem"],
        vec!["log"],
        vec!["log", "--json"],
        vec!["check"],
        vec!["check", "--json"],
        vec!["verify", cert.to_str().unwrap()],
        vec!["man"],
        vec!["completions", "bash"],
        vec!["init", "--subject", "CN=x", "--dry-run"],
        vec!["crl", "--dry-run"],
    ];
    for args in &commands {
        let dir = if args[0] == "init" {
            tmp.path().join("new")
        } else {
            dir.clone()
        };
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = ca_at(&dir).args(args).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(IO), "{args:?} > /dev/full: {err}");
        assert!(
            err.contains("stdout") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
        let mut child = ca_at(&dir)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?} | (closed): {err}");
        assert!(out.stderr.is_empty(), "{args:?}: {err}");
    }
}

/// ISSUE-ENCRYPT: `ca issue --encrypt-key` writes NAME.key encrypted (openssl reads it with the
/// passphrase, not without); the passphrase follows the rules of new passphrases.
#[test]
fn issue_can_encrypt_the_key_it_writes_issue_encrypt() {
    let env = Env::new();
    let pass = write(&env, "key.pass", b"pair passphrase\n");
    std::fs::set_permissions(&pass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out_dir = env.path("pairs");
    env.ok(&[
        "issue",
        "web.test",
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--encrypt-key",
        "--key-passphrase-file",
        pass.to_str().unwrap(),
    ]);
    let key = out_dir.join("web.test/web.test.key");
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("ENCRYPTED PRIVATE KEY")
    );
    let passin = format!("file:{}", pass.display());
    let (ok, log) = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        &passin,
        "-noout",
    ]);
    assert!(ok, "{log}");
    let (ok, _) = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        "pass:wrong",
        "-noout",
    ]);
    assert!(!ok);
    // The key still belongs to the certificate.
    let (_, k) = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        &passin,
        "-pubout",
    ]);
    let crt = out_dir.join("web.test/web.test.crt");
    let (_, c) = openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"]);
    assert_eq!(k, c);
    let short = write(&env, "short.pass", b"short\n");
    let before = snapshot(&env.dir);
    env.refused(
        &[
            "issue",
            "other",
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--encrypt-key",
            "--key-passphrase-file",
            short.to_str().unwrap(),
        ],
        REFUSED,
    );
    assert_unchanged(&before, &snapshot(&env.dir));
    assert!(!out_dir.join("other").exists());
}

#[test]
fn a_stream_target_swapped_for_a_symlink_is_never_written_through_output_stream_race() {
    // Another user swaps SHARED/out.crt between a FIFO and a symlink to a victim's file
    // (renameat2 RENAME_EXCHANGE in a loop) while fileca writes to it: the name was judged by
    // lstat and reopened following symlinks, so certificates were appended to the victim.
    // Now the target is opened once, O_NOFOLLOW, and judged by fstat of that descriptor.
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "the victim's file\n").unwrap();
    let target = shared.join("out.crt");
    let spare = shared.join("spare");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&target)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink(&victim, &spare).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, a, b) = (stop.clone(), target.clone(), spare.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &a,
                    rustix::fs::CWD,
                    &b,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let c = csr("p256-default.pem");
    for i in 0..40 {
        let args: Vec<&str> = if i % 2 == 0 {
            vec![
                "-q",
                "sign",
                c.to_str().unwrap(),
                "--out",
                target.to_str().unwrap(),
            ]
        } else {
            vec!["-q", "crl", "--out", target.to_str().unwrap()]
        };
        let out = ca_at(&dir).args(&args).output().unwrap();
        // A FIFO without a reader, or a symlink: refused before the commit (exit 3).
        assert!(
            matches!(out.status.code(), Some(0) | Some(REFUSED)),
            "{args:?}: {out:?}"
        );
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"the victim's file\n",
            "run {i}: written through the symlink"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(swapper.join().unwrap() > 100, "the swap loop ran");
}

/// OUTPUT-STREAM-WRITABLE: Rust's stdout swallows EBADF, so `ca sign a.csr 1</dev/null`
/// committed the certificate and exited 0 with nothing printed. The descriptor the result
/// goes through is checked before the commit (and in a dry run): read-only is exit 3 and the
/// state byte-identical.
#[test]
fn a_read_only_stdout_or_fd_is_refused_before_the_commit_output_stream_writable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let c = csr("p256-default.pem");
    let c = c.to_str().unwrap();
    let readable = tmp.path().join("readable");
    std::fs::write(&readable, "x").unwrap();
    let read_only = || std::fs::File::open(&readable).unwrap();
    for (args, stdin_ro, stdout_ro, word) in [
        (vec!["sign", c], false, true, "stdout is open read-only"),
        (
            vec!["sign", c, "--dry-run"],
            false,
            true,
            "stdout is open read-only",
        ),
        (
            vec!["sign", c, "--out", "/dev/stdout"],
            false,
            true,
            "--out /dev/stdout is open read-only",
        ),
        (
            vec!["sign", c, "--out", "/dev/fd/0"],
            true,
            false,
            "--out /dev/fd/0 is open read-only",
        ),
        (vec!["crl"], false, true, "stdout is open read-only"),
    ] {
        let before = snapshot(&dir);
        let mut cmd = ca_at(&dir);
        cmd.args(&args);
        if stdin_ro {
            cmd.stdin(read_only());
        }
        if stdout_ro {
            cmd.stdout(read_only());
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains(word) && err.contains("nothing was changed"),
            "{args:?}: {err}"
        );
        assert_unchanged(&before, &snapshot(&dir));
    }
    // init --csr-out - with a read-only stdout: refused before the directory is made.
    let pending = tmp.path().join("pending");
    let out = ca_at(&pending)
        .args(["init", "--subject", "CN=P", "--csr-out", "-"])
        .stdout(read_only())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(!pending.exists());
    // Writable, the same commands print the certificate.
    let out = ca_at(&dir).args(["sign", c]).output().unwrap();
    assert!(out.status.success() && out.stdout.starts_with(b"-----BEGIN CERTIFICATE-----"));
}

/// EXIT-PIPE: every read command whose output exceeds a pipe's buffer (64 KiB), written into
/// a pipe whose reader is gone (`ca list | head -1`), ends with exit 0 and nothing on stderr —
/// whether the write that meets the closed pipe is a row, a buffer flush or a whole report.
/// The CA holds 2,500 certificates from one batch, so `list` (≈375 KiB), `list --json`
/// (≈1.2 MiB), `log` and `log --json` (one record naming 2,500 serials) all pass 64 KiB.
#[test]
#[ignore = "full tier: big sizes: thousands of certificates into a closed pipe"]
fn read_commands_larger_than_a_pipe_end_quietly_when_the_reader_is_gone_exit_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    let run = |args: &[&str]| {
        let out = ca_at(&dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    run(&["init", "--subject", "CN=Big CA", "--key-type", "ed25519"]);
    // One CSR named 2,500 times: one batch, one commit (SPEC.md BATCH-*).
    let list = tmp.path().join("todo.txt");
    let line = format!("{}\n", csr("ed25519-default.pem").display());
    std::fs::write(&list, line.repeat(2500)).unwrap();
    run(&["sign", "--from-list", list.to_str().unwrap()]);
    let serial = read_index(&dir)["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let cert = dir.join("certs").join(format!("{serial}.pem"));
    let commands: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["list", "--json"],
        vec!["list", "--status", "valid"],
        vec!["log"],
        vec!["log", "--json"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["show", &serial],
        vec!["show", &serial, "--json"],
        vec!["show", &serial, "--pem"],
        vec!["show", &serial, "--der"],
        vec!["show", "--ca"],
        vec!["check"],
        vec!["check", "--json"],
        vec!["verify", cert.to_str().unwrap()],
        vec!["verify", cert.to_str().unwrap(), "--json"],
        vec!["policy", "show"],
        vec!["man"],
        vec!["man", "sign"],
        vec!["completions", "bash"],
        vec!["sign", cert.to_str().unwrap(), "--help"],
    ];
    for args in &commands {
        let size = run(args).stdout.len();
        if ["list", "log"].contains(&args[0]) {
            assert!(size > 64 << 10, "{args:?} prints only {size} bytes");
        }
        let before = snapshot(&dir);
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ca_at(&dir).args(args).stdout(writer).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?} | (closed): {err}");
        assert!(out.stderr.is_empty(), "{args:?} | (closed): {err}");
        assert_unchanged(&before, &snapshot(&dir));
    }
}
