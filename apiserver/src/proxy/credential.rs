//! What the API server presents to node agents: its proxy token
//! (`Security::proxy_token`) as `Authorization: Bearer`, on every request
//! it makes to them (logs, WebSocket exec, the agent side of SPDY exec).

use std::sync::Arc;

/// The bearer token; its `Debug` never shows it.
#[derive(Clone)]
pub struct AgentCredential(Arc<str>);

impl AgentCredential {
    pub fn new(token: &str) -> AgentCredential {
        AgentCredential(Arc::from(token))
    }

    /// The `Authorization` header's value.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl std::fmt::Debug for AgentCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentCredential(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_header_that_debug_hides() {
        let c = AgentCredential::new("s3cret");
        assert_eq!(c.authorization(), "Bearer s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
