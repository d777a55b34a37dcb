//! Tests that need something from the machine: a tiny filesystem for disk-full runs
//! (SPEC.md COMMIT-ENOSPC, an unprivileged mount namespace: TEST-PRIVILEGE) and strace for the
//! order of durable writes (COMMIT-ORDER; missing, the test fails naming it: TEST-TOOLS).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use crate::harness::*;

#[test]
#[ignore = "full tier: strace, unshare (user namespaces) and scripts/validate.sh"]
fn disk_full_fails_cleanly_and_changes_nothing_commit_enospc() {
    require_privilege("unshare");
    let tmp = tempfile::tempdir().unwrap();
    let base = deterministic_ca(tmp.path());
    let script = r#"
set -u
mnt=$1 base=$2 ca=$3 csr=$4 out=$5 free_kb=$6 cmd=$7
mount -t tmpfs -o size=512k none "$mnt" || exit 90
cp -a "$base" "$mnt/pki" || exit 91
total=$(df -k --output=avail "$mnt" | tail -1)
fill=$(( total - free_kb ))
[ "$fill" -gt 0 ] && dd if=/dev/zero of="$mnt/fill" bs=1k count="$fill" 2>/dev/null
snap() { (cd "$mnt/pki" && find . -exec stat -c '%n %a' {} + | sort && find . -type f -exec sha256sum {} + | sort); }
snap > "$out/before"
case "$cmd" in
  sign) set -- sign "$csr" ;;
  sign-out) set -- sign "$csr" --out "$mnt/out.pem" ;;
  *) set -- crl ;;
esac
FILECA_NOW=2026-06-01T12:00:00Z "$ca" --dir "$mnt/pki" "$@" >/dev/null 2>"$out/err"
echo $? > "$out/rc"
snap > "$out/after"
FILECA_NOW=2026-06-01T12:00:00Z "$ca" --dir "$mnt/pki" check > "$out/check" 2>&1
echo $? > "$out/check_rc"
[ -e "$mnt/out.pem" ] && cp "$mnt/out.pem" "$out/out.pem"
ls -a "$mnt" > "$out/mnt_ls"
"#;
    let mut failures_seen = 0;
    let mut undelivered_seen = 0;
    for cmd in ["sign", "crl", "sign-out"] {
        for free_kb in [0, 4, 8, 12, 16, 20, 24, 32, 64] {
            let out = tmp.path().join(format!("out-{cmd}-{free_kb}"));
            let mnt = tmp.path().join(format!("mnt-{cmd}-{free_kb}"));
            std::fs::create_dir(&out).unwrap();
            std::fs::create_dir(&mnt).unwrap();
            let status = Command::new("unshare")
                .args(["-Urm", "sh", "-c", script, "sh"])
                .arg(&mnt)
                .arg(&base)
                .arg(bin())
                .arg(csr("rsa4096-default.pem"))
                .arg(&out)
                .arg(free_kb.to_string())
                .arg(cmd)
                .status()
                .unwrap();
            assert!(
                status.success() || status.code() == Some(0),
                "setup failed: {status}"
            );
            let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap_or_default();
            let rc: i32 = read("rc").trim().parse().unwrap_or(-1);
            let err = read("err");
            // No hidden staging file is ever left beside an output.
            assert!(
                !read("mnt_ls").contains(".fileca-"),
                "{cmd} with {free_kb} KiB free left {}",
                read("mnt_ls")
            );
            if rc == 0 {
                assert_eq!(
                    read("check_rc").trim(),
                    "0",
                    "{cmd} with {free_kb} KiB free: {}",
                    read("check")
                );
                if cmd == "sign-out" {
                    assert!(out.join("out.pem").exists(), "{cmd} {free_kb}: no output");
                }
            } else if rc == UNDELIVERED {
                // Committed, but the output did not fit: exit 8 names the serial and how to
                // get the certificate; the CA is consistent.
                assert_eq!(cmd, "sign-out", "{err}");
                undelivered_seen += 1;
                assert!(err.contains("ca show") && err.contains("--pem"), "{err}");
                assert!(!out.join("out.pem").exists());
                assert_eq!(read("check_rc").trim(), "0", "{}", read("check"));
            } else {
                failures_seen += 1;
                assert_eq!(rc, IO, "{cmd} with {free_kb} KiB free: {err}");
                assert!(
                    err.contains("No space left on device"),
                    "{cmd} with {free_kb} KiB: {err}"
                );
                assert_eq!(
                    read("before"),
                    read("after"),
                    "{cmd} with {free_kb} KiB free changed the directory"
                );
                assert_eq!(read("check_rc").trim(), "0", "{}", read("check"));
            }
        }
    }
    assert!(
        failures_seen >= 2,
        "the filesystem was never full enough to fail"
    );
    eprintln!("disk full: {failures_seen} clean failures, {undelivered_seen} undelivered outputs");
}

/// The path arguments of a traced call, resolved: a relative name is joined to the directory
/// of the descriptor before it (`renameat2(3</d>, "a", 3</d>, "b")` gives `/d/a`, `/d/b`).
fn call_paths(call: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fd_dir = String::new();
    let mut rest = call.split_once('(').map(|(_, r)| r).unwrap_or("");
    loop {
        let lt = rest.find('<');
        let q = rest.find('"');
        match (lt, q) {
            (Some(l), q) if q.is_none_or(|q| l < q) => {
                let after = &rest[l + 1..];
                let end = after.find('>').unwrap_or(after.len());
                fd_dir = after[..end].to_string();
                rest = &after[end..];
            }
            (_, Some(q)) => {
                let after = &rest[q + 1..];
                let end = after.find('"').unwrap_or(after.len());
                let s = &after[..end];
                out.push(if s.starts_with('/') {
                    s.to_string()
                } else {
                    format!("{fd_dir}/{s}")
                });
                rest = after.get(end + 1..).unwrap_or("");
            }
            _ => return out,
        }
    }
}

/// Runs `ca ARGS` under strace and checks that every renamed or linked file was fsynced
/// before the rename and its directory after it.
fn check_syscall_order(dir: &Path, args: &[&str]) {
    let log = dir
        .parent()
        .unwrap()
        .join(format!("strace-{}.log", args[0]));
    let status = Command::new("strace")
        .args(["-f", "-qq", "-y", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=open,openat,fsync,fdatasync,syncfs,sync,rename,renameat,renameat2,link,linkat",
        ])
        .arg(bin())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("FILECA_NOW", NOW)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let mut synced: HashSet<String> = HashSet::new();
    let mut pending_dirs: Vec<(String, String)> = Vec::new(); // (dir to fsync, why)
    let mut renames = 0;
    let mut created: Vec<String> = Vec::new();
    // Which descriptors were opened for writing (one process; its threads share them): a
    // file must be fsynced through the descriptor that wrote it, so that its writeback errors
    // reach us (COMMIT-FSYNC).
    let mut writable: HashSet<String> = HashSet::new();
    let mut dir_fds: HashSet<String> = HashSet::new();
    for line in text.lines() {
        let call = line.split_once(' ').map(|(_, c)| c.trim()).unwrap_or(line);
        if (call.starts_with("openat(") || call.starts_with("open(")) && !call.contains("= -1") {
            let fd = call
                .rsplit_once("= ")
                .map(|(_, r)| r.split('<').next().unwrap_or("").to_string())
                .unwrap_or_default();
            if call.contains("O_DIRECTORY") {
                dir_fds.insert(fd.clone());
            } else {
                dir_fds.remove(&fd);
            }
            let key = fd;
            if call.contains("O_WRONLY") || call.contains("O_RDWR") {
                writable.insert(key);
            } else {
                writable.remove(&key);
            }
        }
        if (call.starts_with("fsync(") || call.starts_with("fdatasync("))
            && !call.contains("O_DIRECTORY")
        {
            let fd = call
                .split_once('(')
                .map(|(_, r)| r.split('<').next().unwrap_or("").to_string())
                .unwrap_or_default();
            let path = call
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(p, _)| p.to_string())
                .unwrap_or_default();
            let is_dir = dir_fds.contains(&fd);
            assert!(
                is_dir || writable.contains(&fd),
                "{path} was fsynced through a descriptor that did not write it: {line}"
            );
        }
        if call.starts_with("openat(") && call.contains("O_CREAT") && !call.contains("= -1") {
            // A file created before a syncfs is durable after it.
            if let Some(path) = call_paths(call).first() {
                created.push(path.clone());
            }
        } else if call.starts_with("syncfs(") || call.starts_with("sync(") {
            panic!("fileca must not call syncfs or sync (SPEC.md COMMIT-FSYNC): {line}");
        } else if call.starts_with("fsync(") || call.starts_with("fdatasync(") {
            let path = call
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(p, _)| p.to_string())
                .unwrap_or_default();
            pending_dirs.retain(|(d, _)| d != &path);
            synced.insert(path);
        } else if call.starts_with("rename") || call.starts_with("link") {
            if call.contains("= -1") {
                continue;
            }
            let paths = call_paths(call);
            assert!(paths.len() >= 2, "cannot parse {line}");
            let (from, to) = (paths[0].as_str(), paths[1].as_str());
            assert!(
                synced.contains(from),
                "{from} was renamed/linked without an fsync first:\n{text}"
            );
            let parent = Path::new(to)
                .parent()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            pending_dirs.push((parent, format!("{from} -> {to}")));
            renames += 1;
        }
    }
    assert!(renames > 0, "no renames traced:\n{text}");
    assert!(
        pending_dirs.is_empty(),
        "directories not fsynced after renames: {pending_dirs:?}\n{text}"
    );
}

#[test]
#[ignore = "full tier: strace, unshare (user namespaces) and scripts/validate.sh"]
fn every_rename_is_preceded_by_fsync_and_followed_by_directory_fsync_commit_order() {
    require("strace", "strace");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let dir = root.join("pki");
    check_syscall_order(&dir, &["init", "--subject", "CN=Order"]);
    check_syscall_order(&dir, &["sign", csr("p256-default.pem").to_str().unwrap()]);
    let serial = std::fs::read_dir(dir.join("certs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .trim_end_matches(".pem")
        .to_string();
    check_syscall_order(&dir, &["revoke", &serial]);
    let out = root.join("out.crl");
    check_syscall_order(&dir, &["crl", "--out", out.to_str().unwrap()]);
    let batch = root.join("batch");
    std::fs::create_dir(&batch).unwrap();
    for i in 0..12 {
        std::fs::copy(csr("p256-default.pem"), batch.join(format!("r{i}.pem"))).unwrap();
    }
    check_syscall_order(&dir, &["sign", batch.to_str().unwrap()]);
    let issued = root.join("issued");
    check_syscall_order(
        &dir,
        &[
            "sign",
            batch.to_str().unwrap(),
            "--out-dir",
            issued.to_str().unwrap(),
        ],
    );
    check_syscall_order(
        &dir,
        &["issue", "site.test", "--out-dir", root.to_str().unwrap()],
    );
    let renewed = root.join("renewed.pem");
    check_syscall_order(
        &dir,
        &[
            "renew",
            &serial,
            "--force",
            "--out",
            renewed.to_str().unwrap(),
        ],
    );
    check_syscall_order(&dir, &["renew-ca"]);
    let pass = root.join("pass");
    std::fs::write(&pass, "s3cret passphrase\n").unwrap();
    check_syscall_order(
        &dir,
        &["passwd", "--new-passphrase-file", pass.to_str().unwrap()],
    );
}

/// scripts/validate.sh: every step that checks a `ca` command fails when that command does
/// nothing (it printed PASS for 4 steps with no binary at all), and the script fails.
#[test]
#[ignore = "full tier: strace, unshare (user namespaces) and scripts/validate.sh"]
fn the_validation_script_cannot_pass_without_a_working_ca_validate() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .env("VALIDATE_CA", "/bin/true")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let passed: Vec<&str> = text.lines().filter(|l| l.starts_with("PASS")).collect();
    assert!(
        passed.iter().all(|l| l.contains("openssl req makes")),
        "steps that passed with a ca that does nothing: {passed:?}"
    );
    assert!(
        text.contains("FAIL  a SHA-1 CSR is refused (exit 3)"),
        "{text}"
    );
}
