//! Per-node accounting: what each node offers (its allocatable resources,
//! labels, taints) and what the pods placed on it already take. Kept up to
//! date from informer events and from the scheduler's own decisions, so a
//! decision never lists pods.

use std::collections::{BTreeMap, HashMap};

use skiff_api::core::{Node, Taint};

use super::demand::{CPU, HostPort, MEMORY, PODS, PodDemand};

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const NO_SCHEDULE: &str = "NoSchedule";
pub const NO_EXECUTE: &str = "NoExecute";

/// What the scheduler needs of a Node object; two equal facts schedule
/// the same, so a node update that leaves them equal (a heartbeat) changes
/// nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeFacts {
    pub cpu_milli: i64,
    pub memory: i64,
    pub pods: i64,
    /// Every other allocatable resource, in whole units.
    pub other: BTreeMap<String, i64>,
    pub labels: BTreeMap<String, String>,
    /// The taints that keep pods off (`NoSchedule`, `NoExecute`), plus the
    /// `not-ready`/`unreachable` `NoSchedule` taint a node that is not Ready
    /// carries in effect (as Kubernetes' node lifecycle controller adds it).
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
}

impl NodeFacts {
    pub fn of(node: &Node) -> NodeFacts {
        let empty = BTreeMap::new();
        let allocatable = node.status.as_ref().map_or(&empty, |s| &s.allocatable);
        let value = |name: &str| {
            allocatable
                .get(name)
                .and_then(|q| q.parsed().ok())
                .map_or(0, |v| if name == CPU { v.as_milli() } else { v.value() })
        };
        let other = allocatable
            .keys()
            .filter(|k| !matches!(k.as_str(), CPU | MEMORY | PODS))
            .map(|k| (k.clone(), value(k)))
            .collect();
        let spec = node.spec.as_ref();
        let mut taints: Vec<Taint> = spec
            .map(|s| s.taints.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|t| t.effect == NO_SCHEDULE || t.effect == NO_EXECUTE)
            .cloned()
            .collect();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.condition("Ready"))
            .map(|c| c.status.as_str());
        if ready != Some("True") {
            let key = if ready == Some("Unknown") {
                TAINT_UNREACHABLE
            } else {
                TAINT_NOT_READY
            };
            if !taints
                .iter()
                .any(|t| t.key == key && t.effect == NO_SCHEDULE)
            {
                taints.push(Taint {
                    key: key.into(),
                    effect: NO_SCHEDULE.into(),
                    ..Default::default()
                });
            }
        }
        NodeFacts {
            cpu_milli: value(CPU),
            memory: value(MEMORY),
            pods: value(PODS),
            other,
            labels: node.metadata.labels.clone(),
            taints,
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        }
    }

    /// Allocatable amount of a resource other than cpu and memory.
    pub fn allocatable(&self, name: &str) -> i64 {
        if name == PODS {
            return self.pods;
        }
        self.other.get(name).copied().unwrap_or(0)
    }
}

/// What the pods accounted on a node take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub cpu_milli: i64,
    pub memory: i64,
    pub nonzero_cpu_milli: i64,
    pub nonzero_memory: i64,
    pub pods: i64,
    pub other: HashMap<String, i64>,
    /// Every host port claimed (a multiset: a pod removed takes one out).
    pub ports: Vec<HostPort>,
    /// Pods per controller uid.
    pub owners: HashMap<String, u32>,
}

impl Usage {
    pub fn add(&mut self, d: &PodDemand) {
        self.cpu_milli += d.cpu_milli;
        self.memory += d.memory;
        self.nonzero_cpu_milli += d.nonzero_cpu_milli;
        self.nonzero_memory += d.nonzero_memory;
        self.pods += 1;
        for (name, v) in &d.other {
            *self.other.entry(name.clone()).or_default() += v;
        }
        self.ports.extend(d.host_ports.iter().cloned());
        if let Some(owner) = &d.owner {
            *self.owners.entry(owner.clone()).or_default() += 1;
        }
    }

    pub fn remove(&mut self, d: &PodDemand) {
        self.cpu_milli -= d.cpu_milli;
        self.memory -= d.memory;
        self.nonzero_cpu_milli -= d.nonzero_cpu_milli;
        self.nonzero_memory -= d.nonzero_memory;
        self.pods -= 1;
        for (name, v) in &d.other {
            if let Some(used) = self.other.get_mut(name) {
                *used -= v;
                if *used <= 0 {
                    self.other.remove(name);
                }
            }
        }
        for port in &d.host_ports {
            if let Some(i) = self.ports.iter().position(|p| p == port) {
                self.ports.swap_remove(i);
            }
        }
        if let Some(owner) = &d.owner
            && let Some(n) = self.owners.get_mut(owner)
        {
            *n -= 1;
            if *n == 0 {
                self.owners.remove(owner);
            }
        }
    }

    pub fn used(&self, name: &str) -> i64 {
        if name == PODS {
            return self.pods;
        }
        self.other.get(name).copied().unwrap_or(0)
    }

    pub fn pods_of(&self, owner: &str) -> u32 {
        self.owners.get(owner).copied().unwrap_or(0)
    }
}

/// One node: its facts (`None` while pods are accounted on a node the
/// scheduler has not seen, or no longer sees) and its usage.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub facts: Option<NodeFacts>,
    pub usage: Usage,
}

/// Every node, in slots that a decision walks from a rotating offset.
#[derive(Debug, Default)]
pub struct NodeTable {
    slots: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// How many slots have facts (real nodes).
    nodes: usize,
}

impl NodeTable {
    pub fn new() -> NodeTable {
        NodeTable::default()
    }

    /// Slots, including accounting-only ones (without facts).
    pub fn slots(&self) -> &[NodeInfo] {
        &self.slots
    }

    /// Nodes the scheduler knows (slots with facts).
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    pub fn get(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.slots[i])
    }

    fn slot_mut(&mut self, name: &str) -> &mut NodeInfo {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.slots.push(NodeInfo {
                    name: name.to_string(),
                    facts: None,
                    usage: Usage::default(),
                });
                self.index.insert(name.to_string(), self.slots.len() - 1);
                self.slots.len() - 1
            }
        };
        &mut self.slots[i]
    }

    /// Drops the slot of `name` if nothing is left in it.
    fn prune(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if self.slots[i].facts.is_some() || self.slots[i].usage.pods > 0 {
            return;
        }
        self.index.remove(name);
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
    }

    /// Records what `name` offers now; true when that changes where pods fit.
    pub fn set_node(&mut self, name: &str, facts: NodeFacts) -> bool {
        let slot = self.slot_mut(name);
        if slot.facts.as_ref() == Some(&facts) {
            return false;
        }
        let added = slot.facts.is_none();
        slot.facts = Some(facts);
        if added {
            self.nodes += 1;
        }
        true
    }

    /// The Node is gone; pods still accounted on it stay until they go too.
    pub fn remove_node(&mut self, name: &str) {
        if let Some(&i) = self.index.get(name)
            && self.slots[i].facts.take().is_some()
        {
            self.nodes -= 1;
            self.prune(name);
        }
    }

    /// Names of every node with facts.
    pub fn node_names(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|s| s.facts.is_some())
            .map(|s| s.name.clone())
            .collect()
    }

    pub fn add_pod(&mut self, node: &str, demand: &PodDemand) {
        self.slot_mut(node).usage.add(demand);
    }

    pub fn remove_pod(&mut self, node: &str, demand: &PodDemand) {
        if let Some(&i) = self.index.get(node) {
            self.slots[i].usage.remove(demand);
            self.prune(node);
        }
    }

    /// Forgets every pod (before the accounting is rebuilt from a fresh list).
    pub fn clear_usage(&mut self) {
        for slot in &mut self.slots {
            slot.usage = Usage::default();
        }
        let empty: Vec<String> = self
            .slots
            .iter()
            .filter(|s| s.facts.is_none())
            .map(|s| s.name.clone())
            .collect();
        for name in empty {
            self.prune(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{NodeCondition, NodeSpec, NodeStatus};
    use skiff_api::quantity::Quantity;

    fn node(ready: &str) -> Node {
        Node {
            metadata: skiff_api::meta::ObjectMeta {
                name: Some("n1".into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: vec![Taint {
                    key: "soft".into(),
                    effect: "PreferNoSchedule".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(NodeStatus {
                allocatable: [
                    ("cpu", "3500m"),
                    ("memory", "8Gi"),
                    ("pods", "110"),
                    ("example.com/gpu", "2"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Quantity::new(v)))
                .collect(),
                conditions: vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn facts_of_a_ready_node() {
        let f = NodeFacts::of(&node("True"));
        assert_eq!(f.cpu_milli, 3500);
        assert_eq!(f.memory, 8 << 30);
        assert_eq!(f.pods, 110);
        assert_eq!(f.allocatable("example.com/gpu"), 2);
        // PreferNoSchedule never keeps a pod off.
        assert!(f.taints.is_empty());
    }

    #[test]
    fn a_node_that_is_not_ready_carries_a_no_schedule_taint() {
        let f = NodeFacts::of(&node("False"));
        assert_eq!(f.taints.len(), 1);
        assert_eq!(f.taints[0].key, TAINT_NOT_READY);
        let f = NodeFacts::of(&node("Unknown"));
        assert_eq!(f.taints[0].key, TAINT_UNREACHABLE);
    }

    #[test]
    fn accounting_survives_node_removal_and_prunes_empty_slots() {
        let mut t = NodeTable::new();
        assert!(t.set_node("a", NodeFacts::of(&node("True"))));
        assert!(!t.set_node("a", NodeFacts::of(&node("True"))));
        let d = PodDemand {
            cpu_milli: 100,
            owner: Some("rs".into()),
            host_ports: vec![HostPort {
                protocol: "TCP".into(),
                ip: "0.0.0.0".into(),
                port: 80,
            }],
            ..Default::default()
        };
        t.add_pod("a", &d);
        t.add_pod("ghost", &d);
        assert_eq!(t.node_count(), 1);
        assert_eq!(t.slots().len(), 2);
        assert_eq!(t.get("a").unwrap().usage.pods_of("rs"), 1);
        t.remove_node("a");
        assert_eq!(t.node_count(), 0);
        assert_eq!(t.get("a").unwrap().usage.cpu_milli, 100);
        t.remove_pod("a", &d);
        assert!(t.get("a").is_none());
        // The slot that moved into the freed place is still found by name.
        assert_eq!(t.get("ghost").unwrap().usage.ports.len(), 1);
        t.remove_pod("ghost", &d);
        assert!(t.slots().is_empty());
    }
}
