//! `/status`: GET returns the whole object; PUT and PATCH change only
//! `.status` (generation stays).

use axum::response::Response;

use super::{Ctx, get, patch, update};
use crate::errors::{ApiResult, method_not_allowed};
use crate::registry::UpdateMode;

pub async fn status(ctx: &Ctx, verb: &str) -> ApiResult<Response> {
    match verb {
        "GET" => get::get(ctx).await,
        "PUT" => update::put(ctx, UpdateMode::Status).await,
        "PATCH" => patch::patch_as(ctx, UpdateMode::Status).await,
        _ => Err(method_not_allowed().into()),
    }
}
