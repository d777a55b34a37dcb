//! dns-01 (ACME-DNS01, RFC 8555 8.4) against a tiny DNS server the test runs in process: A
//! queries answer 127.0.0.1, TXT queries for NAME answer the lines of the file `TXT/NAME`
//! (so lego's `exec` provider can publish a record with a shell script). With the in-test
//! client (fast): a wrong TXT value leaves the authorization invalid; a wildcard is refused
//! while the profile has no allow_wildcard, then authorized for its base name by dns-01 only
//! and issued; with lego `--dns exec` (full).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::acme::{Dns, Responder, Server, free_port, lab_ca};
use crate::acme_client::{Client, b64};
use crate::harness::*;

/// Starts the DNS server serving TXT records from the files in `txt`; stops when dropped.
pub fn txt_dns(txt: &Path) -> Dns {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, txt) = (stop.clone(), txt.to_path_buf());
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !flag.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if let Some(r) = answer(&buf[..n], &txt) {
                let _ = sock.send_to(&r, from);
            }
        }
    });
    Dns { addr, stop }
}

/// The answer to one query: the question copied (anything after it, such as an EDNS record,
/// dropped), then the records.
fn answer(q: &[u8], txt: &Path) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*q.get(at)?, *q.get(at + 1)?]);
    let mut r = q.get(..at + 4)?.to_vec();
    r[2] = 0x85;
    r[3] = 0x80;
    r[8..12].fill(0);
    let mut records: Vec<Vec<u8>> = Vec::new();
    match qtype {
        1 => records.push(vec![127, 0, 0, 1]),
        16 => {
            let file = txt.join(labels.join("."));
            for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
                let mut data = vec![line.len() as u8];
                data.extend_from_slice(line.as_bytes());
                records.push(data);
            }
        }
        _ => {}
    }
    r[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for data in records {
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    Some(r)
}

/// The dns-01 TXT value for `token` of `client`'s account.
fn txt_value(client: &Client, token: &str) -> String {
    let key_authz = format!("{token}.{}", client.thumbprint());
    b64(ring::digest::digest(&ring::digest::SHA256, key_authz.as_bytes()).as_ref())
}

/// Applies the lab policy with `allow_wildcard = true` in the acme profile.
fn allow_wildcards(dir: &Path) {
    let shown = clean_ca(dir).args(["policy", "show"]).output().unwrap();
    let text = String::from_utf8(shown.stdout).unwrap().replacen(
        "allow_dns = [\"*.lab.test\"]",
        "allow_dns = [\"*.lab.test\"]\nallow_wildcard = true",
        1,
    );
    let file = dir.with_extension("wild.toml");
    std::fs::write(&file, text).unwrap();
    let out = clean_ca(dir)
        .args(["policy", "apply"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// ACME-DNS01, ACME-FLOW: dns-01 by TXT record, wildcards by dns-01 only and only where the
/// policy allows them.
#[test]
fn dns01_validates_by_txt_record_and_authorizes_wildcards_acme_dns01() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let txt = tmp.path().join("txt");
    std::fs::create_dir(&txt).unwrap();
    let dns = txt_dns(&txt);
    let responder = Responder::start("");
    let server = Server::start(&dir, responder.port, &dns);
    let mut client = Client::new(&dir.join("ca.crt"), server.port);
    let a = client.post(
        "/acme/new-account",
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    client.kid = Some(a.header("location").unwrap());
    let order = |names: &[&str]| {
        let ids: Vec<_> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        client.post("/acme/new-order", Some(&json!({ "identifiers": ids })))
    };

    // A wrong TXT value: the authorization (and order) invalid, the error naming the record.
    let o = order(&["web.lab.test"]).json();
    let authz = client
        .post(
            &Client::path(o["authorizations"][0].as_str().unwrap()),
            None,
        )
        .json();
    let kinds: Vec<&str> = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["http-01", "dns-01", "tls-alpn-01"]);
    std::fs::write(txt.join("_acme-challenge.web.lab.test"), "not-the-digest\n").unwrap();
    let dns01 = Client::path(authz["challenges"][1]["url"].as_str().unwrap());
    let c = client.post(&dns01, Some(&json!({}))).json();
    assert_eq!(c["status"], "invalid", "{c}");
    assert!(
        c["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("not-the-digest"),
        "{c}"
    );

    // A wildcard while the profile has no allow_wildcard.
    let before = snapshot(&dir);
    let a = order(&["*.lab.test"]);
    assert_eq!(
        a.json()["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    assert!(String::from_utf8_lossy(&a.body).contains("allow_wildcard"));
    assert_unchanged(&before, &snapshot(&dir));

    // Allowed: the wildcard's authorization is for lab.test, by dns-01 alone.
    allow_wildcards(&dir);
    let o = order(&["*.lab.test", "api.lab.test"]);
    assert_eq!(o.status, 201, "{}", String::from_utf8_lossy(&o.body));
    let o = o.json();
    for url in o["authorizations"].as_array().unwrap() {
        let authz = client
            .post(&Client::path(url.as_str().unwrap()), None)
            .json();
        let name = authz["identifier"]["value"].as_str().unwrap().to_string();
        let challenges = authz["challenges"].as_array().unwrap().clone();
        if name == "lab.test" {
            assert_eq!(authz["wildcard"], true, "{authz}");
            assert_eq!(challenges.len(), 1, "{authz}");
            let http01 =
                Client::path(challenges[0]["url"].as_str().unwrap()).replace("/dns-01", "");
            let refused = client.post(&http01, Some(&json!({})));
            assert_eq!(
                refused.json()["type"],
                "urn:ietf:params:acme:error:malformed"
            );
        }
        let dns01 = challenges.iter().find(|c| c["type"] == "dns-01").unwrap();
        let token = dns01["token"].as_str().unwrap();
        let record = txt.join(format!("_acme-challenge.{name}"));
        std::fs::write(record, format!("other\n{}\n", txt_value(&client, token))).unwrap();
        let c = client
            .post(
                &Client::path(dns01["url"].as_str().unwrap()),
                Some(&json!({})),
            )
            .json();
        assert_eq!(c["status"], "valid", "{c}");
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let names = vec!["*.lab.test".to_string(), "api.lab.test".to_string()];
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).unwrap();
    let finalize = Client::path(o["finalize"].as_str().unwrap());
    let done = client
        .post(&finalize, Some(&json!({"csr": b64(csr.der())})))
        .json();
    assert_eq!(done["status"], "valid", "{done}");
    let cert = client.post(&Client::path(done["certificate"].as_str().unwrap()), None);
    let pem_file = tmp.path().join("wild.pem");
    std::fs::write(&pem_file, &cert.body).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-verify_hostname", "www.lab.test", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(&pem_file)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", output_text(&verify));
    let acme = std::fs::read_to_string(dir.join("acme.json")).unwrap();
    assert!(acme.contains("\"wildcard\": true") && acme.contains("\"challenge\": \"dns-01\""));
    drop(server);
    let check = clean_ca(&dir).args(["check"]).output().unwrap();
    assert!(check.status.success(), "{}", output_text(&check));
}

/// A shell script for lego's `exec` DNS provider: `present FQDN VALUE` writes VALUE into
/// `TXT/FQDN` (without the final dot), `cleanup` removes it.
fn exec_script(tmp: &Path, txt: &Path) -> PathBuf {
    let script = tmp.join("publish.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\nf='{}'/\"${{2%.}}\"\ncase \"$1\" in\n  present) printf '%s\\n' \"$3\" > \"$f\" ;;\n  cleanup) rm -f \"$f\" ;;\nesac\n",
            txt.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// ACME-DNS01 with lego: `--dns exec` publishing through a script into the test's DNS
/// server, `--dns.resolvers` pointing at it; a wildcard and a name in one certificate.
#[test]
#[ignore = "full tier: real-tool interop (lego)"]
fn lego_obtains_a_wildcard_by_dns01_through_exec_acme_dns01() {
    require("lego", "lego");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    allow_wildcards(&dir);
    let txt = tmp.path().join("txt");
    std::fs::create_dir(&txt).unwrap();
    let dns = txt_dns(&txt);
    let server = Server::start(&dir, free_port(), &dns);
    let state = tmp.path().join("lego");
    let resolver = dns.addr.to_string();
    let mut cmd = std::process::Command::new("lego");
    cmd.env("LEGO_CA_CERTIFICATES", dir.join("ca.crt"))
        .env("EXEC_PATH", exec_script(tmp.path(), &txt))
        .env("EXEC_PROPAGATION_TIMEOUT", "30")
        .env("EXEC_POLLING_INTERVAL", "1")
        // exec is a sequential provider: 60 s between the two names by default.
        .env("EXEC_SEQUENCE_INTERVAL", "1")
        .args([
            "--server",
            &format!("https://localhost:{}/acme/directory", server.port),
        ])
        .args(["--email", "ops@lab.test", "--accept-tos", "--path"])
        .arg(&state)
        .args([
            "--dns",
            "exec",
            "--dns.resolvers",
            &resolver,
            "--dns.disable-cp",
        ])
        .args([
            "--domains",
            "*.lab.test",
            "--domains",
            "web.lab.test",
            "run",
        ]);
    let out = bounded(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        server.log()
    );
    let cert = state.join("certificates/_.lab.test.crt");
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let text = output_text(&text);
    assert!(
        text.contains("DNS:*.lab.test") && text.contains("DNS:web.lab.test"),
        "{text}"
    );
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-verify_hostname", "any.lab.test", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(&cert)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", output_text(&verify));
    assert_eq!(crate::acme::acme_serials(&dir).len(), 1);
}

/// ACME-DNS01 with certbot: `--manual --preferred-challenges dns` with a
/// `--manual-auth-hook` that publishes `$CERTBOT_VALIDATION` into the test's DNS server.
#[test]
#[ignore = "full tier: real-tool interop (certbot)"]
fn certbot_obtains_a_certificate_by_dns01_through_a_manual_hook_acme_dns01() {
    require("certbot", "certbot");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    lab_ca(&dir);
    let txt = tmp.path().join("txt");
    std::fs::create_dir(&txt).unwrap();
    let dns = txt_dns(&txt);
    let server = Server::start(&dir, free_port(), &dns);
    let hook = tmp.path().join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$CERTBOT_VALIDATION\" > '{}'/_acme-challenge.\"$CERTBOT_DOMAIN\"\n",
            txt.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = tmp.path().join("certbot");
    let args = [
        "certonly".as_ref(),
        "--manual".as_ref(),
        "--preferred-challenges".as_ref(),
        "dns".as_ref(),
        "--manual-auth-hook".as_ref(),
        hook.as_os_str(),
        "--agree-tos".as_ref(),
        "-m".as_ref(),
        "ops@lab.test".as_ref(),
        "-d".as_ref(),
        "web.lab.test".as_ref(),
    ];
    crate::acme::certbot(&server, &dir, &state, &args);
    crate::acme::verify_server(&dir, &state.join("conf/live/web.lab.test/cert.pem"));
}
