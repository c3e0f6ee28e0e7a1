//! Per-container back-off, with the kubelet's rules (client-go's
//! `flowcontrol.Backoff`): the first restart is at once; a container that
//! fails again within its back-off window waits out the window
//! (CrashLoopBackOff), and each restart doubles the window up to the
//! maximum. A container that stayed up for twice the maximum starts over.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Backoff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    delay: Duration,
    last_update: DateTime<Utc>,
}

/// Back-off windows by container name.
#[derive(Debug, Clone, Default)]
pub struct BackoffTable {
    entries: HashMap<String, Entry>,
}

impl BackoffTable {
    /// If `name` is still in its window counted from `event_time` (the
    /// failure), how long is left of it.
    pub fn remaining(
        &self,
        name: &str,
        event_time: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: Backoff,
    ) -> Option<Duration> {
        let entry = self.entries.get(name)?;
        if expired(event_time, entry.last_update, policy.max) {
            return None;
        }
        let elapsed = (now - event_time).to_std().unwrap_or(Duration::ZERO);
        entry.delay.checked_sub(elapsed).filter(|d| !d.is_zero())
    }

    /// Records a restart of `name` after the failure at `event_time`: the
    /// next window is the initial one, or double the last.
    pub fn next(
        &mut self,
        name: &str,
        event_time: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: Backoff,
    ) {
        let delay = match self.entries.get(name) {
            Some(e) if !expired(event_time, e.last_update, policy.max) => {
                (e.delay * 2).min(policy.max)
            }
            _ => policy.initial,
        };
        self.entries.insert(
            name.to_string(),
            Entry {
                delay,
                last_update: now,
            },
        );
    }

    /// The current window of `name` (what CrashLoopBackOff messages quote).
    pub fn current(&self, name: &str) -> Option<Duration> {
        self.entries.get(name).map(|e| e.delay)
    }

    pub fn clear(&mut self, name: &str) {
        self.entries.remove(name);
    }
}

/// Stable for twice the maximum: the history no longer counts.
fn expired(event_time: DateTime<Utc>, last_update: DateTime<Utc>, max: Duration) -> bool {
    let stable = chrono::Duration::from_std(max * 2).unwrap_or(chrono::Duration::MAX);
    event_time - last_update > stable
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`, `500ms`, `1.5s`):
/// the kubelet's CrashLoopBackOff messages quote back-offs this way.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_fraction(nanos, 1_000_000));
    }
    let total_secs = d.as_secs();
    let (h, m) = (total_secs / 3600, (total_secs / 60) % 60);
    let secs_nanos = u128::from(total_secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos());
    let secs = format!("{}s", trim_fraction(secs_nanos, 1_000_000_000));
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// `value / unit` with its decimal fraction, trailing zeros dropped.
fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(40),
        }
    }

    fn secs(s: i64) -> chrono::Duration {
        chrono::Duration::seconds(s)
    }

    #[test]
    fn first_restart_is_immediate_then_windows_double() {
        let mut t = BackoffTable::default();
        let t0 = Utc::now();
        // Never failed before: no window.
        assert_eq!(t.remaining("c", t0, t0, policy()), None);
        t.next("c", t0, t0, policy());
        assert_eq!(t.current("c"), Some(Duration::from_secs(10)));
        // It fails again 1 s later: 10 s window from that failure.
        let f2 = t0 + secs(1);
        assert_eq!(
            t.remaining("c", f2, f2 + secs(3), policy()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(t.remaining("c", f2, f2 + secs(10), policy()), None);
        t.next("c", f2, f2 + secs(10), policy());
        assert_eq!(t.current("c"), Some(Duration::from_secs(20)));
        t.next("c", f2 + secs(12), f2 + secs(30), policy());
        assert_eq!(t.current("c"), Some(Duration::from_secs(40)));
        t.next("c", f2 + secs(32), f2 + secs(70), policy());
        assert_eq!(t.current("c"), Some(Duration::from_secs(40)), "capped");
    }

    #[test]
    fn a_long_stable_run_resets_the_window() {
        let mut t = BackoffTable::default();
        let t0 = Utc::now();
        t.next("c", t0, t0, policy());
        t.next("c", t0 + secs(1), t0 + secs(11), policy());
        assert_eq!(t.current("c"), Some(Duration::from_secs(20)));
        // Failed again 81 s after the last restart (> 2 x 40 s): fresh start.
        let late = t0 + secs(11) + secs(81);
        assert_eq!(t.remaining("c", late, late, policy()), None);
        t.next("c", late, late, policy());
        assert_eq!(t.current("c"), Some(Duration::from_secs(10)));
        t.clear("c");
        assert_eq!(t.current("c"), None);
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(80), "1m20s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(3725), "1h2m5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(60_250), "1m0.25s"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(1500), "1.5µs"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::ZERO, "0s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }
}
