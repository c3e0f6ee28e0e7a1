//! Which exited containers run again: the pod's `restartPolicy`, and the
//! rules for init containers and sidecars.

use skiff_api::core::{Container, PodSpec};

/// Whether an exited container runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Restart {
    pub fn of_pod(spec: &PodSpec) -> Restart {
        match spec.restart_policy.as_deref() {
            Some("Never") => Restart::Never,
            Some("OnFailure") => Restart::OnFailure,
            _ => Restart::Always,
        }
    }

    /// Init containers: retried on failure unless the pod never restarts;
    /// sidecars always.
    pub fn of_init(pod: Restart, c: &Container) -> Restart {
        match (c.restart_policy.as_deref(), pod) {
            (Some("Always"), _) => Restart::Always,
            (_, Restart::Never) => Restart::Never,
            _ => Restart::OnFailure,
        }
    }

    pub fn wants(self, exit_code: i32) -> bool {
        match self {
            Restart::Always => true,
            Restart::OnFailure => exit_code != 0,
            Restart::Never => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_rules() {
        let spec = |p: Option<&str>| PodSpec {
            restart_policy: p.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(Restart::of_pod(&spec(None)), Restart::Always);
        assert_eq!(
            Restart::of_pod(&spec(Some("OnFailure"))),
            Restart::OnFailure
        );
        assert!(Restart::Always.wants(0));
        assert!(!Restart::OnFailure.wants(0) && Restart::OnFailure.wants(1));
        assert!(!Restart::Never.wants(1));
        let sidecar = Container {
            restart_policy: Some("Always".into()),
            ..Default::default()
        };
        assert_eq!(Restart::of_init(Restart::Never, &sidecar), Restart::Always);
        assert_eq!(
            Restart::of_init(Restart::Never, &Container::default()),
            Restart::Never
        );
        assert_eq!(
            Restart::of_init(Restart::Always, &Container::default()),
            Restart::OnFailure
        );
    }
}
