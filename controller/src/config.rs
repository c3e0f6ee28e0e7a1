//! Every tunable of the controllers, with Kubernetes' defaults, and the
//! "lab profile" of a few seconds that tests and labs use.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Workers per controller.
    pub workers: usize,
    /// A node whose Lease was not renewed for this long is `Ready=Unknown`
    /// and tainted unreachable (Kubernetes: 40 s).
    pub node_monitor_grace_period: Duration,
    /// How often node health is checked (Kubernetes: 5 s).
    pub node_monitor_period: Duration,
    /// Toleration seconds given to pods without one for the
    /// not-ready/unreachable taints (Kubernetes: 300 s).
    pub default_toleration_seconds: i64,
    /// Pod evictions per second (Kubernetes: 0.1 per zone).
    pub eviction_rate_per_second: f64,
    /// Pods' network, carved into one podCIDR per node.
    pub cluster_cidr: String,
    /// Prefix length of each node's podCIDR.
    pub node_cidr_mask: u8,
    /// Deleting an owner with dependents: the garbage collector acts.
    pub garbage_collector: bool,
    /// The scheduler retries pods no node could take at least this often,
    /// even when nothing in the cluster changed (Kubernetes: 30 s).
    pub scheduler_retry_interval: Duration,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            workers: 4,
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            default_toleration_seconds: 300,
            eviction_rate_per_second: 0.1,
            cluster_cidr: "10.244.0.0/16".into(),
            node_cidr_mask: 24,
            garbage_collector: true,
            scheduler_retry_interval: Duration::from_secs(30),
        }
    }
}

impl ControllerConfig {
    /// Seconds instead of minutes, for tests and labs: a node is unknown
    /// after 4 s, its pods evicted 2 s later.
    pub fn lab_profile() -> ControllerConfig {
        ControllerConfig {
            node_monitor_grace_period: Duration::from_secs(4),
            node_monitor_period: Duration::from_millis(500),
            default_toleration_seconds: 2,
            eviction_rate_per_second: 100.0,
            scheduler_retry_interval: Duration::from_secs(2),
            ..ControllerConfig::default()
        }
    }
}
