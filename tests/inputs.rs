//! Input files that could hang fileca or exhaust its memory (SPEC.md section 6, HOSTILE-INPUT):
//! FIFOs without a writer, devices, oversized files and lists, raw control characters.
//!
//! Every command here runs under a deadline (harness `bounded`, [`IMMEDIATE`]) so that a regression fails the test
//! instead of hanging CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::*;

/// How long a refusal may take; the refusals here are immediate.
const IMMEDIATE: Duration = Duration::from_secs(5);

/// Runs `bash -c SCRIPT` under the deadline (for process substitution) and asserts success.
#[track_caller]
fn bash_ok(script: &str) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .env_remove("CA_PASSPHRASE_FILE")
        .env_remove("CA_DIR");
    let out = bounded(cmd, IMMEDIATE);
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mkfifo(path: &Path) -> PathBuf {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
    path.to_path_buf()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A CA whose key is encrypted with the passphrase in the returned file.
fn encrypted_ca() -> (Env, PathBuf) {
    let env = Env::empty();
    let pass = write(&env, "pass", b"correct horse\n");
    env.ok(&[
        "--passphrase-file",
        s(&pass),
        "init",
        "--subject",
        "CN=Sealed",
        "--encrypt-key",
    ]);
    (env, pass)
}

#[test]
fn a_fifo_without_a_writer_given_as_a_csr_is_refused_at_once_hostile_input() {
    let env = Env::new();
    let fifo = mkfifo(&env.path("request.pem"));
    let err = env.refused_within(&["sign", s(&fifo)], REFUSED, IMMEDIATE);
    assert!(
        err.contains("request.pem") && err.contains("no data"),
        "{err}"
    );
    // The other commands that read a CSR or a certificate.
    let serial = env.sign(&csr("p256-default.pem"), &[]).1;
    let err = env.refused_within(&["renew", &serial, "--csr", s(&fifo)], REFUSED, IMMEDIATE);
    assert!(err.contains("no data"), "{err}");
    let err = env.refused_within(&["verify", s(&fifo)], REFUSED, IMMEDIATE);
    assert!(err.contains("no data"), "{err}");
}

#[test]
fn pipes_and_process_substitution_keep_working_hostile_input() {
    let env = Env::new();
    let out = bash_ok(&format!(
        "exec '{}' --dir '{}' sign <(cat '{}')",
        bin().display(),
        env.dir.display(),
        csr("p256-default.pem").display()
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BEGIN CERTIFICATE"));
    let (env, _) = encrypted_ca();
    let out = bash_ok(&format!(
        "exec '{}' --dir '{}' --passphrase-file <(printf 'correct horse\\nuser: ca\\n') sign '{}'",
        bin().display(),
        env.dir.display(),
        csr("p256-default.pem").display()
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BEGIN CERTIFICATE"));
    env.assert_check_ok();
}

#[test]
fn a_batch_directory_takes_only_regular_files_hostile_input() {
    let env = Env::new();
    let dir = env.path("requests");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(csr("p256-default.pem"), dir.join("a.pem")).unwrap();
    mkfifo(&dir.join("b.pem"));
    let err = env.refused_within(&["sign", s(&dir)], REFUSED, IMMEDIATE);
    assert!(
        err.contains("b.pem") && err.contains("not a regular file"),
        "{err}"
    );
    std::fs::remove_file(dir.join("b.pem")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("c.csr")).unwrap();
    let err = env.refused_within(&["sign", s(&dir)], REFUSED, IMMEDIATE);
    assert!(
        err.contains("c.csr") && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn passphrase_files_are_bounded_and_never_block_hostile_input() {
    let (env, pass) = encrypted_ca();
    let p256 = csr("p256-default.pem");
    let fifo = mkfifo(&env.path("pass.fifo"));
    let err = env.refused_within(
        &["--passphrase-file", s(&fifo), "sign", s(&p256)],
        REFUSED,
        IMMEDIATE,
    );
    assert!(
        err.contains("pass.fifo") && err.contains("no data"),
        "{err}"
    );
    let err = env.refused_within(
        &["--passphrase-file", "/dev/zero", "sign", s(&p256)],
        REFUSED,
        IMMEDIATE,
    );
    assert!(err.contains("/dev/zero") && err.contains("device"), "{err}");
    let long = write(&env, "long", &[b'x'; 5000]);
    let err = env.refused_within(
        &["--passphrase-file", s(&long), "sign", s(&p256)],
        REFUSED,
        IMMEDIATE,
    );
    assert!(err.contains("4096"), "{err}");
    assert!(
        !err.contains("xxxx"),
        "the passphrase is never echoed: {err}"
    );
    let err = env.refused_within(
        &[
            "--passphrase-file",
            s(&pass),
            "passwd",
            "--new-passphrase-file",
            "/dev/zero",
        ],
        REFUSED,
        IMMEDIATE,
    );
    assert!(err.contains("device"), "{err}");
    // Only the first line counts, and what follows it is not read: a `pass` entry with
    // long notes still works.
    let notes = [b"correct horse\n".as_slice(), &[b'n'; 20_000]].concat();
    let notes = write(&env, "notes", &notes);
    env.ok(&["--passphrase-file", s(&notes), "sign", s(&p256)]);
}

#[test]
fn from_list_is_bounded_and_never_echoes_a_raw_line_hostile_input() {
    let env = Env::new();
    // Larger than 16 MiB: refused before reading it (a sparse file of NUL bytes).
    let big = env.path("big.list");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    let err = env.refused_within(&["sign", "--from-list", s(&big)], REFUSED, IMMEDIATE);
    assert!(err.contains("big.list") && err.contains("16 MiB"), "{err}");
    assert!(err.len() < 1000, "{} bytes of error", err.len());
    // One line longer than a path can be.
    let long = write(&env, "long.list", &[b'A'; 10_000]);
    let err = env.refused_within(&["sign", "--from-list", s(&long)], REFUSED, IMMEDIATE);
    assert!(err.contains("line 1") && err.contains("4096"), "{err}");
    assert!(err.len() < 1000, "{} bytes of error", err.len());
    // More entries than a batch may hold.
    let many = write(&env, "many.list", "x.pem\n".repeat(100_001).as_bytes());
    let err = env.refused_within(&["sign", "--from-list", s(&many)], REFUSED, IMMEDIATE);
    assert!(err.contains("100000 entries"), "{err}");
    assert!(err.len() < 1000, "{} bytes of error", err.len());
    // Control characters in an entry are escaped, never printed raw.
    let evil = write(&env, "evil.list", b"\x1b[31mred\x07.pem\n");
    let err = env.refused_within(&["sign", "--from-list", s(&evil)], REFUSED, IMMEDIATE);
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    assert!(err.contains(r"\u{001b}[31mred\u{0007}.pem"), "{err}");
    // A FIFO without a writer, and a device.
    let fifo = mkfifo(&env.path("list.fifo"));
    let err = env.refused_within(&["sign", "--from-list", s(&fifo)], REFUSED, IMMEDIATE);
    assert!(err.contains("no data"), "{err}");
    let err = env.refused_within(&["sign", "--from-list", "/dev/zero"], REFUSED, IMMEDIATE);
    assert!(err.contains("device"), "{err}");
}

#[test]
fn import_inputs_are_bounded_and_never_block_hostile_input() {
    let env = Env::empty();
    let fifo = mkfifo(&env.path("key.fifo"));
    let crt = write(&env, "ca.crt", b"");
    let err = env.refused_within(
        &["init", "--import-key", s(&fifo), "--import-cert", s(&crt)],
        REFUSED,
        IMMEDIATE,
    );
    assert!(err.contains("no data"), "{err}");
    let err = env.refused_within(
        &[
            "init",
            "--import-key",
            "/dev/zero",
            "--import-cert",
            s(&crt),
        ],
        REFUSED,
        IMMEDIATE,
    );
    assert!(err.contains("device"), "{err}");
    assert!(!env.dir.exists());
}

/// EXIT-REFUSED / EXIT-USAGE: a file named on the command line that is missing or unreadable
/// is exit 3 (bad input, like one with bad content), never 4 (which is for the CA directory
/// and outputs); a malformed --san or --subject is a usage error, exit 2. Nothing changes.
#[test]
fn missing_inputs_are_refused_and_bad_option_values_are_usage_errors_exit_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let before = snapshot(&env.dir);
    let missing = env.path("missing.csr");
    let err = env.refused(&["sign", missing.to_str().unwrap()], REFUSED);
    assert!(err.contains("missing.csr: No such file"), "{err}");
    env.refused(&["verify", missing.to_str().unwrap()], REFUSED);
    let unreadable = env.path("unreadable.csr");
    std::fs::copy(csr("p256-default.pem"), &unreadable).unwrap();
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    let as_nobody = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(bin())
        .arg("--dir")
        .arg(env.path("nobody-ca"))
        .args(["sign", unreadable.to_str().unwrap()])
        .output();
    if let Ok(out) = as_nobody
        && nix_root()
    {
        // nobody cannot open it: refused before the (missing) CA directory is looked at.
        assert_eq!(out.status.code(), Some(REFUSED), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    }
    let p = csr("p256-default.pem");
    let p = p.to_str().unwrap();
    env.refused(&["sign", p, "--san", "DNS:bad..example"], USAGE);
    env.refused(&["issue", "web.test", "--subject", "CN=a,CN=b"], USAGE);
    assert_unchanged(&before, &snapshot(&env.dir));
    let fresh = Env::empty();
    fresh.refused(&["init", "--subject", "XX=bad"], USAGE);
    assert!(!fresh.dir.exists());
}

fn nix_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}
