//! skiff-agent: the node agent (the kubelet's control half) and the hollow
//! runtime.
//!
//! - [`Agent::start`] runs one node: registers its Node (capacity,
//!   addresses, node info), renews its Lease, watches only its own pods and
//!   syncs each through a [`Runtime`]: sandbox, init then app containers,
//!   restarts with back-off (CrashLoopBackOff), graceful deletion, and the
//!   pod status the kubelet would write.
//! - [`start_hollow_fleet`] runs many nodes in one process over
//!   [`HollowRuntime`]s, sharing one watch and one worker pool.
//! - [`runtime`]: the seam between the agent and whatever runs containers.

mod agent;
pub mod config;
pub mod dns;
mod engine;
mod hollow_fleet;
mod lease;
mod node;
mod node_state;
mod pods;
pub mod proxy;
pub mod routes;
pub mod runtime;
pub mod server;

pub use agent::{Agent, AgentHandle};
pub use config::{AgentConfig, Backoff, Capacity, KUBELET_VERSION, PodEvents};
pub use dns::{DnsServer, DnsServerConfig};
pub use hollow_fleet::{
    FleetConfig, HOLLOW_LABEL, HollowFleet, HollowNode, hollow_fallback_cidr, hollow_node_ip,
    start_hollow_fleet,
};
pub use lease::NODE_LEASE_NAMESPACE;
pub use proxy::{ProxyConfig, ServiceProxy};
pub use runtime::hollow::{HOLLOW_RUNTIME_VERSION, HollowConfig, HollowRuntime};
pub use runtime::linux::{LINUX_RUNTIME_VERSION, LinuxRuntime, LinuxRuntimeConfig};
pub use runtime::{Runtime, RuntimeError, RuntimeEvent};
pub use server::AgentServer;
