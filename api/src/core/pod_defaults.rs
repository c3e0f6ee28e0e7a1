//! Pod defaulting, as kube-apiserver's `SetDefaults_PodSpec`,
//! `SetDefaults_Container`, `SetDefaults_Probe`, ... do it. Pod templates of
//! workloads get the same, except what only a created Pod gets (requests
//! from limits, the initial status).

use super::container::Container;
use super::pod::{Pod, PodSecurityContext, PodSpec};
use super::pod_status::PodStatus;
use super::probe::{HttpGetAction, LifecycleHandler, Probe};
use super::volume::{EmptyDirVolumeSource, Volume};

/// Mode of projected ConfigMap/Secret files: 0644.
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

fn set_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().unwrap_or_default().is_empty() {
        *field = Some(value.to_string());
    }
}

/// A created Pod: spec defaults, requests from limits, and the initial
/// status (`Pending`, QoS class) when none was written.
pub fn default_pod(pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    default_pod_spec(spec);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut())
    {
        default_requests_from_limits(c);
    }
    let qos = qos_class(spec);
    let status = pod.status.get_or_insert_with(PodStatus::default);
    set_str(&mut status.phase, "Pending");
    set_str(&mut status.qos_class, qos);
}

/// The defaults of every PodSpec, in a Pod or in a template. The
/// restartPolicy default (`Always`) is left to the caller, since Job
/// templates must choose theirs.
pub fn default_pod_spec_except_restart_policy(spec: &mut PodSpec) {
    set_str(&mut spec.dns_policy, "ClusterFirst");
    set(&mut spec.security_context, PodSecurityContext::default());
    set(
        &mut spec.termination_grace_period_seconds,
        DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    );
    set_str(&mut spec.scheduler_name, DEFAULT_SCHEDULER_NAME);
    set(&mut spec.enable_service_links, true);
    // The deprecated field mirrors the current one (and is accepted alone).
    match (&spec.service_account_name, &spec.service_account) {
        (None, Some(old)) => spec.service_account_name = Some(old.clone()),
        (Some(new), None) => spec.service_account = Some(new.clone()),
        _ => {}
    }
    let host_network = spec.host_network == Some(true);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut())
    {
        default_container(c, host_network);
    }
    for v in &mut spec.volumes {
        default_volume(v);
    }
}

/// Every PodSpec default including `restartPolicy: Always`.
pub fn default_pod_spec(spec: &mut PodSpec) {
    set_str(&mut spec.restart_policy, "Always");
    default_pod_spec_except_restart_policy(spec);
}

/// `Always` for `:latest` or an untagged image without digest, else `IfNotPresent`.
pub fn default_image_pull_policy(image: &str) -> &'static str {
    match image_tag(image) {
        Some("latest") => "Always",
        None if !image.contains('@') => "Always",
        _ => "IfNotPresent",
    }
}

/// The tag of an image reference: after the last `:` of the last path
/// component (a `:` before a `/` is a registry port), ignoring a digest.
fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or_default();
    let last = without_digest.rsplit('/').next().unwrap_or_default();
    last.split_once(':').map(|(_, tag)| tag)
}

pub fn default_container(c: &mut Container, host_network: bool) {
    if c.image_pull_policy
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        c.image_pull_policy = Some(default_image_pull_policy(c.image_str()).to_string());
    }
    set_str(
        &mut c.termination_message_path,
        DEFAULT_TERMINATION_MESSAGE_PATH,
    );
    set_str(&mut c.termination_message_policy, "File");
    for p in &mut c.ports {
        set_str(&mut p.protocol, "TCP");
        if host_network && p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
    for e in &mut c.env {
        if let Some(f) = e.value_from.as_mut().and_then(|s| s.field_ref.as_mut()) {
            set_str(&mut f.api_version, "v1");
        }
    }
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    if let Some(l) = c.lifecycle.as_mut() {
        for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
            default_handler(h);
        }
    }
}

pub fn default_probe(p: &mut Probe) {
    set(&mut p.timeout_seconds, 1);
    set(&mut p.period_seconds, 10);
    set(&mut p.success_threshold, 1);
    set(&mut p.failure_threshold, 3);
    if let Some(h) = p.http_get.as_mut() {
        default_http_get(h);
    }
}

fn default_handler(h: &mut LifecycleHandler) {
    if let Some(g) = h.http_get.as_mut() {
        default_http_get(g);
    }
}

fn default_http_get(h: &mut HttpGetAction) {
    set_str(&mut h.path, "/");
    set_str(&mut h.scheme, "HTTP");
}

/// A volume with no source is an emptyDir; projected files get mode 0644.
pub fn default_volume(v: &mut Volume) {
    if v.sources().is_empty() {
        v.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(cm) = v.config_map.as_mut() {
        set(&mut cm.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = v.secret.as_mut() {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(h) = v.host_path.as_mut() {
        set(&mut h.type_, String::new());
    }
}

/// A limit without a request requests as much as it limits.
fn default_requests_from_limits(c: &mut Container) {
    for (name, q) in &c.resources.limits {
        c.resources
            .requests
            .entry(name.clone())
            .or_insert_with(|| q.clone());
    }
}

/// The QoS class Kubernetes derives from cpu and memory requests/limits:
/// `Guaranteed` when every container limits both and requests what it
/// limits, `BestEffort` when none asks for either, else `Burstable`.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    const COMPUTE: [&str; 2] = ["cpu", "memory"];
    let containers = || spec.containers.iter().chain(spec.init_containers.iter());
    let is_set = |q: Option<&crate::quantity::Quantity>| {
        q.and_then(|q| q.parsed().ok())
            .is_some_and(|p| !p.is_zero())
    };
    let any = containers().any(|c| {
        COMPUTE
            .iter()
            .any(|r| is_set(c.resources.requests.get(*r)) || is_set(c.resources.limits.get(*r)))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers().all(|c| {
        COMPUTE.iter().all(|r| {
            let limit = c.resources.limits.get(*r);
            let request = c.resources.requests.get(*r).or(limit);
            is_set(limit)
                && match (
                    limit.and_then(|q| q.parsed().ok()),
                    request.and_then(|q| q.parsed().ok()),
                ) {
                    (Some(l), Some(q)) => l == q,
                    _ => false,
                }
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::container::{ContainerPort, ResourceRequirements};
    use crate::core::probe::TcpSocketAction;
    use crate::core::volume::HostPathVolumeSource;
    use crate::quantity::Quantity;

    fn container(image: &str) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            ..Default::default()
        }
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("registry:5000/nginx", "Always"),
            ("registry:5000/nginx:1.0", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
            ("nginx:latest@sha256:abcd", "Always"),
        ] {
            assert_eq!(default_image_pull_policy(image), policy, "{image}");
        }
        let mut c = container("nginx");
        c.image_pull_policy = Some("Never".into());
        default_container(&mut c, false);
        assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
    }

    #[test]
    fn container_defaults() {
        let mut c = container("busybox:1.36");
        c.ports.push(ContainerPort {
            container_port: 8080,
            ..Default::default()
        });
        c.liveness_probe = Some(Probe {
            http_get: Some(HttpGetAction {
                port: 8080.into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        c.readiness_probe = Some(Probe {
            tcp_socket: Some(TcpSocketAction {
                port: 8080.into(),
                host: None,
            }),
            period_seconds: Some(5),
            ..Default::default()
        });
        default_container(&mut c, true);
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
        assert_eq!(c.ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(c.ports[0].host_port, Some(8080)); // host network
        let l = c.liveness_probe.unwrap();
        assert_eq!(
            (
                l.timeout_seconds,
                l.period_seconds,
                l.success_threshold,
                l.failure_threshold
            ),
            (Some(1), Some(10), Some(1), Some(3))
        );
        let g = l.http_get.unwrap();
        assert_eq!(
            (g.path.as_deref(), g.scheme.as_deref()),
            (Some("/"), Some("HTTP"))
        );
        assert_eq!(c.readiness_probe.unwrap().period_seconds, Some(5));
    }

    #[test]
    fn pod_defaults_and_status() {
        let mut pod = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    resources: ResourceRequirements {
                        limits: [
                            ("cpu".into(), Quantity::from("1")),
                            ("memory".into(), "1Gi".into()),
                        ]
                        .into(),
                        requests: Default::default(),
                    },
                    ..container("nginx")
                }],
                volumes: vec![
                    Volume {
                        name: "scratch".into(),
                        ..Default::default()
                    },
                    Volume {
                        name: "host".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: "/data".into(),
                            type_: None,
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        default_pod(&mut pod);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.enable_service_links, Some(true));
        assert_eq!(spec.security_context, Some(PodSecurityContext::default()));
        assert!(spec.volumes[0].empty_dir.is_some());
        assert_eq!(
            spec.volumes[1].host_path.as_ref().unwrap().type_.as_deref(),
            Some("")
        );
        assert_eq!(spec.containers[0].resources.requests["cpu"], "1".into());
        let status = pod.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        assert_eq!(status.qos_class.as_deref(), Some("Guaranteed"));
    }

    #[test]
    fn qos_classes() {
        let with = |requests: &[(&str, &str)], limits: &[(&str, &str)]| PodSpec {
            containers: vec![Container {
                resources: ResourceRequirements {
                    requests: requests
                        .iter()
                        .map(|(k, v)| (k.to_string(), Quantity::from(*v)))
                        .collect(),
                    limits: limits
                        .iter()
                        .map(|(k, v)| (k.to_string(), Quantity::from(*v)))
                        .collect(),
                },
                ..container("x")
            }],
            ..Default::default()
        };
        assert_eq!(qos_class(&with(&[], &[])), "BestEffort");
        assert_eq!(qos_class(&with(&[("cpu", "100m")], &[])), "Burstable");
        assert_eq!(
            qos_class(&with(
                &[("cpu", "1"), ("memory", "1Gi")],
                &[("cpu", "1000m"), ("memory", "1Gi")]
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&with(&[], &[("cpu", "1"), ("memory", "1Gi")])),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&with(
                &[("cpu", "500m"), ("memory", "1Gi")],
                &[("cpu", "1"), ("memory", "1Gi")]
            )),
            "Burstable"
        );
    }

    #[test]
    fn templates_may_keep_restart_policy_unset() {
        let mut spec = PodSpec::default();
        default_pod_spec_except_restart_policy(&mut spec);
        assert_eq!(spec.restart_policy, None);
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        spec.service_account = Some("robot".into());
        spec.service_account_name = None;
        default_pod_spec(&mut spec);
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.service_account_name.as_deref(), Some("robot"));
    }
}
