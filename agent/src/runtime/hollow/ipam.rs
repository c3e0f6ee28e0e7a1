//! Pod IPs of a hollow node: addresses of an IPv4 range handed out and
//! taken back, as CNI's host-local plugin does for real nodes. The network
//! address, the gateway (`.1`) and the broadcast address are never given.

use std::collections::HashSet;
use std::net::Ipv4Addr;

#[derive(Debug, Clone)]
pub struct Ipv4Pool {
    network: u32,
    /// Addresses in the range, network and broadcast included.
    size: u32,
    /// Offsets in use (memory follows the pods, not the range).
    used: HashSet<u32>,
    /// Where the next search starts: addresses are not reused at once.
    cursor: u32,
}

impl Ipv4Pool {
    /// `10.244.3.0/24`; prefixes /8 to /30.
    pub fn parse(cidr: &str) -> Result<Ipv4Pool, String> {
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR {cidr:?}: no prefix length"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|e| format!("invalid CIDR {cidr:?}: {e}"))?;
        let prefix: u32 = prefix
            .parse()
            .map_err(|e| format!("invalid CIDR {cidr:?}: {e}"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "invalid CIDR {cidr:?}: prefix must be between 8 and 30"
            ));
        }
        let size = 1u32 << (32 - prefix);
        let network = u32::from(addr) & !(size - 1);
        Ok(Ipv4Pool {
            network,
            size,
            used: HashSet::new(),
            cursor: FIRST,
        })
    }

    /// A free address, or `None` when the range is full.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let usable = self.size - FIRST - 1;
        for step in 0..usable {
            let offset = FIRST + (self.cursor - FIRST + step) % usable;
            if self.used.insert(offset) {
                self.cursor = FIRST + (offset - FIRST + 1) % usable;
                return Some(Ipv4Addr::from(self.network + offset));
            }
        }
        None
    }

    /// Gives `ip` back (an address outside the range is ignored).
    pub fn release(&mut self, ip: Ipv4Addr) {
        let ip = u32::from(ip);
        if ip >= self.network && ip < self.network + self.size {
            self.used.remove(&(ip - self.network));
        }
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// `.0` is the network, `.1` the gateway.
const FIRST: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_every_usable_address_once() {
        let mut p = Ipv4Pool::parse("10.244.3.0/29").unwrap();
        let got: Vec<_> = std::iter::from_fn(|| p.allocate()).collect();
        // .0 network, .1 gateway, .7 broadcast.
        let want: Vec<Ipv4Addr> = (2..=6).map(|i| Ipv4Addr::new(10, 244, 3, i)).collect();
        assert_eq!(got, want);
        assert_eq!(p.in_use(), 5);
        p.release(Ipv4Addr::new(10, 244, 3, 4));
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 244, 3, 4)));
        assert_eq!(p.allocate(), None);
    }

    #[test]
    fn released_addresses_are_not_reused_at_once() {
        let mut p = Ipv4Pool::parse("10.1.0.0/24").unwrap();
        let a = p.allocate().unwrap();
        p.release(a);
        let b = p.allocate().unwrap();
        assert_ne!(a, b);
        assert_eq!(b, Ipv4Addr::new(10, 1, 0, 3));
    }

    #[test]
    fn the_network_is_masked_and_bad_ranges_refused() {
        let mut p = Ipv4Pool::parse("10.9.8.77/24").unwrap();
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 9, 8, 2)));
        p.release(Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.in_use(), 1);
        for bad in [
            "10.0.0.0",
            "10.0.0.0/31",
            "10.0.0.0/4",
            "x/24",
            "10.0.0.0/y",
        ] {
            assert!(Ipv4Pool::parse(bad).is_err(), "{bad}");
        }
    }
}
