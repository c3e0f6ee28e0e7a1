//! `pods/binding`: how the scheduler assigns a pod to a node. Sets
//! `spec.nodeName` once (409 when the pod is already bound or is being
//! deleted) and marks the pod `PodScheduled`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::Status;
use skiff_api::core::PODS;

use super::{Ctx, json_response};
use crate::body;
use crate::errors::ApiResult;
use crate::registry::CONFLICT_RETRIES;
use crate::value;

pub async fn bind(ctx: &Ctx) -> ApiResult<Response> {
    let name = ctx.name();
    let binding = body::decode_object(&ctx.headers, &ctx.body)?;
    let sent = value::name_of(&binding);
    if !sent.is_empty() && sent != name {
        return Err(Status::bad_request(format!(
            "the name of the binding ({sent}) does not match the pod on the URL ({name})"
        ))
        .into());
    }
    let kind = binding
        .pointer("/target/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !kind.is_empty() && kind != "Node" {
        return Err(Status::bad_request(format!(
            "a pod can only be bound to a Node, not a {kind}"
        ))
        .into());
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if node.is_empty() {
        return Err(Status::bad_request("the binding's target.name (the node) must be set").into());
    }
    let registry = &ctx.state.registry;
    let key = PODS.storage_key(ctx.namespace(), name);
    let conflict = |message: String| {
        Status::conflict_message(
            &PODS,
            name,
            format!("Operation cannot be fulfilled on pods/binding \"{name}\": {message}"),
        )
    };
    let mut attempt = 0;
    loop {
        let current = registry.get(&PODS, ctx.namespace(), name).await?;
        if value::is_being_deleted(&current.object) {
            return Err(conflict(format!(
                "pod {name} is being deleted, cannot be assigned to a host"
            ))
            .into());
        }
        let bound = current
            .object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !bound.is_empty() {
            return Err(conflict(format!(
                "pod {name} is already assigned to node \"{bound}\""
            ))
            .into());
        }
        let next = bound_to(&current.object, node);
        match registry
            .write(&PODS, &key, name, next, current.revision)
            .await
        {
            Ok(_) => break,
            Err(s) if s.is_conflict() && attempt < CONFLICT_RETRIES => attempt += 1,
            Err(s) => return Err(s.into()),
        }
    }
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// The pod with `spec.nodeName` set and the `PodScheduled` condition true.
fn bound_to(pod: &Value, node: &str) -> Value {
    let mut next = pod.clone();
    let map = value::object_mut(&mut next);
    value::object_mut(map.entry("spec").or_insert_with(|| json!({})))
        .insert("nodeName".into(), json!(node));
    let status = value::object_mut(map.entry("status").or_insert_with(|| json!({})));
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        list.push(json!({"type": "PodScheduled", "status": "True",
            "lastProbeTime": null, "lastTransitionTime": value::now_rfc3339()}));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_sets_node_and_condition() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": []},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}});
        let b = bound_to(&pod, "n1");
        assert_eq!(b["spec"]["nodeName"], "n1");
        let conds = b["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0]["status"], "True");
    }
}
