//! The NoExecute taints that follow a node's `Ready` condition.

use skiff_api::core::Taint;
use skiff_api::meta::Time;

/// Tainted on a node whose `Ready` is `Unknown` (no heartbeat).
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Tainted on a node whose `Ready` is `False`.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const NO_EXECUTE: &str = "NoExecute";

/// The taint a `Ready` status calls for (`None`: neither of ours).
fn wanted_key(ready: &str) -> Option<&'static str> {
    match ready {
        "Unknown" => Some(UNREACHABLE),
        "False" => Some(NOT_READY),
        _ => None,
    }
}

fn ours(t: &Taint) -> bool {
    (t.key == UNREACHABLE || t.key == NOT_READY) && t.effect == NO_EXECUTE
}

/// The node's taints once they match `ready` (the `Ready` condition's
/// status; `None`, a node that never reported, is left as it is), or
/// `None` when they already do. A taint that stays keeps its `timeAdded`.
pub fn reconcile_taints(current: &[Taint], ready: Option<&str>, now: Time) -> Option<Vec<Taint>> {
    let ready = ready?;
    let wanted = wanted_key(ready);
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| !ours(t) || Some(t.key.as_str()) == wanted)
        .cloned()
        .collect();
    if let Some(key) = wanted
        && !next.iter().any(|t| t.key == key && t.effect == NO_EXECUTE)
    {
        next.push(Taint {
            key: key.into(),
            value: None,
            effect: NO_EXECUTE.into(),
            time_added: Some(now),
        });
    }
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Time {
        Time::now()
    }

    #[test]
    fn taints_follow_ready() {
        let other = Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let t = reconcile_taints(std::slice::from_ref(&other), Some("Unknown"), now()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[1].key.as_str(), t[1].effect.as_str()),
            (UNREACHABLE, NO_EXECUTE)
        );
        assert!(t[1].time_added.is_some());
        // Unchanged: nothing to write.
        assert_eq!(reconcile_taints(&t, Some("Unknown"), now()), None);
        // Not ready instead of unreachable.
        let f = reconcile_taints(&t, Some("False"), now()).unwrap();
        assert_eq!(f[1].key, NOT_READY);
        // Healthy: ours go, others stay.
        assert_eq!(
            reconcile_taints(&f, Some("True"), now()).unwrap(),
            vec![other.clone()]
        );
        assert_eq!(reconcile_taints(&f, None, now()), None);
    }
}
