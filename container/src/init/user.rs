//! Who the process runs as: `UserSpec` resolved against the container's own
//! `/etc/passwd` and `/etc/group` (never the host's).

use super::error::{Context, InitError};
use super::sys;
use crate::spec::UserSpec;

/// A line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// A line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parse `/etc/passwd`; malformed lines and comments are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || line.starts_with('#') {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// Parse `/etc/group`; malformed lines and comments are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || line.starts_with('#') {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members: f
                    .get(3)
                    .unwrap_or(&"")
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The ids the process gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: `additional_gids`, then the groups that list
    /// the user as a member.
    pub groups: Vec<u32>,
}

/// Resolve `spec` against the container's passwd and group files.
///
/// The pod's numeric `uid`/`gid` win; else `name` (`uid`, `uid:gid`,
/// `name`, `name:group`, `uid:group`, `name:gid`); else root. Without an
/// explicit group the user's primary group from passwd is used (0 if the
/// uid has no entry).
pub fn resolve(
    spec: &UserSpec,
    passwd: &[PasswdEntry],
    group: &[GroupEntry],
) -> Result<ResolvedUser, InitError> {
    let (user_part, group_part) = match spec.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => match name.split_once(':') {
            Some((u, g)) => (Some(u), Some(g)),
            None => (Some(name), None),
        },
        _ => (None, None),
    };

    let entry: Option<&PasswdEntry>;
    let uid = match (spec.uid, user_part) {
        (Some(uid), _) => {
            entry = passwd.iter().find(|e| e.uid == uid);
            uid
        }
        (None, Some(u)) if !u.is_empty() => match u.parse::<u32>() {
            Ok(uid) => {
                entry = passwd.iter().find(|e| e.uid == uid);
                uid
            }
            Err(_) => {
                let found = passwd.iter().find(|e| e.name == u).ok_or_else(|| {
                    InitError::invalid(format!(
                        "user {u:?} not found in the container's /etc/passwd"
                    ))
                })?;
                entry = Some(found);
                found.uid
            }
        },
        _ => {
            entry = passwd.iter().find(|e| e.uid == 0);
            0
        }
    };

    let gid = match (spec.gid, group_part) {
        (Some(gid), _) => gid,
        (None, Some(g)) if !g.is_empty() => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                group
                    .iter()
                    .find(|e| e.name == g)
                    .ok_or_else(|| {
                        InitError::invalid(format!(
                            "group {g:?} not found in the container's /etc/group"
                        ))
                    })?
                    .gid
            }
        },
        _ => entry.map_or(0, |e| e.gid),
    };

    let mut groups = Vec::new();
    let mut push = |gid: u32| {
        if !groups.contains(&gid) {
            groups.push(gid);
        }
    };
    spec.additional_gids.iter().copied().for_each(&mut push);
    if let Some(entry) = entry {
        group
            .iter()
            .filter(|g| g.members.contains(&entry.name))
            .for_each(|g| push(g.gid));
    }
    Ok(ResolvedUser { uid, gid, groups })
}

/// Read the container's `/etc/passwd` and `/etc/group` (missing files are
/// empty) and resolve `spec`. Call after `pivot_root`.
pub fn resolve_in_container(spec: &UserSpec) -> Result<ResolvedUser, InitError> {
    let read = |path: &str| match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(InitError::invalid(format!(
            "reading the container's {path}: {e}"
        ))),
    };
    let needs_files = spec.uid.is_none() || spec.gid.is_none();
    let (passwd, group) = if needs_files {
        (
            parse_passwd(&read("/etc/passwd")?),
            parse_group(&read("/etc/group")?),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    resolve(spec, &passwd, &group)
}

/// Become `user`, keeping the permitted capabilities across the uid change
/// (they are set explicitly right after).
pub fn switch_to(user: &ResolvedUser) -> Result<(), InitError> {
    sys::prctl(libc::PR_SET_KEEPCAPS, 1).context(|| "setting PR_SET_KEEPCAPS".to_string())?;
    // SAFETY: a valid slice of gids.
    if unsafe { libc::setgroups(user.groups.len(), user.groups.as_ptr()) } < 0 {
        return Err(InitError::sys(
            format!("setgroups({:?})", user.groups),
            super::error::Errno::last(),
        ));
    }
    // Raw syscalls: glibc's wrappers would broadcast to other threads.
    // SAFETY: integer arguments only.
    if unsafe { libc::syscall(libc::SYS_setresgid, user.gid, user.gid, user.gid) } < 0 {
        return Err(InitError::sys(
            format!("setresgid({})", user.gid),
            super::error::Errno::last(),
        ));
    }
    // SAFETY: integer arguments only.
    if unsafe { libc::syscall(libc::SYS_setresuid, user.uid, user.uid, user.uid) } < 0 {
        return Err(InitError::sys(
            format!("setresuid({})", user.uid),
            super::error::Errno::last(),
        ));
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 0).context(|| "clearing PR_SET_KEEPCAPS".to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        # comment\n\
        www:x:33:33:www-data:/var/www:/bin/false\n\
        app:x:1000:1001::/home/app:/bin/sh\n\
        broken line\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:app,other\napp:x:1001:\nvideo:x:44:www\n";

    fn user(uid: Option<u32>, gid: Option<u32>, name: Option<&str>) -> UserSpec {
        UserSpec {
            uid,
            gid,
            name: name.map(str::to_string),
            additional_gids: vec![],
        }
    }

    fn res(spec: &UserSpec) -> Result<ResolvedUser, InitError> {
        resolve(spec, &parse_passwd(PASSWD), &parse_group(GROUP))
    }

    #[test]
    fn files_parse_and_skip_junk() {
        let p = parse_passwd(PASSWD);
        assert_eq!(p.len(), 3);
        assert_eq!(p[2].name, "app");
        assert_eq!((p[2].uid, p[2].gid), (1000, 1001));
        assert_eq!(p[2].home, "/home/app");
        let g = parse_group(GROUP);
        assert_eq!(g[2].members, vec!["app", "other"]);
        assert!(g[0].members.is_empty());
    }

    #[test]
    fn default_is_root_with_roots_group() {
        assert_eq!(
            res(&UserSpec::default()).unwrap(),
            ResolvedUser {
                uid: 0,
                gid: 0,
                groups: vec![]
            }
        );
    }

    #[test]
    fn numeric_pod_ids_win_over_the_image_name() {
        let r = res(&user(Some(1000), None, Some("www"))).unwrap();
        // The primary group comes from passwd for that uid; app is in staff.
        assert_eq!(
            r,
            ResolvedUser {
                uid: 1000,
                gid: 1001,
                groups: vec![50]
            }
        );
        let r = res(&user(Some(4242), Some(7), Some("www"))).unwrap();
        assert_eq!(
            r,
            ResolvedUser {
                uid: 4242,
                gid: 7,
                groups: vec![]
            }
        );
        // A uid without an entry gets gid 0.
        assert_eq!(res(&user(Some(4242), None, None)).unwrap().gid, 0);
    }

    #[test]
    fn image_user_forms() {
        assert_eq!(res(&user(None, None, Some("www"))).unwrap().uid, 33);
        assert_eq!(
            res(&user(None, None, Some("www"))).unwrap().groups,
            vec![44]
        );
        let r = res(&user(None, None, Some("1000:50"))).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 50));
        let r = res(&user(None, None, Some("app:video"))).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 44));
        let r = res(&user(None, None, Some("500"))).unwrap();
        assert_eq!((r.uid, r.gid), (500, 0));
        let r = res(&user(None, Some(9), Some("app:video"))).unwrap();
        assert_eq!(r.gid, 9, "the pod's gid wins");
    }

    #[test]
    fn unknown_names_are_clear_errors() {
        let err = res(&user(None, None, Some("nginx"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user \"nginx\" not found in the container's /etc/passwd"
        );
        let err = res(&user(None, None, Some("app:wheel"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group \"wheel\" not found in the container's /etc/group"
        );
    }

    #[test]
    fn additional_gids_come_first_without_duplicates() {
        let mut spec = user(None, None, Some("app"));
        spec.additional_gids = vec![2000, 50];
        assert_eq!(res(&spec).unwrap().groups, vec![2000, 50]);
    }
}
