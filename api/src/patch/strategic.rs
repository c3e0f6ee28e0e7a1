//! Applying a strategic merge patch (what `kubectl apply` and `kubectl
//! patch` send): JSON merge patch, except that lists with a merge key merge
//! element by element, and the `$patch`, `$retainKeys`,
//! `$setElementOrder/...` and `$deleteFromPrimitiveList/...` directives.

use serde_json::{Map, Value};

use super::merge_keys::{FieldStrategy, ListStrategy, Node};
use super::values::{
    DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, RETAIN_KEYS, SET_ELEMENT_ORDER, clean, json_eq, key_of,
    normalize_order, position, same_type,
};

/// A map after a patch: kept (possibly changed) or deleted by `$patch: delete`.
enum MapOutcome {
    Keep(Map<String, Value>),
    Delete,
}

/// Applies `patch` to `target` (both JSON objects); `node` is where
/// `target` sits (the object's root for a whole object).
pub(crate) fn apply(target: &Value, patch: &Value, node: Node) -> Result<Value, String> {
    let Some(patch) = patch.as_object() else {
        return Err(format!(
            "the patch must be a JSON object, got {}",
            kind_name(patch)
        ));
    };
    let original = match target {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => return Err(format!("cannot patch a {}", kind_name(other))),
    };
    match merge_map(original, patch, node, "")? {
        MapOutcome::Keep(m) => Ok(Value::Object(m)),
        MapOutcome::Delete => Err("a patch cannot delete the whole object".into()),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    node: Node,
    path: &str,
) -> Result<MapOutcome, String> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("delete") => Ok(MapOutcome::Delete),
            Some("replace") => {
                let rest: Map<String, Value> = patch
                    .iter()
                    .filter(|(k, _)| *k != DIRECTIVE)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                merge_map(Map::new(), &rest, node, path)
            }
            _ => Err(format!(
                "{}: unknown $patch directive {directive} in a map (expected \"replace\" or \"delete\")",
                display_path(path)
            )),
        };
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        retain_keys(&mut original, patch, retain, path)?;
    }

    // The live lists that `$setElementOrder` lists re-order, as they were
    // before the merge (server-only elements keep their place in them).
    let mut orders: Vec<(&str, &Vec<Value>, Vec<Value>)> = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            let Some(order) = value.as_array() else {
                return Err(format!("{}: {key} must be a list", display_path(path)));
            };
            let server = match original.get(field) {
                Some(Value::Array(s)) => s.clone(),
                _ => Vec::new(),
            };
            orders.push((field, order, server));
        }
    }

    for (key, value) in patch {
        if key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_primitive_list(&mut original, field, value, path)?;
            continue;
        }
        if value.is_null() {
            original.shift_remove(key);
            continue;
        }
        let child = node.field(key);
        let child_path = join(path, key);
        let merged = match original.get_mut(key) {
            Some(existing) if same_type(existing, value) => {
                merge_value(std::mem::take(existing), value, child, &child_path)?
            }
            _ => fresh(value, child, &child_path)?,
        };
        match merged {
            // `insert` keeps an existing key where it was.
            Some(v) => {
                original.insert(key.clone(), v);
            }
            None => {
                original.shift_remove(key);
            }
        }
    }

    for (field, order, server) in orders {
        if let Some(Value::Array(items)) = original.get_mut(field) {
            let merge_key = node.field(field).merge_key();
            *items = normalize_order(std::mem::take(items), order, &server, merge_key);
        }
    }
    Ok(MapOutcome::Keep(original))
}

/// Merges a patch value into an existing value of the same JSON type.
/// `None` means the key goes away.
fn merge_value(
    existing: Value,
    patch: &Value,
    field: FieldStrategy,
    path: &str,
) -> Result<Option<Value>, String> {
    Ok(match (existing, patch) {
        (Value::Object(m), Value::Object(p)) => match merge_map(m, p, field.node, path)? {
            MapOutcome::Keep(m) => Some(Value::Object(m)),
            MapOutcome::Delete => None,
        },
        (Value::Array(items), Value::Array(p)) => {
            Some(Value::Array(merge_list(items, p, field, path)?))
        }
        (_, scalar) => Some(scalar.clone()),
    })
}

/// A patch value for a key the original does not have: merged into an
/// empty value, so that directives and `null`s inside do not get stored.
fn fresh(patch: &Value, field: FieldStrategy, path: &str) -> Result<Option<Value>, String> {
    match patch {
        Value::Object(_) => merge_value(Value::Object(Map::new()), patch, field, path),
        Value::Array(_) => merge_value(Value::Array(Vec::new()), patch, field, path),
        Value::Null => Ok(None),
        scalar => Ok(Some(scalar.clone())),
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    field: FieldStrategy,
    path: &str,
) -> Result<Vec<Value>, String> {
    match field.list {
        ListStrategy::Replace => Ok(patch.iter().map(clean).collect()),
        ListStrategy::MergeSet => Ok(merge_set(original, patch)),
        ListStrategy::MergeByKey(key) => merge_by_key(original, patch, key, field, path),
    }
}

/// Scalars merged as a set: the patch's new values join the list.
fn merge_set(original: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let server = original.clone();
    let mut merged = original;
    for v in patch {
        if !merged.iter().any(|e| json_eq(e, v)) {
            merged.push(v.clone());
        }
    }
    normalize_order(merged, patch, &server, None)
}

fn merge_by_key(
    original: Vec<Value>,
    patch: &[Value],
    key: &'static str,
    field: FieldStrategy,
    path: &str,
) -> Result<Vec<Value>, String> {
    let mut merged = original;
    for e in &merged {
        if !e.is_object() {
            return Err(format!(
                "{}: cannot merge list elements by \"{key}\": element {e} is not an object",
                display_path(path)
            ));
        }
    }
    let mut replace = false;
    let mut elements: Vec<&Map<String, Value>> = Vec::new();
    for p in patch {
        let Some(pm) = p.as_object() else {
            return Err(format!(
                "{}: patch element {p} is not an object (the list merges by \"{key}\")",
                display_path(path)
            ));
        };
        match pm.get(DIRECTIVE).map(|d| d.as_str()) {
            None => elements.push(pm),
            Some(Some("delete")) => {
                let Some(id) = pm.get(key) else {
                    return Err(no_merge_key(path, p, key));
                };
                merged.retain(|e| !key_of(e, Some(key)).is_some_and(|k| json_eq(k, id)));
            }
            Some(Some("replace")) => replace = true,
            Some(_) => {
                return Err(format!(
                    "{}: unknown $patch directive in list element {p} (expected \"delete\" or \"replace\")",
                    display_path(path)
                ));
            }
        }
    }
    if replace {
        let mut out = Vec::new();
        for e in elements {
            if let MapOutcome::Keep(m) = merge_map(Map::new(), e, field.node, path)? {
                out.push(Value::Object(m));
            }
        }
        return Ok(out);
    }
    let server = merged.clone();
    let mut order = Vec::with_capacity(elements.len());
    for pm in elements {
        let Some(id) = pm.get(key) else {
            return Err(no_merge_key(path, &Value::Object(pm.clone()), key));
        };
        order.push(Value::Object(pm.clone()));
        match position(&merged, id, Some(key)) {
            Some(i) => {
                let existing = match std::mem::take(&mut merged[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                match merge_map(existing, pm, field.node, path)? {
                    MapOutcome::Keep(m) => merged[i] = Value::Object(m),
                    MapOutcome::Delete => {
                        merged.remove(i);
                    }
                }
            }
            None => {
                if let MapOutcome::Keep(m) = merge_map(Map::new(), pm, field.node, path)? {
                    merged.push(Value::Object(m));
                }
            }
        }
    }
    Ok(normalize_order(merged, &order, &server, Some(key)))
}

fn no_merge_key(path: &str, element: &Value, key: &str) -> String {
    format!(
        "{}: map {element} does not contain declared merge key: {key}",
        display_path(path)
    )
}

/// `$retainKeys`: keys of the original not listed are cleared before the
/// merge; every key the patch sets must be listed.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &str,
) -> Result<(), String> {
    let Some(list) = retain.as_array() else {
        return Err(format!(
            "{}: $retainKeys must be a list of strings",
            display_path(path)
        ));
    };
    let keep: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    if keep.len() != list.len() {
        return Err(format!(
            "{}: $retainKeys must be a list of strings",
            display_path(path)
        ));
    }
    for (k, v) in patch {
        if v.is_null() || super::values::is_directive_key(k) {
            continue;
        }
        if !keep.contains(&k.as_str()) {
            return Err(format!(
                "{}: field \"{k}\" is set by the patch but missing from $retainKeys",
                display_path(path)
            ));
        }
    }
    original.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    field: &str,
    values: &Value,
    path: &str,
) -> Result<(), String> {
    let Some(values) = values.as_array() else {
        return Err(format!(
            "{}: {DELETE_FROM_PRIMITIVE_LIST}{field} must be a list",
            display_path(path)
        ));
    };
    if let Some(Value::Array(items)) = original.get_mut(field) {
        items.retain(|e| !values.iter().any(|v| json_eq(e, v)));
    }
    Ok(())
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::by_kind;
    use serde_json::json;

    fn root(kind: &str) -> Node {
        let rt = match kind {
            "Deployment" => by_kind("apps/v1", kind),
            _ => by_kind("v1", kind),
        };
        Node::root(rt.unwrap())
    }

    /// The seed Deployment as the API server stores it (with defaults).
    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "namespace": "default", "uid": "u1",
                         "resourceVersion": "5", "generation": 1, "labels": {"app": "nginx"},
                         "finalizers": ["a"]},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "nginx"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{
                        "name": "nginx", "image": "nginx:latest", "imagePullPolicy": "Always",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}]
                    }], "restartPolicy": "Always"}
                }
            },
            "status": {"replicas": 2}
        })
    }

    fn seed_service() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "nginx-service", "namespace": "default"},
            "spec": {"selector": {"app": "nginx"}, "type": "LoadBalancer", "clusterIP": "10.96.0.10",
                     "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP", "nodePort": 31962}]}
        })
    }

    fn smp(target: &Value, patch: Value) -> Value {
        apply(target, &patch, root(target["kind"].as_str().unwrap())).unwrap()
    }

    fn containers(v: &Value) -> &Vec<Value> {
        v["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
    }

    #[test]
    fn replicas_and_image_like_kubectl_apply() {
        let out = smp(
            &deployment(),
            json!({
                "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
                "spec": {"replicas": 3, "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"image": "nginx:1.27", "name": "nginx"}]}}}
            }),
        );
        assert_eq!(out["spec"]["replicas"], 3);
        let c = containers(&out);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["image"], "nginx:1.27");
        assert_eq!(c[0]["imagePullPolicy"], "Always");
        assert_eq!(
            c[0]["ports"],
            json!([{"containerPort": 80, "protocol": "TCP"}])
        );
        assert_eq!(
            out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{}\n"
        );
        assert_eq!(out["metadata"]["labels"], json!({"app": "nginx"}));
        assert!(
            out["spec"]["template"]["spec"]
                .get("$setElementOrder/containers")
                .is_none()
        );
    }

    #[test]
    fn label_recreate_env_sidecar_and_dropped_ports() {
        let out = smp(
            &deployment(),
            json!({
                "metadata": {"labels": {"team": "a"}},
                "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                  "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                    "containers": [
                        {"env": [{"name": "FOO", "value": "bar"}], "name": "nginx", "ports": null},
                        {"command": ["sleep", "3600"], "image": "busybox", "name": "sidecar"}]}}}
            }),
        );
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "nginx", "team": "a"})
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let c = containers(&out);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["name"], "nginx");
        assert_eq!(c[0]["env"], json!([{"name": "FOO", "value": "bar"}]));
        assert!(c[0].get("ports").is_none());
        assert_eq!(c[0]["image"], "nginx:latest");
        assert_eq!(
            c[1],
            json!({"command": ["sleep", "3600"], "image": "busybox", "name": "sidecar"})
        );
    }

    #[test]
    fn remove_labels_env_and_sidecar() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "nginx", "image": "nginx", "env": [{"name": "FOO", "value": "bar"}]},
            {"name": "sidecar", "image": "busybox"}]);
        let out = smp(
            &d,
            json!({
                "metadata": {"labels": null},
                "spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"env": null, "name": "nginx"}, {"$patch": "delete", "name": "sidecar"}]}}}
            }),
        );
        assert!(out["metadata"].get("labels").is_none());
        assert_eq!(
            containers(&out),
            &vec![json!({"name": "nginx", "image": "nginx"})]
        );
    }

    #[test]
    fn service_target_port() {
        let out = smp(
            &seed_service(),
            json!({
                "spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": 8080}]}
            }),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31962}])
        );
    }

    #[test]
    fn service_ports_merge_by_port_and_new_ones_come_first() {
        let out = smp(
            &seed_service(),
            json!({"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}),
        );
        let ports = out["spec"]["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 2);
        assert_eq!(ports[0]["port"], 443);
        assert_eq!(ports[1]["nodePort"], 31962);
    }

    #[test]
    fn replace_directive_in_a_map() {
        let out = smp(
            &deployment(),
            json!({
                "spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}
            }),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn delete_directive_in_a_map() {
        let out = smp(
            &deployment(),
            json!({"spec": {"strategy": {"$patch": "delete"}}}),
        );
        assert!(out["spec"].get("strategy").is_none());
        let out = smp(
            &deployment(),
            json!({"spec": {"nothere": {"$patch": "delete"}}}),
        );
        assert!(out["spec"].get("nothere").is_none());
    }

    #[test]
    fn replace_directive_as_a_list_element() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "busybox"}, {"$patch": "replace"}]}}}}),
        );
        assert_eq!(
            containers(&out),
            &vec![json!({"name": "only", "image": "busybox"})]
        );
    }

    #[test]
    fn retain_keys_clears_unlisted_keys_and_checks_the_patch() {
        let out = smp(
            &deployment(),
            json!({"spec": {"strategy": {"$retainKeys": ["type", "rollingUpdate"], "type": "RollingUpdate"}}}),
        );
        assert_eq!(out["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let err = apply(
            &deployment(),
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
            root("Deployment"),
        )
        .unwrap_err();
        assert!(err.contains("missing from $retainKeys"), "{err}");
    }

    #[test]
    fn delete_from_primitive_list_and_primitive_merge() {
        let out = smp(&deployment(), json!({"metadata": {"finalizers": ["b"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "a"]));
        let out = smp(
            &out,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let out = smp(
            &out,
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "b"], "finalizers": ["c"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "b"]));
    }

    #[test]
    fn set_element_order_reorders() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "b"}]);
        let out = smp(
            &d,
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}),
        );
        assert_eq!(
            containers(&out),
            &vec![json!({"name": "b"}), json!({"name": "a"})]
        );
    }

    #[test]
    fn non_merge_lists_are_replaced() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["tolerations"] = json!([{"key": "a", "operator": "Exists"}]);
        let out = smp(
            &d,
            json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
        let out = smp(
            &d,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "command": ["a"]}]}}}}),
        );
        let out = smp(
            &out,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "command": ["b", "c"]}]}}}}),
        );
        assert_eq!(containers(&out)[0]["command"], json!(["b", "c"]));
    }

    #[test]
    fn nested_merge_lists() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [
            {"name": "nginx", "ports": [{"containerPort": 443}], "env": [{"name": "A", "value": "1"}]}]}}}}),
        );
        let c = &containers(&out)[0];
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}])
        );
        assert_eq!(c["env"], json!([{"name": "A", "value": "1"}]));
    }

    #[test]
    fn new_keys_drop_nulls_and_directives() {
        let out = smp(
            &deployment(),
            json!({"spec": {"paused": true, "extra": {"a": null, "b": 1},
            "template": {"spec": {"volumes": [{"name": "v", "emptyDir": {}, "$retainKeys": ["name", "emptyDir"]}]}}}}),
        );
        assert_eq!(out["spec"]["paused"], true);
        assert_eq!(out["spec"]["extra"], json!({"b": 1}));
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "v", "emptyDir": {}}])
        );
    }

    #[test]
    fn type_changes_replace() {
        let out = smp(
            &deployment(),
            json!({"spec": {"replicas": {"weird": true}}}),
        );
        assert_eq!(out["spec"]["replicas"], json!({"weird": true}));
    }

    #[test]
    fn errors() {
        let d = deployment();
        let e = apply(&d, &json!([1]), root("Deployment")).unwrap_err();
        assert!(e.contains("must be a JSON object"));
        let e = apply(
            &d,
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            root("Deployment"),
        )
        .unwrap_err();
        assert!(
            e.contains("does not contain declared merge key: name"),
            "{e}"
        );
        assert!(e.starts_with("spec.template.spec.containers"), "{e}");
        let e = apply(
            &d,
            &json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}),
            root("Deployment"),
        )
        .unwrap_err();
        assert!(e.contains("merge key"), "{e}");
        let e = apply(
            &d,
            &json!({"spec": {"$patch": "explode"}}),
            root("Deployment"),
        )
        .unwrap_err();
        assert!(e.contains("unknown $patch directive"), "{e}");
        let e = apply(&d, &json!({"$patch": "delete"}), root("Deployment")).unwrap_err();
        assert!(e.contains("whole object"), "{e}");
    }
}
