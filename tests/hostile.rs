//! Hostile input and a hostile environment (SPEC.md HOSTILE-*): the bad-input corpus,
//! corrupted and replaced state files, symlinks, permissions and read-only directories.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;

fn bad(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/bad")
        .join(name)
}

#[test]
fn every_file_of_the_bad_corpus_is_refused_cleanly_hostile_corpus() {
    let env = Env::new();
    let cases = [
        ("truncated.pem", "truncated"),
        ("wrong-label.pem", "labelled \"CERTIFICATE\""),
        ("two-blocks.pem", "2 PEM blocks"),
        ("der-garbage.der", "not a valid PKCS#10"),
        ("bad-base64.pem", "malformed PEM"),
        ("empty.pem", "neither PEM nor DER"),
        ("nul-bytes.txt", "neither PEM nor DER"),
        ("nul-in-cn.pem", "control characters"),
        ("control-chars-in-cn.pem", "control characters"),
        ("nul-in-dns-san.pem", "DNS name"),
        ("malformed-a-label.pem", "hyphen"),
        ("ip-san-5-octets.pem", "5 bytes"),
        ("duplicate-san-extension.pem", "requested twice"),
        ("empty-subject-no-san.pem", "subject is empty"),
        ("junk-after-end.pem", "after the -----END line"),
        ("version-4.pem", "version is 4 (v5)"),
        ("ber-length-outer.pem", "not DER"),
        ("ber-length-signed.pem", "not DER"),
        ("ed25519-key-parameters.pem", "parameters"),
        ("too-many-sans.pem", "101 SANs"),
    ];
    for (file, needle) in cases {
        let err = env.refused(&["sign", bad(file).to_str().unwrap()], REFUSED);
        assert!(err.contains(needle), "{file}: {err}");
        assert!(
            err.contains(file),
            "{file}: the error names the file: {err}"
        );
        assert!(
            !err.contains('\0') && !err.contains('\x1b') && !err.contains('\x07'),
            "{file}: raw control characters echoed"
        );
    }
    let listed = std::fs::read_to_string(bad("README.md")).unwrap();
    for entry in std::fs::read_dir(bad("")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name != "README.md" {
            assert!(
                listed.contains(&format!("| {name} |")),
                "{name} has no README entry"
            );
        }
    }
}

#[test]
fn at_most_100_sans_from_a_csr_or_san_options_hostile_san_limit() {
    let env = Env::new();
    let sans = |n: usize| -> Vec<String> {
        (0..n)
            .flat_map(|i| ["--san".to_string(), format!("DNS:n{i}.example.test")])
            .collect()
    };
    let p256 = csr("p256-default.pem");
    let mut args = vec!["sign", p256.to_str().unwrap()];
    let too_many = sans(101);
    args.extend(too_many.iter().map(String::as_str));
    let err = env.refused(&args, REFUSED);
    assert!(err.contains("101") && err.contains("at most 100"), "{err}");
    // The limit itself is accepted, and each SAN is issued.
    let mut args = vec!["sign", p256.to_str().unwrap()];
    let hundred = sans(100);
    args.extend(hundred.iter().map(String::as_str));
    let pem = String::from_utf8(env.ok(&args).stdout).unwrap();
    assert_eq!(x509_text(&env, &pem).matches("DNS:n").count(), 100);
}

#[test]
fn a_csr_asking_for_ca_powers_gets_a_leaf_hostile_ca_request() {
    let env = Env::new();
    let out = env.ok(&["sign", bad("requests-ca-true.pem").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("CA:TRUE"));
    let text = x509_text(&env, &String::from_utf8_lossy(&out.stdout));
    assert!(
        text.contains("CA:FALSE") && !text.contains("Certificate Sign"),
        "{text}"
    );
}

#[test]
fn state_files_replaced_by_fifos_or_directories_are_refused_hostile_state_type() {
    for (file, make) in [
        ("serial", "fifo"),
        ("index.json", "dir"),
        ("index.log", "fifo"),
        ("crlnumber", "fifo"),
    ] {
        let env = Env::new();
        let path = env.dir.join(file);
        std::fs::remove_file(&path).unwrap();
        if make == "fifo" {
            assert!(
                Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .unwrap()
                    .success()
            );
        } else {
            std::fs::create_dir(&path).unwrap();
        }
        let err = env.refused(&["sign", csr("p256-default.pem").to_str().unwrap()], STATE);
        assert!(
            err.contains(file) && err.contains("not a regular file"),
            "{file}: {err}"
        );
        let out = env.run(&["check"]);
        assert_eq!(out.status.code(), Some(1), "{file}");
    }
}

#[test]
fn a_symlinked_certs_directory_is_refused_hostile_symlink() {
    let env = Env::new();
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir(env.dir.join("certs")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, env.dir.join("certs")).unwrap();
    let err = env.refused(&["sign", csr("p256-default.pem").to_str().unwrap()], STATE);
    assert!(err.contains("certs"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn a_readable_ca_key_is_refused_unless_overridden_hostile_key_mode() {
    let env = Env::new();
    std::fs::set_permissions(
        env.dir.join("ca.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let err = env.refused(&["sign", csr("p256-default.pem").to_str().unwrap()], STATE);
    assert!(
        err.contains("chmod 600") && err.contains("--allow-insecure-key"),
        "{err}"
    );
    env.ok(&[
        "--allow-insecure-key",
        "sign",
        csr("p256-default.pem").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::metadata(env.dir.join("ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640,
        "never silently chmod-ed"
    );
}

#[test]
fn files_get_their_modes_whatever_the_umask_hostile_umask() {
    let env = Env::new();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 077 && exec '{}' --dir '{}' sign '{}' >/dev/null 2>&1",
            bin().display(),
            env.dir.display(),
            csr("p256-default.pem").display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    for e in std::fs::read_dir(env.dir.join("certs")).unwrap() {
        assert_eq!(
            e.unwrap().metadata().unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
    for f in ["index.json", "index.log", "serial", "audit.log"] {
        assert_eq!(
            std::fs::metadata(env.dir.join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644,
            "{f}"
        );
    }
}

#[test]
#[ignore = "full tier: unshare (user namespaces)"]
fn a_read_only_state_directory_serves_reads_and_refuses_writes_hostile_readonly() {
    require_privilege("unshare");
    let env = Env::new();
    env.sign(&csr("p256-default.pem"), &[]);
    let out_dir = env.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let script = r#"
dir=$1 ca=$2 csr=$3 out=$4
mount --bind "$dir" "$dir" && mount -o remount,bind,ro "$dir" || exit 90
"$ca" --dir "$dir" status > /dev/null 2> "$out/status.err"; echo $? > "$out/status.rc"
"$ca" --dir "$dir" list > /dev/null 2>&1; echo $? > "$out/list.rc"
"$ca" --dir "$dir" sign "$csr" > /dev/null 2> "$out/sign.err"; echo $? > "$out/sign.rc"
"#;
    let before = snapshot(&env.dir);
    let status = Command::new("unshare")
        .args(["-Urm", "sh", "-c", script, "sh"])
        .arg(&env.dir)
        .arg(bin())
        .arg(csr("p256-default.pem"))
        .arg(&out_dir)
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let read = |n: &str| std::fs::read_to_string(out_dir.join(n)).unwrap_or_default();
    assert_eq!(read("status.rc").trim(), "0", "{}", read("status.err"));
    assert_eq!(read("list.rc").trim(), "0");
    assert_eq!(
        read("sign.rc").trim(),
        IO.to_string(),
        "{}",
        read("sign.err")
    );
    assert!(
        read("sign.err").contains("Read-only file system"),
        "{}",
        read("sign.err")
    );
    assert_unchanged(&before, &snapshot(&env.dir));
}
