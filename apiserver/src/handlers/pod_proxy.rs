//! `pods/log` and `pods/exec`: served by the node agent the pod runs on,
//! reached through the API server. This finds the pod, its container and
//! its node's agent endpoint, checks what the pod's status already
//! answers, and hands the request to [`crate::proxy`], which streams to
//! and from the agent.

use axum::response::Response;
use serde_json::Value;
use skiff_api::Status;
use skiff_api::core::{NODES, PODS};

use super::Ctx;
use crate::errors::ApiResult;
use crate::proxy::{self, AgentTarget, ClientUpgrade};

pub async fn log(ctx: &Ctx) -> ApiResult<Response> {
    let (target, pod) = locate(ctx).await?;
    let previous = ctx.query.flag("previous")?;
    proxy::check_log_status(&pod, &target.pod, &target.container, previous)?;
    if target.endpoint.is_none() {
        return Err(target.unreachable("logs").into());
    }
    Ok(proxy::logs(&ctx.state, &target, &ctx.query).await?)
}

pub async fn exec(ctx: &Ctx) -> ApiResult<Response> {
    if ctx.query.all("command").is_empty() {
        return Err(Status::bad_request("you must specify at least 1 command").into());
    }
    let (target, pod) = locate(ctx).await?;
    if target.node.is_empty() {
        return Err(Status::bad_request(format!(
            "pod {} does not have a host assigned",
            target.pod
        ))
        .into());
    }
    if let Some(phase @ ("Succeeded" | "Failed")) =
        pod.pointer("/status/phase").and_then(Value::as_str)
    {
        return Err(Status::bad_request(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        ))
        .into());
    }
    if target.endpoint.is_none() {
        return Err(target.unreachable("exec").into());
    }
    let upgrade = ctx
        .upgrade
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match upgrade {
        Some(ClientUpgrade::WebSocket(upgrade)) => {
            Ok(proxy::exec(&ctx.state, target, &ctx.query, upgrade)?)
        }
        Some(ClientUpgrade::Spdy(upgrade)) => Ok(proxy::spdy::exec(
            &ctx.state,
            target,
            &ctx.query,
            &ctx.headers,
            upgrade,
        )?),
        None => Err(Status::bad_request(format!(
            "exec needs an upgrade: WebSocket with subprotocol {} (kubectl 1.30 or newer) \
             or SPDY/3.1 (kubectl 1.29 and older)",
            proxy::EXEC_PROTOCOLS[0]
        ))
        .into()),
    }
}

/// The pod (404), the container (`container=`, else the only one; 400 if
/// unknown or not given for a pod of several), its node and the agent's
/// endpoint from the Node's status.
async fn locate(ctx: &Ctx) -> Result<(AgentTarget, Value), Status> {
    let name = ctx.name();
    let registry = &ctx.state.registry;
    let pod = registry.get(&PODS, ctx.namespace(), name).await?.object;
    let names = |path: &str| -> Vec<String> {
        pod.pointer(path)
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("/spec/containers");
    let container = match ctx.query.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            let init = names("/spec/initContainers");
            if !containers.iter().any(|n| n == c) && !init.iter().any(|n| n == c) {
                return Err(Status::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        None => match containers.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(Status::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                )));
            }
        },
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let endpoint = if node.is_empty() {
        None
    } else {
        match registry.try_get(&NODES, None, &node).await? {
            Some(n) => agent_endpoint(&n.object),
            None => None,
        }
    };
    let target = AgentTarget {
        namespace: ctx.namespace().unwrap_or("default").to_string(),
        pod: name.to_string(),
        container,
        node,
        endpoint,
        credential: ctx.state.agent_credential.clone(),
    };
    Ok((target, pod))
}

/// The agent's `host:port` from `status.addresses` (the first InternalIP,
/// else the Hostname) and `status.daemonEndpoints.kubeletEndpoint.Port`.
fn agent_endpoint(node: &Value) -> Option<String> {
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0)?;
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
    // An IPv6 address needs brackets in `host:port`.
    if host.contains(':') {
        Some(format!("[{host}]:{port}"))
    } else {
        Some(format!("{host}:{port}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_from_node_status() {
        let n = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "127.0.0.1"}, {"type": "InternalIP", "address": "10.0.0.2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(agent_endpoint(&n).as_deref(), Some("127.0.0.1:10250"));
        let v6 = json!({"status": {"addresses": [{"type": "InternalIP", "address": "fd00::1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(agent_endpoint(&v6).as_deref(), Some("[fd00::1]:10250"));
        let no_port = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}}});
        assert_eq!(agent_endpoint(&no_port), None);
        assert_eq!(agent_endpoint(&json!({})), None);
    }
}
