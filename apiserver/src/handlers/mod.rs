//! Resource requests: the dispatcher maps method + path + query to a verb
//! and calls that verb's handler (one file each).

mod binding;
mod create;
mod delete;
mod get;
mod list;
mod patch;
mod pod_proxy;
mod render;
mod scale;
mod status;
mod update;
mod watch;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use skiff_api::{Status, Subresource};

use crate::discovery;
use crate::errors::{ApiError, ApiResult, method_not_allowed};
use crate::metrics::RequestInfo;
use crate::negotiate::{Rendering, rendering};
use crate::query::Query;
use crate::routes::{self, ApiPath, ResourcePath};
use crate::state::AppState;

pub use render::json_response;

/// One resource request, decoded.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub path: ResourcePath,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub rendering: Rendering,
    /// A WebSocket or SPDY upgrade offered with the request (`pods/exec` takes it).
    pub upgrade: std::sync::Mutex<Option<crate::proxy::ClientUpgrade>>,
}

impl Ctx {
    pub fn namespace(&self) -> Option<&str> {
        self.path.namespace.as_deref()
    }

    /// The object name (handlers for object paths only).
    pub fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or_default()
    }
}

/// Everything under `/api` and `/apis`, and the 404 for anything else.
pub async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let Some(api_path) = routes::parse(parts.uri.path()) else {
        return ApiError(Status::path_not_found()).into_response();
    };
    let path = match api_path {
        ApiPath::Resource(p) => p,
        discovery_path => {
            if parts.method != Method::GET {
                return ApiError(method_not_allowed()).into_response();
            }
            return discovery::respond(&discovery_path, &state.settings.server_address);
        }
    };
    let verb = verb(&parts.method, &path, &query);
    let info = RequestInfo {
        verb: verb.unwrap_or("UNKNOWN"),
        resource: path.resource_label(),
    };
    let mut resp = match verb {
        None => ApiError(method_not_allowed()).into_response(),
        Some(verb) => {
            // Only exec upgrades; the extractor needs the request's parts.
            let upgrade = if path.subresource != Some(Subresource::Exec) {
                None
            } else if crate::proxy::spdy::is_spdy_upgrade(&parts.headers) {
                parts
                    .extensions
                    .remove::<hyper::upgrade::OnUpgrade>()
                    .map(crate::proxy::ClientUpgrade::Spdy)
            } else {
                WebSocketUpgrade::from_request_parts(&mut parts, &())
                    .await
                    .ok()
                    .map(crate::proxy::ClientUpgrade::WebSocket)
            };
            let identity = parts.extensions.get::<crate::auth::Identity>().cloned();
            let request = (parts.headers, body, upgrade, identity);
            match serve(state, verb, path, query, request).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            }
        }
    };
    resp.extensions_mut().insert(info);
    resp
}

/// The Kubernetes verb of a request (as metrics name it), `None` when the
/// path does not serve the method.
pub(crate) fn verb(method: &Method, path: &ResourcePath, q: &Query) -> Option<&'static str> {
    let watch = q.flag("watch").unwrap_or(false);
    Some(
        match (method.as_str(), path.name.is_some(), path.subresource) {
            ("GET", _, None) if watch => "WATCH",
            ("GET", false, None) => "LIST",
            ("POST", false, None) => "POST",
            ("DELETE", false, None) => "DELETECOLLECTION",
            ("GET", true, None) => "GET",
            ("PUT", true, None) => "PUT",
            ("PATCH", true, None) => "PATCH",
            ("DELETE", true, None) => "DELETE",
            ("GET", true, Some(Subresource::Status | Subresource::Scale)) => "GET",
            ("PUT", true, Some(Subresource::Status | Subresource::Scale)) => "PUT",
            ("PATCH", true, Some(Subresource::Status | Subresource::Scale)) => "PATCH",
            ("POST", true, Some(Subresource::Binding)) => "POST",
            ("GET", true, Some(Subresource::Log)) => "CONNECT",
            ("GET" | "POST", true, Some(Subresource::Exec)) => "CONNECT",
            _ => return None,
        },
    )
}

/// Headers, body, offered upgrade and who sent it.
type Request_ = (
    HeaderMap,
    Body,
    Option<crate::proxy::ClientUpgrade>,
    Option<crate::auth::Identity>,
);

async fn serve(
    state: Arc<AppState>,
    verb: &'static str,
    path: ResourcePath,
    query: Query,
    (headers, body, upgrade, identity): Request_,
) -> ApiResult<Response> {
    let body = match verb {
        "POST" | "PUT" | "PATCH" | "DELETE" | "DELETECOLLECTION" => {
            crate::body::read_limited(&headers, body, state.settings.max_body_bytes).await?
        }
        _ => Bytes::new(),
    };
    // Set by the authentication layer on every request it lets through.
    let Some(identity) = identity else {
        return Err(crate::auth::unauthorized().into());
    };
    crate::auth::node_restriction::authorize(&state, &identity, verb, &path, &body).await?;
    let ctx = Ctx {
        rendering: rendering(&headers),
        state,
        path,
        query,
        headers,
        body,
        upgrade: std::sync::Mutex::new(upgrade),
    };
    match (verb, ctx.path.subresource) {
        ("WATCH", _) => watch::watch(ctx).await,
        ("LIST", _) => list::list(&ctx).await,
        ("POST", None) => create::create(&ctx).await,
        ("DELETECOLLECTION", _) => delete::delete_collection(&ctx).await,
        ("GET", None) => get::get(&ctx).await,
        ("PUT", None) => update::update(&ctx).await,
        ("PATCH", None) => patch::patch(&ctx).await,
        ("DELETE", _) => delete::delete(&ctx).await,
        (_, Some(Subresource::Status)) => status::status(&ctx, verb).await,
        (_, Some(Subresource::Scale)) => scale::scale(&ctx, verb).await,
        (_, Some(Subresource::Binding)) => binding::bind(&ctx).await,
        (_, Some(Subresource::Log)) => pod_proxy::log(&ctx).await,
        (_, Some(Subresource::Exec)) => pod_proxy::exec(&ctx).await,
        _ => Err(method_not_allowed().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        let p = |s: &str| match routes::parse(s) {
            Some(ApiPath::Resource(r)) => r,
            _ => panic!("{s}"),
        };
        let q = Query::parse(Some("watch=true"));
        let none = Query::default();
        let coll = p("/api/v1/namespaces/default/pods");
        let obj = p("/api/v1/namespaces/default/pods/x");
        assert_eq!(verb(&Method::GET, &coll, &q), Some("WATCH"));
        assert_eq!(verb(&Method::GET, &coll, &none), Some("LIST"));
        assert_eq!(verb(&Method::PUT, &coll, &none), None);
        assert_eq!(verb(&Method::POST, &obj, &none), None);
        assert_eq!(verb(&Method::DELETE, &obj, &none), Some("DELETE"));
        let scale = p("/apis/apps/v1/namespaces/default/deployments/x/scale");
        assert_eq!(verb(&Method::PATCH, &scale, &none), Some("PATCH"));
        assert_eq!(verb(&Method::DELETE, &scale, &none), None);
    }
}
