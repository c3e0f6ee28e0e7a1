//! Pods: where and how they run, their containers' states, conditions.

use serde_json::Value;

use super::containers;
use super::writer::{Describer, array, pairs, text, text_or, time};
use crate::age;

pub fn describe(obj: &Value, d: &mut Describer) {
    d.field(0, "Name", text(obj, "/metadata/name"));
    d.field(0, "Namespace", text(obj, "/metadata/namespace"));
    if let Some(p) = obj.pointer("/spec/priority").and_then(Value::as_i64) {
        d.field(0, "Priority", &p.to_string());
    }
    d.field(
        0,
        "Service Account",
        &text_or(obj, "/spec/serviceAccountName", "default"),
    );
    let node = text(obj, "/spec/nodeName");
    let node_text = match (node, text(obj, "/status/hostIP")) {
        ("", _) => "<none>".to_string(),
        (n, "") => n.to_string(),
        (n, ip) => format!("{n}/{ip}"),
    };
    d.field(0, "Node", &node_text);
    if obj.pointer("/status/startTime").is_some() {
        d.field(0, "Start Time", &time(obj, "/status/startTime"));
    }
    d.labels(0, "Labels", obj.pointer("/metadata/labels"));
    d.annotations(0, "Annotations", obj.pointer("/metadata/annotations"));
    let status = if obj.pointer("/metadata/deletionTimestamp").is_some() {
        format!(
            "Terminating (lasts {})",
            age::age_of(obj.pointer("/metadata/deletionTimestamp"))
        )
    } else {
        text_or(obj, "/status/phase", "Pending")
    };
    d.field(0, "Status", &status);
    if let Some(g) = obj
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
    {
        d.field(0, "Termination Grace Period", &format!("{g}s"));
    }
    if !text(obj, "/status/reason").is_empty() {
        d.field(0, "Reason", text(obj, "/status/reason"));
    }
    if !text(obj, "/status/message").is_empty() {
        d.field(0, "Message", text(obj, "/status/message"));
    }
    d.field(0, "IP", text(obj, "/status/podIP"));
    let ips = array(obj, "/status/podIPs");
    if ips.is_empty() {
        d.field(0, "IPs", "<none>");
    } else {
        d.line(0, "IPs:");
        for ip in ips {
            d.field(1, "IP", text(ip, "/ip"));
        }
    }
    if let Some(owner) = array(obj, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller") == Some(&Value::Bool(true)))
    {
        d.field(
            0,
            "Controlled By",
            &format!("{}/{}", text(owner, "/kind"), text(owner, "/name")),
        );
    }
    let init = array(obj, "/spec/initContainers");
    if !init.is_empty() {
        containers::describe(
            d,
            "Init Containers",
            init,
            array(obj, "/status/initContainerStatuses"),
            false,
        );
    }
    containers::describe(
        d,
        "Containers",
        array(obj, "/spec/containers"),
        array(obj, "/status/containerStatuses"),
        false,
    );
    let conditions = array(obj, "/status/conditions");
    if !conditions.is_empty() {
        d.line(0, "Conditions:");
        d.line(1, "Type\tStatus");
        for c in conditions {
            d.line(
                1,
                &format!("{} \t{} ", text(c, "/type"), text(c, "/status")),
            );
        }
    }
    containers::volumes(d, 0, array(obj, "/spec/volumes"));
    if !text(obj, "/status/qosClass").is_empty() {
        d.field(0, "QoS Class", text(obj, "/status/qosClass"));
    }
    let selectors = pairs(obj.pointer("/spec/nodeSelector"), "=");
    d.field(
        0,
        "Node-Selectors",
        &if selectors.is_empty() {
            "<none>".to_string()
        } else {
            selectors.join(",")
        },
    );
    let tolerations: Vec<String> = array(obj, "/spec/tolerations")
        .iter()
        .map(|t| {
            let mut s = text(t, "/key").to_string();
            if !text(t, "/value").is_empty() {
                s.push('=');
                s.push_str(text(t, "/value"));
            }
            if !text(t, "/effect").is_empty() {
                s.push(':');
                s.push_str(text(t, "/effect"));
            }
            if text(t, "/operator") == "Exists" && text(t, "/value").is_empty() {
                s.push_str(" op=Exists");
            }
            if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
                s.push_str(&format!(" for {secs}s"));
            }
            s
        })
        .collect();
    match tolerations.split_first() {
        None => d.field(0, "Tolerations", "<none>"),
        Some((first, rest)) => {
            d.field(0, "Tolerations", first);
            for t in rest {
                d.line(0, &format!("\t{t}"));
            }
        }
    }
}
