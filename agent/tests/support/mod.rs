//! Shared by the agent's integration tests: an API server over SQLite in a
//! temp dir, pods bound straight to a node (no scheduler), and polling.

#![allow(dead_code)]

pub mod netns;
pub mod wire;

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use skiff_agent::{AgentConfig, Capacity};
use skiff_api::core::{Container, EnvVar, Pod, PodSpec};
use skiff_api::meta::ObjectMeta;
use skiff_apiserver::RunningServer;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_client::{Api, Client};

pub struct TestServer {
    server: Option<RunningServer>,
    pub client: Client,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let EmbeddedServer { server, url, dir } = start_embedded(|_| {}).await.unwrap();
        let client = Client::from_server(&url).unwrap();
        TestServer {
            server: Some(server),
            client,
            _dir: dir,
        }
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// The lab profile, hollow capacity, and no wait for a podCIDR (no
/// controller runs in these tests).
pub fn agent_config(name: &str, ip: &str) -> AgentConfig {
    let ip: IpAddr = ip.parse().unwrap();
    let mut c = AgentConfig::new(name, ip).lab_profile();
    c.capacity = Capacity::hollow();
    c.pod_cidr_wait = Duration::from_millis(50);
    c.fallback_pod_cidr = "10.200.0.0/24".into();
    c
}

pub fn container(name: &str, env: &[(&str, &str)]) -> Container {
    Container {
        name: name.into(),
        image: Some("nginx:1.27".into()),
        env: env
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.to_string(),
                value: Some(v.to_string()),
                value_from: None,
            })
            .collect(),
        ..Default::default()
    }
}

/// A pod already bound to `node`.
pub fn pod(name: &str, node: &str, policy: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            restart_policy: Some(policy.into()),
            containers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Waits (up to `secs`) until `check` gives `Some`, and returns it.
pub async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the pod satisfies `ok`; returns it.
pub async fn wait_pod(api: &Api<Pod>, name: &str, what: &str, ok: impl Fn(&Pod) -> bool) -> Pod {
    wait_for(what, 15, || async {
        api.get_opt(name).await.unwrap().filter(|p| ok(p))
    })
    .await
}

pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

pub fn is_ready(p: &Pod) -> bool {
    p.status.as_ref().is_some_and(|s| s.is_ready())
}

pub fn restart_count(p: &Pod, container: &str) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.iter().find(|c| c.name == container))
        .map_or(-1, |c| c.restart_count)
}

pub fn waiting_reason(p: &Pod, container: &str) -> Option<String> {
    p.status
        .as_ref()?
        .container_statuses
        .iter()
        .find(|c| c.name == container)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

pub fn uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap()
}

/// This process's resident memory, from /proc.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
