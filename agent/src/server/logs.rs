//! `GET /containerLogs/{namespace}/{pod}/{container}`: the container's
//! output as `text/plain`, streamed (chunked) while `follow=true`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use skiff_api::Status;

use super::locate::{Instance, locate};
use super::query::Query;
use super::{ServerState, runtime_status, status_response};
use crate::runtime::LogOptions;

pub async fn container_logs(
    State(state): State<Arc<ServerState>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    serve(&state, &namespace, &pod, &container, raw.as_deref())
        .await
        .unwrap_or_else(status_response)
}

async fn serve(
    state: &ServerState,
    namespace: &str,
    pod: &str,
    container: &str,
    raw: Option<&str>,
) -> Result<Response, Status> {
    let query = Query::parse(raw);
    let options = log_options(&query, Utc::now())?;
    let instance = if query.flag("previous")? {
        Instance::Previous
    } else {
        Instance::Current
    };
    let engine = state.engine()?;
    let found = locate(&engine, namespace, pod, container, instance).await?;
    let stream = found
        .runtime
        .logs(&found.container.id, &options)
        .await
        .map_err(|e| runtime_status(&e, container, pod))?;
    let stream = stream
        .map(|chunk| chunk.map(bytes::Bytes::from).map_err(std::io::Error::other))
        .take_until(state.stopped());
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(stream))
        .expect("static headers are valid"))
}

/// `follow`, `tailLines`, `timestamps`, `sinceSeconds` or `sinceTime`, `limitBytes`.
pub fn log_options(query: &Query, now: DateTime<Utc>) -> Result<LogOptions, Status> {
    let since_seconds = query.count("sinceSeconds")?;
    let since_time = match query.get("sinceTime").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    Status::bad_request(format!("invalid sinceTime {t:?} (want RFC 3339): {e}"))
                })?
                .with_timezone(&Utc),
        ),
    };
    let since = match (since_seconds, since_time) {
        (Some(_), Some(_)) => {
            return Err(Status::bad_request(
                "at most one of sinceTime or sinceSeconds may be specified",
            ));
        }
        (Some(0), None) => {
            return Err(Status::bad_request("sinceSeconds must be greater than 0"));
        }
        (Some(s), None) => Some(now - chrono::Duration::seconds(s.min(i64::MAX as u64) as i64)),
        (None, t) => t,
    };
    let limit_bytes = query.count("limitBytes")?;
    if limit_bytes == Some(0) {
        return Err(Status::bad_request("limitBytes must be greater than 0"));
    }
    Ok(LogOptions {
        follow: query.flag("follow")?,
        tail_lines: query.count("tailLines")?.map(|n| n as usize),
        since,
        timestamps: query.flag("timestamps")?,
        limit_bytes: limit_bytes.map(|n| n as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_the_query() {
        let now = Utc::now();
        let q = Query::parse(Some(
            "follow=true&tailLines=10&timestamps=true&sinceSeconds=60&limitBytes=100",
        ));
        let o = log_options(&q, now).unwrap();
        assert!(o.follow && o.timestamps);
        assert_eq!(o.tail_lines, Some(10));
        assert_eq!(o.limit_bytes, Some(100));
        assert_eq!(o.since, Some(now - chrono::Duration::seconds(60)));
        let q = Query::parse(Some("sinceTime=2026-01-02T03:04:05Z"));
        assert_eq!(
            log_options(&q, now).unwrap().since.unwrap().to_rfc3339(),
            "2026-01-02T03:04:05+00:00"
        );
        assert_eq!(
            log_options(&Query::default(), now).unwrap(),
            LogOptions::default()
        );
    }

    #[test]
    fn conflicting_or_bad_options_are_refused() {
        let now = Utc::now();
        for (q, needle) in [
            (
                "sinceSeconds=5&sinceTime=2026-01-02T03:04:05Z",
                "at most one",
            ),
            ("sinceTime=yesterday", "sinceTime"),
            ("tailLines=x", "tailLines"),
            ("limitBytes=0", "limitBytes"),
            ("sinceSeconds=0", "sinceSeconds"),
        ] {
            let err = log_options(&Query::parse(Some(q)), now).unwrap_err();
            assert!(err.message.contains(needle), "{q}: {}", err.message);
            assert_eq!(err.code, 400);
        }
    }
}
