//! Checks of a PodSpec (and of the PodTemplateSpec workloads embed).

use std::collections::BTreeSet;

use super::container_validation::{
    validate_container, validate_container_name, validate_id, validate_seccomp,
};
use super::pod::{PodSecurityContext, PodSpec, PodTemplateSpec, Toleration};
use super::volume::Volume;
use crate::validation::{
    FieldError, child, index, is_config_map_key, is_dns1123_label, is_dns1123_subdomain,
    is_label_value, is_qualified_name, port_range_error, validate_annotations, validate_labels,
};

pub const RESTART_POLICIES: [&str; 3] = ["Always", "OnFailure", "Never"];
const DNS_POLICIES: [&str; 4] = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// A template's labels and annotations, then its spec.
pub fn validate_pod_template_spec(t: &PodTemplateSpec, path: &str) -> Vec<FieldError> {
    let meta = child(path, "metadata");
    let mut errs = validate_labels(&t.metadata.labels, &child(&meta, "labels"));
    errs.extend(validate_annotations(
        &t.metadata.annotations,
        &child(&meta, "annotations"),
    ));
    errs.extend(validate_pod_spec(&t.spec, &child(path, "spec")));
    errs
}

pub fn validate_pod_spec(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (volume_names, volume_errs) = validate_volumes(&spec.volumes, &child(path, "volumes"));
    errs.extend(volume_errs);

    let mut names = BTreeSet::new();
    let init_path = child(path, "initContainers");
    for (i, c) in spec.init_containers.iter().enumerate() {
        let p = index(&init_path, i);
        errs.extend(validate_container_name(c, &mut names, &p));
        errs.extend(validate_container(c, &volume_names, &p, true));
    }
    let containers_path = child(path, "containers");
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&containers_path, ""));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let p = index(&containers_path, i);
        errs.extend(validate_container_name(c, &mut names, &p));
        errs.extend(validate_container(c, &volume_names, &p, false));
    }

    match spec.restart_policy.as_deref().unwrap_or_default() {
        "" => errs.push(FieldError::required(child(path, "restartPolicy"), "")),
        p if !RESTART_POLICIES.contains(&p) => errs.push(FieldError::not_supported(
            child(path, "restartPolicy"),
            p,
            &RESTART_POLICIES,
        )),
        _ => {}
    }
    if let Some(p) = spec.dns_policy.as_deref() {
        if !DNS_POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(
                child(path, "dnsPolicy"),
                p,
                &DNS_POLICIES,
            ));
        } else if p == "None" && spec.dns_config.is_none() {
            errs.push(FieldError::required(
                child(path, "dnsConfig"),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
        }
    }
    errs.extend(validate_labels(
        &spec.node_selector,
        &child(path, "nodeSelector"),
    ));
    let subdomain_fields = [
        ("serviceAccountName", &spec.service_account_name),
        ("nodeName", &spec.node_name),
        ("priorityClassName", &spec.priority_class_name),
        ("schedulerName", &spec.scheduler_name),
    ];
    for (field, value) in subdomain_fields {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            for msg in is_dns1123_subdomain(v) {
                errs.push(FieldError::invalid(child(path, field), v, msg));
            }
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            for msg in is_dns1123_label(v) {
                errs.push(FieldError::invalid(child(path, field), v, msg));
            }
        }
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            child(path, "activeDeadlineSeconds"),
            &ads,
            port_range_error(1, i64::from(i32::MAX)),
        ));
    }
    errs.extend(validate_tolerations(
        &spec.tolerations,
        &child(path, "tolerations"),
    ));
    if let Some(sc) = &spec.security_context {
        errs.extend(validate_pod_security_context(
            sc,
            &child(path, "securityContext"),
        ));
    }
    for (i, g) in spec.readiness_gates.iter().enumerate() {
        for msg in is_qualified_name(&g.condition_type) {
            errs.push(FieldError::invalid(
                child(&index(&child(path, "readinessGates"), i), "conditionType"),
                &g.condition_type,
                msg,
            ));
        }
    }
    if spec.host_users == Some(false) {
        for (field, on) in [
            ("hostNetwork", spec.host_network),
            ("hostPID", spec.host_pid),
            ("hostIPC", spec.host_ipc),
        ] {
            if on == Some(true) {
                errs.push(FieldError::forbidden(
                    child(path, field),
                    "when `hostUsers` is false",
                ));
            }
        }
    }
    errs
}

/// Names unique DNS labels, exactly one source each; returns the names.
pub fn validate_volumes<'a>(
    volumes: &'a [Volume],
    path: &str,
) -> (BTreeSet<&'a str>, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let ip = index(path, i);
        if v.name.is_empty() {
            errs.push(FieldError::required(child(&ip, "name"), ""));
        } else {
            for msg in is_dns1123_label(&v.name) {
                errs.push(FieldError::invalid(child(&ip, "name"), &v.name, msg));
            }
            if !names.insert(v.name.as_str()) {
                errs.push(FieldError::duplicate(child(&ip, "name"), &v.name));
            }
        }
        let sources = v.sources();
        match sources.as_slice() {
            [] => errs.push(FieldError::required(&ip, "must specify a volume type")),
            [_] => {}
            [_, rest @ ..] => errs.push(FieldError::forbidden(
                child(&ip, rest[0]),
                "may not specify more than 1 volume type",
            )),
        }
        errs.extend(validate_volume_source(v, &ip));
    }
    (names, errs)
}

fn validate_volume_source(v: &Volume, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(h) = &v.host_path {
        let p = child(path, "hostPath");
        if h.path.is_empty() {
            errs.push(FieldError::required(child(&p, "path"), ""));
        }
        const TYPES: [&str; 8] = [
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ];
        if let Some(t) = h.type_.as_deref()
            && !TYPES.contains(&t)
        {
            errs.push(FieldError::not_supported(child(&p, "type"), t, &TYPES));
        }
    }
    if let Some(e) = &v.empty_dir {
        let p = child(path, "emptyDir");
        if let Some(m) = e.medium.as_deref()
            && !["", "Memory"].contains(&m)
        {
            errs.push(FieldError::not_supported(
                child(&p, "medium"),
                m,
                &["", "Memory"],
            ));
        }
        if let Some(q) = &e.size_limit
            && let Err(msg) = q.parsed()
        {
            errs.push(FieldError::invalid(child(&p, "sizeLimit"), q.as_str(), msg));
        }
    }
    if let Some(cm) = &v.config_map {
        let p = child(path, "configMap");
        let name = cm.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        errs.extend(validate_projection(&cm.items, cm.default_mode, &p));
    }
    if let Some(s) = &v.secret {
        let p = child(path, "secret");
        let name = s.secret_name.as_deref().unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "secretName"), ""));
        }
        errs.extend(validate_projection(&s.items, s.default_mode, &p));
    }
    errs
}

/// `items` keys and relative paths; file modes within 0..=0777.
fn validate_projection(
    items: &[super::volume::KeyToPath],
    default_mode: Option<i32>,
    path: &str,
) -> Vec<FieldError> {
    const MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
    let mut errs = Vec::new();
    if let Some(m) = default_mode.filter(|m| !(0..=0o777).contains(m)) {
        errs.push(FieldError::invalid(
            child(path, "defaultMode"),
            &m,
            MODE_MSG,
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let ip = index(&child(path, "items"), i);
        if item.key.is_empty() {
            errs.push(FieldError::required(child(&ip, "key"), ""));
        } else {
            for msg in is_config_map_key(&item.key) {
                errs.push(FieldError::invalid(child(&ip, "key"), &item.key, msg));
            }
        }
        if item.path.is_empty() {
            errs.push(FieldError::required(child(&ip, "path"), ""));
        } else {
            errs.extend(super::container_validation::validate_relative_path(
                &item.path,
                &child(&ip, "path"),
            ));
        }
        if let Some(m) = item.mode.filter(|m| !(0..=0o777).contains(m)) {
            errs.push(FieldError::invalid(child(&ip, "mode"), &m, MODE_MSG));
        }
    }
    errs
}

pub fn validate_tolerations(tolerations: &[Toleration], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let ip = index(path, i);
        let key = t.key.as_deref().unwrap_or_default();
        let op = t.operator.as_deref().unwrap_or_default();
        let value = t.value.as_deref().unwrap_or_default();
        if !key.is_empty() {
            for msg in is_qualified_name(key) {
                errs.push(FieldError::invalid(child(&ip, "key"), key, msg));
            }
        } else if op != "Exists" {
            errs.push(FieldError::invalid(
                child(&ip, "operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && t.effect.as_deref() != Some("NoExecute") {
            errs.push(FieldError::invalid(
                child(&ip, "effect"),
                t.effect.as_deref().unwrap_or_default(),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "" | "Equal" => {
                for msg in is_label_value(value) {
                    errs.push(FieldError::invalid(child(&ip, "value"), value, msg));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&ip, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                child(&ip, "operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty())
            && !TAINT_EFFECTS.contains(&e)
        {
            errs.push(FieldError::not_supported(
                child(&ip, "effect"),
                e,
                &TAINT_EFFECTS,
            ));
        }
    }
    errs
}

fn validate_pod_security_context(sc: &PodSecurityContext, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(validate_id(sc.run_as_user, &child(path, "runAsUser")));
    errs.extend(validate_id(sc.run_as_group, &child(path, "runAsGroup")));
    errs.extend(validate_id(sc.fs_group, &child(path, "fsGroup")));
    for (i, g) in sc.supplemental_groups.iter().enumerate() {
        errs.extend(validate_id(
            Some(*g),
            &index(&child(path, "supplementalGroups"), i),
        ));
    }
    if let Some(p) = sc.fs_group_change_policy.as_deref()
        && !["OnRootMismatch", "Always"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(path, "fsGroupChangePolicy"),
            p,
            &["OnRootMismatch", "Always"],
        ));
    }
    let mut names = BTreeSet::new();
    for (i, s) in sc.sysctls.iter().enumerate() {
        let p = child(&index(&child(path, "sysctls"), i), "name");
        if s.name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if !is_sysctl_name(&s.name) {
            errs.push(FieldError::invalid(
                &p,
                &s.name,
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if !names.insert(s.name.as_str()) {
            errs.push(FieldError::duplicate(p, &s.name));
        }
    }
    if let Some(p) = &sc.seccomp_profile {
        errs.extend(validate_seccomp(p, &child(path, "seccompProfile")));
    }
    errs
}

/// `net.ipv4.ip_forward`, `kernel/shm_rmid_forced`.
fn is_sysctl_name(name: &str) -> bool {
    let segment_ok = |s: &str| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        s.chars().next().is_some_and(alnum)
            && s.chars().last().is_some_and(alnum)
            && s.chars().all(|c| alnum(c) || c == '-' || c == '_')
    };
    name.len() <= 253 && name.split(['.', '/']).all(segment_ok)
}
