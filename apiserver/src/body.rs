//! Request bodies: JSON or YAML by `Content-Type`, size-limited. Anything
//! else is 415 with the accepted types; malformed input is 400 naming where.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde_json::Value;
use skiff_api::Status;

/// The media types an object body may come in.
pub const OBJECT_MEDIA_TYPES: &str = "application/json, application/yaml";

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Status> {
    let too_large = || {
        Status::request_entity_too_large(format!(
            "the request body is too large: the limit is {limit} bytes"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large()
        } else {
            Status::bad_request(format!("reading the request body: {e}"))
        }
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The media type of the request, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The body format of an object write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// Which format the `Content-Type` names; 415 for anything else. A missing
/// `Content-Type` is read as JSON.
pub fn object_format(headers: &HeaderMap) -> Result<Format, Status> {
    match media_type(headers).as_str() {
        "" | "application/json" | "*/*" => Ok(Format::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(Format::Yaml),
        other => Err(unsupported(other, OBJECT_MEDIA_TYPES)),
    }
}

/// 415 naming what was sent and what is accepted.
pub fn unsupported(sent: &str, accepted: &str) -> Status {
    Status::unsupported_media_type(format!(
        "the body of the request was in an unknown format ({sent}) - accepted media types include: {accepted}"
    ))
}

/// Decodes an object body (JSON or YAML) into a JSON value.
pub fn decode_object(headers: &HeaderMap, body: &[u8]) -> Result<Value, Status> {
    let format = object_format(headers)?;
    decode(format, body)
}

/// Decodes `body` in `format`; empty bodies and non-objects are 400.
pub fn decode(format: Format, body: &[u8]) -> Result<Value, Status> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Status::bad_request("the request body is empty"));
    }
    let value: Value = match format {
        Format::Json => serde_json::from_slice(body)
            .map_err(|e| Status::bad_request(format!("error decoding JSON: {e}")))?,
        Format::Yaml => serde_saphyr::from_slice(body).map_err(|e| yaml_error(&e))?,
    };
    if !value.is_object() {
        return Err(Status::bad_request(
            "the request body must be an object (a JSON or YAML mapping)",
        ));
    }
    Ok(value)
}

/// `error converting YAML to JSON: yaml: line 3, column 7: ...`, the wording
/// of kube-apiserver with serde-saphyr's detail.
fn yaml_error(e: &serde_saphyr::Error) -> Status {
    let detail = e.to_string();
    let first_line = detail.lines().next().unwrap_or_default();
    let first_line = first_line
        .strip_prefix("error: ")
        .unwrap_or(first_line)
        .to_string();
    let message = match e.location() {
        Some(loc) if !first_line.contains("line") => format!(
            "error converting YAML to JSON: yaml: line {}, column {}: {first_line}",
            loc.line(),
            loc.column()
        ),
        _ => format!("error converting YAML to JSON: yaml: {first_line}"),
    };
    Status::bad_request(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn json_and_yaml_bodies() {
        let v = decode_object(&headers("application/json; charset=utf-8"), br#"{"a":1}"#).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
        let v = decode_object(&headers("application/yaml"), b"a: 1\nb:\n  - x\n").unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "b": ["x"]}));
    }

    #[test]
    fn bad_bodies() {
        let e = decode_object(&headers("text/plain"), b"{}").unwrap_err();
        assert_eq!(e.code, 415);
        assert!(e.message.contains("application/json"), "{}", e.message);
        let e = decode_object(&headers("application/yaml"), b"a: 1\nb: [\n  c: d\n").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message
                .starts_with("error converting YAML to JSON: yaml: line 2"),
            "{}",
            e.message
        );
        let e = decode_object(&headers("application/json"), b"[1]").unwrap_err();
        assert_eq!(e.code, 400);
        let e = decode_object(&headers("application/json"), b"  ").unwrap_err();
        assert_eq!(e.code, 400);
    }

    #[tokio::test]
    async fn size_limit() {
        let h = HeaderMap::new();
        let body = Body::from(vec![b'x'; 100]);
        assert_eq!(read_limited(&h, body, 10).await.unwrap_err().code, 413);
        let body = Body::from(vec![b'x'; 10]);
        assert_eq!(read_limited(&h, body, 10).await.unwrap().len(), 10);
    }
}
