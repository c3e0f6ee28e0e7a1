//! `ProxyConfig`: what a node's service proxy needs to know.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// The service proxy's settings (`AgentConfig::proxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The nftables table skiff owns on this node (`table ip <name>`);
    /// nothing else is ever touched.
    pub table: String,
    /// The API server's service CIDR: traffic to it that no Service port
    /// matches is rejected.
    pub service_cidr: String,
    /// The pod IPs of the whole cluster (validated; NodePort and
    /// external-IP traffic is masqueraded whatever its source).
    pub cluster_cidr: Option<String>,
    /// Changes arriving within this window go out as one transaction.
    pub debounce: Duration,
    pub nft_program: PathBuf,
    /// Whether `shutdown` removes the table. Off, Services keep answering
    /// while the agent restarts (as kube-proxy's rules stay).
    pub remove_on_shutdown: bool,
}

/// kube-proxy's and the API server's defaults.
pub const DEFAULT_PROXY_TABLE: &str = "skiff";
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            table: DEFAULT_PROXY_TABLE.into(),
            service_cidr: DEFAULT_SERVICE_CIDR.into(),
            cluster_cidr: None,
            debounce: Duration::from_millis(50),
            nft_program: "nft".into(),
            remove_on_shutdown: true,
        }
    }
}

impl ProxyConfig {
    /// Checks what nft would reject later, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.table;
        let good_name = !t.is_empty()
            && t.len() <= 64
            && t.starts_with(|c: char| c.is_ascii_alphabetic())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !good_name {
            return Err(format!(
                "proxy table name {t:?}: must be 1 to 64 letters, digits, '-' or '_', starting with a letter"
            ));
        }
        parse_ipv4_cidr(&self.service_cidr).map_err(|e| format!("service CIDR: {e}"))?;
        if let Some(cidr) = &self.cluster_cidr {
            parse_ipv4_cidr(cidr).map_err(|e| format!("cluster CIDR: {e}"))?;
        }
        Ok(())
    }
}

/// `a.b.c.d/n` with no host bits set.
pub fn parse_ipv4_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not an IPv4 CIDR like 10.96.0.0/12"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{text:?}: {addr:?} is not an IPv4 address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("{text:?}: prefix length {len:?} is not 0 to 32"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(addr) & !mask != 0 {
        return Err(format!("{text:?} has host bits set"));
    }
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_cidrs_are_named() {
        ProxyConfig::default().validate().unwrap();
        let mut c = ProxyConfig {
            table: "9lives".into(),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("table name"));
        c.table = "skiff-node1".into();
        c.service_cidr = "10.96.0.1/12".into();
        assert!(c.validate().unwrap_err().contains("host bits"));
        c.service_cidr = "10.96.0.0/12".into();
        c.cluster_cidr = Some("nope".into());
        assert!(c.validate().unwrap_err().starts_with("cluster CIDR"));
        assert_eq!(
            parse_ipv4_cidr("10.250.0.0/16"),
            Ok((Ipv4Addr::new(10, 250, 0, 0), 16))
        );
        assert!(parse_ipv4_cidr("10.0.0.0/33").is_err());
    }
}
