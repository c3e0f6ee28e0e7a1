//! Nodes: taints, conditions, addresses, capacity, system info and the pods
//! running there.

use serde_json::Value;
use skiff_client::{DynamicApi, ListParams};

use super::writer::{Describer, array, pairs, text, time};
use crate::age;
use crate::context::Ctx;

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";

fn roles(obj: &Value) -> String {
    let mut roles: Vec<String> = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix(ROLE_PREFIX).map(str::to_string))
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn resource_list(d: &mut Describer, title: &str, v: Option<&Value>) {
    let items = pairs(v, ":\t");
    if items.is_empty() {
        return;
    }
    d.line(0, &format!("{title}:"));
    for i in items {
        d.line(1, &i);
    }
}

pub async fn describe(ctx: &Ctx, obj: &Value, d: &mut Describer) {
    d.field(0, "Name", text(obj, "/metadata/name"));
    d.field(0, "Roles", &roles(obj));
    d.labels(0, "Labels", obj.pointer("/metadata/labels"));
    d.annotations(0, "Annotations", obj.pointer("/metadata/annotations"));
    d.field(
        0,
        "CreationTimestamp",
        &time(obj, "/metadata/creationTimestamp"),
    );
    let taints: Vec<String> = array(obj, "/spec/taints")
        .iter()
        .map(|t| {
            let value = text(t, "/value");
            let kv = if value.is_empty() {
                text(t, "/key").to_string()
            } else {
                format!("{}={value}", text(t, "/key"))
            };
            format!("{kv}:{}", text(t, "/effect"))
        })
        .collect();
    match taints.split_first() {
        None => d.field(0, "Taints", "<none>"),
        Some((first, rest)) => {
            d.field(0, "Taints", first);
            for t in rest {
                d.line(0, &format!("\t{t}"));
            }
        }
    }
    let unschedulable = obj.pointer("/spec/unschedulable") == Some(&Value::Bool(true));
    d.field(0, "Unschedulable", &unschedulable.to_string());
    let conditions = array(obj, "/status/conditions");
    if !conditions.is_empty() {
        d.line(0, "Conditions:");
        d.line(
            1,
            "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage",
        );
        d.line(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------",
        );
        for c in conditions {
            d.line(
                1,
                &format!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    text(c, "/type"),
                    text(c, "/status"),
                    time(c, "/lastHeartbeatTime"),
                    time(c, "/lastTransitionTime"),
                    text(c, "/reason"),
                    text(c, "/message")
                ),
            );
        }
    }
    let addresses = array(obj, "/status/addresses");
    if !addresses.is_empty() {
        d.line(0, "Addresses:");
        for a in addresses {
            d.field(1, text(a, "/type"), text(a, "/address"));
        }
    }
    resource_list(d, "Capacity", obj.pointer("/status/capacity"));
    resource_list(d, "Allocatable", obj.pointer("/status/allocatable"));
    if let Some(Value::Object(info)) = obj.pointer("/status/nodeInfo") {
        d.line(0, "System Info:");
        for (key, title) in [
            ("machineID", "Machine ID"),
            ("systemUUID", "System UUID"),
            ("bootID", "Boot ID"),
            ("kernelVersion", "Kernel Version"),
            ("osImage", "OS Image"),
            ("operatingSystem", "Operating System"),
            ("architecture", "Architecture"),
            ("containerRuntimeVersion", "Container Runtime Version"),
            ("kubeletVersion", "Kubelet Version"),
            ("kubeProxyVersion", "Kube-Proxy Version"),
        ] {
            if let Some(v) = info.get(key) {
                d.field(1, title, v.as_str().unwrap_or_default());
            }
        }
    }
    if !text(obj, "/spec/podCIDR").is_empty() {
        d.field(0, "PodCIDR", text(obj, "/spec/podCIDR"));
    }
    let cidrs: Vec<&str> = array(obj, "/spec/podCIDRs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !cidrs.is_empty() {
        d.field(0, "PodCIDRs", &cidrs.join(","));
    }
    pods_on_node(ctx, text(obj, "/metadata/name"), d).await;
}

async fn pods_on_node(ctx: &Ctx, node: &str, d: &mut Describer) {
    let api = DynamicApi::all(ctx.client.clone(), &skiff_api::core::PODS);
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let Ok(list) = api.list_all(&lp).await else {
        return;
    };
    let pods: Vec<&Value> = array(&list, "/items")
        .iter()
        .filter(|p| text(p, "/spec/nodeName") == node)
        .filter(|p| !matches!(text(p, "/status/phase"), "Succeeded" | "Failed"))
        .collect();
    d.field(
        0,
        "Non-terminated Pods",
        &format!("({} in total)", pods.len()),
    );
    if pods.is_empty() {
        return;
    }
    d.line(1, "Namespace\tName\tAge");
    d.line(1, "---------\t----\t---");
    for p in pods {
        d.line(
            1,
            &format!(
                "{}\t{}\t{}",
                text(p, "/metadata/namespace"),
                text(p, "/metadata/name"),
                age::age_of(p.pointer("/metadata/creationTimestamp"))
            ),
        );
    }
}
