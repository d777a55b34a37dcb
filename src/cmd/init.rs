//! `ca init`: create a new CA directory, atomically (create-only).

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::Context;
use crate::Env;
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::input::InputError;
use crate::pki::ca::{Ca, CaCert};
use crate::pki::keys;
use crate::pki::names::Subject;
use crate::pki::serial::Serial;
use crate::store::{self, FileWrite};

/// Where the new CA's key and certificate come from.
#[allow(clippy::large_enum_variant)] // one value per `ca init`
pub enum Source {
    /// A new key and a self-signed certificate.
    Generate {
        subject: Subject,
        key_type: keys::KeyType,
        days: u32,
        path_len: Option<u8>,
        /// `--permit`/`--exclude`, closed (SPEC.md NC-INIT).
        constraints: crate::pki::constraints::Constraints,
    },
    /// A key on a PKCS#11 token (`--key pkcs11:…`), opened and logged in, and a self-signed
    /// certificate; ca.key holds `reference` (SPEC.md KEYREF).
    Token {
        key: crate::pki::ca::CaKey,
        reference: crate::token::KeyRef,
        subject: Subject,
        days: u32,
        path_len: Option<u8>,
        constraints: crate::pki::constraints::Constraints,
    },
    /// An existing key and certificate (`--import-key`, `--import-cert`), as read, with the
    /// key's passphrase when it is encrypted.
    Import {
        key_path: PathBuf,
        key_bytes: Zeroizing<Vec<u8>>,
        key_passphrase: Option<Zeroizing<String>>,
        cert_path: PathBuf,
        cert_bytes: Vec<u8>,
    },
}

/// What `ca init` is asked to create: every input read, the passphrase too.
pub struct Init {
    pub source: Source,
    /// The passphrase for the new ca.key: `--encrypt-key`'s, or an encrypted imported key's
    /// own (SPEC.md IMPORT-ENCRYPTED).
    pub passphrase: Option<Zeroizing<String>>,
    /// `--crl-url`, `--ca-issuers-url`, `--ocsp-url`: the new CA's policy is the built-in one
    /// with these `[urls]` (SPEC.md POLICY-INIT); none: no policy.toml.
    pub urls: crate::policy::Urls,
}

/// Validation phase: the complete content of every file of the new CA.
pub fn plan(request: &Init, env: &Env) -> Result<Vec<FileWrite>> {
    let mut signer_in_memory = None;
    let (mut key_pem, cert_pem, ca_serial) = match &request.source {
        Source::Token {
            key,
            reference,
            subject,
            days,
            path_len,
            constraints,
        } => {
            let (cert, serial) = self_signed(subject, key, (*days, *path_len, constraints), env)?;
            let text = String::from_utf8(reference.to_bytes())
                .map_err(|_| Error::bug("a key reference that is not UTF-8"))?;
            (text, cert, serial)
        }
        Source::Import {
            key_path,
            key_bytes,
            key_passphrase,
            cert_path,
            cert_bytes,
        } => import(
            (
                key_path,
                key_bytes,
                key_passphrase.as_deref().map(String::as_str),
            ),
            (cert_path, cert_bytes),
            env,
        )?,
        Source::Generate {
            subject,
            key_type,
            days,
            path_len,
            constraints,
        } => generate(subject, *key_type, (*days, *path_len, constraints), env)?,
    };
    let policy = match request.urls == crate::policy::Urls::default() {
        true => None,
        false => {
            let text = crate::policy::with_urls(&request.urls);
            let ca = CaCert::parse(cert_pem.as_bytes())
                .map_err(|e| Error::bug_in("re-reading the CA certificate", e))?;
            crate::policy::parse::parse(&text, Some(&ca)).map_err(|problems| {
                crate::error::Refused::Policy {
                    file: PathBuf::from("--crl-url/--ca-issuers-url/--ocsp-url"),
                    problems,
                }
            })?;
            Some(text)
        }
    };
    // The key signs the first checkpoint (SPEC.md CHECKPOINT-SIGN) before it is encrypted.
    let signer: &dyn rcgen::SigningKey = match &request.source {
        Source::Token { key, .. } => key,
        _ => signer_in_memory.insert(
            rcgen::KeyPair::from_pem(&key_pem)
                .map_err(|e| Error::bug_in("re-reading the CA key", e))?,
        ),
    };
    if let Some(pass) = &request.passphrase {
        let enc = keys::encrypt_pem(&key_pem, pass, env.rng.sealing()?)?;
        zeroize::Zeroize::zeroize(&mut key_pem);
        key_pem = enc;
    }
    // The leaf counter starts at a random block of its own (SPEC.md SERIAL-START).
    let first = Serial::counter_start(env.rng.bytes()?);
    let operation = match request.source {
        Source::Import { .. } => "import",
        Source::Generate { .. } | Source::Token { .. } => "init",
    };
    crate::model::change::new_ca_files(
        env,
        (signer, key_pem),
        cert_pem,
        (&first, &Serial::from_u64(1)),
        (operation, vec![ca_serial]),
        Vec::new(),
        (policy.as_deref(), None),
    )
}

/// Adopts an existing CA: the key (any supported PEM form, decrypted with `passphrase` if it
/// is encrypted; returned as unencrypted PKCS#8) must belong to the certificate, which must be
/// a CA certificate valid now. Returns (key PEM, cert PEM, the CA certificate's serial).
fn import(
    (key_path, key_bytes, passphrase): (&Path, &[u8], Option<&str>),
    (cert_path, cert_bytes): (&Path, &[u8]),
    env: &Env,
) -> Result<(String, String, String)> {
    let (_, key_pem) = keys::import_private_key(key_bytes, passphrase)
        .map_err(|e| Error::input(key_path, e.into()))?;
    let cert = CaCert::parse(cert_bytes).map_err(|e| Error::input(cert_path, e.into()))?;
    let key = keys::key_pair(&key_pem).map_err(|e| Error::input(key_path, e.into()))?;
    let ca = Ca::with_key(cert, crate::pki::ca::CaKey::File(key))
        .map_err(|_| Error::input(key_path, InputError::KeyMismatch(cert_path.to_path_buf())))?;
    crate::model::snapshot::check_valid(&ca.cert, env.now, cert_path)?;
    let (_, x509) = x509_parser::parse_x509_certificate(&ca.cert.der).map_err(|e| {
        Error::input(
            cert_path,
            crate::pki::pem::PemError::NotCertificate(e).into(),
        )
    })?;
    let serial = Serial::from_magnitude(x509.raw_serial()).to_string();
    Ok((
        key_pem,
        crate::pki::pem::pem_of("CERTIFICATE", &ca.cert.der),
        serial,
    ))
}

/// Reads a key or certificate to import: at most 1 MiB, never blocking (see [`crate::input`]).
fn read_limited(path: &Path) -> Result<Vec<u8>> {
    crate::input::read(path, crate::pki::pem::MAX_PEM_BYTES as u64)
}

/// A new key and self-signed certificate. Returns (key PEM, cert PEM, serial).
fn generate(
    subject: &Subject,
    key_type: keys::KeyType,
    validity: (u32, Option<u8>, &crate::pki::constraints::Constraints),
    env: &Env,
) -> Result<(String, String, String)> {
    let (key, key_pem) = keys::generate(key_type)?;
    let (cert, serial) = self_signed(subject, &key, validity, env)?;
    Ok((key_pem, cert, serial))
}

/// The CA's self-signed certificate, signed by `key` (in memory or on a token). Returns
/// (cert PEM, serial).
fn self_signed(
    subject: &Subject,
    key: &impl rcgen::SigningKey,
    (days, path_len, constraints): (u32, Option<u8>, &crate::pki::constraints::Constraints),
    env: &Env,
) -> Result<(String, String)> {
    // The CA certificate's own serial is random too (RFC 5280 allows any unique positive value).
    let ca_serial = Serial::random_start(env.rng.bytes()?);
    let mut params = crate::pki::issuance::ca_params(
        subject
            .to_rcgen()
            .map_err(crate::pki::issuance::IssueError::Subject)?,
        env.now,
        days,
        &ca_serial,
        path_len,
        keys::key_id(key.der_bytes()),
    );
    constraints.apply(&mut params, &[]);
    let cert = params
        .self_signed(key)
        .map_err(|e| Error::signing(e, "self-signing the CA certificate"))?;
    Ok((cert.pem(), ca_serial.to_string()))
}

/// Creates the CA.
pub fn run(args: &InitArgs, ctx: &Context) -> Result<()> {
    if let Some(out) = &args.csr_out {
        return pending(args, ctx, out);
    }
    let mut generated = None;
    let source = match (&args.import_key, &args.import_cert) {
        _ if args.token_key.is_some() => {
            let (source, made) = super::init_token::source(args, ctx)?;
            generated = made;
            source
        }
        (Some(k), Some(c)) => {
            let key_bytes = Zeroizing::new(read_limited(k)?);
            let cert_bytes = read_limited(c)?;
            Source::Import {
                key_passphrase: super::new_ca::import_passphrase(ctx, k, &key_bytes)?,
                key_path: k.clone(),
                key_bytes,
                cert_path: c.clone(),
                cert_bytes,
            }
        }
        _ => Source::Generate {
            subject: super::new_ca::subject_of(args)?,
            key_type: args.key_type,
            days: args.days.unwrap_or(super::new_ca::DEFAULT_DAYS),
            path_len: args.path_len,
            constraints: crate::cli::constraints(&args.permit, &args.exclude)?,
        },
    };
    let result = create_from(args, ctx, source);
    match generated {
        Some(made) => super::init_token::settle(&ctx.dir, made, result),
        None => result,
    }
}

/// Plans and creates the CA from its key's source.
fn create_from(args: &InitArgs, ctx: &Context, source: Source) -> Result<()> {
    // Inputs and secrets first: the passphrase is asked before anything is computed. An
    // encrypted imported key stays encrypted with its own passphrase (not a new one: it is
    // not asked twice, nor held to the minimum length of new passphrases), unless
    // --decrypt-key; --encrypt-key then changes nothing.
    let passphrase = match &source {
        Source::Import {
            key_passphrase: Some(p),
            ..
        } if !args.decrypt_key => Some(p.clone()),
        _ if args.encrypt_key => Some(crate::passphrase::new_passphrase(
            ctx.pass.file(),
            ("passphrase for the new ca.key", "--passphrase-file"),
        )?),
        _ => None,
    };
    if passphrase.is_none()
        && !args.decrypt_key
        && let Some(file) = ctx.pass.file()
        && !ctx.quiet
    {
        // Review finding: `init --passphrase-file F` without --encrypt-key wrote an
        // unencrypted ca.key without a word.
        crate::term::warn(&format!(
            "note: ca.key is written unencrypted; the passphrase file {} is not used (add \
             --encrypt-key to encrypt it)",
            crate::term::escape(&file.display().to_string())
        ));
    }
    for url in args
        .crl_url
        .iter()
        .chain(&args.ca_issuers_url)
        .chain(&args.ocsp_url)
    {
        crate::policy::parse::validate_url(url).map_err(|e| Error::Usage(e.to_string()))?;
    }
    let request = Init {
        source,
        passphrase,
        urls: crate::policy::Urls {
            crl: args.crl_url.clone(),
            ca_issuers: args.ca_issuers_url.clone(),
            ocsp: args.ocsp_url.clone(),
        },
    };
    let mut files = plan(&request, &ctx.env)?;
    let result = create_or_describe(args, ctx, &files);
    // The key's PEM is wiped from memory whatever happened.
    for f in &mut files {
        zeroize::Zeroize::zeroize(&mut f.bytes);
    }
    result
}

/// `init --csr-out FILE`: creates the pending CA, then writes its request to FILE.
fn pending(args: &InitArgs, ctx: &Context, out: &Path) -> Result<()> {
    let subject = super::new_ca::subject_of(args)?;
    let passphrase = match args.encrypt_key {
        true => Some(crate::passphrase::new_passphrase(
            ctx.pass.file(),
            ("passphrase for the new ca.key", "--passphrase-file"),
        )?),
        false => None,
    };
    let mut generated = None;
    let (mut files, csr) = match &args.token_key {
        Some(_) => {
            let (key, reference, made) = super::init_token::key(args, ctx)?;
            let planned = super::new_ca::plan_pending_on_token(&subject, &key, &reference);
            match (planned, made) {
                (Ok(p), made) => {
                    generated = made;
                    p
                }
                (Err(e), Some(made)) => return super::init_token::settle(&ctx.dir, made, Err(e)),
                (Err(e), None) => return Err(e),
            }
        }
        None => super::new_ca::plan_pending(
            &subject,
            args.key_type,
            passphrase.as_deref().map(String::as_str),
        )?,
    };
    let result = (|| {
        let target = store::output::check_copy_target(out, "--csr-out")?;
        if args.dry_run {
            store::check_can_create(&ctx.dir)?;
            return crate::term::print(&format!(
                "dry run: would create the pending CA \"{}\" in {} (ca.key and ca.csr) and write its request to {}; nothing was written\n",
                crate::term::escape(&subject.to_string()),
                crate::term::escape(&ctx.dir.display().to_string()),
                crate::term::escape(&out.display().to_string())
            ));
        }
        let to_file = target.is_file();
        store::create(&ctx.dir, &files)?;
        let dir = crate::term::escape(&ctx.dir.display().to_string());
        if let Err(e) =
            store::output::write_copy(&target, csr.as_bytes(), false, store::MODE_PUBLIC)
        {
            // Reported as done (for the fault sweeps' trace) before saying what was not.
            crate::fsio::reported();
            return Err(Error::Undelivered {
                msg: format!(
                    "the pending CA is created in {dir}, but its request was not written ({e}); it is also {dir}/ca.csr"
                ),
            });
        }
        super::report_created(
            ctx,
            &format!(
                "created the pending CA \"{}\" in {dir} ({}); its request {}: have the parent CA sign it (`ca --dir PARENT sign {dir}/ca.csr --profile sub-ca --out CERT`), then run `ca --dir {dir} install-ca CERT`",
                crate::term::escape(&subject.to_string()),
                match &args.token_key {
                    Some(uri) => format!("the key on the token: {}", crate::term::escape(uri)),
                    None => args.key_type.name().to_string(),
                },
                if to_file {
                    format!(
                        "is in {} and {dir}/ca.csr",
                        crate::term::escape(&out.display().to_string())
                    )
                } else {
                    format!("was printed and is in {dir}/ca.csr")
                }
            ),
        )
    })();
    for f in &mut files {
        zeroize::Zeroize::zeroize(&mut f.bytes);
    }
    match generated {
        Some(made) => super::init_token::settle(&ctx.dir, made, result),
        None => result,
    }
}

fn create_or_describe(args: &InitArgs, ctx: &Context, files: &[FileWrite]) -> Result<()> {
    if args.dry_run {
        store::check_can_create(&ctx.dir)?;
        let mut out = String::new();
        crate::outln!(
            out,
            "dry run: would create the CA \"{}\" in {}; nothing was written",
            crate::term::escape(args.subject.as_deref().unwrap_or("(imported)")),
            crate::term::escape(&ctx.dir.display().to_string())
        );
        for f in files {
            crate::outln!(
                out,
                "  would write {} ({} bytes, mode {:o})",
                f.target,
                f.bytes.len(),
                f.mode
            );
        }
        return crate::term::print(&out);
    }
    store::create(&ctx.dir, files)?;
    let msg = match &args.import_cert {
        Some(c) => format!(
            "adopted the CA of {} in {}",
            crate::term::escape(&c.display().to_string()),
            crate::term::escape(&ctx.dir.display().to_string())
        ),
        None => format!(
            "created CA {:?} in {} ({}, valid {} days)",
            args.subject.as_deref().unwrap_or_default(),
            crate::term::escape(&ctx.dir.display().to_string()),
            match &args.token_key {
                Some(uri) => format!("the key on the token: {}", crate::term::escape(uri)),
                None => args.key_type.name().to_string(),
            },
            args.days.unwrap_or(super::new_ca::DEFAULT_DAYS)
        ),
    };
    super::report_created(ctx, &msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        env_seeded(1)
    }

    fn env_seeded(seed: u64) -> Env {
        Env {
            rng: crate::rand::Rng::seeded(seed),
            now: time::OffsetDateTime::now_utc(),
            user: "init-test".into(),
            fixed_time: true,
        }
    }

    fn generated(seed: u64) -> Vec<FileWrite> {
        let request = Init {
            source: Source::Generate {
                subject: Subject::parse("CN=Unit Root").unwrap(),
                key_type: keys::KeyType::EcdsaP256,
                days: 30,
                path_len: Some(0),
                constraints: Default::default(),
            },
            passphrase: None,
            urls: Default::default(),
        };
        plan(&request, &env_seeded(seed)).unwrap()
    }

    #[test]
    fn a_new_ca_is_every_state_file_and_an_import_must_match_its_key() {
        let files = generated(7);
        let targets: Vec<&str> = files.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "ca.key",
                "ca.crt",
                "serial",
                "crlnumber",
                "index.json",
                "index.log",
                "audit.log"
            ]
        );
        assert_eq!(files[0].mode, crate::store::MODE_SECRET);
        // The random input decides the serials: a different one, a different counter.
        assert_ne!(files[2].bytes, generated(8)[2].bytes);
        assert_eq!(files[2].bytes, generated(7)[2].bytes);

        // Importing that certificate with another key is refused, typed.
        let other = keys::generate(keys::KeyType::EcdsaP256).unwrap().1;
        let request = Init {
            source: Source::Import {
                key_path: "other.key".into(),
                key_bytes: Zeroizing::new(other.into_bytes()),
                key_passphrase: None,
                cert_path: "ca.crt".into(),
                cert_bytes: files[1].bytes.clone(),
            },
            passphrase: None,
            urls: Default::default(),
        };
        match plan(&request, &env()) {
            Err(Error::Input {
                err: InputError::KeyMismatch(cert),
                ..
            }) => assert_eq!(cert, Path::new("ca.crt")),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a mismatched key was imported"),
        }
    }
}
