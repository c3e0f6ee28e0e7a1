//! When a probe runs and how many results in a row change its verdict:
//! the probe's numbers with the kubelet's defaults, and the threshold
//! counting every probe worker does.

use std::time::Duration;

use skiff_api::core::Probe;

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    /// As event messages start: `Liveness probe failed: ...`.
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// As `Killing` messages say it: `failed liveness probe`.
    pub fn lower(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Startup => "startup",
        }
    }
}

/// A probe's schedule and thresholds, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timing {
    /// The probe's numbers; missing or non-positive ones take the kubelet's
    /// defaults (period 10s, timeout 1s, thresholds 1 and 3). Liveness and
    /// startup probes pass on one success whatever they say.
    pub fn of(kind: ProbeKind, probe: &Probe) -> Timing {
        let positive = |v: Option<i32>, default: u32| match v {
            Some(n) if n > 0 => n as u32,
            _ => default,
        };
        let success_threshold = match kind {
            ProbeKind::Readiness => positive(probe.success_threshold, 1),
            ProbeKind::Liveness | ProbeKind::Startup => 1,
        };
        Timing {
            initial_delay: Duration::from_secs(
                probe.initial_delay_seconds.unwrap_or(0).max(0) as u64
            ),
            period: Duration::from_secs(positive(probe.period_seconds, 10).into()),
            timeout: Duration::from_secs(positive(probe.timeout_seconds, 1).into()),
            success_threshold,
            failure_threshold: positive(probe.failure_threshold, 3),
        }
    }
}

/// What one probe attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Counted as a success, reported as a warning (a redirect to another host).
    Warning(String),
    /// The check ran and failed: the message says how.
    Failure(String),
    /// The check could not run (a runtime error): not counted either way.
    Error(String),
}

/// A verdict a worker publishes once enough attempts in a row agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
}

/// The run of equal results so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Thresholds {
    last: Option<Verdict>,
    run: u32,
}

impl Thresholds {
    /// Counts one attempt. Returns the verdict to publish when the current
    /// run of equal results has reached its threshold (again at every
    /// further equal result), `None` while it has not or for errors.
    pub fn observe(&mut self, timing: &Timing, outcome: &Outcome) -> Option<Verdict> {
        let verdict = match outcome {
            Outcome::Success | Outcome::Warning(_) => Verdict::Pass,
            Outcome::Failure(_) => Verdict::Fail,
            Outcome::Error(_) => return None,
        };
        if self.last == Some(verdict) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(verdict);
            self.run = 1;
        }
        let needed = match verdict {
            Verdict::Pass => timing.success_threshold,
            Verdict::Fail => timing.failure_threshold,
        };
        (self.run >= needed).then_some(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(f: impl FnOnce(&mut Probe)) -> Probe {
        let mut p = Probe::default();
        f(&mut p);
        p
    }

    #[test]
    fn defaults_are_the_kubelets() {
        let t = Timing::of(ProbeKind::Readiness, &Probe::default());
        assert_eq!(
            t,
            Timing {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
            }
        );
        let zeros = probe(|p| {
            p.period_seconds = Some(0);
            p.timeout_seconds = Some(0);
            p.failure_threshold = Some(0);
            p.initial_delay_seconds = Some(-4);
        });
        assert_eq!(Timing::of(ProbeKind::Readiness, &zeros), t);
    }

    #[test]
    fn liveness_and_startup_pass_on_one_success() {
        let p = probe(|p| {
            p.success_threshold = Some(3);
            p.period_seconds = Some(2);
            p.initial_delay_seconds = Some(5);
        });
        assert_eq!(Timing::of(ProbeKind::Readiness, &p).success_threshold, 3);
        assert_eq!(Timing::of(ProbeKind::Liveness, &p).success_threshold, 1);
        let startup = Timing::of(ProbeKind::Startup, &p);
        assert_eq!(startup.success_threshold, 1);
        assert_eq!(startup.period, Duration::from_secs(2));
        assert_eq!(startup.initial_delay, Duration::from_secs(5));
    }

    #[test]
    fn verdicts_need_a_run_of_equal_results() {
        let t = Timing {
            success_threshold: 2,
            failure_threshold: 3,
            ..Timing::of(ProbeKind::Readiness, &Probe::default())
        };
        let mut th = Thresholds::default();
        let fail = Outcome::Failure("no".into());
        assert_eq!(th.observe(&t, &fail), None);
        assert_eq!(th.observe(&t, &fail), None);
        // An error does not count, nor break the run.
        assert_eq!(th.observe(&t, &Outcome::Error("runtime".into())), None);
        assert_eq!(th.observe(&t, &fail), Some(Verdict::Fail));
        assert_eq!(th.observe(&t, &fail), Some(Verdict::Fail));
        assert_eq!(th.observe(&t, &Outcome::Success), None);
        // A warning is a success.
        assert_eq!(
            th.observe(&t, &Outcome::Warning("redirect".into())),
            Some(Verdict::Pass)
        );
        // One failure breaks the run of successes but is not enough alone.
        assert_eq!(th.observe(&t, &fail), None);
        assert_eq!(th.observe(&t, &Outcome::Success), None);
    }
}
