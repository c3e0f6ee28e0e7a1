//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386),
//! strategic merge patch (what `kubectl apply` sends), and server-side
//! apply treated as a strategic merge of the whole applied object. Also the
//! three-way patch computation client-side apply needs.
//!
//! Everything works on `serde_json::Value`; the caller decodes, defaults
//! and validates the result with the kind's codec.

mod json;
mod merge_keys;
mod strategic;
mod strategic_diff;
mod three_way;
mod values;

use serde_json::Value;

use crate::resource::ResourceType;
use crate::status::Status;

pub use merge_keys::{FieldStrategy, ListStrategy, Node, field_strategy};
pub use three_way::{three_way_strategic, two_way_strategic};

/// The PATCH request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

/// The media types a PATCH accepts, for 415 messages.
pub const ACCEPTED_PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
];

impl PatchType {
    /// Parses a `Content-Type` value; parameters (`; charset=utf-8`) and
    /// case are ignored. `None` for anything else.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => ACCEPTED_PATCH_TYPES[0],
            PatchType::Merge => ACCEPTED_PATCH_TYPES[1],
            PatchType::Apply => ACCEPTED_PATCH_TYPES[2],
            PatchType::Strategic => ACCEPTED_PATCH_TYPES[3],
        }
    }

    /// The 415 a PATCH with another `Content-Type` gets (the real wording).
    pub fn unsupported() -> Status {
        Status::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            ACCEPTED_PATCH_TYPES.join(", ")
        ))
    }
}

/// Applies `patch` to `target` (a whole object of kind `rt`). The result
/// still needs decoding/validation by the caller. Errors are 400 (a
/// malformed patch) or 422 (a JSON patch whose operations do not apply).
///
/// `Apply` (server-side apply) is served as a strategic merge of the
/// applied configuration into the object: fields it sets are set, lists
/// merge by key; fields it no longer mentions are not removed (there is no
/// field ownership tracking).
pub fn apply_patch(
    patch_type: PatchType,
    rt: &ResourceType,
    target: &Value,
    patch: &Value,
) -> Result<Value, Status> {
    match patch_type {
        PatchType::Json => json::json_patch(target, patch),
        PatchType::Merge => json::merge_patch(target, patch),
        PatchType::Strategic | PatchType::Apply => strategic::apply(target, patch, Node::root(rt))
            .map_err(|e| Status::bad_request(format!("invalid strategic merge patch: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::by_kind;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json"),
            Some(PatchType::Json)
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("Application/Strategic-Merge-Patch+JSON"),
            Some(PatchType::Strategic)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        for t in [
            PatchType::Json,
            PatchType::Merge,
            PatchType::Strategic,
            PatchType::Apply,
        ] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
        let s = PatchType::unsupported();
        assert_eq!((s.code, s.reason.as_str()), (415, "UnsupportedMediaType"));
        assert_eq!(
            s.message,
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, \
             application/apply-patch+yaml, application/strategic-merge-patch+json"
        );
    }

    #[test]
    fn dispatch() {
        let rt = by_kind("apps/v1", "Deployment").unwrap();
        let d = json!({"kind": "Deployment", "spec": {"replicas": 1,
            "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let merged =
            apply_patch(PatchType::Merge, rt, &d, &json!({"spec": {"replicas": 5}})).unwrap();
        assert_eq!(merged["spec"]["replicas"], 5);
        let jp = apply_patch(
            PatchType::Json,
            rt,
            &d,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]),
        )
        .unwrap();
        assert_eq!(jp["spec"]["replicas"], 4);
        let smp =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}});
        let s = apply_patch(PatchType::Strategic, rt, &d, &smp).unwrap();
        assert_eq!(
            s["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let m = apply_patch(PatchType::Merge, rt, &d, &smp).unwrap();
        assert_eq!(
            m["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let a = apply_patch(PatchType::Apply, rt, &d, &smp).unwrap();
        assert_eq!(a, s);
        let err = apply_patch(PatchType::Strategic, rt, &d, &json!("x")).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.starts_with("invalid strategic merge patch: "),
            "{}",
            err.message
        );
    }
}
