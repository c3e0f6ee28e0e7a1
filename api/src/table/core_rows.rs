//! Rows of the core kinds other than Pod: Service, Node, Namespace, Event,
//! Endpoints, ConfigMap, Secret; and Lease.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::duration::age;
use super::read::{at, format_labels, int, list, map_len, string_map, text, text_or};

fn name(o: &Value) -> Value {
    json!(text(o, "/metadata/name"))
}

fn created(o: &Value, now: DateTime<Utc>) -> Value {
    json!(age(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
        now
    ))
}

/// EXTERNAL-IP: load balancer ingress (sorted, de-duplicated) and external IPs.
fn service_external_ip(svc: &Value) -> String {
    let external: Vec<&str> = list(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match text_or(svc, "/spec/type", "ClusterIP").as_str() {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let ingress: BTreeSet<&str> = list(svc, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| match text(i, "/ip") {
                    "" => text(i, "/hostname"),
                    ip => ip,
                })
                .filter(|s| !s.is_empty())
                .collect();
            let mut all: Vec<&str> = ingress.into_iter().collect();
            all.extend(external);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

/// PORT(S): `80/TCP`, or `80:31962/TCP` with a node port.
fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = list(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int(p, "/port").unwrap_or(0);
            let protocol = text_or(p, "/protocol", "TCP");
            match int(p, "/nodePort").filter(|n| *n > 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

pub(crate) fn service(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let cluster_ip = list(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| text_or(svc, "/spec/clusterIP", "<none>"));
    vec![
        name(svc),
        json!(text_or(svc, "/spec/type", "ClusterIP")),
        json!(cluster_ip),
        json!(service_external_ip(svc)),
        json!(service_ports(svc)),
        created(svc, now),
        json!(format_labels(&string_map(svc, "/spec/selector"))),
    ]
}

/// ROLES: `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`.
fn node_roles(node: &Value) -> String {
    let roles: BTreeSet<String> = string_map(node, "/metadata/labels")
        .into_iter()
        .filter_map(|(k, v)| {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then(|| role.to_string())
            } else {
                (k == "kubernetes.io/role" && !v.is_empty()).then_some(v)
            }
        })
        .collect();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(node: &Value, kind: &str) -> String {
    list(node, "/status/addresses")
        .iter()
        .find(|a| text(a, "/type") == kind)
        .map(|a| text(a, "/address").to_string())
        .unwrap_or_else(|| "<none>".into())
}

pub(crate) fn node(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ready = list(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| text(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if text(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if at(node, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    vec![
        name(node),
        json!(status.join(",")),
        json!(node_roles(node)),
        created(node, now),
        json!(text(node, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(text_or(node, "/status/nodeInfo/osImage", "<unknown>")),
        json!(text_or(node, "/status/nodeInfo/kernelVersion", "<unknown>")),
        json!(text_or(
            node,
            "/status/nodeInfo/containerRuntimeVersion",
            "<unknown>"
        )),
    ]
}

pub(crate) fn namespace(ns: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(ns), json!(text(ns, "/status/phase")), created(ns, now)]
}

pub(crate) fn event(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let time = |p: &str| at(ev, p).and_then(Value::as_str);
    let first_seen = match time("/firstTimestamp") {
        Some(t) => age(Some(t), now),
        None => age(time("/eventTime"), now),
    };
    let mut last_seen = match time("/lastTimestamp") {
        Some(t) => age(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int(ev, "/count").unwrap_or(0);
    if at(ev, "/series").is_some() {
        last_seen = age(time("/series/lastObservedTime"), now);
        count = int(ev, "/series/count").unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = text(ev, "/involvedObject/kind").to_lowercase();
    let target = match text(ev, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = match text(ev, "/source/component") {
        "" => text(ev, "/reportingComponent"),
        c => c,
    };
    let instance = match text(ev, "/source/host") {
        "" => text(ev, "/reportingInstance"),
        h => h,
    };
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last_seen),
        json!(text(ev, "/type")),
        json!(text(ev, "/reason")),
        json!(target),
        json!(text(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(ev, "/message").trim()),
        json!(first_seen),
        json!(count),
        name(ev),
    ]
}

fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// ENDPOINTS: up to three `ip:port`, then ` + N more...`; `<none>` when empty.
fn endpoints_cell(ep: &Value) -> String {
    const MAX: usize = 3;
    let subsets = list(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut count = 0;
    for ss in subsets {
        let addresses = list(ss, "/addresses");
        let ports = list(ss, "/ports");
        let mut add = |entry: String| {
            if shown.len() < MAX {
                shown.push(entry);
            }
        };
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                add(text(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            let port = int(p, "/port").unwrap_or(0);
            for a in addresses {
                add(host_port(text(a, "/ip"), port));
            }
        }
    }
    let joined = shown.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

pub(crate) fn endpoints(ep: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(ep), json!(endpoints_cell(ep)), created(ep, now)]
}

pub(crate) fn configmap(cm: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let entries = map_len(cm, "/data") + map_len(cm, "/binaryData");
    vec![name(cm), json!(entries), created(cm, now)]
}

pub(crate) fn secret(s: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(s),
        json!(text(s, "/type")),
        json!(map_len(s, "/data")),
        created(s, now),
    ]
}

pub(crate) fn lease(l: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(l),
        json!(text(l, "/spec/holderIdentity")),
        created(l, now),
    ]
}

pub(crate) fn default(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(o), created(o, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::duration::parse_time;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-27T12:00:00Z").unwrap()
    }

    fn svc(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "nginx-service", "creationTimestamp": "2026-11-27T11:00:00Z"},
               "spec": spec, "status": status})
    }

    #[test]
    fn services() {
        let lb = svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "selector": {"app": "nginx"},
                   "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP", "nodePort": 31962}]}),
            json!({"loadBalancer": {}}),
        );
        assert_eq!(
            Value::Array(service(&lb, now())),
            json!([
                "nginx-service",
                "LoadBalancer",
                "10.96.0.10",
                "<pending>",
                "80:31962/TCP",
                "60m",
                "app=nginx"
            ])
        );
        let ingress = svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.96.0.10", "externalIPs": ["1.1.1.1"],
                   "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.9"}]}}),
        );
        let c = service(&ingress, now());
        assert_eq!(c[3], "203.0.113.9,lb.example.com,1.1.1.1");
        assert_eq!(c[4], "80/TCP,53/UDP");
        assert_eq!(c[6], "<none>");
        let plain = svc(json!({"clusterIP": "None"}), json!({}));
        let c = service(&plain, now());
        assert_eq!(
            Value::Array(c[1..5].to_vec()),
            json!(["ClusterIP", "None", "<none>", "<none>"])
        );
        let ext = svc(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        assert_eq!(service(&ext, now())[3], "db.example.com");
        let np = svc(
            json!({"type": "NodePort", "clusterIP": "10.0.0.1", "externalIPs": ["5.5.5.5", "6.6.6.6"]}),
            json!({}),
        );
        assert_eq!(service(&np, now())[3], "5.5.5.5,6.6.6.6");
    }

    fn node_obj(conditions: Value, unschedulable: bool, labels: Value) -> Value {
        json!({"metadata": {"name": "node-1", "creationTimestamp": "2026-11-20T12:00:00Z", "labels": labels},
               "spec": {"unschedulable": unschedulable},
               "status": {"conditions": conditions,
                          "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"}],
                          "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                       "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "skiff://0.1.0"}}})
    }

    #[test]
    fn nodes() {
        let n = node_obj(
            json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]),
            false,
            json!({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "node-role.kubernetes.io/": ""}),
        );
        assert_eq!(
            Value::Array(node(&n, now())),
            json!([
                "node-1",
                "Ready",
                "control-plane,worker",
                "7d",
                "v1.32.0",
                "192.168.1.10",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-18-amd64",
                "skiff://0.1.0"
            ])
        );
        let down = node_obj(
            json!([{"type": "Ready", "status": "Unknown"}]),
            true,
            json!({}),
        );
        let c = node(&down, now());
        assert_eq!(
            (c[1].clone(), c[2].clone()),
            (json!("NotReady,SchedulingDisabled"), json!("<none>"))
        );
        let new = json!({"metadata": {"name": "n"}});
        let c = node(&new, now());
        assert_eq!(
            Value::Array(c[1..].to_vec()),
            json!([
                "Unknown",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ])
        );
    }

    #[test]
    fn namespaces() {
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2026-11-27T11:59:30Z"}, "status": {"phase": "Active"}});
        assert_eq!(
            Value::Array(namespace(&ns, now())),
            json!(["default", "Active", "30s"])
        );
    }

    #[test]
    fn events() {
        let ev = json!({"metadata": {"name": "web.17f1a2b3c4d5e6f7", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "message": "Successfully pulled image \"nginx:1.27\"\n", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2026-11-27T11:50:00Z", "lastTimestamp": "2026-11-27T11:59:00Z", "count": 4});
        assert_eq!(
            Value::Array(event(&ev, now())),
            json!([
                "60s",
                "Normal",
                "Pulled",
                "pod/web",
                "spec.containers{nginx}",
                "kubelet, node-1",
                "Successfully pulled image \"nginx:1.27\"",
                "10m",
                4,
                "web.17f1a2b3c4d5e6f7"
            ])
        );
        let new_api = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"},
            "eventTime": "2026-11-27T11:55:00.000000Z", "reportingComponent": "skiff-controller", "type": "Warning"});
        let c = event(&new_api, now());
        assert_eq!(
            Value::Array(vec![
                c[0].clone(),
                c[3].clone(),
                c[5].clone(),
                c[7].clone(),
                c[8].clone()
            ]),
            json!(["5m", "node", "skiff-controller", "5m", 1])
        );
        let series = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Pod", "name": "p"},
            "firstTimestamp": "2026-11-27T10:00:00Z", "series": {"count": 7, "lastObservedTime": "2026-11-27T11:59:58.000000Z"}});
        let c = event(&series, now());
        assert_eq!((c[0].clone(), c[8].clone()), (json!("2s"), json!(7)));
    }

    #[test]
    fn endpoints_rows() {
        let ep = |subsets: Value| json!({"metadata": {"name": "nginx-service", "creationTimestamp": "2026-11-27T11:00:00Z"}, "subsets": subsets});
        assert_eq!(
            Value::Array(endpoints(
                &ep(
                    json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}]}])
                ),
                now()
            )),
            json!(["nginx-service", "10.0.0.1:80,10.0.0.2:80", "60m"])
        );
        let many = ep(
            json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
                              "ports": [{"port": 80}, {"port": 443}]}]),
        );
        assert_eq!(
            endpoints(&many, now())[1],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 5 more..."
        );
        assert_eq!(endpoints(&ep(json!([])), now())[1], "<none>");
        assert_eq!(
            endpoints(&json!({"metadata": {"name": "x"}}), now())[1],
            "<none>"
        );
        let headless = ep(json!([{"addresses": [{"ip": "fd00::1"}]}]));
        assert_eq!(endpoints(&headless, now())[1], "fd00::1");
        let v6 = ep(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]));
        assert_eq!(endpoints(&v6, now())[1], "[fd00::1]:80");
    }

    #[test]
    fn configmaps_secrets_leases() {
        let cm = json!({"metadata": {"name": "cfg", "creationTimestamp": "2026-11-27T11:59:00Z"},
                        "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(
            Value::Array(configmap(&cm, now())),
            json!(["cfg", 3, "60s"])
        );
        let s = json!({"metadata": {"name": "tls", "creationTimestamp": "2026-11-27T11:59:00Z"},
                       "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            Value::Array(secret(&s, now())),
            json!(["tls", "kubernetes.io/tls", 2, "60s"])
        );
        let l = json!({"metadata": {"name": "node-1", "creationTimestamp": "2026-11-27T11:00:00Z"},
                       "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}});
        assert_eq!(
            Value::Array(lease(&l, now())),
            json!(["node-1", "node-1", "60m"])
        );
        assert_eq!(
            Value::Array(default(&json!({"metadata": {"name": "z"}}), now())),
            json!(["z", "<unknown>"])
        );
    }
}
