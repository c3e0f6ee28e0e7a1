//! Node heartbeats and what a silent node's status becomes.
//!
//! A heartbeat is a new Lease `renewTime` or a new `Ready`
//! `lastHeartbeatTime`. As in Kubernetes, staleness is measured from when
//! this controller *saw* a heartbeat change (on its own clock), not from the
//! timestamps written by the node: clocks of nodes and controller need not
//! agree, and a fake clock in tests works the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use skiff_api::coordination::Lease;
use skiff_api::core::{Node, NodeCondition};
use skiff_api::meta::{MicroTime, Time};

pub const REASON_UNKNOWN: &str = "NodeStatusUnknown";
pub const MESSAGE_UNKNOWN: &str = "Kubelet stopped posting node status.";
pub const REASON_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
pub const MESSAGE_NEVER_UPDATED: &str = "Kubelet never posted node status.";

/// What a node last wrote to say it is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    lease_renewed: Option<MicroTime>,
    ready_heartbeat: Option<Time>,
}

impl Heartbeat {
    pub fn of(node: &Node, lease: Option<&Lease>) -> Heartbeat {
        Heartbeat {
            lease_renewed: lease.and_then(|l| l.spec.as_ref()?.renew_time),
            ready_heartbeat: ready_condition(node).and_then(|c| c.last_heartbeat_time),
        }
    }
}

/// The node's `Ready` condition.
pub fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// `True`, `False` or `Unknown`; `None` before the node first reports.
pub fn ready_status(node: &Node) -> Option<&str> {
    ready_condition(node).map(|c| c.status.as_str())
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    heartbeat: Heartbeat,
    at: DateTime<Utc>,
}

/// When each node's heartbeat last changed, on the controller's clock.
#[derive(Debug, Default)]
pub struct Heartbeats {
    seen: HashMap<String, Seen>,
}

impl Heartbeats {
    /// Records what `node` shows now; returns when its heartbeat last
    /// changed (`now` the first time it is seen).
    pub fn observe(
        &mut self,
        node: &str,
        heartbeat: Heartbeat,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let seen = self
            .seen
            .entry(node.to_string())
            .or_insert(Seen { heartbeat, at: now });
        if seen.heartbeat != heartbeat {
            *seen = Seen { heartbeat, at: now };
        }
        seen.at
    }

    pub fn forget(&mut self, node: &str) {
        self.seen.remove(node);
    }
}

/// The conditions of a node gone silent: every one `Unknown` (a missing
/// `Ready` added as never updated), or `None` when they already are.
pub fn silent_conditions(conditions: &[NodeCondition], now: Time) -> Option<Vec<NodeCondition>> {
    let mut next = conditions.to_vec();
    let mut changed = false;
    for c in next.iter_mut().filter(|c| c.status != "Unknown") {
        c.status = "Unknown".into();
        c.reason = Some(REASON_UNKNOWN.into());
        c.message = Some(MESSAGE_UNKNOWN.into());
        c.last_transition_time = Some(now);
        changed = true;
    }
    if !next.iter().any(|c| c.type_ == "Ready") {
        next.push(NodeCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            last_heartbeat_time: None,
            last_transition_time: Some(now),
            reason: Some(REASON_NEVER_UPDATED.into()),
            message: Some(MESSAGE_NEVER_UPDATED.into()),
        });
        changed = true;
    }
    changed.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn condition(type_: &str, status: &str) -> NodeCondition {
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            last_heartbeat_time: Some(Time::now()),
            ..Default::default()
        }
    }

    #[test]
    fn staleness_counts_from_the_last_change_seen() {
        let mut h = Heartbeats::default();
        let t0 = Utc::now();
        let a = Heartbeat {
            lease_renewed: Some(MicroTime::from(t0)),
            ready_heartbeat: None,
        };
        assert_eq!(h.observe("n1", a, t0), t0);
        assert_eq!(h.observe("n1", a, t0 + Duration::seconds(30)), t0);
        let b = Heartbeat {
            lease_renewed: Some(MicroTime::from(t0 + Duration::seconds(10))),
            ..a
        };
        let t1 = t0 + Duration::seconds(31);
        assert_eq!(h.observe("n1", b, t1), t1);
        h.forget("n1");
        assert_eq!(
            h.observe("n1", b, t1 + Duration::seconds(1)),
            t1 + Duration::seconds(1)
        );
    }

    #[test]
    fn silent_nodes_become_unknown() {
        let now = Time::now();
        let conds = vec![
            condition("Ready", "True"),
            condition("MemoryPressure", "False"),
        ];
        let next = silent_conditions(&conds, now).unwrap();
        assert!(next.iter().all(|c| c.status == "Unknown"));
        assert_eq!(next[0].reason.as_deref(), Some(REASON_UNKNOWN));
        assert_eq!(next[0].message.as_deref(), Some(MESSAGE_UNKNOWN));
        // The last heartbeat is kept: it is what the node wrote.
        assert_eq!(next[0].last_heartbeat_time, conds[0].last_heartbeat_time);
        assert_eq!(silent_conditions(&next, now), None);
        let never = silent_conditions(&[], now).unwrap();
        assert_eq!(never[0].reason.as_deref(), Some(REASON_NEVER_UPDATED));
    }
}
