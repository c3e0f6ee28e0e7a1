//! Errors leave the server as `Status` objects (kubectl builds its messages
//! from them). [`ApiError`] carries a `Status` through handlers and renders
//! it; [`store_error`] words a store failure the way kube-apiserver does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use skiff_api::{ResourceType, Status};
use skiff_store::StoreError;

/// A request failure: the `Status` sent back.
#[derive(Debug, Clone)]
pub struct ApiError(pub Status);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Status> for ApiError {
    fn from(s: Status) -> ApiError {
        ApiError(s)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        status_response(&self.0)
    }
}

/// A `Status` as a JSON response with its code.
pub fn status_response(status: &Status) -> Response {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(status).unwrap_or_default();
    let mut resp = (code, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The `Status` for a store error on object `name` of `rt`.
pub fn store_error(err: StoreError, rt: &ResourceType, name: &str) -> Status {
    match err {
        StoreError::AlreadyExists => Status::already_exists(rt, name),
        StoreError::NotFound => Status::not_found(rt, name),
        StoreError::Conflict { .. } => Status::conflict(rt, name),
        other => plain_store_error(other),
    }
}

/// The `Status` for a store error that concerns no particular object.
pub fn plain_store_error(err: StoreError) -> Status {
    match err {
        StoreError::Compacted {
            requested,
            compacted,
        } => too_old(requested, compacted),
        StoreError::FutureRevision { requested, current } => Status::timeout(format!(
            "Too large resource version: {requested}, current resource version: {current}"
        )),
        StoreError::TooLarge(n) => {
            Status::request_entity_too_large(format!("request is too large: {n} bytes"))
        }
        StoreError::Unavailable(m) => {
            Status::service_unavailable(format!("store unavailable: {m}"))
        }
        StoreError::AlreadyExists => Status::internal("unexpected store error: key already exists"),
        StoreError::NotFound => Status::internal("unexpected store error: key not found"),
        StoreError::Conflict { .. } => {
            Status::internal("unexpected store error: revision mismatch")
        }
        StoreError::Other(e) => Status::internal(format!("store error: {e:#}")),
    }
}

/// 410 `too old resource version: N (M)`, as lists and watches get it.
pub fn too_old(requested: i64, oldest: i64) -> Status {
    Status::gone(format!("too old resource version: {requested} ({oldest})"))
}

/// 405 for a method the path does not serve.
pub fn method_not_allowed() -> Status {
    Status::method_not_allowed("the server does not allow this method on the requested resource")
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::apps::DEPLOYMENTS;

    #[test]
    fn store_errors_read_like_kubernetes() {
        let s = store_error(StoreError::AlreadyExists, &DEPLOYMENTS, "web");
        assert_eq!(s.code, 409);
        assert_eq!(s.message, "deployments.apps \"web\" already exists");
        let s = store_error(StoreError::Conflict { current: None }, &DEPLOYMENTS, "web");
        assert_eq!(s.reason, "Conflict");
        let s = plain_store_error(StoreError::Compacted {
            requested: 3,
            compacted: 9,
        });
        assert_eq!(
            (s.code, s.message.as_str()),
            (410, "too old resource version: 3 (9)")
        );
    }

    #[test]
    fn response_carries_the_code() {
        let r = ApiError(Status::bad_request("nope")).into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
