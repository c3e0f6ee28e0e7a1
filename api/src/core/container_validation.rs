//! Checks of one container: image, ports, environment, resources, mounts,
//! security context. Probes and hooks are in `probe_validation`.

use std::collections::{BTreeMap, BTreeSet};

use super::container::{
    Container, ContainerPort, ResourceRequirements, SecurityContext, VolumeMount,
};
use super::env_validation::{validate_env, validate_env_from};
use super::probe_validation::{validate_handler, validate_probe};
use crate::quantity::{ParsedQuantity, Quantity};
use crate::validation::{
    FieldError, IS_NEGATIVE, child, index, is_dns1123_label, is_qualified_name, is_valid_port_name,
    is_valid_port_num, key, port_range_error,
};

pub const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: [&str; 2] = ["File", "FallbackToLogsOnError"];
/// Everything about one container except its name (the pod checks names,
/// since they must be unique across init and regular containers).
pub fn validate_container(
    c: &Container,
    volumes: &BTreeSet<&str>,
    path: &str,
    init: bool,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let image = c.image_str();
    if image.is_empty() {
        errs.push(FieldError::required(child(path, "image"), ""));
    } else if image.trim() != image {
        errs.push(FieldError::invalid(
            child(path, "image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
    if let Some(p) = c.image_pull_policy.as_deref()
        && !PULL_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(path, "imagePullPolicy"),
            p,
            &PULL_POLICIES,
        ));
    }
    if let Some(p) = c.termination_message_policy.as_deref()
        && !TERMINATION_MESSAGE_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(path, "terminationMessagePolicy"),
            p,
            &TERMINATION_MESSAGE_POLICIES,
        ));
    }
    errs.extend(validate_ports(&c.ports, &child(path, "ports")));
    errs.extend(validate_env(&c.env, &child(path, "env")));
    errs.extend(validate_env_from(&c.env_from, &child(path, "envFrom")));
    errs.extend(validate_resources(&c.resources, &child(path, "resources")));
    errs.extend(validate_volume_mounts(
        &c.volume_mounts,
        volumes,
        &child(path, "volumeMounts"),
    ));
    if let Some(sc) = &c.security_context {
        errs.extend(validate_security_context(
            sc,
            &child(path, "securityContext"),
        ));
    }
    errs.extend(validate_probes_and_restart(c, path, init));
    errs
}

fn validate_probes_and_restart(c: &Container, path: &str, init: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let sidecar = c.restart_policy.as_deref() == Some("Always");
    match (&c.restart_policy, init) {
        (Some(p), true) if p != "Always" => errs.push(FieldError::not_supported(
            child(path, "restartPolicy"),
            p,
            &["Always"],
        )),
        (Some(_), false) => errs.push(FieldError::forbidden(
            child(path, "restartPolicy"),
            "may not be set for non-init containers",
        )),
        _ => {}
    }
    let probes = [
        ("livenessProbe", &c.liveness_probe, true),
        ("readinessProbe", &c.readiness_probe, false),
        ("startupProbe", &c.startup_probe, true),
    ];
    for (name, probe, needs_single_success) in probes {
        let Some(probe) = probe else { continue };
        let p = child(path, name);
        if init && !sidecar {
            errs.push(FieldError::forbidden(
                p,
                "may not be set for init containers without restartPolicy=Always",
            ));
            continue;
        }
        errs.extend(validate_probe(probe, &p));
        if needs_single_success && probe.success_threshold.is_some_and(|s| s != 1) {
            errs.push(FieldError::invalid(
                child(&p, "successThreshold"),
                &probe.success_threshold.unwrap_or_default(),
                "must be 1",
            ));
        }
        if name == "readinessProbe" && probe.termination_grace_period_seconds.is_some() {
            errs.push(FieldError::invalid(
                child(&p, "terminationGracePeriodSeconds"),
                &probe.termination_grace_period_seconds.unwrap_or_default(),
                "must not be set for readinessProbes",
            ));
        }
    }
    if let Some(l) = &c.lifecycle {
        let lp = child(path, "lifecycle");
        if init && !sidecar {
            errs.push(FieldError::forbidden(
                lp,
                "may not be set for init containers without restartPolicy=Always",
            ));
        } else {
            for (name, h) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
                if let Some(h) = h {
                    errs.extend(validate_handler(h, &child(&lp, name)));
                }
            }
        }
    }
    errs
}

pub fn validate_ports(ports: &[ContainerPort], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = index(path, i);
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            for msg in is_valid_port_name(name) {
                errs.push(FieldError::invalid(child(&ip, "name"), name, msg));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(child(&ip, "name"), name));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldError::required(child(&ip, "containerPort"), ""));
        } else {
            for msg in is_valid_port_num(i64::from(p.container_port)) {
                errs.push(FieldError::invalid(
                    child(&ip, "containerPort"),
                    &p.container_port,
                    msg,
                ));
            }
        }
        if let Some(hp) = p.host_port.filter(|hp| *hp != 0) {
            for msg in is_valid_port_num(i64::from(hp)) {
                errs.push(FieldError::invalid(child(&ip, "hostPort"), &hp, msg));
            }
        }
        match p.protocol.as_deref() {
            None | Some("") => errs.push(FieldError::required(child(&ip, "protocol"), "")),
            Some(proto) if !PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
                child(&ip, "protocol"),
                proto,
                &PROTOCOLS,
            )),
            _ => {}
        }
    }
    errs
}

/// `cpu`, `memory`, `ephemeral-storage`, `hugepages-*`, or an extended
/// resource (`example.com/gpu`).
fn is_container_resource_name(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage")
        || name.starts_with("hugepages-")
        || (name.contains('/')
            && is_qualified_name(name).is_empty()
            && !name.starts_with("kubernetes.io/"))
}

/// Parses every quantity of one map, reporting bad names and values.
fn parse_quantities<'a>(
    map: &'a BTreeMap<String, Quantity>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<&'a str, ParsedQuantity> {
    let mut parsed = BTreeMap::new();
    for (name, q) in map {
        let fp = key(path, name);
        if !is_container_resource_name(name) {
            errs.push(FieldError::invalid(
                &fp,
                name,
                "must be a standard resource for containers",
            ));
        }
        match q.parsed() {
            Err(msg) => errs.push(FieldError::invalid(&fp, q.as_str(), msg)),
            Ok(v) if v.is_negative() => {
                errs.push(FieldError::invalid(&fp, q.as_str(), IS_NEGATIVE))
            }
            Ok(v) => {
                parsed.insert(name.as_str(), v);
            }
        }
    }
    parsed
}

/// Parses every quantity; none negative; requests no more than limits.
pub fn validate_resources(r: &ResourceRequirements, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let limits = parse_quantities(&r.limits, &child(path, "limits"), &mut errs);
    let requests = parse_quantities(&r.requests, &child(path, "requests"), &mut errs);
    for (name, req) in &requests {
        if let Some(limit) = limits.get(name)
            && req > limit
        {
            errs.push(FieldError::invalid(
                key(&child(path, "requests"), name),
                r.requests[*name].as_str(),
                format!(
                    "must be less than or equal to {name} limit of {}",
                    r.limits[*name]
                ),
            ));
        }
    }
    errs
}

fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeSet<&str>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut paths = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let ip = index(path, i);
        if m.name.is_empty() {
            errs.push(FieldError::required(child(&ip, "name"), ""));
        } else if !volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(child(&ip, "name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(child(&ip, "mountPath"), ""));
        } else if !paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                child(&ip, "mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(validate_relative_path(sub, &child(&ip, "subPath")));
        }
        if m.sub_path.as_deref().is_some_and(|s| !s.is_empty())
            && m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty())
        {
            errs.push(FieldError::invalid(
                child(&ip, "subPathExpr"),
                m.sub_path_expr.as_deref().unwrap_or_default(),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
    }
    errs
}

/// A path inside a volume: relative and without `..` elements.
pub fn validate_relative_path(p: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    if p.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(path, p, "must not contain '..'"));
    }
    errs
}

/// User and group ids are 0..=2147483647.
pub fn validate_id(value: Option<i64>, path: &str) -> Vec<FieldError> {
    match value {
        Some(v) if !(0..=i64::from(i32::MAX)).contains(&v) => {
            vec![FieldError::invalid(
                path,
                &v,
                port_range_error(0, i64::from(i32::MAX)),
            )]
        }
        _ => Vec::new(),
    }
}

pub fn validate_seccomp(p: &super::container::SeccompProfile, path: &str) -> Vec<FieldError> {
    const TYPES: [&str; 3] = ["Localhost", "RuntimeDefault", "Unconfined"];
    let mut errs = Vec::new();
    if !TYPES.contains(&p.type_.as_str()) {
        errs.push(FieldError::not_supported(
            child(path, "type"),
            &p.type_,
            &TYPES,
        ));
    }
    let has_profile = p
        .localhost_profile
        .as_deref()
        .is_some_and(|s| !s.is_empty());
    if p.type_ == "Localhost" && !has_profile {
        errs.push(FieldError::required(
            child(path, "localhostProfile"),
            "must be set when seccomp type is Localhost",
        ));
    } else if p.type_ != "Localhost" && p.localhost_profile.is_some() {
        errs.push(FieldError::invalid(
            child(path, "localhostProfile"),
            p.localhost_profile.as_deref().unwrap_or_default(),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

fn validate_security_context(sc: &SecurityContext, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(validate_id(sc.run_as_user, &child(path, "runAsUser")));
    errs.extend(validate_id(sc.run_as_group, &child(path, "runAsGroup")));
    if let Some(p) = &sc.seccomp_profile {
        errs.extend(validate_seccomp(p, &child(path, "seccompProfile")));
    }
    if let Some(pm) = sc.proc_mount.as_deref()
        && !["Default", "Unmasked"].contains(&pm)
    {
        errs.push(FieldError::not_supported(
            child(path, "procMount"),
            pm,
            &["Default", "Unmasked"],
        ));
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                child(path, "allowPrivilegeEscalation"),
                &false,
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if sc.capabilities.as_ref().is_some_and(|c| {
            c.add
                .iter()
                .any(|a| a == "SYS_ADMIN" || a == "CAP_SYS_ADMIN")
        }) {
            errs.push(FieldError::invalid(
                child(path, "allowPrivilegeEscalation"),
                &false,
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs
}

/// Container names: required, DNS-1123 labels, unique across the pod.
pub fn validate_container_name<'a>(
    c: &'a Container,
    seen: &mut BTreeSet<&'a str>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let p = child(path, "name");
    if c.name.is_empty() {
        errs.push(FieldError::required(p, ""));
    } else {
        for msg in is_dns1123_label(&c.name) {
            errs.push(FieldError::invalid(&p, &c.name, msg));
        }
        if !seen.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p, &c.name));
        }
    }
    errs
}
