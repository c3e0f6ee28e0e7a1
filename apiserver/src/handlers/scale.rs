//! `/scale` (Deployments, ReplicaSets): an `autoscaling/v1` Scale over
//! `spec.replicas`. GET reads it; PUT (optionally pinned by
//! `resourceVersion`) and PATCH set `spec.replicas`, which bumps generation.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::patch::apply_patch;
use skiff_api::selector::LabelSelector;
use skiff_api::status::StatusDetails;
use skiff_api::{Status, StatusCause};

use super::{Ctx, json_response, patch};
use crate::body;
use crate::errors::{ApiResult, method_not_allowed};
use crate::registry::UpdateMode;
use crate::value;

pub async fn scale(ctx: &Ctx, verb: &str) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let registry = &ctx.state.registry;
    let out = match verb {
        "GET" => registry.get(rt, ctx.namespace(), ctx.name()).await?.object,
        "PUT" => {
            let sent = body::decode_object(&ctx.headers, &ctx.body)?;
            if let Some(kind) = sent.get("kind").and_then(Value::as_str)
                && kind != "Scale"
            {
                return Err(Status::bad_request(format!(
                    "the body must be an autoscaling/v1 Scale, not {kind}"
                ))
                .into());
            }
            let pinned = value::meta_str(&sent, "resourceVersion")
                .unwrap_or_default()
                .to_string();
            let replicas = replicas_of(&sent, ctx.name())?;
            patch::modify_named(ctx, UpdateMode::Main, pinned.is_empty(), |current| {
                if !pinned.is_empty() && pinned != current.revision.to_string() {
                    return Err(Status::conflict(rt, ctx.name()));
                }
                Ok(with_replicas(&current.object, replicas))
            })
            .await?
            .object
        }
        "PATCH" => {
            let patch_type = patch::patch_type(ctx)?;
            let doc = patch::parse_patch(patch_type, &ctx.body)?;
            patch::modify_named(
                ctx,
                UpdateMode::Main,
                !patch::pins_version(&doc),
                |current| {
                    let scale = scale_of(&current.object);
                    let patched = apply_patch(patch_type, rt, &scale, &doc)?;
                    let wanted = value::meta_str(&patched, "resourceVersion").unwrap_or_default();
                    if wanted != current.revision.to_string() {
                        return Err(Status::conflict(rt, ctx.name()));
                    }
                    let replicas = replicas_of(&patched, ctx.name())?;
                    Ok(with_replicas(&current.object, replicas))
                },
            )
            .await?
            .object
        }
        _ => return Err(method_not_allowed().into()),
    };
    Ok(json_response(StatusCode::OK, &scale_of(&out)))
}

/// The Scale view of a Deployment or ReplicaSet.
pub fn scale_of(object: &Value) -> Value {
    let meta = |f: &str| value::meta_value(object, f).unwrap_or(Value::Null);
    let selector = object
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_json(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut metadata = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        let v = meta(f);
        if !v.is_null() {
            metadata.insert(f.into(), v);
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

fn with_replicas(object: &Value, replicas: i64) -> Value {
    let mut next = object.clone();
    let spec = value::object_mut(
        value::object_mut(&mut next)
            .entry("spec")
            .or_insert_with(|| json!({})),
    );
    spec.insert("replicas".into(), json!(replicas));
    next
}

/// `spec.replicas` of a Scale: an integer >= 0, else 422 on the Scale.
fn replicas_of(scale: &Value, name: &str) -> Result<i64, Status> {
    let invalid = |shown: String, message: &str| {
        let cause = StatusCause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {shown}: {message}"),
            field: "spec.replicas".into(),
        };
        let mut s = Status::bad_request(String::new());
        s.code = 422;
        s.reason = "Invalid".into();
        s.message = format!(
            "Scale.autoscaling \"{name}\" is invalid: spec.replicas: {}",
            cause.message
        );
        s.details = Some(StatusDetails {
            name: name.into(),
            group: "autoscaling".into(),
            kind: "Scale".into(),
            causes: vec![cause],
            ..Default::default()
        });
        s
    };
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 && n <= i64::from(i32::MAX) => Ok(n),
            Some(n) if n < 0 => Err(invalid(n.to_string(), "must be greater than or equal to 0")),
            _ => Err(invalid(
                v.to_string(),
                "must be an integer between 0 and 2147483647",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "9",
            "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"x": "y"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}}},
            "status": {"replicas": 2}});
        let s = scale_of(&d);
        assert_eq!(
            s,
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "9",
                "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=nginx"}})
        );
        assert_eq!(with_replicas(&d, 5)["spec"]["replicas"], 5);
    }

    #[test]
    fn negative_replicas_are_invalid_on_the_scale() {
        let e = replicas_of(&json!({"spec": {"replicas": -1}}), "x").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Scale.autoscaling \"x\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(e.details.unwrap().causes[0].field, "spec.replicas");
        assert_eq!(
            replicas_of(&json!({"spec": {"replicas": 4}}), "x").unwrap(),
            4
        );
        assert_eq!(
            replicas_of(&json!({"spec": {"replicas": "4"}}), "x")
                .unwrap_err()
                .code,
            422
        );
    }
}
