//! Test harness: a temporary CA directory, the binary, snapshots and OpenSSL helpers.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Exit codes from SPEC.md.
pub const REFUSED: i32 = 3;
/// A usage error: an unknown option or a malformed value (clap's code; EXIT-USAGE).
pub const USAGE: i32 = 2;
pub const IO: i32 = 4;
pub const STATE: i32 = 5;
#[allow(dead_code)]
pub const BUSY: i32 = 6;
pub const CONFLICT: i32 = 7;
#[allow(dead_code)]
pub const UNDELIVERED: i32 = 8;
pub const UNKNOWN: i32 = 9;

/// A fixed time for deterministic runs.
pub const NOW: &str = "2026-06-01T12:00:00Z";

/// A temporary workspace holding a CA directory `pki/`.
pub struct Env {
    pub tmp: TempDir,
    pub dir: PathBuf,
}

impl Env {
    /// An empty workspace (no CA yet).
    pub fn empty() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        Env { tmp, dir }
    }

    /// A workspace with an ECDSA P-256 CA.
    pub fn new() -> Env {
        let env = Env::empty();
        env.ok(&["init", "--subject", "CN=Test Root CA,O=fileca tests"]);
        env
    }

    /// A workspace with a CA of the given key type.
    pub fn with_key(key_type: &str) -> Env {
        let env = Env::empty();
        env.ok(&[
            "init",
            "--subject",
            "CN=Test Root CA",
            "--key-type",
            key_type,
        ]);
        env
    }

    /// A path inside the workspace (outside the CA directory).
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The `ca` binary with `--dir` set and a clean environment (real time, real randomness).
    pub fn ca(&self) -> Command {
        clean_ca(&self.dir)
    }

    /// Runs `ca ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ca().args(args).output().unwrap()
    }

    /// Runs `ca ARGS` and asserts success.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ca {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `ca ARGS` in the workspace (so a relative path such as `-` lands there, never in
    /// the source tree) under [`DEADLINE`], asserts it exits with `code` and that the whole
    /// workspace — the CA directory and every file beside it — is byte-identical afterwards.
    /// Returns stderr.
    #[track_caller]
    pub fn refused(&self, args: &[&str], code: i32) -> String {
        self.refused_within(args, code, DEADLINE)
    }

    /// [`Env::refused`] with a deadline of the caller's (a refusal that must be immediate).
    #[track_caller]
    pub fn refused_within(
        &self,
        args: &[&str],
        code: i32,
        deadline: std::time::Duration,
    ) -> String {
        let before = snapshot(self.tmp.path());
        let mut cmd = self.ca();
        cmd.current_dir(self.tmp.path()).args(args);
        let out = bounded(cmd, deadline);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "ca {args:?}: {stderr}");
        assert!(
            out.stdout.is_empty() || code == 1,
            "ca {args:?}: a failed command printed to stdout"
        );
        assert_unchanged(&before, &snapshot(self.tmp.path()));
        stderr
    }

    /// Signs a fixture CSR, returns the PEM certificate and its serial.
    #[track_caller]
    pub fn sign(&self, csr: &Path, extra: &[&str]) -> (String, String) {
        let mut args = vec!["sign", csr.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        (String::from_utf8(out.stdout).unwrap(), self.last_serial())
    }

    /// The serial of the last certificate in the index.
    pub fn last_serial(&self) -> String {
        let index = self.index();
        let certs = index["certificates"].as_array().unwrap();
        certs.last().unwrap()["serial"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The serial counter (SPEC.md SERIAL-RANDOM: every serial issued is below it).
    pub fn counter(&self) -> String {
        std::fs::read_to_string(self.dir.join("serial"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// index.json with the certificates of index.log folded in (see [`read_index`]).
    pub fn index(&self) -> serde_json::Value {
        read_index(&self.dir)
    }

    /// `ca status --json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&self.ok(&["status", "--json"]).stdout).unwrap()
    }

    /// Asserts `ca check` passes.
    #[track_caller]
    pub fn assert_check_ok(&self) {
        assert_check_ok_at(&self.dir);
    }
}

/// Asserts that `ca check` passes on the CA directory `dir`, showing its report if not.
#[track_caller]
pub fn assert_check_ok_at(dir: &Path) {
    let out = ca_at(dir).arg("check").output().unwrap();
    assert!(
        out.status.success(),
        "ca check {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// TEST-TOOLS: a test whose external tool is missing fails, naming the tool and the package
/// that provides it (`scripts/test.sh` installs every one); it never skips. `tool` is a
/// command looked up on PATH, or an absolute path.
#[track_caller]
pub fn require(tool: &str, package: &str) {
    let found = if tool.starts_with('/') {
        Path::new(tool).is_file()
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|d| d.join(tool).is_file())
    };
    assert!(
        found,
        "this test needs `{tool}`: apt-get install {package} (scripts/test.sh installs it)"
    );
}

/// TEST-PRIVILEGE: what the machine grants that no package provides — root, or unprivileged
/// user namespaces (`unshare -Urm`). Like a missing tool (TEST-TOOLS), a missing privilege
/// fails the test, saying what to grant; it is never a silent pass. Only full-tier tests
/// (`#[ignore = "full tier: …"]`, run by `scripts/test.sh`, which checks both first) need one.
#[track_caller]
pub fn require_privilege(what: &str) {
    let (granted, how) = match what {
        "root" => (
            rustix::process::geteuid().is_root(),
            "run the tests as root, e.g. in a container",
        ),
        "unshare" => (
            Command::new("unshare")
                .args(["-Urm", "true"])
                .output()
                .is_ok_and(|o| o.status.success()),
            "sysctl kernel.unprivileged_userns_clone=1, or a container that allows them",
        ),
        other => panic!("unknown privilege {other}"),
    };
    assert!(
        granted,
        "this test needs {what}, which this machine does not grant: {how} (SPEC.md \
         TEST-PRIVILEGE; scripts/test.sh checks it first)"
    );
}

/// Path of the `ca` binary cargo built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ca"))
}

/// A CSR fixture from testdata/csr.
pub fn csr(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/csr")
        .join(name)
}

/// Every file under `dir` (recursively) with its mode and bytes. Directories are recorded
/// with their mode and no content.
pub type Snapshot = BTreeMap<String, (u32, Option<Vec<u8>>)>;

pub fn snapshot(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        // .lock is not state: its mode is fixed to 0600 by the first commit of an older
        // directory (SPEC.md LOCK-MODE), so only its presence and content are compared.
        let mode = if rel.ends_with(".lock") {
            0
        } else {
            meta.permissions().mode() & 0o7777
        };
        if meta.is_dir() {
            out.insert(rel, (mode, None));
            walk(root, &path, out);
        } else if !meta.is_file() {
            // FIFOs, sockets, symlinks: recorded by type, never opened.
            out.insert(
                rel,
                (mode, Some(format!("{:?}", meta.file_type()).into_bytes())),
            );
        } else {
            out.insert(rel, (mode, Some(std::fs::read(&path).unwrap())));
        }
    }
}

/// Asserts two snapshots are identical, naming the first difference.
#[track_caller]
pub fn assert_unchanged(before: &Snapshot, after: &Snapshot) {
    for (k, v) in before {
        match after.get(k) {
            None => panic!("{k} disappeared"),
            Some(a) if a != v => panic!("{k} changed"),
            _ => {}
        }
    }
    for k in after.keys() {
        assert!(before.contains_key(k), "{k} appeared");
    }
}

/// Writes a `.journal` in `dir` publishing `outputs` (a JSON array of journal outputs), with
/// a valid checksum line: what someone who can write the state directory can plant.
pub fn plant_journal(dir: &Path, outputs: serde_json::Value) {
    let journal = serde_json::json!({
        "format": 2, "operation": "sign", "generation_before": 1, "generation_after": 1,
        "id": "00ff", "outputs": outputs,
    });
    let body = format!("{journal}\n");
    let text = format!("{body}sha256 {}\n", fileca::hex::sha256(body.as_bytes()));
    std::fs::write(dir.join(".journal"), text).unwrap();
    // As fileca writes it (RECOVER-OWNER acts on nothing else).
    std::fs::set_permissions(dir.join(".journal"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A self-signed P-256 certificate made by openssl (`req -x509 -subj SUBJ EXTRA…`), its key
/// in `key`; asserts openssl succeeded.
pub fn openssl_self_signed(key: &Path, cert: &Path, subj: &str, extra: &[&str]) {
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        subj,
        "-out",
        cert.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, log) = openssl(&args);
    assert!(ok, "{log}");
}

/// Runs openssl with `args`; returns (success, stdout + stderr).
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    (out.status.success(), output_text(&out))
}

/// A finished process's stdout, then its stderr, as text (for messages and checks).
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes `pem` to a file in the workspace and returns its path.
pub fn write(env: &Env, name: &str, content: &[u8]) -> PathBuf {
    let p = env.path(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// `openssl x509 -text` of a PEM certificate.
pub fn x509_text(env: &Env, pem: &str) -> String {
    let p = write(env, "tmp-cert.pem", pem.as_bytes());
    let (ok, text) = openssl(&["x509", "-in", p.to_str().unwrap(), "-noout", "-text"]);
    assert!(ok, "{text}");
    text
}

/// `openssl crl -text` of ca.crl: the serials it lists, with their reasons.
#[track_caller]
pub fn crl_text(env: &Env) -> String {
    let (ok, text) = openssl(&[
        "crl",
        "-in",
        env.dir.join("ca.crl").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ok, "{text}");
    text
}

/// `openssl verify -CAfile ca.crt` of a PEM certificate (optionally with the CRL).
pub fn verify(env: &Env, pem: &str, with_crl: bool) -> (bool, String) {
    let p = write(env, "tmp-verify.pem", pem.as_bytes());
    let ca = env.dir.join("ca.crt");
    let crl = env.dir.join("ca.crl");
    let mut args = vec!["verify", "-CAfile", ca.to_str().unwrap()];
    if with_crl {
        args.extend(["-crl_check", "-CRLfile", crl.to_str().unwrap()]);
    }
    args.push(p.to_str().unwrap());
    openssl(&args)
}

/// The `ca` binary pointed at `dir`, clean environment, pinned time and seeded serials (so a
/// sweep can compare after-states byte for byte).
pub fn ca_at(dir: &Path) -> Command {
    let mut c = clean_ca(dir);
    c.env("FILECA_NOW", NOW).env("FILECA_TEST_SEED", "5280");
    c
}

/// The one command builder: the `ca` binary with `--dir DIR` and none of the environment
/// variables it reads (SPEC.md's options and test hooks) inherited from the caller's shell.
pub fn clean_ca(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--dir").arg(dir);
    for var in [
        "CA_DIR",
        "CA_LOCK_TIMEOUT",
        "CA_PIN_FILE",
        "CA_PKCS11_MODULE",
        "FILECA_FAULT",
        "FILECA_FAULT_TRACE",
        "FILECA_INLINE_APPEND_MAX",
        "FILECA_NOW",
        "FILECA_PKCS11_SEARCH",
        "FILECA_READ_FAULT",
        "FILECA_READ_TRACE",
        "FILECA_SIMDISK_TRACE",
        "FILECA_TEST_PANIC",
        "FILECA_TEST_SEED",
    ] {
        c.env_remove(var);
    }
    c
}

/// How long a command under test may run before [`bounded`] calls it a hang.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `cmd` (stdin from /dev/null, output to temporary files outside any workspace) and
/// kills it if it is still running after `deadline`: a hang or a memory blow-up fails the
/// test, naming the command, instead of hanging the suite.
#[track_caller]
pub fn bounded(mut cmd: Command, deadline: std::time::Duration) -> Output {
    use std::process::Stdio;
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap());
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap();
    let status = wait_until(deadline, || child.try_wait().unwrap()).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} was still running after {deadline:?}: it hangs or exhausts memory")
    });
    let output = Output {
        status,
        stdout: std::fs::read(out.path()).unwrap(),
        stderr: std::fs::read(err.path()).unwrap(),
    };
    drop((out, err));
    output
}

/// Polls `ready` until it returns `Some` or `timeout` passes: how a test waits for an
/// observable condition instead of sleeping and hoping.
pub fn wait_until<T>(
    timeout: std::time::Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = ready() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Waits until process `pid` has `path` open (one of its /proc/PID/fd links): the observable
/// sign that it reached the point of opening it (a lock file, a FIFO it now blocks on).
#[track_caller]
pub fn wait_until_open(pid: u32, path: &Path) {
    let want = std::fs::canonicalize(path).unwrap();
    let fds = PathBuf::from(format!("/proc/{pid}/fd"));
    let found = wait_until(DEADLINE, || {
        let entries = std::fs::read_dir(&fds).ok()?;
        entries
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|target| target == want)
            .then_some(())
    });
    assert!(
        found.is_some(),
        "process {pid} did not open {} within {DEADLINE:?}",
        path.display()
    );
}

/// The exclusive `flock` on a CA's lock file, held by the test process itself until
/// released or dropped: it is held when `hold` returns, so a test never guesses how long
/// taking it takes. (The descriptor is close-on-exec: no `ca` child inherits it.)
pub struct LockHolder(std::fs::File);

impl LockHolder {
    #[track_caller]
    pub fn hold(lock: &Path) -> LockHolder {
        let file = std::fs::OpenOptions::new().write(true).open(lock).unwrap();
        file.lock().unwrap();
        LockHolder(file)
    }

    /// Releases the lock.
    pub fn release(self) {
        self.0.unlock().unwrap();
    }
}

/// A passphrase file holding `pass`, mode 0600 (so no "readable by other users" warning).
pub fn pass_file_at(path: &Path, pass: &str) -> PathBuf {
    std::fs::write(path, format!("{pass}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_path_buf()
}

/// [`pass_file_at`] in the workspace, as the string an argument list takes.
pub fn pass_file(env: &Env, name: &str, pass: &str) -> String {
    pass_file_at(&env.path(name), pass)
        .to_str()
        .unwrap()
        .to_string()
}

/// SHA-256 of `bytes` in lowercase hex (ring: the tests use one hash implementation).
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Copies a directory tree, preserving modes.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir(dst).unwrap();
    std::fs::set_permissions(dst, std::fs::metadata(src).unwrap().permissions()).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A deterministic CA (Ed25519 signatures are deterministic, time is pinned) holding two
/// certificates, one revoked, and a CRL: the before-state of the fault sweeps.
pub fn deterministic_ca(root: &Path) -> PathBuf {
    let dir = root.join("base");
    let run = |args: &[&str]| {
        let out = ca_at(&dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    run(&["init", "--subject", "CN=Sweep CA", "--key-type", "ed25519"]);
    run(&["sign", csr("p256-default.pem").to_str().unwrap()]);
    run(&["sign", csr("ed25519-default.pem").to_str().unwrap()]);
    let index = read_index(&dir);
    let serial = index["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    run(&["revoke", &serial]);
    run(&["crl"]);
    dir
}

/// Turns a CA directory's index.json into the format-2 header an earlier fileca wrote (no
/// `log_head`, `policy_sha256` or signed checkpoint), keeping index.log as it is.
pub fn as_format_2(dir: &Path) {
    let header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let old = format!(
        "{{\n  \"format\": 2,\n  \"generation\": {},\n  \"audit_head\": {},\n  \"log_len\": {},\n  \"max_serial\": {}\n}}\n",
        header["generation"], header["audit_head"], header["log_len"], header["max_serial"]
    );
    std::fs::write(dir.join("index.json"), old).unwrap();
}

/// Turns a CA directory's index.json into the format-3 header fileca wrote before UNHOLD (the
/// same fields; the checkpoint does not sign the format number).
pub fn as_format_3(dir: &Path) {
    as_format(dir, 3);
}

/// Turns a CA directory's index.json into the format-4 header fileca wrote before ACME (the
/// same fields; a directory without acme.json has no `acme_sha256`).
pub fn as_format_4(dir: &Path) {
    as_format(dir, 4);
}

fn as_format(dir: &Path, format: u32) {
    let text = std::fs::read_to_string(dir.join("index.json")).unwrap();
    assert!(text.starts_with("{\n  \"format\": 5,\n"), "{text}");
    assert!(!text.contains("acme_sha256"), "{text}");
    std::fs::write(
        dir.join("index.json"),
        text.replacen("\"format\": 5,", &format!("\"format\": {format},"), 1),
    )
    .unwrap();
}

/// index.json (format 5) with a `certificates` array folded from index.log, independently of
/// fileca's own reader: one object per issued certificate, in issue order, with `status`,
/// `revoked_at` and `revocation_reason` set by its last revocation line and cleared by a
/// release line (which sets `hold_released_at`).
pub fn read_index(dir: &Path) -> serde_json::Value {
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["format"], 5);
    let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
    assert_eq!(index["log_len"], log.len() as u64, "index.json's log_len");
    let mut certs: Vec<serde_json::Value> = Vec::new();
    for line in log.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(serial) = v.get("issued").cloned() {
            let o = v.as_object_mut().unwrap();
            o.remove("issued");
            o.insert("serial".into(), serial);
            o.insert("status".into(), "valid".into());
            o.insert("revoked_at".into(), serde_json::Value::Null);
            o.insert("revocation_reason".into(), serde_json::Value::Null);
            certs.push(v);
        } else if let Some(serial) = v.get("released") {
            let e = certs
                .iter_mut()
                .find(|e| e["serial"] == *serial)
                .unwrap_or_else(|| panic!("release before issue: {line}"));
            assert_eq!(e["revocation_reason"], "certificateHold", "{line}");
            e["status"] = "valid".into();
            e["revoked_at"] = serde_json::Value::Null;
            e["revocation_reason"] = serde_json::Value::Null;
            e["hold_released_at"] = v["at"].clone();
        } else {
            let e = certs
                .iter_mut()
                .find(|e| e["serial"] == v["revoked"])
                .unwrap_or_else(|| panic!("revocation before issue: {line}"));
            e["status"] = "revoked".into();
            e["revoked_at"] = v["at"].clone();
            e["revocation_reason"] = v["reason"].clone();
        }
    }
    index["certificates"] = certs.into();
    index
}

/// The mutations a command performs, as traced by the fault seam (debug builds).
pub fn trace_mutations(dir: &Path, args: &[String]) -> Vec<String> {
    let out = ca_at(dir)
        .args(args)
        .env("FILECA_FAULT_TRACE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("fileca-mutation "))
        .map(str::to_string)
        .collect()
}

/// The mutating commands swept by the fault tests, against the deterministic CA.
pub fn sweep_commands(base: &Path) -> Vec<(&'static str, Vec<String>)> {
    let index = read_index(base);
    let valid = index["certificates"][1]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    vec![
        (
            "sign",
            vec![
                "sign".into(),
                csr("rsa2048-default.pem").to_str().unwrap().into(),
            ],
        ),
        (
            "revoke",
            vec![
                "revoke".into(),
                valid,
                "--reason".into(),
                "superseded".into(),
            ],
        ),
        ("crl", vec!["crl".into()]),
        (
            "policy",
            vec![
                "policy".into(),
                "apply".into(),
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("testdata/policy/web.toml")
                    .to_str()
                    .unwrap()
                    .into(),
            ],
        ),
    ]
}

/// Index (1-based) of the mutation that writes the journal's bytes. A crash at or before it
/// leaves the before-state (the journal is empty or absent); a crash after it the after-state
/// (the journal is complete, so the next command rolls it forward).
pub fn commit_point(trace: &[String]) -> usize {
    trace
        .iter()
        .position(|l| l.contains(" Write ") && l.ends_with("/.journal"))
        .expect("the journal is written")
        + 1
}

/// The 1-based indices of the fsyncs that make the commit point durable (after the journal's
/// write and chmod): an I/O error there leaves the outcome unknown (exit 9), and the next
/// command settles it. An I/O error at or before `commit_point + 1` is a clean failure.
pub fn commit_fsyncs(trace: &[String]) -> std::ops::RangeInclusive<usize> {
    let start = commit_point(trace) + 2;
    let len = trace[start - 1..]
        .iter()
        .take_while(|l| l.contains(" Fsync ") || l.contains(" FsyncDir "))
        .count();
    assert!(len > 0, "no fsync after the journal: {trace:?}");
    start..=start + len - 1
}

/// Index (1-based) of the first mutation after the commit point's fsyncs.
pub fn first_after_commit(trace: &[String]) -> usize {
    commit_fsyncs(trace).end() + 1
}

/// One mutating command prepared for a fault sweep: its fault-free trace and after-state.
pub struct Sweep {
    pub name: &'static str,
    pub args: Vec<String>,
    pub trace: Vec<String>,
    pub after: Snapshot,
    /// 1-based index of the journal rename (the commit point).
    pub commit: usize,
}

/// Runs each of [`sweep_commands`] once without faults on a copy of `base`.
pub fn sweeps(root: &Path, base: &Path) -> Vec<Sweep> {
    sweep_commands(base)
        .into_iter()
        .map(|(name, args)| {
            let reference = root.join(format!("{name}-ref"));
            copy_dir(base, &reference);
            let trace = trace_mutations(&reference, &args);
            let commit = commit_point(&trace);
            Sweep {
                name,
                after: snapshot(&reference),
                args,
                trace,
                commit,
            }
        })
        .collect()
}

/// Copies `base` to a fresh directory `root/tag` and runs `args` there with `FILECA_FAULT`.
pub fn run_with_fault(
    root: &Path,
    base: &Path,
    tag: &str,
    args: &[String],
    fault: &str,
) -> (PathBuf, Output) {
    let dir = root.join(tag);
    copy_dir(base, &dir);
    let out = ca_at(&dir)
        .args(args)
        .env("FILECA_FAULT", fault)
        .output()
        .unwrap();
    (dir, out)
}
