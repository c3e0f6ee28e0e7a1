//! The Node object: registration (create, or take over an existing one)
//! and its status: capacity, allocatable, addresses, node info, conditions.
//! Liveness is the Lease (see `lease`); the status is written when it
//! changes and otherwise every `node_status_report_interval`, as the
//! kubelet does.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use skiff_api::core::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use skiff_api::meta::{ObjectMeta, Time};
use skiff_client::runtime::Action;
use skiff_client::{Api, Patch};

use crate::engine::Engine;
use crate::node_state::NodeState;

/// `kubernetes.io/arch` of this build: Go's names.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

struct HostInfo {
    os_image: String,
    kernel_version: String,
}

/// Read once per process: every hollow node reports the host's.
fn host_info() -> &'static HostInfo {
    static INFO: OnceLock<HostInfo> = OnceLock::new();
    INFO.get_or_init(|| HostInfo {
        os_image: std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| pretty_name(&text))
            .unwrap_or_else(|| "Linux".into()),
        kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    })
}

/// `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"` -> the name.
fn pretty_name(os_release: &str) -> Option<String> {
    let line = os_release.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    let value = line.trim_start_matches("PRETTY_NAME=").trim();
    Some(value.trim_matches('"').to_string())
}

/// A stable id from the node name (FNV-1a, 128 bits as hex).
fn stable_id(name: &str) -> String {
    let mut out = String::with_capacity(32);
    for seed in [0xcbf2_9ce4_8422_2325u64, 0x8422_2325_cbf2_9ce4u64] {
        let mut h = seed;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

pub fn labels(node: &NodeState) -> BTreeMap<String, String> {
    let mut labels = node.config.labels.clone();
    let os = std::env::consts::OS;
    for (k, v) in [
        ("kubernetes.io/hostname", node.name.as_ref()),
        ("kubernetes.io/os", os),
        ("kubernetes.io/arch", go_arch()),
        ("beta.kubernetes.io/os", os),
        ("beta.kubernetes.io/arch", go_arch()),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    labels
}

/// The four conditions a healthy node reports: (type, status, reason, message).
const CONDITIONS: [(&str, &str, &str, &str); 4] = [
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "False",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    (
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
    ),
];

/// The status to report, heartbeats at `now`, transition times kept from
/// `previous` where nothing changed.
pub fn desired_status(
    node: &NodeState,
    previous: Option<&NodeStatus>,
    now: DateTime<Utc>,
) -> NodeStatus {
    let now = Time::from(now);
    let host = host_info();
    let id = stable_id(&node.name);
    let conditions = CONDITIONS
        .iter()
        .map(|(type_, status, reason, message)| {
            let since = previous
                .and_then(|p| p.condition(type_))
                .filter(|c| c.status == *status)
                .and_then(|c| c.last_transition_time)
                .unwrap_or(now);
            NodeCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                last_heartbeat_time: Some(now),
                last_transition_time: Some(since),
                reason: Some(reason.to_string()),
                message: Some(message.to_string()),
            }
        })
        .collect();
    NodeStatus {
        capacity: node.config.capacity.to_resource_list(),
        allocatable: node.allocatable().to_resource_list(),
        phase: None,
        conditions,
        addresses: addresses(node),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: node.config.kubelet_port,
            }),
        }),
        node_info: Some(NodeSystemInfo {
            machine_id: id.clone(),
            system_uuid: format!(
                "{}-{}-{}-{}-{}",
                &id[0..8],
                &id[8..12],
                &id[12..16],
                &id[16..20],
                &id[20..32]
            ),
            boot_id: node.boot_id.clone(),
            kernel_version: host.kernel_version.clone(),
            os_image: host.os_image.clone(),
            container_runtime_version: node.runtime_version.clone(),
            kubelet_version: node.config.kubelet_version.clone(),
            kube_proxy_version: String::new(),
            operating_system: std::env::consts::OS.to_string(),
            architecture: go_arch().to_string(),
        }),
        images: previous.map(|p| p.images.clone()).unwrap_or_default(),
    }
}

/// `InternalIP` then `Hostname`. An agent server listening on a specific
/// IP other than the node's (a hollow fleet's, on 127.0.0.1) comes first:
/// the API server dials the first `InternalIP` for logs and exec.
fn addresses(node: &NodeState) -> Vec<NodeAddress> {
    let internal = |ip: std::net::IpAddr| NodeAddress {
        type_: "InternalIP".into(),
        address: ip.to_string(),
    };
    let mut out = Vec::with_capacity(3);
    if let Some(server) = node.config.server_addr
        && !server.ip().is_unspecified()
        && server.ip() != node.config.node_ip
    {
        out.push(internal(server.ip()));
    }
    out.push(internal(node.config.node_ip));
    out.push(NodeAddress {
        type_: "Hostname".into(),
        address: node.name.to_string(),
    });
    out
}

/// Equal but for heartbeat times: nothing new to report.
pub fn same_report(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(a) == strip(b)
}

/// When the node last reported (its Ready heartbeat).
fn last_heartbeat(status: &NodeStatus) -> Option<DateTime<Utc>> {
    status
        .condition("Ready")
        .and_then(|c| c.last_heartbeat_time)
        .map(|t| t.0)
}

/// Creates the Node, or takes over the one that exists (our labels, our
/// status; its spec, podCIDR and taints, stay as they are).
pub async fn register(engine: &Engine, node: &NodeState) -> skiff_client::Result<Node> {
    let api: Api<Node> = Api::all(engine.client.clone());
    let now = Utc::now();
    let desired = Node {
        metadata: ObjectMeta {
            name: Some(node.name.to_string()),
            labels: labels(node),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: node.config.taints.clone(),
            ..Default::default()
        }),
        status: Some(desired_status(node, None, now)),
        ..Default::default()
    };
    let created = {
        let _permit = engine.writes.acquire().await;
        api.create(&desired).await
    };
    let existing = match created {
        Ok(n) => {
            node.observe(&n);
            let has_status = n
                .status
                .as_ref()
                .is_some_and(|s| s.condition("Ready").is_some());
            if has_status {
                return Ok(n);
            }
            n
        }
        Err(e) if e.is_already_exists() => {
            let n = api.get(&node.name).await?;
            node.observe(&n);
            let ours = labels(node);
            if ours
                .iter()
                .any(|(k, v)| n.metadata.labels.get(k) != Some(v))
            {
                let _permit = engine.writes.acquire().await;
                api.patch(
                    &node.name,
                    &Patch::Merge(json!({"metadata": {"labels": ours}})),
                )
                .await?;
            }
            n
        }
        Err(e) => return Err(e),
    };
    let status = desired_status(node, existing.status.as_ref(), now);
    let _permit = engine.writes.acquire().await;
    let updated = api
        .patch_status(&node.name, &Patch::Merge(json!({ "status": status })))
        .await?;
    node.observe(&updated);
    Ok(updated)
}

/// Writes the Node's status if it changed or its heartbeat is due; says
/// when to look again.
pub async fn sync_status(engine: &Engine, node: &NodeState) -> anyhow::Result<Action> {
    if !node.is_active() || node.heartbeat_paused() {
        return Ok(Action::Done);
    }
    let interval = node.config.node_status_report_interval;
    let Some(cached) = engine.nodes_cache.get(&node.name) else {
        // Deleted by someone: the kubelet does not register again either.
        tracing::warn!(node = %node.name, "the Node object is gone");
        return Ok(Action::RequeueAfter(interval));
    };
    let current = cached.status.clone().unwrap_or_default();
    let now = Utc::now();
    let desired = desired_status(node, Some(&current), now);
    if same_report(&current, &desired)
        && let Some(last) = last_heartbeat(&current)
    {
        let age = (now - last).to_std().unwrap_or(Duration::ZERO);
        if age < interval {
            return Ok(Action::RequeueAfter(interval - age));
        }
    }
    let api: Api<Node> = Api::all(engine.client.clone());
    let result = {
        let _permit = engine.writes.acquire().await?;
        api.patch_status(&node.name, &Patch::Merge(json!({ "status": desired })))
            .await
    };
    match result {
        Ok(updated) => node.observe(&updated),
        Err(e) if e.is_not_found() => {
            tracing::warn!(node = %node.name, "the Node object is gone");
        }
        Err(e) => return Err(anyhow::Error::new(e).context("writing the node status")),
    }
    Ok(Action::RequeueAfter(interval))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;
    use crate::runtime::hollow::HollowRuntime;
    use std::sync::Arc;

    fn node() -> Arc<NodeState> {
        let mut cfg = AgentConfig::new("hollow-7", "10.250.0.8".parse().unwrap());
        cfg.capacity = crate::config::Capacity::hollow();
        cfg.labels.insert("skiff.dev/hollow".into(), "true".into());
        let client = skiff_client::Client::from_server("http://127.0.0.1:9").unwrap();
        NodeState::new(cfg, Arc::new(HollowRuntime::default()), client)
    }

    #[test]
    fn a_ready_node_with_its_identity() {
        let n = node();
        let now = Utc::now();
        let s = desired_status(&n, None, now);
        let ready = s.condition("Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("kubelet is posting ready status")
        );
        for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            assert_eq!(s.condition(t).unwrap().status, "False");
        }
        assert_eq!(s.capacity["pods"].as_str(), "110");
        assert_eq!(s.allocatable, s.capacity);
        assert_eq!(s.addresses[0].address, "10.250.0.8");
        assert_eq!(s.addresses[1].type_, "Hostname");
        let info = s.node_info.as_ref().unwrap();
        assert_eq!(info.container_runtime_version, "hollow://0.1");
        assert_eq!(info.kubelet_version, "v1.32.0-skiff");
        assert_eq!(info.operating_system, "linux");
        assert_eq!(info.system_uuid.len(), 36);
        let l = labels(&n);
        assert_eq!(l["kubernetes.io/hostname"], "hollow-7");
        assert_eq!(l["skiff.dev/hollow"], "true");
    }

    #[test]
    fn a_server_on_another_ip_is_dialled_first() {
        let mut cfg = AgentConfig::new("n", "10.250.0.8".parse().unwrap());
        cfg.server_addr = Some("127.0.0.1:0".parse().unwrap());
        let client = skiff_client::Client::from_server("http://127.0.0.1:9").unwrap();
        let n = NodeState::new(
            cfg.clone(),
            Arc::new(HollowRuntime::default()),
            client.clone(),
        );
        let s = desired_status(&n, None, Utc::now());
        let listed: Vec<_> = s
            .addresses
            .iter()
            .map(|a| (a.type_.as_str(), a.address.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("InternalIP", "127.0.0.1"),
                ("InternalIP", "10.250.0.8"),
                ("Hostname", "n")
            ]
        );
        cfg.server_addr = Some("0.0.0.0:10250".parse().unwrap());
        let n = NodeState::new(cfg, Arc::new(HollowRuntime::default()), client);
        let s = desired_status(&n, None, Utc::now());
        assert_eq!(s.addresses.len(), 2);
        assert_eq!(s.addresses[0].address, "10.250.0.8");
    }

    #[test]
    fn heartbeats_alone_are_not_news() {
        let n = node();
        let t0 = Utc::now() - chrono::Duration::seconds(100);
        let first = desired_status(&n, None, t0);
        let second = desired_status(&n, Some(&first), Utc::now());
        assert!(same_report(&first, &second));
        // Transition times were kept.
        assert_eq!(
            second.condition("Ready").unwrap().last_transition_time,
            first.condition("Ready").unwrap().last_transition_time
        );
        let mut unknown = first.clone();
        for c in &mut unknown.conditions {
            if c.type_ == "Ready" {
                c.status = "Unknown".into();
            }
        }
        let fixed = desired_status(&n, Some(&unknown), Utc::now());
        assert!(!same_report(&unknown, &fixed));
        assert_ne!(
            fixed.condition("Ready").unwrap().last_transition_time,
            first.condition("Ready").unwrap().last_transition_time
        );
    }

    #[test]
    fn host_details() {
        assert_eq!(
            pretty_name("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("ID=x"), None);
        assert_eq!(stable_id("a"), stable_id("a"));
        assert_ne!(stable_id("a"), stable_id("b"));
        assert_eq!(stable_id("a").len(), 32);
    }
}
