//! A simulated disk for power-loss testing (in the spirit of ALICE and SQLite's crash tests).
//!
//! The program under test (debug builds) writes a *trace* of every filesystem mutation it
//! performs, one JSON object per line, each line written after the operation succeeded. A test
//! [`capture`]s the real directory tree before the command (with inode numbers), runs the command
//! with tracing on, [`parse_trace`]s the trace and then asks this model which directory trees a
//! power loss after the first `k` operations could leave on disk ([`crash_states`]). Each such
//! [`State`] can be [`materialise`]d as a real directory tree so that the next command can be run
//! against it.
//!
//! # Trace format
//!
//! Inode numbers are `st_ino` values of the real filesystem, `dir` is the inode of the parent
//! directory, names are single path components and modes are permission bits (decimal JSON
//! numbers, at most `0o7777`, as they actually are on disk, i.e. after the umask).
//!
//! ```text
//! {"op":"create","dir":D,"name":"x","ino":I,"mode":420}   new empty regular file
//! {"op":"mkdir","dir":D,"name":"x","ino":I,"mode":448}    new empty directory
//! {"op":"write","ino":I,"off":O,"data":"<hex>"}           pwrite (zero-fills any gap)
//! {"op":"truncate","ino":I,"len":L}                        set the length
//! {"op":"chmod","ino":I,"mode":M}
//! {"op":"fsync","ino":I}                                   fsync of a file or a directory
//! {"op":"syncfs"}                                          syncfs(2): fsync of every inode
//! {"op":"rename","from_dir":D1,"from":"a","to_dir":D2,"to":"b"}
//! {"op":"exchange","from_dir":D1,"from":"a","to_dir":D2,"to":"b"}  renameat2(RENAME_EXCHANGE)
//! {"op":"link","ino":I,"dir":D,"name":"b"}                 new hard link to a file
//! {"op":"unlink","dir":D,"name":"x"}
//! {"op":"rmdir","dir":D,"name":"x"}
//! {"op":"report"}                                          success was reported to the user
//! ```
//!
//! Unknown ops and malformed lines panic. Every inode a trace mentions must be in the snapshot or
//! created earlier in the trace, so capture a directory that contains everything the command
//! touches (e.g. the parent of a CA directory that `init` creates).
//!
//! # Model (pessimistic POSIX)
//!
//! - Every inode has a *current* and a *durable* version. Everything in the snapshot is durable.
//! - A file's data, length and mode become durable only by an fsync of that inode (durable :=
//!   current). A file created and never fsynced has durable content "empty" with its create mode.
//!   Every `write`, `truncate` and `chmod` makes a new version.
//! - A directory's entries (name -> inode) and mode become durable only by an fsync of that
//!   directory (durable entries := current entries). `create`, `mkdir`, `link`, `unlink`, `rmdir`
//!   and `rename` change only the current entries of the directories involved. The durability of
//!   an inode's content is independent of the names that point to it.
//! - `syncfs` fsyncs every inode.
//!
//! The *pessimistic* crash state follows durable entries from the root directory and gives every
//! reachable inode its durable content: only what was made durable survives.
//!
//! A *random* crash state models "some in-flight operations reached the disk", reordered between
//! objects but in order within one object: every inode independently gets one of the versions it
//! had since its last fsync (uniformly, the durable and current ones included), and every
//! directory independently gets its durable entries plus a uniformly chosen prefix (possibly
//! empty, possibly all) of the entry operations applied to it since its last fsync. A rename
//! within one directory is one atomic entry operation; a rename between two directories is a
//! removal in the source and an insertion in the destination; the insertion may reach the disk
//! without the removal (the object appears under both names) but not the other way round,
//! as on every journaling filesystem (ext4, XFS, btrfs) where the rename is one transaction.
//! An `exchange` (`renameat2(RENAME_EXCHANGE)`: both names must exist, and each then names the
//! other's inode) within one directory is likewise one atomic entry operation: a crash before
//! that directory's fsync leaves either the old pair of entries or the new pair — never both
//! names on one inode, never one inode without a name. Between two directories it is one
//! replacement in each, and the two reach the disk together or not at all (one transaction).
//!
//! The same transaction argument holds after an fsync: an fsync of a directory makes its
//! entry operations durable, and with them the other half of every cross-directory rename or
//! exchange among them (the destination's insertion of a rename whose removal became durable;
//! the other directory's half of an exchange), together with that directory's earlier entry
//! operations, which the journal committed first.
//!
//! Consequences of that independence when building a state: a directory reachable under two
//! names is materialised twice (as two copies), and an entry that would lead back into one of its
//! own ancestors (a cycle, possible only with cross-directory directory renames) is dropped.
//! Several names for one file inode are materialised as real hard links.
//!
//! Inode numbers may be reused by the filesystem: a `create`/`mkdir` of an inode number that is
//! no longer linked anywhere starts a fresh model inode, while the old one lives on for any
//! durable entry that still refers to it.
#![allow(dead_code)] // test support: not every test uses every helper
#![allow(clippy::disallowed_methods)] // materialise builds real trees with std::fs directly

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------------------------

/// A snapshot of a real directory tree, keyed by inode number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    /// Inode number of the captured root directory: the root of the model.
    pub root: u64,
    /// Every captured inode (hard-linked files appear once).
    pub nodes: BTreeMap<u64, Node>,
    /// Relative paths of special files (FIFOs, sockets, devices) that were ignored.
    pub special: Vec<PathBuf>,
}

/// One inode of a [`Tree`]. Modes are permission bits (`mode & 0o7777`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File {
        mode: u32,
        data: Vec<u8>,
    },
    Dir {
        mode: u32,
        entries: BTreeMap<OsString, u64>,
    },
    Symlink {
        target: PathBuf,
    },
}

impl Tree {
    /// The tree as a [`State`] (e.g. to compare a snapshot taken after a command with
    /// [`Disk::current`]).
    pub fn state(&self) -> State {
        Disk::new(self).current()
    }
}

/// Walks the real tree under `root` (a directory; symlinks are recorded, never followed) and
/// records every directory, file and symlink with its inode number, mode and content.
/// Panics if something cannot be read or if the tree spans more than one filesystem.
pub fn capture(root: &Path) -> Tree {
    let meta = lstat(root);
    assert!(
        meta.is_dir(),
        "simdisk: capture root {} is not a directory",
        root.display()
    );
    let mut tree = Tree {
        root: meta.ino(),
        nodes: BTreeMap::new(),
        special: Vec::new(),
    };
    capture_dir(root, Path::new(""), &meta, &mut tree);
    tree
}

fn lstat(path: &Path) -> fs::Metadata {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("simdisk: cannot stat {}: {e}", path.display()))
}

fn capture_dir(abs: &Path, rel: &Path, meta: &fs::Metadata, tree: &mut Tree) {
    let mut entries = BTreeMap::new();
    let listing =
        fs::read_dir(abs).unwrap_or_else(|e| panic!("simdisk: cannot list {}: {e}", abs.display()));
    for entry in listing {
        let entry = entry.unwrap_or_else(|e| panic!("simdisk: cannot list {}: {e}", abs.display()));
        let name = entry.file_name();
        let (abs_child, rel_child) = (abs.join(&name), rel.join(&name));
        let m = lstat(&abs_child);
        assert_eq!(
            m.dev(),
            meta.dev(),
            "simdisk: {} is on another filesystem (inode numbers would be ambiguous)",
            abs_child.display()
        );
        let kind = m.file_type();
        if kind.is_dir() {
            capture_dir(&abs_child, &rel_child, &m, tree);
        } else if kind.is_file() {
            // A hard link to a file already captured under another name is read only once.
            tree.nodes.entry(m.ino()).or_insert_with(|| {
                let data = fs::read(&abs_child).unwrap_or_else(|e| {
                    panic!("simdisk: cannot read {}: {e}", abs_child.display())
                });
                let mode = m.mode() & 0o7777;
                Node::File { mode, data }
            });
        } else if kind.is_symlink() {
            let target = fs::read_link(&abs_child).unwrap_or_else(|e| {
                panic!("simdisk: cannot read link {}: {e}", abs_child.display())
            });
            tree.nodes.insert(m.ino(), Node::Symlink { target });
        } else {
            tree.special.push(rel_child);
            continue;
        }
        entries.insert(name, m.ino());
    }
    let mode = meta.mode() & 0o7777;
    tree.nodes.insert(meta.ino(), Node::Dir { mode, entries });
}

// ---------------------------------------------------------------------------------------------
// Trace
// ---------------------------------------------------------------------------------------------

/// One traced filesystem mutation (see the module documentation for the JSON form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create {
        dir: u64,
        name: String,
        ino: u64,
        mode: u32,
    },
    Mkdir {
        dir: u64,
        name: String,
        ino: u64,
        mode: u32,
    },
    Write {
        ino: u64,
        off: u64,
        data: Vec<u8>,
    },
    Truncate {
        ino: u64,
        len: u64,
    },
    Chmod {
        ino: u64,
        mode: u32,
    },
    Fsync {
        ino: u64,
    },
    SyncFs,
    Rename {
        from_dir: u64,
        from: String,
        to_dir: u64,
        to: String,
    },
    Exchange {
        from_dir: u64,
        from: String,
        to_dir: u64,
        to: String,
    },
    Link {
        ino: u64,
        dir: u64,
        name: String,
    },
    Unlink {
        dir: u64,
        name: String,
    },
    Rmdir {
        dir: u64,
        name: String,
    },
    Report,
}

impl fmt::Display for Op {
    /// A one-line description (write data abbreviated to its length), for failure messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Create {
                dir,
                name,
                ino,
                mode,
            } => {
                write!(f, "create {dir}/{name} ino {ino} mode {mode:o}")
            }
            Op::Mkdir {
                dir,
                name,
                ino,
                mode,
            } => {
                write!(f, "mkdir {dir}/{name} ino {ino} mode {mode:o}")
            }
            Op::Write { ino, off, data } => {
                write!(f, "write ino {ino} off {off} len {}", data.len())
            }
            Op::Truncate { ino, len } => write!(f, "truncate ino {ino} len {len}"),
            Op::Chmod { ino, mode } => write!(f, "chmod ino {ino} mode {mode:o}"),
            Op::Fsync { ino } => write!(f, "fsync ino {ino}"),
            Op::SyncFs => write!(f, "syncfs"),
            Op::Rename {
                from_dir,
                from,
                to_dir,
                to,
            } => {
                write!(f, "rename {from_dir}/{from} -> {to_dir}/{to}")
            }
            Op::Exchange {
                from_dir,
                from,
                to_dir,
                to,
            } => {
                write!(f, "exchange {from_dir}/{from} <-> {to_dir}/{to}")
            }
            Op::Link { ino, dir, name } => write!(f, "link ino {ino} as {dir}/{name}"),
            Op::Unlink { dir, name } => write!(f, "unlink {dir}/{name}"),
            Op::Rmdir { dir, name } => write!(f, "rmdir {dir}/{name}"),
            Op::Report => write!(f, "report"),
        }
    }
}

/// Parses a trace: one JSON object per non-blank line. Panics (quoting the line) on anything
/// malformed or unknown.
pub fn parse_trace(text: &str) -> Vec<Op> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_line(i + 1, line))
        .collect()
}

/// Index in `ops` of the first `report` op. A crash after `k > index` ops happened after the
/// user was told of success, so every crash state of such a `k` must keep the reported result.
pub fn report_index(ops: &[Op]) -> Option<usize> {
    ops.iter().position(|op| *op == Op::Report)
}

fn bad_line(lineno: usize, line: &str, what: &str) -> ! {
    panic!("simdisk: trace line {lineno}: {what}: {line}")
}

fn parse_line(lineno: usize, line: &str) -> Op {
    let value: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| bad_line(lineno, line, &format!("not JSON ({e})")));
    let num = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_else(|| bad_line(lineno, line, &format!("missing or non-integer \"{key}\"")))
    };
    let text = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_else(|| bad_line(lineno, line, &format!("missing or non-string \"{key}\"")))
    };
    let name = |key: &str| {
        let name = text(key);
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            bad_line(
                lineno,
                line,
                &format!("\"{key}\" is not a single path component"),
            );
        }
        name.to_owned()
    };
    let mode = || match u32::try_from(num("mode")) {
        Ok(mode) if mode <= 0o7777 => mode,
        _ => bad_line(
            lineno,
            line,
            "\"mode\" is not permission bits (at most 0o7777)",
        ),
    };
    match text("op") {
        "create" => Op::Create {
            dir: num("dir"),
            name: name("name"),
            ino: num("ino"),
            mode: mode(),
        },
        "mkdir" => Op::Mkdir {
            dir: num("dir"),
            name: name("name"),
            ino: num("ino"),
            mode: mode(),
        },
        "write" => {
            let data = decode_hex(text("data"))
                .unwrap_or_else(|| bad_line(lineno, line, "\"data\" is not hex"));
            Op::Write {
                ino: num("ino"),
                off: num("off"),
                data,
            }
        }
        "truncate" => Op::Truncate {
            ino: num("ino"),
            len: num("len"),
        },
        "chmod" => Op::Chmod {
            ino: num("ino"),
            mode: mode(),
        },
        "fsync" => Op::Fsync { ino: num("ino") },
        "syncfs" => Op::SyncFs,
        "rename" => Op::Rename {
            from_dir: num("from_dir"),
            from: name("from"),
            to_dir: num("to_dir"),
            to: name("to"),
        },
        "exchange" => Op::Exchange {
            from_dir: num("from_dir"),
            from: name("from"),
            to_dir: num("to_dir"),
            to: name("to"),
        },
        "link" => Op::Link {
            ino: num("ino"),
            dir: num("dir"),
            name: name("name"),
        },
        "unlink" => Op::Unlink {
            dir: num("dir"),
            name: name("name"),
        },
        "rmdir" => Op::Rmdir {
            dir: num("dir"),
            name: name("name"),
        },
        "report" => Op::Report,
        _ => bad_line(lineno, line, "unknown op"),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// The model: every inode with its durable and in-flight versions. Build it from a snapshot,
/// [`apply`](Disk::apply) trace ops one by one (clone it to branch), and ask for crash states.
#[derive(Clone, Debug)]
pub struct Disk {
    /// Model inodes, indexed by model id (distinct from inode numbers, which may be reused).
    inodes: Vec<Inode>,
    /// Inode number -> model id of the inode currently carrying that number.
    by_ino: HashMap<u64, usize>,
    /// Model id of the root directory.
    root: usize,
}

#[derive(Clone, Debug)]
struct Inode {
    ino: u64,
    /// Number of current directory entries naming this inode.
    links: usize,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Versions since the last fsync: `[0]` is durable, the last one is current.
    File(Vec<FileVersion>),
    Dir(DirInode),
    Symlink(PathBuf),
}

#[derive(Clone, Debug)]
struct FileVersion {
    data: Vec<u8>,
    mode: u32,
}

#[derive(Clone, Debug)]
struct DirInode {
    /// Mode versions since the last fsync: `[0]` is durable, the last one is current.
    modes: Vec<u32>,
    /// Entries as of the last fsync.
    durable: BTreeMap<OsString, usize>,
    /// Entry operations since the last fsync, in order.
    pending: Vec<DirOp>,
    /// How many entry operations became durable before `pending[0]`: `base + i` is the
    /// position of `pending[i]` in this directory's whole history, which is how the other
    /// half of a cross-directory rename or exchange names it.
    base: usize,
    /// `durable` with all of `pending` applied.
    current: BTreeMap<OsString, usize>,
}

#[derive(Clone, Debug)]
enum DirOp {
    Insert(OsString, usize),
    Remove(OsString),
    /// The source half of a rename into another directory: the model id of that directory
    /// and the position (see [`DirInode::base`]) of the matching insertion there.
    MoveOut(OsString, usize, usize),
    /// A rename within this directory (atomic).
    Rename(OsString, OsString),
    /// An exchange of two names of this directory (atomic).
    Exchange(OsString, OsString),
    /// One half of an exchange between two directories: the name now names the given inode;
    /// then the other directory and the position of its half (both or neither survive).
    ExchangeHalf(OsString, usize, usize, usize),
}

impl DirOp {
    /// The other directory and position of the half this operation needs on disk with it.
    fn partner(&self) -> Option<(usize, usize)> {
        match self {
            DirOp::MoveOut(_, dir, at) | DirOp::ExchangeHalf(_, _, dir, at) => Some((*dir, *at)),
            _ => None,
        }
    }
}

/// `entries` with `ops` applied in order.
fn apply_dir_ops(entries: &mut BTreeMap<OsString, usize>, ops: &[DirOp]) {
    for op in ops {
        match op {
            DirOp::Insert(name, id) | DirOp::ExchangeHalf(name, id, _, _) => {
                entries.insert(name.clone(), *id);
            }
            DirOp::Remove(name) | DirOp::MoveOut(name, _, _) => {
                entries.remove(name);
            }
            DirOp::Rename(from, to) => {
                if let Some(id) = entries.remove(from) {
                    entries.insert(to.clone(), id);
                }
            }
            DirOp::Exchange(a, b) => {
                let (ia, ib) = (entries.remove(a), entries.remove(b));
                if let Some(ib) = ib {
                    entries.insert(a.clone(), ib);
                }
                if let Some(ia) = ia {
                    entries.insert(b.clone(), ia);
                }
            }
        }
    }
}

impl DirInode {
    fn new(mode: u32, entries: BTreeMap<OsString, usize>) -> DirInode {
        DirInode {
            modes: vec![mode],
            durable: entries.clone(),
            pending: Vec::new(),
            base: 0,
            current: entries,
        }
    }

    /// Durable entries with the first `n` pending operations applied.
    fn entries_after(&self, n: usize) -> BTreeMap<OsString, usize> {
        let mut entries = self.durable.clone();
        apply_dir_ops(&mut entries, &self.pending[..n]);
        entries
    }
}

/// For one model inode: which version it has (file data+mode, or directory mode) and, for a
/// directory, how many pending entry operations are applied.
#[derive(Clone, Copy)]
struct Pick {
    version: usize,
    prefix: usize,
}

impl Disk {
    /// A model in which everything in `tree` is durable.
    pub fn new(tree: &Tree) -> Disk {
        let ids: HashMap<u64, usize> = tree
            .nodes
            .keys()
            .enumerate()
            .map(|(id, &ino)| (ino, id))
            .collect();
        let mut inodes: Vec<Inode> = tree
            .nodes
            .iter()
            .map(|(&ino, node)| Inode {
                ino,
                links: 0,
                kind: snapshot_kind(ino, node, &ids),
            })
            .collect();
        let children: Vec<usize> = inodes
            .iter()
            .filter_map(|inode| match &inode.kind {
                Kind::Dir(dir) => Some(dir.current.values().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        for child in children {
            inodes[child].links += 1;
        }
        let root = *ids
            .get(&tree.root)
            .unwrap_or_else(|| panic!("simdisk: snapshot has no root inode {}", tree.root));
        assert!(
            matches!(inodes[root].kind, Kind::Dir(_)),
            "simdisk: snapshot root inode {} is not a directory",
            tree.root
        );
        Disk {
            inodes,
            by_ino: ids,
            root,
        }
    }

    /// Applies one traced operation. Panics if the op is inconsistent with the model (unknown
    /// inode, missing or already existing name, wrong kind): the trace or snapshot is incomplete.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Create {
                dir,
                name,
                ino,
                mode,
            } => {
                let version = FileVersion {
                    data: Vec::new(),
                    mode: *mode,
                };
                let id = self.alloc(*ino, Kind::File(vec![version]), op);
                self.add_entry(*dir, name, id, op);
            }
            Op::Mkdir {
                dir,
                name,
                ino,
                mode,
            } => {
                let id = self.alloc(*ino, Kind::Dir(DirInode::new(*mode, BTreeMap::new())), op);
                self.add_entry(*dir, name, id, op);
            }
            Op::Write { ino, off, data } => {
                let start = usize::try_from(*off)
                    .unwrap_or_else(|_| panic!("simdisk: offset too large: {op}"));
                let end = start + data.len();
                self.new_file_version(*ino, op, |v| {
                    if v.data.len() < end {
                        v.data.resize(end, 0);
                    }
                    v.data[start..end].copy_from_slice(data);
                });
            }
            Op::Truncate { ino, len } => {
                let len = usize::try_from(*len)
                    .unwrap_or_else(|_| panic!("simdisk: length too large: {op}"));
                self.new_file_version(*ino, op, |v| v.data.resize(len, 0));
            }
            Op::Chmod { ino, mode } => {
                let id = self.id(*ino, op);
                match &mut self.inodes[id].kind {
                    Kind::File(versions) => {
                        let mut next = versions[versions.len() - 1].clone();
                        next.mode = *mode;
                        versions.push(next);
                    }
                    Kind::Dir(dir) => dir.modes.push(*mode),
                    Kind::Symlink(_) => panic!("simdisk: chmod of a symlink: {op}"),
                }
            }
            Op::Fsync { ino } => {
                let id = self.id(*ino, op);
                self.fsync(id);
            }
            Op::SyncFs => (0..self.inodes.len()).for_each(|id| self.fsync(id)),
            Op::Rename {
                from_dir,
                from,
                to_dir,
                to,
            } => self.rename(*from_dir, from, *to_dir, to, op),
            Op::Exchange {
                from_dir,
                from,
                to_dir,
                to,
            } => self.exchange(*from_dir, from, *to_dir, to, op),
            Op::Link { ino, dir, name } => {
                let id = self.id(*ino, op);
                assert!(
                    !matches!(self.inodes[id].kind, Kind::Dir(_)),
                    "simdisk: hard link to a directory: {op}"
                );
                self.add_entry(*dir, name, id, op);
            }
            Op::Unlink { dir, name } => {
                let id = self.remove_entry(*dir, name, op);
                assert!(
                    !matches!(self.inodes[id].kind, Kind::Dir(_)),
                    "simdisk: unlink of a directory: {op}"
                );
            }
            Op::Rmdir { dir, name } => {
                let id = self.remove_entry(*dir, name, op);
                match &self.inodes[id].kind {
                    Kind::Dir(d) => assert!(
                        d.current.is_empty(),
                        "simdisk: rmdir of a non-empty directory: {op}"
                    ),
                    _ => panic!("simdisk: rmdir of a non-directory: {op}"),
                }
            }
            Op::Report => {}
        }
    }

    /// What is on disk if there is no crash (every op took full effect).
    pub fn current(&self) -> State {
        self.build(|inode| match &inode.kind {
            Kind::File(versions) => Pick {
                version: versions.len() - 1,
                prefix: 0,
            },
            Kind::Dir(dir) => Pick {
                version: dir.modes.len() - 1,
                prefix: dir.pending.len(),
            },
            Kind::Symlink(_) => Pick {
                version: 0,
                prefix: 0,
            },
        })
    }

    /// The pessimistic crash state: only what was made durable survives.
    pub fn pessimistic(&self) -> State {
        self.build(|_| Pick {
            version: 0,
            prefix: 0,
        })
    }

    /// The pessimistic state first, then up to `samples` distinct random crash states (seeded,
    /// deterministic), none equal to an earlier one.
    pub fn crash_states(&self, samples: usize, seed: u64) -> Vec<State> {
        let mut rng = Rng(seed);
        let mut states = vec![self.pessimistic()];
        for _ in 0..samples {
            let state = self.build(|inode| match &inode.kind {
                Kind::File(versions) => Pick {
                    version: rng.below(versions.len()),
                    prefix: 0,
                },
                Kind::Dir(dir) => Pick {
                    version: rng.below(dir.modes.len()),
                    prefix: rng.below(dir.pending.len() + 1),
                },
                Kind::Symlink(_) => Pick {
                    version: 0,
                    prefix: 0,
                },
            });
            if !states.contains(&state) {
                states.push(state);
            }
        }
        states
    }

    /// Model id of the inode currently numbered `ino`.
    fn id(&self, ino: u64, op: &Op) -> usize {
        *self.by_ino.get(&ino).unwrap_or_else(|| {
            panic!("simdisk: unknown inode {ino} (trace or snapshot incomplete): {op}")
        })
    }

    fn dir_mut(&mut self, ino: u64, op: &Op) -> &mut DirInode {
        let id = self.id(ino, op);
        match &mut self.inodes[id].kind {
            Kind::Dir(dir) => dir,
            _ => panic!("simdisk: inode {ino} is not a directory: {op}"),
        }
    }

    /// A fresh model inode numbered `ino` (which the filesystem may have reused).
    fn alloc(&mut self, ino: u64, kind: Kind, op: &Op) -> usize {
        if let Some(&old) = self.by_ino.get(&ino) {
            assert_eq!(
                self.inodes[old].links, 0,
                "simdisk: inode {ino} created while still linked (trace incomplete?): {op}"
            );
        }
        let id = self.inodes.len();
        self.inodes.push(Inode {
            ino,
            links: 0,
            kind,
        });
        self.by_ino.insert(ino, id);
        id
    }

    fn add_entry(&mut self, dir: u64, name: &str, id: usize, op: &Op) {
        let d = self.dir_mut(dir, op);
        let name = OsString::from(name);
        assert!(
            !d.current.contains_key(&name),
            "simdisk: name already exists: {op}"
        );
        d.current.insert(name.clone(), id);
        d.pending.push(DirOp::Insert(name, id));
        self.inodes[id].links += 1;
    }

    fn remove_entry(&mut self, dir: u64, name: &str, op: &Op) -> usize {
        let d = self.dir_mut(dir, op);
        let name = OsString::from(name);
        let id = d
            .current
            .remove(&name)
            .unwrap_or_else(|| panic!("simdisk: no such name: {op}"));
        d.pending.push(DirOp::Remove(name));
        self.inodes[id].links -= 1;
        id
    }

    fn rename(&mut self, from_dir: u64, from: &str, to_dir: u64, to: &str, op: &Op) {
        let (from, to) = (OsString::from(from), OsString::from(to));
        let id = *self
            .dir_mut(from_dir, op)
            .current
            .get(&from)
            .unwrap_or_else(|| panic!("simdisk: no such name: {op}"));
        let moving_dir = matches!(self.inodes[id].kind, Kind::Dir(_));
        if let Some(&old) = self.dir_mut(to_dir, op).current.get(&to) {
            if old == id {
                return; // POSIX: both names already refer to the same inode; nothing happens.
            }
            match &self.inodes[old].kind {
                Kind::Dir(d) => assert!(
                    moving_dir && d.current.is_empty(),
                    "simdisk: rename onto a directory that is not an empty directory target: {op}"
                ),
                _ => assert!(
                    !moving_dir,
                    "simdisk: rename of a directory onto a non-directory: {op}"
                ),
            }
            self.inodes[old].links -= 1;
        }
        if self.id(from_dir, op) == self.id(to_dir, op) {
            let d = self.dir_mut(from_dir, op);
            d.current.remove(&from);
            d.current.insert(to.clone(), id);
            d.pending.push(DirOp::Rename(from, to));
        } else {
            let dst_id = self.id(to_dir, op);
            let dst = self.dir_mut(to_dir, op);
            let at = dst.base + dst.pending.len();
            dst.current.insert(to.clone(), id);
            dst.pending.push(DirOp::Insert(to, id));
            let src = self.dir_mut(from_dir, op);
            src.current.remove(&from);
            src.pending.push(DirOp::MoveOut(from, dst_id, at));
        }
    }

    /// `renameat2(RENAME_EXCHANGE)`: both names exist and swap inodes (link counts unchanged).
    fn exchange(&mut self, from_dir: u64, from: &str, to_dir: u64, to: &str, op: &Op) {
        let (from, to) = (OsString::from(from), OsString::from(to));
        let name_of = |disk: &mut Disk, dir: u64, name: &OsString| {
            *disk
                .dir_mut(dir, op)
                .current
                .get(name)
                .unwrap_or_else(|| panic!("simdisk: no such name: {op}"))
        };
        let a = name_of(self, from_dir, &from);
        let b = name_of(self, to_dir, &to);
        let (a_dir, b_dir) = (self.id(from_dir, op), self.id(to_dir, op));
        if a_dir == b_dir {
            if from == to {
                return; // the same entry: nothing changes
            }
            let d = self.dir_mut(from_dir, op);
            d.current.insert(from.clone(), b);
            d.current.insert(to.clone(), a);
            d.pending.push(DirOp::Exchange(from, to));
        } else {
            let src = self.dir_mut(from_dir, op);
            let at_src = src.base + src.pending.len();
            let dst = self.dir_mut(to_dir, op);
            let at_dst = dst.base + dst.pending.len();
            dst.current.insert(to.clone(), a);
            dst.pending.push(DirOp::ExchangeHalf(to, a, a_dir, at_src));
            let src = self.dir_mut(from_dir, op);
            src.current.insert(from.clone(), b);
            src.pending
                .push(DirOp::ExchangeHalf(from, b, b_dir, at_dst));
        }
    }

    fn new_file_version(&mut self, ino: u64, op: &Op, change: impl FnOnce(&mut FileVersion)) {
        let id = self.id(ino, op);
        match &mut self.inodes[id].kind {
            Kind::File(versions) => {
                let mut next = versions[versions.len() - 1].clone();
                change(&mut next);
                versions.push(next);
            }
            _ => panic!("simdisk: inode {ino} is not a regular file: {op}"),
        }
    }

    fn fsync(&mut self, id: usize) {
        match &mut self.inodes[id].kind {
            Kind::File(versions) => {
                versions.drain(..versions.len() - 1);
            }
            Kind::Dir(dir) => {
                dir.modes.drain(..dir.modes.len() - 1);
                dir.durable = dir.current.clone();
                dir.base += dir.pending.len();
                let flushed = std::mem::take(&mut dir.pending);
                self.commit_partners(&flushed);
            }
            Kind::Symlink(_) => {}
        }
    }

    /// The other halves of the cross-directory renames and exchanges in `flushed` (entry
    /// operations just made durable) are durable too, with every earlier entry operation of
    /// their directories: the journal commits them in order (module documentation).
    fn commit_partners(&mut self, flushed: &[DirOp]) {
        let mut work: Vec<(usize, usize)> = flushed.iter().filter_map(DirOp::partner).collect();
        while let Some((id, at)) = work.pop() {
            let Kind::Dir(d) = &mut self.inodes[id].kind else {
                unreachable!("a partner of a directory operation is a directory")
            };
            if at < d.base {
                continue; // already durable
            }
            let n = at + 1 - d.base;
            let done: Vec<DirOp> = d.pending.drain(..n).collect();
            apply_dir_ops(&mut d.durable, &done);
            d.base += n;
            work.extend(done.iter().filter_map(DirOp::partner));
        }
    }

    /// The tree reachable from the root when every inode is in the version `pick` chooses
    /// (`pick` is called once per model inode, in model-id order).
    fn build(&self, mut pick: impl FnMut(&Inode) -> Pick) -> State {
        let mut picks: Vec<Pick> = self.inodes.iter().map(&mut pick).collect();
        // rename(2) between two directories of one filesystem is atomic across a crash on the
        // journaling filesystems fileca supports (docs/design.md, medium assumptions): the
        // object may be found under both names, never under neither. So a source removal is
        // kept only when its destination insertion is; cut the source's prefix before it
        // otherwise (to a fixpoint, as a cut may drop another move's insertion). The halves
        // of an exchange between two directories need each other the same way.
        loop {
            let mut changed = false;
            for (id, inode) in self.inodes.iter().enumerate() {
                let Kind::Dir(d) = &inode.kind else { continue };
                for (i, op) in d.pending[..picks[id].prefix].iter().enumerate() {
                    if let Some((dst, at)) = op.partner()
                        && self.dir_base(dst) + picks[dst].prefix <= at
                    {
                        picks[id].prefix = i;
                        changed = true;
                        break;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let Kind::Dir(root) = &self.inodes[self.root].kind else {
            unreachable!("root is checked to be a directory in Disk::new")
        };
        let mut state = State {
            root_mode: root.modes[picks[self.root].version],
            entries: BTreeMap::new(),
        };
        let mut ancestors = vec![self.root];
        self.walk(
            self.root,
            Path::new(""),
            &picks,
            &mut ancestors,
            &mut state.entries,
        );
        state
    }

    /// How many entry operations of directory `id` became durable before its pending ones.
    fn dir_base(&self, id: usize) -> usize {
        match &self.inodes[id].kind {
            Kind::Dir(d) => d.base,
            _ => unreachable!("a partner of a directory operation is a directory"),
        }
    }

    fn walk(
        &self,
        dir: usize,
        rel: &Path,
        picks: &[Pick],
        ancestors: &mut Vec<usize>,
        out: &mut BTreeMap<PathBuf, Entry>,
    ) {
        let Kind::Dir(d) = &self.inodes[dir].kind else {
            unreachable!("walk is only called on directories")
        };
        for (name, &child) in &d.entries_after(picks[dir].prefix) {
            let path = rel.join(name);
            let pick = picks[child];
            match &self.inodes[child].kind {
                Kind::File(versions) => {
                    let v = &versions[pick.version];
                    out.insert(
                        path,
                        Entry::File {
                            data: v.data.clone(),
                            mode: v.mode,
                            link_id: child,
                        },
                    );
                }
                Kind::Symlink(target) => {
                    out.insert(
                        path,
                        Entry::Symlink {
                            target: target.clone(),
                        },
                    );
                }
                Kind::Dir(sub) => {
                    if ancestors.contains(&child) {
                        continue; // a cycle made of independently reordered renames: drop it
                    }
                    out.insert(
                        path.clone(),
                        Entry::Dir {
                            mode: sub.modes[pick.version],
                        },
                    );
                    ancestors.push(child);
                    self.walk(child, &path, picks, ancestors, out);
                    ancestors.pop();
                }
            }
        }
    }
}

/// The crash states after the first `k` ops of `ops` (which must not exceed `ops.len()`): the
/// pessimistic state first, then up to `samples` distinct random ones drawn with `seed`.
/// See [`Disk`] to step through a long trace without re-applying every prefix.
pub fn crash_states(tree: &Tree, ops: &[Op], k: usize, samples: usize, seed: u64) -> Vec<State> {
    assert!(
        k <= ops.len(),
        "simdisk: crash point {k} beyond the {} ops of the trace",
        ops.len()
    );
    let mut disk = Disk::new(tree);
    ops[..k].iter().for_each(|op| disk.apply(op));
    disk.crash_states(samples, seed)
}

/// The model form of snapshot inode `ino` (`ids` maps inode numbers to model ids).
fn snapshot_kind(ino: u64, node: &Node, ids: &HashMap<u64, usize>) -> Kind {
    match node {
        Node::File { mode, data } => Kind::File(vec![FileVersion {
            data: data.clone(),
            mode: *mode,
        }]),
        Node::Dir { mode, entries } => {
            let entries = entries
                .iter()
                .map(|(name, child)| {
                    let id = ids.get(child).unwrap_or_else(|| {
                        panic!("simdisk: snapshot: {ino}/{name:?} is unknown inode {child}")
                    });
                    (name.clone(), *id)
                })
                .collect();
            Kind::Dir(DirInode::new(*mode, entries))
        }
        Node::Symlink { target } => Kind::Symlink(target.clone()),
    }
}

/// splitmix64: a tiny deterministic generator (no external crates).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n` is small, `n >= 1`).
    fn below(&mut self, n: usize) -> usize {
        // `n` fits in u64 and the result is below `n`, so both conversions are lossless.
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------------
// States
// ---------------------------------------------------------------------------------------------

/// An in-memory directory tree that can be [`materialise`]d: relative path -> entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Mode of the root directory itself.
    pub root_mode: u32,
    /// Every entry below the root, by relative path (parents sort before their children).
    pub entries: BTreeMap<PathBuf, Entry>,
}

/// One entry of a [`State`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A regular file; entries with the same `link_id` are hard links to one inode.
    File {
        data: Vec<u8>,
        mode: u32,
        link_id: usize,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
}

impl State {
    /// The regular files (relative path -> content and mode), for comparing states.
    pub fn files(&self) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
        self.entries
            .iter()
            .filter_map(|(path, entry)| match entry {
                Entry::File { data, mode, .. } => Some((path.clone(), (data.clone(), *mode))),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for State {
    /// One line per entry (`dir 0700 a`, `file 0600 12B a/b "preview…"`, `link a/c -> b`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "root {:04o}", self.root_mode)?;
        for (path, entry) in &self.entries {
            match entry {
                Entry::Dir { mode } => writeln!(f, "dir  {mode:04o} {}", path.display())?,
                Entry::File { data, mode, .. } => {
                    let preview = String::from_utf8_lossy(&data[..data.len().min(40)]);
                    let more = if data.len() > 40 { "…" } else { "" };
                    writeln!(
                        f,
                        "file {mode:04o} {}B {} {preview:?}{more}",
                        data.len(),
                        path.display()
                    )?;
                }
                Entry::Symlink { target } => {
                    writeln!(f, "link {} -> {}", path.display(), target.display())?
                }
            }
        }
        Ok(())
    }
}

/// Creates `dest` (which must not exist; its parent must) holding exactly `state`: files with
/// their content and mode (names sharing a `link_id` as real hard links), symlinks, and
/// directories with their modes (set last, deepest first, so read-only ones can be filled).
pub fn materialise(state: &State, dest: &Path) {
    let fail = |what: &str, path: &Path, e: std::io::Error| -> ! {
        panic!(
            "simdisk: materialise: cannot {what} {}: {e}",
            path.display()
        )
    };
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dest)
        .unwrap_or_else(|e| fail("create", dest, e));
    let mut first_name: HashMap<usize, PathBuf> = HashMap::new();
    for (rel, entry) in &state.entries {
        let path = dest.join(rel);
        match entry {
            Entry::Dir { .. } => fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .unwrap_or_else(|e| fail("create directory", &path, e)),
            Entry::File {
                data,
                mode,
                link_id,
            } => {
                if let Some(first) = first_name.get(link_id) {
                    fs::hard_link(first, &path).unwrap_or_else(|e| fail("hard-link", &path, e));
                } else {
                    fs::write(&path, data).unwrap_or_else(|e| fail("write", &path, e));
                    fs::set_permissions(&path, fs::Permissions::from_mode(*mode))
                        .unwrap_or_else(|e| fail("chmod", &path, e));
                    first_name.insert(*link_id, path);
                }
            }
            Entry::Symlink { target } => std::os::unix::fs::symlink(target, &path)
                .unwrap_or_else(|e| fail("symlink", &path, e)),
        }
    }
    let dirs = state
        .entries
        .iter()
        .rev()
        .filter_map(|(rel, entry)| match entry {
            Entry::Dir { mode } => Some((dest.join(rel), *mode)),
            _ => None,
        });
    for (path, mode) in dirs.chain([(dest.to_path_buf(), state.root_mode)]) {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| fail("chmod", &path, e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    /// Root (inode 1, 0700) holding file `a` (inode 2, 0600, "old") and empty directory `d`
    /// (inode 3, 0700).
    fn base() -> Tree {
        let root = Node::Dir {
            mode: 0o700,
            entries: [("a".into(), 2), ("d".into(), 3)].into_iter().collect(),
        };
        let a = Node::File {
            mode: 0o600,
            data: b"old".to_vec(),
        };
        let d = Node::Dir {
            mode: 0o700,
            entries: BTreeMap::new(),
        };
        Tree {
            root: 1,
            nodes: [(1, root), (2, a), (3, d)].into_iter().collect(),
            special: Vec::new(),
        }
    }

    fn run(tree: &Tree, trace: &str) -> Disk {
        let mut disk = Disk::new(tree);
        parse_trace(trace).iter().for_each(|op| disk.apply(op));
        disk
    }

    fn file(state: &State, path: &str) -> Option<(Vec<u8>, u32)> {
        state.files().get(Path::new(path)).cloned()
    }

    fn content(state: &State, path: &str) -> Option<String> {
        file(state, path).map(|(data, _)| String::from_utf8(data).expect("test data is UTF-8"))
    }

    /// The set of contents of `path` (None: absent) over all crash states.
    fn contents(states: &[State], path: &str) -> BTreeSet<Option<String>> {
        states.iter().map(|s| content(s, path)).collect()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    // "hello" = 68656c6c6f, "new" = 6e6577.

    #[test]
    fn write_without_fsync_is_lost() {
        let disk = run(&base(), r#"{"op":"write","ino":2,"off":0,"data":"6e6577"}"#);
        assert_eq!(content(&disk.pessimistic(), "a"), some("old"));
        assert_eq!(content(&disk.current(), "a"), some("new"));
        let disk = run(
            &base(),
            r#"{"op":"write","ino":2,"off":5,"data":"6e6577"}
               {"op":"fsync","ino":2}
               {"op":"truncate","ino":2,"len":4}
               {"op":"chmod","ino":2,"mode":420}"#,
        );
        assert_eq!(
            file(&disk.pessimistic(), "a"),
            Some((b"old\0\0new".to_vec(), 0o600))
        );
        assert_eq!(file(&disk.current(), "a"), Some((b"old\0".to_vec(), 0o644)));
        let modes: BTreeSet<_> = disk
            .crash_states(50, 7)
            .iter()
            .map(|s| file(s, "a"))
            .collect();
        assert!(
            modes.contains(&Some((b"old\0".to_vec(), 0o600))),
            "{modes:?}"
        );
    }

    #[test]
    fn new_file_without_dir_fsync_loses_its_name() {
        let trace = r#"{"op":"create","dir":1,"name":"b","ino":10,"mode":384}
                       {"op":"write","ino":10,"off":0,"data":"68656c6c6f"}
                       {"op":"fsync","ino":10}"#;
        let disk = run(&base(), trace);
        assert_eq!(content(&disk.pessimistic(), "b"), None);
        assert_eq!(file(&disk.current(), "b"), Some((b"hello".to_vec(), 0o600)));
        assert_eq!(
            contents(&disk.crash_states(20, 1), "b"),
            [None, some("hello")].into()
        );
    }

    #[test]
    fn dir_fsync_without_file_fsync_keeps_an_empty_file() {
        let trace = r#"{"op":"create","dir":1,"name":"b","ino":10,"mode":384}
                       {"op":"write","ino":10,"off":0,"data":"68656c6c6f"}
                       {"op":"fsync","ino":1}"#;
        let disk = run(&base(), trace);
        assert_eq!(file(&disk.pessimistic(), "b"), Some((Vec::new(), 0o600)));
        assert_eq!(
            contents(&disk.crash_states(20, 1), "b"),
            [some(""), some("hello")].into()
        );
    }

    #[test]
    fn rename_over_a_file_needs_a_dir_fsync() {
        let trace = r#"{"op":"create","dir":1,"name":"tmp","ino":10,"mode":384}
                       {"op":"write","ino":10,"off":0,"data":"6e6577"}
                       {"op":"fsync","ino":10}
                       {"op":"rename","from_dir":1,"from":"tmp","to_dir":1,"to":"a"}
                       {"op":"fsync","ino":1}"#;
        let (tree, ops) = (base(), parse_trace(trace));
        let states = crash_states(&tree, &ops, 4, 50, 3);
        assert_eq!(content(&states[0], "a"), some("old"));
        assert_eq!(content(&states[0], "tmp"), None);
        assert_eq!(contents(&states, "a"), [some("old"), some("new")].into());
        let states = crash_states(&tree, &ops, 5, 50, 3);
        assert_eq!(states.len(), 1, "everything is durable: one state");
        assert_eq!(content(&states[0], "a"), some("new"));
        assert_eq!(content(&states[0], "tmp"), None);
    }

    #[test]
    fn staged_directory_rename() {
        let trace = r#"{"op":"mkdir","dir":1,"name":"stage","ino":20,"mode":448}
                       {"op":"create","dir":20,"name":"f","ino":21,"mode":384}
                       {"op":"write","ino":21,"off":0,"data":"68656c6c6f"}
                       {"op":"fsync","ino":21}
                       {"op":"fsync","ino":20}
                       {"op":"fsync","ino":1}
                       {"op":"rename","from_dir":1,"from":"stage","to_dir":1,"to":"final"}
                       {"op":"fsync","ino":1}"#;
        let (tree, ops) = (base(), parse_trace(trace));
        assert_eq!(
            content(&crash_states(&tree, &ops, 5, 0, 0)[0], "stage/f"),
            None
        );
        assert_eq!(
            content(&crash_states(&tree, &ops, 6, 0, 0)[0], "stage/f"),
            some("hello")
        );
        let states = crash_states(&tree, &ops, 7, 50, 9);
        assert_eq!(content(&states[0], "stage/f"), some("hello"));
        assert_eq!(content(&states[0], "final/f"), None);
        assert_eq!(contents(&states, "final/f"), [None, some("hello")].into());
        for state in &states {
            // A rename within one directory is atomic: exactly one of the two names.
            assert!(
                content(state, "stage/f").is_some() != content(state, "final/f").is_some(),
                "{state}"
            );
        }
        let last = crash_states(&tree, &ops, 8, 0, 0);
        assert_eq!(content(&last[0], "final/f"), some("hello"));
        assert_eq!(
            last[0].entries.get(Path::new("final")),
            Some(&Entry::Dir { mode: 0o700 })
        );
        assert!(!last[0].entries.contains_key(Path::new("stage")));
    }

    #[test]
    fn cross_directory_rename_never_loses_the_object() {
        let disk = run(
            &base(),
            r#"{"op":"rename","from_dir":1,"from":"a","to_dir":3,"to":"a"}"#,
        );
        let pessimistic = disk.pessimistic();
        assert_eq!(
            (content(&pessimistic, "a"), content(&pessimistic, "d/a")),
            (some("old"), None)
        );
        let pairs: BTreeSet<_> = disk
            .crash_states(50, 5)
            .iter()
            .map(|s| (content(s, "a"), content(s, "d/a")))
            .collect();
        // Under both names is possible; under neither is not (the rename is one transaction
        // of a journaling filesystem).
        let expected = [
            (None, some("old")),
            (some("old"), None),
            (some("old"), some("old")),
        ];
        assert_eq!(pairs, expected.into());
    }

    #[test]
    fn cross_directory_rename_is_durable_with_its_source() {
        // The source directory's fsync commits the removal: the insertion came with it.
        let disk = run(
            &base(),
            r#"{"op":"rename","from_dir":1,"from":"a","to_dir":3,"to":"a"}
               {"op":"fsync","ino":1}"#,
        );
        for state in disk.crash_states(50, 5) {
            assert_eq!(
                (content(&state, "a"), content(&state, "d/a")),
                (None, some("old")),
                "{state}"
            );
        }
    }

    /// A staged directory `stage` (inode 20, holding f = "hello", all durable) exchanged with
    /// the empty directory `d`, as `ca install-ca` puts a new state directory in place.
    const EXCHANGE: &str = r#"{"op":"mkdir","dir":1,"name":"stage","ino":20,"mode":448}
        {"op":"create","dir":20,"name":"f","ino":21,"mode":384}
        {"op":"write","ino":21,"off":0,"data":"68656c6c6f"}
        {"op":"fsync","ino":21}
        {"op":"fsync","ino":20}
        {"op":"exchange","from_dir":1,"from":"stage","to_dir":1,"to":"d"}"#;

    /// (d/f, stage exists, stage/f) in a state.
    fn exchange_pairing(state: &State) -> (Option<String>, bool, Option<String>) {
        (
            content(state, "d/f"),
            state.entries.contains_key(Path::new("stage")),
            content(state, "stage/f"),
        )
    }

    #[test]
    fn exchange_without_dir_fsync_can_be_lost() {
        let disk = run(&base(), EXCHANGE);
        let pessimistic = disk.pessimistic();
        assert_eq!(exchange_pairing(&pessimistic), (None, false, None));
        assert!(pessimistic.entries.contains_key(Path::new("d")));
        let current = disk.current();
        assert_eq!(exchange_pairing(&current), (some("hello"), true, None));
        let pairings: BTreeSet<_> = disk
            .crash_states(100, 13)
            .iter()
            .map(exchange_pairing)
            .collect();
        // The old pair (stage not even created yet, or created with f), or the new pair (d
        // holds f, stage is the old empty d); never f under both names, never d missing.
        let expected = [
            (None, false, None),
            (None, true, some("hello")),
            (some("hello"), true, None),
        ];
        assert_eq!(pairings, expected.into());
    }

    #[test]
    fn exchange_is_durable_after_the_dir_fsync() {
        let trace = format!("{EXCHANGE}\n{{\"op\":\"fsync\",\"ino\":1}}");
        let disk = run(&base(), &trace);
        let states = disk.crash_states(50, 17);
        assert_eq!(states.len(), 1, "everything is durable: one state");
        assert_eq!(states[0], disk.current());
        assert_eq!(exchange_pairing(&states[0]), (some("hello"), true, None));
        assert_eq!(
            states[0].entries.get(Path::new("stage")),
            Some(&Entry::Dir { mode: 0o700 }),
            "the old d, empty"
        );
    }

    #[test]
    fn exchange_between_two_directories_keeps_a_pairing() {
        // d/x (inode 10, "new") is exchanged with a (inode 2, "old").
        let setup = r#"{"op":"create","dir":3,"name":"x","ino":10,"mode":384}
                       {"op":"write","ino":10,"off":0,"data":"6e6577"}
                       {"op":"fsync","ino":10}
                       {"op":"fsync","ino":3}
                       {"op":"exchange","from_dir":1,"from":"a","to_dir":3,"to":"x"}"#;
        let disk = run(&base(), setup);
        let pairs: BTreeSet<_> = disk
            .crash_states(100, 19)
            .iter()
            .map(|s| (content(s, "a"), content(s, "d/x")))
            .collect();
        assert_eq!(
            pairs,
            [(some("old"), some("new")), (some("new"), some("old"))].into()
        );
        // Either directory's fsync commits both halves (one transaction).
        for dir in [1, 3] {
            let trace = format!("{setup}\n{{\"op\":\"fsync\",\"ino\":{dir}}}");
            let disk = run(&base(), &trace);
            for state in disk.crash_states(50, 23) {
                assert_eq!(
                    (content(&state, "a"), content(&state, "d/x")),
                    (some("new"), some("old")),
                    "fsync of {dir}:\n{state}"
                );
            }
        }
    }

    #[test]
    fn hard_links() {
        let trace = r#"{"op":"create","dir":1,"name":"tmp","ino":10,"mode":384}
                       {"op":"write","ino":10,"off":0,"data":"6e6577"}
                       {"op":"fsync","ino":10}
                       {"op":"link","ino":10,"dir":1,"name":"b"}
                       {"op":"unlink","dir":1,"name":"tmp"}
                       {"op":"link","ino":2,"dir":3,"name":"a2"}
                       {"op":"fsync","ino":1}"#;
        let (tree, ops) = (base(), parse_trace(trace));
        let before = &crash_states(&tree, &ops, 6, 0, 0)[0];
        assert_eq!(content(before, "b"), None);
        assert_eq!(content(before, "tmp"), None);
        let disk = run(&tree, trace);
        let after = disk.pessimistic();
        assert_eq!(content(&after, "b"), some("new"));
        assert_eq!(content(&after, "tmp"), None);
        assert_eq!(content(&after, "d/a2"), None, "directory d was not fsynced");
        let current = disk.current();
        assert_eq!(content(&current, "d/a2"), some("old"));
        let link_id = |path: &str| match current.entries.get(Path::new(path)) {
            Some(Entry::File { link_id, .. }) => *link_id,
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(link_id("a"), link_id("d/a2"));
        let tmp = tempfile::tempdir().expect("tempdir");
        let dest = tmp.path().join("out");
        materialise(&current, &dest);
        let ino = |path: &str| lstat(&dest.join(path)).ino();
        assert_eq!(ino("a"), ino("d/a2"), "materialised as a real hard link");
        assert_ne!(ino("a"), ino("b"));
    }

    #[test]
    fn unlink_and_rmdir_need_a_dir_fsync() {
        let trace = r#"{"op":"unlink","dir":1,"name":"a"}
                       {"op":"rmdir","dir":1,"name":"d"}
                       {"op":"fsync","ino":1}"#;
        let (tree, ops) = (base(), parse_trace(trace));
        let before = &crash_states(&tree, &ops, 2, 0, 0)[0];
        assert_eq!(content(before, "a"), some("old"));
        assert!(before.entries.contains_key(Path::new("d")));
        let states = crash_states(&tree, &ops, 2, 50, 2);
        assert_eq!(contents(&states, "a"), [None, some("old")].into());
        let after = &crash_states(&tree, &ops, 3, 0, 0)[0];
        assert!(after.entries.is_empty(), "{after}");
    }

    #[test]
    fn syncfs_makes_everything_durable() {
        let trace = r#"{"op":"create","dir":3,"name":"b","ino":10,"mode":384}
                       {"op":"write","ino":10,"off":0,"data":"6e6577"}
                       {"op":"chmod","ino":3,"mode":493}
                       {"op":"syncfs"}"#;
        let disk = run(&base(), trace);
        assert_eq!(disk.pessimistic(), disk.current());
        assert_eq!(content(&disk.pessimistic(), "d/b"), some("new"));
        assert_eq!(
            disk.pessimistic().entries.get(Path::new("d")),
            Some(&Entry::Dir { mode: 0o755 })
        );
    }

    #[test]
    fn reused_inode_numbers_are_new_inodes() {
        let trace = r#"{"op":"create","dir":1,"name":"x","ino":10,"mode":384}
                       {"op":"fsync","ino":1}
                       {"op":"unlink","dir":1,"name":"x"}
                       {"op":"create","dir":1,"name":"y","ino":10,"mode":420}
                       {"op":"write","ino":10,"off":0,"data":"6e6577"}
                       {"op":"fsync","ino":10}"#;
        let disk = run(&base(), trace);
        assert_eq!(file(&disk.pessimistic(), "x"), Some((Vec::new(), 0o600)));
        assert_eq!(file(&disk.pessimistic(), "y"), None);
        assert_eq!(file(&disk.current(), "x"), None);
        assert_eq!(file(&disk.current(), "y"), Some((b"new".to_vec(), 0o644)));
    }

    #[test]
    #[should_panic(expected = "still linked")]
    fn reusing_a_linked_inode_number_panics() {
        run(
            &base(),
            r#"{"op":"create","dir":1,"name":"y","ino":2,"mode":384}"#,
        );
    }

    #[test]
    #[should_panic(expected = "unknown inode 99")]
    fn unknown_inode_panics() {
        run(&base(), r#"{"op":"fsync","ino":99}"#);
    }

    #[test]
    #[should_panic(expected = "unknown op")]
    fn unknown_op_panics() {
        parse_trace(r#"{"op":"frobnicate","ino":2}"#);
    }

    #[test]
    #[should_panic(expected = "not hex")]
    fn bad_hex_panics() {
        parse_trace(r#"{"op":"write","ino":2,"off":0,"data":"6g"}"#);
    }

    #[test]
    fn parse_every_op() {
        let trace = r#"{"op":"create","dir":1,"name":"x","ino":10,"mode":420}

            {"op":"mkdir","dir":1,"name":"y","ino":11,"mode":448}
            {"op":"write","ino":10,"off":3,"data":"00ffAb"}
            {"op":"truncate","ino":10,"len":2}
            {"op":"chmod","ino":10,"mode":384}
            {"op":"fsync","ino":11}
            {"op":"syncfs"}
            {"op":"rename","from_dir":1,"from":"x","to_dir":11,"to":"z"}
            {"op":"link","ino":10,"dir":1,"name":"w"}
            {"op":"unlink","dir":11,"name":"z"}
            {"op":"rmdir","dir":1,"name":"y"}
            {"op":"exchange","from_dir":1,"from":"w","to_dir":1,"to":"a"}
            {"op":"report"}"#;
        let ops = parse_trace(trace);
        assert_eq!(ops.len(), 13);
        assert_eq!(
            ops[2],
            Op::Write {
                ino: 10,
                off: 3,
                data: vec![0, 0xff, 0xab]
            }
        );
        assert_eq!(
            ops[7],
            Op::Rename {
                from_dir: 1,
                from: "x".into(),
                to_dir: 11,
                to: "z".into()
            }
        );
        assert_eq!(
            ops[11],
            Op::Exchange {
                from_dir: 1,
                from: "w".into(),
                to_dir: 1,
                to: "a".into()
            }
        );
        assert_eq!(report_index(&ops), Some(12));
        assert_eq!(report_index(&ops[..12]), None);
        let disk = run(&base(), trace);
        assert_eq!(file(&disk.current(), "a"), Some((vec![0, 0], 0o600)));
        assert_eq!(content(&disk.current(), "w"), some("old"));
    }

    #[test]
    fn cycles_from_reordered_renames_are_cut() {
        // x/y becomes y/x: the root may keep x while y (durable in x) already holds x.
        let trace = r#"{"op":"mkdir","dir":1,"name":"x","ino":20,"mode":448}
                       {"op":"mkdir","dir":20,"name":"y","ino":21,"mode":448}
                       {"op":"fsync","ino":20}
                       {"op":"fsync","ino":1}
                       {"op":"rename","from_dir":20,"from":"y","to_dir":1,"to":"y"}
                       {"op":"rename","from_dir":1,"from":"x","to_dir":21,"to":"x"}"#;
        let states = run(&base(), trace).crash_states(200, 11);
        // Root keeps x and gains y, x keeps y, y gains x: both x/y/x and y/x/y would be cycles.
        let has = |s: &State, p: &str| s.entries.contains_key(Path::new(p));
        assert!(
            states.iter().any(|s| has(s, "x/y") && has(s, "y/x")),
            "the cyclic configuration is among the states"
        );
        for state in &states {
            assert!(!has(state, "x/y/x") && !has(state, "y/x/y"), "{state}");
        }
    }

    #[test]
    fn crash_states_are_deterministic_and_distinct() {
        let trace = r#"{"op":"write","ino":2,"off":0,"data":"6e6577"}
                       {"op":"create","dir":3,"name":"b","ino":10,"mode":384}
                       {"op":"write","ino":10,"off":0,"data":"68656c6c6f"}"#;
        let (tree, ops) = (base(), parse_trace(trace));
        let states = crash_states(&tree, &ops, 3, 100, 42);
        assert_eq!(states, crash_states(&tree, &ops, 3, 100, 42));
        assert_eq!(states[0], run(&tree, trace).pessimistic());
        // a: old/new; d/b: absent/empty/hello.
        assert_eq!(states.len(), 6);
        for (i, s) in states.iter().enumerate() {
            assert!(!states[..i].contains(s));
        }
    }

    /// Sets permission bits on a real path.
    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn materialise_round_trip_with_modes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("x/ro")).expect("mkdir");
        fs::write(src.join("x/f"), "secret").expect("write");
        fs::write(src.join("x/ro/g"), "read only").expect("write");
        fs::write(src.join("pub"), "").expect("write");
        fs::hard_link(src.join("x/f"), src.join("f2")).expect("link");
        std::os::unix::fs::symlink("x/f", src.join("l")).expect("symlink");
        chmod(&src.join("x/f"), 0o600);
        chmod(&src.join("x/ro/g"), 0o400);
        chmod(&src.join("pub"), 0o644);
        chmod(&src.join("x/ro"), 0o500);
        chmod(&src.join("x"), 0o700);
        chmod(&src, 0o750);

        let state = capture(&src).state();
        assert_eq!(state.root_mode, 0o750);
        assert_eq!(file(&state, "x/f"), Some((b"secret".to_vec(), 0o600)));
        assert_eq!(
            state.entries.get(Path::new("l")),
            Some(&Entry::Symlink {
                target: "x/f".into()
            })
        );

        let dest = tmp.path().join("dest");
        materialise(&state, &dest);
        let copy = capture(&dest).state();
        assert_eq!(copy.files(), state.files());
        assert_eq!(
            copy.to_string(),
            state.to_string(),
            "same paths, kinds and modes"
        );
        assert_eq!(lstat(&dest).mode() & 0o7777, 0o750);
        assert_eq!(lstat(&dest.join("x/ro")).mode() & 0o7777, 0o500);
        assert_eq!(
            lstat(&dest.join("x/f")).ino(),
            lstat(&dest.join("f2")).ino()
        );
        chmod(&dest.join("x/ro"), 0o700); // let the temporary directory be removed
        chmod(&src.join("x/ro"), 0o700);
    }

    #[test]
    fn end_to_end_with_real_inodes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        fs::create_dir(&root).expect("mkdir");
        chmod(&root, 0o700);
        fs::write(root.join("a"), "old").expect("write");
        chmod(&root.join("a"), 0o600);
        let before = capture(&root);

        // The "command": write tmp, fsync it, rename it over a, fsync the directory, report.
        let ino = |path: &Path| lstat(path).ino();
        let tmp_file = root.join("tmp");
        fs::write(&tmp_file, "new").expect("write");
        chmod(&tmp_file, 0o600);
        fs::rename(&tmp_file, root.join("a")).expect("rename");
        let (dir, file_ino) = (ino(&root), ino(&root.join("a")));
        let trace: String = [
            json!({"op": "create", "dir": dir, "name": "tmp", "ino": file_ino, "mode": 0o600}),
            json!({"op": "write", "ino": file_ino, "off": 0, "data": "6e6577"}),
            json!({"op": "fsync", "ino": file_ino}),
            json!({"op": "rename", "from_dir": dir, "from": "tmp", "to_dir": dir, "to": "a"}),
            json!({"op": "fsync", "ino": dir}),
            json!({"op": "report"}),
        ]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect();
        let ops = parse_trace(&trace);
        let mut disk = Disk::new(&before);
        ops.iter().for_each(|op| disk.apply(op));
        assert_eq!(
            disk.current().files(),
            capture(&root).state().files(),
            "trace is complete"
        );

        let reported = report_index(&ops).expect("report op");
        for k in 0..=ops.len() {
            for (i, state) in crash_states(&before, &ops, k, 10, k as u64)
                .iter()
                .enumerate()
            {
                let dest = tmp.path().join(format!("crash-{k}-{i}"));
                materialise(state, &dest);
                let files = capture(&dest).state().files();
                assert_eq!(files, state.files());
                let a = files.get(Path::new("a")).map(|(data, _)| data.as_slice());
                if k > reported {
                    assert_eq!(a, Some(&b"new"[..]), "crash after {k} ops:\n{state}");
                } else {
                    assert!(
                        a == Some(b"old") || a == Some(b"new"),
                        "crash after {k} ops:\n{state}"
                    );
                }
            }
        }
    }
}
