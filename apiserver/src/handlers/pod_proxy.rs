//! `pods/log` and `pods/exec`: served by the node agent the pod runs on,
//! reached through the API server. This finds the pod, its container and
//! its node's agent endpoint; streaming through to the agent is added with
//! the agent, and until then a pod on a node answers that its agent cannot
//! be reached.

use axum::response::Response;
use serde_json::Value;
use skiff_api::Status;
use skiff_api::core::{NODES, PODS};

use super::Ctx;
use crate::errors::ApiResult;

pub async fn log(ctx: &Ctx) -> ApiResult<Response> {
    let target = locate(ctx).await?;
    Err(target.unreachable("logs").into())
}

pub async fn exec(ctx: &Ctx) -> ApiResult<Response> {
    if ctx.query.all("command").is_empty() {
        return Err(Status::bad_request("you must specify at least 1 command").into());
    }
    let target = locate(ctx).await?;
    Err(target.unreachable("exec").into())
}

/// Where a pod's log or exec request has to go.
struct AgentTarget {
    pod: String,
    node: String,
    /// `host:port` of the node agent, when the Node reports one.
    endpoint: Option<String>,
}

impl AgentTarget {
    fn unreachable(&self, what: &str) -> Status {
        let at = self
            .endpoint
            .as_deref()
            .map(|e| format!(" at {e}"))
            .unwrap_or_default();
        Status::bad_request(format!(
            "{what} for pod \"{}\" are not available: the node agent of node \"{}\"{at} is not reachable",
            self.pod, self.node
        ))
    }
}

/// The pod (404), the container (`container=`, else the only or first
/// one; 400 if unknown), its node (400 when unscheduled) and the agent's
/// endpoint from the Node's status.
async fn locate(ctx: &Ctx) -> Result<AgentTarget, Status> {
    let name = ctx.name();
    let registry = &ctx.state.registry;
    let pod = registry.get(&PODS, ctx.namespace(), name).await?.object;
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = ctx.query.get("container").filter(|c| !c.is_empty()) {
        let init: Vec<&str> = pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if !containers.contains(&c) && !init.contains(&c) {
            return Err(Status::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
    } else if containers.len() > 1 {
        return Err(Status::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            containers.join(" ")
        )));
    }
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if node.is_empty() {
        return Err(Status::bad_request(format!(
            "pod \"{name}\" has no node assigned"
        )));
    }
    let endpoint = match registry.try_get(&NODES, None, &node).await? {
        Some(n) => agent_endpoint(&n.object),
        None => None,
    };
    Ok(AgentTarget {
        pod: name.to_string(),
        node,
        endpoint,
    })
}

/// The agent's `host:port` from `status.addresses` (InternalIP first) and
/// `status.daemonEndpoints.kubeletEndpoint.Port`.
fn agent_endpoint(node: &Value) -> Option<String> {
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)?;
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?;
    let pick = |t: &str| {
        addresses
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(t))
            .and_then(|a| a.get("address").and_then(Value::as_str))
    };
    let host = pick("InternalIP").or_else(|| pick("Hostname"))?;
    Some(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_from_node_status() {
        let n = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "10.0.0.2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(agent_endpoint(&n).as_deref(), Some("10.0.0.2:10250"));
        assert_eq!(agent_endpoint(&json!({})), None);
    }
}
