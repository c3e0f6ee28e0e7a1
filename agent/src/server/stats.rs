//! `GET /stats/{namespace}/{pod}/{container}`: the container's CPU and
//! memory use, in the field names of the kubelet's summary API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use skiff_api::Status;

use super::locate::{Instance, locate};
use super::{ServerState, runtime_status, status_response};

pub async fn container_stats(
    State(state): State<Arc<ServerState>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
) -> Response {
    serve(&state, &namespace, &pod, &container)
        .await
        .unwrap_or_else(status_response)
}

async fn serve(
    state: &ServerState,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<Response, Status> {
    let engine = state.engine()?;
    let found = locate(&engine, namespace, pod, container, Instance::Current).await?;
    let stats = found
        .runtime
        .container_stats(&found.container.id)
        .await
        .map_err(|e| runtime_status(&e, container, pod))?;
    let time = stats
        .timestamp
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Json(json!({
        "podRef": {"namespace": namespace, "name": pod, "uid": found.container.pod_uid},
        "name": container,
        "containerID": found.container.id.as_str(),
        "cpu": {"time": time, "usageCoreNanoSeconds": stats.cpu_usage_nanos},
        "memory": {"time": time, "workingSetBytes": stats.memory_working_set_bytes},
    }))
    .into_response())
}
