//! PATCH: JSON patch, merge patch, strategic merge patch and server-side
//! apply (which also creates a missing object), on the object or `/status`.

use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use skiff_api::Status;
use skiff_api::patch::{PatchType, apply_patch};

use super::{Ctx, render};
use crate::body::{self, Format};
use crate::errors::ApiResult;
use crate::query::WriteOptions;
use crate::registry::{ModifyOptions, Stored, UpdateMode, WriteOutcome};
use crate::value;

pub async fn patch(ctx: &Ctx) -> ApiResult<Response> {
    patch_as(ctx, UpdateMode::Main).await
}

/// The patch type named by `Content-Type`, or 415.
pub fn patch_type(ctx: &Ctx) -> Result<PatchType, Status> {
    let ct = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    PatchType::from_content_type(ct).ok_or_else(PatchType::unsupported)
}

/// The patch document: JSON for the JSON-based types, YAML (or JSON) for apply.
pub fn parse_patch(patch_type: PatchType, bytes: &[u8]) -> Result<Value, Status> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Status::bad_request("the patch body is empty"));
    }
    match patch_type {
        PatchType::Apply => body::decode(Format::Yaml, bytes),
        _ => serde_json::from_slice(bytes)
            .map_err(|e| Status::bad_request(format!("error decoding patch: {e}"))),
    }
}

/// Does the patch set `metadata.resourceVersion` (an optimistic-lock patch,
/// never retried on conflict)?
pub fn pins_version(patch: &Value) -> bool {
    match patch {
        Value::Object(_) => patch.pointer("/metadata/resourceVersion").is_some(),
        Value::Array(ops) => ops
            .iter()
            .any(|op| op.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion")),
        _ => false,
    }
}

/// Read-modify-write of the object the URL names, with the request's write
/// options; a lost race is retried when `retry` (the change is not pinned to
/// a `resourceVersion`).
pub async fn modify_named<F>(
    ctx: &Ctx,
    mode: UpdateMode,
    retry: bool,
    change: F,
) -> Result<WriteOutcome, Status>
where
    F: FnMut(&Stored) -> Result<Value, Status>,
{
    let write = WriteOptions::from_query(&ctx.query)?;
    ctx.state
        .registry
        .modify(
            ctx.path.rt,
            ctx.namespace(),
            ctx.name(),
            ModifyOptions { write, mode, retry },
            change,
        )
        .await
}

pub async fn patch_as(ctx: &Ctx, mode: UpdateMode) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let patch_type = patch_type(ctx)?;
    let patch = parse_patch(patch_type, &ctx.body)?;
    let result = modify_named(ctx, mode, !pins_version(&patch), |current| {
        apply_patch(patch_type, rt, &current.object, &patch)
    })
    .await;
    let (code, out) = match result {
        Ok(out) => (StatusCode::OK, out),
        Err(s)
            if s.is_not_found() && patch_type == PatchType::Apply && mode == UpdateMode::Main =>
        {
            // Server-side apply of an object that does not exist creates it.
            let mut object = patch;
            let sent = value::name_of(&object);
            if !sent.is_empty() && sent != ctx.name() {
                return Err(Status::bad_request(format!(
                    "the name of the object ({sent}) does not match the name on the URL ({})",
                    ctx.name()
                ))
                .into());
            }
            value::set_meta(&mut object, "name", Value::String(ctx.name().to_string()));
            // The write options parsed already (the modify got this far).
            let opts = WriteOptions::from_query(&ctx.query)?;
            let out = ctx
                .state
                .registry
                .create(rt, ctx.namespace(), object, opts)
                .await?;
            (StatusCode::CREATED, out)
        }
        Err(s) => return Err(s.into()),
    };
    Ok(render::written(code, rt, &out, ctx.rendering))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pinned_versions() {
        assert!(pins_version(&json!({"metadata": {"resourceVersion": "3"}})));
        assert!(!pins_version(&json!({"spec": {"replicas": 3}})));
        assert!(pins_version(
            &json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "3"}])
        ));
        assert!(!pins_version(
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 3}])
        ));
    }

    #[test]
    fn patch_bodies() {
        assert!(parse_patch(PatchType::Merge, b"{\"a\":1}").is_ok());
        assert_eq!(parse_patch(PatchType::Merge, b"{").unwrap_err().code, 400);
        assert_eq!(parse_patch(PatchType::Json, b"").unwrap_err().code, 400);
        let v = parse_patch(PatchType::Apply, b"kind: Pod\nmetadata:\n  name: x\n").unwrap();
        assert_eq!(v["metadata"]["name"], "x");
    }
}
