//! ACME-KEY with the CA key on a PKCS#11 token (SoftHSM2): `serve --acme --pin-file FILE`
//! opens the token once at start, and the ACME server's TLS certificate — a journaled commit
//! like any issuance — is signed on the token; a client trusting ca.crt verifies it.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;
use crate::pkcs11::{PIN, Token, init_on_token, pin_file};

#[test]
#[ignore = "full tier: a SoftHSM2 token"]
fn serve_acme_signs_with_a_ca_key_on_a_token_acme_token() {
    let env = Env::empty();
    let token = Token::new("acme-ca");
    token.keygen("EC:prime256v1", "ca-key", "01");
    init_on_token(&env, &token, "ca-key");
    let pin = pin_file(&env, PIN);
    let port = crate::acme::free_port();
    let log = env.tmp.path().join("serve.log");
    let mut child = token
        .ca(&env)
        .args(["serve", "--exit-after", "60", "--listen"])
        .arg(format!("127.0.0.1:{}", crate::acme::free_port()))
        .args(["--acme", "--acme-listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--pin-file", &pin])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = wait_until(DEADLINE, || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        t.contains("ACME directory at").then_some(())
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "printf 'GET /acme/directory HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' | \
         openssl s_client -connect 127.0.0.1:{port} -servername localhost \
         -verify_hostname localhost -verify_return_error -CAfile '{}' -quiet -ign_eof 2>&1",
        env.dir.join("ca.crt").display()
    ));
    let answer = output_text(&bounded(cmd, Duration::from_secs(30)));
    let _ = child.kill();
    let _ = child.wait();
    assert!(started.is_some(), "serve --acme did not start: {text}");
    assert!(!text.contains(PIN), "the PIN was shown: {text}");
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
    let list = token.ok(&env, &["list"]);
    assert!(list.contains("acme-tls"), "{list}");
    token.ok(&env, &["check"]);
}
