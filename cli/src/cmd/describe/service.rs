//! Services: type, addresses, ports and the endpoints behind each port.

use serde_json::Value;
use skiff_client::DynamicApi;

use super::writer::{Describer, array, int, pairs, scalar, text, text_or};
use crate::context::Ctx;

/// `10.244.0.11:80,10.244.0.12:80` for the service port named `port_name`
/// (kubectl shows three and counts the rest).
fn endpoints_for(endpoints: Option<&Value>, port_name: &str) -> String {
    let Some(ep) = endpoints else {
        return "<none>".into();
    };
    let mut list = Vec::new();
    for subset in array(ep, "/subsets") {
        for port in array(subset, "/ports") {
            if text(port, "/name") != port_name {
                continue;
            }
            for addr in array(subset, "/addresses") {
                list.push(format!("{}:{}", text(addr, "/ip"), int(port, "/port")));
            }
        }
    }
    match list.len() {
        0 => "<none>".into(),
        n if n > 3 => format!("{} + {} more...", list[..3].join(","), n - 3),
        _ => list.join(","),
    }
}

pub async fn describe(ctx: &Ctx, obj: &Value, d: &mut Describer) {
    let ns = text(obj, "/metadata/namespace");
    let name = text(obj, "/metadata/name");
    let endpoints = DynamicApi::namespaced(ctx.client.clone(), &skiff_api::core::ENDPOINTS, ns)
        .get_opt(name)
        .await
        .ok()
        .flatten();
    d.field(0, "Name", name);
    d.field(0, "Namespace", ns);
    d.labels(0, "Labels", obj.pointer("/metadata/labels"));
    d.annotations(0, "Annotations", obj.pointer("/metadata/annotations"));
    let selector = pairs(obj.pointer("/spec/selector"), "=");
    d.field(
        0,
        "Selector",
        &if selector.is_empty() {
            "<none>".to_string()
        } else {
            selector.join(",")
        },
    );
    let kind = text_or(obj, "/spec/type", "ClusterIP");
    d.field(0, "Type", &kind);
    if !text(obj, "/spec/ipFamilyPolicy").is_empty() {
        d.field(0, "IP Family Policy", text(obj, "/spec/ipFamilyPolicy"));
    }
    let families: Vec<String> = array(obj, "/spec/ipFamilies").iter().map(scalar).collect();
    if !families.is_empty() {
        d.field(0, "IP Families", &families.join(","));
    }
    d.field(0, "IP", &text_or(obj, "/spec/clusterIP", "<none>"));
    let ips: Vec<String> = array(obj, "/spec/clusterIPs").iter().map(scalar).collect();
    d.field(
        0,
        "IPs",
        &if ips.is_empty() {
            "<none>".to_string()
        } else {
            ips.join(",")
        },
    );
    if kind == "ExternalName" {
        d.field(0, "External Name", text(obj, "/spec/externalName"));
    }
    let ingress: Vec<String> = array(obj, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| text_or(i, "/ip", text(i, "/hostname")))
        .collect();
    if !ingress.is_empty() {
        d.field(0, "LoadBalancer Ingress", &ingress.join(", "));
    }
    for p in array(obj, "/spec/ports") {
        let pname = text_or(p, "/name", "<unset>");
        let proto = text_or(p, "/protocol", "TCP");
        d.field(0, "Port", &format!("{pname}  {}/{proto}", int(p, "/port")));
        let target = text_or(p, "/targetPort", &int(p, "/port").to_string());
        d.field(0, "TargetPort", &format!("{target}/{proto}"));
        if int(p, "/nodePort") != 0 {
            d.field(
                0,
                "NodePort",
                &format!("{pname}  {}/{proto}", int(p, "/nodePort")),
            );
        }
        d.field(
            0,
            "Endpoints",
            &endpoints_for(endpoints.as_ref(), text(p, "/name")),
        );
    }
    d.field(
        0,
        "Session Affinity",
        &text_or(obj, "/spec/sessionAffinity", "None"),
    );
    if kind == "NodePort" || kind == "LoadBalancer" {
        d.field(
            0,
            "External Traffic Policy",
            &text_or(obj, "/spec/externalTrafficPolicy", "Cluster"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_by_port_name() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
            "ports": [{"port": 80}, {"name": "metrics", "port": 9090}]}]});
        assert_eq!(endpoints_for(Some(&ep), ""), "10.0.0.1:80,10.0.0.2:80");
        assert_eq!(
            endpoints_for(Some(&ep), "metrics"),
            "10.0.0.1:9090,10.0.0.2:9090"
        );
        assert_eq!(endpoints_for(None, ""), "<none>");
    }
}
