//! IPv4 prefixes as node podCIDRs and `ip route` write them.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network, host bits cleared: `10.244.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// `a.b.c.d/n` (a bare address is a /32). Host bits are cleared, so
    /// `10.0.0.5/24` is `10.0.0.0/24`.
    pub fn parse(s: &str) -> Result<Ipv4Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a,
                p.parse::<u8>()
                    .map_err(|_| format!("invalid prefix length in {s:?}"))?,
            ),
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 CIDR"))?;
        if prefix > 32 {
            return Err(format!("invalid prefix length in {s:?}"));
        }
        Ok(Ipv4Cidr::new(addr, prefix))
    }

    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Cidr {
        Ipv4Cidr {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let c = Ipv4Cidr::parse("10.244.1.7/24").unwrap();
        assert_eq!(c.to_string(), "10.244.1.0/24");
        assert_eq!(
            Ipv4Cidr::parse("10.0.0.1").unwrap().to_string(),
            "10.0.0.1/32"
        );
        assert_eq!(Ipv4Cidr::parse("0.0.0.0/0").unwrap().prefix, 0);
        assert!(Ipv4Cidr::parse("10.0.0.0/33").is_err());
        assert!(Ipv4Cidr::parse("fd00::/64").is_err());
        assert!(Ipv4Cidr::parse("nope/8").is_err());
    }

    #[test]
    fn containment_and_overlap() {
        let a = Ipv4Cidr::parse("10.250.0.0/24").unwrap();
        assert!(a.contains("10.250.0.9".parse().unwrap()));
        assert!(!a.contains("10.250.1.9".parse().unwrap()));
        let b = Ipv4Cidr::parse("10.250.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&Ipv4Cidr::parse("10.244.0.0/16").unwrap()));
    }
}
