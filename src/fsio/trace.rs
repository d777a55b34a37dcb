//! The simulated-disk trace (`FILECA_SIMDISK_TRACE`), debug builds only: one JSON line per
//! mutation that took effect (inode numbers, bytes written) and a `report` line, appended to
//! the file the variable names, for the power-loss tests (tests/powerloss.rs); see fsio.rs's
//! module documentation. Release builds use the no-op twin in fsio.rs.
//!
//! It only observes: it reads metadata and writes nothing but the trace file, which it opens
//! with `OpenOptions` under fsio.rs's `#![allow(clippy::disallowed_methods)]` (inherited: it
//! is part of the seam). Its own failures are ignored and never change what a command does;
//! fault injection is fault.rs.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use super::Dir;

/// The inode number of an open file.
fn ino_of(fd: impl AsFd) -> u64 {
    rustix::fs::fstat(fd).map(|s| s.st_ino).unwrap_or(0)
}

static OUT: Mutex<Option<Option<File>>> = Mutex::new(None);

fn emit(line: impl FnOnce() -> String) {
    let mut guard = match OUT.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let out = guard.get_or_insert_with(|| {
        let path = std::env::var_os("FILECA_SIMDISK_TRACE")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    if let Some(f) = out {
        let mut l = line();
        l.push('\n');
        let _ = f.write_all(l.as_bytes());
    }
}

pub fn on() -> bool {
    std::env::var_os("FILECA_SIMDISK_TRACE").is_some()
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

pub fn parent_ino(path: &Path) -> u64 {
    if !on() {
        return 0;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::metadata(parent).map(|m| m.ino()).unwrap_or(0)
}

/// A new name: `op` (create or mkdir) of inode `ino` as `name` in directory `dir`.
fn new_entry(op: &str, dir: u64, name: &str, ino: u64, mode: u32) {
    emit(|| {
        format!(
            r#"{{"op":"{op}","dir":{dir},"name":{},"ino":{ino},"mode":{mode}}}"#,
            q(name)
        )
    });
}

pub fn create_path(path: &Path, file: &File, mode: u32) {
    if on() {
        new_entry(
            "create",
            parent_ino(path),
            &name_of(path),
            ino_of(file),
            mode,
        );
    }
}

pub fn create(dir: &Dir, name: &str, file: &File, mode: u32) {
    if on() {
        new_entry("create", ino_of(&dir.fd), name, ino_of(file), mode);
    }
}

pub fn mkdir_path(path: &Path, mode: u32) {
    if on() {
        let ino = std::fs::symlink_metadata(path)
            .map(|m| m.ino())
            .unwrap_or(0);
        new_entry("mkdir", parent_ino(path), &name_of(path), ino, mode);
    }
}

pub fn mkdir(dir: &Dir, name: &str, sub: &Dir, mode: u32) {
    if on() {
        new_entry("mkdir", ino_of(&dir.fd), name, ino_of(&sub.fd), mode);
    }
}

pub fn write(file: &File, off: u64, bytes: &[u8]) {
    if on() {
        emit(|| {
            format!(
                r#"{{"op":"write","ino":{},"off":{off},"data":"{}"}}"#,
                ino_of(file),
                crate::hex::lower(bytes)
            )
        });
    }
}

pub fn truncate(file: &File, len: u64) {
    if on() {
        emit(|| format!(r#"{{"op":"truncate","ino":{},"len":{len}}}"#, ino_of(file)));
    }
}

pub fn chmod(file: &File, mode: u32) {
    chmod_fd(file, mode);
}

pub fn chmod_fd(fd: impl AsFd, mode: u32) {
    if on() {
        emit(|| format!(r#"{{"op":"chmod","ino":{},"mode":{mode}}}"#, ino_of(fd)));
    }
}

pub fn chmod_path(path: &Path, mode: u32) {
    if on() {
        let ino = std::fs::symlink_metadata(path)
            .map(|m| m.ino())
            .unwrap_or(0);
        emit(|| format!(r#"{{"op":"chmod","ino":{ino},"mode":{mode}}}"#));
    }
}

pub fn fsync(file: &File) {
    fsync_fd(file);
}

pub fn fsync_fd(fd: impl AsFd) {
    if on() {
        emit(|| format!(r#"{{"op":"fsync","ino":{}}}"#, ino_of(fd)));
    }
}

pub fn rename_paths(from: &Path, to: &Path) {
    if on() {
        let (fd, td) = (parent_ino(from), parent_ino(to));
        let (f, t) = (name_of(from), name_of(to));
        emit(|| {
            format!(
                r#"{{"op":"rename","from_dir":{fd},"from":{},"to_dir":{td},"to":{}}}"#,
                q(&f),
                q(&t)
            )
        });
    }
}

pub fn rename(fdir: &Dir, from: &str, tdir: &Dir, to: &str) {
    if on() {
        emit(|| {
            format!(
                r#"{{"op":"rename","from_dir":{},"from":{},"to_dir":{},"to":{}}}"#,
                ino_of(&fdir.fd),
                q(from),
                ino_of(&tdir.fd),
                q(to)
            )
        });
    }
}

/// `renameat2(RENAME_EXCHANGE)` of the entries `a` and `b` of `dir`: both names stay, each now
/// naming the other's inode (the model's `exchange` op, tests/simdisk.rs).
pub fn exchange(dir: &Dir, a: &str, b: &str) {
    if on() {
        let d = ino_of(&dir.fd);
        emit(|| {
            format!(
                r#"{{"op":"exchange","from_dir":{d},"from":{},"to_dir":{d},"to":{}}}"#,
                q(a),
                q(b)
            )
        });
    }
}

pub fn link(dir: &Dir, from: &str, to: &str) {
    if on() {
        let ino = dir.stat_entry(to).map(|s| s.st_ino).unwrap_or(0);
        emit(|| {
            format!(
                r#"{{"op":"link","ino":{ino},"dir":{},"name":{}}}"#,
                ino_of(&dir.fd),
                q(to)
            )
        });
        let _ = from;
    }
}

pub fn unlink(parent: u64, path: &Path, op: &str) {
    if on() {
        let name = name_of(path);
        emit(|| format!(r#"{{"op":"{op}","dir":{parent},"name":{}}}"#, q(&name)));
    }
}

pub fn unlink_in(dir: &Dir, name: &str, op: &str) {
    if on() {
        emit(|| {
            format!(
                r#"{{"op":"{op}","dir":{},"name":{}}}"#,
                ino_of(&dir.fd),
                q(name)
            )
        });
    }
}

pub fn report() {
    if on() {
        emit(|| r#"{"op":"report"}"#.to_string());
    }
}
