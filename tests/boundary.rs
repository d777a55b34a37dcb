//! The hostile boundary (SPEC.md HOSTILE-CLEANUP): fileca removes only what it can prove it
//! created — never through a symlink, never by path after a check, only directories owned by
//! the user running it that hold its marker, never outside the directory it was pointed at.
//! A second user (`nobody`) plants entries in a sticky, world-writable shared directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// Runs a shell command as `nobody` (when the tests run as root; otherwise as ourselves, which
/// still exercises the symlink rules).
fn as_other_user(script: &str) {
    let root = rustix::process::geteuid().is_root();
    let status = if root {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                script,
            ])
            .status()
    } else {
        Command::new("sh").args(["-c", script]).status()
    }
    .unwrap();
    assert!(status.success(), "{script}");
}

/// A sticky, world-writable directory, as /tmp is.
fn shared_dir(root: &Path) -> PathBuf {
    let shared = root.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    // The test's temporary root must be reachable by the other user.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    shared
}

#[test]
fn issue_never_deletes_through_a_symlink_planted_as_an_abandoned_staging_dir_hostile_cleanup() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = deterministic_ca(tmp.path());
    let before = snapshot(&victim);
    let shared = shared_dir(tmp.path());
    // Mallory plants a "staging directory" of a dead process that is a link to alice's CA,
    // and a real directory of his own with the same kind of name.
    as_other_user(&format!(
        "ln -s {v} {s}/.site.test.fileca-999990-x && mkdir {s}/.site.test.fileca-999991-y && \
         echo data > {s}/.site.test.fileca-999991-y/.fileca-staging && \
         echo data > {s}/.site.test.fileca-999991-y/keep",
        v = victim.display(),
        s = shared.display()
    ));
    let out = ca_at(&victim)
        .args(["issue", "site.test", "--out-dir", shared.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Alice's CA lost nothing but gained the certificate it issued.
    let after = snapshot(&victim);
    for k in before.keys() {
        assert!(after.contains_key(k), "{k} was deleted");
    }
    assert!(
        std::fs::symlink_metadata(shared.join(".site.test.fileca-999990-x"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    if rustix::process::geteuid().is_root() {
        // Not ours: left alone.
        assert!(shared.join(".site.test.fileca-999991-y/keep").exists());
    }
    assert!(shared.join("site.test/site.test.key").exists());
}

#[test]
fn init_never_deletes_through_a_symlink_planted_as_an_abandoned_init_hostile_cleanup() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = deterministic_ca(tmp.path());
    let before = snapshot(&victim);
    let shared = shared_dir(tmp.path());
    as_other_user(&format!(
        "ln -s {v} {s}/.pki.init-999990-x",
        v = victim.display(),
        s = shared.display()
    ));
    let out = ca_at(&shared.join("pki"))
        .args(["init", "--subject", "CN=Alice"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_unchanged(&before, &snapshot(&victim));
}

#[test]
fn init_cleanup_cannot_be_raced_into_a_symlink_hostile_cleanup_race() {
    // The attack of the review: renameat2(RENAME_EXCHANGE) swaps a real abandoned staging
    // directory with a symlink to the victim while init checks and removes it. fileca opens
    // the entry once with O_NOFOLLOW and works through that descriptor, so whatever it opens
    // is what it removes.
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let tmp = tempfile::tempdir().unwrap();
    let victim = deterministic_ca(tmp.path());
    let before = snapshot(&victim);
    let shared = shared_dir(tmp.path());
    for round in 0..20 {
        let name = format!("pki{round}");
        let staging = shared.join(format!(".{name}.init-999990-x"));
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join(".lock"), "").unwrap();
        std::fs::write(staging.join("ca.key"), "abandoned").unwrap();
        let link = shared.join(format!("swap{round}"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, staging, link) = (stop.clone(), staging.clone(), link.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if renameat_with(CWD, &staging, CWD, &link, RenameFlags::EXCHANGE).is_err() {
                        break; // the real directory was removed: nothing left to swap
                    }
                }
            })
        };
        let out = ca_at(&shared.join(&name))
            .args(["init", "--subject", "CN=Race"])
            .output()
            .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_unchanged(&before, &snapshot(&victim));
    }
}

#[test]
fn lock_file_is_owner_only_and_fixed_by_the_next_mutation_lock_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join(".lock")), 0o600, "a new CA's .lock");
    std::fs::set_permissions(dir.join(".lock"), std::fs::Permissions::from_mode(0o644)).unwrap();
    // Reads and refused commands leave it alone; the next commit fixes it.
    assert!(ca_at(&dir).arg("status").output().unwrap().status.success());
    assert_eq!(mode(&dir.join(".lock")), 0o644);
    assert!(ca_at(&dir).arg("crl").output().unwrap().status.success());
    assert_eq!(mode(&dir.join(".lock")), 0o600);
}

#[test]
fn a_fifo_in_place_of_the_lock_is_refused_without_hanging_hostile_lock_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    std::fs::remove_file(dir.join(".lock")).unwrap();
    let st = Command::new("mkfifo")
        .arg(dir.join(".lock"))
        .status()
        .unwrap();
    assert!(st.success());
    let before = snapshot(&dir);
    let mut crl = ca_at(&dir);
    crl.arg("crl");
    let status = bounded(crl, std::time::Duration::from_secs(10)).status; // a hang fails
    assert_eq!(status.code(), Some(STATE));
    assert_unchanged(&before, &snapshot(&dir));
}

#[test]
#[ignore = "full tier: root, setpriv (util-linux)"]
fn a_process_that_may_hold_key_material_is_not_dumpable_hostile_dump() {
    // Observable from outside: the /proc/PID files of a non-dumpable process belong to root.
    // So run `ca` as another user, blocked reading a passphrase from a FIFO whose writer
    // stays silent, and look at who owns its /proc entry.
    require_privilege("root");
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let fifo = tmp.path().join("pass");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).unwrap();
    // The silent writer: keeps the FIFO open so the reader blocks.
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .arg("--dir")
        .arg(tmp.path().join("pki"))
        .args([
            "init",
            "--subject",
            "CN=Dump",
            "--encrypt-key",
            "--passphrase-file",
        ])
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // setpriv execs ca in the same process; wait until it is ca and blocked.
    let proc_dir = PathBuf::from(format!("/proc/{}", child.id()));
    // Blocked on the FIFO once it has it open (root reads /proc/PID/fd either way).
    wait_until_open(child.id(), &fifo);
    let exe = std::fs::read_link(proc_dir.join("exe")).unwrap_or_default();
    assert!(exe.file_name().is_some_and(|n| n == "ca"), "{exe:?}");
    let owner = std::fs::metadata(proc_dir.join("status"))
        .ok()
        .map(|m| m.uid());
    let _ = child.kill();
    let _ = child.wait();
    drop(writer);
    assert_eq!(owner, Some(0), "ca running as uid 65534 is dumpable");
}

#[test]
fn a_huge_journal_is_refused_without_reading_it_hostile_journal_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    // 3 GB, sparse: reading it whole would take 3 GB of memory.
    let f = std::fs::File::create(dir.join(".journal")).unwrap();
    f.set_len(3 << 30).unwrap();
    drop(f);
    std::fs::set_permissions(dir.join(".journal"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = ca_at(&dir).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(STATE));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("limit"), "{stderr}");
}

#[test]
fn a_state_directory_others_can_write_or_own_is_not_trusted_for_changes_hostile_trust() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let set =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    for (what, path, mode) in [
        ("the directory, world-writable", dir.clone(), 0o777),
        (
            "certs/, group-writable by a shared group",
            dir.join("certs"),
            0o775,
        ),
    ] {
        // A group-writable directory is fine only for the owner's private group (gid = uid).
        if mode == 0o775 {
            std::os::unix::fs::chown(&path, None, Some(4242)).unwrap();
        }
        let old = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        set(&path, mode);
        let before = snapshot(&dir);
        let out = ca_at(&dir).arg("crl").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(STATE), "{what}: {stderr}");
        assert!(stderr.contains("chmod"), "{what}: names the fix: {stderr}");
        assert_unchanged(&before, &snapshot(&dir));
        // Reads warn and work; check reports it; the override lets a change through.
        let out = ca_at(&dir).arg("status").output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
        let out = ca_at(&dir).arg("check").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("writable"));
        let out = ca_at(&dir)
            .args(["crl", "--allow-insecure-dir"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        set(&path, old);
        if mode == 0o775 {
            std::os::unix::fs::chown(&path, None, Some(0)).unwrap();
        }
    }
    // The user-private-group convention: group-writable by a group whose id is the owner's.
    set(&dir, 0o770);
    assert!(ca_at(&dir).arg("crl").output().unwrap().status.success());
    set(&dir, 0o700);
    // A directory that belongs to another user (here: root's CA used by nobody is fine to
    // read; nobody's CA changed by root is refused: its new files would belong to root).
    if rustix::process::geteuid().is_root() {
        let theirs = tmp.path().join("theirs");
        copy_dir(&dir, &theirs);
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&theirs)
            .status()
            .unwrap();
        let out = ca_at(&theirs).arg("crl").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(STATE), "{stderr}");
        assert!(stderr.contains("sudo -u"), "{stderr}");
    }
}

#[test]
fn a_slow_passphrase_source_does_not_hold_the_lock_hostile_input_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "s3cret passphrase\n").unwrap();
    let init = ca_at(&dir)
        .args([
            "init",
            "--subject",
            "CN=Slow",
            "--encrypt-key",
            "--passphrase-file",
        ])
        .arg(&pass)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let fifo = tmp.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    // Blocked reading a passphrase nobody types yet...
    let mut slow = ca_at(&dir)
        .args(["crl", "--passphrase-file"])
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until_open(slow.id(), &fifo);
    // ...while another mutation gets the lock at once.
    let other = ca_at(&dir)
        .args(["--lock-timeout", "1", "crl", "--passphrase-file"])
        .arg(&pass)
        .output()
        .unwrap();
    let _ = slow.kill();
    let _ = slow.wait();
    drop(writer);
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
}

#[test]
fn a_planted_journal_cannot_write_elsewhere_hostile_journal_plant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    // A "certificate" whose base64 body is a command, planted as an archived CA certificate,
    // and a journal (valid checksum) publishing it as the victim's shell profile.
    let fake = "-----BEGIN CERTIFICATE-----\nL3RtcC9wd24K\n-----END CERTIFICATE-----\n";
    std::fs::write(dir.join("ca-AB.crt"), fake).unwrap();
    let plant = |source: &str, content: &[u8]| {
        plant_journal(
            &dir,
            serde_json::json!([{"dir": "../victim", "name": ".bash_profile", "source": source,
                                "sha256": fileca::hex::sha256(content)}]),
        );
    };
    plant("ca-AB.crt", fake.as_bytes());
    let out = ca_at(&dir).arg("list").output().unwrap();
    assert!(!victim.join(".bash_profile").exists(), "{out:?}");
    // A certificate that is not signed by this CA's key, even named like a recorded one.
    let serial = read_index(&dir)["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let foreign = tmp.path().join("foreign.crt");
    openssl_self_signed(
        &tmp.path().join("f.key"),
        &foreign,
        "/CN=x",
        &["-set_serial", &format!("0x{serial}")],
    );
    let pem = std::fs::read(&foreign).unwrap();
    std::fs::write(dir.join(format!("certs/{serial}.pem")), &pem).unwrap();
    plant(&format!("certs/{serial}.pem"), &pem);
    let out = ca_at(&dir).arg("list").output().unwrap();
    assert!(!victim.join(".bash_profile").exists(), "{out:?}");
    // On a directory others can write, recovery does not run at all (even for a read).
    plant(&format!("certs/{serial}.pem"), &pem);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = ca_at(&dir).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(STATE), "{out:?}");
    assert!(!victim.join(".bash_profile").exists());
    assert!(dir.join(".journal").exists());
}

#[test]
fn a_committed_pair_is_never_cleaned_up_by_another_issue_hostile_cleanup_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let a = deterministic_ca(tmp.path());
    let b = tmp.path().join("b");
    copy_dir(&a, &b);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let args: Vec<String> = ["issue", "web.test", "--out-dir", out.to_str().unwrap()]
        .map(String::from)
        .to_vec();
    let probe = tmp.path().join("probe");
    copy_dir(&a, &probe);
    let probe_out = tmp.path().join("probe-out");
    std::fs::create_dir(&probe_out).unwrap();
    let probe_args: Vec<String> = [
        "issue",
        "web.test",
        "--out-dir",
        probe_out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let trace = trace_mutations(&probe, &probe_args);
    // CA a is killed after its commit point, before publishing the pair.
    let killed = ca_at(&a)
        .args(&args)
        .env(
            "FILECA_FAULT",
            format!("abort@{}", first_after_commit(&trace) + 1),
        )
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let staged: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".web.test.fileca-"))
        .collect();
    assert_eq!(staged.len(), 1, "{staged:?}");
    // CA b issues the same name into the same directory: it must not delete a's key.
    let other = ca_at(&b)
        .args([
            "issue",
            "web.test",
            "--out-dir",
            out.to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    assert!(
        out.join(&staged[0]).join("web.test.key").exists(),
        "a's committed key was deleted"
    );
}

#[test]
fn a_state_file_with_a_second_name_is_refused_hostile_hardlink() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    std::fs::hard_link(dir.join("audit.log"), tmp.path().join("elsewhere")).unwrap();
    let before = snapshot(&dir);
    let out = ca_at(&dir).arg("crl").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(STATE),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("hard link"));
    assert_unchanged(&before, &snapshot(&dir));
}

#[test]
fn a_state_file_others_can_write_is_not_trusted_hostile_trust_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    std::fs::set_permissions(
        dir.join("index.log"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let out = ca_at(&dir).arg("crl").output().unwrap();
    assert_eq!(out.status.code(), Some(STATE));
    assert!(String::from_utf8_lossy(&out.stderr).contains("index.log"));
    let out = ca_at(&dir).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}
