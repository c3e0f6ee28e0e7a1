//! Checks of a Service: type, ports, selector, IPs, policies; and what an
//! update may not change (an allocated clusterIP).

use std::collections::BTreeSet;

use super::container_validation::PROTOCOLS;
use super::probe_validation::validate_port_num_or_name;
use super::service::{Service, ServicePort, ServiceSpec};
use crate::intstr::IntOrString;
use crate::validation::{
    FieldError, Rendered, child, go_quote, go_string_slice, index, is_dns1123_label,
    is_dns1123_subdomain, is_ip, is_valid_port_num, validate_labels,
};

const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const AFFINITIES: [&str; 2] = ["ClientIP", "None"];
const TRAFFIC_POLICIES: [&str; 2] = ["Cluster", "Local"];
const FAMILY_POLICIES: [&str; 3] = ["PreferDualStack", "RequireDualStack", "SingleStack"];
const FAMILIES: [&str; 2] = ["IPv4", "IPv6"];

pub fn validate_service_spec(spec: &ServiceSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let type_ = spec.type_str();
    if !TYPES.contains(&type_) {
        errs.push(FieldError::not_supported(
            child(path, "type"),
            type_,
            &TYPES,
        ));
    }
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or_default();
    let headless = cluster_ip == "None";
    if type_ == "ExternalName" {
        let name = spec.external_name.as_deref().unwrap_or_default();
        let p = child(path, "externalName");
        if name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else {
            // A trailing dot (fully qualified) is allowed.
            for msg in is_dns1123_subdomain(name.strip_suffix('.').unwrap_or(name)) {
                errs.push(FieldError::invalid(&p, name, msg));
            }
        }
        if !cluster_ip.is_empty() || !spec.cluster_ips.is_empty() {
            errs.push(FieldError::forbidden(
                child(path, "clusterIPs"),
                "may not be set for ExternalName services",
            ));
        }
    } else {
        if spec.ports.is_empty() && !headless {
            errs.push(FieldError::required(child(path, "ports"), ""));
        }
        if !cluster_ip.is_empty() && !headless && !is_ip(cluster_ip).is_empty() {
            errs.push(FieldError::invalid(
                child(path, "clusterIP"),
                cluster_ip,
                "must be empty, 'None', or a valid IP address",
            ));
        }
        for (i, ip) in spec.cluster_ips.iter().enumerate() {
            if ip != "None" && !is_ip(ip).is_empty() {
                errs.push(FieldError::invalid(
                    index(&child(path, "clusterIPs"), i),
                    ip,
                    "must be empty, 'None', or a valid IP address",
                ));
            }
        }
    }
    errs.extend(validate_ports(&spec.ports, type_, &child(path, "ports")));
    errs.extend(validate_labels(&spec.selector, &child(path, "selector")));
    errs.extend(validate_affinity(spec, path));
    for (i, ip) in spec.external_ips.iter().enumerate() {
        for msg in is_ip(ip) {
            errs.push(FieldError::invalid(
                index(&child(path, "externalIPs"), i),
                ip,
                msg,
            ));
        }
    }
    if let Some(p) = spec.external_traffic_policy.as_deref() {
        let fp = child(path, "externalTrafficPolicy");
        if !TRAFFIC_POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(&fp, p, &TRAFFIC_POLICIES));
        } else if type_ == "ClusterIP" || type_ == "ExternalName" {
            errs.push(FieldError::invalid(
                &fp,
                p,
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            ));
        }
    }
    if let Some(p) = spec.internal_traffic_policy.as_deref()
        && !TRAFFIC_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(path, "internalTrafficPolicy"),
            p,
            &TRAFFIC_POLICIES,
        ));
    }
    if let Some(p) = spec.ip_family_policy.as_deref()
        && !FAMILY_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(path, "ipFamilyPolicy"),
            p,
            &FAMILY_POLICIES,
        ));
    }
    let mut families = BTreeSet::new();
    for (i, f) in spec.ip_families.iter().enumerate() {
        let fp = index(&child(path, "ipFamilies"), i);
        if !FAMILIES.contains(&f.as_str()) {
            errs.push(FieldError::not_supported(&fp, f, &FAMILIES));
        } else if !families.insert(f.as_str()) {
            errs.push(FieldError::duplicate(&fp, f));
        }
    }
    if spec.ip_families.len() > 2 {
        errs.push(FieldError::invalid(
            child(path, "ipFamilies"),
            &go_string_slice(&spec.ip_families),
            "may specify no more than one IP for each IP family",
        ));
    }
    if spec.allocate_load_balancer_node_ports.is_some() && type_ != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            child(path, "allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    errs
}

fn validate_affinity(spec: &ServiceSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let affinity = spec.session_affinity.as_deref().unwrap_or("None");
    if !AFFINITIES.contains(&affinity) {
        errs.push(FieldError::not_supported(
            child(path, "sessionAffinity"),
            affinity,
            &AFFINITIES,
        ));
    }
    let timeout = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds);
    let tp = child(
        &child(&child(path, "sessionAffinityConfig"), "clientIP"),
        "timeoutSeconds",
    );
    match (affinity, timeout) {
        ("ClientIP", Some(t)) if !(1..=86400).contains(&t) => errs.push(FieldError::invalid(
            tp,
            &t,
            "must be greater than 0 and less than 86400",
        )),
        ("None", Some(_)) => errs.push(FieldError::forbidden(
            child(path, "sessionAffinityConfig"),
            "must not be set when session affinity is None",
        )),
        _ => {}
    }
    errs
}

/// Go's `%#v` of the (protocol, port) key two ports may not share.
fn port_key(p: &ServicePort) -> Rendered {
    Rendered(format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(p.protocol.as_deref().unwrap_or_default()),
        p.port
    ))
}

fn validate_ports(ports: &[ServicePort], type_: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let require_name = ports.len() > 1;
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut node_ports = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = index(path, i);
        let name = p.name.as_deref().unwrap_or_default();
        if require_name && name.is_empty() {
            errs.push(FieldError::required(child(&ip, "name"), ""));
        } else if !name.is_empty() {
            for msg in is_dns1123_label(name) {
                errs.push(FieldError::invalid(child(&ip, "name"), name, msg));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(child(&ip, "name"), name));
            }
        }
        for msg in is_valid_port_num(i64::from(p.port)) {
            errs.push(FieldError::invalid(child(&ip, "port"), &p.port, msg));
        }
        match p.protocol.as_deref().unwrap_or_default() {
            "" => errs.push(FieldError::required(child(&ip, "protocol"), "")),
            proto if !PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
                child(&ip, "protocol"),
                proto,
                &PROTOCOLS,
            )),
            _ => {}
        }
        if let Some(tp) = &p.target_port
            && !matches!(tp, IntOrString::String(s) if s.is_empty())
        {
            errs.extend(validate_port_num_or_name(tp, &child(&ip, "targetPort")));
        }
        if let Some(np) = p.node_port.filter(|np| *np != 0) {
            let fp = child(&ip, "nodePort");
            if type_ == "ClusterIP" || type_ == "ExternalName" {
                errs.push(FieldError::forbidden(
                    &fp,
                    format!("may not be used when `type` is '{type_}'"),
                ));
            } else {
                for msg in is_valid_port_num(i64::from(np)) {
                    errs.push(FieldError::invalid(&fp, &np, msg));
                }
                let proto = p.protocol.as_deref().unwrap_or_default();
                if !node_ports.insert((proto, np)) {
                    errs.push(FieldError::duplicate(&fp, &np));
                }
            }
        }
        if !keys.insert((p.protocol.as_deref().unwrap_or_default(), p.port)) {
            errs.push(FieldError::duplicate(&ip, &port_key(p)));
        }
    }
    errs
}

/// An allocated clusterIP stays (an update that leaves it empty keeps the
/// old one: the API server carries it forward before storing).
pub fn validate_service_update(new: &Service, old: &Service) -> Vec<FieldError> {
    let (Some(n), Some(o)) = (&new.spec, &old.spec) else {
        return Vec::new();
    };
    if n.type_str() == "ExternalName" || o.type_str() == "ExternalName" {
        return Vec::new();
    }
    let old_ip = o
        .cluster_ips
        .first()
        .map(String::as_str)
        .or(o.cluster_ip.as_deref())
        .unwrap_or_default();
    let new_ip = n
        .cluster_ips
        .first()
        .map(String::as_str)
        .or(n.cluster_ip.as_deref())
        .unwrap_or_default();
    if !old_ip.is_empty() && !new_ip.is_empty() && old_ip != new_ip {
        let ips = if n.cluster_ips.is_empty() {
            vec![new_ip.to_string()]
        } else {
            n.cluster_ips.clone()
        };
        return vec![FieldError::invalid(
            "spec.clusterIPs[0]",
            &go_string_slice(&ips),
            "may not change once set",
        )];
    }
    Vec::new()
}
