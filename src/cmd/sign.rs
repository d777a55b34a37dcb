//! `ca sign`: issue a certificate for a CSR under the CA's policy (SPEC.md `SIGN-*`).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::SignArgs;
use crate::error::{Error, Refused, Result};
use crate::input::InputError;
use crate::model::change::Refusal;
use crate::model::change::{allot_serial, issue_entry};
use crate::model::log::{Entry, LogAppend};
use crate::model::snapshot::Snapshot;
use crate::pki::csr::{self, CheckedCsr};
use crate::pki::issuance::{Request, choose_sans};
use crate::pki::serial::Serial;
use crate::store::output::OutputFile;
use crate::store::{FileWrite, SERIAL};
use crate::term::Note;

/// Runs `ca sign`: one CSR, or a batch issued in one all-or-nothing commit.
pub fn run(args: &SignArgs, ctx: &Context) -> Result<()> {
    let sub_ca = crate::cli::sub_ca(&args.sub_ca, &args.san)?;
    let inputs = collect_inputs(&args.csr, args.from_list.as_deref())?;
    if inputs.len() > 1 && !sub_ca.is_empty() {
        return Err(Error::Usage(
            "a sub-CA profile signs one CSR at a time (each sub-CA is its own decision)".into(),
        ));
    }
    if inputs.len() > 1 && !args.san.is_empty() {
        return Err(Refused::SanInBatch.into());
    }
    if inputs.len() > 1 && args.out.out.is_some() {
        return Err(Refused::OutInBatch.into());
    }
    let checked = gate(&inputs, ctx.quiet)?;
    if let Some(dir) = &args.out_dir {
        let mut seen = std::collections::HashSet::new();
        for (path, _) in &checked {
            let target = out_path(dir, path);
            if !seen.insert(target.clone()) {
                return Err(Refused::SameStem(target).into());
            }
        }
    }
    let sans = crate::cli::sans(&args.san)?;
    // What the commit would refuse is refused now, before the CA key is read, for a dry run
    // too (DRY-RUN).
    let out = super::Out::open(args.out.out.clone().map(|o| (o, args.out.force)))?;
    if let Some(dir) = &args.out_dir {
        let files: Vec<PathBuf> = checked.iter().map(|(p, _)| out_path(dir, p)).collect();
        crate::store::output::precheck_dir(dir, &files, args.out.force)?;
    }
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN,
        |state, env| {
            if let [(_, one)] = checked.as_slice() {
                let request = super::signing::Sign {
                    csr: one,
                    sans: &sans,
                    profile: &args.profile,
                    days: args.days,
                    sub_ca: &sub_ca,
                    sub_ca_only: false,
                };
                let mut planned = super::signing::plan(state, &request, env)?;
                if args.fullchain {
                    planned.stdout.push_str(&state.intermediates_pem());
                }
                return match &args.out_dir {
                    Some(dir) => {
                        let mut p = planned;
                        let output = p.output(
                            out_path(dir, &checked[0].0),
                            p.stdout.clone().into_bytes(),
                            args.out.force,
                        )?;
                        p.plan.outputs = vec![output];
                        p.plan.out_dirs = vec![dir.clone()];
                        Ok(p)
                    }
                    None => planned.with_out(out),
                };
            }
            let mut planned = plan_batch(state, &checked, &args.profile, args.days, env)?;
            // --fullchain: every certificate followed by the CAs above it (CHAIN-OUT).
            let chain = match args.fullchain {
                true => state.intermediates_pem(),
                false => String::new(),
            };
            if !chain.is_empty() {
                planned.stdout = planned.plan.writes[..checked.len()]
                    .iter()
                    .map(|w| format!("{}{chain}", String::from_utf8_lossy(&w.bytes)))
                    .collect();
            }
            if let Some(dir) = &args.out_dir {
                // plan_batch writes certs/SERIAL.pem in the order of the CSRs.
                let outputs = checked
                    .iter()
                    .zip(&planned.plan.writes)
                    .map(|((path, _), w)| OutputFile {
                        path: out_path(dir, path),
                        source: w.target.clone(),
                        bytes: [w.bytes.as_slice(), chain.as_bytes()].concat(),
                        serial: crate::model::layout::serial_of_cert_file(&w.target)
                            .map(str::to_string),
                        force: args.out.force,
                        suffix: (!chain.is_empty()).then(|| chain.clone()),
                        der: false,
                    })
                    .collect();
                planned.plan.outputs = outputs;
                planned.plan.out_dirs = vec![dir.clone()];
            }
            Ok(planned)
        },
    )
}

/// The CSR gate over every input, before anything else; every bad one is reported (one
/// alone is its own error). Checking a signature is most of a batch's work, so a batch is
/// checked on every core (the results keep the order of the inputs).
fn gate(inputs: &[PathBuf], quiet: bool) -> Result<Vec<(PathBuf, CheckedCsr)>> {
    let progress = Progress::new(inputs.len() as u64, quiet);
    let gate = |path: &PathBuf| {
        let r = crate::input::read_csr(path)
            .and_then(|b| csr::check(&b).map_err(|e| Error::csr(path, e)));
        progress.inc();
        r
    };
    let results: Vec<Result<CheckedCsr>> = crate::par::map(inputs, 64, gate);
    progress.finish();
    let mut checked = Vec::with_capacity(inputs.len());
    let mut bad = Vec::new();
    for (path, r) in inputs.iter().zip(results) {
        match r {
            Ok(c) => checked.push((path.clone(), c)),
            Err(e) => bad.push(e),
        }
    }
    if inputs.len() == 1
        && let Some(one) = bad.pop()
    {
        return Err(one);
    }
    if !bad.is_empty() {
        return Err(Refused::Batch {
            total: inputs.len(),
            refused: bad,
        }
        .into());
    }
    Ok(checked)
}

/// Validation phase of a batch: every certificate, the index and the counter, one commit.
pub fn plan_batch(
    state: &Snapshot,
    csrs: &[(PathBuf, CheckedCsr)],
    profile: &str,
    days: Option<u32>,
    env: &Env,
) -> Result<Planned> {
    let policy = state.policy()?;
    let profile = policy.profile(profile).map_err(Refusal::Policy)?;
    if profile.kind == crate::pki::profile::Kind::SubCa {
        return Err(Error::Usage(
            "a sub-CA profile signs one CSR at a time (each sub-CA is its own decision)".into(),
        ));
    }
    let days = crate::policy::gate::days(profile, days).map_err(Refusal::Policy)?;
    let mut log = LogAppend::default();
    let mut serial = state.serial.clone();
    let mut writes = Vec::with_capacity(csrs.len() + 1);
    let mut serials = Vec::with_capacity(csrs.len());
    let mut stdout = String::new();
    let mut notes = Vec::new();
    let mut ignored = 0;
    // One issuer for the whole batch: building it parses ca.crt.
    let issuer = state.ca.issuer()?;
    // Serials in order first; then the certificates, signed on every core.
    let mut numbered = Vec::with_capacity(csrs.len());
    for _ in csrs {
        let (allotted, next) = allot_serial(&serial, env)?;
        numbered.push(allotted);
        serial = next;
    }
    let sign_one = |(csr, serial): (&CheckedCsr, &Serial)| -> Result<(String, Entry)> {
        let mut cert_notes = Vec::new();
        let sans = choose_sans(csr, &[], profile, &mut cert_notes);
        let request = Request::from_csr(csr, sans, profile, days, &policy.urls);
        issue_entry(state, &issuer, &request, serial, env, &mut cert_notes)
    };
    let jobs: Vec<(&CheckedCsr, &Serial)> = csrs.iter().map(|(_, c)| c).zip(&numbered).collect();
    let issued = crate::par::map(&jobs, 64, |j| sign_one(*j));
    if issued.len() != csrs.len() {
        return Err(Error::bug("a batch lost a certificate"));
    }
    // Every CSR the policy or the name constraints refuse is named (BATCH-ATOMIC), as the
    // CSR gate names every bad CSR; any other error is the batch's own.
    let mut issued_ok = Vec::with_capacity(issued.len());
    let mut refused = Vec::new();
    for ((path, _), one) in csrs.iter().zip(issued) {
        match one {
            Ok(v) => issued_ok.push(v),
            Err(Error::Refusal(r)) => refused.push(Error::Refused(Refused::InBatch {
                path: path.clone(),
                why: Box::new(r),
            })),
            Err(e) => return Err(e),
        }
    }
    if !refused.is_empty() {
        return Err(Refused::Batch {
            total: csrs.len(),
            refused,
        }
        .into());
    }
    for (((_, csr), serial), (pem, entry)) in csrs.iter().zip(&numbered).zip(issued_ok) {
        ignored += usize::from(!csr.ignored.is_empty());
        log.issued(&entry);
        stdout.push_str(&pem);
        writes.push(FileWrite::public(
            crate::model::layout::cert_file(serial),
            pem,
        ));
        serials.push(serial.to_string());
    }
    writes.push(FileWrite::public(SERIAL, serial.to_file()));
    notes.push(Note::act(
        "issued",
        "would issue",
        &format!(
            "{} certificates, serials {} to {}",
            csrs.len(),
            serials.first().map_or("", String::as_str),
            serials.last().map_or("", String::as_str)
        ),
    ));
    if ignored > 0 {
        notes.push(Note::text(format!(
            "{ignored} CSR(s) requested extensions the {} profile ignored",
            profile.name
        )));
    }
    let plan = super::finish_plan(state, env, log, writes, AuditInfo::of("sign", serials))?;
    Ok(Planned::new(plan, stdout, notes))
}

/// Expands the command line into CSR files: directories to their *.pem, *.csr and *.der
/// files (sorted), and `--from-list` to the paths it names.
fn collect_inputs(args: &[PathBuf], from_list: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut inputs = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut found: Vec<PathBuf> = crate::fsio::list_dir(a)
                .map_err(|e| Error::io(a, e))?
                .into_iter()
                .map(|n| a.join(n))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e, "pem" | "csr" | "der"))
                })
                .collect();
            found.sort();
            // A directory batch takes regular files only: a FIFO or device found there was
            // not named by the operator (stat, not open: this cannot block).
            if let Some(odd) = found
                .iter()
                .find(|p| std::fs::metadata(p).is_ok_and(|m| !m.is_file()))
            {
                return Err(Error::input(odd, InputError::BatchNotRegular));
            }
            inputs.extend(found);
        } else {
            inputs.push(a.clone());
        }
    }
    if let Some(list) = from_list {
        inputs.extend(read_list(list)?);
    }
    if inputs.is_empty() {
        return Err(Refused::NoCsr.into());
    }
    if inputs.len() > 1 && inputs.iter().any(|p| p == Path::new("-")) {
        return Err(Refused::StdinInBatch.into());
    }
    Ok(inputs)
}

/// Largest `--from-list` file, in bytes.
const MAX_LIST_BYTES: u64 = 16 << 20;
/// Most CSRs a `--from-list` file may name.
const MAX_LIST_ENTRIES: usize = 100_000;
/// Longest line of a `--from-list` file (PATH_MAX on Linux).
const MAX_LIST_LINE: usize = 4096;

/// The paths a `--from-list` file names: one per line, relative to its directory, `#`
/// comments and blank lines skipped. Streamed line by line within [`MAX_LIST_BYTES`],
/// [`MAX_LIST_ENTRIES`] and [`MAX_LIST_LINE`]; lines are never echoed raw.
fn read_list(list: &Path) -> Result<Vec<PathBuf>> {
    use std::io::BufRead;
    use std::os::unix::ffi::OsStrExt;

    let input = crate::input::open(list, MAX_LIST_BYTES)?;
    let mut reader = std::io::BufReader::new((&input.file).take(MAX_LIST_BYTES + 1));
    let base = list.parent().unwrap_or(Path::new("."));
    let mut paths = Vec::new();
    let (mut total, mut number) = (0u64, 0usize);
    let mut line = Vec::new();
    loop {
        line.clear();
        let got = (&mut reader)
            .take(MAX_LIST_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(list, e))?;
        if got == 0 {
            break;
        }
        total += got as u64;
        number += 1;
        if total > MAX_LIST_BYTES {
            return Err(crate::input::too_large(list, MAX_LIST_BYTES));
        }
        if line.strip_suffix(b"\n").unwrap_or(&line).len() > MAX_LIST_LINE {
            return Err(Error::input(
                list,
                InputError::LongLine {
                    line: number,
                    max: MAX_LIST_LINE,
                },
            ));
        }
        let entry = line.trim_ascii();
        if entry.is_empty() || entry.starts_with(b"#") {
            continue;
        }
        if paths.len() == MAX_LIST_ENTRIES {
            return Err(Error::input(
                list,
                InputError::TooManyEntries(MAX_LIST_ENTRIES),
            ));
        }
        let p = Path::new(std::ffi::OsStr::from_bytes(entry));
        paths.push(if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        });
    }
    if total == 0 && input.is_pipe() {
        return Err(crate::input::no_data(list));
    }
    Ok(paths)
}

/// Where `--out-dir` puts the certificate for `csr`: DIR/<file stem>.crt.
fn out_path(dir: &Path, csr: &Path) -> PathBuf {
    let stem = csr
        .file_stem()
        .map_or_else(|| "stdin".into(), |s| s.to_string_lossy().into_owned());
    dir.join(format!("{stem}.crt"))
}

/// A progress bar on a terminal (indicatif), nothing otherwise or for a single CSR.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(len: u64, quiet: bool) -> Progress {
        let show = len > 1 && !quiet && crate::term::stderr_is_terminal();
        Progress(show.then(|| indicatif::ProgressBar::new(len)))
    }
    fn inc(&self) {
        if let Some(p) = &self.0 {
            p.inc(1);
        }
    }
    fn finish(&self) {
        if let Some(p) = &self.0 {
            p.finish_and_clear();
        }
    }
}
