//! POST to a collection.

use axum::http::StatusCode;
use axum::response::Response;

use super::{Ctx, render};
use crate::body;
use crate::errors::ApiResult;
use crate::query::WriteOptions;

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let object = body::decode_object(&ctx.headers, &ctx.body)?;
    let opts = WriteOptions::from_query(&ctx.query)?;
    let out = ctx
        .state
        .registry
        .create(rt, ctx.namespace(), object, opts)
        .await?;
    Ok(render::written(
        StatusCode::CREATED,
        rt,
        &out,
        ctx.rendering,
    ))
}
