//! `ca backup DEST`: a consistent copy of the state directory (SPEC.md BACKUP), taken under
//! the directory's shared lock — every command that changes the CA waits while it is read,
//! so the copy is one generation, never a commit half-applied — and created the way `init`
//! creates a directory: whole in a hidden sibling, renamed into place.

use super::Context;
use crate::cli::BackupArgs;
use crate::error::{Error, Result};
use crate::model::layout::{self, CERTS, KEY, MODE_PUBLIC, MODE_SECRET, STATE_FILES};
use crate::store::{Access, FileWrite, Session};

/// Runs `ca backup`.
pub fn run(args: &BackupArgs, ctx: &Context) -> Result<()> {
    // DEST must be new (or an empty directory): a backup never mixes into other files. An
    // archive is a new file (or stdout), judged before the lock.
    let archive = match args.tar {
        true => {
            let target = crate::store::output::check_copy_target(&args.dest, "backup --tar")?;
            if matches!(target, crate::store::output::CopyTarget::Stdout)
                && crate::term::stdout_is_terminal()
            {
                return Err(crate::error::Refused::TarToTerminal.into());
            }
            Some(target)
        }
        false => None,
    };
    if archive.is_none() {
        crate::store::check_can_create(&args.dest).map_err(|e| match e {
            Error::Exists { path, .. } => Error::Exists {
                path,
                msg: "already exists and is not an empty directory; back up into a new one".into(),
            },
            e => e,
        })?;
    }
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    // VERIFIED-READ: only a state that chains to its signed checkpoint is copied, so `ca
    // check` passes on the copy; the whole log is walked for that.
    let state = session.verified_state()?;
    crate::model::log::for_each_entry(&session.open_log()?, &state.header, |_| Ok(()))?;
    let files = collect(&session)?;
    let generation = state.header.generation;
    let count = files.len();
    let restore = match &archive {
        Some(target) => {
            // Read under the lock; written after it (a slow pipe holds no one up).
            let tar = tar_of(&files, ctx.now()?.unix_timestamp())?;
            drop(state);
            drop(session);
            crate::store::output::write_copy(target, &tar, false, MODE_SECRET)?;
            "mkdir -m 700 DIR && tar -xpf"
        }
        None => {
            crate::store::create(&args.dest, &files)?;
            drop(state);
            drop(session);
            "cp -a"
        }
    };
    if !ctx.quiet && args.dest.as_os_str() != "-" {
        let dest = crate::term::escape(&args.dest.display().to_string());
        let restore = match args.tar {
            true => format!("{restore} {dest} -C DIR"),
            false => format!("{restore} {dest} DIR"),
        };
        // The copy is made and durable: a stderr that cannot take the note changes nothing.
        let _ = crate::term::stderr_line(&format!(
            "note: backed up generation {generation} of {} to {dest} ({count} files; ca.key as \
             it is on disk); to restore, copy it back while no command runs: {restore}",
            crate::term::escape(&ctx.dir.display().to_string()),
        ));
    }
    Ok(())
}

/// The files as a POSIX ustar archive, in the order given, `certs/` as a directory entry
/// (0755, as init makes it) before its files; each file with its state mode, owned by the user running fileca,
/// dated `mtime`.
fn tar_of(files: &[FileWrite], mtime: i64) -> Result<Vec<u8>> {
    let uid = u64::from(crate::fsio::uid());
    let header = |path: &str, size: u64, mode: u32, kind: tar::EntryType| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_mtime(u64::try_from(mtime).unwrap_or(0));
        h.set_path(path).map(|()| h)
    };
    let mut out = tar::Builder::new(Vec::new());
    let build = |out: &mut tar::Builder<Vec<u8>>| -> std::io::Result<()> {
        let mut h = header(
            &format!("{CERTS}/"),
            0,
            layout::MODE_CERTS_DIR,
            tar::EntryType::Directory,
        )?;
        h.set_cksum();
        out.append(&h, std::io::empty())?;
        for f in files {
            let mut h = header(
                &f.target,
                f.bytes.len() as u64,
                f.mode,
                tar::EntryType::Regular,
            )?;
            h.set_cksum();
            out.append(&h, f.bytes.as_slice())?;
        }
        out.finish()
    };
    build(&mut out).map_err(|e| Error::bug_in("building the backup archive", e))?;
    out.into_inner()
        .map_err(|e| Error::bug_in("building the backup archive", e))
}

/// Every state file fileca keeps, read under the session's lock: the top-level files
/// present, the archived CA certificates (ca-SERIAL.crt) and certs/SERIAL.pem. Hidden files
/// (the lock, a journal, `.undelivered`) are not state and are not copied.
fn collect(session: &Session) -> Result<Vec<FileWrite>> {
    let dir = session.dir();
    let mode = |name: &str| {
        if name == KEY || name == layout::OCSP_KEY || name == layout::ACME_TLS_KEY {
            MODE_SECRET
        } else {
            MODE_PUBLIC
        }
    };
    let mut files = Vec::new();
    for name in STATE_FILES {
        if let Some(bytes) = session.read_optional(name)? {
            files.push(FileWrite {
                target: name.to_string(),
                bytes,
                mode: mode(name),
            });
        }
    }
    let names = |sub: &std::path::Path| -> Result<Vec<String>> {
        let mut v: Vec<String> = crate::fsio::list_dir(sub)
            .map_err(|e| Error::io(sub, e))?
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .collect();
        v.sort();
        Ok(v)
    };
    for name in names(dir)? {
        if layout::serial_of_archived_ca(&name).is_some() {
            let bytes = session.read(&name)?;
            files.push(FileWrite::public(name, bytes));
        }
    }
    for name in names(&dir.join(CERTS))? {
        let rel = format!("{CERTS}/{name}");
        if layout::serial_of_cert_file(&rel).is_some() {
            let bytes = session.read(&rel)?;
            files.push(FileWrite::public(rel, bytes));
        }
    }
    Ok(files)
}
