//! Interfaces and their IPv4 addresses (`getifaddrs`), the default route's
//! interface, and the check that catches the classic VM trap: a node IP
//! that is not on the interface pod traffic will leave through.

use std::net::Ipv4Addr;

use super::cidr::Ipv4Cidr;

/// One IPv4 address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    pub iface: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub up: bool,
}

impl IfAddr {
    pub fn subnet(&self) -> Ipv4Cidr {
        Ipv4Cidr::new(self.addr, self.prefix)
    }
}

/// Every IPv4 address of every interface in this network namespace.
pub fn ipv4_addrs() -> std::io::Result<Vec<IfAddr>> {
    let mut out = Vec::new();
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cur = addrs;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr of the family it names.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in; so is its netmask.
        let addr = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let prefix = if ifa.ifa_netmask.is_null() {
            32
        } else {
            // SAFETY: as above.
            let m = unsafe { &*(ifa.ifa_netmask as *const libc::sockaddr_in) };
            u32::from_be(m.sin_addr.s_addr).count_ones() as u8
        };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        out.push(IfAddr {
            iface: name.to_string_lossy().into_owned(),
            addr: Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
            prefix,
            up: ifa.ifa_flags & libc::IFF_UP as u32 != 0,
        });
    }
    // SAFETY: the list came from getifaddrs.
    unsafe { libc::freeifaddrs(addrs) };
    Ok(out)
}

/// Whether an interface of that name exists here (with or without addresses).
pub fn exists(iface: &str) -> bool {
    // Not /sys/class/net: sysfs shows the netns it was mounted in, which
    // is not ours when the agent joined a node's netns by setns.
    let Ok(name) = std::ffi::CString::new(iface) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string; returns 0 when there is none.
    unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
}

/// The interface of the IPv4 default route (`/proc/net/route`), if any.
pub fn default_route_iface() -> Option<String> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_default_iface(&text)
}

fn parse_default_iface(route_table: &str) -> Option<String> {
    route_table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags ... Mask
        (cols.len() > 7 && cols[1] == "00000000" && cols[7] == "00000000")
            .then(|| cols[0].to_string())
    })
}

/// The subnets of `iface`'s IPv4 addresses.
pub fn subnets_of(iface: &str) -> std::io::Result<Vec<Ipv4Cidr>> {
    Ok(ipv4_addrs()?
        .into_iter()
        .filter(|a| a.iface == iface)
        .map(|a| a.subnet())
        .collect())
}

/// The node IP for `iface`: `node_ip` when the interface has it, else a
/// clear error naming both and what the interface does have; with no
/// `node_ip`, the interface's first IPv4 address.
pub fn node_ip_on(iface: &str, node_ip: Option<Ipv4Addr>) -> Result<Ipv4Addr, String> {
    let all = ipv4_addrs().map_err(|e| format!("listing network interfaces: {e}"))?;
    let on_iface: Vec<&IfAddr> = all.iter().filter(|a| a.iface == iface).collect();
    if on_iface.is_empty() {
        let names: std::collections::BTreeSet<&str> =
            all.iter().map(|a| a.iface.as_str()).collect();
        return Err(format!(
            "interface {iface:?} has no IPv4 address here (interfaces with one: {})",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    match node_ip {
        None => Ok(on_iface[0].addr),
        Some(ip) if on_iface.iter().any(|a| a.addr == ip) => Ok(ip),
        Some(ip) => {
            let owner = all.iter().find(|a| a.addr == ip).map(|a| a.iface.clone());
            let has: Vec<String> = on_iface.iter().map(|a| a.subnet().to_string()).collect();
            Err(match owner {
                Some(other) => format!(
                    "node IP {ip} is on interface {other}, not on {iface} ({iface} has {}): \
                     pass the interface other nodes reach this one through, or its address",
                    has.join(", ")
                ),
                None => format!(
                    "node IP {ip} is not an address of this machine ({iface} has {}): \
                     other nodes could not route pod traffic to it",
                    has.join(", ")
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let addrs = ipv4_addrs().unwrap();
        let lo = addrs
            .iter()
            .find(|a| a.addr == Ipv4Addr::LOCALHOST)
            .expect("127.0.0.1 on lo");
        assert_eq!(lo.prefix, 8);
        assert!(lo.up);
        assert!(exists(&lo.iface));
        assert!(!exists("no-such-if0"));
    }

    #[test]
    fn default_iface_from_the_route_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(parse_default_iface(table).as_deref(), Some("eth0"));
        assert_eq!(parse_default_iface("Iface\tDestination\n"), None);
    }

    #[test]
    fn a_node_ip_elsewhere_is_named() {
        let addrs = ipv4_addrs().unwrap();
        let lo = addrs
            .iter()
            .find(|a| a.addr == Ipv4Addr::LOCALHOST)
            .expect("127.0.0.1 on lo");
        assert_eq!(node_ip_on(&lo.iface, None).unwrap(), Ipv4Addr::LOCALHOST);
        let err = node_ip_on(&lo.iface, Some("203.0.113.9".parse().unwrap())).unwrap_err();
        assert!(
            err.contains("203.0.113.9") && err.contains("not an address"),
            "{err}"
        );
        let err = node_ip_on("no-such-if0", None).unwrap_err();
        assert!(err.contains("no-such-if0"), "{err}");
    }
}
