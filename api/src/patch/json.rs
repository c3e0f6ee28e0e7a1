//! RFC 6902 JSON patch and RFC 7386 JSON merge patch, via the `json-patch`
//! crate, with errors worded for kubectl.

use serde_json::Value;

use crate::status::Status;

/// 422 Invalid without details, as kube-apiserver answers a JSON patch
/// that does not apply (kubectl prints `The request is invalid: ...`).
fn unprocessable(message: String) -> Status {
    let mut s = Status::bad_request(message);
    s.code = 422;
    s.reason = "Invalid".into();
    s
}

/// Applies an RFC 6902 JSON patch (a list of operations) to `target`.
pub(crate) fn json_patch(target: &Value, patch: &Value) -> Result<Value, Status> {
    if !patch.is_array() {
        return Err(Status::bad_request(
            "a JSON patch must be a list of operations, e.g. [{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3}]",
        ));
    }
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| Status::bad_request(format!("invalid JSON patch: {e}")))?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &ops).map_err(|e| {
        unprocessable(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })?;
    Ok(doc)
}

/// Applies an RFC 7386 JSON merge patch: objects merge, `null` deletes,
/// everything else (lists included) replaces.
pub(crate) fn merge_patch(target: &Value, patch: &Value) -> Result<Value, Status> {
    if !patch.is_object() {
        return Err(Status::bad_request(
            "a JSON merge patch must be a JSON object, e.g. {\"spec\":{\"replicas\":3}}",
        ));
    }
    let mut doc = target.clone();
    json_patch::merge(&mut doc, patch);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_operations() {
        let target =
            json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a"}]}}}});
        let out = json_patch(
            &target,
            &json!([
                {"op": "test", "path": "/spec/replicas", "value": 2},
                {"op": "replace", "path": "/spec/replicas", "value": 5},
                {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "b"}},
                {"op": "remove", "path": "/spec/template/spec/containers/0"}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "b"}]}}}})
        );
    }

    #[test]
    fn json_patch_failures() {
        let target = json!({"spec": {"replicas": 2}});
        let err = json_patch(
            &target,
            &json!([{"op": "test", "path": "/spec/replicas", "value": 3}]),
        )
        .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
        assert!(
            err.message.contains("value did not match"),
            "{}",
            err.message
        );
        let err =
            json_patch(&target, &json!([{"op": "remove", "path": "/spec/nothere"}])).unwrap_err();
        assert_eq!(err.code, 422);
        let err = json_patch(&target, &json!([{"op": "explode", "path": "/x"}])).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.starts_with("invalid JSON patch"),
            "{}",
            err.message
        );
        assert_eq!(
            json_patch(&target, &json!({"op": "add"})).unwrap_err().code,
            400
        );
    }

    #[test]
    fn merge_patch_like_scale() {
        let target = json!({"spec": {"replicas": 2, "paused": true, "selector": {"matchLabels": {"a": "b"}}}});
        let out = merge_patch(&target, &json!({"spec": {"replicas": 5, "paused": null}})).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"replicas": 5, "selector": {"matchLabels": {"a": "b"}}}})
        );
        assert_eq!(merge_patch(&target, &json!([1])).unwrap_err().code, 400);
    }
}
