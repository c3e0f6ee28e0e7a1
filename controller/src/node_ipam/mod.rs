//! podCIDR allocation: every Node gets `spec.podCIDR` (and `podCIDRs`), a
//! `/node_cidr_mask` subnet of `cluster_cidr`, and gives it back when it is
//! deleted. Which subnets are taken is rebuilt from the Nodes at start, so
//! a restarted controller never hands out a subnet twice.

mod cidr;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::json;
use skiff_api::core::Node;
use skiff_client::runtime::{Action, Controller, WorkQueue};
use skiff_client::{Api, EventType, Patch};
use tokio::task::JoinSet;

pub use cidr::{Cidr, SubnetSet};

use crate::context::Context;
use crate::run::CONFLICT_RETRY;

/// Starts the allocator (a no-op, logged, when the configured CIDRs are invalid).
pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let queue: WorkQueue<String> = WorkQueue::new();
    ctx.informers.nodes.on_event({
        let queue = queue.clone();
        move |event| {
            for node in event.objects() {
                queue.add(node.metadata.name_str().to_string());
            }
        }
    });
    let ctx = ctx.clone();
    tasks.spawn(async move {
        let subnets = match SubnetSet::new(&ctx.config.cluster_cidr, ctx.config.node_cidr_mask) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "node IPAM disabled: bad cluster CIDR");
                return;
            }
        };
        ctx.informers.wait_synced().await;
        let allocator = Arc::new(Allocator::rebuild(
            subnets,
            &ctx.informers.nodes.cache.list(),
        ));
        let run_queue = queue.clone();
        Controller::new(queue)
            .named("node-ipam")
            .run(ctx.config.workers, move |name: String| {
                let (ctx, allocator, queue) = (ctx.clone(), allocator.clone(), run_queue.clone());
                async move { reconcile(&ctx, &allocator, &queue, &name).await }
            })
            .await;
    });
}

/// Which subnet each node holds.
struct Allocator {
    state: Mutex<State>,
}

struct State {
    subnets: SubnetSet,
    by_node: HashMap<String, u32>,
}

impl Allocator {
    /// Takes the subnets the existing Nodes already hold.
    fn rebuild(subnets: SubnetSet, nodes: &[Arc<Node>]) -> Allocator {
        let mut state = State {
            subnets,
            by_node: HashMap::new(),
        };
        for node in nodes {
            let name = node.metadata.name_str();
            if let Some(index) = pod_cidr(node).and_then(|c| state.subnets.index_of(c)) {
                if state.subnets.occupy(index) {
                    state.by_node.insert(name.to_string(), index);
                } else {
                    tracing::warn!(
                        node = name,
                        cidr = pod_cidr(node),
                        "podCIDR already held by another node"
                    );
                }
            }
        }
        Allocator {
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `node` holds `index` (what it says in its spec).
    fn claim(&self, node: &str, index: u32) {
        let mut st = self.lock();
        if let Some(held) = st.by_node.get(node).copied() {
            if held == index {
                return;
            }
            st.by_node.remove(node);
            st.subnets.release(held);
        }
        if !st.subnets.occupy(index) {
            tracing::warn!(node, subnet = %st.subnets.subnet(index), "podCIDR already held by another node");
        }
        st.by_node.insert(node.to_string(), index);
    }

    /// The subnet for a node without one: the one already chosen for it (a
    /// write the cache has not shown yet), else the lowest free one.
    fn assign(&self, node: &str) -> Option<Cidr> {
        let mut st = self.lock();
        let index = match st.by_node.get(node) {
            Some(&i) => i,
            None => {
                let i = st.subnets.allocate()?;
                st.by_node.insert(node.to_string(), i);
                i
            }
        };
        Some(st.subnets.subnet(index))
    }

    /// Frees the subnet of a deleted node; true when it held one.
    fn release(&self, node: &str) -> bool {
        let mut st = self.lock();
        match st.by_node.remove(node) {
            Some(index) => {
                st.subnets.release(index);
                true
            }
            None => false,
        }
    }
}

fn pod_cidr(node: &Node) -> Option<&str> {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .filter(|c| !c.is_empty())
}

async fn reconcile(
    ctx: &Context,
    allocator: &Allocator,
    queue: &WorkQueue<String>,
    name: &str,
) -> Result<Action, skiff_client::Error> {
    let nodes = &ctx.informers.nodes.cache;
    let Some(node) = nodes.get(name) else {
        if allocator.release(name) {
            // A subnet is free again: nodes that found none may take it.
            for waiting in nodes.filter(None, |n| pod_cidr(n).is_none()) {
                queue.add(waiting.metadata.name_str().to_string());
            }
        }
        return Ok(Action::Done);
    };
    if let Some(cidr) = pod_cidr(&node) {
        let index = allocator.lock().subnets.index_of(cidr);
        match index {
            Some(i) => allocator.claim(name, i),
            // Set by someone else, outside our range: not ours to manage.
            None => tracing::debug!(node = name, cidr, "podCIDR outside the cluster CIDR"),
        }
        return Ok(Action::Done);
    }
    let Some(subnet) = allocator.assign(name) else {
        ctx.recorder.publish(
            &*node,
            EventType::Normal,
            "CIDRNotAvailable",
            format!("Node {name} status is now: CIDRNotAvailable"),
        );
        return Ok(Action::Done);
    };
    let subnet = subnet.to_string();
    let patch = Patch::Merge(json!({
        "metadata": {"resourceVersion": node.metadata.resource_version},
        "spec": {"podCIDR": subnet, "podCIDRs": [subnet]},
    }));
    match Api::<Node>::all(ctx.client.clone())
        .patch(name, &patch)
        .await
    {
        Ok(_) => {
            tracing::debug!(node = name, cidr = %subnet, "podCIDR assigned");
            Ok(Action::Done)
        }
        // The cache was behind; the subnet stays reserved for this node.
        Err(e) if e.is_conflict() => Ok(Action::RequeueAfter(CONFLICT_RETRY)),
        Err(e) if e.is_not_found() => {
            allocator.release(name);
            Ok(Action::Done)
        }
        Err(e) => Err(e),
    }
}
