//! A process identified by pid **and** start time, so that a recorded pid
//! that the kernel has since given to another process is not mistaken for
//! ours, and signals go through a pidfd opened on the verified process.

use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A pid plus its start time (clock ticks since boot, field 22 of
/// `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The identity of a live process, read from `/proc`.
    pub fn of(pid: i32) -> io::Result<ProcessIdentity> {
        let stat = read_stat(pid)?;
        Ok(ProcessIdentity {
            pid,
            start_time: stat.start_time,
        })
    }

    /// True if the pid still names this very process and it has not exited
    /// (zombies count as exited).
    pub fn is_alive(&self) -> bool {
        match read_stat(self.pid) {
            Ok(stat) => stat.start_time == self.start_time && !matches!(stat.state, 'Z' | 'X'),
            Err(_) => false,
        }
    }

    /// A pidfd on this process, checked after opening: once the start time
    /// matches, the pidfd cannot refer to any other process.
    pub fn open_pidfd(&self) -> io::Result<OwnedFd> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this fd and nothing else owns it.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        if !self.is_alive() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("process {} has exited", self.pid),
            ));
        }
        Ok(pidfd)
    }

    /// The on-disk form: `PID START_TIME`.
    pub fn to_record(self) -> String {
        format!("{} {}\n", self.pid, self.start_time)
    }

    pub fn parse_record(text: &str) -> Option<ProcessIdentity> {
        let mut parts = text.split_whitespace();
        let pid = parts.next()?.parse().ok()?;
        let start_time = parts.next()?.parse().ok()?;
        if parts.next().is_some() || pid <= 0 {
            return None;
        }
        Some(ProcessIdentity { pid, start_time })
    }
}

/// Sends `signal` through a pidfd (no pid-reuse race between check and kill).
pub fn send_signal(pidfd: &OwnedFd, signal: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a valid pidfd; no siginfo is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

struct Stat {
    state: char,
    start_time: u64,
}

fn read_stat(pid: i32) -> io::Result<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unparsable /proc/{pid}/stat"),
        )
    })
}

/// The command name (field 2) may hold spaces and parentheses: the fields
/// we want come after its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); start time is field 22.
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(Stat { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.start_time, 987654);
    }

    #[test]
    fn own_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessIdentity::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        let other = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.is_alive());
        assert!(other.open_pidfd().is_err());
    }

    #[test]
    fn record_round_trips_and_garbage_is_refused() {
        let id = ProcessIdentity {
            pid: 42,
            start_time: 7,
        };
        assert_eq!(ProcessIdentity::parse_record(&id.to_record()), Some(id));
        assert_eq!(ProcessIdentity::parse_record("42"), None);
        assert_eq!(ProcessIdentity::parse_record("x 1"), None);
        assert_eq!(ProcessIdentity::parse_record("1 2 3"), None);
    }
}
