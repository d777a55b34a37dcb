//! Terminal and log injection (SPEC.md HOSTILE-TERMINAL): no string that did not come from
//! fileca reaches stdout or stderr raw. A table of hostile strings goes through every command
//! that prints what an attacker can choose: CSR subjects and SANs, certificate issuers,
//! imported names and file names.

use std::path::Path;
use std::process::Output;

use crate::harness::*;

/// Hostile strings: cursor movement and line clearing, a carriage return and a newline that
/// forge a line, bidi override and zero-width characters.
const HOSTILE: &[&str] = &[
    "a\x1b[2Kb",
    "x\rvalid",
    "line\nnote: forged",
    "abc\u{202e}txt.exe",
    "zero\u{200b}width",
];

/// Asserts no raw control, bidi or zero-width character reached either stream (a newline
/// ends a line, so only line ends are allowed).
#[track_caller]
fn assert_clean(out: &Output, what: &str) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            let bad: Vec<char> = line
                .chars()
                .filter(|&c| fileca::term::is_unsafe(c))
                .collect();
            assert!(bad.is_empty(), "{what}: raw {bad:?} on {name}: {line:?}");
        }
        assert!(
            !text.contains("\nnote: forged"),
            "{what}: a forged line on {name}: {text:?}"
        );
    }
}

/// A CSR (and key) whose CN is `cn`, made with OpenSSL (`-utf8`, so any bytes pass).
fn hostile_csr(dir: &Path, tag: usize, cn: &str) -> std::path::PathBuf {
    let key = dir.join(format!("h{tag}.key"));
    let csr = dir.join(format!("h{tag}.csr"));
    let st = std::process::Command::new("openssl")
        .args(["req", "-new", "-utf8", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-subj")
        .arg(format!("/CN={cn}"))
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    csr
}

#[test]
fn hostile_strings_never_reach_the_terminal_raw_hostile_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let before = snapshot(&dir);
    for (i, h) in HOSTILE.iter().enumerate() {
        // A CSR subject with the string: refused by the gate (exit 3), message escaped.
        let request = hostile_csr(tmp.path(), i, h);
        let out = ca_at(&dir)
            .args(["sign", request.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(REFUSED), "CN {h:?}");
        assert_clean(&out, &format!("sign CN {h:?}"));
        let out = ca_at(&dir)
            .args(["sign", "--dry-run", request.to_str().unwrap()])
            .output()
            .unwrap();
        assert_clean(&out, &format!("sign --dry-run CN {h:?}"));
        // A certificate whose issuer holds the string: verify says "not this CA", escaped.
        let crt = tmp.path().join(format!("h{i}.crt"));
        let st = std::process::Command::new("openssl")
            .args(["req", "-x509", "-utf8", "-days", "10", "-key"])
            .arg(tmp.path().join(format!("h{i}.key")))
            .arg("-subj")
            .arg(format!("/CN={h}"))
            .arg("-out")
            .arg(&crt)
            .output()
            .unwrap();
        assert!(st.status.success());
        let out = ca_at(&dir)
            .args(["verify", crt.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(10), "{out:?}");
        assert_clean(&out, &format!("verify issuer {h:?}"));
        // A file name with the string.
        let named = tmp
            .path()
            .join(format!("req{i}-{}.pem", h.replace('/', "_")));
        std::fs::write(&named, "not a CSR").unwrap();
        let out = ca_at(&dir)
            .args(["sign", named.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(REFUSED));
        assert_clean(&out, &format!("file name {h:?}"));
        // A --dir with the string.
        let out = ca_at(&tmp.path().join(h.replace('/', "_")))
            .arg("status")
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert_clean(&out, &format!("--dir {h:?}"));
    }
    assert_unchanged(&before, &snapshot(&dir));
}

#[test]
fn a_directory_name_san_is_shown_escaped_in_the_ignored_note_hostile_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let cnf = tmp.path().join("req.cnf");
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name=dn\nreq_extensions=ext\nprompt=no\nutf8=yes\n[dn]\nCN=web.example.test\n\
         [ext]\nsubjectAltName=DNS:web.example.test,dirName:dir_sect\n\
         [dir_sect]\nCN=line\\nnote: forged\n",
    )
    .unwrap();
    let csr_path = tmp.path().join("dn.csr");
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(tmp.path().join("dn.key"))
        .arg("-config")
        .arg(&cnf)
        .arg("-out")
        .arg(&csr_path)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    for args in [vec!["sign", "--dry-run"], vec!["sign"]] {
        let mut cmd = ca_at(&dir);
        cmd.args(&args).arg(&csr_path);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean(&out, &format!("{args:?} with a dirName SAN"));
    }
}

#[test]
fn names_already_in_the_index_are_escaped_on_display_hostile_terminal_legacy() {
    // Imported history keeps odd names (fileca escapes them on display); here a subject and a
    // SAN with terminal escapes are put into index.log by hand, as an old import could have.
    let tmp = tempfile::tempdir().unwrap();
    let dir = deterministic_ca(tmp.path());
    let log = std::fs::read_to_string(dir.join("index.log")).unwrap();
    let serial = read_index(&dir)["certificates"][1]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let mut out = String::new();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut line = line.to_string();
        if v["issued"] == serial.as_str() {
            // Replace the values in place: the line keeps its field order.
            let enc = |x: &serde_json::Value| serde_json::to_string(x).unwrap();
            line = line.replacen(
                &enc(&v["subject"]),
                &enc(&"CN=x\u{1b}[2K\rforged\u{202e}".into()),
                1,
            );
            line = line.replacen(
                &enc(&v["sans"]),
                &enc(&serde_json::json!(["DNS:a\u{1b}[31m b\nnote: forged"])),
                1,
            );
        }
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(dir.join("index.log"), &out).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    header["log_len"] = out.len().into();
    std::fs::write(dir.join("index.json"), format!("{header}\n")).unwrap();
    // Legacy history enters a format-3 index through `ca upgrade`, which signs it as it is.
    as_format_2(&dir);
    let up = ca_at(&dir).arg("upgrade").output().unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    for args in [
        vec!["list"],
        vec!["show", serial.as_str()],
        vec!["status"],
        vec!["revoke", serial.as_str()],
    ] {
        let out = ca_at(&dir).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean(&out, &format!("{args:?} of a hostile legacy name"));
        if args[0] != "status" {
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                all.contains(r"\u{001b}"),
                "{args:?} shows the name, escaped: {all}"
            );
        }
    }
}
