//! One node's state inside the agent: its config and runtime, what the
//! API server told it (uid, podCIDR), its switches (active, stopped,
//! heartbeat paused) and its pod records. Small on purpose: a process
//! holds one per hollow node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use skiff_api::core::{Node, Pod};
use skiff_client::{Client, EventRecorder, EventType};
use tokio::sync::watch;

use crate::config::{AgentConfig, Capacity, PodEvents};
use crate::pods::record::PodRecord;
use crate::runtime::Runtime;

pub struct NodeState {
    pub name: Arc<str>,
    pub config: AgentConfig,
    pub runtime: Arc<dyn Runtime>,
    /// `hollow` or `skiff`: the scheme of container ids in pod statuses.
    pub id_scheme: String,
    pub runtime_version: String,
    /// Changes each time an agent starts for this node.
    pub boot_id: String,
    uid: Mutex<Option<String>>,
    pod_cidr: watch::Sender<Option<String>>,
    /// Registered and syncing pods.
    active: AtomicBool,
    stopped: AtomicBool,
    heartbeat_paused: AtomicBool,
    records: Mutex<HashMap<Arc<str>, PodRecord>>,
    recorder: EventRecorder,
}

impl NodeState {
    pub fn new(config: AgentConfig, runtime: Arc<dyn Runtime>, client: Client) -> Arc<NodeState> {
        let runtime_version = runtime.version();
        let id_scheme = runtime_version
            .split_once("://")
            .map_or(runtime_version.as_str(), |(scheme, _)| scheme)
            .to_string();
        Arc::new(NodeState {
            name: config.node_name.as_str().into(),
            runtime,
            id_scheme,
            runtime_version,
            boot_id: random_uuid(),
            uid: Mutex::new(None),
            pod_cidr: watch::Sender::new(None),
            active: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            heartbeat_paused: AtomicBool::new(false),
            records: Mutex::new(HashMap::new()),
            recorder: EventRecorder::new(client, "kubelet", Some(&config.node_name)),
            config,
        })
    }

    pub fn allocatable(&self) -> Capacity {
        self.config
            .allocatable
            .clone()
            .unwrap_or_else(|| self.config.capacity.clone())
    }

    /// Takes in what the API server says of this Node.
    pub fn observe(&self, node: &Node) {
        if let Some(uid) = &node.metadata.uid {
            *lock(&self.uid) = Some(uid.clone());
        }
        let cidr = node
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.clone())
            .filter(|c| !c.is_empty());
        if cidr.is_some() {
            self.pod_cidr.send_if_modified(|cur| {
                let changed = *cur != cidr;
                *cur = cidr.clone();
                changed
            });
        }
    }

    pub fn uid(&self) -> Option<String> {
        lock(&self.uid).clone()
    }

    /// The podCIDR the controller gave this Node, if any yet.
    pub fn pod_cidr(&self) -> Option<String> {
        self.pod_cidr.borrow().clone()
    }

    /// Follows the Node's podCIDR (`None` until the controller gives one).
    pub fn watch_pod_cidr(&self) -> watch::Receiver<Option<String>> {
        self.pod_cidr.subscribe()
    }

    /// Where new pod IPs come from: the podCIDR, else the fallback.
    pub fn effective_pod_cidr(&self) -> String {
        self.pod_cidr()
            .unwrap_or_else(|| self.config.fallback_pod_cidr.clone())
    }

    /// Waits until the Node has a podCIDR or `deadline` passes.
    pub async fn wait_for_pod_cidr(&self, deadline: tokio::time::Instant) {
        let mut rx = self.pod_cidr.subscribe();
        let _ = tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some)).await;
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire) && !self.is_stopped()
    }

    pub fn set_active(&self) {
        self.active.store(true, Ordering::Release);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub fn heartbeat_paused(&self) -> bool {
        self.heartbeat_paused.load(Ordering::Acquire)
    }

    pub fn set_heartbeat_paused(&self, paused: bool) {
        self.heartbeat_paused.store(paused, Ordering::Release);
    }

    /// The record of pod `key`, taken out while its (only) worker syncs it.
    pub fn take_record(&self, key: &str) -> Option<PodRecord> {
        lock(&self.records).remove(key)
    }

    pub fn put_record(&self, key: &str, record: PodRecord) {
        lock(&self.records).insert(key.into(), record);
    }

    /// Records an Event about `pod` (or one of its containers: `field` is
    /// `spec.containers{name}`), if the config wants events of this type.
    pub fn event(
        &self,
        pod: &Pod,
        field: Option<&str>,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let wanted = match self.config.pod_events {
            PodEvents::All => true,
            PodEvents::Warnings => warning,
            PodEvents::None => false,
        };
        if !wanted {
            return;
        }
        let kind = if warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        match field {
            Some(f) => self.recorder.publish_field(pod, f, kind, reason, message),
            None => self.recorder.publish(pod, kind, reason, message),
        }
    }

    pub fn record_keys(&self) -> Vec<Arc<str>> {
        lock(&self.records).keys().cloned().collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; recover rather than cascade.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A random RFC 4122 version-4 UUID.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::hollow::HollowRuntime;
    use skiff_api::core::NodeSpec;
    use skiff_api::meta::ObjectMeta;

    #[tokio::test]
    async fn learns_its_uid_and_pod_cidr() {
        let cfg = AgentConfig::new("n1", "10.250.0.1".parse().unwrap());
        let client = Client::from_server("http://127.0.0.1:9").unwrap();
        let n = NodeState::new(cfg, Arc::new(HollowRuntime::default()), client);
        assert_eq!(n.id_scheme, "hollow");
        assert_eq!(n.effective_pod_cidr(), "10.88.0.0/16");
        let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
        n.wait_for_pod_cidr(soon).await;
        n.observe(&Node {
            metadata: ObjectMeta {
                uid: Some("uid-1".into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: Some("10.244.7.0/24".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let later = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        n.wait_for_pod_cidr(later).await;
        assert_eq!(n.uid().as_deref(), Some("uid-1"));
        assert_eq!(n.effective_pod_cidr(), "10.244.7.0/24");
        // A Node without a podCIDR does not take it away.
        n.observe(&Node::default());
        assert_eq!(n.pod_cidr().as_deref(), Some("10.244.7.0/24"));
    }

    #[test]
    fn uuids_are_version_4() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, random_uuid());
    }
}
