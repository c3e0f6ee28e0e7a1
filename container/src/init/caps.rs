//! Linux capabilities: names, the bounding set, and `capset`.
//!
//! The process keeps exactly the listed capabilities in its bounding,
//! permitted and effective sets; inheritable and ambient are always empty.

use super::error::{Context, Errno, InitError};
use super::sys;

pub use crate::spec::CAPABILITY_NAMES;

/// A set of capabilities as the kernel's 64-bit mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Parse names like `CAP_NET_ADMIN` (or `NET_ADMIN`, any case).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<CapSet, InitError> {
        let mut mask = 0u64;
        for name in names {
            let name = name.as_ref();
            let upper = name.trim().to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            let bit = CAPABILITY_NAMES
                .iter()
                .position(|known| *known == full)
                .ok_or_else(|| InitError::invalid(format!("unknown capability {name:?}")))?;
            mask |= 1 << bit;
        }
        Ok(CapSet(mask))
    }

    pub fn contains(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }
}

/// Drop every capability not in `keep` from the bounding set (needs
/// CAP_SETPCAP, so before the user switch). Returns the mask of the
/// capabilities this kernel knows.
pub fn limit_bounding_set(keep: CapSet) -> Result<CapSet, InitError> {
    let mut known = 0u64;
    for cap in 0..64u32 {
        match sys::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong) {
            Ok(_) => known |= 1 << cap,
            Err(Errno(libc::EINVAL)) => break,
            Err(errno) => {
                return Err(InitError::sys(
                    format!("reading bounding capability {cap}"),
                    errno,
                ));
            }
        }
        if !keep.contains(cap) {
            sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong)
                .context(|| format!("dropping {} from the bounding set", cap_name(cap)))?;
        }
    }
    Ok(CapSet(known))
}

fn cap_name(cap: u32) -> String {
    CAPABILITY_NAMES
        .get(cap as usize)
        .map_or_else(|| format!("capability {cap}"), |n| n.to_string())
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Set effective = permitted = `keep`, inheritable empty, ambient cleared.
pub fn set_process_caps(keep: CapSet) -> Result<(), InitError> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let low = keep.0 as u32;
    let high = (keep.0 >> 32) as u32;
    let data = [
        CapData {
            effective: low,
            permitted: low,
            inheritable: 0,
        },
        CapData {
            effective: high,
            permitted: high,
            inheritable: 0,
        },
    ];
    // SAFETY: header and two data structs as _LINUX_CAPABILITY_VERSION_3 wants.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if ret < 0 {
        return Err(InitError::sys(
            "setting capabilities (capset)",
            Errno::last(),
        ));
    }
    sys::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    )
    .context(|| "clearing ambient capabilities".to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_or_without_prefix() {
        let set = CapSet::parse(&["CAP_CHOWN", "net_bind_service", "CAP_SYS_ADMIN"]).unwrap();
        assert_eq!(set.0, (1 << 0) | (1 << 10) | (1 << 21));
        assert!(set.contains(21));
        assert!(!set.contains(13));
        assert_eq!(CapSet::parse::<&str>(&[]).unwrap(), CapSet(0));
        assert_eq!(
            CapSet::parse(&["CAP_CHECKPOINT_RESTORE"]).unwrap().0,
            1 << 40
        );
    }

    #[test]
    fn unknown_names_are_errors_that_name_them() {
        let err = CapSet::parse(&["CAP_CHOWN", "CAP_FLY"]).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability \"CAP_FLY\"");
    }

    #[test]
    fn default_set_parses() {
        let set = CapSet::parse(crate::spec::DEFAULT_CAPABILITIES).unwrap();
        assert_eq!(
            set.0.count_ones() as usize,
            crate::spec::DEFAULT_CAPABILITIES.len()
        );
        assert!(!set.contains(13), "NET_RAW is not in the default set");
    }
}
