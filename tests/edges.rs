//! Operator edges (issue #27): exit codes as SPEC.md's table says (EXIT-USAGE, EXIT-REFUSED,
//! EXIT-TABLE), refusals that name the option and the next step, `crl --der` on stdout
//! (CRL-DER), dry runs that refuse what the real run refuses (DRY-RUN), and help that keeps
//! global options apart (DOCS-HELP).

use std::path::Path;

use crate::harness::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// EXIT-USAGE: a malformed value is exit 2 whichever command reads it — a duration, an
/// issue NAME (a wildcard is pointed to `--san`), a `-` that cannot be a batch member or an
/// output directory; EXIT-REFUSED: a well-formed request the policy refuses is exit 3.
#[test]
fn malformed_values_are_exit_2_and_policy_refusals_exit_3_exit_usage_exit_refused() {
    let env = Env::new();
    let p256 = csr("p256-default.pem");
    env.refused(&["list", "--expiring", "30x"], USAGE);
    env.refused(&["list", "--expiring", "d"], USAGE);
    let e = env.refused(&["issue", "bad/name"], USAGE);
    assert!(e.contains("letters, digits"), "{e}");
    let e = env.refused(&["issue", "*.lab.test"], USAGE);
    assert!(e.contains("--san 'DNS:*.lab.test'"), "{e}");
    env.refused(&["issue", ".hidden"], USAGE);
    env.refused(&["sign", "-", "-"], USAGE);
    env.refused(&["sign", "-", s(&p256)], USAGE);
    // `--out-dir -` made a directory named `-`.
    let e = env.refused(&["sign", s(&p256), "--out-dir", "-"], USAGE);
    assert!(e.contains("not `-`"), "{e}");
    env.refused(&["issue", "web.test", "--out-dir", "-"], USAGE);
    assert!(!env.path("-").exists());
    // A profile that makes CAs is the policy's word: a refusal, not a usage error.
    let e = env.refused(&["issue", "x.lab.test", "--profile", "sub-ca"], REFUSED);
    assert!(e.contains("ca sign CSR --profile sub-ca"), "{e}");
    // What works stays working.
    env.ok(&["list", "--expiring", "30d"]);
    env.ok(&["list", "--expiring", "45"]);
}

/// Refusals say what is wrong in the user's terms: a missing `--out` directory names
/// `--out` and says nothing was issued (EXIT-REFUSED); `revoke --cert ca.crt` says it is the
/// CA's own certificate (REVOKE-REFUSE); a `--dir` that does not exist says so and how to
/// name another (DIR-MISSING).
#[test]
fn refusals_name_the_option_and_the_next_step_exit_refused_revoke_refuse_dir_missing() {
    let env = Env::new();
    let p256 = csr("p256-default.pem");
    let e = env.refused(
        &["sign", s(&p256), "--out", "/nonexistent/dir/a.crt"],
        REFUSED,
    );
    assert!(
        e.contains("--out /nonexistent/dir/a.crt")
            && e.contains("does not exist")
            && e.contains("nothing was issued"),
        "{e}"
    );
    let e = env.refused(&["revoke", "--cert", s(&env.dir.join("ca.crt"))], REFUSED);
    assert!(e.contains("this CA's own certificate"), "{e}");
    let missing = env.path("pkj");
    let out = ca_at(&missing).arg("status").output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(STATE), "{e}");
    assert!(
        e.contains("does not exist") && e.contains("--dir") && e.contains("$CA_DIR"),
        "{e}"
    );
    assert!(!missing.exists());
}

/// CRL-DER: `crl --der` prints the DER on stdout (or `--out -`), as `show --ca --der` does,
/// and refuses a terminal (exit 2, nothing written).
#[test]
#[ignore = "full tier: script (util-linux) for a terminal"]
fn crl_der_goes_to_stdout_but_never_to_a_terminal_crl_der() {
    let env = Env::new();
    let (_, serial) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &serial]);
    for args in [&["crl", "--der"][..], &["crl", "--der", "--out", "-"]] {
        let der = env.ok(args).stdout;
        assert_eq!(der[0], 0x30, "{args:?}: DER, not PEM");
        let file = write(&env, "stdout.crl", &der);
        let (ok, text) = openssl(&["crl", "-inform", "DER", "-in", s(&file), "-noout", "-text"]);
        assert!(ok && text.contains(&serial), "{text}");
        // ca.crl stays PEM.
        let pem = std::fs::read_to_string(env.dir.join("ca.crl")).unwrap();
        assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
    }
    let before = snapshot(&env.dir);
    let out = crate::keys::on_terminal(&env, "crl --der", &[]);
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(USAGE), "{transcript}");
    assert!(transcript.contains("--der"), "{transcript}");
    assert_unchanged(&before, &snapshot(&env.dir));
}

/// DRY-RUN: a dry run refuses whatever the real run refuses, outputs included (an existing
/// `--out`, a file of `--out-dir`, `issue`'s pair directory), with the same exit code — and
/// before the CA key is decrypted: with a wrong passphrase the refusal is the output's.
#[test]
fn a_dry_run_refuses_the_outputs_the_real_run_refuses_before_the_key_dry_run() {
    let env = Env::empty();
    let pass = write(&env, "ca.pass", b"right passphrase\n");
    let wrong = write(&env, "wrong.pass", b"wrong passphrase\n");
    for p in [&pass, &wrong] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    }
    env.ok(&[
        "--passphrase-file",
        s(&pass),
        "init",
        "--subject",
        "CN=Dry CA",
        "--encrypt-key",
    ]);
    let p256 = csr("p256-default.pem");
    let with_pass = |p: &Path, args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["--passphrase-file".into(), s(p).into()];
        v.extend(args.iter().map(|a| a.to_string()));
        v
    };
    env.ok(&with_pass(&pass, &["sign", s(&p256)])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let serial = env.last_serial();
    let existing = write(&env, "existing.crt", b"keep me\n");
    let out_dir = env.path("issued");
    std::fs::create_dir(&out_dir).unwrap();
    write(&env, "issued/p256-default.crt", b"keep me too\n");
    std::fs::create_dir_all(out_dir.join("web.test")).unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["sign", s(&p256), "--out", s(&existing)],
        vec!["sign", s(&p256), "--out-dir", s(&out_dir)],
        vec!["renew", &serial, "--out", s(&existing)],
        vec!["crl", "--out", s(&existing)],
        vec!["crl", "--der", "--out", s(&existing)],
        vec!["issue", "web.test", "--out-dir", s(&out_dir)],
        vec!["sign", s(&p256), "--out", "/nonexistent/dir/a.crt"],
    ];
    for case in &cases {
        for p in [&pass, &wrong] {
            for dry in [false, true] {
                let mut args = with_pass(p, case);
                if dry {
                    args.push("--dry-run".into());
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let e = env.refused(&args, REFUSED);
                assert!(
                    e.contains("already exists") || e.contains("does not exist"),
                    "{args:?}: {e}"
                );
            }
        }
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me\n");
    // With --force the dry run goes through, as the real run would.
    let args = with_pass(
        &pass,
        &[
            "sign",
            s(&p256),
            "--out",
            s(&existing),
            "--force",
            "--dry-run",
        ],
    );
    env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The codes a list names, in order: the items of "CODE words, CODE words, …" after its
/// first `): ` or `: ` (parenthesised remarks hold no item that starts with a digit).
fn listed_codes(list: &str) -> Vec<String> {
    let body = list
        .split_once("): ")
        .or_else(|| list.split_once(": "))
        .unwrap()
        .1;
    body.split(", ")
        .filter(|item| item.starts_with(|c: char| c.is_ascii_digit()))
        .map(|item| item.split(' ').next().unwrap().to_string())
        .collect()
}

/// EXIT-TABLE: SPEC.md's exit code table is the one source: the README's list, `ca --help`'s
/// and `ca man`'s EXIT STATUS name exactly its codes, README and `--help` with its words.
#[test]
fn readme_help_and_man_list_the_exit_codes_of_specs_table_exit_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("SPEC.md")).unwrap();
    let section = spec.split("## 5. Exit codes").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let table: Vec<(String, String)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[1].starts_with(|c: char| c.is_ascii_digit()))
                .then(|| (cells[1].to_string(), cells[2].to_string()))
        })
        .collect();
    let codes: Vec<String> = table.iter().map(|(c, _)| c.clone()).collect();
    assert!(
        codes.contains(&"70".to_string()) && codes.len() >= 12,
        "{table:?}"
    );

    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("\nExit codes (")
        .expect("the README's exit code list");
    let list = readme[start + 1..]
        .split("\n\n")
        .next()
        .unwrap()
        .replace('\n', " ");
    let help = String::from_utf8(Env::empty().ok(&["--help"]).stdout).unwrap();
    let help_list = help
        .lines()
        .find(|l| l.starts_with("Exit codes"))
        .expect("ca --help lists the exit codes");
    for (what, text) in [("README", list.as_str()), ("ca --help", help_list)] {
        assert_eq!(listed_codes(text), codes, "{what}: {text}");
        for (code, short) in &table {
            assert!(
                text.contains(&format!("{code} {short}")),
                "{what} lacks \"{code} {short}\": {text}"
            );
        }
    }
    let man = String::from_utf8(Env::empty().ok(&["man"]).stdout).unwrap();
    let status = man
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .expect("EXIT STATUS");
    let lines: Vec<&str> = status.lines().collect();
    let man_codes: Vec<String> = lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .map(|w| w[1].replace("\\(en", "–"))
        .collect();
    assert_eq!(man_codes, codes, "ca man's EXIT STATUS");
}

/// The subcommands `ca --help` lists (clap's `help` excepted), and policy's.
fn commands() -> Vec<Vec<String>> {
    let help = String::from_utf8(Env::empty().ok(&["--help"]).stdout).unwrap();
    let mut out: Vec<Vec<String>> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(|c| vec![c.to_string()])
        .collect();
    for sub in ["show", "apply", "edit"] {
        out.push(vec!["policy".into(), sub.into()]);
    }
    out
}

/// DOCS-HELP: every command's `--help` lists its own options under "Options:" and the
/// options every command takes under "Global options:", apart; every SERIAL argument is
/// described in the same words (SERIAL-INPUT).
#[test]
fn every_help_keeps_global_options_apart_and_serials_in_one_wording_docs_help() {
    let env = Env::empty();
    let commands = commands();
    assert!(commands.len() >= 20, "{commands:?}");
    for cmd in &commands {
        let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        args.push("--help");
        let help = String::from_utf8(env.ok(&args).stdout).unwrap();
        let (own, global) = help
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{cmd:?}: no Global options heading:\n{help}"));
        for option in [
            "--dir <DIR>",
            "--lock-timeout",
            "--quiet",
            "--allow-insecure-dir",
        ] {
            assert!(
                !own.contains(option),
                "{cmd:?}: {option} among its own options"
            );
            assert!(
                global.contains(option),
                "{cmd:?}: {option} not under Global options"
            );
        }
    }
    let serial_help = |cmd: &str| {
        let help = String::from_utf8(env.ok(&[cmd, "--help"]).stdout).unwrap();
        let line = help
            .lines()
            .find(|l| {
                l.trim_start().starts_with("[SERIAL]") || l.trim_start().starts_with("<SERIAL>")
            })
            .unwrap_or_else(|| panic!("{cmd}: {help}"))
            .trim_start()
            .split_once("  ")
            .unwrap()
            .1
            .trim()
            .to_string();
        assert!(line.contains("last 8 or more digits"), "{cmd}: {line}");
        line
    };
    let revoke = serial_help("revoke");
    assert_eq!(serial_help("show"), revoke);
    assert_eq!(serial_help("renew"), revoke);
}

/// REVOKE-REASONS: a reason is shown in text as users type it (`caCompromise`, as `--help`
/// lists it), while JSON and index.log keep RFC 5280's `cACompromise`.
#[test]
fn reasons_are_shown_as_typed_and_json_keeps_rfc_5280s_name_revoke_reasons() {
    let env = Env::new();
    let (pem, serial) = env.sign(&csr("p256-default.pem"), &[]);
    let out = env.ok(&["revoke", &serial, "--reason", "caCompromise"]);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.contains("caCompromise"), "{note}");
    let show = String::from_utf8(env.ok(&["show", &serial]).stdout).unwrap();
    assert!(show.contains("(caCompromise)"), "{show}");
    let cert = write(&env, "leaf.pem", pem.as_bytes());
    let out = env.run(&["verify", s(&cert)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("caCompromise") && !text.contains("cACompromise"),
        "{text}"
    );
    let e = env.refused(&["revoke", &serial, "--reason", "aACompromise"], REFUSED);
    assert!(e.contains("reason caCompromise"), "{e}");
    let json: serde_json::Value =
        serde_json::from_slice(&env.ok(&["show", &serial, "--json"]).stdout).unwrap();
    assert_eq!(json["revocation_reason"], "cACompromise");
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    assert!(log.contains("cACompromise"), "{log}");
}

/// DOCS-MAN: every man page's footer carries the version and the date, the same on every run.
#[test]
fn every_man_page_carries_the_version_and_date_in_its_footer_docs_man() {
    let env = Env::empty();
    let version = format!("\"fileca {}\"", env!("CARGO_PKG_VERSION"));
    let mut pages = vec![vec![]];
    pages.extend(commands().into_iter().map(|c| vec![c.join("-")]));
    for page in &pages {
        let mut args = vec!["man"];
        args.extend(page.iter().map(String::as_str));
        let text = String::from_utf8(env.ok(&args).stdout).unwrap();
        let th = text
            .lines()
            .find(|l| l.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{page:?}: no .TH"));
        // .TH TITLE 1 YYYY-MM-DD "fileca VERSION" "fileca manual"
        let fields: Vec<&str> = th.splitn(4, ' ').collect();
        let date = fields[3].split(' ').next().unwrap();
        assert!(
            date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
            "{page:?}: {th}"
        );
        assert!(
            th.contains(&version) && th.ends_with("\"fileca manual\""),
            "{page:?}: {th}"
        );
        assert_eq!(
            env.ok(&args).stdout,
            text.as_bytes(),
            "{page:?}: not deterministic"
        );
    }
}

/// TEST-COMMAND, TEST-TOOLS: `scripts/test.sh` is the README's test command and CI's
/// (`.ci/run` runs it); no test skips itself for a missing tool or offers a switch to; every
/// package a test names when its tool is missing is one `scripts/test.sh` installs.
#[test]
fn one_test_command_installs_every_tool_a_test_requires_test_tools() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let script = read("scripts/test.sh");
    assert!(read(".ci/run").contains("scripts/test.sh"));
    assert!(read("README.md").contains("\n    scripts/test.sh\n"));
    let installed: Vec<&str> = script
        .lines()
        .filter_map(|l| l.split_once("need+=(").map(|(_, r)| r))
        .flat_map(|r| r.split(')').next().unwrap().split_whitespace())
        .collect();
    assert!(installed.contains(&"easy-rsa"), "{installed:?}");
    assert!(
        script.contains("cargo test --all-targets -- --include-ignored"),
        "scripts/test.sh runs the full tier"
    );
    let skip = ["SK", "IP"].concat();
    for entry in std::fs::read_dir(root.join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&format!("\"{skip} ")) && !text.contains(&format!("FILECA_{skip}")),
            "{}: a test skips itself",
            path.display()
        );
        // A test that needs a tool beyond openssl (or a privilege) is in the full tier, which
        // scripts/test.sh runs: plain `cargo test` needs nothing else (docs/testing.md).
        for test in text.split("#[test]\n").skip(1) {
            let body = test.split("\n}\n").next().unwrap();
            let name = body
                .split("fn ")
                .nth(1)
                .unwrap_or("")
                .split('(')
                .next()
                .unwrap();
            if name != "one_test_command_installs_every_tool_a_test_requires_test_tools"
                && [
                    concat!("require", "("),
                    "require_privilege(",
                    "on_terminal(",
                    "certtool(",
                    "\"certtool\"",
                ]
                .iter()
                .any(|tool| body.contains(tool))
            {
                assert!(
                    body.starts_with("#[ignore = \"full tier: "),
                    "{}: {name} needs a tool beyond openssl but is in the fast tier",
                    path.display()
                );
            }
        }
        for call in text.split("require(\"").skip(1) {
            let package = call.split('"').nth(2).unwrap();
            let package = package.split_whitespace().next().unwrap();
            assert!(
                installed.contains(&package),
                "{}: requires {package}, which scripts/test.sh does not install",
                path.display()
            );
        }
    }
}

/// EXPORT-INDEX: `ca export-index` writes an OpenSSL index.txt that `openssl ocsp -index`
/// answers from correctly for this CA's certificates: good, revoked (with its time and
/// reason), unknown for a serial the CA never issued; nothing from a tampered state.
#[test]
fn export_index_feeds_openssl_ocsp_good_revoked_and_unknown_export_index() {
    let env = Env::new();
    let (good_pem, good) = env.sign(&csr("p256-default.pem"), &[]);
    let (bad_pem, bad) = env.sign(&csr("ed25519-default.pem"), &[]);
    let (_, plain) = env.sign(&csr("p384-default.pem"), &[]);
    env.ok(&["revoke", &bad, "--reason", "keyCompromise"]);
    env.ok(&["revoke", &plain]);
    let out = env.ok(&["export-index"]);
    let index = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines.len(), 3, "{index}");
    let fields = |serial: &str| -> Vec<String> {
        let line = lines
            .iter()
            .find(|l| l.split('\t').nth(3) == Some(serial))
            .unwrap_or_else(|| panic!("{serial} not in {index}"));
        line.split('\t').map(str::to_string).collect()
    };
    let g = fields(&good);
    assert_eq!((g.len(), g[0].as_str(), g[2].as_str()), (6, "V", ""));
    assert!(g[1].ends_with('Z') && g[1].len() == 13, "{g:?}");
    assert_eq!(g[5], "/CN=p256.example.test");
    let b = fields(&bad);
    assert_eq!(b[0], "R");
    assert!(b[2].ends_with(",keyCompromise"), "{b:?}");
    let p = fields(&plain);
    assert!(
        p[0] == "R" && p[2].len() == 13 && !p[2].contains(','),
        "{p:?}"
    );
    // openssl ocsp answers from it, signed by the CA itself (a CA-signed response).
    let idx = write(&env, "index.txt", index.as_bytes());
    let ca = env.dir.join("ca.crt");
    let ca = ca.to_str().unwrap();
    let key = env.dir.join("ca.key");
    let key = key.to_str().unwrap();
    let other = Env::new();
    let (foreign_pem, _) = other.sign(&csr("p256-default.pem"), &[]);
    for (name, pem, want) in [
        ("good", &good_pem, "good"),
        ("bad", &bad_pem, "revoked"),
        // Another CA's certificate, asked of this issuer: a serial this CA never issued.
        ("foreign", &foreign_pem, "unknown"),
    ] {
        let cert = write(&env, &format!("{name}.crt"), pem.as_bytes());
        let cert = cert.to_str().unwrap();
        let (req, resp) = (
            env.path(&format!("{name}.req")),
            env.path(&format!("{name}.resp")),
        );
        let (ok, text) = openssl(&[
            "ocsp",
            "-issuer",
            ca,
            "-cert",
            cert,
            "-no_nonce",
            "-reqout",
            req.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        let (ok, text) = openssl(&[
            "ocsp",
            "-index",
            idx.to_str().unwrap(),
            "-CA",
            ca,
            "-rsigner",
            ca,
            "-rkey",
            key,
            "-reqin",
            req.to_str().unwrap(),
            "-respout",
            resp.to_str().unwrap(),
            "-ndays",
            "1",
        ]);
        assert!(ok, "{text}");
        let (_, text) = openssl(&[
            "ocsp",
            "-respin",
            resp.to_str().unwrap(),
            "-issuer",
            ca,
            "-cert",
            cert,
            "-CAfile",
            ca,
            "-no_nonce",
        ]);
        assert!(text.contains(&format!(": {want}")), "{name}: {text}");
        if want == "revoked" {
            assert!(text.contains("Reason: keyCompromise"), "{name}: {text}");
        }
    }
    // A tampered state exports nothing (VERIFIED-READ).
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    let edited = log.replace(
        "\"reason\":\"keyCompromise\"",
        "\"reason\":   \"superseded\"",
    );
    assert_eq!(edited.len(), log.len());
    std::fs::write(env.dir.join("index.log"), edited).unwrap();
    env.refused(&["export-index"], STATE);
}

/// BACKUP-TAR: `ca backup --tar FILE` writes the same files as one ustar archive (mode
/// 0600: it holds ca.key; ca.key 0600 and certs/ 0755 inside, as init makes them); restored with `mkdir -m 700
/// DIR && tar -xpf FILE -C DIR` it passes `ca check` and is byte-identical to the directory;
/// `-` writes it to a pipe; an existing FILE is refused with nothing changed.
#[test]
fn backup_tar_restores_to_a_directory_check_accepts_backup_tar() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &a, "--reason", "superseded", "--crl"]);
    let archive = env.path("pki.tar");
    env.ok(&["backup", "--tar", s(&archive)]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&archive), 0o600);
    let restored = env.path("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = std::process::Command::new("tar")
        .args(["-xpf", s(&archive), "-C", s(&restored)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&restored.join("ca.key")), 0o600);
    assert_eq!(mode(&restored.join("certs")), 0o755);
    let strip = |snap: Snapshot| {
        snap.into_iter()
            .filter(|(k, _)| !k.ends_with(".lock"))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(snapshot(&env.dir)), strip(snapshot(&restored)));
    assert_check_ok_at(&restored);
    // To a pipe: the same archive.
    let piped = env.ca().args(["backup", "--tar", "-"]).output().unwrap();
    assert!(piped.status.success(), "{piped:?}");
    let listed = |bytes: &[u8]| {
        let path = env.path("listed.tar");
        std::fs::write(&path, bytes).unwrap();
        let out = std::process::Command::new("tar")
            .args(["-tf", s(&path)])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        listed(&piped.stdout),
        listed(&std::fs::read(&archive).unwrap())
    );
    // An existing FILE: refused, nothing changed anywhere.
    let err = env.refused(&["backup", "--tar", s(&archive)], REFUSED);
    assert!(err.contains("already exists"), "{err}");
}

/// BACKUP: `ca backup DEST` copies the state directory under the lock — byte-identical
/// files (ca.key as it is on disk), `ca check` passes on the copy — also while other
/// commands commit; refuses an existing DEST and a state that does not chain to its signed
/// checkpoint, creating nothing.
#[test]
fn backup_is_a_consistent_copy_that_check_accepts_backup() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &a, "--reason", "superseded", "--crl"]);
    let copy = env.path("copy");
    env.ok(&["backup", s(&copy)]);
    let strip = |snap: Snapshot| {
        snap.into_iter()
            .filter(|(k, _)| !k.ends_with(".lock"))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(snapshot(&env.dir)), strip(snapshot(&copy)));
    let out = ca_at(&copy).arg("check").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // An existing DEST: refused, nothing changed anywhere.
    let err = env.refused(&["backup", s(&copy)], REFUSED);
    assert!(err.contains("already exists"), "{err}");
    // Copies taken while signs commit are each one whole generation.
    let signer = {
        let dir = env.dir.clone();
        let c = csr("ed25519-default.pem");
        std::thread::spawn(move || {
            for _ in 0..12 {
                let out = ca_at(&dir)
                    .env_remove("FILECA_NOW")
                    .args(["sign", s(&c)])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
            }
        })
    };
    for i in 0..4 {
        let dest = env.path(&format!("during{i}"));
        env.ok(&["backup", s(&dest)]);
        let out = ca_at(&dest).arg("check").output().unwrap();
        assert!(out.status.success(), "copy {i}: {out:?}");
    }
    signer.join().unwrap();
    // A state that does not chain to its checkpoint is not copied.
    let log = std::fs::read_to_string(env.dir.join("index.log")).unwrap();
    let edited = log.replace("\"reason\":\"superseded\"", "\"reason\":\"SUPERSEDED\"");
    assert_ne!(edited, log);
    std::fs::write(env.dir.join("index.log"), edited).unwrap();
    let bad = env.path("bad");
    env.refused(&["backup", s(&bad)], STATE);
    assert!(!bad.exists());
}

/// RENEW-COMPROMISED, CAS: `renew` judges `--expect-generation` and a keyCompromise
/// revocation before it reads the certificate's file (a renew of an unknown serial with a
/// stale generation is exit 7, as revoke's; a compromised certificate whose file is gone is
/// still the keyCompromise refusal), and a CSR of the compromised key itself is refused too.
#[test]
fn renew_refuses_a_compromised_key_and_a_stale_generation_first_renew_compromised_cas() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    env.ok(&["revoke", &a, "--reason", "keyCompromise"]);
    env.refused(
        &["renew", "ABCDEF0123", "--expect-generation", "1"],
        CONFLICT,
    );
    // The same key in a CSR: refused.
    let err = env.refused(
        &["renew", &a, "--csr", s(&csr("p256-default.pem"))],
        REFUSED,
    );
    assert!(err.contains("holds that same key"), "{err}");
    // Its file gone: still the keyCompromise refusal, not the missing file.
    std::fs::remove_file(env.dir.join(format!("certs/{a}.pem"))).unwrap();
    let err = env.refused(&["renew", &a], REFUSED);
    assert!(err.contains("keyCompromise"), "{err}");
}

/// DRY-RUN: `init --parent --dry-run` is refused (it would commit in the parent), creating
/// nothing and changing nothing in the parent; `renew-ca --csr-out FILE --dry-run` writes no
/// FILE, and `--expect-generation` applies to it.
#[test]
fn init_parent_and_renew_ca_csr_out_honour_dry_run_dry_run() {
    let env = Env::new();
    let child = env.path("child");
    let before = snapshot(env.tmp.path());
    let out = clean_ca(&child)
        .args([
            "init",
            "--parent",
            s(&env.dir),
            "--subject",
            "CN=Child CA",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dry-run"));
    assert_eq!(
        snapshot(env.tmp.path()),
        before,
        "a refused dry run changed something"
    );
    let out = env.path("renew.csr");
    env.ok(&["renew-ca", "--csr-out", s(&out), "--dry-run"]);
    assert!(!out.exists(), "a dry run wrote the request");
    env.refused(
        &[
            "renew-ca",
            "--csr-out",
            s(&out),
            "--expect-generation",
            "999",
        ],
        CONFLICT,
    );
}

/// INSTALL-ENCRYPTED: install-ca of a pending CA whose key is encrypted takes the passphrase
/// from --passphrase-file, and without one (and no terminal) says it is needed — never that
/// the key "became encrypted while waiting" (it always was).
#[test]
fn install_ca_of_an_encrypted_pending_ca_asks_for_its_passphrase_install_encrypted() {
    let env = Env::new();
    let pass = pass_file(&env, "pw", "correct horse battery");
    let pending = env.path("pending");
    let request = env.path("pending.csr");
    let out = clean_ca(&pending)
        .args([
            "init",
            "--subject",
            "CN=Pending CA",
            "--csr-out",
            s(&request),
            "--encrypt-key",
            "--passphrase-file",
            &pass,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cert = env.path("pending.crt");
    env.ok(&[
        "sign",
        s(&request),
        "--profile",
        "sub-ca",
        "--out",
        s(&cert),
    ]);
    let chain = env.dir.join("ca.crt");
    let install = |extra: &[&str]| {
        let mut cmd = clean_ca(&pending);
        cmd.args(["install-ca", s(&cert), "--chain", s(&chain)])
            .args(extra)
            .stdin(std::process::Stdio::null());
        cmd.output().unwrap()
    };
    let out = install(&[]);
    assert_eq!(out.status.code(), Some(REFUSED), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is needed") && !err.contains("became encrypted"),
        "{err}"
    );
    let out = install(&["--passphrase-file", &pass]);
    assert!(out.status.success(), "{out:?}");
    assert_check_ok_at(&pending);
}

/// DRY-RUN: a dry run refuses what the real run refuses — an output inside the state
/// directory, an untrusted (world-writable) state directory, an existing `--csr-out`, an
/// `--out-dir` below a file — with the same exit code, changing nothing.
#[test]
fn a_dry_run_refuses_what_the_real_run_refuses_dry_run() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let c = csr("p256-default.pem");
    let inside = env.dir.join("x.pem");
    for dry in [true, false] {
        let mut args = vec!["sign", s(&c), "--out", s(&inside)];
        if dry {
            args.push("--dry-run");
        }
        env.refused(&args, REFUSED);
    }
    let file = env.path("a-file");
    std::fs::write(&file, b"x").unwrap();
    let below = file.join("sub");
    for dry in [true, false] {
        let mut args = vec!["sign", s(&c), "--out-dir", s(&below)];
        if dry {
            args.push("--dry-run");
        }
        env.refused(&args, REFUSED);
    }
    let pending = env.path("new");
    for dry in [true, false] {
        let mut cmd = clean_ca(&pending);
        cmd.args(["init", "--subject", "CN=New CA", "--csr-out", s(&file)]);
        if dry {
            cmd.arg("--dry-run");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(REFUSED), "dry {dry}: {out:?}");
        assert!(!pending.exists());
    }
    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    for dry in [true, false] {
        let mut args = vec!["sign", s(&c)];
        if dry {
            args.push("--dry-run");
        }
        env.refused(&args, STATE);
    }
}

/// INIT-PARENT: several `init --parent` of one new CA at once have the parent sign once —
/// the others find that certificate under the parent's lock instead of issuing a twin for
/// the same key (which would stay valid when the installed one is revoked).
#[test]
fn concurrent_init_parent_has_the_parent_sign_once_init_parent() {
    let env = Env::new();
    let child = env.path("child");
    // The pending CA exists (as a run interrupted after step 1 leaves it): every run resumes.
    let request = env.path("child.csr");
    let out = clean_ca(&child)
        .args(["init", "--subject", "CN=Child CA", "--csr-out", s(&request)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // All four wait on the parent's lock, then go at once.
    let lock = env.dir.join(".lock");
    let held = LockHolder::hold(&lock);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            clean_ca(&child)
                .args(["init", "--parent", s(&env.dir), "--subject", "CN=Child CA"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in &runs {
        wait_until_open(run.id(), &lock);
    }
    held.release();
    let ok = runs
        .into_iter()
        .map(|mut c| c.wait().unwrap().success())
        .filter(|s| *s)
        .count();
    assert!(ok >= 1, "no run created the CA");
    let list = env.ok(&["list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let sub_cas = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["profile"] == "sub-ca")
        .count();
    assert_eq!(sub_cas, 1, "the parent signed more than once: {rows}");
    assert_check_ok_at(&child);
}

/// EXIT-TABLE: an `--out` below a file is a refusal (3), as a parent that is a file is; a
/// certificate index.log records whose certs/SERIAL.pem is gone is a damaged state (5) for
/// `show --pem` and `renew`, not an I/O error.
#[test]
fn a_path_through_a_file_is_refused_and_a_missing_certificate_is_damage_exit_table() {
    let env = Env::new();
    let (_, a) = env.sign(&csr("p256-default.pem"), &[]);
    let file = env.path("a-file");
    std::fs::write(&file, b"x").unwrap();
    let below = file.join("x.pem");
    env.refused(
        &["sign", s(&csr("ed25519-default.pem")), "--out", s(&below)],
        REFUSED,
    );
    std::fs::remove_file(env.dir.join(format!("certs/{a}.pem"))).unwrap();
    for args in [vec!["show", &a, "--pem"], vec!["renew", &a]] {
        let err = env.refused(&args, STATE);
        assert!(err.contains("is missing"), "{args:?}: {err}");
    }
}
