//! A container's environment as the kubelet builds it: `envFrom` sources
//! first, then `env` in order (later names override earlier ones), values
//! from ConfigMaps, Secrets, the downward API and the container's
//! resources, and `$(VAR)` references expanded against what came before.

use std::collections::HashMap;
use std::net::IpAddr;

use skiff_api::Object;
use skiff_api::core::{ConfigMap, Container, EnvVar, Pod, ResourceFieldSelector, Secret};
use skiff_api::quantity::Quantity;
use skiff_client::{Api, Client};

use crate::config::Capacity;

/// What the downward API can read besides the pod itself.
pub struct EnvContext<'a> {
    pub pod: &'a Pod,
    pub pod_ip: Option<IpAddr>,
    pub host_ip: IpAddr,
    /// Limits default to what the node offers.
    pub allocatable: &'a Capacity,
}

/// ConfigMaps and Secrets read while building one pod's environments.
#[derive(Default)]
pub struct Sources {
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
}

impl Sources {
    pub(crate) async fn config_map(
        &mut self,
        client: &Client,
        ns: &str,
        name: &str,
    ) -> Result<Option<&ConfigMap>, String> {
        read_once(&mut self.config_maps, "configmap", client, ns, name).await
    }

    pub(crate) async fn secret(
        &mut self,
        client: &Client,
        ns: &str,
        name: &str,
    ) -> Result<Option<&Secret>, String> {
        read_once(&mut self.secrets, "secret", client, ns, name).await
    }
}

/// `name` from `cache`, read from the API server the first time (a missing
/// object is remembered as missing too).
async fn read_once<'c, T: Object>(
    cache: &'c mut HashMap<String, Option<T>>,
    kind: &str,
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Option<&'c T>, String> {
    if !cache.contains_key(name) {
        let got = Api::<T>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(|e| format!("reading {kind} \"{name}\": {e}"))?;
        cache.insert(name.to_string(), got);
    }
    Ok(cache.get(name).and_then(Option::as_ref))
}

/// The environment of `container`; the error is the message of
/// `CreateContainerConfigError`.
pub async fn resolve(
    client: &Client,
    sources: &mut Sources,
    ctx: &EnvContext<'_>,
    container: &Container,
) -> Result<Vec<(String, String)>, String> {
    let ns = ctx.pod.metadata.namespace_str();
    let mut env = Env::default();
    for from in &container.env_from {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let name = r.name.as_deref().unwrap_or_default();
            match sources.config_map(client, ns, name).await? {
                Some(cm) => {
                    for (k, v) in &cm.data {
                        env.set(format!("{prefix}{k}"), v.clone());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap \"{name}\" not found")),
            }
        }
        if let Some(r) = &from.secret_ref {
            let name = r.name.as_deref().unwrap_or_default();
            match sources.secret(client, ns, name).await? {
                Some(s) => {
                    for k in s.data.keys() {
                        let v = s.decoded(k).unwrap_or_default();
                        env.set(
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        );
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret \"{name}\" not found")),
            }
        }
    }
    for var in &container.env {
        if let Some(value) = value_of(client, sources, ctx, container, var, &env).await? {
            env.set(var.name.clone(), value);
        }
    }
    Ok(env.into_vec())
}

/// One variable's value; `None` when an optional source is missing.
async fn value_of(
    client: &Client,
    sources: &mut Sources,
    ctx: &EnvContext<'_>,
    container: &Container,
    var: &EnvVar,
    env: &Env,
) -> Result<Option<String>, String> {
    let ns = ctx.pod.metadata.namespace_str();
    let Some(from) = &var.value_from else {
        return Ok(Some(expand(
            var.value.as_deref().unwrap_or_default(),
            &|n| env.get(n),
        )));
    };
    if let Some(r) = &from.config_map_key_ref {
        let name = r.name.as_deref().unwrap_or_default();
        let optional = r.optional == Some(true);
        return match sources.config_map(client, ns, name).await? {
            Some(cm) => match cm.data.get(&r.key) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(format!(
                    "couldn't find key {} in ConfigMap {ns}/{name}",
                    r.key
                )),
            },
            None if optional => Ok(None),
            None => Err(format!("configmap \"{name}\" not found")),
        };
    }
    if let Some(r) = &from.secret_key_ref {
        let name = r.name.as_deref().unwrap_or_default();
        let optional = r.optional == Some(true);
        return match sources.secret(client, ns, name).await? {
            Some(s) => match s.decoded(&r.key) {
                Some(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
                None if optional => Ok(None),
                None => Err(format!("couldn't find key {} in Secret {ns}/{name}", r.key)),
            },
            None if optional => Ok(None),
            None => Err(format!("secret \"{name}\" not found")),
        };
    }
    if let Some(f) = &from.field_ref {
        return field_value(ctx, &f.field_path).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        return resource_value(ctx, container, r).map(Some);
    }
    Ok(Some(String::new()))
}

/// The downward API: `metadata.name`, `metadata.labels['app']`, `status.podIP`, ...
pub fn field_value(ctx: &EnvContext<'_>, path: &str) -> Result<String, String> {
    let pod = ctx.pod;
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_key = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
    };
    let value = match path {
        "metadata.name" => meta.name_str().to_string(),
        "metadata.namespace" => meta.namespace_str().to_string(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => match (ctx.pod_ip, spec.and_then(|s| s.host_network)) {
            (_, Some(true)) => ctx.host_ip.to_string(),
            (Some(ip), _) => ip.to_string(),
            (None, _) => String::new(),
        },
        _ => {
            if let Some(k) = map_key("metadata.labels") {
                meta.labels.get(k).cloned().unwrap_or_default()
            } else if let Some(k) = map_key("metadata.annotations") {
                meta.annotations.get(k).cloned().unwrap_or_default()
            } else {
                return Err(format!("unsupported fieldPath: {path}"));
            }
        }
    };
    Ok(value)
}

/// `limits.cpu`, `requests.memory`, ... of a container, divided by the
/// divisor and rounded up; limits default to the node's allocatable.
pub fn resource_value(
    ctx: &EnvContext<'_>,
    container: &Container,
    r: &ResourceFieldSelector,
) -> Result<String, String> {
    let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => ctx
            .pod
            .spec
            .as_ref()
            .and_then(|s| {
                s.containers
                    .iter()
                    .chain(&s.init_containers)
                    .find(|c| c.name == name)
            })
            .ok_or_else(|| format!("container {name} not found"))?,
        None => container,
    };
    let (kind, resource) = r
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported resource: {}", r.resource))?;
    let set = match kind {
        "limits" => target.resources.limits.get(resource),
        "requests" => target.resources.requests.get(resource),
        _ => return Err(format!("unsupported resource: {}", r.resource)),
    };
    let node_default = match resource {
        "cpu" => Some(&ctx.allocatable.cpu),
        "memory" => Some(&ctx.allocatable.memory),
        "ephemeral-storage" => ctx.allocatable.ephemeral_storage.as_ref(),
        _ => return Err(format!("unsupported resource: {}", r.resource)),
    };
    let quantity = match (set, kind) {
        (Some(q), _) => q.clone(),
        (None, "limits") => node_default.cloned().unwrap_or_else(|| Quantity::new("0")),
        (None, _) => Quantity::new("0"),
    };
    let value = quantity
        .parsed()
        .map_err(|e| format!("{}: {e}", r.resource))?;
    let divisor = r
        .divisor
        .as_ref()
        .map(|d| d.parsed())
        .transpose()
        .map_err(|e| format!("divisor: {e}"))?
        .filter(|d| !d.is_zero());
    // Milli-units keep fractional CPUs exact: 500m / 1m = 500; rounded up.
    let (v, d) = (
        value.as_milli(),
        divisor.map_or(1000, |d| d.as_milli().max(1)),
    );
    Ok(v.div_euclid(d)
        .saturating_add(i64::from(v.rem_euclid(d) != 0))
        .to_string())
}

/// Variables in definition order; a redefinition keeps the first position.
#[derive(Default)]
struct Env {
    order: Vec<String>,
    values: HashMap<String, String>,
}

impl Env {
    fn set(&mut self, name: String, value: String) {
        if !self.values.contains_key(&name) {
            self.order.push(name.clone());
        }
        self.values.insert(name, value);
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn into_vec(mut self) -> Vec<(String, String)> {
        self.order
            .into_iter()
            .map(|n| {
                let v = self.values.remove(&n).unwrap_or_default();
                (n, v)
            })
            .collect()
    }
}

/// Kubernetes' `$(VAR)` expansion: defined references are replaced,
/// undefined ones are left as written, and `$$` escapes a `$`.
pub fn expand<'a>(input: &str, lookup: &dyn Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(close) => {
                    let name = &inner[..close];
                    match lookup(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{PodSpec, ResourceRequirements};
    use skiff_api::meta::ObjectMeta;

    #[test]
    fn expansion_matches_kubernetes() {
        let vars: HashMap<&str, &str> = [("A", "1"), ("B", "two")].into();
        let lookup = |n: &str| vars.get(n).copied();
        assert_eq!(expand("$(A)-$(B)", &lookup), "1-two");
        assert_eq!(expand("$(C) stays", &lookup), "$(C) stays");
        assert_eq!(expand("$$(A) escaped", &lookup), "$(A) escaped");
        assert_eq!(expand("cost $5", &lookup), "cost $5");
        assert_eq!(expand("open $(A", &lookup), "open $(A");
        assert_eq!(expand("$", &lookup), "$");
        assert_eq!(expand("", &lookup), "");
    }

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web-1".into()),
                namespace: Some("shop".into()),
                uid: Some("u-1".into()),
                labels: [("app".to_string(), "web".to_string())].into(),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    resources: ResourceRequirements {
                        limits: [("cpu".to_string(), Quantity::new("500m"))].into(),
                        requests: [("memory".to_string(), Quantity::new("64Mi"))].into(),
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_downward_api() {
        let p = pod();
        let cap = Capacity::hollow();
        let ctx = EnvContext {
            pod: &p,
            pod_ip: Some("10.244.0.9".parse().unwrap()),
            host_ip: "10.250.0.1".parse().unwrap(),
            allocatable: &cap,
        };
        assert_eq!(field_value(&ctx, "metadata.name").unwrap(), "web-1");
        assert_eq!(field_value(&ctx, "metadata.namespace").unwrap(), "shop");
        assert_eq!(field_value(&ctx, "metadata.labels['app']").unwrap(), "web");
        assert_eq!(field_value(&ctx, "spec.nodeName").unwrap(), "n1");
        assert_eq!(field_value(&ctx, "status.podIP").unwrap(), "10.244.0.9");
        assert_eq!(field_value(&ctx, "status.hostIP").unwrap(), "10.250.0.1");
        assert!(field_value(&ctx, "spec.nope").is_err());
        let c = &p.spec.as_ref().unwrap().containers[0];
        let res = |resource: &str, divisor: Option<&str>| {
            resource_value(
                &ctx,
                c,
                &ResourceFieldSelector {
                    container_name: None,
                    resource: resource.into(),
                    divisor: divisor.map(Quantity::new),
                },
            )
            .unwrap()
        };
        assert_eq!(res("limits.cpu", None), "1", "500m rounds up to 1 core");
        assert_eq!(res("limits.cpu", Some("1m")), "500");
        assert_eq!(res("requests.memory", Some("1Mi")), "64");
        assert_eq!(
            res("limits.memory", Some("1Gi")),
            "8",
            "the node's allocatable"
        );
    }
}
