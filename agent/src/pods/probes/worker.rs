//! One probe of one container, run on its schedule: a tokio task from the
//! container's start until it exits, its pod goes, or (liveness, startup)
//! the probe has decided.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::{Instant, MissedTickBehavior};

use super::results::{ContainerResults, Kill};
use super::timing::{Outcome, ProbeKind, Thresholds, Timing, Verdict};

/// Runs the check itself.
pub trait Prober: Send + 'static {
    /// One attempt; `None` once the container no longer runs.
    fn probe(&mut self, timeout: Duration) -> BoxFuture<'_, Option<Outcome>>;
}

/// Where a worker's findings go.
pub trait Reporter: Send + Sync + 'static {
    /// An Event about the container.
    fn event(&self, warning: bool, reason: &str, message: String);
    /// The results changed: the pod should be synced.
    fn changed(&self);
    /// The node is gone: stop probing.
    fn gone(&self) -> bool;
}

pub struct Worker<P, R> {
    pub kind: ProbeKind,
    pub timing: Timing,
    pub results: Arc<ContainerResults>,
    pub prober: P,
    pub reporter: R,
    /// When the container started, on tokio's clock: the initial delay counts from here.
    pub started: Instant,
    /// The probe's `terminationGracePeriodSeconds`.
    pub kill_grace: Option<Duration>,
}

impl<P: Prober, R: Reporter> Worker<P, R> {
    pub async fn run(mut self) {
        if self.kind != ProbeKind::Startup {
            // Liveness and readiness wait for the startup probe to pass.
            self.results.wait_started().await;
        }
        let first = (self.started + self.timing.initial_delay).max(Instant::now());
        let mut ticks = tokio::time::interval_at(first, self.timing.period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut thresholds = Thresholds::default();
        loop {
            ticks.tick().await;
            if self.reporter.gone() {
                return;
            }
            let Some(outcome) = self.prober.probe(self.timing.timeout).await else {
                return;
            };
            self.report(&outcome);
            let Some(verdict) = thresholds.observe(&self.timing, &outcome) else {
                continue;
            };
            if !self.publish(verdict, &outcome) {
                return;
            }
        }
    }

    /// The kubelet's events for one attempt.
    fn report(&self, outcome: &Outcome) {
        let title = self.kind.title();
        let (reason, message) = match outcome {
            Outcome::Success => return,
            Outcome::Warning(m) => ("ProbeWarning", format!("{title} probe warning: {m}")),
            Outcome::Failure(m) => ("Unhealthy", format!("{title} probe failed: {m}")),
            Outcome::Error(m) => ("Unhealthy", format!("{title} probe errored: {m}")),
        };
        self.reporter.event(true, reason, message);
    }

    /// Publishes a verdict; false when this worker is done.
    fn publish(&self, verdict: Verdict, outcome: &Outcome) -> bool {
        match (self.kind, verdict) {
            (ProbeKind::Readiness, v) => {
                if self.results.set_ready(v == Verdict::Pass) {
                    self.reporter.changed();
                }
                true
            }
            (ProbeKind::Liveness, Verdict::Pass) => true,
            (ProbeKind::Startup, Verdict::Pass) => {
                if self.results.set_started() {
                    self.reporter.changed();
                }
                false
            }
            (ProbeKind::Liveness | ProbeKind::Startup, Verdict::Fail) => {
                let message = match outcome {
                    Outcome::Failure(m) => m.clone(),
                    _ => String::new(),
                };
                let kill = Kill {
                    kind: self.kind,
                    message,
                    grace: self.kill_grace,
                };
                if self.results.set_kill(kill) {
                    self.reporter.changed();
                }
                // The container is to be stopped; a new one gets new workers.
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers from a script (then the last answer for ever), noting when it ran.
    struct Scripted {
        answers: VecDeque<Outcome>,
        last: Outcome,
        times: Arc<Mutex<Vec<Duration>>>,
        origin: Instant,
    }

    impl Prober for Scripted {
        fn probe(&mut self, _timeout: Duration) -> BoxFuture<'_, Option<Outcome>> {
            self.times.lock().unwrap().push(self.origin.elapsed());
            if let Some(a) = self.answers.pop_front() {
                self.last = a;
            }
            let out = self.last.clone();
            Box::pin(async move { Some(out) })
        }
    }

    #[derive(Default)]
    struct Recorded {
        events: Mutex<Vec<(String, String)>>,
        changes: AtomicUsize,
    }

    impl Reporter for Arc<Recorded> {
        fn event(&self, _warning: bool, reason: &str, message: String) {
            self.events.lock().unwrap().push((reason.into(), message));
        }
        fn changed(&self) {
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
        fn gone(&self) -> bool {
            false
        }
    }

    fn fail() -> Outcome {
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    }

    struct Setup {
        results: Arc<ContainerResults>,
        times: Arc<Mutex<Vec<Duration>>>,
        recorded: Arc<Recorded>,
    }

    fn spawn(
        kind: ProbeKind,
        timing: Timing,
        script: Vec<Outcome>,
        results: Arc<ContainerResults>,
    ) -> Setup {
        let times = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::new(Recorded::default());
        let origin = Instant::now();
        let worker = Worker {
            kind,
            timing,
            results: results.clone(),
            prober: Scripted {
                answers: script.into(),
                last: Outcome::Success,
                times: times.clone(),
                origin,
            },
            reporter: recorded.clone(),
            started: origin,
            kill_grace: Some(Duration::from_secs(5)),
        };
        tokio::spawn(worker.run());
        Setup {
            results,
            times,
            recorded,
        }
    }

    fn timing(initial: u64, period: u64, success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(initial),
            period: Duration::from_secs(period),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_waits_its_initial_delay_then_follows_thresholds() {
        let results = Arc::new(ContainerResults::new(true, false));
        let script = vec![
            fail(),
            Outcome::Success,
            Outcome::Success,
            fail(),
            fail(),
            fail(),
        ];
        let s = spawn(ProbeKind::Readiness, timing(5, 10, 2, 3), script, results);
        tokio::time::sleep(Duration::from_millis(4_900)).await;
        assert!(
            s.times.lock().unwrap().is_empty(),
            "probed before the delay"
        );
        // 5s: fail, 15s: ok, 25s: ok -> ready (2 successes).
        tokio::time::sleep(Duration::from_secs(20) + Duration::from_millis(200)).await;
        assert_eq!(*s.times.lock().unwrap(), secs(&[5, 15, 25]));
        assert_eq!(s.results.view().ready, Some(true));
        assert_eq!(s.recorded.changes.load(Ordering::SeqCst), 1);
        // 35s, 45s: failing, still ready; 55s: the third failure -> unready.
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(s.results.view().ready, Some(true));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(s.results.view().ready, Some(false));
        assert_eq!(s.recorded.changes.load(Ordering::SeqCst), 2);
        let events = s.recorded.events.lock().unwrap();
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(
            events[0],
            (
                "Unhealthy".to_string(),
                "Readiness probe failed: HTTP probe failed with statuscode: 500".to_string()
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn liveness_kills_after_its_failure_threshold_and_stops() {
        let results = Arc::new(ContainerResults::new(false, false));
        let script = vec![
            Outcome::Success,
            fail(),
            fail(),
            Outcome::Success,
            fail(),
            fail(),
            fail(),
        ];
        let s = spawn(ProbeKind::Liveness, timing(0, 1, 1, 3), script, results);
        tokio::time::sleep(Duration::from_millis(5_500)).await;
        assert!(
            s.results.kill().is_none(),
            "a broken run of failures killed it"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let kill = s.results.kill().expect("three failures in a row");
        assert_eq!(kill.kind, ProbeKind::Liveness);
        assert_eq!(kill.message, "HTTP probe failed with statuscode: 500");
        assert_eq!(kill.grace, Some(Duration::from_secs(5)));
        assert_eq!(s.recorded.changes.load(Ordering::SeqCst), 1);
        // Done: no more attempts.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(*s.times.lock().unwrap(), secs(&[0, 1, 2, 3, 4, 5, 6]));
    }

    #[tokio::test(start_paused = true)]
    async fn startup_gates_liveness_and_readiness() {
        let results = Arc::new(ContainerResults::new(true, true));
        let startup = spawn(
            ProbeKind::Startup,
            timing(0, 1, 1, 10),
            vec![fail(), fail(), fail(), Outcome::Success],
            results.clone(),
        );
        // A liveness probe that would fail at once if it ran.
        let liveness = spawn(
            ProbeKind::Liveness,
            timing(0, 1, 1, 1),
            vec![fail()],
            results.clone(),
        );
        let readiness = spawn(
            ProbeKind::Readiness,
            timing(0, 1, 1, 1),
            vec![],
            results.clone(),
        );
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert!(liveness.times.lock().unwrap().is_empty());
        assert!(readiness.times.lock().unwrap().is_empty());
        assert_eq!(results.view().started, Some(false));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(results.view().started, Some(true));
        assert_eq!(*startup.times.lock().unwrap(), secs(&[0, 1, 2, 3]));
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Started at 3s: both ran at once, their initial delays long passed.
        assert_eq!(*liveness.times.lock().unwrap(), secs(&[3]));
        assert_eq!(results.view().ready, Some(true));
        assert_eq!(results.kill().unwrap().kind, ProbeKind::Liveness);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_startup_probe_kills() {
        let results = Arc::new(ContainerResults::new(false, true));
        let s = spawn(
            ProbeKind::Startup,
            timing(0, 2, 1, 3),
            vec![fail()],
            results,
        );
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        assert!(s.results.kill().is_none());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let kill = s.results.kill().unwrap();
        assert_eq!(kill.kind, ProbeKind::Startup);
        assert_eq!(s.results.view().started, Some(false));
        let events = s.recorded.events.lock().unwrap();
        assert!(
            events[0].1.starts_with("Startup probe failed: "),
            "{events:?}"
        );
    }
}
