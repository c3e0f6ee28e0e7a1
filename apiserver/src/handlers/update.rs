//! PUT of a whole object (`resourceVersion` required).

use axum::http::StatusCode;
use axum::response::Response;

use super::{Ctx, render};
use crate::body;
use crate::errors::ApiResult;
use crate::query::WriteOptions;
use crate::registry::UpdateMode;

pub async fn update(ctx: &Ctx) -> ApiResult<Response> {
    put(ctx, UpdateMode::Main).await
}

/// PUT on the object or its `/status`.
pub async fn put(ctx: &Ctx, mode: UpdateMode) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let object = body::decode_object(&ctx.headers, &ctx.body)?;
    let opts = WriteOptions::from_query(&ctx.query)?;
    let out = ctx
        .state
        .registry
        .update(rt, ctx.namespace(), ctx.name(), object, opts, mode)
        .await?;
    Ok(render::written(StatusCode::OK, rt, &out, ctx.rendering))
}
