//! Objects as `-o yaml`, `-o json` and `-o name` print them.

use serde_json::{Value, json};
use skiff_api::resource::ResourceType;

use crate::jsonfmt;
use crate::kinds;

/// What the user sees of a stored object: `apiVersion`/`kind` filled in
/// (list items may lack them), `managedFields` hidden.
pub fn prepare(mut obj: Value, rt: &ResourceType) -> Value {
    if let Value::Object(m) = &mut obj {
        let missing = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
        if missing(m.get("apiVersion")) {
            m.insert("apiVersion".into(), json!(rt.api_version()));
        }
        if missing(m.get("kind")) {
            m.insert("kind".into(), json!(rt.kind));
        }
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.remove("managedFields");
        }
    }
    obj
}

/// Several objects as kubectl's `List`.
pub fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

pub fn to_json(v: &Value) -> String {
    let mut s = jsonfmt::pretty(v);
    s.push('\n');
    s
}

pub fn to_yaml(v: &Value) -> String {
    match serde_saphyr::to_string(&jsonfmt::sorted(v)) {
        Ok(s) if s.ends_with('\n') => s,
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // A JSON value always has a YAML form; keep the output usable regardless.
        Err(_) => to_json(v),
    }
}

/// `deployment.apps/nginx-deployment`.
pub fn name_line(rt: &ResourceType, obj: &Value) -> String {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    kinds::object_name(rt, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_objects_print_sorted() {
        let rt = skiff_api::resource::by_kind("apps/v1", "Deployment").unwrap();
        let o = prepare(
            json!({"metadata":{"name":"d","managedFields":[{}]},"spec":{"replicas":2}}),
            rt,
        );
        assert_eq!(
            to_yaml(&o),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 2\n"
        );
        assert!(to_json(&o).starts_with("{\n    \"apiVersion\": \"apps/v1\",\n"));
        assert_eq!(name_line(rt, &o), "deployment.apps/d");
        let l = list(vec![o]);
        assert!(
            to_yaml(&l).starts_with("apiVersion: v1\nitems:\n- apiVersion: apps/v1\n"),
            "{}",
            to_yaml(&l)
        );
    }
}
