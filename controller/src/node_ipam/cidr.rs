//! IPv4 CIDR arithmetic and the set of node subnets carved out of the
//! cluster CIDR: parse, the i-th subnet, which subnet a CIDR is, and
//! lowest-free allocation (so a released subnet is the next one handed out).

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network: `10.244.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; host bits set in the address are an error, as
    /// in Go's `net.ParseCIDR` users that check `ip.Equal(net.IP)`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR {text:?}: no prefix length"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("invalid CIDR {text:?}: not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("invalid CIDR {text:?}: bad prefix length"))?;
        let base = u32::from(addr);
        if base & !mask(prefix) != 0 {
            return Err(format!("invalid CIDR {text:?}: host bits are set"));
        }
        Ok(Cidr { base, prefix })
    }

    fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && other.base & mask(self.prefix) == self.base
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// The netmask of a prefix length.
fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

/// The node subnets of a cluster CIDR and which of them are taken.
#[derive(Debug, Clone)]
pub struct SubnetSet {
    cluster: Cidr,
    node_prefix: u8,
    /// Number of subnets (capped: nobody runs more nodes than this).
    size: u32,
    used: BTreeSet<u32>,
}

/// More subnets than any cluster has nodes; keeps `size` in a `u32`.
const MAX_SUBNETS: u32 = 1 << 24;

impl SubnetSet {
    pub fn new(cluster_cidr: &str, node_prefix: u8) -> Result<SubnetSet, String> {
        let cluster = Cidr::parse(cluster_cidr)?;
        if node_prefix < cluster.prefix || node_prefix > 32 {
            return Err(format!(
                "node CIDR mask /{node_prefix} does not fit in the cluster CIDR {cluster}"
            ));
        }
        let bits = u32::from(node_prefix - cluster.prefix);
        let size = if bits >= 24 { MAX_SUBNETS } else { 1 << bits };
        Ok(SubnetSet {
            cluster,
            node_prefix,
            size,
            used: BTreeSet::new(),
        })
    }

    /// The `index`-th subnet.
    pub fn subnet(&self, index: u32) -> Cidr {
        let step = match self.node_prefix {
            32 => 1,
            p => 1u32 << (32 - u32::from(p)),
        };
        Cidr {
            base: self.cluster.base + index * step,
            prefix: self.node_prefix,
        }
    }

    /// Which subnet `cidr` is, when it is exactly one of ours.
    pub fn index_of(&self, cidr: &str) -> Option<u32> {
        let c = Cidr::parse(cidr).ok()?;
        if c.prefix != self.node_prefix || !self.cluster.contains(&c) {
            return None;
        }
        let index = match self.node_prefix {
            32 => c.base - self.cluster.base,
            p => (c.base - self.cluster.base) >> (32 - u32::from(p)),
        };
        (index < self.size).then_some(index)
    }

    /// Marks `index` taken; false when it already was.
    pub fn occupy(&mut self, index: u32) -> bool {
        self.used.insert(index)
    }

    pub fn release(&mut self, index: u32) {
        self.used.remove(&index);
    }

    pub fn is_used(&self, index: u32) -> bool {
        self.used.contains(&index)
    }

    /// Takes the lowest free subnet; `None` when all are taken.
    pub fn allocate(&mut self) -> Option<u32> {
        // The lowest gap in the sorted used set.
        let mut candidate = 0;
        for &u in &self.used {
            if u != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate < self.size).then(|| {
            self.used.insert(candidate);
            candidate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let c = Cidr::parse("10.244.0.0/16").unwrap();
        assert_eq!(c.to_string(), "10.244.0.0/16");
        assert!(Cidr::parse("10.244.0.1/16").is_err());
        assert!(Cidr::parse("10.244.0.0/33").is_err());
        assert!(Cidr::parse("10.244.0.0").is_err());
        assert!(Cidr::parse("fd00::/64").is_err());
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().base, 0);
    }

    #[test]
    fn carves_subnets_lowest_first_and_reuses_released_ones() {
        let mut set = SubnetSet::new("10.244.0.0/16", 24).unwrap();
        assert_eq!(set.subnet(0).to_string(), "10.244.0.0/24");
        assert_eq!(set.subnet(255).to_string(), "10.244.255.0/24");
        let a = set.allocate().unwrap();
        let b = set.allocate().unwrap();
        let c = set.allocate().unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        set.release(1);
        assert_eq!(set.allocate(), Some(1));
        assert_eq!(set.allocate(), Some(3));
        assert_eq!(set.index_of("10.244.7.0/24"), Some(7));
        assert_eq!(set.index_of("10.245.7.0/24"), None);
        assert_eq!(set.index_of("10.244.7.0/25"), None);
    }

    #[test]
    fn runs_out() {
        let mut set = SubnetSet::new("10.0.0.0/30", 31).unwrap();
        assert_eq!(set.allocate(), Some(0));
        assert_eq!(set.allocate(), Some(1));
        assert_eq!(set.allocate(), None);
        assert!(!set.occupy(0));
        assert!(SubnetSet::new("10.0.0.0/24", 16).is_err());
        let whole = SubnetSet::new("10.0.0.0/8", 32).unwrap();
        assert_eq!(whole.subnet(5).to_string(), "10.0.0.5/32");
        assert_eq!(whole.index_of("10.0.1.0/32"), Some(256));
    }
}
