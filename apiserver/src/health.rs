//! `/healthz`, `/livez` (the process answers) and `/readyz` (the store
//! answers too).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn live() -> Response {
    (StatusCode::OK, "ok").into_response()
}

pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.registry.store.current_revision().await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("[-]store failed: {e}\nreadyz check failed"),
        )
            .into_response(),
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut resp = (StatusCode::OK, state.metrics.encode()).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
