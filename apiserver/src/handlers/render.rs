//! Responses: objects and lists as JSON, Tables or PartialObjectMetadata,
//! with `Warning` headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use skiff_api::ResourceType;

use crate::negotiate::Rendering;
use crate::registry::{ListPage, WriteOutcome};

/// `value` as a JSON response.
pub fn json_response(code: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = (code, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A created, replaced or patched object, rendered as the client asked,
/// with the write's warnings.
pub fn written(
    code: StatusCode,
    rt: &ResourceType,
    out: &WriteOutcome,
    rendering: Rendering,
) -> Response {
    with_warnings(
        json_response(code, &object(rt, &out.object, rendering)),
        &out.warnings,
    )
}

/// Adds one `Warning: 299 - "..."` header per warning (kubectl prints them).
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// One object rendered as asked.
pub fn object(rt: &ResourceType, object: &Value, rendering: Rendering) -> Value {
    match rendering {
        Rendering::Json => object.clone(),
        Rendering::Table => {
            let rv = crate::value::meta_str(object, "resourceVersion")
                .unwrap_or_default()
                .to_string();
            table(rt, std::slice::from_ref(object), &rv, None)
        }
        Rendering::PartialMetadata => partial(object),
    }
}

/// A list rendered as asked.
pub fn list(rt: &ResourceType, page: &ListPage, rendering: Rendering) -> Value {
    let revision = page.revision.to_string();
    match rendering {
        Rendering::Table => table(rt, &page.items, &revision, page.continue_token.as_deref()),
        Rendering::Json | Rendering::PartialMetadata => {
            let mut metadata = json!({"resourceVersion": revision});
            if let Some(c) = &page.continue_token {
                metadata["continue"] = json!(c);
            }
            let (kind, api_version, items): (String, String, Vec<Value>) = match rendering {
                Rendering::PartialMetadata => (
                    "PartialObjectMetadataList".into(),
                    "meta.k8s.io/v1".into(),
                    page.items.iter().map(partial).collect(),
                ),
                _ => (rt.list_kind(), rt.api_version(), page.items.clone()),
            };
            json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items})
        }
    }
}

/// A server-side Table of `objects` (the columns `kubectl get` prints).
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    skiff_api::table::table(
        rt,
        objects,
        resource_version,
        continue_token,
        chrono::Utc::now(),
    )
}

/// `PartialObjectMetadata`: the object's metadata only.
pub fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::PODS;

    #[test]
    fn warnings_are_quoted() {
        let r = with_warnings(
            json_response(StatusCode::OK, &json!({})),
            &["unknown field \"spec.foo\"".to_string()],
        );
        assert_eq!(
            r.headers()[header::WARNING],
            "299 - \"unknown field \\\"spec.foo\\\"\""
        );
    }

    #[test]
    fn lists_carry_kind_and_revision() {
        let page = ListPage {
            items: vec![json!({"metadata": {"name": "a"}})],
            revision: 7,
            continue_token: Some("tok".into()),
        };
        let l = list(&PODS, &page, Rendering::Json);
        assert_eq!(l["kind"], "PodList");
        assert_eq!(
            l["metadata"],
            json!({"resourceVersion": "7", "continue": "tok"})
        );
        let p = list(&PODS, &page, Rendering::PartialMetadata);
        assert_eq!(p["items"][0]["kind"], "PartialObjectMetadata");
    }
}
