//! Filters: can this pod run on this node at all? Each failure has the
//! reason kube-scheduler gives, so the `FailedScheduling` message reads the
//! same (`0/3 nodes are available: 1 Insufficient cpu, ...`).

use std::collections::BTreeMap;
use std::fmt;

use skiff_api::core::{Taint, Toleration};

use super::affinity::RequiredNodeAffinity;
use super::demand::{CPU, MEMORY, PODS, PodDemand};
use super::node_info::{NO_SCHEDULE, NodeFacts, NodeInfo, TAINT_UNSCHEDULABLE, Usage};

/// What a decision needs of a pod besides its demand.
#[derive(Debug, Clone, Copy)]
pub struct PodTerms<'a> {
    pub node_selector: &'a BTreeMap<String, String>,
    pub affinity: Option<&'a RequiredNodeAffinity>,
    pub tolerations: &'a [Toleration],
}

/// Why a node cannot take a pod; borrowed from the pod and the node so a
/// failing node costs no allocation.
#[derive(Debug, Clone, Copy)]
pub enum Reason<'a> {
    Unschedulable,
    Taint(&'a Taint),
    NodeSelector,
    HostPorts,
    Insufficient(&'a str),
    TooManyPods,
}

impl Reason<'_> {
    /// What tells two reasons apart: taints by key, value and effect.
    fn identity(&self) -> (u8, &str, &str, &str) {
        match self {
            Reason::Unschedulable => (0, "", "", ""),
            Reason::Taint(t) => (
                1,
                t.key.as_str(),
                t.value.as_deref().unwrap_or_default(),
                t.effect.as_str(),
            ),
            Reason::NodeSelector => (2, "", "", ""),
            Reason::HostPorts => (3, "", "", ""),
            Reason::Insufficient(r) => (4, r, "", ""),
            Reason::TooManyPods => (5, "", "", ""),
        }
    }
}

impl PartialEq for Reason<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Reason<'_> {}

impl std::hash::Hash for Reason<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            Reason::Taint(t) => write!(
                f,
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or_default()
            ),
            Reason::NodeSelector => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            Reason::HostPorts => {
                f.write_str("node(s) didn't have free ports for the requested pod ports")
            }
            Reason::Insufficient(resource) => write!(f, "Insufficient {resource}"),
            Reason::TooManyPods => f.write_str("Too many pods"),
        }
    }
}

fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The taint a cordoned node carries in effect.
static UNSCHEDULABLE_TAINT: std::sync::LazyLock<Taint> = std::sync::LazyLock::new(|| Taint {
    key: TAINT_UNSCHEDULABLE.into(),
    effect: NO_SCHEDULE.into(),
    ..Default::default()
});

fn resources<'a>(
    demand: &'a PodDemand,
    facts: &NodeFacts,
    usage: &Usage,
    reasons: &mut Vec<Reason<'a>>,
) {
    if usage.pods + 1 > facts.pods {
        reasons.push(Reason::TooManyPods);
    }
    if demand.cpu_milli > 0 && usage.cpu_milli + demand.cpu_milli > facts.cpu_milli {
        reasons.push(Reason::Insufficient(CPU));
    }
    if demand.memory > 0 && usage.memory + demand.memory > facts.memory {
        reasons.push(Reason::Insufficient(MEMORY));
    }
    for (name, wanted) in &demand.other {
        if name != PODS && usage.used(name) + wanted > facts.allocatable(name) {
            reasons.push(Reason::Insufficient(name));
        }
    }
}

/// Runs every filter of `node` for the pod and pushes why it fails into
/// `reasons` (left empty when the pod fits). Like kube-scheduler, the first
/// failing filter decides, except that every short resource is named.
pub fn check<'a>(
    terms: PodTerms<'a>,
    demand: &'a PodDemand,
    node: &'a NodeInfo,
    reasons: &mut Vec<Reason<'a>>,
) {
    let Some(facts) = &node.facts else {
        return;
    };
    if facts.unschedulable && !tolerated(terms.tolerations, &UNSCHEDULABLE_TAINT) {
        reasons.push(Reason::Unschedulable);
        return;
    }
    if let Some(taint) = facts
        .taints
        .iter()
        .find(|t| !tolerated(terms.tolerations, t))
    {
        reasons.push(Reason::Taint(taint));
        return;
    }
    let selected = terms
        .node_selector
        .iter()
        .all(|(k, v)| facts.labels.get(k) == Some(v))
        && terms
            .affinity
            .is_none_or(|a| a.matches(&node.name, &facts.labels));
    if !selected {
        reasons.push(Reason::NodeSelector);
        return;
    }
    let ports_clash = demand.host_ports.iter().any(|want| {
        node.usage
            .ports
            .iter()
            .any(|used| used.conflicts_with(want))
    });
    if ports_clash {
        reasons.push(Reason::HostPorts);
        return;
    }
    resources(demand, facts, &node.usage, reasons);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::demand::HostPort;
    use crate::scheduler::node_info::TAINT_NOT_READY;

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: some(key),
            operator: some(op),
            value: some(value),
            effect: some(effect),
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.to_string()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn node(facts: NodeFacts) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            facts: Some(facts),
            usage: Usage::default(),
        }
    }

    fn facts() -> NodeFacts {
        NodeFacts {
            cpu_milli: 1000,
            memory: 1 << 30,
            pods: 2,
            ..Default::default()
        }
    }

    fn run<'a>(terms: PodTerms<'a>, d: &'a PodDemand, n: &'a NodeInfo) -> Vec<String> {
        let mut reasons = Vec::new();
        check(terms, d, n, &mut reasons);
        reasons.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn filters_name_their_reasons() {
        let empty = BTreeMap::new();
        let terms = PodTerms {
            node_selector: &empty,
            affinity: None,
            tolerations: &[],
        };
        let d = PodDemand {
            cpu_milli: 1500,
            memory: 2 << 30,
            ..Default::default()
        };
        let n = node(facts());
        assert_eq!(
            run(terms, &d, &n),
            ["Insufficient cpu", "Insufficient memory"]
        );

        let small = PodDemand::default();
        let mut full = node(facts());
        full.usage.pods = 2;
        assert_eq!(run(terms, &small, &full), ["Too many pods"]);

        let cordoned = node(NodeFacts {
            unschedulable: true,
            ..facts()
        });
        assert_eq!(
            run(terms, &small, &cordoned),
            ["node(s) were unschedulable"]
        );
        let tolerant = [toleration(TAINT_UNSCHEDULABLE, "Exists", "", "NoSchedule")];
        let t2 = PodTerms {
            tolerations: &tolerant,
            ..terms
        };
        assert!(run(t2, &small, &cordoned).is_empty());

        let tainted = node(NodeFacts {
            taints: vec![taint(TAINT_NOT_READY, "", "NoSchedule")],
            ..facts()
        });
        assert_eq!(
            run(terms, &small, &tainted),
            ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        );

        let selector: BTreeMap<String, String> = [("disk".to_string(), "ssd".to_string())].into();
        let t3 = PodTerms {
            node_selector: &selector,
            ..terms
        };
        assert_eq!(
            run(t3, &small, &n),
            ["node(s) didn't match Pod's node affinity/selector"]
        );
        let labelled = node(NodeFacts {
            labels: selector.clone(),
            ..facts()
        });
        assert!(run(t3, &small, &labelled).is_empty());
        let required = RequiredNodeAffinity::of(Some(&serde_json::json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}]}}})))
        .unwrap();
        let t4 = PodTerms {
            affinity: Some(&required),
            ..terms
        };
        assert_eq!(
            run(t4, &small, &labelled),
            ["node(s) didn't match Pod's node affinity/selector"]
        );

        let port = HostPort {
            protocol: "TCP".into(),
            ip: "0.0.0.0".into(),
            port: 80,
        };
        let mut busy = node(facts());
        busy.usage.ports.push(port.clone());
        let wants_port = PodDemand {
            host_ports: vec![port],
            ..Default::default()
        };
        assert_eq!(
            run(terms, &wants_port, &busy),
            ["node(s) didn't have free ports for the requested pod ports"]
        );
    }
}
