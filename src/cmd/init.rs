//! `ca init`: create a new CA directory, atomically (create-only).

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyIdMethod, KeyUsagePurpose};
use time::Duration;

use super::Context;
use crate::audit;
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::keys;
use crate::names::Subject;
use crate::serial::Serial;
use crate::store::{self, AUDIT, CERT, CRLNUMBER, FileWrite, INDEX, KEY, MODE_SECRET, SERIAL};

/// Validation phase: the complete content of every file of the new CA.
pub fn plan(args: &InitArgs, ctx: &Context, random: [u8; 32]) -> Result<Vec<FileWrite>> {
    let subject =
        Subject::parse(&args.subject).map_err(|m| Error::refused(format!("--subject: {m}")))?;
    if subject.is_empty() {
        return Err(Error::refused("--subject must not be empty"));
    }
    let (key, key_pem) = keys::generate(args.key_type)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_rcgen().map_err(Error::refused)?;
    params.not_before = ctx.now;
    params.not_after = ctx.now + Duration::days(i64::from(args.days));
    // The CA certificate's own serial is random too (RFC 5280 allows any unique positive value).
    params.serial_number = Some(rcgen::SerialNumber::from_slice(
        Serial::random_start(half(&random, 0)).as_bytes(),
    ));
    params.is_ca = IsCa::Ca(match args.path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.key_identifier_method = KeyIdMethod::PreSpecified(keys::key_id(key.public_key_raw()));
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::Internal(format!("self-signing the CA certificate: {e}")))?;
    // Leaf serials count up from a random point of their own (SPEC.md SERIAL-START).
    let first = Serial::random_start(half(&random, 16));
    let record = audit::Record {
        time: ctx.now,
        operation: "init".into(),
        serials: vec![Serial::random_start(half(&random, 0)).to_string()],
        csr_sha256: None,
        user: ctx.user.clone(),
        generation: 1,
        prev: audit::GENESIS.into(),
    };
    let line = record.to_line();
    let mut index = Index::new();
    index.audit_head = audit::line_hash(&line[..line.len() - 1]);
    Ok(vec![
        FileWrite {
            target: KEY.into(),
            bytes: key_pem.into_bytes(),
            mode: MODE_SECRET,
        },
        FileWrite::public(CERT, cert.pem()),
        FileWrite::public(SERIAL, first.to_file()),
        FileWrite::public(CRLNUMBER, Serial::from_u64(1).to_file()),
        FileWrite::public(INDEX, index.to_bytes()),
        FileWrite::public(AUDIT, line),
    ])
}

/// Creates the CA.
pub fn run(args: &InitArgs, ctx: &Context) -> Result<()> {
    let mut random = [0u8; 32];
    crate::rand::fill(&mut random)?;
    let mut files = plan(args, ctx, random)?;
    let result = create_or_describe(args, ctx, &files);
    // The key's PEM is wiped from memory whatever happened.
    for f in &mut files {
        zeroize::Zeroize::zeroize(&mut f.bytes);
    }
    random.fill(0);
    result
}

fn create_or_describe(args: &InitArgs, ctx: &Context, files: &[FileWrite]) -> Result<()> {
    if args.dry_run {
        store::check_can_create(&ctx.dir)?;
        println!(
            "dry run: would create the CA {:?} in {}; nothing was written",
            args.subject,
            ctx.dir.display()
        );
        for f in files {
            println!(
                "  would write {} ({} bytes, mode {:o})",
                f.target,
                f.bytes.len(),
                f.mode
            );
        }
        return Ok(());
    }
    store::create(&ctx.dir, files)?;
    if ctx.quiet {
        return Ok(());
    }
    eprintln!(
        "created CA {:?} in {} ({:?}, valid {} days)",
        args.subject,
        ctx.dir.display(),
        args.key_type,
        args.days
    );
    Ok(())
}

fn half(random: &[u8; 32], from: usize) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&random[from..from + 16]);
    out
}
