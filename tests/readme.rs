//! DOCS-README: the README's walk-through runs verbatim. Every fenced `sh` block of README.md
//! runs, in order, as one bash script in an empty directory, with the `ca` this test run built
//! first on PATH, `$HOME` in the temporary directory, and `/etc/…` and `/usr/local/…` moved
//! under it (the blocks install completions and man pages there, and create those
//! directories themselves: the test does not).

use std::path::Path;

use crate::harness::*;

/// The fenced `sh` blocks of a Markdown text, with the line each starts on.
fn sh_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some((n + 1, String::new())),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an sh block is not closed");
    blocks
}

#[test]
fn the_readme_walk_through_runs_verbatim_docs_readme() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 10, "{} sh blocks", blocks.len());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (work, home, bin_dir) = (root.join("work"), root.join("home"), root.join("bin"));
    // Only the work directories: /etc/… and /usr/local/… are made by the README's own
    // `mkdir -p`, as on a machine that lacks them.
    for d in [&work, &home, &bin_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    assert!(!root.join("usr").exists() && !root.join("etc").exists());
    std::os::unix::fs::symlink(bin(), bin_dir.join("ca")).unwrap();
    // The serve walk's port, 18080 in the README, is one free now: another server on the
    // machine (an engineer's own `ca serve` from the README) made the walk fail on a 404.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut script = String::from("set -euo pipefail\n");
    for (line, block) in &blocks {
        let block = block
            .replace("127.0.0.1:18080", &format!("127.0.0.1:{port}"))
            .replace(" /etc/", &format!(" {}/etc/", root.display()))
            .replace(" /usr/local/", &format!(" {}/usr/local/", root.display()))
            .replace("\"/usr/local/", &format!("\"{}/usr/local/", root.display()));
        script.push_str(&format!("echo '== README.md line {line}' >&2\n{block}"));
    }
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .env("PATH", path)
        .env("HOME", &home)
        .env_remove("CA_DIR")
        .env_remove("CA_PASSPHRASE_FILE")
        .env_remove("FILECA_NOW")
        .env_remove("FILECA_TEST_SEED")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README walk-through failed ({:?}); stderr:\n{}\nstdout (end):\n{}",
        out.status,
        stderr,
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // What the blocks promise is there.
    for block in blocks.iter().map(|(l, _)| format!("== README.md line {l}")) {
        assert!(stderr.contains(&block), "{block} did not run");
    }
    for file in [
        "pki/ca.crt",
        "lab/ca.key",
        "web.crt",
        "www/lab.crl",
        "bundle.pem",
    ] {
        assert!(work.join(file).is_file(), "{file}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("client.crt is revoked"), "{stdout}");
    // The renewal walk-through leaves a valid web.crt (it once revoked the new one).
    let verdict = clean_ca(&work.join("pki"))
        .arg("verify")
        .arg(work.join("web.crt"))
        .output()
        .unwrap();
    assert_eq!(verdict.status.code(), Some(0), "{verdict:?}");
    // ~/.ca-pass still opens ./lab's key after the walk changed its passphrase.
    let crl = clean_ca(&work.join("lab"))
        .arg("--passphrase-file")
        .arg(home.join(".ca-pass"))
        .arg("crl")
        .output()
        .unwrap();
    assert!(crl.status.success(), "{crl:?}");
    let issued = std::fs::read_dir(work.join("issued")).unwrap().count();
    assert!(issued >= 2, "batch and issue outputs: {issued}");
    let pages = std::fs::read_dir(root.join("usr/local/share/man/man1"))
        .unwrap()
        .count();
    assert!(pages >= 16, "{pages} man pages");
    assert!(
        std::fs::metadata(root.join("etc/bash_completion.d/ca"))
            .unwrap()
            .len()
            > 1000
    );
    for dir in ["pki", "lab"] {
        let check = ca_at(&work.join(dir))
            .env_remove("FILECA_NOW")
            .env_remove("FILECA_TEST_SEED")
            .arg("check")
            .output()
            .unwrap();
        assert!(check.status.success(), "{dir}: {check:?}");
    }
}
