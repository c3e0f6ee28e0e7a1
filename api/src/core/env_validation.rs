//! Checks of a container's environment: `env` names and `valueFrom`
//! sources, `envFrom` ConfigMaps and Secrets.

use super::container::{EnvFromSource, EnvVar, KeySelector};
use crate::quantity::Quantity;
use crate::validation::{
    FieldError, child, index, is_config_map_key, is_dns1123_subdomain, is_env_var_name,
    is_qualified_name,
};

/// Downward API fields an env var may read.
const ENV_FIELD_PATHS: [&str; 11] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const ENV_RESOURCES: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

pub fn validate_env(env: &[EnvVar], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, e) in env.iter().enumerate() {
        let ip = index(path, i);
        if e.name.is_empty() {
            errs.push(FieldError::required(child(&ip, "name"), ""));
        } else {
            for msg in is_env_var_name(&e.name) {
                errs.push(FieldError::invalid(child(&ip, "name"), &e.name, msg));
            }
        }
        let Some(from) = &e.value_from else { continue };
        let fp = child(&ip, "valueFrom");
        let set = [
            from.config_map_key_ref.is_some(),
            from.secret_key_ref.is_some(),
            from.field_ref.is_some(),
            from.resource_field_ref.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set == 0 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if set > 1 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
        if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not be specified when `value` is not empty",
            ));
        }
        if let Some(k) = &from.config_map_key_ref {
            errs.extend(validate_key_selector(k, &child(&fp, "configMapKeyRef")));
        }
        if let Some(k) = &from.secret_key_ref {
            errs.extend(validate_key_selector(k, &child(&fp, "secretKeyRef")));
        }
        if let Some(f) = &from.field_ref {
            let p = child(&fp, "fieldRef");
            if f.field_path.is_empty() {
                errs.push(FieldError::required(child(&p, "fieldPath"), ""));
            } else if !env_field_path_ok(&f.field_path) {
                errs.push(FieldError::not_supported(
                    child(&p, "fieldPath"),
                    &f.field_path,
                    &ENV_FIELD_PATHS,
                ));
            }
            if f.api_version.as_deref().unwrap_or_default().is_empty() {
                errs.push(FieldError::required(child(&p, "apiVersion"), ""));
            }
        }
        if let Some(r) = &from.resource_field_ref {
            let p = child(&fp, "resourceFieldRef");
            if r.resource.is_empty() {
                errs.push(FieldError::required(child(&p, "resource"), ""));
            } else if !ENV_RESOURCES.contains(&r.resource.as_str()) {
                errs.push(FieldError::not_supported(
                    child(&p, "resource"),
                    &r.resource,
                    &ENV_RESOURCES,
                ));
            }
            if let Some(d) = &r.divisor
                && Quantity::parse(d.as_str()).is_err()
            {
                errs.push(FieldError::invalid(
                    child(&p, "divisor"),
                    d.as_str(),
                    crate::quantity::QUANTITY_FORMAT_ERROR,
                ));
            }
        }
    }
    errs
}

/// `metadata.labels['app']` and `metadata.annotations['x']` name one entry.
fn env_field_path_ok(path: &str) -> bool {
    if ENV_FIELD_PATHS.contains(&path) {
        return true;
    }
    ["metadata.labels['", "metadata.annotations['"]
        .iter()
        .any(|prefix| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix("']"))
                .is_some_and(|k| is_qualified_name(&k.to_ascii_lowercase()).is_empty())
        })
}

fn validate_key_selector(k: &KeySelector, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = k.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else {
        for msg in is_dns1123_subdomain(name) {
            errs.push(FieldError::invalid(child(path, "name"), name, msg));
        }
    }
    if k.key.is_empty() {
        errs.push(FieldError::required(child(path, "key"), ""));
    } else {
        for msg in is_config_map_key(&k.key) {
            errs.push(FieldError::invalid(child(path, "key"), &k.key, msg));
        }
    }
    errs
}

pub fn validate_env_from(sources: &[EnvFromSource], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let ip = index(path, i);
        if let Some(prefix) = s.prefix.as_deref().filter(|p| !p.is_empty()) {
            for msg in is_env_var_name(prefix) {
                errs.push(FieldError::invalid(child(&ip, "prefix"), prefix, msg));
            }
        }
        let refs = [
            ("configMapRef", &s.config_map_ref),
            ("secretRef", &s.secret_ref),
        ];
        let count = refs.iter().filter(|(_, r)| r.is_some()).count();
        if count == 0 {
            errs.push(FieldError::invalid(
                &ip,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errs.push(FieldError::invalid(
                &ip,
                "",
                "may not have more than one field specified at a time",
            ));
        }
        for (field, r) in refs {
            let Some(r) = r else { continue };
            let name = r.name.as_deref().unwrap_or_default();
            let p = child(&child(&ip, field), "name");
            if name.is_empty() {
                errs.push(FieldError::required(p, ""));
            } else {
                for msg in is_dns1123_subdomain(name) {
                    errs.push(FieldError::invalid(&p, name, msg));
                }
            }
        }
    }
    errs
}
