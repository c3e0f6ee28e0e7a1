//! `net.ipv4.ip_forward` of the network namespace the caller is in (the
//! file under /proc/sys/net belongs to the opener's netns), and whether
//! that namespace is the host's.

use std::io;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The current value.
pub fn ip_forward() -> io::Result<bool> {
    Ok(std::fs::read_to_string(IP_FORWARD)?.trim() == "1")
}

/// Turns forwarding on (a node routing pod traffic needs it).
pub fn enable_ip_forward() -> io::Result<()> {
    std::fs::write(IP_FORWARD, "1")
}

/// Whether this thread runs in PID 1's network namespace (the host's);
/// `None` when PID 1's is not readable (inside a container).
pub fn in_host_netns() -> Option<bool> {
    let ours = std::fs::read_link("/proc/thread-self/ns/net").ok()?;
    let host = std::fs::read_link("/proc/1/ns/net").ok()?;
    Some(ours == host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_value() {
        // Either value is fine; reading must work on any Linux.
        ip_forward().unwrap();
    }
}
