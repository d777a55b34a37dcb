//! `ca serve --acme` (ACME-*): the directory over HTTPS with a certificate this CA issued
//! (fast tier, checked with `openssl s_client`), and lego from the distribution registering,
//! answering http-01 and obtaining certificates that `openssl verify` accepts, across a
//! restart; a name outside the policy refused; a wrong challenge response leaving the
//! authorization invalid (full tier). Names resolve to 127.0.0.1 through a tiny DNS server the
//! test runs in process (`--acme-resolver`); every server has a bounded lifetime and is killed
//! by a guard.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::harness::*;

/// A port free right now on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A DNS server on loopback answering every A query with 127.0.0.1; stops when dropped.
pub struct Dns {
    pub addr: std::net::SocketAddr,
    pub stop: Arc<AtomicBool>,
}

impl Dns {
    pub fn start() -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 17 {
                    continue;
                }
                // Header: same id, a response with one answer; the question copied; then an A
                // record pointing back at the question's name.
                let mut r = buf[..n].to_vec();
                r[2] = 0x81;
                r[3] = 0x80;
                r[6..8].copy_from_slice(&1u16.to_be_bytes());
                r[8..12].fill(0);
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
                let _ = sock.send_to(&r, from);
            }
        });
        Dns { addr, stop }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An http-01 responder on loopback: answers every request 200 with what `body` holds and
/// keeps the last request it read; stops when dropped.
pub struct Responder {
    pub port: u16,
    pub body: Arc<std::sync::Mutex<String>>,
    pub last: Arc<std::sync::Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl Responder {
    pub fn start(body: &str) -> Responder {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = Arc::new(std::sync::Mutex::new(body.to_string()));
        let last = Arc::new(std::sync::Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, l, flag) = (body.clone(), last.clone(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap_or(0);
                *l.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
                let body = b.lock().unwrap().clone();
                let reply = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes());
            }
        });
        Responder {
            port,
            body,
            last,
            stop,
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A root CA in `dir` whose policy has an `acme` profile for `*.lab.test` and 127.0.0.0/8
/// only.
pub fn lab_ca(dir: &Path) {
    let out = clean_ca(dir)
        .args(["init", "--subject", "CN=ACME Lab Root"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let shown = clean_ca(dir).args(["policy", "show"]).output().unwrap();
    let mut text = String::from_utf8(shown.stdout).unwrap();
    text.push_str(
        "\n[profiles.acme]\nkey_usage = [\"digitalSignature\", \"keyEncipherment\"]\n\
         extended_key_usage = [\"serverAuth\"]\ndefault_days = 7\nmax_days = 90\n\
         allow_dns = [\"*.lab.test\"]\nallow_ip = [\"127.0.0.0/8\"]\n",
    );
    let file = dir.with_extension("policy.toml");
    std::fs::write(&file, text).unwrap();
    let out = clean_ca(dir)
        .args(["policy", "apply"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// A running `ca serve --acme`, killed when dropped.
pub struct Server {
    child: Child,
    log: tempfile::NamedTempFile,
    pub port: u16,
}

impl Server {
    /// Starts serve with ACME on a free port; `http_port` is where http-01 is fetched.
    pub fn start(dir: &Path, http_port: u16, dns: &Dns) -> Server {
        Server::start_on(free_port(), dir, http_port, dns)
    }

    /// [`Server::start`] on ACME port `port` (a restart keeps the URLs clients stored).
    pub fn start_on(port: u16, dir: &Path, http_port: u16, dns: &Dns) -> Server {
        Server::start_at((port, free_port()), dir, http_port, dns)
    }

    /// [`Server::start`] with ACME on `ports.0` and OCSP/CRL (`--listen`) on `ports.1`.
    pub fn start_at(ports: (u16, u16), dir: &Path, http_port: u16, dns: &Dns) -> Server {
        Server::start_with(ports, dir, http_port, dns, &[])
    }

    /// [`Server::start_at`] with more `serve` arguments.
    pub fn start_with(
        ports: (u16, u16),
        dir: &Path,
        http_port: u16,
        dns: &Dns,
        extra: &[&str],
    ) -> Server {
        let (port, listen) = ports;
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = clean_ca(dir)
            .args(["serve", "--exit-after", "120", "--listen"])
            .arg(format!("127.0.0.1:{listen}"))
            .args(["--acme", "--acme-listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--acme-http-port", &http_port.to_string()])
            .args(["--acme-resolver", &dns.addr.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let server = Server { child, log, port };
        let ready = wait_until(DEADLINE, || {
            server.log().contains("ACME directory at").then_some(())
        });
        assert!(
            ready.is_some(),
            "serve --acme did not start: {}",
            server.log()
        );
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn directory(&self) -> String {
        format!("https://localhost:{}/acme/directory", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET through `openssl s_client`, verifying the server's certificate for `localhost`
/// against `ca`: the whole answer.
fn tls_get(port: u16, path: &str, ca: &Path) -> String {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "printf 'GET {path} HTTP/1.1\\r\\nHost: localhost:{port}\\r\\nConnection: close\\r\\n\\r\\n' | \
         openssl s_client -connect 127.0.0.1:{port} -servername localhost -verify_hostname localhost \
         -verify_return_error -CAfile '{}' -quiet -ign_eof 2>&1",
        ca.display()
    ));
    output_text(&bounded(cmd, Duration::from_secs(30)))
}

/// ACME-DIRECTORY, ACME-TLS: the directory over HTTPS, with a certificate for localhost this
/// CA issued through the journaled commit (in index.log as profile acme-tls, audited), that
/// OpenSSL verifies; `ca check` passes on the format-5 directory after it.
#[test]
fn serve_acme_answers_the_directory_over_tls_issued_by_the_ca_acme_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let server = Server::start(&dir, free_port(), &dns);
    let text = tls_get(server.port, "/acme/directory", &dir.join("ca.crt"));
    assert!(text.contains("HTTP/1.1 200"), "{text}");
    assert!(text.to_lowercase().contains("replay-nonce:"), "{text}");
    assert!(
        text.contains(&format!(
            "\"newAccount\": \"https://localhost:{}/acme/new-account\"",
            server.port
        )),
        "{text}"
    );
    let list = clean_ca(&dir).args(["list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        list.contains("acme-tls") && list.contains("DNS:localhost"),
        "{list}"
    );
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(audit.contains("\"operation\":\"acme-tls\""), "{audit}");
    drop(server);
    // A restart reuses the certificate: nothing new is issued.
    let before = std::fs::read(dir.join("index.log")).unwrap();
    let server = Server::start(&dir, free_port(), &dns);
    drop(server);
    assert_eq!(std::fs::read(dir.join("index.log")).unwrap(), before);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
    // The TLS key is a secret in the state directory and in a backup of it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("acme-tls.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let copy = tmp.path().join("copy");
    let out = clean_ca(&dir).arg("backup").arg(&copy).output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let mode = std::fs::metadata(copy.join("acme-tls.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// `lego` against the server: its command with the root trusted; its output.
pub fn lego(server: &Server, dir: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("lego");
    cmd.env("LEGO_CA_CERTIFICATES", dir.join("ca.crt"))
        .args(["--server", &server.directory()])
        .args(["--email", "ops@lab.test", "--accept-tos", "--path"])
        .arg(state)
        .args(args);
    bounded(cmd, Duration::from_secs(90))
}

/// `certbot ARGS` against the server, non-interactive, its configuration, work and log
/// directories under `state` and the root trusted; asserts it succeeded.
#[track_caller]
pub fn certbot(server: &Server, dir: &Path, state: &Path, args: &[&std::ffi::OsStr]) {
    let mut cmd = Command::new("certbot");
    cmd.env("REQUESTS_CA_BUNDLE", dir.join("ca.crt"))
        .args(args)
        .args(["--non-interactive", "--server", &server.directory()]);
    for (flag, sub) in [
        ("--config-dir", "conf"),
        ("--work-dir", "work"),
        ("--logs-dir", "logs"),
    ] {
        cmd.arg(flag).arg(state.join(sub));
    }
    let out = bounded(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "certbot {args:?}: {}\n{}",
        output_text(&out),
        server.log()
    );
}

/// `openssl verify -purpose sslserver` of `cert` to `dir`'s ca.crt; asserts it verifies.
#[track_caller]
pub fn verify_server(dir: &Path, cert: &Path) {
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(cert)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", output_text(&verify));
}

/// The serials `ca list --json` shows with profile `acme`.
pub fn acme_serials(dir: &Path) -> Vec<String> {
    let out = clean_ca(dir).args(["list", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().cloned().unwrap_or_default();
    rows.iter()
        .filter(|r| r["profile"] == "acme")
        .map(|r| r["serial"].as_str().unwrap().to_string())
        .collect()
}

/// ACME-FLOW, ACME-STATE, ACME-AUDIT, ACME-PROFILE: lego registers and obtains a
/// certificate by http-01; OpenSSL verifies it to the root; `ca list` shows it under the
/// acme profile and the audit log names the account; after a restart the same account (from
/// acme.json) obtains another; a name outside the profile's allow_dns is refused with
/// rejectedIdentifier naming the rule, and nothing is issued.
#[test]
#[ignore = "full tier: real-tool interop (lego)"]
fn lego_obtains_certificates_by_http01_across_a_restart_acme_flow() {
    require("lego", "lego");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let http_port = free_port();
    let state = tmp.path().join("lego");
    let http = format!("127.0.0.1:{http_port}");
    let run = |server: &Server, name: &str| {
        lego(
            server,
            &dir,
            &state,
            &["--domains", name, "--http", "--http.port", &http, "run"],
        )
    };
    let server = Server::start(&dir, http_port, &dns);
    let out = run(&server, "web.lab.test");
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    let cert = state.join("certificates/web.lab.test.crt");
    verify_server(&dir, &cert);
    // The second verifier, GnuTLS, to the root as well.
    let (ok, text) = crate::pkcs11::certtool(&[
        "--verify",
        "--load-ca-certificate",
        dir.join("ca.crt").to_str().unwrap(),
        "--infile",
        cert.to_str().unwrap(),
    ]);
    assert!(ok && text.contains("Verified"), "certtool --verify: {text}");
    let serials = acme_serials(&dir);
    assert_eq!(serials.len(), 1, "{serials:?}");
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    let issued = audit
        .lines()
        .find(|l| l.contains("\"operation\":\"acme-issue\""))
        .unwrap();
    assert!(
        issued.contains(&serials[0]) && issued.contains("\"acme_account\":"),
        "{issued}"
    );
    assert!(audit.contains("\"operation\":\"acme-account\""), "{audit}");
    let log = clean_ca(&dir).args(["log"]).output().unwrap();
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    let line = log.lines().find(|l| l.contains("acme-issue")).unwrap();
    assert!(
        line.contains(&serials[0]) && line.contains("  account "),
        "{log}"
    );

    // A restart on the same URL: the account, kept in acme.json, orders again.
    let port = server.port;
    drop(server);
    let server = Server::start_on(port, &dir, http_port, &dns);
    let out = run(&server, "api.lab.test");
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    assert_eq!(acme_serials(&dir).len(), 2);
    assert_eq!(
        audit_accounts(&dir).len(),
        1,
        "one account across the restart"
    );

    // lego renew: a 7-day certificate is within `--days 30` of its end, so lego orders a new
    // one for the same name, which verifies as the first did.
    let first = std::fs::read(&cert).unwrap();
    let out = lego(
        &server,
        &dir,
        &state,
        &[
            "--domains",
            "web.lab.test",
            "--http",
            "--http.port",
            &http,
            "renew",
            "--days",
            "30",
            // Without a terminal lego sleeps up to 8 minutes first (like certbot's renew).
            "--no-random-sleep",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    assert_ne!(
        std::fs::read(&cert).unwrap(),
        first,
        "lego renew wrote a new certificate"
    );
    assert_eq!(acme_serials(&dir).len(), 3);
    verify_server(&dir, &cert);

    // A name the acme profile does not allow.
    let before = std::fs::read(dir.join("index.log")).unwrap();
    let out = run(&server, "evil.example");
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(
        text.contains("rejectedIdentifier") && text.contains("allow_dns"),
        "{text}"
    );
    assert_eq!(std::fs::read(dir.join("index.log")).unwrap(), before);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}

/// The accounts the audit log records as created.
fn audit_accounts(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"operation\":\"acme-account\""))
        .map(str::to_string)
        .collect()
}

/// ACME-HTTP01: a challenge answered with something else than the key authorization leaves
/// the authorization (and its order) invalid, and nothing is issued.
#[test]
#[ignore = "full tier: real-tool interop (lego)"]
fn a_wrong_challenge_response_leaves_the_authorization_invalid_acme_http01() {
    require("lego", "lego");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    // The server fetches the challenge from a port where something else answers.
    let wrong = Responder::start("wrong");
    let server = Server::start(&dir, wrong.port, &dns);
    let state = tmp.path().join("lego");
    let http = format!("127.0.0.1:{}", free_port());
    let out = lego(
        &server,
        &dir,
        &state,
        &[
            "--domains",
            "web.lab.test",
            "--http",
            "--http.port",
            &http,
            "run",
        ],
    );
    assert!(!out.status.success());
    let acme: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("acme.json")).unwrap()).unwrap();
    let authz: Vec<&serde_json::Value> = acme["authorizations"]
        .as_object()
        .unwrap()
        .values()
        .collect();
    assert_eq!(authz.len(), 1);
    assert_eq!(authz[0]["status"], "invalid");
    assert!(
        authz[0]["error"].as_str().unwrap().contains("wrong"),
        "{authz:?}"
    );
    let orders: Vec<&serde_json::Value> = acme["orders"].as_object().unwrap().values().collect();
    assert_eq!(orders[0]["status"], "invalid");
    assert!(acme_serials(&dir).is_empty());
}

/// ACME-FINALIZE with certbot: certbot (standalone http-01) registers and obtains a
/// certificate; its CSR has an empty subject, which the ACME gate accepts and names after the
/// order; OpenSSL verifies the certificate to the root. `certbot renew --force-renewal`
/// obtains a second one (a new serial, verified); `certbot revoke` of it leaves it revoked in
/// `ca list` and the first valid; `ca check` passes.
#[test]
#[ignore = "full tier: real-tool interop (certbot)"]
fn certbot_obtains_a_certificate_by_http01_standalone_acme_finalize() {
    require("certbot", "certbot");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let http_port = free_port();
    let server = Server::start(&dir, http_port, &dns);
    let state = tmp.path().join("certbot");
    let port = http_port.to_string();
    let args = [
        "certonly",
        "--standalone",
        "--agree-tos",
        "-m",
        "ops@lab.test",
        "-d",
        "web.lab.test",
        "--http-01-address",
        "127.0.0.1",
        "--http-01-port",
        &port,
    ];
    certbot(&server, &dir, &state, &args.map(std::ffi::OsStr::new));
    let cert = state.join("conf/live/web.lab.test/cert.pem");
    verify_server(&dir, &cert);
    let subject = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&subject.stdout).contains("CN = web.lab.test"),
        "{}",
        output_text(&subject)
    );
    assert_eq!(acme_serials(&dir).len(), 1);

    // certbot renew --force-renewal: a second certificate from the same account, verified;
    // then certbot revoke of it: `ca list` shows it revoked, the first one still valid.
    let certbot = |args: &[&str]| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        certbot(&server, &dir, &state, &args);
    };
    let serial_of = |pem: &Path| {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(pem)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_start_matches("serial=")
            .to_uppercase()
    };
    let first = serial_of(&cert);
    certbot(&[
        "renew",
        "--force-renewal",
        // Not run from a terminal, certbot renew otherwise sleeps up to 8 minutes first.
        "--no-random-sleep-on-renew",
        "--http-01-address",
        "127.0.0.1",
        "--http-01-port",
        &http_port.to_string(),
    ]);
    let renewed = serial_of(&cert);
    assert_ne!(
        first, renewed,
        "renew --force-renewal issued a new certificate"
    );
    verify_server(&dir, &cert);
    let mut serials: Vec<String> = acme_serials(&dir)
        .iter()
        .map(|s| s.to_uppercase())
        .collect();
    serials.sort();
    let mut want = vec![first.clone(), renewed.clone()];
    want.sort();
    assert_eq!(serials, want);
    certbot(&[
        "revoke",
        "--cert-path",
        cert.to_str().unwrap(),
        "--reason",
        "superseded",
        "--no-delete-after-revoke",
    ]);
    let listed = clean_ca(&dir).args(["list", "--json"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    for row in rows.as_array().unwrap() {
        let serial = row["serial"].as_str().unwrap().to_uppercase();
        if serial == renewed {
            assert_eq!(row["state"], "revoked", "{row}");
        } else if serial == first {
            assert_eq!(row["state"], "valid", "{row}");
        }
    }
    drop(server);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}

/// ACME-LIMITS: a client that connects to the ACME port and sends nothing (or stops in the
/// middle of its TLS handshake) is disconnected after the first-byte timeout, and the server
/// answers others meanwhile.
#[test]
#[ignore = "full tier: waits out the 10 s first-byte timeout"]
fn a_silent_client_is_disconnected_acme_slow() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let server = Server::start(&dir, free_port(), &dns);
    let start = std::time::Instant::now();
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut half = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    // The first bytes of a TLS record header, then nothing.
    half.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let text = tls_get(server.port, "/acme/directory", &dir.join("ca.crt"));
    assert!(text.contains("HTTP/1.1 200"), "answered meanwhile: {text}");
    for (name, s) in [("silent", &mut silent), ("half", &mut half)] {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf);
        assert!(
            matches!(n, Ok(0)) || n.is_err(),
            "{name}: the connection was closed, not answered: {n:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(25),
            "{name}: {:?}",
            start.elapsed()
        );
    }
}
