//! Response negotiation from `Accept`: server-side Tables (`kubectl get`),
//! PartialObjectMetadata, or plain JSON. Protobuf is never produced: a
//! protobuf-preferring Accept gets JSON, which every kubectl accepts.

use axum::http::{HeaderMap, header};

/// How to render objects in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    Json,
    /// `application/json;as=Table;g=meta.k8s.io;v=v1` (or v1beta1).
    Table,
    /// `as=PartialObjectMetadata` / `as=PartialObjectMetadataList`.
    PartialMetadata,
}

/// The first media range of `Accept` that the server can produce.
pub fn rendering(headers: &HeaderMap) -> Rendering {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut params = (None, None, None);
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let v = v.trim().trim_matches('"');
                match k.trim() {
                    "as" => params.0 = Some(v.to_string()),
                    "g" => params.1 = Some(v.to_string()),
                    "v" => params.2 = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        if !matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            continue;
        }
        match params {
            (None, _, _) => return Rendering::Json,
            (Some(as_), Some(g), Some(v))
                if g == "meta.k8s.io" && (v == "v1" || v == "v1beta1") =>
            {
                match as_.as_str() {
                    "Table" => return Rendering::Table,
                    "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                        return Rendering::PartialMetadata;
                    }
                    _ => continue,
                }
            }
            _ => continue,
        }
    }
    Rendering::Json
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> Rendering {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        rendering(&h)
    }

    #[test]
    fn kubectl_accept_headers() {
        assert_eq!(
            accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Rendering::Table
        );
        assert_eq!(accept("application/json, */*"), Rendering::Json);
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf,application/json"),
            Rendering::Json
        );
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf"),
            Rendering::Json
        );
        assert_eq!(
            accept(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Rendering::Json
        );
        assert_eq!(
            accept("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Rendering::PartialMetadata
        );
        assert_eq!(rendering(&HeaderMap::new()), Rendering::Json);
    }
}
