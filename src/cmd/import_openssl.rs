//! `ca import-openssl`: adopt an `openssl ca` directory or an easy-rsa PKI into a new fileca
//! directory (SPEC.md `IMPORT-OPENSSL-*`). The source is only read. Every inconsistency found
//! is reported and the import refused, rather than guessed around.
//!
//! Where the certificates are: `openssl ca` keeps every one in `newcerts/SERIAL.pem`; easy-rsa
//! moves them as their life goes on (`certs_by_serial/SERIAL.pem` while current,
//! `revoked/certs_by_serial/SERIAL.crt` once revoked, `renewed/issued/NAME.crt` once renewed,
//! …), so each index.txt serial is looked for in all of those places ([`CertFiles`]), and
//! whatever file is found must hold that serial and be signed by the CA certificate.

mod problem;
mod revocation;
use problem::{CertProblem, ImportProblem};
use revocation::revocation_of;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::Context;
use crate::cli::ImportOpensslArgs;
use crate::error::{Error, Result};
use crate::hex;
use crate::input::InputError;
use crate::model::log::Entry;
use crate::pki::ca::{Ca, CaCert};
use crate::pki::keys;
use crate::pki::pem::MAX_PEM_BYTES;
use crate::pki::pem::{decode_one, pem_of};
use crate::pki::serial::Serial;
use crate::store::{self, FileWrite};

/// Runs `ca import-openssl`.
/// Long because the import is one sequence read top to bottom as SPEC.md IMPORT-OPENSSL lists
/// it — the CA key and certificate, every index line, the counters, then the new directory —
/// each step a call; splitting it would only pass its dozen locals around.
pub fn run(args: &ImportOpensslArgs, ctx: &Context) -> Result<()> {
    let layout = Layout::find(args.source.as_deref(), args.config.as_deref())?;
    let src = &layout.root;
    let cert_path = pick(
        src,
        args.ca_cert.as_deref().or(layout.certificate.as_deref()),
        &["cacert.pem", "ca.crt"],
    )?;
    let token_uri = args
        .ca_key
        .as_deref()
        .and_then(Path::to_str)
        .filter(|k| k.starts_with("pkcs11:"));
    let (ca, key_pem, key_passphrase) = match token_uri {
        Some(uri) => on_token(uri, args.module.as_deref(), ctx, &cert_path)?,
        None => in_file(args, ctx, &layout, &cert_path)?,
    };

    let index_path = layout.database.clone();
    let text = String::from_utf8(crate::input::read(&index_path, store::MAX_STATE_FILE)?)
        .map_err(|_| Error::input(&index_path, InputError::NotUtf8))?;
    let mut problems = Vec::new();
    let certs = CertFiles::new(src, layout.new_certs_dir.clone());
    let (entries, files) = import_lines(&certs, &text, &ca, &mut problems);
    let counter = |name: &str| {
        let path = match name {
            "serial" => &layout.serial,
            _ => &layout.crlnumber,
        };
        read_counter(path, name)
    };
    let max = entries.iter().map(|e| e.serial.clone()).max();
    let mut note = String::new();
    let serial = match counter("serial") {
        // easy-rsa draws every serial at random (EASYRSA_RAND_SN, its default) and writes
        // the draw to `serial` before `openssl ca` uses it: the file is not a counter, and
        // one below an earlier random serial is normal. One above the highest serial takes
        // its place.
        Ok(Some(s)) if certs.easy_rsa && max.as_ref().is_some_and(|m| s <= *m) => {
            note = " (easy-rsa's serial file holds its last random draw, not a counter: \
                     the counter starts above the highest serial)"
                .into();
            None
        }
        Ok(Some(s)) if max.as_ref().is_some_and(|m| s <= *m) => {
            problems.push(format!(
                "serial: the counter {s} is not above the highest issued serial"
            ));
            None
        }
        Ok(s) => s,
        Err(m) => {
            problems.push(m.to_string());
            None
        }
    };
    let crlnumber = counter("crlnumber").unwrap_or_else(|m| {
        problems.push(m.to_string());
        None
    });
    if !problems.is_empty() {
        return Err(crate::error::Refused::ImportInconsistent {
            src: src.to_path_buf(),
            problems,
        }
        .into());
    }
    // A counter the source never had: one above the highest serial issued.
    let serial = match (serial, max) {
        (Some(s), _) => s,
        (None, Some(m)) => m
            .next()
            .ok_or(crate::model::change::Refusal::SerialsExhausted)?,
        (None, None) => Serial::from_u64(1),
    };
    let crlnumber = crlnumber.unwrap_or_else(|| Serial::from_u64(1));

    let key_pem = match &key_passphrase {
        Some(pass) if !args.decrypt_key => {
            keys::encrypt_pem(&key_pem, pass, crate::rand::sealing()?)?
        }
        _ => key_pem,
    };
    let count = entries.len();
    let revoked = entries.iter().filter(|e| e.revoked.is_some()).count();
    let mut all = crate::model::change::new_ca_files(
        &ctx.env,
        (ca.key()?, key_pem),
        pem_of("CERTIFICATE", &ca.cert.der),
        (&serial, &crlnumber),
        // The record names every imported serial, so `ca check` can tie each index line to
        // the operation that wrote it (CHECK-HISTORY).
        (
            "import-openssl",
            entries.iter().map(|e| e.serial.to_string()).collect(),
        ),
        entries,
        (None, None),
    )?;
    all.extend(files);
    store::create(&ctx.dir, &all)?;
    super::report_created(
        ctx,
        &format!(
            "imported {count} certificate(s) ({revoked} revoked) from {} into {}; next serial {serial}{note}",
            crate::term::escape(&src.display().to_string()),
            crate::term::escape(&ctx.dir.display().to_string())
        ),
    )
}

/// The CA key in a file and its certificate: (the CA, ca.key's PEM, the key's passphrase
/// when it is encrypted). The key and its passphrase are read before the certificate.
fn in_file(
    args: &ImportOpensslArgs,
    ctx: &Context,
    layout: &Layout,
    cert_path: &Path,
) -> Result<(Ca, String, Option<zeroize::Zeroizing<String>>)> {
    let key_path = pick(
        &layout.root,
        args.ca_key.as_deref().or(layout.private_key.as_deref()),
        &["private/cakey.pem", "private/ca.key"],
    )?;
    let key_bytes = zeroize::Zeroizing::new(read(&key_path)?);
    // An encrypted CA key (SPEC.md IMPORT-ENCRYPTED): its passphrase from the usual sources,
    // before anything is computed; ca.key stays encrypted with it unless --decrypt-key.
    let key_passphrase = super::new_ca::import_passphrase(ctx, &key_path, &key_bytes)?;
    let (_, key_pem) =
        keys::import_private_key(&key_bytes, key_passphrase.as_deref().map(String::as_str))
            .map_err(|e| Error::input(&key_path, e.into()))?;
    let cert_bytes = read(cert_path)?;
    let cert = CaCert::parse(&cert_bytes).map_err(|e| Error::input(cert_path, e.into()))?;
    let key = keys::key_pair(&key_pem).map_err(|e| Error::input(&key_path, e.into()))?;
    let ca = Ca::with_key(cert, crate::pki::ca::CaKey::File(key))
        .map_err(|_| Error::input(&key_path, InputError::KeyMismatch(cert_path.to_path_buf())))?;
    Ok((ca, key_pem, key_passphrase))
}

/// The CA key on a PKCS#11 token (SPEC.md TOKEN-IMPORT): adopted as `init --key` adopts one
/// (the PIN read first), and the certificate's public key must be the token key's; ca.key
/// becomes the reference.
fn on_token(
    uri: &str,
    module: Option<&Path>,
    ctx: &Context,
    cert_path: &Path,
) -> Result<(Ca, String, Option<zeroize::Zeroizing<String>>)> {
    let parsed = crate::token::Pkcs11Uri::parse(uri)
        .map_err(|e| Error::Usage(format!("--ca-key {}", crate::term::escape(&e.to_string()))))?;
    let module = crate::token::module_path(module)?;
    let cert_bytes = read(cert_path)?;
    let cert = CaCert::parse(&cert_bytes).map_err(|e| Error::input(cert_path, e.into()))?;
    let pin = ctx
        .pass
        .pin_now(parsed.token.as_deref().unwrap_or_default())?;
    let (key, reference) = crate::token::adopt(&parsed, &module, pin)?;
    let ca = Ca::with_key(cert, crate::pki::ca::CaKey::Remote(Box::new(key))).map_err(|_| {
        Error::input(
            Path::new(&parsed.to_string()),
            InputError::KeyMismatch(cert_path.to_path_buf()),
        )
    })?;
    let text = String::from_utf8(reference.to_bytes())
        .map_err(|_| Error::bug("a key reference that is not UTF-8"))?;
    Ok((ca, text, None))
}

/// Every line of index.txt: the entries and their certificate files; what is wrong with a
/// line goes to `problems`, numbered.
fn import_lines(
    certs: &CertFiles,
    text: &str,
    ca: &Ca,
    problems: &mut Vec<String>,
) -> (Vec<Entry>, Vec<FileWrite>) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut files = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("index.txt line {}", i + 1);
        match import_line(certs, line, ca) {
            Ok((entry, pem)) => {
                if entries.iter().any(|e| e.serial == entry.serial) {
                    problems.push(format!("{at}: serial {} appears twice", entry.serial));
                    continue;
                }
                files.push(FileWrite::public(
                    crate::model::layout::cert_file(&entry.serial),
                    pem,
                ));
                entries.push(entry);
            }
            Err(m) => problems.push(format!("{at}: {m}")),
        }
    }
    (entries, files)
}

/// A counter file of the source (`serial`, `crlnumber`): None when it does not exist. Only
/// "does not exist" means absent: a counter that cannot be read (a dangling symlink, a
/// directory, no permission) is a problem, never a reason to start at 01.
fn read_counter(path: &Path, name: &str) -> std::result::Result<Option<Serial>, ImportProblem> {
    if let Err(e) = path.symlink_metadata()
        && e.kind() == std::io::ErrorKind::NotFound
    {
        return Ok(None);
    }
    match crate::input::read(path, MAX_PEM_BYTES as u64)
        .and_then(|b| String::from_utf8(b).map_err(|_| Error::input(path, InputError::NotUtf8)))
    {
        Ok(t) => {
            Serial::parse_user(t.trim())
                .map(Some)
                .ok_or_else(|| ImportProblem::CounterNotHex {
                    name: name.to_string(),
                    text: t.trim().to_string(),
                })
        }
        Err(e) => Err(ImportProblem::Unreadable(e.to_string())),
    }
}

/// One index.txt line: `STATUS \t EXPIRY \t REVOCATION[,REASON] \t SERIAL \t FILE \t SUBJECT`.
fn import_line(
    certs: &CertFiles,
    line: &str,
    ca: &Ca,
) -> std::result::Result<(Entry, String), ImportProblem> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 6 {
        return Err(ImportProblem::Fields(f.len()));
    }
    let serial =
        Serial::parse_user(f[3]).ok_or_else(|| ImportProblem::SerialNotHex(f[3].to_string()))?;
    let der = certs.find(&serial, ca)?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| ImportProblem::Unreadable(e.to_string()))?;
    let revoked = match f[0] {
        "V" | "E" => None,
        "R" => Some(revocation_of(f[2])?),
        other => return Err(ImportProblem::Status(other.to_string())),
    };
    let (sans, profile) = sans_and_profile(&cert);
    let subject = crate::pki::names::Subject(
        cert.subject()
            .iter_attributes()
            .map(|a| {
                let arcs: Vec<u64> = a
                    .attr_type()
                    .iter()
                    .map(|i| i.collect())
                    .unwrap_or_default();
                let key = crate::pki::names::attr_name(&arcs)
                    .map_or_else(|| a.attr_type().to_id_string(), str::to_string);
                (key, a.as_str().unwrap_or_default().to_string())
            })
            .collect(),
    );
    // Legacy names are kept as they are (escaped on display), except those that could forge
    // a terminal line: control, bidi and zero-width characters (SPEC.md HOSTILE-TERMINAL).
    let subject_text = subject.stored();
    for name in std::iter::once(&subject_text).chain(&sans) {
        if name.chars().any(crate::term::is_unsafe) {
            return Err(ImportProblem::UnsafeName(name.clone()));
        }
    }
    let entry = Entry {
        serial: serial.clone(),
        subject: subject_text,
        sans,
        profile: profile.to_string(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        revoked,
        released: None,
        sha256: hex::sha256(&der),
        renewed_from: None,
    };
    Ok((entry, pem_of("CERTIFICATE", &der)))
}

/// A legacy certificate's SANs as index.log writes them, and the profile its EKUs say.
fn sans_and_profile(cert: &X509Certificate<'_>) -> (Vec<String>, &'static str) {
    let mut sans = Vec::new();
    let mut profile = "imported";
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(s) => {
                for gn in &s.general_names {
                    match gn {
                        GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                        GeneralName::RFC822Name(e) => sans.push(format!("email:{e}")),
                        GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                        GeneralName::IPAddress(b) if b.len() == 4 => sans.push(format!(
                            "IP:{}",
                            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())
                        )),
                        GeneralName::IPAddress(b) if b.len() == 16 => sans.push(format!(
                            "IP:{}",
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())
                        )),
                        _ => {}
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                profile = match (e.server_auth, e.client_auth) {
                    (true, true) => "server-client",
                    (true, false) => "server",
                    (false, true) => "client",
                    _ => "imported",
                };
            }
            _ => {}
        }
    }
    (sans, profile)
}

/// The given path, or the first of `defaults` under `src` that exists.
fn pick(src: &Path, given: Option<&Path>, defaults: &[&str]) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    defaults
        .iter()
        .map(|d| src.join(d))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            crate::error::Refused::ImportMissing {
                src: src.to_path_buf(),
                tried: defaults.iter().map(|d| d.to_string()).collect(),
            }
            .into()
        })
}

/// Reads the CA key or certificate: at most 1 MiB, never blocking (see [`crate::input`]).
fn read(path: &Path) -> Result<Vec<u8>> {
    crate::input::read(path, MAX_PEM_BYTES as u64)
}

/// Where the files of the source are (SPEC.md IMPORT-OPENSSL-CNF): under the source
/// directory as `openssl ca`'s demoCA and easy-rsa lay them out, or where the CA section of an
/// openssl.cnf (`--config`, or the source's own openssl.cnf) names them.
struct Layout {
    /// The source directory (easy-rsa's subdirectories are looked for under it).
    root: PathBuf,
    certificate: Option<PathBuf>,
    private_key: Option<PathBuf>,
    database: PathBuf,
    serial: PathBuf,
    crlnumber: PathBuf,
    new_certs_dir: Option<PathBuf>,
}

impl Layout {
    fn find(source: Option<&Path>, config: Option<&Path>) -> Result<Layout> {
        let config = match (config, source) {
            (Some(c), _) => Some(c.to_path_buf()),
            (None, Some(s)) if s.join("openssl.cnf").is_file() => Some(s.join("openssl.cnf")),
            _ => None,
        };
        let Some(cnf) = config else {
            let root = source
                .ok_or_else(|| Error::Usage("import-openssl needs DIR or --config FILE".into()))?
                .to_path_buf();
            return Ok(Layout {
                database: root.join("index.txt"),
                serial: root.join("serial"),
                crlnumber: root.join("crlnumber"),
                root,
                certificate: None,
                private_key: None,
                new_certs_dir: None,
            });
        };
        let text = String::from_utf8(crate::input::read(&cnf, MAX_PEM_BYTES as u64)?)
            .map_err(|_| Error::input(&cnf, InputError::NotUtf8))?;
        let cfg = crate::cnf::Config::parse(&text, &|v| std::env::var(v).ok())
            .map_err(|e| Error::input(&cnf, e.into()))?;
        let missing = |what: &str| Error::input(&cnf, InputError::ConfigMissing(what.into()));
        let section = cfg
            .get("ca", "default_ca")
            .ok_or_else(|| missing("[ ca ] default_ca"))?;
        let value = |name: &str| cfg.get(section, name).filter(|v| !v.is_empty());
        let database =
            value("database").ok_or_else(|| missing(&format!("[ {section} ] database")))?;
        // Relative paths are relative to the directory `openssl ca` ran in, as OpenSSL reads
        // them; when the database is not there, to the configuration file's directory.
        let cnf_dir = crate::store::output::parent_of(&cnf);
        let base = [PathBuf::new(), cnf_dir]
            .into_iter()
            .find(|b| b.join(database).is_file())
            .unwrap_or_default();
        let path = |v: &str| base.join(v);
        let serial = value("serial").ok_or_else(|| missing(&format!("[ {section} ] serial")))?;
        let root = match (source, value("dir")) {
            (Some(s), _) => s.to_path_buf(),
            (None, Some(d)) => path(d),
            (None, None) => crate::store::output::parent_of(&path(database)),
        };
        Ok(Layout {
            certificate: value("certificate").map(path),
            private_key: value("private_key").map(path),
            database: path(database),
            serial: path(serial),
            crlnumber: value("crlnumber").map_or_else(|| root.join("crlnumber"), path),
            new_certs_dir: value("new_certs_dir").map(path),
            root,
        })
    }
}

/// Directories holding certificates in files named by their serial: `(directory, extension)`.
const BY_SERIAL: [(&str, &str); 4] = [
    // `openssl ca`: new_certs_dir of the demoCA layout.
    ("newcerts", "pem"),
    // easy-rsa: current certificates.
    ("certs_by_serial", "pem"),
    // easy-rsa 3: `revoke` and `revoke-renewed` move the certificate here.
    ("revoked/certs_by_serial", "crt"),
    // easy-rsa 3.0.6–3.0.8: `renew` moved the old certificate here.
    ("renewed/certs_by_serial", "crt"),
];

/// easy-rsa directories holding certificates in files named by their file name base
/// (`NAME.crt`): `issued/` (current), `renewed/issued/` (`renew` and `rebuild` since 3.0.9
/// move the old certificate here, and remove its certs_by_serial/ copy), `expired/`
/// (`expire`, 3.2). Their serials are read from the files.
const BY_NAME: [&str; 3] = ["issued", "renewed/issued", "expired"];

/// Certificates found by reading files, by serial: (DER, file) each.
type BySerial = BTreeMap<Serial, Vec<(Vec<u8>, PathBuf)>>;

/// Finds the certificate of an index.txt serial in the source.
struct CertFiles {
    root: PathBuf,
    /// new_certs_dir of an openssl.cnf, looked at first (`SERIAL.pem`).
    new_certs_dir: Option<PathBuf>,
    /// An easy-rsa PKI (it has `certs_by_serial/`), rather than an `openssl ca` directory.
    easy_rsa: bool,
    /// The certificates of [`BY_NAME`] by serial (DER, file), read when first needed.
    named: std::sync::OnceLock<BySerial>,
}

impl CertFiles {
    fn new(root: &Path, new_certs_dir: Option<PathBuf>) -> CertFiles {
        CertFiles {
            root: root.to_path_buf(),
            new_certs_dir,
            easy_rsa: root.join("certs_by_serial").is_dir(),
            named: std::sync::OnceLock::new(),
        }
    }

    /// The DER of the certificate with `serial`, issued by `ca`. A file named by the serial
    /// decides (the first of [`BY_SERIAL`] that exists, checked strictly: another serial or
    /// another issuer is a problem); otherwise the one certificate of [`BY_NAME`] with that
    /// serial signed by the CA.
    fn find(&self, serial: &Serial, ca: &Ca) -> std::result::Result<Vec<u8>, ImportProblem> {
        let configured = self
            .new_certs_dir
            .iter()
            .map(|dir| dir.join(format!("{serial}.pem")));
        let by_serial = configured
            .chain(
                BY_SERIAL
                    .iter()
                    .map(|(dir, ext)| self.root.join(dir).join(format!("{serial}.{ext}"))),
            )
            .find(|p| p.is_file());
        if let Some(path) = by_serial {
            let der = read_cert(&path)?;
            check_cert(&der, serial, ca).map_err(|why| ImportProblem::File { path, why })?;
            return Ok(der);
        }
        let named = self.named.get_or_init(|| self.read_named());
        let found = named.get(serial).map(Vec::as_slice).unwrap_or_default();
        let signed: Vec<&(Vec<u8>, PathBuf)> = found
            .iter()
            .filter(|(der, _)| check_cert(der, serial, ca).is_ok())
            .collect();
        match signed.as_slice() {
            [(der, first), rest @ ..] => match rest.iter().find(|(other, _)| other != der) {
                None => Ok(der.clone()),
                Some((_, second)) => Err(ImportProblem::TwoFiles {
                    first: first.clone(),
                    second: second.clone(),
                    serial: serial.clone(),
                }),
            },
            [] => match found.first() {
                Some((_, path)) => Err(ImportProblem::File {
                    path: path.clone(),
                    why: CertProblem::NotIssued,
                }),
                None => Err(ImportProblem::NoFile(serial.clone())),
            },
        }
    }

    /// Every `*.crt` regular file of [`BY_NAME`] that holds one certificate, by serial. Files
    /// that are not (a symbolic link, a PKCS#7 bundle, anything unreadable) are passed over:
    /// a serial found nowhere is reported by [`CertFiles::find`].
    fn read_named(&self) -> BySerial {
        let mut map = BySerial::new();
        for dir in BY_NAME {
            let Ok(entries) = crate::fsio::list_dir(&self.root.join(dir)) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .into_iter()
                .map(|n| self.root.join(dir).join(n))
                .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            paths.sort();
            for path in paths {
                let Ok(der) = read_cert(&path) else { continue };
                let Ok((_, cert)) = X509Certificate::from_der(&der) else {
                    continue;
                };
                let serial = Serial::from_magnitude(cert.raw_serial());
                map.entry(serial).or_default().push((der, path));
            }
        }
        map
    }
}

/// The DER of a certificate file (PEM, text before it allowed, as `openssl ca` writes it).
fn read_cert(path: &Path) -> std::result::Result<Vec<u8>, ImportProblem> {
    let bytes = crate::input::read(path, MAX_PEM_BYTES as u64)
        .map_err(|e| ImportProblem::Unreadable(e.to_string()))?;
    decode_one(&bytes, &["CERTIFICATE"], MAX_PEM_BYTES).map_err(|err| ImportProblem::Pem {
        path: path.to_path_buf(),
        err,
    })
}

/// Is `der` a certificate with `serial` issued by `ca`? The error completes "FILE …".
fn check_cert(der: &[u8], serial: &Serial, ca: &Ca) -> std::result::Result<(), CertProblem> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| CertProblem::Unreadable(e.to_string()))?;
    if Serial::from_magnitude(cert.raw_serial()) != *serial {
        return Err(CertProblem::OtherSerial);
    }
    if !ca.cert.issued(&cert) {
        return Err(CertProblem::NotIssued);
    }
    Ok(())
}
