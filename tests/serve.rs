//! `ca serve` (SERVE-*): the CRL, the CA certificate and OCSP over HTTP on loopback, checked
//! with OpenSSL (and GnuTLS in the full tier). Every server here is started with a bounded
//! lifetime (`--exit-after`) and killed by a guard when its test ends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A port free right now on loopback (the certificates must name it before serve binds it).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA in `dir` whose policy names URLs on `port` under `/NAME.crl`, `/NAME.crt` and
/// `/NAME/ocsp`, with a responder and a signed CRL; `parent` makes it a sub-CA.
pub(crate) fn lab_ca(dir: &Path, name: &str, port: u16, parent: Option<&Path>) {
    let base = format!("http://127.0.0.1:{port}");
    let mut init = clean_ca(dir);
    init.args(["init", "--subject", &format!("CN={name}")]);
    if let Some(p) = parent {
        init.arg("--parent").arg(p);
    }
    let out = init.output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    // The URLs, through the policy (init --crl-url is for a root only).
    let policy = clean_ca(dir).args(["policy", "show"]).output().unwrap();
    let text = String::from_utf8(policy.stdout)
        .unwrap()
        .replacen("crl = []", &format!("crl = [\"{base}/{name}.crl\"]"), 1)
        .replacen(
            "ca_issuers = []",
            &format!("ca_issuers = [\"{base}/{name}.crt\"]"),
            1,
        )
        .replacen("ocsp = []", &format!("ocsp = [\"{base}/{name}/ocsp\"]"), 1);
    let file = dir.with_extension("policy.toml");
    std::fs::write(&file, text).unwrap();
    for args in [
        &["policy", "apply", file.to_str().unwrap()][..],
        &["ocsp-responder", "renew"],
        &["crl"],
    ] {
        let out = clean_ca(dir).args(args).output().unwrap();
        assert!(out.status.success(), "{}", output_text(&out));
    }
}

/// Issues `name` (key and certificate) from the CA in `dir` into `out/NAME/`; returns the
/// certificate's path and serial.
pub(crate) fn issue(dir: &Path, name: &str, out: &Path) -> (PathBuf, String) {
    let o = clean_ca(dir)
        .args(["issue", name, "--out-dir"])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
    let serial = read_index(dir)["certificates"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    (out.join(name).join(format!("{name}.crt")), serial)
}

/// A running `ca serve`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// Starts `ca serve` on `port` for `dirs` and waits until it serves every one of them
    /// (or, with `verified = false`, until it listens).
    pub(crate) fn start(port: u16, dirs: &[&Path], verified: bool) -> Server {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(bin())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["serve", "--exit-after", "120", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(dirs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let server = Server { child, log };
        let ready = wait_until(DEADLINE, || {
            let text = server.log();
            let serving = text.matches(": serving generation").count() >= dirs.len();
            (text.contains("listening on") && (serving || !verified)).then_some(())
        });
        assert!(ready.is_some(), "serve did not start: {}", server.log());
        server
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl ocsp` against the server for `cert` of `issuer`, trusting `ca_file`: its output.
pub(crate) fn ocsp_query(
    port: u16,
    path: &str,
    issuer: &Path,
    cert_args: &[&str],
    extra: &[&str],
    ca_file: &Path,
) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["ocsp", "-issuer"])
        .arg(issuer)
        .args(cert_args)
        .args(["-url", &format!("http://127.0.0.1:{port}{path}")])
        .arg("-CAfile")
        .arg(ca_file)
        .args(["-timeout", "10"])
        .args(extra);
    output_text(&bounded(cmd, Duration::from_secs(30)))
}

/// One HTTP/1.1 request on a fresh connection: the status code, the headers and the body.
pub(crate) fn http(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let body = out.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

pub(crate) fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

pub(crate) fn post(port: u16, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    http(port, &req)
}

/// The OCSP tryLater and malformedRequest responses (RFC 6960 4.2.1).
pub(crate) const TRY_LATER: [u8; 5] = [0x30, 3, 0x0a, 1, 3];
pub(crate) const MALFORMED: [u8; 5] = [0x30, 3, 0x0a, 1, 1];

/// SERVE-OCSP, SERVE-CRL, SERVE-RELOAD: good, unknown, a revocation committed by another
/// process answered within the documented delay, with its reason, the nonce echoed; the CRL
/// fetched through the certificate's CDP URL by `openssl verify -crl_download`.
#[test]
fn openssl_checks_revocation_through_ocsp_and_the_crl_url_serve_ocsp() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let (leaf, serial) = issue(&dir, "web.test", &tmp.path().join("out"));
    let ca = dir.join("ca.crt");
    let server = Server::start(port, &[&dir], true);
    let cert = ["-cert", leaf.to_str().unwrap()];

    let text = ocsp_query(port, "/root/ocsp", &ca, &cert, &[], &ca);
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(text.contains("web.test.crt: good"), "{text}");
    // openssl sends a nonce and checks it is echoed: no "WARNING: no nonce in response".
    assert!(!text.contains("nonce"), "{text}");
    let text = ocsp_query(
        port,
        "/root/ocsp",
        &ca,
        &["-serial", "0x0BADC0FFEE"],
        &[],
        &ca,
    );
    assert!(text.contains(": unknown"), "{text}");
    // The same request twice without a nonce: the cached answer.
    for _ in 0..2 {
        let text = ocsp_query(port, "/root/ocsp", &ca, &cert, &["-no_nonce"], &ca);
        assert!(text.contains("web.test.crt: good"), "{text}");
    }

    // The CRL through the CDP URL.
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-crl_download",
        "-CAfile",
        ca.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(ok && text.contains(": OK"), "{text}");

    // A revocation committed by another process is answered within the poll delay.
    let out = clean_ca(&dir)
        .args(["revoke", &serial, "--reason", "keyCompromise", "--crl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let committed = Instant::now();
    let revoked = wait_until(Duration::from_secs(10), || {
        let text = ocsp_query(port, "/root/ocsp", &ca, &cert, &["-no_nonce"], &ca);
        text.contains(": revoked").then_some(text)
    })
    .expect("the revocation is served");
    // SPEC.md SERVE-RELOAD: within one second (poll 200 ms); 3 s leaves room for a loaded
    // machine and the openssl runs themselves.
    assert!(
        committed.elapsed() < Duration::from_secs(3),
        "{:?}",
        committed.elapsed()
    );
    assert!(revoked.contains("Reason: keyCompromise"), "{revoked}");
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-crl_download",
        "-CAfile",
        ca.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // The CA certificate, /healthz, /metrics, and nothing else.
    let (status, head, body) = get(port, "/root.crt");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("application/pkix-cert"), "{head}");
    assert_eq!(body, std::fs::read(&ca).map(|pem| pem_der(&pem)).unwrap());
    assert_eq!(get(port, "/healthz").0, 200);
    let (_, _, metrics) = get(port, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("fileca_ocsp_responses_total{status=\"revoked\"}"),
        "{metrics}"
    );
    assert_eq!(get(port, "/").0, 404);
    assert_eq!(get(port, "/index.log").0, 404);
    // A path below the OCSP URL is an OCSP GET, never a file.
    let (status, _, body) = get(port, "/root/ocsp/..%2Fca.key");
    assert_eq!((status, body.as_slice()), (200, &MALFORMED[..]));
    // A second server on the same address: exit 4 (I/O), nothing written.
    let before = snapshot(&dir);
    let mut again = clean_ca(&dir);
    again.args([
        "serve",
        "--exit-after",
        "5",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let out = bounded(again, DEADLINE);
    assert_eq!(out.status.code(), Some(IO), "{}", output_text(&out));
    assert_unchanged(&before, &snapshot(&dir));
    // SERVE-LIMITS: SIGTERM stops it cleanly (exit 0) and promptly.
    let mut server = server;
    let term = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = wait_until(Duration::from_secs(10), || server.child.try_wait().unwrap())
        .expect("serve stops within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}: {}", server.log());
    assert!(server.log().contains("serve: stopped"), "{}", server.log());
}

/// The DER of a PEM block.
pub(crate) fn pem_der(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pem);
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// SERVE-STATE: a tampered index.log is never served. Started on it: tryLater and 503.
/// Tampered while running: the last verified snapshot (revoked) stays, /healthz says so.
#[test]
fn a_tampered_index_is_never_answered_good_serve_state() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let (leaf, serial) = issue(&dir, "web.test", &tmp.path().join("out"));
    let ok = clean_ca(&dir)
        .args(["revoke", &serial, "--reason", "keyCompromise"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let ca = dir.join("ca.crt");
    let cert = ["-cert", leaf.to_str().unwrap()];
    let log = dir.join("index.log");
    let genuine = std::fs::read(&log).unwrap();
    // The revocation line rewritten to name another serial, at the same length.
    let text = String::from_utf8(genuine.clone()).unwrap();
    let forged = text.replace(
        &format!("{{\"revoked\":\"{serial}\""),
        &format!("{{\"revoked\":\"{}\"", "1".repeat(serial.len())),
    );
    assert_ne!(forged, text);

    {
        let server = Server::start(port, &[&dir], true);
        std::fs::write(&log, &forged).unwrap();
        wait_until(Duration::from_secs(10), || {
            server.log().contains("not served").then_some(())
        })
        .expect("serve notices the edit");
        let text = ocsp_query(port, "/root/ocsp", &ca, &cert, &["-no_nonce"], &ca);
        assert!(text.contains(": revoked"), "{text}");
        assert_eq!(get(port, "/healthz").0, 503);
    }
    let before = snapshot(&dir);
    {
        let _server = Server::start(port, &[&dir], false);
        let text = ocsp_query(port, "/root/ocsp", &ca, &cert, &["-no_nonce"], &ca);
        assert!(
            text.contains("tryLater") || text.contains("trylater"),
            "{text}"
        );
        assert!(!text.contains(": good"), "{text}");
        assert_eq!(get(port, "/root.crl").0, 503);
        assert_eq!(get(port, "/healthz").0, 503);
    }
    // serve wrote nothing, not even to the state it refused.
    assert_unchanged(&before, &snapshot(&dir));
    std::fs::write(&log, &genuine).unwrap();
}

/// SERVE-LIMITS: garbage, oversized and unknown-issuer requests; an OCSP GET; a journal
/// present at start (never recovered by serve).
#[test]
#[ignore = "full tier: real-tool interop and several servers"]
fn hostile_requests_and_an_interrupted_commit_serve_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let server = Server::start(port, &[&dir], true);
    let (status, head, body) = post(port, "/root/ocsp", b"\x30\x03junk");
    assert_eq!((status, body.as_slice()), (200, &MALFORMED[..]), "{head}");
    assert!(head.contains("application/ocsp-response"), "{head}");
    let (status, _, _) = post(port, "/root/ocsp", &vec![0x30; 100_000]);
    assert_eq!(status, 413);
    let (status, _, body) = get(port, "/root/ocsp/not-base64!");
    assert_eq!((status, body.as_slice()), (200, &MALFORMED[..]));
    // An issuer this server does not serve: unauthorized.
    let other = tmp.path().join("other");
    lab_ca(&other, "other", port, None);
    let text = ocsp_query(
        port,
        "/root/ocsp",
        &other.join("ca.crt"),
        &["-serial", "0x01"],
        &[],
        &other.join("ca.crt"),
    );
    assert!(text.contains("unauthorized"), "{text}");
    // Headers that never end: the connection is closed after the header timeout.
    let start = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "{:?}",
        start.elapsed()
    );
    // Many connections at once are all answered.
    let handles: Vec<_> = (0..1000)
        .map(|_| std::thread::spawn(move || get(port, "/healthz").0))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    drop(server);

    // A journal: never recovered by serve, tryLater until a ca command completes it.
    std::fs::write(dir.join(".journal"), b"not a journal\n").unwrap();
    let before = snapshot(&dir);
    let server = Server::start(port, &[&dir], false);
    let req = std::fs::read(write_request(&dir, tmp.path())).unwrap();
    let (_, _, body) = post(port, "/root/ocsp", &req);
    assert_eq!(body, TRY_LATER);
    assert!(server.log().contains("(.journal;"), "{}", server.log());
    drop(server);
    assert_unchanged(&before, &snapshot(&dir));
}

/// An OCSP request (no nonce) for serial 1 of the CA in `dir`, written with openssl.
fn write_request(dir: &Path, tmp: &Path) -> PathBuf {
    let out = tmp.join("req.der");
    let (ok, text) = openssl(&[
        "ocsp",
        "-issuer",
        dir.join("ca.crt").to_str().unwrap(),
        "-serial",
        "0x01",
        "-no_nonce",
        "-reqout",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    out
}

/// SERVE-MULTI: a root and its issuing CA served by one `ca serve`; GnuTLS `ocsptool
/// --ask` agrees with OpenSSL; serve killed and restarted answers the same.
#[test]
#[ignore = "full tier: real-tool interop (GnuTLS ocsptool) and several servers"]
fn a_two_tier_pki_is_served_by_one_server_serve_multi() {
    require("ocsptool", "gnutls-bin");
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let root = tmp.path().join("root");
    let issuing = tmp.path().join("issuing");
    lab_ca(&root, "root", port, None);
    lab_ca(&issuing, "issuing", port, Some(&root));
    let (leaf, _) = issue(&issuing, "web.test", &tmp.path().join("out"));
    let root_crt = root.join("ca.crt");
    let issuing_crt = issuing.join("ca.crt");
    let mut server = Server::start(port, &[&root, &issuing], true);
    for round in 0..2 {
        let text = ocsp_query(
            port,
            "/issuing/ocsp",
            &issuing_crt,
            &["-cert", leaf.to_str().unwrap()],
            &["-verify_other", issuing_crt.to_str().unwrap()],
            &root_crt,
        );
        assert!(text.contains("Response verify OK"), "{round}: {text}");
        assert!(text.contains("web.test.crt: good"), "{round}: {text}");
        // The issuing CA's own certificate, at the root's responder.
        let text = ocsp_query(
            port,
            "/root/ocsp",
            &root_crt,
            &["-cert", issuing_crt.to_str().unwrap()],
            &[],
            &root_crt,
        );
        assert!(text.contains("ca.crt: good"), "{round}: {text}");
        // GnuTLS, with the URL from the certificate's AIA.
        let mut cmd = Command::new("ocsptool");
        cmd.args(["--ask", "--nonce"])
            .arg("--load-issuer")
            .arg(&issuing_crt)
            .arg("--load-cert")
            .arg(&leaf)
            .arg("--load-trust")
            .arg(&issuing_crt);
        let text = output_text(&bounded(cmd, Duration::from_secs(30)));
        assert!(text.contains("Response Status: Successful"), "{text}");
        assert!(text.contains("Certificate Status: good"), "{text}");
        assert!(text.contains("Nonce: "), "the nonce echoed: {text}");
        assert!(text.contains("Verifying OCSP Response: Success"), "{text}");
        // Killed (no clean stop) and started again.
        let _ = server.child.kill();
        let _ = server.child.wait();
        server = Server::start(port, &[&root, &issuing], true);
    }
    drop(server);
    assert_check_ok_at(&root);
    assert_check_ok_at(&issuing);
}

/// SERVE-STATE for an unprivileged `serve`: as `nobody`, with the state directory and
/// ocsp.key readable by its group (0750, 0640) and ca.key and .lock (0600) not, it answers
/// OCSP — reading without the lock it may not open — and cannot read ca.key.
#[test]
#[ignore = "full tier: root, setpriv (util-linux)"]
fn serve_runs_as_a_user_that_cannot_read_the_ca_key_serve_state() {
    use std::os::unix::fs::{PermissionsExt, chown};
    require_privilege("root");
    require("setpriv", "util-linux");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let (leaf, _) = issue(&dir, "web.test", &tmp.path().join("out"));
    let nogroup = Some(65534);
    chown(&dir, None, nogroup).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
    chown(dir.join("ocsp.key"), None, nogroup).unwrap();
    std::fs::set_permissions(dir.join("ocsp.key"), std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_check_ok_at(&dir);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(dir.join("ca.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--groups=65534"])
        .arg(bin())
        .args([
            "serve",
            "--exit-after",
            "60",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg(&dir)
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let ready = wait_until(DEADLINE, || {
        let t = std::fs::read_to_string(log.path()).unwrap_or_default();
        t.contains("serving generation").then_some(())
    });
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let ca = dir.join("ca.crt");
    let answer = ready.map(|()| {
        ocsp_query(
            port,
            "/root/ocsp",
            &ca,
            &["-cert", leaf.to_str().unwrap()],
            &[],
            &ca,
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.unwrap_or_else(|| panic!("serve as nobody: {text}"));
    assert!(answer.contains("web.test.crt: good"), "{answer}");
}

/// SERVE-RELOAD under load: revocations committed one by one by other processes while a
/// client keeps asking about every certificate. No answer that started more than the
/// documented delay after a revocation's commit says `good`, and once `revoked`, never `good`
/// again.
#[test]
#[ignore = "full tier: a loop of commits and queries for several seconds"]
fn revocations_in_a_loop_are_never_contradicted_serve_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let certs: Vec<PathBuf> = (0..5)
        .map(|i| issue(&dir, &format!("h{i}.test"), &tmp.path().join("out")).0)
        .collect();
    let ca = dir.join("ca.crt");
    let server = Server::start(port, &[&dir], true);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (certs, ca, stop) = (certs.clone(), ca.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, c) in certs.iter().enumerate() {
                    let started = Instant::now();
                    let text = ocsp_query(
                        port,
                        "/root/ocsp",
                        &ca,
                        &["-cert", c.to_str().unwrap()],
                        &["-no_nonce"],
                        &ca,
                    );
                    let good = text.contains(": good");
                    assert!(good || text.contains(": revoked"), "{text}");
                    answers.push((i, started, good));
                }
            }
            answers
        })
    };
    let mut committed = Vec::new();
    for c in &certs {
        let out = clean_ca(&dir)
            .args(["revoke", "--cert"])
            .arg(c)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", output_text(&out));
        committed.push(Instant::now());
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = client.join().unwrap();
    drop(server);
    // SPEC.md SERVE-RELOAD: one second; half a second more for the machine's load.
    let delay = Duration::from_millis(1500);
    let mut seen_revoked = [false; 5];
    for (i, started, good) in &answers {
        if *good {
            assert!(
                *started < committed[*i] + delay,
                "certificate {i} answered good {:?} after its revocation returned",
                started.duration_since(committed[*i])
            );
            assert!(!seen_revoked[*i], "certificate {i}: good after revoked");
        } else {
            seen_revoked[*i] = true;
        }
    }
    assert!(seen_revoked.iter().all(|r| *r), "{answers:?}");
}

/// SERVE-STATE: `serve` holds the shared lock only while it reads, so the mutations of other
/// processes do not wait for it: 20 revocations in a row while it reloads after each, on a CA
/// of 2,000 certificates, none waiting long enough to say so (500 ms, LOCK-WAIT's announce).
#[test]
#[ignore = "full tier: a CA of 2,000 certificates and 20 commits against a running server"]
fn mutations_do_not_wait_for_serve_serve_state() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let list = tmp.path().join("list");
    let one = csr("p256-default.pem");
    std::fs::write(&list, format!("{}\n", one.display()).repeat(2000)).unwrap();
    let out = clean_ca(&dir)
        .args(["-q", "sign", "--from-list"])
        .arg(&list)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let serials: Vec<String> = std::fs::read_to_string(dir.join("index.log"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.strip_prefix("{\"issued\":\"")?
                .split('"')
                .next()
                .map(String::from)
        })
        .skip(1)
        .take(20)
        .collect();
    let server = Server::start(port, &[&dir], true);
    for s in &serials {
        let start = Instant::now();
        let out = clean_ca(&dir).args(["revoke", s]).output().unwrap();
        let text = output_text(&out);
        assert!(out.status.success(), "{text}");
        assert!(
            !text.contains("waiting for the lock"),
            "{:?}: {text}",
            start.elapsed()
        );
    }
    // The last commits may land within one poll (200 ms) of the end of the loop: wait for
    // serve to say it reloaded (an observable condition, bounded), not for the loop's timing.
    let reloaded = wait_until(Duration::from_secs(10), || {
        (server.log().matches("serving generation").count() >= 2).then_some(())
    });
    assert!(
        reloaded.is_some(),
        "serve reloaded as the commits came: {}",
        server.log()
    );
}

/// OUTPUT-INSIDE for `ca ocsp` (review finding: `--out ca.crl --force` replaced the signed
/// CRL with an OCSP response, and `--out-dir` filled the state directory): refused, nothing
/// written.
#[test]
fn ca_ocsp_never_writes_into_the_state_directory_ocsp_presign() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", free_port(), None);
    let (_, serial) = issue(&dir, "web.test", &tmp.path().join("out"));
    let before = snapshot(tmp.path());
    for args in [
        vec!["ocsp", &serial, "--out", "root/ca.crl", "--force"],
        vec!["ocsp", &serial, "--out", "root/certs/x.der"],
        vec!["ocsp", "--out-dir", "root"],
        vec!["ocsp", "--out-dir", "root/certs"],
    ] {
        let out = clean_ca(&dir)
            .args(&args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            output_text(&out)
        );
        assert!(
            output_text(&out).contains("state directory"),
            "{}",
            output_text(&out)
        );
        assert_unchanged(&before, &snapshot(tmp.path()));
    }
}

/// SERVE-LIMITS, SERVE-STATE, SERVE-RELOAD (review findings): a connection that sends nothing
/// is closed; a failure that passes without any watched file changing (a missing .lock) is
/// retried; a directory rolled back to an older generation is not served over the newer one.
#[test]
#[ignore = "full tier: waits out the header timeout"]
fn silent_connections_passing_failures_and_rollbacks_serve_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let (leaf, serial) = issue(&dir, "web.test", &tmp.path().join("out"));
    let ca = dir.join("ca.crt");
    let cert = ["-cert", leaf.to_str().unwrap()];

    // A missing .lock: not served; once a read command has made it, served — no file the
    // poller watches changed.
    std::fs::remove_file(dir.join(".lock")).unwrap();
    let server = Server::start(port, &[&dir], false);
    wait_until(Duration::from_secs(10), || {
        server.log().contains("not served").then_some(())
    })
    .expect("serve reports the missing .lock");
    std::fs::File::create(dir.join(".lock")).unwrap();
    wait_until(Duration::from_secs(10), || {
        server.log().contains("serving generation").then_some(())
    })
    .expect("serve retries without a watched file changing");

    // A silent connection is closed within the header timeout.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );

    // A rollback: the older generation is not served over the newer one.
    let old: Vec<(&str, Vec<u8>)> = ["index.json", "index.log", "audit.log"]
        .iter()
        .map(|f| (*f, std::fs::read(dir.join(f)).unwrap()))
        .collect();
    let ok = clean_ca(&dir)
        .args(["revoke", &serial, "--reason", "keyCompromise"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    wait_until(Duration::from_secs(10), || {
        ocsp_query(port, "/root/ocsp", &ca, &cert, &["-no_nonce"], &ca)
            .contains(": revoked")
            .then_some(())
    })
    .expect("the revocation is served");
    for (f, bytes) in &old {
        let tmpf = dir.join(format!("{f}.rollback"));
        std::fs::write(&tmpf, bytes).unwrap();
        std::fs::rename(&tmpf, dir.join(f)).unwrap();
    }
    wait_until(Duration::from_secs(10), || {
        server.log().contains("rolled back").then_some(())
    })
    .expect("serve says the directory was rolled back");
    let text = ocsp_query(port, "/root/ocsp", &ca, &cert, &["-no_nonce"], &ca);
    assert!(text.contains(": revoked"), "{text}");
}

/// SERVE-RELOAD (review finding): when the newest state cannot be served (here: it revokes the
/// responder's own certificate), the last verified snapshot stays, but its answers keep the
/// thisUpdate of the last time it was the newest state — never a fresh "good" signed now.
#[test]
#[ignore = "full tier: a server and several commits"]
fn answers_from_a_superseded_snapshot_keep_their_old_this_update_serve_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    lab_ca(&dir, "root", port, None);
    let (leaf, _) = issue(&dir, "web.test", &tmp.path().join("out"));
    let ca = dir.join("ca.crt");
    let cert = ["-cert", leaf.to_str().unwrap()];
    let server = Server::start(port, &[&dir], true);
    let responder = dir.join("ocsp.crt");
    let ok = clean_ca(&dir)
        .args(["revoke", "--cert"])
        .arg(&responder)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", output_text(&ok));
    let revoked_at = time::OffsetDateTime::now_utc();
    wait_until(Duration::from_secs(10), || {
        server.log().contains("not served").then_some(())
    })
    .expect("the newest state is not served");
    std::thread::sleep(Duration::from_secs(2));
    let text = ocsp_query(
        port,
        "/root/ocsp",
        &ca,
        &cert,
        &["-no_nonce", "-resp_text"],
        &ca,
    );
    let this_update = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("This Update: "))
        .unwrap_or_else(|| panic!("{text}"));
    let fmt = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    let at = time::PrimitiveDateTime::parse(this_update.trim(), &fmt)
        .unwrap_or_else(|e| panic!("{this_update}: {e}"))
        .assume_utc();
    assert!(
        at <= revoked_at,
        "thisUpdate {at} is after the state changed at {revoked_at}"
    );
}

/// SERVE-LIMITS (review finding): /healthz is 503 when a DIR with an OCSP URL has only an
/// expired responder (every OCSP answer is tryLater), and says why.
#[test]
#[ignore = "full tier: a server"]
fn healthz_is_unhealthy_with_an_expired_responder_serve_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let dir = tmp.path().join("root");
    let then = (time::OffsetDateTime::now_utc() - time::Duration::days(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for args in [
        vec![
            "init".to_string(),
            "--subject".into(),
            "CN=Expired Responder".into(),
            "--crl-url".into(),
            format!("{base}/root.crl"),
            "--ocsp-url".into(),
            format!("{base}/root/ocsp"),
        ],
        vec![
            "ocsp-responder".into(),
            "renew".into(),
            "--days".into(),
            "1".into(),
        ],
        vec!["crl".into()],
    ] {
        let out = clean_ca(&dir)
            .env("FILECA_NOW", &then)
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", output_text(&out));
    }
    let _server = Server::start(port, &[&dir], true);
    let (status, _, body) = get(port, "/healthz");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("no valid OCSP responder"));
    assert_eq!(get(port, "/root.crl").0, 200, "the CRL is still served");
}

/// SERVE-STATE (review finding): a DIR that can never be served — a symlink, a file, a
/// directory without a CA — is refused at start (exit 5), not served as 503 for good.
#[test]
fn serve_refuses_at_start_what_can_never_be_a_ca_directory_serve_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    let out = clean_ca(&dir)
        .args(["init", "--subject", "CN=Start"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for bad in [&link, &file, &empty] {
        let mut cmd = Command::new(bin());
        cmd.env_clear()
            .args(["serve", "--exit-after", "5", "--listen", "127.0.0.1:0"])
            .arg(&dir)
            .arg(bad);
        let out = bounded(cmd, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(5), "{bad:?}: {}", output_text(&out));
    }
}
