//! The few places where one kind behaves differently from the rest: what a
//! new Pod or Namespace starts with, which kinds allocate addresses.

use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::batch::JOBS;
use skiff_api::core::{NAMESPACES, PODS, SERVICES};

use crate::value;

/// Same row of the resource table (rows are consts, so compare by name).
pub fn is(rt: &ResourceType, other: &ResourceType) -> bool {
    rt.group == other.group && rt.plural == other.plural
}

/// Services get cluster IPs and node ports.
pub fn allocates(rt: &ResourceType) -> bool {
    is(rt, &SERVICES)
}

/// What the server fills in on create, as kube-apiserver's strategies do.
pub fn prepare_create(rt: &ResourceType, object: &mut Value) {
    if is(rt, &PODS) {
        // A new pod is Pending until a node agent reports otherwise.
        let status = value::object_mut(
            value::object_mut(object)
                .entry("status")
                .or_insert_with(|| json!({})),
        );
        status
            .entry("phase")
            .or_insert_with(|| Value::String("Pending".into()));
    } else if is(rt, &NAMESPACES) {
        let map = value::object_mut(object);
        map.insert("status".into(), json!({"phase": "Active"}));
        let spec = value::object_mut(map.entry("spec").or_insert_with(|| json!({})));
        spec.entry("finalizers")
            .or_insert_with(|| json!(["kubernetes"]));
    } else if is(rt, &JOBS) {
        // Now that the Job has a uid: its selector and pod labels
        // (`controller-uid`, `job-name`), as kube-apiserver generates them.
        if let Err(e) = skiff_api::batch::generate_selector_value(object) {
            tracing::warn!(error = %e, "generating a Job's selector");
        }
    }
}

/// Adjusts an update before decoding and validation, as kube-apiserver's
/// `PrepareForUpdate` does: a Service whose type changes drops the fields
/// the new type may not have, when they are unchanged from the stored ones.
/// A Namespace's `spec.finalizers` belong to the server (they clear once
/// its contents are deleted), so updates keep the stored ones.
pub fn prepare_update(rt: &ResourceType, new: &mut Value, old: &Value) {
    if is(rt, &SERVICES) {
        drop_type_dependent_fields(new, old);
    } else if is(rt, &NAMESPACES) {
        let kept = old.pointer("/spec/finalizers").cloned();
        let spec = value::object_mut(
            value::object_mut(new)
                .entry("spec")
                .or_insert_with(|| json!({})),
        );
        match kept {
            Some(f) => spec.insert("finalizers".into(), f),
            None => spec.remove("finalizers"),
        };
    }
}

fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let service_type = |v: &Value| {
        v.pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string()
    };
    let new_type = service_type(new);
    if new_type == service_type(old) {
        return;
    }
    let old_spec = old.get("spec").cloned().unwrap_or_default();
    let old_node_ports = crate::allocators::node_ports(old);
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unchanged = |spec: &serde_json::Map<String, Value>, field: &str| {
        spec.get(field).is_some() && spec.get(field) == old_spec.get(field)
    };
    let drop_if_unchanged = |spec: &mut serde_json::Map<String, Value>, field: &str| {
        if unchanged(spec, field) {
            spec.remove(field);
        }
    };
    if new_type != "NodePort" && new_type != "LoadBalancer" {
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                let kept = port
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                    .is_some_and(|p| old_node_ports.contains(&p));
                if kept {
                    port.remove("nodePort");
                }
            }
        }
        drop_if_unchanged(spec, "externalTrafficPolicy");
        drop_if_unchanged(spec, "healthCheckNodePort");
    }
    if new_type != "LoadBalancer" {
        drop_if_unchanged(spec, "allocateLoadBalancerNodePorts");
        drop_if_unchanged(spec, "loadBalancerClass");
    }
    if new_type == "ExternalName" {
        drop_if_unchanged(spec, "clusterIP");
        drop_if_unchanged(spec, "clusterIPs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_pods_are_pending_and_namespaces_active() {
        let mut pod = json!({"metadata": {"name": "p"}});
        prepare_create(&PODS, &mut pod);
        assert_eq!(pod["status"]["phase"], "Pending");
        let mut running = json!({"status": {"phase": "Running"}});
        prepare_create(&PODS, &mut running);
        assert_eq!(running["status"]["phase"], "Running");
        let mut ns = json!({"status": {"phase": "Terminating"}});
        prepare_create(&NAMESPACES, &mut ns);
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert!(allocates(&SERVICES));
        let old = json!({"spec": {"type": "NodePort", "externalTrafficPolicy": "Cluster",
            "ports": [{"port": 80, "nodePort": 30001}]}});
        let mut new = json!({"spec": {"type": "ClusterIP", "externalTrafficPolicy": "Cluster",
            "ports": [{"port": 80, "nodePort": 30001}, {"port": 81, "nodePort": 30009}]}});
        prepare_update(&SERVICES, &mut new, &old);
        assert_eq!(
            new,
            json!({"spec": {"type": "ClusterIP",
            "ports": [{"port": 80}, {"port": 81, "nodePort": 30009}]}})
        );
        assert!(!allocates(&PODS));
    }
}
