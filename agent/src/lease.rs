//! The node's heartbeat: its Lease `kube-node-lease/<node>`, renewed every
//! `lease_renew_interval` (a merge patch of `renewTime`: one request, no
//! conflicts), created with an owner reference to the Node when missing.
//! A paused heartbeat keeps its schedule but writes nothing.

use std::time::Duration;

use serde_json::json;
use skiff_api::coordination::{Lease, LeaseSpec};
use skiff_api::meta::{MicroTime, ObjectMeta, OwnerReference};
use skiff_client::runtime::Action;
use skiff_client::{Api, Patch};

use crate::engine::Engine;
use crate::node_state::NodeState;

pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

fn duration_seconds(node: &NodeState) -> i32 {
    node.config
        .lease_duration
        .as_secs()
        .clamp(1, i32::MAX as u64) as i32
}

/// The Lease a node creates.
pub fn new_lease(node: &NodeState, now: MicroTime) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.name.to_string()),
            namespace: Some(NODE_LEASE_NAMESPACE.into()),
            owner_references: node
                .uid()
                .map(|uid| OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.name.to_string(),
                    uid,
                    controller: None,
                    block_owner_deletion: None,
                })
                .into_iter()
                .collect(),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.name.to_string()),
            lease_duration_seconds: Some(duration_seconds(node)),
            renew_time: Some(now),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Renews (or creates) the Lease; says when to renew next.
pub async fn renew(engine: &Engine, node: &NodeState) -> anyhow::Result<Action> {
    if node.is_stopped() {
        return Ok(Action::Done);
    }
    let interval: Duration = node.config.lease_renew_interval;
    if node.heartbeat_paused() {
        return Ok(Action::RequeueAfter(interval));
    }
    let api: Api<Lease> = Api::namespaced(engine.client.clone(), NODE_LEASE_NAMESPACE);
    let now = MicroTime::now();
    let patch = json!({"spec": {
        "holderIdentity": node.name.as_ref(),
        "leaseDurationSeconds": duration_seconds(node),
        "renewTime": now,
    }});
    let _permit = engine.writes.acquire().await?;
    match api.patch(&node.name, &Patch::Merge(patch)).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => match api.create(&new_lease(node, now)).await {
            Ok(_) => {}
            // Created meanwhile (a previous agent): renewed on the retry.
            Err(e) => return Err(anyhow::Error::new(e).context("creating the node lease")),
        },
        Err(e) => return Err(anyhow::Error::new(e).context("renewing the node lease")),
    }
    Ok(Action::RequeueAfter(interval))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;
    use crate::runtime::hollow::HollowRuntime;
    use std::sync::Arc;

    #[test]
    fn leases_name_their_node() {
        let cfg = AgentConfig::new("n1", "10.0.0.1".parse().unwrap());
        let client = skiff_client::Client::from_server("http://127.0.0.1:9").unwrap();
        let node = NodeState::new(cfg, Arc::new(HollowRuntime::default()), client);
        let l = new_lease(&node, MicroTime::now());
        assert!(l.metadata.owner_references.is_empty(), "uid unknown yet");
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("n1"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        node.observe(&skiff_api::core::Node {
            metadata: ObjectMeta {
                uid: Some("u-9".into()),
                ..Default::default()
            },
            ..Default::default()
        });
        let l = new_lease(&node, MicroTime::now());
        assert_eq!(l.metadata.owner_references[0].uid, "u-9");
        assert_eq!(l.metadata.owner_references[0].kind, "Node");
    }
}
