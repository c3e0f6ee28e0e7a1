//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::watch_cache::WatchCache;

/// Knobs that are not part of the public `ServerConfig`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port` the server listens on (reported by discovery).
    pub server_address: String,
    pub max_body_bytes: usize,
    /// How often a watch that asked for bookmarks gets one when idle.
    pub bookmark_interval: Duration,
}

pub struct AppState {
    pub registry: Arc<Registry>,
    pub watch_cache: WatchCache,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    /// Becomes true when the server stops: open watches end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Injected faults (tests only).
    pub faults: Option<Arc<crate::faults::Faults>>,
    /// Token checks of a secured server (`None`: no listener needs them).
    pub(crate) auth: Option<Arc<crate::auth::Authenticator>>,
    /// Sent with every request to a node agent (a secured server's proxy token).
    pub(crate) agent_credential: Option<crate::proxy::AgentCredential>,
}
