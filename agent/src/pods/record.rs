//! What the agent remembers of a pod between syncs. Everything here can be
//! lost (an agent restart): the runtime holds the truth about containers,
//! the API server about the pod; losing this costs at most one extra status
//! write and a fresh back-off.

use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_api::meta::Time;

use super::backoff::BackoffTable;
use super::probes::PodProbes;

#[derive(Debug, Clone)]
pub struct PodRecord {
    pub uid: String,
    /// `terminationGracePeriodSeconds`: used if the pod vanishes from the
    /// API server (force-deleted) while its containers run.
    pub grace: Duration,
    pub start_time: Option<Time>,
    /// Restarts of exited containers.
    pub crash_backoff: BackoffTable,
    /// Retries of containers that could not be created or started.
    pub start_backoff: BackoffTable,
    /// The last create/start failure by container name.
    pub start_failures: Vec<StartFailure>,
    /// The fingerprint of the status this agent wrote last, and the
    /// resourceVersion the write produced: an event at or before that
    /// version is our own echo.
    pub written: Option<(u64, Option<u64>)>,
    /// The pod reached Succeeded or Failed: nothing runs again.
    pub terminal: bool,
    /// Probe workers and results of its running containers.
    pub probes: PodProbes,
}

/// A container the runtime could not create or start.
#[derive(Debug, Clone, PartialEq)]
pub struct StartFailure {
    pub container: String,
    /// `ErrImagePull`, `CreateContainerConfigError`, `CreateContainerError`, `RunContainerError`.
    pub reason: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

impl PodRecord {
    pub fn new(uid: String, grace: Duration) -> PodRecord {
        PodRecord {
            uid,
            grace,
            start_time: None,
            crash_backoff: BackoffTable::default(),
            start_backoff: BackoffTable::default(),
            start_failures: Vec::new(),
            written: None,
            terminal: false,
            probes: PodProbes::default(),
        }
    }

    pub fn start_failure(&self, container: &str) -> Option<&StartFailure> {
        self.start_failures
            .iter()
            .find(|f| f.container == container)
    }

    pub fn set_start_failure(&mut self, failure: StartFailure) {
        self.clear_start_failure(&failure.container.clone());
        self.start_failures.push(failure);
    }

    pub fn clear_start_failure(&mut self, container: &str) {
        self.start_failures.retain(|f| f.container != container);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_keep_the_latest_per_container() {
        let mut r = PodRecord::new("u".into(), Duration::from_secs(30));
        let f = |c: &str, reason: &str| StartFailure {
            container: c.into(),
            reason: reason.into(),
            message: String::new(),
            at: Utc::now(),
        };
        r.set_start_failure(f("a", "ErrImagePull"));
        r.set_start_failure(f("b", "RunContainerError"));
        r.set_start_failure(f("a", "CreateContainerError"));
        assert_eq!(r.start_failures.len(), 2);
        assert_eq!(r.start_failure("a").unwrap().reason, "CreateContainerError");
        r.clear_start_failure("a");
        assert!(r.start_failure("a").is_none());
        assert!(r.start_failure("b").is_some());
    }
}
