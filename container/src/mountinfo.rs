//! The one parser of `/proc/self/mountinfo`, shared by cgroup detection
//! (v1 controller mount points) and the pod sandbox (what to unmount).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) const PROC_MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of mountinfo, reduced to what skiff needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub super_options: String,
}

/// Every mount of the calling process's mount namespace, in mount order.
pub(crate) fn mounts() -> io::Result<Vec<Mount>> {
    let text = fs::read_to_string(PROC_MOUNTINFO)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {PROC_MOUNTINFO}: {e}")))?;
    Ok(parse(&text))
}

/// Every well-formed line of a mountinfo text; malformed lines are skipped.
pub(crate) fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`:
/// the mount point is field 5; after the optional fields and the `-`
/// come the fs type, the source and the super options.
fn parse_line(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let mount_point = fields.nth(4)?;
    let mut rest = fields.skip_while(|f| *f != "-");
    rest.next()?;
    let fs_type = rest.next()?;
    let _source = rest.next()?;
    let super_options = rest.next()?;
    Some(Mount {
        mount_point: PathBuf::from(unescape(mount_point)),
        fs_type: fs_type.to_string(),
        super_options: super_options.to_string(),
    })
}

/// The kernel writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is mounted on (the mountinfo way: some mount's point is
/// exactly `path`).
pub(crate) fn is_listed_mount_point(path: &Path) -> io::Result<bool> {
    Ok(mounts()?.iter().any(|m| m.mount_point == path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:4 net:[4026532200] /var/lib/skiff/pods/a/net rw shared:1 - nsfs nsfs rw
41 22 0:50 / /var/lib/skiff/pods/a/shm rw,nosuid - tmpfs shm rw,size=65536k,mode=1777
42 22 0:51 / /tmp/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_mount_points_types_and_super_options() {
        let mounts = parse(SAMPLE);
        assert_eq!(mounts.len(), 4);
        assert_eq!(
            mounts[1].mount_point,
            Path::new("/var/lib/skiff/pods/a/net")
        );
        assert_eq!(mounts[1].fs_type, "nsfs");
        assert_eq!(mounts[2].fs_type, "tmpfs");
        assert_eq!(mounts[2].super_options, "rw,size=65536k,mode=1777");
    }

    #[test]
    fn unescapes_octal_sequences() {
        let mounts = parse(SAMPLE);
        assert_eq!(mounts[3].mount_point, Path::new("/tmp/with space"));
        assert_eq!(unescape("a\\134b\\011c"), "a\\b\tc");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }

    #[test]
    fn skips_optional_fields_before_the_separator() {
        let line = "1 2 0:1 / /x rw shared:3 master:4 unbindable - proc proc rw";
        let mount = parse_line(line).unwrap();
        assert_eq!(mount.fs_type, "proc");
        assert_eq!(mount.mount_point, Path::new("/x"));
        assert_eq!(mount.super_options, "rw");
    }

    #[test]
    fn skips_lines_without_the_separator_or_its_fields() {
        assert_eq!(parse_line("1 2 0:1 / /x rw shared:3"), None);
        assert_eq!(parse_line("1 2 0:1 / /x rw - proc proc"), None);
        assert_eq!(parse_line("1 2 0:1"), None);
    }

    #[test]
    fn reads_this_process_mounts() {
        let mounts = mounts().unwrap();
        assert!(mounts.iter().any(|m| m.mount_point == Path::new("/")));
        assert!(is_listed_mount_point(Path::new("/proc")).unwrap());
        assert!(!is_listed_mount_point(Path::new("/proc/self")).unwrap());
    }
}
