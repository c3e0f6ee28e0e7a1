//! The service proxy (kube-proxy's role): from Services and Endpoints, one
//! nftables table per node that DNATs ClusterIPs, NodePorts, external and
//! load-balancer IPs to ready endpoints. See [`script`] for the rules.
//!
//! [`ServiceProxy::start`] lists and watches both kinds, replaces the table
//! at once (a full resync, of its own table only), then applies each burst
//! of changes (coalesced over `debounce`) as one incremental transaction
//! that touches only the chains and elements of the Services that changed.

mod config;
pub mod model;
pub mod nft;
pub mod script;
mod sync;

pub use config::{DEFAULT_PROXY_TABLE, DEFAULT_SERVICE_CIDR, ProxyConfig, parse_ipv4_cidr};
pub use model::{ServicePortRules, service_rules};
pub use nft::{Nft, NftError};
pub use script::{Objects, TableSettings};
pub use sync::{ProxyState, ServiceProxy};
