//! What a node identity may do (Kubernetes' Node authorizer and
//! NodeRestriction admission, simplified):
//!
//! - read (get, list, watch) everything but Secrets; get a Secret only when
//!   a pod bound to the node, in that namespace, references it;
//! - create its own Node, read and write it and its status;
//! - create and write its own Lease (`kube-node-lease/<name>`);
//! - write the status of pods bound to it, and delete them (the final
//!   removal after their containers stopped);
//! - create and update Events.
//!
//! Everything else is 403, before anything is changed.

use serde_json::Value;
use skiff_api::coordination::LEASES;
use skiff_api::core::{EVENTS, NODES, PODS, SECRETS};
use skiff_api::{Status, Subresource};

use super::Identity;
use crate::kinds::is;
use crate::routes::ResourcePath;
use crate::state::AppState;

const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Allows the request or says why not (403 Forbidden).
pub(crate) async fn authorize(
    state: &AppState,
    identity: &Identity,
    verb: &str,
    path: &ResourcePath,
    body: &[u8],
) -> Result<(), Status> {
    let Identity::Node(node) = identity else {
        return Ok(());
    };
    let deny = |why: &str| Err(forbidden(identity, verb, path, body, why));
    let rt = path.rt;
    let name = path.name.as_deref();
    let reading = matches!(verb, "GET" | "LIST" | "WATCH");
    let main_or_status = matches!(path.subresource, None | Some(Subresource::Status));

    if is(rt, &SECRETS) {
        return match (verb, name) {
            ("GET", Some(secret)) if path.subresource.is_none() => {
                let ns = path.namespace.as_deref().unwrap_or_default();
                if secret_used_by_node(state, node, ns, secret).await? {
                    Ok(())
                } else {
                    deny(&format!(
                        "no relationship found between node '{node}' and this object"
                    ))
                }
            }
            _ => deny("nodes may only get secrets their pods reference"),
        };
    }
    if reading && main_or_status {
        return Ok(());
    }
    if is(rt, &NODES) && main_or_status {
        let target = match (verb, name) {
            ("POST", None) => body_name(body),
            ("PUT" | "PATCH", Some(n)) => n.to_string(),
            _ => return deny(&format!("node '{node}' may not {} nodes", verb_word(verb))),
        };
        return if target == *node {
            Ok(())
        } else {
            deny(&format!("node '{node}' cannot modify node '{target}'"))
        };
    }
    if is(rt, &LEASES) && path.subresource.is_none() {
        let target = match (verb, name) {
            ("POST", None) => body_name(body),
            ("PUT" | "PATCH" | "DELETE", Some(n)) => n.to_string(),
            _ => return deny("nodes may only use their own lease"),
        };
        let ns = path.namespace.as_deref().unwrap_or_default();
        return if ns == NODE_LEASE_NAMESPACE && target == *node {
            Ok(())
        } else {
            deny(&format!(
                "node '{node}' may only use the lease {NODE_LEASE_NAMESPACE}/{node}"
            ))
        };
    }
    if is(rt, &PODS) {
        let writes_status =
            path.subresource == Some(Subresource::Status) && matches!(verb, "PUT" | "PATCH");
        let deletes = path.subresource.is_none() && verb == "DELETE";
        if let (true, Some(pod)) = (writes_status || deletes, name) {
            let ns = path.namespace.as_deref().unwrap_or_default();
            return match bound_node(state, ns, pod).await? {
                // Gone: the handler answers 404, as it would anyone.
                None => Ok(()),
                Some(bound) if bound == *node => Ok(()),
                Some(_) => deny(&format!(
                    "node '{node}' can only {} pods with spec.nodeName set to itself",
                    if deletes {
                        "delete"
                    } else {
                        "update the status of"
                    }
                )),
            };
        }
        return deny(&format!(
            "node '{node}' may only write the status of its own pods and delete them"
        ));
    }
    if is(rt, &EVENTS) && matches!(verb, "POST" | "PUT" | "PATCH") {
        return Ok(());
    }
    deny(&format!(
        "node '{node}' may not {} {}",
        verb_word(verb),
        path.resource_label()
    ))
}

/// `pods "web" is forbidden: User "system:node:n1" cannot patch resource
/// "pods/status" in API group "" in the namespace "default": <why>`.
fn forbidden(
    identity: &Identity,
    verb: &str,
    path: &ResourcePath,
    body: &[u8],
    why: &str,
) -> Status {
    let rt = path.rt;
    let name = path.name.clone().unwrap_or_else(|| body_name(body));
    let what = if name.is_empty() {
        rt.qualified_plural().to_string()
    } else {
        format!("{} \"{name}\"", rt.qualified_plural())
    };
    let scope = match &path.namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => String::new(),
    };
    Status::forbidden(format!(
        "{what} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\"{scope}: {why}",
        identity.user(),
        verb_word(verb),
        path.resource_label(),
        rt.group,
    ))
}

/// The Kubernetes verb as RBAC spells it.
fn verb_word(verb: &str) -> &'static str {
    match verb {
        "GET" => "get",
        "LIST" => "list",
        "WATCH" => "watch",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        "DELETECOLLECTION" => "deletecollection",
        _ => "create",
    }
}

fn body_name(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The node a pod is bound to (`""` when unscheduled), `None` when absent.
async fn bound_node(state: &AppState, ns: &str, pod: &str) -> Result<Option<String>, Status> {
    Ok(state
        .registry
        .try_get(&PODS, Some(ns), pod)
        .await?
        .map(|p| node_name(&p.object).to_string()))
}

fn node_name(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether a pod in `ns` bound to `node` uses Secret `secret` (volume,
/// projected volume, env, envFrom, imagePullSecrets).
async fn secret_used_by_node(
    state: &AppState,
    node: &str,
    ns: &str,
    secret: &str,
) -> Result<bool, Status> {
    let prefix = PODS.storage_namespace_prefix(Some(ns));
    let listed = state
        .registry
        .store
        .list(&prefix, &Default::default())
        .await
        .map_err(crate::errors::plain_store_error)?;
    for kv in listed.items {
        let pod = crate::registry::decode(&kv)?;
        if node_name(&pod) == node && references_secret(&pod, secret) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn references_secret(pod: &Value, secret: &str) -> bool {
    let spec = &pod["spec"];
    let named = |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_str) == Some(secret);
    let volumes = spec["volumes"].as_array().into_iter().flatten();
    for v in volumes {
        if named(v, "/secret/secretName") {
            return true;
        }
        let sources = v.pointer("/projected/sources").and_then(Value::as_array);
        if sources
            .into_iter()
            .flatten()
            .any(|s| named(s, "/secret/name"))
        {
            return true;
        }
    }
    if spec["imagePullSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| named(s, "/name"))
    {
        return true;
    }
    let containers = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten());
    for c in containers {
        let env = c["env"].as_array().into_iter().flatten();
        if env
            .into_iter()
            .any(|e| named(e, "/valueFrom/secretKeyRef/name"))
        {
            return true;
        }
        let env_from = c["envFrom"].as_array().into_iter().flatten();
        if env_from.into_iter().any(|e| named(e, "/secretRef/name")) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_references() {
        let pod = json!({"spec": {
            "volumes": [{"name": "v", "secret": {"secretName": "vol"}},
                        {"name": "p", "projected": {"sources": [{"secret": {"name": "proj"}}]}}],
            "imagePullSecrets": [{"name": "pull"}],
            "containers": [{"name": "c",
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}}],
                "envFrom": [{"secretRef": {"name": "from"}}]}]}});
        for s in ["vol", "proj", "pull", "env", "from"] {
            assert!(references_secret(&pod, s), "{s}");
        }
        assert!(!references_secret(&pod, "other"));
    }
}
