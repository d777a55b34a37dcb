//! Adopting existing CAs made by other tools (IMPORT-OPENSSL-EASYRSA, IMPORT-ENCRYPTED): the
//! fixtures are built by the tools themselves — easy-rsa (Debian's `easy-rsa` package, which
//! .ci/run installs) and the openssl command line — never imitated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::*;

/// Where Debian's easy-rsa package puts the script.
const EASYRSA: &str = "/usr/share/easy-rsa/easyrsa";

/// One line of an `openssl ca` / easy-rsa index.txt, read by the test itself.
#[derive(Debug, Clone)]
struct IndexLine {
    status: String,
    revocation: String,
    serial: String,
    subject: String,
}

fn read_index_txt(pki: &Path) -> Vec<IndexLine> {
    std::fs::read_to_string(pki.join("index.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "{l}");
            IndexLine {
                status: f[0].into(),
                revocation: f[2].into(),
                serial: f[3].into(),
                subject: f[5].into(),
            }
        })
        .collect()
}

/// Builds a real easy-rsa 3 PKI in `root/easyrsa/pki` with easy-rsa itself, in batch mode:
/// a CA ("Easy CA", encrypted with `ca_pass` when given, else `nopass`), then
/// - `web` (server), `alice` (client), `both` (serverClient): valid;
/// - `old`: revoked for keyCompromise, `held`: revoked with certificateHold (both moved by
///   easy-rsa to revoked/certs_by_serial/SERIAL.crt);
/// - `rotated`: renewed (`renew`: the old certificate moves to renewed/issued/rotated.crt and
///   leaves certs_by_serial/; both stay valid in index.txt);
/// - `retired`: renewed, then the old one revoked with `revoke-renewed … superseded`
///   (renewed/issued/ → revoked/certs_by_serial/);
/// - `gone`: expired — signed by easy-rsa with the PKI's openssl-easyrsa.cnf giving
///   `default_startdate`/`default_enddate` in 2020 (openssl ca honours them over easy-rsa's
///   `-days`; easy-rsa itself refuses to backdate), marked `E` by `easyrsa update-db`;
/// - `gen-crl` last.
///
/// Panics (never skips) when easy-rsa is missing: CI installs it.
fn easy_rsa_pki(root: &Path, ca_pass: Option<&str>) -> PathBuf {
    assert!(
        Path::new(EASYRSA).exists(),
        "{EASYRSA} is missing: install Debian's easy-rsa package (apt-get install easy-rsa; .ci/run does)"
    );
    let root = root.join("easyrsa");
    std::fs::create_dir(&root).unwrap();
    let pki = root.join("pki");
    let script = r#"
set -e
E=/usr/share/easy-rsa/easyrsa
run() { "$E" "$@" >>"$LOG" 2>&1 || { echo "easyrsa $* failed:"; tail -20 "$LOG"; exit 1; }; }
run init-pki
if [ -n "$CA_PASS" ]; then
  EASYRSA_REQ_CN="Easy CA" EASYRSA_PASSOUT="pass:$CA_PASS" run build-ca
else
  EASYRSA_REQ_CN="Easy CA" run build-ca nopass
fi
run build-server-full web nopass
run build-client-full alice nopass
run build-serverClient-full both nopass
run build-server-full old nopass
run revoke old keyCompromise
run build-client-full held nopass
run revoke held certificateHold
run build-server-full rotated nopass
EASYRSA_CERT_RENEW=100000 run renew rotated nopass
run build-server-full retired nopass
EASYRSA_CERT_RENEW=100000 run renew retired nopass
run revoke-renewed retired superseded
cnf="$EASYRSA_PKI/openssl-easyrsa.cnf"
cp "$cnf" "$cnf.keep"
sed -i 's/^default_days\t/default_startdate = 20200101000000Z\ndefault_enddate = 20210101000000Z\n&/' "$cnf"
grep -q '^default_enddate = 2021' "$cnf"
run build-client-full gone nopass
mv "$cnf.keep" "$cnf"
run update-db
run gen-crl
"#;
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", script])
        .env("EASYRSA_BATCH", "1")
        .env("EASYRSA_PKI", &pki)
        .env("LOG", root.join("easyrsa.log"))
        .env("CA_PASS", ca_pass.unwrap_or(""))
        .env_remove("EASYRSA")
        .env_remove("EASYRSA_VARS_FILE")
        .current_dir(&root);
    if let Some(p) = ca_pass {
        cmd.env("EASYRSA_PASSIN", format!("pass:{p}"));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "building the easy-rsa PKI failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    pki
}

/// The serial of a certificate file, as openssl prints it.
fn serial_of(cert: &Path) -> String {
    let (ok, out) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-serial"]);
    assert!(ok, "{out}");
    out.trim().trim_start_matches("serial=").to_string()
}

/// The serials a CRL lists, as openssl prints them.
fn crl_serials(crl: &Path) -> Vec<String> {
    let (ok, text) = openssl(&["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"]);
    assert!(ok, "{text}");
    let mut serials: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(str::to_string)
        .collect();
    serials.sort();
    serials
}

/// A hex number as a key that orders numerically: (significant digits, digits).
fn hex_key(hex: &str) -> (usize, String) {
    let digits = hex.trim_start_matches('0').to_ascii_uppercase();
    (digits.len(), digits)
}

/// `openssl verify` of a certificate file against the imported CA, with fileca's CRL.
fn verify_file(env: &Env, cert: &Path) -> (bool, String) {
    verify(env, &std::fs::read_to_string(cert).unwrap(), true)
}

/// IMPORT-OPENSSL-EASYRSA: a PKI made by easy-rsa 3.1 itself — revoked certificates in
/// revoked/certs_by_serial/, a renewed one only in renewed/issued/, a certificateHold, an
/// expired entry, random serials with a `serial` file that is no counter — imports whole.
#[test]
fn import_openssl_adopts_a_real_easy_rsa_pki_import_openssl_easyrsa() {
    let env = Env::empty();
    let pki = easy_rsa_pki(env.tmp.path(), None);
    // The layout easy-rsa 3.1.0 produced, checked here so a change of easy-rsa shows.
    for p in [
        "ca.crt",
        "private/ca.key",
        "index.txt",
        "serial",
        "crl.pem",
        "issued/web.crt",
        "renewed/issued/rotated.crt",
    ] {
        assert!(pki.join(p).is_file(), "easy-rsa wrote no {p}");
    }
    assert!(
        !pki.join("crlnumber").exists(),
        "easy-rsa 3.1.0 keeps no crlnumber"
    );
    let index = read_index_txt(&pki);
    assert_eq!(index.len(), 10, "{index:?}");
    let revoked_dir: Vec<String> = std::fs::read_dir(pki.join("revoked/certs_by_serial"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(revoked_dir.len(), 3, "{revoked_dir:?}");
    let by_status = |s: &str| index.iter().filter(|l| l.status == s).count();
    assert_eq!((by_status("V"), by_status("R"), by_status("E")), (6, 3, 1));

    let before = snapshot(&pki);
    env.ok(&["import-openssl", pki.to_str().unwrap()]);
    assert_unchanged(&before, &snapshot(&pki));
    env.assert_check_ok();

    // Every index.txt line is imported with its serial, state and reason.
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"]).stdout).unwrap();
    let rows: BTreeMap<String, &serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["serial"].as_str().unwrap().to_string(), r))
        .collect();
    assert_eq!(rows.len(), index.len());
    for line in &index {
        let row = rows
            .get(&line.serial)
            .unwrap_or_else(|| panic!("{} not imported", line.serial));
        let (state, reason) = match line.status.as_str() {
            "V" => ("valid", serde_json::Value::Null),
            "E" => ("expired", serde_json::Value::Null),
            "R" => ("revoked", line.revocation.split(',').nth(1).unwrap().into()),
            s => panic!("status {s}"),
        };
        assert_eq!(row["state"], state, "{line:?}");
        assert_eq!(row["revocation_reason"], reason, "{line:?}");
        let cn = line.subject.trim_start_matches("/CN=");
        assert!(
            row["subject"].as_str().unwrap().contains(cn),
            "{line:?} {row}"
        );
    }
    let profile = |cn: &str| {
        let serial = serial_of(&pki.join(format!("issued/{cn}.crt")));
        rows[&serial]["profile"].as_str().unwrap().to_string()
    };
    assert_eq!(profile("web"), "server");
    assert_eq!(profile("alice"), "client");
    assert_eq!(profile("both"), "server-client");
    let reasons: Vec<&str> = rows
        .values()
        .filter_map(|r| r["revocation_reason"].as_str())
        .collect();
    for r in ["keyCompromise", "certificateHold", "superseded"] {
        assert!(reasons.contains(&r), "{reasons:?}");
    }

    // A CRL from fileca lists what easy-rsa's lists, and openssl rejects the revoked.
    env.ok(&["crl"]);
    assert_eq!(
        crl_serials(&env.dir.join("ca.crl")),
        crl_serials(&pki.join("crl.pem"))
    );
    for name in &revoked_dir {
        let (ok, out) = verify_file(&env, &pki.join("revoked/certs_by_serial").join(name));
        assert!(!ok && out.contains("revoked"), "{name}: {out}");
    }
    for cn in ["web", "alice", "both", "rotated"] {
        let (ok, out) = verify_file(&env, &pki.join(format!("issued/{cn}.crt")));
        assert!(ok, "{cn}: {out}");
    }
    let (ok, out) = verify_file(&env, &pki.join("renewed/issued/rotated.crt"));
    assert!(
        ok,
        "the renewed (not revoked) old certificate stays valid: {out}"
    );

    // The next serial is above every imported one (easy-rsa's serials are random).
    let (fresh, serial) = env.sign(&csr("p256-default.pem"), &[]);
    assert!(verify(&env, &fresh, true).0);
    let max = index.iter().map(|l| hex_key(&l.serial)).max().unwrap();
    assert!(
        hex_key(&serial) > max,
        "{serial} is not above every imported serial"
    );
    env.assert_check_ok();

    // easy-rsa writes each random draw to `serial` before signing with it, so the file is
    // below the highest serial whenever the last draw was not the highest — most of the
    // time. Pinned here (the draw above may have been either): still imported, the counter
    // above every serial. An `openssl ca` directory with such a counter stays refused
    // (import_openssl_reports_inconsistencies_and_imports_nothing_import_openssl_refuse).
    let low = Env::empty();
    let copy = low.path("copy");
    copy_dir(&pki, &copy);
    std::fs::write(copy.join("serial"), "01\n").unwrap();
    let out = low.ok(&["import-openssl", copy.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a counter"), "{err}");
    let next = low.status()["next_serial"].as_str().unwrap().to_string();
    assert!(hex_key(&next) > max, "{next}");
    low.assert_check_ok();

    // Whatever file is found must be the certificate index.txt names: a revoked/ file holding
    // another certificate, or a renewed one gone, refuses the import, naming each.
    let bad = Env::empty();
    let copy = bad.path("bad");
    copy_dir(&pki, &copy);
    let planted = copy.join("revoked/certs_by_serial").join(&revoked_dir[0]);
    std::fs::copy(copy.join("issued/web.crt"), &planted).unwrap();
    std::fs::remove_file(copy.join("renewed/issued/rotated.crt")).unwrap();
    let rotated_old = serial_of(&pki.join("renewed/issued/rotated.crt"));
    let before = snapshot(&copy);
    let out = bad.run(&["import-openssl", copy.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(REFUSED), "{err}");
    assert!(
        err.contains(&format!("{} holds another serial", planted.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("no certificate file for serial {rotated_old}")),
        "{err}"
    );
    assert!(!bad.dir.exists());
    assert_unchanged(&before, &snapshot(&copy));
}
