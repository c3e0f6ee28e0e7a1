//! Small accessors for the JSON objects the server stores: everything is a
//! `serde_json::Value`, and these keep the `metadata` plumbing readable.

use serde_json::{Map, Value};

/// `metadata.<field>` as a string, if present.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name`, or `""`.
pub fn name_of(object: &Value) -> &str {
    meta_str(object, "name").unwrap_or_default()
}

/// `metadata.namespace`, or `""`.
pub fn namespace_of(object: &Value) -> &str {
    meta_str(object, "namespace").unwrap_or_default()
}

/// `metadata.uid`, or `""`.
pub fn uid_of(object: &Value) -> &str {
    meta_str(object, "uid").unwrap_or_default()
}

/// The `metadata` map, created when missing (or replaced when not an object).
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    let map = object_mut(object);
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    object_mut(meta)
}

/// The value as a map, turning it into an empty one if it is not an object.
pub fn object_mut(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// Sets `metadata.<field>`.
pub fn set_meta(object: &mut Value, field: &str, value: Value) {
    metadata_mut(object).insert(field.to_string(), value);
}

/// Removes `metadata.<field>`.
pub fn remove_meta(object: &mut Value, field: &str) -> Option<Value> {
    metadata_mut(object).remove(field)
}

/// `metadata.<field>` cloned, or `None`.
pub fn meta_value(object: &Value, field: &str) -> Option<Value> {
    object.get("metadata")?.get(field).cloned()
}

/// `metadata.generation`, or 0.
pub fn generation_of(object: &Value) -> i64 {
    object
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// `metadata.finalizers` as strings.
pub fn finalizers_of(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_being_deleted(object: &Value) -> bool {
    meta_str(object, "deletionTimestamp").is_some()
}

/// Sets `metadata.resourceVersion` to `revision`.
pub fn set_resource_version(object: &mut Value, revision: i64) {
    set_meta(
        object,
        "resourceVersion",
        Value::String(revision.to_string()),
    );
}

/// Parses a `resourceVersion` string; `""` is `None`.
pub fn parse_resource_version(rv: &str) -> Result<Option<i64>, skiff_api::Status> {
    if rv.is_empty() {
        return Ok(None);
    }
    rv.parse::<i64>()
        .map(Some)
        .map_err(|_| skiff_api::Status::bad_request(format!("invalid resource version: {rv:?}")))
}

/// A top-level field of the object (`spec`, `status`, `data`), cloned.
pub fn field(object: &Value, name: &str) -> Option<Value> {
    object.get(name).cloned()
}

/// Sets or removes a top-level field.
pub fn set_field(object: &mut Value, name: &str, value: Option<Value>) {
    let map = object_mut(object);
    match value {
        Some(v) => {
            map.insert(name.to_string(), v);
        }
        None => {
            map.remove(name);
        }
    }
}

/// Everything except `metadata` and `status`: what "the spec changed" means
/// for generation, also for kinds without a `spec` (ConfigMap `data`).
pub fn desired_state(object: &Value) -> Value {
    let mut out = Map::new();
    if let Some(map) = object.as_object() {
        for (k, v) in map {
            if !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind") {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Now as Kubernetes writes timestamps (`2026-11-27T06:35:16Z`).
pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

/// A time as Kubernetes writes timestamps, whole seconds.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_accessors() {
        let mut o = json!({"metadata": {"name": "a", "finalizers": ["x", "y"]}});
        assert_eq!(name_of(&o), "a");
        assert_eq!(namespace_of(&o), "");
        assert_eq!(finalizers_of(&o), vec!["x", "y"]);
        set_resource_version(&mut o, 42);
        assert_eq!(meta_str(&o, "resourceVersion"), Some("42"));
        assert!(!is_being_deleted(&o));
        let mut bare = json!("not an object");
        set_meta(&mut bare, "name", json!("b"));
        assert_eq!(name_of(&bare), "b");
    }

    #[test]
    fn desired_state_ignores_metadata_and_status() {
        let a =
            json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"r": 1}, "status": {"s": 1}});
        let b =
            json!({"kind": "X", "metadata": {"name": "b"}, "spec": {"r": 1}, "status": {"s": 2}});
        assert_eq!(desired_state(&a), desired_state(&b));
        let c = json!({"data": {"k": "v"}});
        assert_eq!(desired_state(&c), json!({"data": {"k": "v"}}));
    }

    #[test]
    fn resource_versions_parse() {
        assert_eq!(parse_resource_version("").unwrap(), None);
        assert_eq!(parse_resource_version("17").unwrap(), Some(17));
        assert_eq!(parse_resource_version("x").unwrap_err().code, 400);
    }
}
