//! DELETE of one object, and of a collection (`deletecollection`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use skiff_api::Status;
use skiff_api::core::PODS;

use super::{Ctx, json_response, render};
use crate::errors::ApiResult;
use crate::filter::Filter;
use crate::kinds;
use crate::registry::{DeleteOptions, DeleteOutcome, ListPage, ListRequest};
use crate::value;

pub async fn delete(ctx: &Ctx) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let opts = DeleteOptions::parse(&ctx.body, &ctx.query)?;
    let outcome = ctx
        .state
        .registry
        .delete(rt, ctx.namespace(), ctx.name(), &opts)
        .await?;
    let body = match outcome {
        // kube-apiserver answers an immediate deletion with the object for
        // pods and with a Status for the rest.
        DeleteOutcome::Deleted(object) if !kinds::is(rt, &PODS) => {
            let status = Status::success(rt, ctx.name(), value::uid_of(&object));
            serde_json::to_value(status).unwrap_or_else(|_| json!({}))
        }
        DeleteOutcome::Deleted(object) | DeleteOutcome::Pending(object) => {
            render::object(rt, &object, ctx.rendering)
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// DELETE on a collection: every object matching the selectors.
pub async fn delete_collection(ctx: &Ctx) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let opts = DeleteOptions::parse(&ctx.body, &ctx.query)?;
    let filter = Filter::from_query(&ctx.query, rt, ctx.namespace())?;
    let registry = &ctx.state.registry;
    let page = registry
        .list(
            rt,
            &ListRequest {
                filter,
                ..Default::default()
            },
        )
        .await?;
    let mut items = Vec::new();
    for object in &page.items {
        let ns = value::namespace_of(object);
        let ns = (!ns.is_empty()).then_some(ns);
        match registry.delete(rt, ns, value::name_of(object), &opts).await {
            Ok(DeleteOutcome::Deleted(o) | DeleteOutcome::Pending(o)) => items.push(o),
            Err(s) if s.is_not_found() => {}
            Err(s) => return Err(s.into()),
        }
    }
    let done = ListPage {
        items,
        revision: page.revision,
        continue_token: None,
    };
    Ok(json_response(
        StatusCode::OK,
        &render::list(rt, &done, ctx.rendering),
    ))
}
