//! LIST: `labelSelector`, `fieldSelector`, `limit` + `continue`,
//! `resourceVersion` + `resourceVersionMatch`.

use axum::http::StatusCode;
use axum::response::Response;
use skiff_api::Status;

use super::{Ctx, json_response, render};
use crate::errors::ApiResult;
use crate::filter::Filter;
use crate::registry::ListRequest;
use crate::value;

pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let q = &ctx.query;
    let filter = Filter::from_query(q, rt, ctx.namespace())?;
    let limit = match q.int("limit")? {
        Some(l) if l > 0 => Some(l as usize),
        _ => None,
    };
    let rv = value::parse_resource_version(q.get("resourceVersion").unwrap_or_default())?;
    let continue_token = q
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let revision = match (q.get("resourceVersionMatch").unwrap_or_default(), rv) {
        ("Exact", Some(rv)) if rv > 0 => Some(rv),
        ("Exact", _) => {
            return Err(Status::bad_request(
                "resourceVersionMatch=Exact needs a resourceVersion other than 0",
            )
            .into());
        }
        // NotOlderThan (the default for a given version) and "0": the current
        // state is never older.
        ("" | "NotOlderThan", _) => None,
        (other, _) => {
            return Err(Status::bad_request(format!(
                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
            ))
            .into());
        }
    };
    if continue_token.is_some() && rv.is_some_and(|v| v > 0) {
        return Err(Status::bad_request(
            "specifying resource version is not allowed when using continue",
        )
        .into());
    }
    let page = ctx
        .state
        .registry
        .list(
            rt,
            &ListRequest {
                filter,
                revision,
                limit,
                continue_token,
            },
        )
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &render::list(rt, &page, ctx.rendering),
    ))
}
