//! Cluster DNS: each node agent answers its pods' DNS queries for
//! `<svc>.<ns>.svc.<domain>` (ClusterIP, or the ready endpoints of a
//! headless Service), `_<port>._<proto>.<svc>.<ns>.svc.<domain>` (SRV),
//! `<host>.<svc>.<ns>.svc.<domain>` (one headless endpoint) and
//! `<a-b-c-d>.<ns>.pod.<domain>`, from watch caches of Services and
//! Endpoints. It listens on UDP and TCP port 53 of the pod network's
//! gateway (the node's bridge address, which pods' `/etc/resolv.conf`
//! names). Names outside the cluster domain are forwarded to the
//! configured upstreams with a short timeout (SERVFAIL when none answers),
//! or answered NXDOMAIN at once when there are none: a pod never hangs on
//! a name nobody can answer.

mod listener;
mod names;
mod respond;
mod server;
mod upstream;
mod zone;

use std::net::SocketAddr;
use std::time::Duration;

pub use respond::{Reply, Responder};
pub use server::DnsServer;
pub use zone::{ClusterZone, Lookup, QueryType, RecordData};

/// Kubernetes' default cluster domain.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
/// Where pods look for DNS.
pub const DNS_PORT: u16 = 53;

/// The node's DNS server (`AgentConfig::dns`).
#[derive(Debug, Clone, PartialEq)]
pub struct DnsServerConfig {
    /// The zone answered, e.g. `cluster.local`.
    pub cluster_domain: String,
    /// Where to listen; `None`: port 53 of the pod network's gateway (the
    /// first address of the node's pod CIDR), following the pod CIDR.
    pub listen: Option<SocketAddr>,
    /// Names outside the cluster domain are forwarded here, in order;
    /// empty: they get NXDOMAIN at once (not REFUSED or SERVFAIL, which
    /// musl's resolver ignores or retries until it times out).
    pub upstreams: Vec<SocketAddr>,
    /// All upstreams together get this long to answer, then SERVFAIL.
    pub upstream_timeout: Duration,
    /// TTL of answers (and of negative answers, through the SOA).
    pub ttl: u32,
}

impl DnsServerConfig {
    /// The gateway address, no upstreams, CoreDNS's 5 s TTL.
    pub fn new(cluster_domain: impl Into<String>) -> DnsServerConfig {
        DnsServerConfig {
            cluster_domain: cluster_domain.into(),
            listen: None,
            upstreams: Vec::new(),
            upstream_timeout: Duration::from_secs(2),
            ttl: 5,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        validate_domain(&self.cluster_domain)?;
        if !self.upstreams.is_empty() && self.upstream_timeout.is_zero() {
            return Err("the DNS upstream timeout must be positive".into());
        }
        Ok(())
    }
}

impl Default for DnsServerConfig {
    fn default() -> DnsServerConfig {
        DnsServerConfig::new(DEFAULT_CLUSTER_DOMAIN)
    }
}

/// A domain such as `cluster.local`: dot-separated labels of 1 to 63
/// letters, digits and hyphens, not starting or ending with a hyphen.
pub fn validate_domain(domain: &str) -> Result<(), String> {
    let d = domain.trim_end_matches('.');
    let bad = |why: &str| Err(format!("invalid cluster domain {domain:?}: {why}"));
    if d.is_empty() {
        return bad("it is empty");
    }
    if d.len() > 253 {
        return bad("longer than 253 characters");
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each label must have 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("labels hold only letters, digits and '-'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label cannot start or end with '-'");
        }
    }
    Ok(())
}

/// The search path of a pod in `namespace`: `<ns>.svc.<d> svc.<d> <d>`.
pub fn search_path(namespace: &str, cluster_domain: &str) -> Vec<String> {
    let d = cluster_domain.trim_end_matches('.');
    vec![
        format!("{namespace}.svc.{d}"),
        format!("svc.{d}"),
        d.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked() {
        for good in ["cluster.local", "cluster.local.", "skiff-lab.test", "x"] {
            validate_domain(good).unwrap();
        }
        for bad in ["", ".", "a..b", "-a.b", "a_b.c", "a.b-", &"x".repeat(64)] {
            let err = validate_domain(bad).unwrap_err();
            assert!(err.contains("invalid cluster domain"), "{bad}: {err}");
        }
        let mut c = DnsServerConfig::default();
        c.validate().unwrap();
        c.upstreams.push("127.0.0.1:53".parse().unwrap());
        c.upstream_timeout = Duration::ZERO;
        assert!(c.validate().unwrap_err().contains("timeout"));
    }

    #[test]
    fn the_search_path_starts_with_the_namespace() {
        assert_eq!(
            search_path("shop", "cluster.local."),
            [
                "shop.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
    }
}
