//! The hollow runtime's memory: sandboxes, containers and pod IPs, and the
//! transitions between their states. No I/O and no waiting here: the
//! runtime takes the lock, applies a transition and emits what it returns.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, Utc};

use super::ipam::Ipv4Pool;
use super::program::Program;
use crate::runtime::{
    ContainerConfig, ContainerId, ContainerInfo, ContainerState, ExitReason, RuntimeError,
    RuntimeEvent, RuntimeEventKind, RuntimeResult, SandboxConfig, SandboxState, SandboxStatus,
};

#[derive(Default)]
pub struct State {
    pub sandboxes: HashMap<String, Sandbox>,
    pub containers: HashMap<ContainerId, Container>,
    /// One pool per range seen (a node may move from a fallback range to
    /// the one the controller assigns).
    pools: HashMap<String, Ipv4Pool>,
    next_id: u64,
    /// Pulls of images whose reference contains one of these fail.
    pub failing_images: Vec<String>,
}

pub struct Sandbox {
    pub status: SandboxStatus,
    /// The range the IP came from, to give it back.
    cidr: Option<String>,
    /// In creation order.
    pub containers: Vec<ContainerId>,
}

pub struct Container {
    pub info: ContainerInfo,
    pub program: Program,
}

/// How a container ends.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub code: i32,
    pub signal: Option<i32>,
    pub reason: ExitReason,
}

impl Exit {
    pub fn code(code: i32) -> Exit {
        Exit {
            code,
            signal: None,
            reason: ExitReason::from_code(code),
        }
    }

    pub fn killed() -> Exit {
        Exit {
            code: 137,
            signal: Some(crate::runtime::signal::SIGKILL),
            reason: ExitReason::Error,
        }
    }
}

impl State {
    pub fn new(failing_images: Vec<String>) -> State {
        State {
            failing_images,
            ..State::default()
        }
    }

    pub fn run_sandbox(
        &mut self,
        config: &SandboxConfig,
        now: DateTime<Utc>,
    ) -> RuntimeResult<SandboxStatus> {
        if let Some(sb) = self.sandboxes.get(&config.pod_uid)
            && sb.status.is_ready()
        {
            return Ok(sb.status.clone());
        }
        let (cidr, ip) = if config.host_network {
            (None, None)
        } else {
            let cidr = config.pod_cidr.clone().ok_or_else(|| {
                RuntimeError::InvalidConfig("no pod CIDR to take a pod IP from".into())
            })?;
            let ip = self.allocate_ip(&cidr)?;
            (Some(cidr), Some(IpAddr::V4(ip)))
        };
        let status = SandboxStatus {
            pod_uid: config.pod_uid.clone(),
            namespace: config.namespace.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            ip,
            state: SandboxState::Ready,
            created_at: now,
        };
        match self.sandboxes.get_mut(&config.pod_uid) {
            // A stopped sandbox comes back up with a new network.
            Some(sb) => {
                sb.status = status.clone();
                sb.cidr = cidr;
            }
            None => {
                self.sandboxes.insert(
                    config.pod_uid.clone(),
                    Sandbox {
                        status: status.clone(),
                        cidr,
                        containers: Vec::new(),
                    },
                );
            }
        }
        Ok(status)
    }

    fn allocate_ip(&mut self, cidr: &str) -> RuntimeResult<Ipv4Addr> {
        if !self.pools.contains_key(cidr) {
            let pool = Ipv4Pool::parse(cidr).map_err(RuntimeError::InvalidConfig)?;
            self.pools.insert(cidr.to_string(), pool);
        }
        let pool = self.pools.get_mut(cidr).expect("inserted above");
        pool.allocate()
            .ok_or_else(|| RuntimeError::Failed(format!("no free pod IP left in {cidr}")))
    }

    /// Kills what runs in the sandbox and gives its IP back.
    pub fn stop_sandbox(&mut self, pod_uid: &str, now: DateTime<Utc>) {
        let Some(sb) = self.sandboxes.get_mut(pod_uid) else {
            return;
        };
        sb.status.state = SandboxState::NotReady;
        let ip = sb.status.ip.take();
        let cidr = sb.cidr.take();
        let ids = sb.containers.clone();
        if let (Some(IpAddr::V4(ip)), Some(cidr)) = (ip, cidr)
            && let Some(pool) = self.pools.get_mut(&cidr)
        {
            pool.release(ip);
        }
        for id in ids {
            self.exit(&id, Exit::killed(), now);
        }
    }

    pub fn remove_sandbox(&mut self, pod_uid: &str, now: DateTime<Utc>) {
        self.stop_sandbox(pod_uid, now);
        if let Some(sb) = self.sandboxes.remove(pod_uid) {
            for id in sb.containers {
                self.containers.remove(&id);
            }
        }
    }

    pub fn create_container(
        &mut self,
        pod_uid: &str,
        config: &ContainerConfig,
        seed: u64,
        now: DateTime<Utc>,
    ) -> RuntimeResult<ContainerId> {
        let Some(sb) = self.sandboxes.get(pod_uid) else {
            return Err(RuntimeError::NotFound(format!("sandbox of pod {pod_uid}")));
        };
        if !sb.status.is_ready() {
            return Err(RuntimeError::Failed(format!(
                "the sandbox of pod {pod_uid} is not ready"
            )));
        }
        if self
            .failing_images
            .iter()
            .any(|p| config.image.contains(p.as_str()))
        {
            return Err(RuntimeError::ImagePull(format!(
                "failed to pull image \"{}\": manifest unknown (hollow runtime)",
                config.image
            )));
        }
        self.next_id += 1;
        let id = ContainerId::new(format!("{seed:016x}{:016x}", self.next_id));
        let info = ContainerInfo {
            id: id.clone(),
            pod_uid: pod_uid.to_string(),
            name: config.name.clone(),
            restart_count: config.restart_count,
            image: config.image.clone(),
            image_ref: image_ref(&config.image),
            state: ContainerState::Created,
            ready: false,
            created_at: now,
        };
        self.containers.insert(
            id.clone(),
            Container {
                info,
                program: Program::from_env(&config.env),
            },
        );
        if let Some(sb) = self.sandboxes.get_mut(pod_uid) {
            sb.containers.push(id.clone());
        }
        Ok(id)
    }

    /// Created -> Running; its program, for the runtime to schedule.
    pub fn start(&mut self, id: &ContainerId, now: DateTime<Utc>) -> RuntimeResult<Program> {
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        match c.info.state {
            ContainerState::Created => {
                c.info.state = ContainerState::Running { started_at: now };
                Ok(c.program.clone())
            }
            ContainerState::Running { .. } => Ok(c.program.clone()),
            ContainerState::Exited { .. } => Err(RuntimeError::Failed(format!(
                "container {id} has exited: it cannot be started again"
            ))),
        }
    }

    /// Ends a running container; the event for the agent, if it was running.
    pub fn exit(
        &mut self,
        id: &ContainerId,
        exit: Exit,
        now: DateTime<Utc>,
    ) -> Option<RuntimeEvent> {
        let c = self.containers.get_mut(id)?;
        let ContainerState::Running { started_at } = c.info.state else {
            if c.info.state == ContainerState::Created {
                c.info.state = ContainerState::Exited {
                    exit_code: exit.code,
                    signal: exit.signal,
                    reason: exit.reason,
                    message: None,
                    started_at: None,
                    finished_at: now,
                };
            }
            return None;
        };
        c.info.state = ContainerState::Exited {
            exit_code: exit.code,
            signal: exit.signal,
            reason: exit.reason,
            message: None,
            started_at: Some(started_at),
            finished_at: now,
        };
        c.info.ready = false;
        self.event(id, RuntimeEventKind::Exited)
    }

    /// Sets the readiness of a running container; the event if it changed.
    pub fn set_ready(&mut self, id: &ContainerId, ready: bool) -> Option<RuntimeEvent> {
        let c = self.containers.get_mut(id)?;
        if !c.info.state.is_running() || c.info.ready == ready {
            return None;
        }
        c.info.ready = ready;
        self.event(id, RuntimeEventKind::ReadinessChanged)
    }

    pub fn remove_container(&mut self, id: &ContainerId, now: DateTime<Utc>) {
        self.exit(id, Exit::killed(), now);
        if let Some(c) = self.containers.remove(id)
            && let Some(sb) = self.sandboxes.get_mut(&c.info.pod_uid)
        {
            sb.containers.retain(|x| x != id);
        }
    }

    fn event(&self, id: &ContainerId, kind: RuntimeEventKind) -> Option<RuntimeEvent> {
        let c = self.containers.get(id)?;
        let sb = self.sandboxes.get(&c.info.pod_uid)?;
        Some(RuntimeEvent {
            pod_uid: c.info.pod_uid.clone(),
            namespace: sb.status.namespace.clone(),
            name: sb.status.name.clone(),
            container: id.clone(),
            kind,
        })
    }

    /// The newest container called `name` in the pod.
    pub fn latest(&self, pod_uid: &str, name: &str) -> Option<&Container> {
        let sb = self.sandboxes.get(pod_uid)?;
        sb.containers
            .iter()
            .rev()
            .filter_map(|id| self.containers.get(id))
            .find(|c| c.info.name == name)
    }

    /// The id of the newest container called `name` in the pod, if it runs.
    pub fn running_id(&self, pod_uid: &str, name: &str) -> Option<ContainerId> {
        self.latest(pod_uid, name)
            .filter(|c| c.info.state.is_running())
            .map(|c| c.info.id.clone())
    }

    pub fn containers_of(&self, pod_uid: &str) -> Vec<ContainerInfo> {
        self.sandboxes
            .get(pod_uid)
            .map(|sb| {
                sb.containers
                    .iter()
                    .filter_map(|id| self.containers.get(id))
                    .map(|c| c.info.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A stable stand-in for an image digest (hollow images have no content).
fn image_ref(image: &str) -> String {
    // FNV-1a: stable across runs and builds, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in image.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{image}@hollow:{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(uid: &str) -> SandboxConfig {
        SandboxConfig {
            pod_uid: uid.into(),
            namespace: "default".into(),
            name: format!("pod-{uid}"),
            pod_cidr: Some("10.244.1.0/24".into()),
            ..Default::default()
        }
    }

    fn container(name: &str, env: &[(&str, &str)]) -> ContainerConfig {
        ContainerConfig {
            name: name.into(),
            image: "nginx:1.27".into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn sandboxes_get_distinct_ips_and_give_them_back() {
        let mut st = State::default();
        let now = Utc::now();
        let a = st.run_sandbox(&sandbox("a"), now).unwrap();
        let b = st.run_sandbox(&sandbox("b"), now).unwrap();
        assert_ne!(a.ip, b.ip);
        assert_eq!(a.ip, Some("10.244.1.2".parse().unwrap()));
        // Running it again returns the same sandbox.
        assert_eq!(st.run_sandbox(&sandbox("a"), now).unwrap(), a);
        st.stop_sandbox("a", now);
        assert_eq!(st.sandboxes["a"].status.state, SandboxState::NotReady);
        assert_eq!(st.sandboxes["a"].status.ip, None);
        st.remove_sandbox("a", now);
        assert!(!st.sandboxes.contains_key("a"));
        let mut no_cidr = sandbox("c");
        no_cidr.pod_cidr = None;
        assert!(matches!(
            st.run_sandbox(&no_cidr, now),
            Err(RuntimeError::InvalidConfig(_))
        ));
        no_cidr.host_network = true;
        assert_eq!(st.run_sandbox(&no_cidr, now).unwrap().ip, None);
    }

    #[test]
    fn containers_run_exit_and_report_events() {
        let mut st = State::default();
        let now = Utc::now();
        st.run_sandbox(&sandbox("a"), now).unwrap();
        let id = st
            .create_container("a", &container("web", &[]), 7, now)
            .unwrap();
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(st.containers[&id].info.state, ContainerState::Created);
        st.start(&id, now).unwrap();
        assert!(st.containers[&id].info.state.is_running());
        let ev = st.set_ready(&id, true).unwrap();
        assert_eq!(ev.kind, RuntimeEventKind::ReadinessChanged);
        assert_eq!(ev.pod_key(), "default/pod-a");
        assert!(st.set_ready(&id, true).is_none(), "no change, no event");
        let ev = st.exit(&id, Exit::code(3), now).unwrap();
        assert_eq!(ev.kind, RuntimeEventKind::Exited);
        let info = &st.containers[&id].info;
        assert_eq!(info.state.exit_code(), Some(3));
        assert!(!info.ready);
        assert!(st.exit(&id, Exit::code(0), now).is_none(), "exits once");
        assert!(st.start(&id, now).is_err());
        assert_eq!(st.latest("a", "web").unwrap().info.id, id);
        st.remove_container(&id, now);
        assert!(st.containers_of("a").is_empty());
    }

    #[test]
    fn failing_images_and_missing_sandboxes() {
        let mut st = State {
            failing_images: vec!["doesnotexist".into()],
            ..Default::default()
        };
        let now = Utc::now();
        assert!(matches!(
            st.create_container("zz", &container("c", &[]), 1, now),
            Err(RuntimeError::NotFound(_))
        ));
        st.run_sandbox(&sandbox("a"), now).unwrap();
        let mut bad = container("c", &[]);
        bad.image = "nginx:doesnotexist".into();
        assert!(matches!(
            st.create_container("a", &bad, 1, now),
            Err(RuntimeError::ImagePull(_))
        ));
        st.stop_sandbox("a", now);
        assert!(
            st.create_container("a", &container("c", &[]), 1, now)
                .is_err()
        );
    }

    #[test]
    fn image_refs_are_stable() {
        assert_eq!(image_ref("nginx"), image_ref("nginx"));
        assert_ne!(image_ref("nginx"), image_ref("nginx:1.27"));
        assert!(image_ref("nginx").starts_with("nginx@hollow:"));
    }
}
