//! Patches for client-side apply (what `kubectl apply` computes): the
//! changes from the live object to the new manifest, ignoring what only the
//! live object has (server defaults, other writers), plus the deletions from
//! the last-applied manifest to the new one.

use serde_json::{Map, Value};

use super::merge_keys::{ListStrategy, Node};
use super::strategic_diff::{DiffOptions, diff_maps};
use super::values::{
    DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, SET_ELEMENT_ORDER, json_eq, key_of, position, same_type,
};
use crate::resource::ResourceType;
use crate::status::Status;

fn object<'a>(what: &str, v: &'a Value) -> Result<&'a Map<String, Value>, Status> {
    v.as_object()
        .ok_or_else(|| Status::bad_request(format!("the {what} object must be a JSON object")))
}

/// The strategic merge patch that turns `current` (the live object) into
/// what `modified` (the new manifest, with its new last-applied annotation)
/// asks for, deleting what the user removed since `original` (the
/// last-applied configuration; `None` or `null` when there is none).
/// Returns `{}` when nothing needs to change.
pub fn three_way_strategic(
    rt: &ResourceType,
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
) -> Result<Value, Status> {
    let empty = Map::new();
    let original = match original {
        None | Some(Value::Null) => &empty,
        Some(v) => object("original (last-applied)", v)?,
    };
    let modified = object("modified", modified)?;
    let current = object("current", current)?;
    let root = Node::root(rt);
    let fail = |e: String| Status::bad_request(format!("cannot compute the apply patch: {e}"));
    let delta = diff_maps(
        current,
        modified,
        root,
        false,
        DiffOptions {
            ignore_deletions: true,
            ..Default::default()
        },
        "",
    )
    .map_err(fail)?;
    let deletions = diff_maps(
        original,
        modified,
        root,
        false,
        DiffOptions {
            ignore_changes_and_additions: true,
            ..Default::default()
        },
        "",
    )
    .map_err(fail)?;
    Ok(Value::Object(merge_patches(deletions, &delta, root)))
}

/// The strategic merge patch from `original` to `modified` (every change,
/// addition and deletion).
pub fn two_way_strategic(
    rt: &ResourceType,
    original: &Value,
    modified: &Value,
) -> Result<Value, Status> {
    let original = object("original", original)?;
    let modified = object("modified", modified)?;
    diff_maps(
        original,
        modified,
        Node::root(rt),
        false,
        DiffOptions::default(),
        "",
    )
    .map(Value::Object)
    .map_err(|e| Status::bad_request(format!("cannot compute the patch: {e}")))
}

/// Combines two patches computed from the same `modified` into one that
/// does both: `null`s and directives are kept, merge lists are combined
/// element by element.
fn merge_patches(
    mut into: Map<String, Value>,
    from: &Map<String, Value>,
    node: Node,
) -> Map<String, Value> {
    for (key, value) in from {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let merged = match (into.get(key), value) {
                (Some(Value::Array(a)), Value::Array(b)) => Value::Array(union(a, b)),
                _ => value.clone(),
            };
            into.insert(key.clone(), merged);
            continue;
        }
        let field = node.field(key);
        let merged = match into.get_mut(key) {
            Some(existing) if same_type(existing, value) && !value.is_null() => {
                match (std::mem::take(existing), value) {
                    (Value::Object(a), Value::Object(b)) => {
                        Value::Object(merge_patches(a, b, field.node))
                    }
                    (Value::Array(a), Value::Array(b)) => match field.list {
                        ListStrategy::MergeByKey(k) => {
                            Value::Array(merge_keyed_patches(a, b, k, field.node))
                        }
                        ListStrategy::MergeSet => Value::Array(union(&a, b)),
                        ListStrategy::Replace => Value::Array(b.clone()),
                    },
                    (_, scalar) => scalar.clone(),
                }
            }
            _ => value.clone(),
        };
        into.insert(key.clone(), merged);
    }
    order_patch_lists(&mut into, node);
    into
}

fn union(a: &[Value], b: &[Value]) -> Vec<Value> {
    let mut out = a.to_vec();
    for v in b {
        if position(&out, v, None).is_none() {
            out.push(v.clone());
        }
    }
    out
}

fn merge_keyed_patches(a: Vec<Value>, b: &[Value], key: &str, node: Node) -> Vec<Value> {
    let mut out = a;
    for e in b {
        let slot = key_of(e, Some(key)).and_then(|id| position(&out, id, Some(key)));
        match (slot, e) {
            (Some(i), Value::Object(em)) if out[i].get(DIRECTIVE).is_none() => {
                if let Value::Object(existing) = std::mem::take(&mut out[i]) {
                    out[i] = Value::Object(merge_patches(existing, em, node));
                }
            }
            _ => out.push(e.clone()),
        }
    }
    out
}

/// Puts the elements of each merge list in the patch in the order of its
/// `$setElementOrder/` list, delete directives last, like kubectl.
fn order_patch_lists(patch: &mut Map<String, Value>, node: Node) {
    let orders: Vec<(String, Vec<Value>)> = patch
        .iter()
        .filter_map(|(k, v)| {
            let field = k.strip_prefix(SET_ELEMENT_ORDER)?;
            Some((field.to_string(), v.as_array()?.clone()))
        })
        .collect();
    for (field, order) in orders {
        let merge_key = node.field(&field).merge_key();
        if let Some(Value::Array(items)) = patch.get_mut(&field) {
            let rank = |e: &Value| {
                if e.get(DIRECTIVE).is_some() {
                    return usize::MAX;
                }
                key_of(e, merge_key)
                    .and_then(|id| {
                        order
                            .iter()
                            .position(|o| key_of(o, merge_key).is_some_and(|k| json_eq(k, id)))
                    })
                    .unwrap_or(usize::MAX - 1)
            };
            items.sort_by_key(rank);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::{PatchType, apply_patch};
    use crate::resource::by_kind;
    use serde_json::json;

    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

    fn deployments() -> &'static ResourceType {
        by_kind("apps/v1", "Deployment").unwrap()
    }

    fn services() -> &'static ResourceType {
        by_kind("v1", "Service").unwrap()
    }

    /// The seed manifest (manifests/nginx-deployment.yaml) as kubectl sends
    /// it, with the last-applied annotation of itself.
    fn manifest(replicas: i64, image: &str) -> Value {
        let mut m = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
                     "template": {"metadata": {"labels": {"app": "nginx"}},
                                  "spec": {"containers": [{"name": "nginx", "image": image,
                                                           "ports": [{"containerPort": 80}]}]}}}
        });
        annotate(&mut m);
        m
    }

    fn annotate(m: &mut Value) {
        let mut bare = m.clone();
        bare["metadata"]["annotations"] = json!({});
        let text = format!("{}\n", serde_json::to_string(&bare).unwrap());
        m["metadata"]["annotations"] = json!({ LAST_APPLIED: text });
    }

    fn last_applied(m: &Value) -> Value {
        let text = m["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        serde_json::from_str(text).unwrap()
    }

    /// What the API server stores for a manifest: defaults, status, identity.
    fn live(m: &Value) -> Value {
        let mut l = m.clone();
        l["metadata"]["uid"] = json!("6f0c1d2e");
        l["metadata"]["resourceVersion"] = json!("42");
        l["metadata"]["generation"] = json!(1);
        l["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        let spec = l["spec"].as_object_mut().unwrap();
        spec.insert("revisionHistoryLimit".into(), json!(10));
        spec.insert("progressDeadlineSeconds".into(), json!(600));
        spec.insert(
            "strategy".into(),
            json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        );
        let pod = l["spec"]["template"]["spec"].as_object_mut().unwrap();
        pod.insert("restartPolicy".into(), json!("Always"));
        pod.insert("dnsPolicy".into(), json!("ClusterFirst"));
        pod.insert("terminationGracePeriodSeconds".into(), json!(30));
        for c in pod["containers"].as_array_mut().unwrap() {
            c["imagePullPolicy"] = json!("Always");
            c["terminationMessagePath"] = json!("/dev/termination-log");
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    p["protocol"] = json!("TCP");
                }
            }
        }
        l["status"] = json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2});
        l
    }

    fn patch_for(old: &Value, new: &Value, current: &Value) -> Value {
        three_way_strategic(deployments(), Some(&last_applied(old)), new, current).unwrap()
    }

    /// Applying the patch to the live object gives every field the manifest
    /// sets, with the manifest's value.
    fn assert_round_trip(rt: &ResourceType, current: &Value, patch: &Value, manifest: &Value) {
        let out = apply_patch(PatchType::Strategic, rt, current, patch).unwrap();
        assert_contains(&out, manifest, "");
    }

    fn assert_contains(have: &Value, want: &Value, path: &str) {
        match (have, want) {
            (Value::Object(h), Value::Object(w)) => {
                for (k, wv) in w {
                    let hv = h
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}.{k} missing in {have}"));
                    assert_contains(hv, wv, &format!("{path}.{k}"));
                }
            }
            (Value::Array(h), Value::Array(w)) => {
                assert_eq!(h.len(), w.len(), "{path}: {have} vs {want}");
                for (i, (hv, wv)) in h.iter().zip(w).enumerate() {
                    assert_contains(hv, wv, &format!("{path}[{i}]"));
                }
            }
            _ => assert!(json_eq(have, want), "{path}: {have} != {want}"),
        }
    }

    #[test]
    fn applying_the_same_manifest_twice_is_unchanged() {
        let m = manifest(2, "nginx:latest");
        let patch = patch_for(&m, &m, &live(&m));
        assert_eq!(patch, json!({}));
    }

    #[test]
    fn without_last_applied_only_additions_and_changes() {
        let m = manifest(2, "nginx:latest");
        let mut current = live(&m);
        current["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        let patch = three_way_strategic(deployments(), None, &m, &current).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": m["metadata"]["annotations"]}})
        );
    }

    #[test]
    fn replicas_and_image_change_is_the_kubectl_patch() {
        let old = manifest(2, "nginx:latest");
        let new = manifest(3, "nginx:1.27");
        let current = live(&old);
        let patch = patch_for(&old, &new, &current);
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": {LAST_APPLIED: new["metadata"]["annotations"][LAST_APPLIED]}},
                   "spec": {"replicas": 3, "template": {"spec": {
                       "$setElementOrder/containers": [{"name": "nginx"}],
                       "containers": [{"image": "nginx:1.27", "name": "nginx"}]}}}})
        );
        assert_round_trip(deployments(), &current, &patch, &new);
    }

    #[test]
    fn label_strategy_env_sidecar_and_dropped_ports() {
        let old = manifest(2, "nginx:latest");
        let mut new = manifest(2, "nginx:latest");
        new["metadata"]["labels"] = json!({"team": "a"});
        new["spec"]["strategy"] = json!({"type": "Recreate"});
        new["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "nginx", "image": "nginx:latest", "env": [{"name": "FOO", "value": "bar"}]},
            {"name": "sidecar", "image": "busybox", "command": ["sleep", "3600"]}]);
        annotate(&mut new);
        let current = live(&old);
        let mut patch = patch_for(&old, &new, &current);
        patch["metadata"]["annotations"] = json!(null);
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": null, "labels": {"team": "a"}},
                   "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                            "template": {"spec": {
                                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                                "containers": [
                                    {"env": [{"name": "FOO", "value": "bar"}], "name": "nginx", "ports": null},
                                    {"command": ["sleep", "3600"], "image": "busybox", "name": "sidecar"}]}}}})
        );
        let patch = patch_for(&old, &new, &current);
        assert_round_trip(deployments(), &current, &patch, &new);
        let out = apply_patch(PatchType::Strategic, deployments(), &current, &patch).unwrap();
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert!(
            out["spec"]["template"]["spec"]["containers"][0]
                .get("ports")
                .is_none()
        );
    }

    #[test]
    fn removing_label_env_and_container_deletes_them() {
        let mut old = manifest(2, "nginx:latest");
        old["metadata"]["labels"] = json!({"team": "a"});
        old["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "nginx", "image": "nginx:latest", "env": [{"name": "FOO", "value": "bar"}]},
            {"name": "sidecar", "image": "busybox"}]);
        annotate(&mut old);
        let mut new = manifest(2, "nginx:latest");
        new["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "nginx", "image": "nginx:latest"}]);
        annotate(&mut new);
        let current = live(&old);
        let mut patch = patch_for(&old, &new, &current);
        patch["metadata"]["annotations"] = json!(null);
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": null, "labels": null},
                   "spec": {"template": {"spec": {
                       "$setElementOrder/containers": [{"name": "nginx"}],
                       "containers": [{"env": null, "name": "nginx"}, {"$patch": "delete", "name": "sidecar"}]}}}})
        );
        let patch = patch_for(&old, &new, &current);
        let out = apply_patch(PatchType::Strategic, deployments(), &current, &patch).unwrap();
        assert!(out["metadata"].get("labels").is_none());
        let containers = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert!(containers[0].get("env").is_none());
        assert_eq!(containers[0]["imagePullPolicy"], "Always");
        assert_round_trip(deployments(), &current, &patch, &new);
    }

    #[test]
    fn fields_set_by_others_are_left_alone() {
        let m = manifest(2, "nginx:latest");
        let mut current = live(&m);
        current["metadata"]["labels"] = json!({"added-by": "someone"});
        current["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "INJECTED", "value": "1"}]);
        current["metadata"]["finalizers"] = json!(["example.com/guard"]);
        assert_eq!(patch_for(&m, &m, &current), json!({}));
    }

    #[test]
    fn service_target_port_change() {
        let mut old = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "nginx-service", "namespace": "default"},
            "spec": {"selector": {"app": "nginx"}, "type": "LoadBalancer",
                     "ports": [{"protocol": "TCP", "port": 80, "targetPort": 80}]}});
        annotate(&mut old);
        let mut new = old.clone();
        new["spec"]["ports"][0]["targetPort"] = json!(8080);
        annotate(&mut new);
        let mut current = old.clone();
        current["spec"]["clusterIP"] = json!("10.96.0.20");
        current["spec"]["ports"][0]["nodePort"] = json!(31962);
        current["spec"]["sessionAffinity"] = json!("None");
        let mut patch =
            three_way_strategic(services(), Some(&last_applied(&old)), &new, &current).unwrap();
        let out = apply_patch(PatchType::Strategic, services(), &current, &patch).unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 31962}])
        );
        patch["metadata"] = json!(null);
        assert_eq!(
            patch,
            json!({"metadata": null, "spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": 8080}]}})
        );
    }

    #[test]
    fn primitive_merge_list_deletions() {
        let mut old = manifest(2, "nginx:latest");
        old["metadata"]["finalizers"] = json!(["a", "b"]);
        annotate(&mut old);
        let mut new = manifest(2, "nginx:latest");
        new["metadata"]["finalizers"] = json!(["b"]);
        annotate(&mut new);
        let current = live(&old);
        let patch = patch_for(&old, &new, &current);
        assert_eq!(
            patch["metadata"]["$deleteFromPrimitiveList/finalizers"],
            json!(["a"])
        );
        let out = apply_patch(PatchType::Strategic, deployments(), &current, &patch).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    }

    /// Manifest edits, each checked end to end: the patch applied to the
    /// live object yields every field the new manifest sets.
    #[test]
    fn round_trips() {
        type Edit = fn(&mut Value);
        let edits: [(&str, Edit, Edit); 4] = [
            (
                "volume source switch (retainKeys)",
                |m| {
                    m["spec"]["template"]["spec"]["volumes"] =
                        json!([{"name": "data", "emptyDir": {}}]);
                },
                |m| {
                    m["spec"]["template"]["spec"]["volumes"] =
                        json!([{"name": "data", "hostPath": {"path": "/srv"}}]);
                },
            ),
            (
                "container order and env value",
                |m| {
                    m["spec"]["template"]["spec"]["containers"] = json!([
                        {"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}]},
                        {"name": "b", "image": "y"}]);
                },
                |m| {
                    m["spec"]["template"]["spec"]["containers"] = json!([
                        {"name": "b", "image": "y"},
                        {"name": "a", "image": "x", "env": [{"name": "K", "value": "2"}]}]);
                },
            ),
            (
                "args shrink (replace list) and port added",
                |m| {
                    m["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["-a", "-b"]);
                },
                |m| {
                    let c = &mut m["spec"]["template"]["spec"]["containers"][0];
                    c["args"] = json!(["-a"]);
                    c["ports"] = json!([{"containerPort": 80}, {"containerPort": 443}]);
                },
            ),
            (
                "annotation and selector label change",
                |m| {
                    m["metadata"]["labels"] = json!({"a": "1", "b": "2"});
                },
                |m| {
                    m["metadata"]["labels"] = json!({"a": "3"});
                },
            ),
        ];
        for (what, before, after) in edits {
            let mut old = manifest(2, "nginx:latest");
            before(&mut old);
            annotate(&mut old);
            let mut new = old.clone();
            after(&mut new);
            annotate(&mut new);
            let current = live(&old);
            let patch = patch_for(&old, &new, &current);
            assert_ne!(patch, json!({}), "{what}");
            assert_round_trip(deployments(), &current, &patch, &new);
            let out = apply_patch(PatchType::Strategic, deployments(), &current, &patch).unwrap();
            assert_eq!(
                patch_for(&new, &new, &out),
                json!({}),
                "{what}: second apply"
            );
        }
    }

    #[test]
    fn retain_keys_drop_the_old_volume_source() {
        let mut old = manifest(2, "nginx:latest");
        old["spec"]["template"]["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
        annotate(&mut old);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "data", "hostPath": {"path": "/srv"}}]);
        annotate(&mut new);
        let current = live(&old);
        let patch = patch_for(&old, &new, &current);
        assert_eq!(
            patch["spec"]["template"]["spec"]["volumes"],
            json!([{"$retainKeys": ["hostPath", "name"], "emptyDir": null, "hostPath": {"path": "/srv"}, "name": "data"}])
        );
        let out = apply_patch(PatchType::Strategic, deployments(), &current, &patch).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "data", "hostPath": {"path": "/srv"}}])
        );
    }

    #[test]
    fn two_way_diff() {
        let a = json!({"spec": {"replicas": 1, "paused": true}});
        let b = json!({"spec": {"replicas": 2}});
        assert_eq!(
            two_way_strategic(deployments(), &a, &b).unwrap(),
            json!({"spec": {"replicas": 2, "paused": null}})
        );
    }

    #[test]
    fn non_objects_are_rejected() {
        let err = three_way_strategic(deployments(), None, &json!([1]), &json!({})).unwrap_err();
        assert_eq!(err.code, 400);
    }
}
