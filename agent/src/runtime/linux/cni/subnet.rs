//! The node's pod CIDR: parsed, checked, and its gateway (the first host).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::CniError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Subnet {
    network: IpAddr,
    prefix: u8,
}

impl Subnet {
    pub(super) fn parse(text: &str) -> Result<Subnet, CniError> {
        let invalid = |why: &str| {
            CniError::InvalidConfig(format!(
                "pod subnet {text:?}: {why} (expected a CIDR such as 10.250.1.0/24)"
            ))
        };
        let (address, prefix) = text.split_once('/').ok_or_else(|| invalid("no /prefix"))?;
        let network: IpAddr = address.parse().map_err(|_| invalid("not an IP address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid("bad prefix length"))?;
        // Room for the network address, the gateway and at least one pod.
        let max_prefix = if network.is_ipv4() { 30 } else { 126 };
        if prefix > max_prefix {
            return Err(invalid(&format!("prefix longer than /{max_prefix}")));
        }
        let subnet = Subnet { network, prefix };
        if subnet.host_bits() != 0 {
            return Err(invalid(&format!(
                "host bits set; did you mean {}?",
                Subnet {
                    network: subnet.with_host(0),
                    prefix
                }
            )));
        }
        Ok(subnet)
    }

    /// The first host address: the bridge's, the pods' default gateway.
    pub(super) fn gateway(&self) -> IpAddr {
        self.with_host(1)
    }

    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        let other = Subnet {
            network: ip,
            prefix: self.prefix,
        };
        ip.is_ipv4() == self.network.is_ipv4() && other.with_host(0) == self.network
    }

    fn bits(&self) -> (u128, u32) {
        match self.network {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    }

    fn host_mask(&self) -> u128 {
        let (_, width) = self.bits();
        let host_len = width - u32::from(self.prefix);
        if host_len == 128 {
            u128::MAX
        } else {
            (1u128 << host_len) - 1
        }
    }

    fn host_bits(&self) -> u128 {
        self.bits().0 & self.host_mask()
    }

    /// The network address with `host` as its host part.
    fn with_host(&self, host: u128) -> IpAddr {
        let value = (self.bits().0 & !self.host_mask()) | host;
        match self.network {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_is_the_first_host() {
        let v4 = Subnet::parse("10.250.1.0/24").unwrap();
        assert_eq!(v4.gateway(), "10.250.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(v4.to_string(), "10.250.1.0/24");
        let v6 = Subnet::parse("fd00:10::/64").unwrap();
        assert_eq!(v6.gateway(), "fd00:10::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn contains_checks_the_network_part() {
        let subnet = Subnet::parse("10.250.1.0/24").unwrap();
        assert!(subnet.contains("10.250.1.77".parse().unwrap()));
        assert!(!subnet.contains("10.250.2.1".parse().unwrap()));
        assert!(!subnet.contains("fd00::1".parse().unwrap()));
    }

    #[test]
    fn bad_subnets_get_clear_errors() {
        let err = Subnet::parse("10.250.1.5/24").unwrap_err().to_string();
        assert!(err.contains("did you mean 10.250.1.0/24"), "{err}");
        for (bad, why) in [
            ("10.250.1.0", "no /prefix"),
            ("10.250.1/24", "not an IP address"),
            ("10.250.1.0/x", "bad prefix length"),
            ("10.250.1.0/31", "longer than /30"),
            ("", "no /prefix"),
        ] {
            let err = Subnet::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("pod subnet"), "{err}");
        }
    }
}
