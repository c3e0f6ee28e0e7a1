//! From the pod spec to what the runtime is asked for: the sandbox, and
//! each container with its environment resolved and `$(VAR)` references in
//! its command and arguments expanded.

use std::collections::HashMap;

use skiff_api::core::{Container, ContainerPort, Pod, SecurityContext, pod_defaults};
use skiff_api::quantity::Quantity;
use skiff_client::Client;

use super::env::{self, EnvContext, Sources};
use crate::runtime::{ContainerConfig, PortMapping, Resources, SandboxConfig};

pub fn sandbox_config(pod: &Pod, pod_cidr: Option<String>, attempt: u32) -> SandboxConfig {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    SandboxConfig {
        pod_uid: meta.uid.clone().unwrap_or_default(),
        namespace: meta.namespace_str().to_string(),
        name: meta.name_str().to_string(),
        attempt,
        hostname: spec
            .hostname
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| meta.name_str().to_string()),
        pod_cidr,
        host_network: spec.host_network == Some(true),
        port_mappings: spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .filter(|p| p.host_port.unwrap_or(0) > 0)
            .map(port_mapping)
            .collect(),
        labels: meta.labels.clone(),
        qos_class: pod_defaults::qos_class(&spec).to_string(),
        sysctls: spec
            .security_context
            .iter()
            .flat_map(|s| &s.sysctls)
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect(),
        user_namespace: spec.host_users == Some(false),
        time_offset_seconds: meta
            .annotations
            .get(TIME_OFFSET_ANNOTATION)
            .and_then(|v| v.trim().parse().ok()),
    }
}

/// Shifts the pod's CLOCK_MONOTONIC and CLOCK_BOOTTIME by this many seconds
/// (a time namespace; the Linux runtime honours it).
pub const TIME_OFFSET_ANNOTATION: &str = "skiff.dev/time-offset";

/// The container's securityContext with the pod's defaults filled in where
/// the container leaves them unset, as the kubelet merges them.
fn effective_security_context(pod: &Pod, c: &Container) -> Option<SecurityContext> {
    let pod_sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let Some(pod_sc) = pod_sc else {
        return c.security_context.clone();
    };
    let mut sc = c.security_context.clone().unwrap_or_default();
    sc.run_as_user = sc.run_as_user.or(pod_sc.run_as_user);
    sc.run_as_group = sc.run_as_group.or(pod_sc.run_as_group);
    sc.run_as_non_root = sc.run_as_non_root.or(pod_sc.run_as_non_root);
    if sc.seccomp_profile.is_none() {
        sc.seccomp_profile = pod_sc.seccomp_profile.clone();
    }
    Some(sc)
}

/// `supplementalGroups` plus `fsGroup`.
fn supplemental_groups(pod: &Pod) -> Vec<u32> {
    let Some(sc) = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()) else {
        return Vec::new();
    };
    let mut groups: Vec<u32> = sc
        .supplemental_groups
        .iter()
        .chain(sc.fs_group.iter())
        .filter_map(|g| u32::try_from(*g).ok())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

fn port_mapping(p: &ContainerPort) -> PortMapping {
    PortMapping {
        container_port: p.container_port,
        host_port: p.host_port.filter(|h| *h > 0),
        host_ip: p.host_ip.clone().filter(|h| !h.is_empty()),
        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
    }
}

/// `spec.containers{name}` (or `spec.initContainers{name}`): where Events point.
pub fn field_path(pod: &Pod, container: &str) -> String {
    let init = pod
        .spec
        .as_ref()
        .is_some_and(|s| s.init_containers.iter().any(|c| c.name == container));
    if init {
        format!("spec.initContainers{{{container}}}")
    } else {
        format!("spec.containers{{{container}}}")
    }
}

/// The container to create; the error is the message of
/// `CreateContainerConfigError`.
pub async fn container_config(
    client: &Client,
    sources: &mut Sources,
    ctx: &EnvContext<'_>,
    c: &Container,
    restart_count: u32,
) -> Result<ContainerConfig, String> {
    // Most pods need no lookups: skip the machinery for them.
    let env = if c.env.iter().all(|e| e.value_from.is_none()) && c.env_from.is_empty() {
        let mut defined: HashMap<&str, String> = HashMap::new();
        let mut out = Vec::with_capacity(c.env.len());
        for e in &c.env {
            let v = env::expand(e.value.as_deref().unwrap_or_default(), &|n| {
                defined.get(n).map(String::as_str)
            });
            defined.insert(&e.name, v.clone());
            out.retain(|(n, _): &(String, String)| n != &e.name);
            out.push((e.name.clone(), v));
        }
        out
    } else {
        env::resolve(client, sources, ctx, c).await?
    };
    let lookup: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expand_all = |args: &[String]| -> Vec<String> {
        args.iter()
            .map(|a| env::expand(a, &|n| lookup.get(n).copied()))
            .collect()
    };
    Ok(ContainerConfig {
        name: c.name.clone(),
        image: c.image_str().to_string(),
        image_pull_policy: c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| pod_defaults::default_image_pull_policy(c.image_str()).into()),
        command: expand_all(&c.command),
        args: expand_all(&c.args),
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        env: env.clone(),
        ports: c.ports.iter().map(port_mapping).collect(),
        resources: resources(c),
        restart_count,
        tty: c.tty == Some(true),
        stdin: c.stdin == Some(true),
        stdin_once: c.stdin_once == Some(true),
        termination_message_path: c.termination_message_path.clone(),
        security_context: effective_security_context(ctx.pod, c),
        supplemental_groups: supplemental_groups(ctx.pod),
        // Volumes are materialised by the agent's volume manager.
        mounts: Vec::new(),
    })
}

fn resources(c: &Container) -> Resources {
    let milli = |q: Option<&Quantity>| q.and_then(|q| q.parsed().ok()).map(|p| p.as_milli());
    let bytes = |q: Option<&Quantity>| q.and_then(|q| q.parsed().ok()).map(|p| p.as_bytes());
    let r = &c.resources;
    Resources {
        cpu_request_milli: milli(r.requests.get("cpu")),
        cpu_limit_milli: milli(r.limits.get("cpu")),
        memory_request_bytes: bytes(r.requests.get("memory")),
        memory_limit_bytes: bytes(r.limits.get("memory")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Capacity;
    use skiff_api::core::{EnvVar, PodSpec, ResourceRequirements};
    use skiff_api::meta::ObjectMeta;

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("nginx:1.27".into()),
                    command: vec!["/bin/app".into(), "--greeting=$(GREETING)".into()],
                    args: vec!["$(MISSING)".into(), "$$(GREETING)".into()],
                    env: vec![
                        EnvVar {
                            name: "NAME".into(),
                            value: Some("world".into()),
                            value_from: None,
                        },
                        EnvVar {
                            name: "GREETING".into(),
                            value: Some("hello $(NAME)".into()),
                            value_from: None,
                        },
                    ],
                    ports: vec![ContainerPort {
                        container_port: 80,
                        host_port: Some(8080),
                        ..Default::default()
                    }],
                    resources: ResourceRequirements {
                        limits: [
                            ("cpu".to_string(), Quantity::new("1500m")),
                            ("memory".to_string(), Quantity::new("128Mi")),
                        ]
                        .into(),
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                hostname: Some("custom".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn sandbox_configs() {
        let s = sandbox_config(&pod(), Some("10.244.1.0/24".into()), 0);
        assert_eq!((s.pod_uid.as_str(), s.hostname.as_str()), ("u1", "custom"));
        assert_eq!(s.port_mappings.len(), 1);
        assert_eq!(s.port_mappings[0].host_port, Some(8080));
        assert_eq!(s.port_mappings[0].protocol, "TCP");
        // Limits without requests request what they limit.
        assert_eq!(s.qos_class, "Guaranteed");
    }

    #[tokio::test]
    async fn container_configs_expand_references() {
        let p = pod();
        let cap = Capacity::hollow();
        let ctx = EnvContext {
            pod: &p,
            pod_ip: None,
            host_ip: "10.250.0.1".parse().unwrap(),
            allocatable: &cap,
        };
        // No lookups needed: the client is never used.
        let client = Client::from_server("http://127.0.0.1:9").unwrap();
        let c = &p.spec.as_ref().unwrap().containers[0];
        let cfg = container_config(&client, &mut Sources::default(), &ctx, c, 2)
            .await
            .unwrap();
        assert_eq!(
            cfg.env,
            vec![
                ("NAME".to_string(), "world".to_string()),
                ("GREETING".to_string(), "hello world".to_string())
            ]
        );
        assert_eq!(cfg.command, vec!["/bin/app", "--greeting=hello world"]);
        assert_eq!(cfg.args, vec!["$(MISSING)", "$(GREETING)"]);
        assert_eq!(cfg.resources.cpu_limit_milli, Some(1500));
        assert_eq!(cfg.resources.memory_limit_bytes, Some(128 << 20));
        assert_eq!(cfg.restart_count, 2);
        assert_eq!(cfg.image_pull_policy, "IfNotPresent");
    }
}
