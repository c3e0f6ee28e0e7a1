//! GET of one object.

use axum::http::StatusCode;
use axum::response::Response;

use super::{Ctx, json_response, render};
use crate::errors::ApiResult;

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let stored = ctx
        .state
        .registry
        .get(rt, ctx.namespace(), ctx.name())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &render::object(rt, &stored.object, ctx.rendering),
    ))
}
