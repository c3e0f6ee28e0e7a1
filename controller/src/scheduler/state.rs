//! The scheduler's memory: the node table with every pod accounted on its
//! node, where each pod was placed, and the queue. Informer events and
//! the scheduler's own decisions and binds change it, always under one
//! lock, so a decision never sees half an update.
//!
//! Assume-bind: a pod is accounted on its node the moment it is decided,
//! before the binding is written and long before the informer reports it
//! bound; the informer's event then confirms the placement, and a failed
//! bind takes it back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use skiff_api::core::{Node, Pod};
use skiff_client::runtime::Event;
use tokio::time::Instant;

use super::affinity::RequiredNodeAffinity;
use super::decide::{Decision, decide};
use super::demand::PodDemand;
use super::filters::PodTerms;
use super::node_info::{NodeFacts, NodeTable};
use super::queue::SchedulingQueue;

pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// `namespace/name`, the key of pods everywhere in the scheduler.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace_str(),
        pod.metadata.name_str()
    )
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// `spec.nodeName`, when set.
pub fn bound_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Succeeded or Failed: the pod no longer takes anything from its node.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Is this pod waiting for this scheduler to give it a node?
pub fn wants_scheduling(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else {
        return false;
    };
    let ours = matches!(
        spec.scheduler_name.as_deref(),
        None | Some("" | DEFAULT_SCHEDULER)
    );
    ours && bound_node(pod).is_none()
        && pod.metadata.deletion_timestamp.is_none()
        && !is_terminal(pod)
        // Scheduling gates hold a pod back until they are removed.
        && spec.scheduling_gates.is_empty()
}

/// Where a pod is accounted.
#[derive(Debug, Clone)]
pub struct Placement {
    pub node: String,
    pub uid: String,
    pub demand: PodDemand,
    /// The informer has shown the pod bound there; until then the
    /// placement is only assumed (the scheduler's own decision).
    pub confirmed: bool,
}

/// What to do with a pod taken from the queue.
#[derive(Debug)]
pub enum Step {
    /// Nothing: gone, bound, or no longer ours.
    Skip,
    /// Bind it (already accounted there).
    Bind { pod: Arc<Pod>, node: String },
    /// No node fits: report why (it is parked).
    Unschedulable { pod: Arc<Pod>, message: String },
}

pub struct State {
    pub nodes: NodeTable,
    pub placed: HashMap<String, Placement>,
    pub queue: SchedulingQueue,
    next_start: usize,
    rng: StdRng,
}

impl Default for State {
    fn default() -> State {
        State::new()
    }
}

impl State {
    pub fn new() -> State {
        State {
            nodes: NodeTable::new(),
            placed: HashMap::new(),
            queue: SchedulingQueue::new(),
            next_start: 0,
            rng: StdRng::from_os_rng(),
        }
    }

    /// Accounts `pod` on `node`.
    fn account(&mut self, key: &str, node: &str, uid: &str, demand: PodDemand, confirmed: bool) {
        self.nodes.add_pod(node, &demand);
        self.placed.insert(
            key.to_string(),
            Placement {
                node: node.to_string(),
                uid: uid.to_string(),
                demand,
                confirmed,
            },
        );
    }

    /// Takes the pod's placement back; true when that freed something.
    fn unaccount(&mut self, key: &str) -> bool {
        match self.placed.remove(key) {
            Some(p) => {
                self.nodes.remove_pod(&p.node, &p.demand);
                true
            }
            None => false,
        }
    }

    /// Resources were freed or nodes changed: parked pods may fit now.
    fn cluster_changed(&mut self) -> bool {
        self.queue.move_all(Instant::now()) > 0
    }

    /// Applies a pod event; true when the scheduling loop has work.
    pub fn on_pod_event(&mut self, event: &Event<Arc<Pod>>) -> bool {
        match event {
            Event::Applied(pod) => self.pod_applied(pod),
            Event::Deleted(pod) => {
                let key = pod_key(pod);
                self.queue.forget(&key);
                self.unaccount(&key) && self.cluster_changed()
            }
            Event::Restarted(pods) => self.pods_listed(pods),
        }
    }

    fn pod_applied(&mut self, pod: &Arc<Pod>) -> bool {
        let key = pod_key(pod);
        let uid = uid(pod);
        if let Some(node) = bound_node(pod) {
            self.queue.forget(&key);
            if is_terminal(pod) {
                return self.unaccount(&key) && self.cluster_changed();
            }
            match self.placed.get_mut(&key) {
                Some(p) if p.uid == uid && p.node == node => p.confirmed = true,
                _ => {
                    // Bound by someone else, or an older pod of that name was
                    // accounted: account this one where it really is.
                    self.unaccount(&key);
                    self.account(&key, node, uid, PodDemand::of(pod), true);
                }
            }
            return false;
        }
        match self.placed.get(&key) {
            // Decided and being bound: the informer has not caught up.
            Some(p) if p.uid == uid => return false,
            Some(_) => {
                self.unaccount(&key);
            }
            None => {}
        }
        if wants_scheduling(pod) {
            self.queue.add(&key, pod)
        } else {
            self.queue.forget(&key);
            false
        }
    }

    /// A fresh list: rebuild the accounting and the queue from it, keeping
    /// the placements of binds still on their way.
    fn pods_listed(&mut self, pods: &[Arc<Pod>]) -> bool {
        let assumed: HashMap<String, Placement> = std::mem::take(&mut self.placed)
            .into_iter()
            .filter(|(_, p)| !p.confirmed)
            .collect();
        self.nodes.clear_usage();
        self.queue.clear_waiting();
        let mut wake = false;
        for pod in pods {
            let key = pod_key(pod);
            let uid = uid(pod);
            if let Some(node) = bound_node(pod) {
                if !is_terminal(pod) {
                    self.account(&key, node, uid, PodDemand::of(pod), true);
                }
            } else if let Some(p) = assumed.get(&key).filter(|p| p.uid == uid) {
                self.account(&key, &p.node.clone(), uid, p.demand.clone(), false);
            } else if wants_scheduling(pod) {
                wake |= self.queue.add(&key, pod);
            }
        }
        wake
    }

    /// Applies a node event; true when the scheduling loop has work.
    pub fn on_node_event(&mut self, event: &Event<Arc<Node>>) -> bool {
        match event {
            Event::Applied(node) => {
                self.nodes
                    .set_node(node.metadata.name_str(), NodeFacts::of(node))
                    && self.cluster_changed()
            }
            Event::Deleted(node) => {
                self.nodes.remove_node(node.metadata.name_str());
                false
            }
            Event::Restarted(nodes) => {
                let listed: HashSet<&str> = nodes.iter().map(|n| n.metadata.name_str()).collect();
                let mut changed = false;
                for name in self.nodes.node_names() {
                    if !listed.contains(name.as_str()) {
                        self.nodes.remove_node(&name);
                    }
                }
                for node in nodes {
                    changed |= self
                        .nodes
                        .set_node(node.metadata.name_str(), NodeFacts::of(node));
                }
                changed && self.cluster_changed()
            }
        }
    }

    /// Decides the pod taken from the queue under `key` (`pod` is its
    /// current cached version, if any) and accounts it where it goes.
    pub fn schedule(&mut self, key: &str, pod: Option<Arc<Pod>>, now: Instant) -> Step {
        let Some(pod) = pod.filter(|p| wants_scheduling(p)) else {
            self.queue.forget(key);
            return Step::Skip;
        };
        if self.placed.get(key).is_some_and(|p| p.uid == uid(&pod)) {
            // Already decided: the bind is on its way or done.
            self.queue.forget(key);
            return Step::Skip;
        }
        let demand = PodDemand::of(&pod);
        let spec = pod
            .spec
            .as_ref()
            .expect("wants_scheduling checked the spec");
        let affinity = RequiredNodeAffinity::of(spec.affinity.as_ref());
        let terms = PodTerms {
            node_selector: &spec.node_selector,
            affinity: affinity.as_ref(),
            tolerations: &spec.tolerations,
        };
        let out = decide(terms, &demand, &self.nodes, self.next_start, &mut self.rng);
        let slots = self.nodes.slots().len().max(1);
        self.next_start = (self.next_start + out.examined) % slots;
        match out.decision {
            Decision::Node(node) => {
                let uid = uid(&pod).to_string();
                self.account(key, &node, &uid, demand, false);
                Step::Bind { pod, node }
            }
            Decision::Unschedulable(message) => {
                self.queue.park(key, pod.clone(), now);
                Step::Unschedulable { pod, message }
            }
        }
    }

    /// The binding was written.
    pub fn bind_succeeded(&mut self, key: &str) {
        self.queue.done(key);
    }

    /// The binding failed: take the assumed placement back (unless the
    /// informer has meanwhile shown the pod bound) and, when `retry`,
    /// decide the pod again. True when the loop has work.
    pub fn bind_failed(&mut self, key: &str, uid: &str, node: &str, retry: bool) -> bool {
        let assumed_here = self
            .placed
            .get(key)
            .is_some_and(|p| !p.confirmed && p.uid == uid && p.node == node);
        let mut wake = false;
        if assumed_here {
            self.unaccount(key);
            wake |= self.cluster_changed();
        }
        if retry {
            wake |= self.queue.retry(key);
        } else {
            self.queue.forget(key);
        }
        wake
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{
        Container, NodeCondition, NodeStatus, PodSpec, PodStatus, ResourceRequirements,
    };
    use skiff_api::meta::ObjectMeta;
    use skiff_api::quantity::Quantity;

    fn node(name: &str, cpu: &str) -> Arc<Node> {
        Arc::new(Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                allocatable: [("cpu", cpu), ("memory", "8Gi"), ("pods", "110")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Quantity::new(v)))
                    .collect(),
                conditions: vec![NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn pod(name: &str, cpu: &str, node: Option<&str>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(str::to_string),
                containers: vec![Container {
                    name: "c".into(),
                    resources: ResourceRequirements {
                        requests: [("cpu".to_string(), Quantity::new(cpu))].into(),
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn cpu_used(s: &State, node: &str) -> i64 {
        s.nodes.get(node).map_or(0, |n| n.usage.cpu_milli)
    }

    #[test]
    fn which_pods_want_scheduling() {
        assert!(wants_scheduling(&pod("a", "1", None)));
        assert!(!wants_scheduling(&pod("a", "1", Some("n1"))));
        let mut other = (*pod("a", "1", None)).clone();
        other.spec.as_mut().unwrap().scheduler_name = Some("my-scheduler".into());
        assert!(!wants_scheduling(&other));
        let mut done = (*pod("a", "1", None)).clone();
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!wants_scheduling(&done));
        let mut deleting = (*pod("a", "1", None)).clone();
        deleting.metadata.deletion_timestamp = Some(skiff_api::meta::Time::now());
        assert!(!wants_scheduling(&deleting));
    }

    #[test]
    fn assume_confirm_and_free() {
        let mut s = State::new();
        s.on_node_event(&Event::Restarted(vec![node("n1", "2")]));
        let p = pod("a", "1500m", None);
        assert!(s.on_pod_event(&Event::Restarted(vec![p.clone()])));
        let key = s.queue.pop().unwrap();
        let now = Instant::now();
        let Step::Bind { node, .. } = s.schedule(&key, Some(p.clone()), now) else {
            panic!("not bound")
        };
        assert_eq!(node, "n1");
        // Assumed at once: a second pod of the same size no longer fits.
        assert_eq!(cpu_used(&s, "n1"), 1500);
        let q = pod("b", "1500m", None);
        s.on_pod_event(&Event::Applied(q.clone()));
        let key_b = s.queue.pop().unwrap();
        let Step::Unschedulable { message, .. } = s.schedule(&key_b, Some(q.clone()), now) else {
            panic!("scheduled")
        };
        assert_eq!(message, "0/1 nodes are available: 1 Insufficient cpu.");
        // A stale event of the pod being bound does not queue it again.
        assert!(!s.on_pod_event(&Event::Applied(p.clone())));
        s.bind_succeeded(&key);
        // The informer shows it bound: confirmed, still counted once.
        s.on_pod_event(&Event::Applied(pod("a", "1500m", Some("n1"))));
        assert!(s.placed[&key].confirmed);
        assert_eq!(cpu_used(&s, "n1"), 1500);
        // Deleting it frees the cpu; the parked pod is retried once backed off.
        s.on_pod_event(&Event::Deleted(pod("a", "1500m", Some("n1"))));
        assert_eq!(cpu_used(&s, "n1"), 0);
        assert!(s.queue.moves_pending());
        assert_eq!(
            s.queue.tick(
                now + std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(30)
            ),
            1
        );
        assert_eq!(s.queue.pop().as_deref(), Some("default/b"));
    }

    #[test]
    fn a_failed_bind_is_taken_back() {
        let mut s = State::new();
        s.on_node_event(&Event::Applied(node("n1", "2")));
        let p = pod("a", "1", None);
        s.on_pod_event(&Event::Applied(p.clone()));
        let key = s.queue.pop().unwrap();
        let Step::Bind { node, .. } = s.schedule(&key, Some(p.clone()), Instant::now()) else {
            panic!("not bound")
        };
        assert_eq!(cpu_used(&s, "n1"), 1000);
        s.bind_failed(&key, "uid-a", &node, true);
        assert_eq!(cpu_used(&s, "n1"), 0);
        assert_eq!(s.queue.pop().as_deref(), Some("default/a"));
        // Conflict (bound meanwhile by someone else): dropped, accounted where it is.
        s.schedule(&key, Some(p), Instant::now());
        s.on_pod_event(&Event::Applied(pod("a", "1", Some("n2"))));
        s.bind_failed(&key, "uid-a", "n1", false);
        assert_eq!(cpu_used(&s, "n1"), 0);
        assert_eq!(cpu_used(&s, "n2"), 1000);
        assert_eq!(s.queue.in_flight_len(), 0);
    }

    #[test]
    fn node_heartbeats_do_not_retry_parked_pods_but_new_nodes_do() {
        let mut s = State::new();
        s.on_node_event(&Event::Restarted(vec![node("n1", "1")]));
        let p = pod("big", "4", None);
        s.on_pod_event(&Event::Applied(p.clone()));
        let key = s.queue.pop().unwrap();
        let past = Instant::now() - std::time::Duration::from_secs(60);
        assert!(matches!(
            s.schedule(&key, Some(p), past),
            Step::Unschedulable { .. }
        ));
        // Same facts (a heartbeat): nothing to do.
        assert!(!s.on_node_event(&Event::Applied(node("n1", "1"))));
        assert_eq!(s.queue.parked_len(), 1);
        // A bigger node: the pod (parked long ago) is queued at once.
        assert!(s.on_node_event(&Event::Applied(node("n2", "8"))));
        assert_eq!(s.queue.pop().as_deref(), Some("default/big"));
    }

    #[test]
    fn terminal_pods_free_their_node() {
        let mut s = State::new();
        s.on_node_event(&Event::Restarted(vec![node("n1", "2")]));
        s.on_pod_event(&Event::Restarted(vec![pod("a", "1", Some("n1"))]));
        assert_eq!(cpu_used(&s, "n1"), 1000);
        let mut done = (*pod("a", "1", Some("n1"))).clone();
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        s.on_pod_event(&Event::Applied(Arc::new(done)));
        assert_eq!(cpu_used(&s, "n1"), 0);
        assert!(s.placed.is_empty());
    }
}
