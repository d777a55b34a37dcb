//! ACME-FINALIZE under crashes and concurrency (issue #30, "Crash and concurrency"): `serve
//! --acme` aborted at every filesystem mutation of one finalize (debug-build
//! `FILECA_FAULT=abort@K`) and restarted leaves the order issued once or not at all, and a
//! client retry completes it; twenty accounts finalizing at once get twenty distinct serials,
//! all recorded; an operator's `ca revoke` and `ca crl` interleaved with ACME finalizes all
//! land. All full tier (each makes orders ready through the in-test client of acme_client.rs).

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::acme::{Dns, Responder, acme_serials, free_port, lab_ca};
use crate::acme_client::{Client, b64, csr as csr_der};
use crate::harness::*;

/// `ca serve --acme` on fixed ports with extra environment; killed when dropped.
struct Serve {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Serve {
    fn start(
        dir: &Path,
        ports: (u16, u16),
        http_port: u16,
        dns: &Dns,
        env: &[(&str, &str)],
    ) -> Serve {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = clean_ca(dir);
        cmd.args(["serve", "--exit-after", "120", "--listen"])
            .arg(format!("127.0.0.1:{}", ports.1))
            .args(["--acme", "--acme-listen"])
            .arg(format!("127.0.0.1:{}", ports.0))
            .args(["--acme-http-port", &http_port.to_string()])
            .args(["--acme-resolver", &dns.addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let serve = Serve { child, log };
        let ready = wait_until(DEADLINE, || {
            serve.log().contains("ACME directory at").then_some(())
        });
        assert!(
            ready.is_some(),
            "serve --acme did not start: {}",
            serve.log()
        );
        serve
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn mutations(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.starts_with("fileca-mutation "))
            .count()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers `client` (sets its kid) and drives an order for `name` to `ready` by http-01
/// answered by `responder`: the order's path and its finalize path.
fn ready_order(client: &mut Client, responder: &Responder, name: &str) -> (String, String) {
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    client.kid = Some(a.header("location").unwrap());
    let o = client.post(
        "/acme/new-order",
        Some(&json!({"identifiers": [{"type": "dns", "value": name}]})),
    );
    assert_eq!(o.status, 201, "{}", String::from_utf8_lossy(&o.body));
    let order_path = Client::path(&o.header("location").unwrap());
    let order = o.json();
    let authz_path = Client::path(order["authorizations"][0].as_str().unwrap());
    let authz = client.post(&authz_path, None).json();
    let http = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    *responder.body.lock().unwrap() = format!(
        "{}.{}",
        http["token"].as_str().unwrap(),
        client.thumbprint()
    );
    let c = client.post(
        &Client::path(http["url"].as_str().unwrap()),
        Some(&json!({})),
    );
    assert_eq!(
        c.json()["status"],
        "valid",
        "{}",
        String::from_utf8_lossy(&c.body)
    );
    assert_eq!(client.post(&order_path, None).json()["status"], "ready");
    (
        order_path,
        Client::path(order["finalize"].as_str().unwrap()),
    )
}

/// Downloads the order's certificate chain and verifies it to the root with OpenSSL.
fn verify_order_certificate(client: &Client, order: &Value, dir: &Path, file: &Path) {
    let cert = client.post(&Client::path(order["certificate"].as_str().unwrap()), None);
    assert_eq!(cert.status, 200, "{}", String::from_utf8_lossy(&cert.body));
    std::fs::write(file, &cert.body).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(file)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", output_text(&verify));
}

/// The single order in acme.json: (status, certificate serial).
fn stored_order(dir: &Path) -> (String, Option<String>) {
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("acme.json")).unwrap()).unwrap();
    let orders = v["orders"].as_object().unwrap();
    assert_eq!(orders.len(), 1, "{v}");
    let o = orders.values().next().unwrap();
    (
        o["status"].as_str().unwrap().to_string(),
        o["certificate"].as_str().map(str::to_string),
    )
}

/// `client.post` that survives a server dying under it: the status, or None when the
/// connection ended without an answer.
fn try_post(client: &Client, path: &str, payload: &Value) -> Option<u16> {
    use std::io::{Read, Write};
    let nonce = client.nonce();
    let body = client.jws(&client.url(path), &nonce, Some(payload));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client.tls.clone(), name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", client.port)).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/jose+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        client.port,
        body.len()
    );
    tls.write_all(head.as_bytes()).ok()?;
    tls.write_all(&body).ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = tls.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// How many lines of index.log name `serial`.
fn index_lines_naming(dir: &Path, serial: &str) -> usize {
    std::fs::read_to_string(dir.join("index.log"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(serial))
        .count()
}

/// ACME-FINALIZE, ACME-STATE: serve aborted at each mutation of a finalize (counted from
/// FILECA_FAULT_TRACE), restarted without the fault: `ca check` passes, the order is `ready`
/// with no certificate issued or `valid` naming the one certificate index.log records once,
/// and the client's retry (finalize again: issued when ready, answered with the valid order
/// and nothing issued when valid) ends with exactly one acme certificate that OpenSSL
/// verifies to the root.
#[test]
#[ignore = "full tier: one serve process per mutation of a finalize"]
fn serve_aborted_at_every_mutation_of_a_finalize_issues_once_or_not_at_all_acme_finalize() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    lab_ca(&base);
    let dns = Dns::start();
    let responder = Responder::start("");
    let ports = (free_port(), free_port());
    let mut client;
    let (order_path, finalize) = {
        let _serve = Serve::start(&base, ports, responder.port, &dns, &[]);
        client = Client::new(&base.join("ca.crt"), ports.0);
        ready_order(&mut client, &responder, "web.lab.test")
    };
    // Count: the mutations serve makes at start, then those of one finalize.
    let traced = tmp.path().join("traced");
    copy_dir(&base, &traced);
    let serve = Serve::start(
        &traced,
        ports,
        responder.port,
        &dns,
        &[("FILECA_FAULT_TRACE", "1")],
    );
    let at_start = serve.mutations();
    let a = client.post(
        &finalize,
        Some(&json!({"csr": b64(&csr_der("web.lab.test"))})),
    );
    assert_eq!(
        a.json()["status"],
        "valid",
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    // Until the count has stood still for half a second.
    let mut last = (serve.mutations(), Instant::now());
    let total = wait_until(Duration::from_secs(10), || {
        let n = serve.mutations();
        if n != last.0 {
            last = (n, Instant::now());
        }
        (n > at_start && last.1.elapsed() > Duration::from_millis(500)).then_some(n)
    })
    .unwrap();
    let trace: Vec<String> = serve
        .log()
        .lines()
        .filter(|l| l.starts_with("fileca-mutation "))
        .map(str::to_string)
        .collect();
    drop(serve);
    let per_finalize = total - at_start;
    eprintln!(
        "serve makes {at_start} mutations at start, a finalize {per_finalize}:\n{}",
        trace[at_start..].join("\n")
    );
    assert!(per_finalize > 0);

    let (mut issued, mut not_issued) = (0, 0);
    let mut outcomes = String::new();
    for n in 1..=per_finalize {
        let dir = tmp.path().join(format!("abort{n}"));
        copy_dir(&base, &dir);
        let fault = format!("abort@{}", at_start + n);
        let mut serve = Serve::start(
            &dir,
            ports,
            responder.port,
            &dns,
            &[("FILECA_FAULT", &fault)],
        );
        let answer = try_post(
            &client,
            &finalize,
            &json!({"csr": b64(&csr_der("web.lab.test"))}),
        );
        assert!(
            answer.is_none_or(|status| status >= 500),
            "{fault}: the finalize was answered {answer:?} as if nothing happened"
        );
        let died = wait_until(Duration::from_secs(10), || serve.child.try_wait().unwrap());
        assert!(
            died.is_some(),
            "{fault}: serve did not abort: {}",
            serve.log()
        );
        drop(serve);

        // Restarted without the fault.
        let serve = Serve::start(&dir, ports, responder.port, &dns, &[]);
        let order = client.post(&order_path, None).json();
        let (stored, serial) = stored_order(&dir);
        assert_eq!(order["status"], stored.as_str(), "{fault}: {order}");
        let before_retry = acme_serials(&dir);
        match stored.as_str() {
            "ready" => {
                not_issued += 1;
                outcomes.push_str(&format!(" {n}:ready"));
                assert_eq!(serial, None, "{fault}");
                assert!(
                    before_retry.is_empty(),
                    "{fault}: issued but the order is ready: {before_retry:?}"
                );
            }
            "valid" => {
                issued += 1;
                outcomes.push_str(&format!(" {n}:valid"));
                let serial = serial.unwrap();
                assert_eq!(before_retry, vec![serial.clone()], "{fault}");
                assert_eq!(index_lines_naming(&dir, &serial), 1, "{fault}");
            }
            other => panic!("{fault}: order {other} after the restart"),
        }
        // The client's retry: finalize again while ready; fetch the valid order.
        let order = if stored == "ready" {
            let a = client.post(
                &finalize,
                Some(&json!({"csr": b64(&csr_der("web.lab.test"))})),
            );
            a.json()
        } else {
            // A client that retries finalize anyway is answered with the valid order and its
            // one certificate: nothing more is issued.
            let again = client.post(
                &finalize,
                Some(&json!({"csr": b64(&csr_der("web.lab.test"))})),
            );
            let again = again.json();
            assert_eq!(again["status"], "valid", "{fault}: {again}");
            client.post(&order_path, None).json()
        };
        assert_eq!(order["status"], "valid", "{fault}: {order}");
        verify_order_certificate(
            &client,
            &order,
            &dir,
            &tmp.path().join(format!("cert{n}.pem")),
        );
        drop(serve);
        let serials = acme_serials(&dir);
        assert_eq!(serials.len(), 1, "{fault}: {serials:?}");
        assert_eq!(index_lines_naming(&dir, &serials[0]), 1, "{fault}");
        let (stored, serial) = stored_order(&dir);
        assert_eq!(
            (stored.as_str(), serial.as_ref()),
            ("valid", Some(&serials[0])),
            "{fault}"
        );
        assert_check_ok_at(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // The count is complete: an abort one mutation later never fires during the finalize.
    let dir = tmp.path().join("past");
    copy_dir(&base, &dir);
    let fault = format!("abort@{}", at_start + per_finalize + 1);
    let mut serve = Serve::start(
        &dir,
        ports,
        responder.port,
        &dns,
        &[("FILECA_FAULT", &fault)],
    );
    let a = client.post(
        &finalize,
        Some(&json!({"csr": b64(&csr_der("web.lab.test"))})),
    );
    assert_eq!(
        a.json()["status"],
        "valid",
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert!(
        wait_until(Duration::from_millis(500), || serve
            .child
            .try_wait()
            .unwrap())
        .is_none(),
        "{fault} fired: the finalize makes more than {per_finalize} mutations"
    );
    drop(serve);
    eprintln!(
        "{per_finalize} aborts: {issued} left the order valid, {not_issued} ready ({outcomes}); {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(300));
}

/// ACME-FINALIZE: twenty accounts, each with a ready order, finalize at once from twenty
/// threads: twenty valid orders with twenty distinct serials, each in index.log once and in
/// `ca list` under the acme profile, each certificate verifying to the root; `ca check` ok.
#[test]
#[ignore = "full tier: twenty orders made ready take ~4 s"]
fn twenty_clients_finalizing_at_once_get_distinct_recorded_serials_acme_finalize() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let dns = Dns::start();
    let responder = Responder::start("");
    let ports = (free_port(), free_port());
    let serve = Serve::start(&dir, ports, responder.port, &dns, &[]);
    let ready: Vec<(Client, String, String)> = (0..20)
        .map(|i| {
            let mut client = Client::new(&dir.join("ca.crt"), ports.0);
            let (order, finalize) = ready_order(&mut client, &responder, &format!("w{i}.lab.test"));
            (client, order, finalize)
        })
        .collect();
    let made_ready = started.elapsed();
    let barrier = Arc::new(std::sync::Barrier::new(20));
    let threads: Vec<_> = ready
        .into_iter()
        .enumerate()
        .map(|(i, (client, order, finalize))| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let body = json!({"csr": b64(&csr_der(&format!("w{i}.lab.test")))});
                barrier.wait();
                let a = client.post(&finalize, Some(&body));
                assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
                let answer = a.json();
                assert_eq!(answer["status"], "valid", "{answer}");
                (client, order, answer)
            })
        })
        .collect();
    let done: Vec<(Client, String, Value)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    let finalized = started.elapsed();
    let mut serials = acme_serials(&dir);
    assert_eq!(serials.len(), 20, "{serials:?}");
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 20, "distinct serials");
    for serial in &serials {
        assert_eq!(index_lines_naming(&dir, serial), 1, "{serial}");
    }
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("acme.json")).unwrap()).unwrap();
    let mut stored: Vec<String> = state["orders"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| {
            assert_eq!(o["status"], "valid", "{o}");
            o["certificate"].as_str().unwrap().to_string()
        })
        .collect();
    stored.sort();
    assert_eq!(stored, serials, "each order names its own certificate");
    for (i, (client, _, answer)) in done.iter().enumerate() {
        verify_order_certificate(client, answer, &dir, &tmp.path().join(format!("w{i}.pem")));
    }
    drop(serve);
    assert_check_ok_at(&dir);
    eprintln!(
        "20 made ready in {made_ready:?}, finalized by {finalized:?}, all checked by {:?}",
        started.elapsed()
    );
}

/// The serials `ca list --json` shows with `profile` (uppercase hex) and their status.
fn listed(dir: &Path) -> Vec<(String, String, String)> {
    let out = clean_ca(dir).args(["list", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["serial"].as_str().unwrap().to_uppercase(),
                r["profile"].as_str().unwrap_or("").to_string(),
                r["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// One operator command under a deadline; asserts it succeeds.
fn operator(dir: &Path, args: &[&str]) {
    let mut cmd = clean_ca(dir);
    cmd.args(args);
    let out = bounded(cmd, DEADLINE);
    assert!(out.status.success(), "ca {args:?}: {}", output_text(&out));
}

/// ACME-FINALIZE with REVOKE-*, CRL-*: while eight ACME clients finalize at once, the
/// operator revokes five certificates `ca sign` issued and publishes a CRL after each; then
/// revokes one ACME certificate and publishes again. Every command succeeds (the commits are
/// serialised, none lost): eight distinct ACME serials, the six revoked ones `revoked` in
/// `ca list` and on the last CRL (which OpenSSL verifies against the root), no other serial on
/// it, and `ca check` passes.
#[test]
#[ignore = "full tier: ~2 s, eight orders made ready and twelve operator commands"]
fn operator_revokes_and_publishes_crls_while_acme_issues_acme_finalize() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    for _ in 0..5 {
        operator(&dir, &["sign", csr("p256-default.pem").to_str().unwrap()]);
    }
    let signed: Vec<String> = listed(&dir)
        .into_iter()
        .filter(|(_, p, _)| !p.starts_with("acme"))
        .map(|(s, _, _)| s)
        .collect();
    assert_eq!(signed.len(), 5, "{signed:?}");
    let dns = Dns::start();
    let responder = Responder::start("");
    let ports = (free_port(), free_port());
    let serve = Serve::start(&dir, ports, responder.port, &dns, &[]);
    let ready: Vec<(Client, String)> = (0..8)
        .map(|i| {
            let mut client = Client::new(&dir.join("ca.crt"), ports.0);
            let (_, finalize) = ready_order(&mut client, &responder, &format!("op{i}.lab.test"));
            (client, finalize)
        })
        .collect();
    let barrier = Arc::new(std::sync::Barrier::new(9));
    let clients: Vec<_> = ready
        .into_iter()
        .enumerate()
        .map(|(i, (client, finalize))| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let body = json!({"csr": b64(&csr_der(&format!("op{i}.lab.test")))});
                barrier.wait();
                let a = client.post(&finalize, Some(&body));
                assert_eq!(
                    a.json()["status"],
                    "valid",
                    "{}",
                    String::from_utf8_lossy(&a.body)
                );
                started.elapsed()
            })
        })
        .collect();
    let op_dir = dir.clone();
    let op_serials = signed.clone();
    let op = std::thread::spawn(move || {
        barrier.wait();
        let from = started.elapsed();
        for serial in &op_serials {
            operator(&op_dir, &["revoke", serial, "--reason", "superseded"]);
            operator(&op_dir, &["crl"]);
        }
        (from, started.elapsed())
    });
    let answered: Vec<Duration> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let (op_from, op_to) = op.join().unwrap();
    eprintln!(
        "operator commands from {op_from:?} to {op_to:?}; finalizes answered at {answered:?}"
    );
    let acme: Vec<String> = listed(&dir)
        .into_iter()
        .filter(|(_, p, _)| p == "acme")
        .map(|(s, _, _)| s)
        .collect();
    let mut distinct = acme.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "{acme:?}");
    operator(&dir, &["revoke", &acme[0], "--reason", "keyCompromise"]);
    operator(&dir, &["crl"]);
    drop(serve);
    let mut revoked = signed.clone();
    revoked.push(acme[0].clone());
    for (serial, _, status) in listed(&dir) {
        let want = if revoked.contains(&serial) {
            "revoked"
        } else {
            "valid"
        };
        assert_eq!(status, want, "{serial}");
    }
    let (ok, text) = openssl(&[
        "crl",
        "-in",
        dir.join("ca.crl").to_str().unwrap(),
        "-CAfile",
        dir.join("ca.crt").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ok && text.contains("verify OK"), "{text}");
    let on_crl: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_uppercase())
        .collect();
    let strip = |s: &str| s.trim_start_matches('0').to_string();
    let mut want: Vec<String> = revoked.iter().map(|s| strip(s)).collect();
    let mut got: Vec<String> = on_crl.iter().map(|s| strip(s)).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{text}");
    assert_check_ok_at(&dir);
    eprintln!("operator alongside ACME: {:?}", started.elapsed());
}
