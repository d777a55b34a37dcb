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
    // DEST must be new (or an empty directory): a backup never mixes into other files.
    crate::store::check_can_create(&args.dest).map_err(|e| match e {
        Error::Exists { path, .. } => Error::Exists {
            path,
            msg: "already exists and is not an empty directory; back up into a new one".into(),
        },
        e => e,
    })?;
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    // VERIFIED-READ: only a state that chains to its signed checkpoint is copied, so `ca
    // check` passes on the copy; the whole log is walked for that.
    let state = session.verified_state()?;
    crate::model::log::for_each_entry(&session.open_log()?, &state.header, |_| Ok(()))?;
    let files = collect(&session)?;
    let generation = state.header.generation;
    let count = files.len();
    crate::store::create(&args.dest, &files)?;
    drop(state);
    drop(session);
    if !ctx.quiet {
        let dest = crate::render::escape(&args.dest.display().to_string());
        // The copy is made and durable: a stderr that cannot take the note changes nothing.
        let _ = crate::render::stderr_line(&format!(
            "note: backed up generation {generation} of {} to {dest} ({count} files; ca.key as \
             it is on disk); to restore, copy it back while no command runs: cp -a {dest} DIR",
            crate::render::escape(&ctx.dir.display().to_string()),
        ));
    }
    Ok(())
}

/// Every state file fileca keeps, read under the session's lock: the top-level files
/// present, the archived CA certificates (ca-SERIAL.crt) and certs/SERIAL.pem. Hidden files
/// (the lock, a journal, `.undelivered`) are not state and are not copied.
fn collect(session: &Session) -> Result<Vec<FileWrite>> {
    let dir = session.dir();
    let mode = |name: &str| {
        if name == KEY {
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
        let mut v: Vec<String> = crate::store::fsio::list_dir(sub)
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
