//! Toleration matching as Kubernetes does it: the scheduler (NoSchedule)
//! and node lifecycle (NoExecute eviction) both ask the same question.

use super::node::Taint;
use super::pod::Toleration;

impl Toleration {
    /// Does this toleration tolerate `taint`? An empty effect tolerates
    /// every effect; an empty key with `Exists` tolerates every taint.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        let effect = self.effect.as_deref().unwrap_or_default();
        if !effect.is_empty() && effect != taint.effect {
            return false;
        }
        let key = self.key.as_deref().unwrap_or_default();
        if !key.is_empty() && key != taint.key {
            return false;
        }
        match self.operator.as_deref().unwrap_or_default() {
            "Exists" => true,
            "" | "Equal" => {
                self.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
    const NOT_READY: &str = "node.kubernetes.io/not-ready";

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

    #[test]
    fn matching_a_no_schedule_taint_with_a_value() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        assert!(toleration("dedicated", "Equal", "gpu", "NoSchedule").tolerates(&t));
        assert!(toleration("dedicated", "", "gpu", "").tolerates(&t));
        assert!(!toleration("dedicated", "Equal", "cpu", "").tolerates(&t));
        assert!(toleration("dedicated", "Exists", "", "").tolerates(&t));
        assert!(!toleration("dedicated", "Exists", "", "NoExecute").tolerates(&t));
        assert!(toleration("", "Exists", "", "").tolerates(&t));
        assert!(!toleration("other", "Exists", "", "").tolerates(&t));
    }

    #[test]
    fn matching_a_no_execute_taint_without_a_value() {
        let t = taint(UNREACHABLE, "", "NoExecute");
        assert!(toleration(UNREACHABLE, "Exists", "", "NoExecute").tolerates(&t));
        assert!(toleration(UNREACHABLE, "Exists", "", "").tolerates(&t));
        assert!(toleration("", "Exists", "", "").tolerates(&t));
        assert!(toleration(UNREACHABLE, "", "", "").tolerates(&t));
        assert!(!toleration(UNREACHABLE, "", "x", "").tolerates(&t));
        assert!(!toleration(NOT_READY, "Exists", "", "").tolerates(&t));
        assert!(!toleration(UNREACHABLE, "Exists", "", "NoSchedule").tolerates(&t));
    }

    #[test]
    fn an_unknown_operator_tolerates_nothing() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        assert!(!toleration("dedicated", "Gt", "gpu", "").tolerates(&t));
    }
}
