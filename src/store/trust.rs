//! Whether a directory may be trusted as a state directory before fileca locks it: who
//! besides its owner could write it (SPEC.md HOSTILE-TRUST: the mode, a POSIX ACL, a group
//! that is not the owner's private group, an owner who is neither the user nor root), and
//! whether its filesystem's locks can be relied upon (a network filesystem). Reads only: the
//! verdicts go back to [`Session::open`](super::Session::open), which refuses or warns.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{
    AUDIT, Access, CERT, CERTS, CRL, CRLNUMBER, DirError, INDEX, INDEX_LOG, KEY, OpenOptions,
    SERIAL,
};
use crate::error::{Error, Result};
use crate::fsio;

/// Why a group that can write a state file is not the owner's private group (HOSTILE-TRUST).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPrivate {
    /// The group database does not know the gid.
    #[error("group {0} is unknown, so its members cannot be listed")]
    UnknownGroup(u32),
    /// The user database does not know the owner.
    #[error("the owner is an unknown user")]
    UnknownOwner,
    /// Users besides the owner are in the group.
    #[error("group {name} has other members: {}", others.join(", "))]
    OtherMembers { name: String, others: Vec<String> },
    /// Nobody is in the group (a setgid group).
    #[error("group {0} has no member")]
    NoMember(String),
}

/// Why the state directory cannot be trusted, as OpenSSH's StrictModes judges a `.ssh`
/// directory (SPEC.md HOSTILE-TRUST): the directory, `certs/` or a state file writable by others,
/// or by a group other than the owner's private group (gid equal to the owner's uid, the
/// user-private-group convention), or owned by neither the user running fileca nor root.
/// Each problem comes with the command that fixes it.
pub fn trust_problems(dir: &Path) -> Vec<String> {
    let me = fsio::uid();
    let mut out = Vec::new();
    // (gid, owner uid, verdict): the group of every file is usually the same.
    let mut groups: Vec<(u32, u32, std::result::Result<(), NotPrivate>)> = Vec::new();
    let files = [CERT, CRL, SERIAL, CRLNUMBER, INDEX, INDEX_LOG, AUDIT, KEY];
    let all = [(".", true), (CERTS, true)]
        .into_iter()
        .chain(files.into_iter().map(|f| (f, false)));
    for (rel, is_dir) in all {
        let path = if rel == "." {
            dir.to_path_buf()
        } else {
            dir.join(rel)
        };
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = m.mode() & 0o7777;
        let shown = crate::term::escape(&path.display().to_string());
        let group_problem = if mode & 0o020 != 0 && mode & 0o002 == 0 {
            let (gid, uid) = (m.gid(), m.uid());
            let known = groups.iter().find(|(g, u, _)| *g == gid && *u == uid);
            let verdict = match known {
                Some((_, _, v)) => v.clone(),
                None => {
                    let v = private_group(gid, uid);
                    groups.push((gid, uid, v.clone()));
                    v
                }
            };
            verdict.err()
        } else {
            None
        };
        if mode & 0o002 != 0 || group_problem.is_some() {
            let fixed = if is_dir { mode & !0o022 } else { mode & !0o077 };
            let by = match &group_problem {
                None => "every user".to_string(),
                Some(why) => format!("its group ({why})"),
            };
            out.push(format!(
                "{shown} is writable by {by} (mode {mode:o}); run: chmod {fixed:o} {shown}"
            ));
        }
        if let Some(writers) = acl_writers(&path) {
            out.push(format!(
                "{shown} has an access control list that lets {writers} write it; run: setfacl \
                 -b {shown}"
            ));
        }
        if m.uid() != me && m.uid() != 0 {
            out.push(format!(
                "{shown} belongs to uid {}, not to you (uid {me}) or root; run fileca as its \
                 owner (sudo -u '#{}' ca …), or: chown {me} {shown}",
                m.uid(),
                m.uid()
            ));
        }
    }
    out
}

/// Who, besides the owner, an extended POSIX ACL (`system.posix_acl_access`) on `path` lets
/// write (HOSTILE-TRUST): named users and groups with the write bit, when the mask allows it.
/// The mode's group bits show only the mask, so the mode check alone misses them. None when
/// there is no such ACL (or the filesystem has none).
fn acl_writers(path: &Path) -> Option<String> {
    let mut buf = [0u8; 4096];
    let n = rustix::fs::lgetxattr(path, "system.posix_acl_access", &mut buf[..]).ok()?;
    acl_writers_of(&buf[..n])
}

/// [`acl_writers`] over the xattr's bytes: a little-endian version 2 header, then entries of
/// (tag u16, perm u16, id u32).
fn acl_writers_of(bytes: &[u8]) -> Option<String> {
    const USER: u16 = 0x02;
    const GROUP: u16 = 0x08;
    const MASK: u16 = 0x10;
    const WRITE: u16 = 0x02;
    let entries: Vec<(u16, u16, u32)> = bytes
        .get(4..)?
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect();
    let mask_writes = entries
        .iter()
        .find(|(tag, _, _)| *tag == MASK)
        .is_none_or(|(_, perm, _)| perm & WRITE != 0);
    let writers: Vec<String> = entries
        .iter()
        .filter(|(tag, perm, _)| (*tag == USER || *tag == GROUP) && perm & WRITE != 0)
        .map(|(tag, _, id)| match *tag {
            USER => format!("uid {id}"),
            _ => format!("gid {id}"),
        })
        .collect();
    (mask_writes && !writers.is_empty()).then(|| writers.join(", "))
}

/// Is `gid` the private group of the user `uid` (HOSTILE-TRUST), as Debian's OpenSSH
/// (`user-group-modes`) decides it: the group exists, and its only member — by primary group
/// or listed in the group — is that user. Upstream OpenSSH refuses any group write; the
/// user-private-group convention (umask 002) is why fileca accepts this one case. When the
/// members cannot be listed (the group or the user is unknown) it is not private.
fn private_group(gid: u32, uid: u32) -> std::result::Result<(), NotPrivate> {
    use uzers::os::unix::GroupExt;
    let group = uzers::get_group_by_gid(gid);
    let owner = uzers::get_user_by_uid(uid);
    // SAFETY: getpwent(3) walks a process-wide cursor; fileca reads it here, before any
    // thread of its own is started, and nothing else in the process uses it.
    #[allow(unsafe_code)]
    let primary: Vec<(u32, String)> = match &group {
        Some(_) => unsafe { uzers::all_users() }
            .filter(|u| u.primary_group_id() == gid)
            .map(|u| (u.uid(), u.name().to_string_lossy().into_owned()))
            .collect(),
        None => Vec::new(),
    };
    let name = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    group_verdict(
        gid,
        owner.as_ref().map(|o| (uid, name(o.name()))),
        group.as_ref().map(|g| {
            (
                name(g.name()),
                g.members().iter().map(|m| name(m)).collect(),
            )
        }),
        &primary,
    )
}

/// [`private_group`]'s rule over what the user and group databases say: the owner (uid,
/// name), the group (name, listed members), the users whose primary group it is.
fn group_verdict(
    gid: u32,
    owner: Option<(u32, String)>,
    group: Option<(String, Vec<String>)>,
    primary: &[(u32, String)],
) -> std::result::Result<(), NotPrivate> {
    let Some((name, members)) = group else {
        return Err(NotPrivate::UnknownGroup(gid));
    };
    let Some((uid, owner)) = owner else {
        return Err(NotPrivate::UnknownOwner);
    };
    let others: Vec<&str> = members
        .iter()
        .filter(|m| **m != owner)
        .map(String::as_str)
        .chain(
            primary
                .iter()
                .filter(|(u, _)| *u != uid)
                .map(|(_, n)| n.as_str()),
        )
        .collect();
    if !others.is_empty() {
        return Err(NotPrivate::OtherMembers {
            name,
            others: others.into_iter().map(String::from).collect(),
        });
    }
    if members.is_empty() && !primary.iter().any(|(u, _)| *u == uid) {
        return Err(NotPrivate::NoMember(name));
    }
    Ok(())
}

/// flock is unreliable on network filesystems: refuse mutations there unless told otherwise.
pub(super) fn check_filesystem(dir: &Path, access: Access, opts: &OpenOptions) -> Result<()> {
    let Some(kind) = network_fs_kind(dir) else {
        return Ok(());
    };
    if opts.allow_network_fs {
        return Ok(());
    }
    if access == Access::Read {
        crate::term::warn(&format!(
            "warning: {} is on {kind}, where file locks are unreliable",
            dir.display()
        ));
        return Ok(());
    }
    Err(Error::state(dir, DirError::NetworkFs(kind)))
}

/// The kind of network filesystem `dir` is on, if it is on one.
pub fn network_fs_kind(dir: &Path) -> Option<&'static str> {
    let st = rustix::fs::statfs(dir).ok()?;
    network_fs_name(st.f_type as i64)
}

/// Maps a statfs magic number to the name of a network filesystem.
pub fn network_fs_name(magic: i64) -> Option<&'static str> {
    match magic {
        0x6969 => Some("NFS"),
        0xFF53_4D42 => Some("CIFS"),
        0xFE53_4D42 => Some("SMB2"),
        0x517B => Some("SMB"),
        0x6573_5546 => Some("FUSE"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_network_filesystems() {
        assert_eq!(network_fs_name(0x6969), Some("NFS"));
        assert_eq!(network_fs_name(0xEF53), None); // ext4
        assert_eq!(network_fs_name(0x0102_1994), None); // tmpfs
    }

    #[test]
    fn an_acl_granting_write_to_another_user_is_found_hostile_trust() {
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut e = tag.to_le_bytes().to_vec();
            e.extend(perm.to_le_bytes());
            e.extend(id.to_le_bytes());
            e
        };
        let acl = |entries: &[Vec<u8>]| {
            let mut b = 2u32.to_le_bytes().to_vec();
            for e in entries {
                b.extend(e);
            }
            b
        };
        let base = [
            entry(1, 7, u32::MAX),
            entry(4, 5, u32::MAX),
            entry(0x20, 5, u32::MAX),
        ];
        // user:nobody:rwx with mask rwx: nobody can write.
        let mut with = base.to_vec();
        with.push(entry(2, 7, 65534));
        with.push(entry(0x10, 7, u32::MAX));
        assert_eq!(acl_writers_of(&acl(&with)).as_deref(), Some("uid 65534"));
        // The same entry under a read-only mask: no write.
        let mut masked = base.to_vec();
        masked.push(entry(2, 7, 65534));
        masked.push(entry(0x10, 5, u32::MAX));
        assert_eq!(acl_writers_of(&acl(&masked)), None);
        // group:staff:r-x: no write.
        let mut read_only = base.to_vec();
        read_only.push(entry(8, 5, 50));
        read_only.push(entry(0x10, 7, u32::MAX));
        assert_eq!(acl_writers_of(&acl(&read_only)), None);
        assert_eq!(acl_writers_of(&[]), None);
    }

    #[test]
    fn a_group_is_private_only_with_the_owner_as_its_one_member_hostile_trust() {
        let alice = Some((1000, "alice".to_string()));
        let group = |members: &[&str]| {
            Some((
                "alice".to_string(),
                members.iter().map(|m| m.to_string()).collect(),
            ))
        };
        let primary_alice = [(1000, "alice".to_string())];
        // The user-private group: alice's primary group, nobody else in it.
        assert!(group_verdict(1000, alice.clone(), group(&[]), &primary_alice).is_ok());
        assert!(group_verdict(1000, alice.clone(), group(&["alice"]), &primary_alice).is_ok());
        // Listed by name only (a supplementary group of alice's alone).
        assert!(group_verdict(1000, alice.clone(), group(&["alice"]), &[]).is_ok());
        // gid equal to uid is not enough: another member makes it shared.
        let e = group_verdict(1000, alice.clone(), group(&["bob"]), &primary_alice).unwrap_err();
        assert!(e.to_string().contains("other members: bob"), "{e}");
        let e = group_verdict(
            1000,
            alice.clone(),
            group(&[]),
            &[(1000, "alice".into()), (1001, "mallory".into())],
        )
        .unwrap_err();
        assert!(e.to_string().contains("mallory"), "{e}");
        // No member at all (a setgid group), an unknown group or owner: not private.
        assert!(group_verdict(50, alice.clone(), group(&[]), &[]).is_err());
        assert!(group_verdict(1000, alice, None, &primary_alice).is_err());
        assert!(group_verdict(1000, None, group(&[]), &primary_alice).is_err());
    }
}
