//! When a pod on a NoExecute-tainted node must go (Kubernetes' taint
//! manager rules, with the tolerations the DefaultTolerationSeconds
//! admission plugin would have added), and the rate evictions go at.

use chrono::{DateTime, Duration, Utc};
use skiff_api::core::{Taint, Toleration};

use super::taints::{NO_EXECUTE, NOT_READY, UNREACHABLE};

/// A pod without a NoExecute toleration for `not-ready`/`unreachable` (of
/// that key, or of every key) gets one with `default_seconds`, as the API
/// server's DefaultTolerationSeconds admission plugin adds.
pub fn with_default_tolerations(
    tolerations: &[Toleration],
    default_seconds: i64,
) -> Vec<Toleration> {
    let mut all = tolerations.to_vec();
    for key in [NOT_READY, UNREACHABLE] {
        let covered = tolerations.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or_default();
            let e = t.effect.as_deref().unwrap_or_default();
            (k == key || k.is_empty()) && (e == NO_EXECUTE || e.is_empty())
        });
        if !covered {
            all.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                value: None,
                effect: Some(NO_EXECUTE.into()),
                toleration_seconds: Some(default_seconds),
            });
        }
    }
    all
}

/// When a pod with `tolerations` must leave a node with `taints` (only the
/// NoExecute ones count), tainted since `since`: `None` when it may stay
/// for ever. A taint no toleration matches means at once; otherwise the
/// shortest `tolerationSeconds` among the tolerations used (one without
/// seconds tolerates for ever).
pub fn eviction_time(
    tolerations: &[Toleration],
    taints: &[Taint],
    since: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut shortest: Option<i64> = None;
    let mut any = false;
    for taint in taints.iter().filter(|t| t.effect == NO_EXECUTE) {
        any = true;
        let Some(used) = tolerations.iter().find(|t| t.tolerates(taint)) else {
            return Some(since);
        };
        if let Some(s) = used.toleration_seconds {
            shortest = Some(shortest.map_or(s, |m| m.min(s)));
        }
    }
    if !any {
        return None;
    }
    shortest.map(|s| since + Duration::seconds(s.max(0)))
}

/// When the node's NoExecute taints started: the earliest `timeAdded`
/// (`fallback` for taints without one).
pub fn tainted_since(taints: &[Taint], fallback: DateTime<Utc>) -> DateTime<Utc> {
    taints
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .map(|t| t.time_added.map_or(fallback, |a| a.0))
        .min()
        .unwrap_or(fallback)
}

/// A token bucket on the controller's clock: `rate` tokens a second, up to
/// `burst` saved. A non-positive rate means no limit.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<DateTime<Utc>>,
}

impl TokenBucket {
    /// Burst: one second's worth, at least one.
    pub fn new(rate: f64) -> TokenBucket {
        let burst = rate.ceil().max(1.0);
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Takes a token if there is one at `now`.
    pub fn try_take(&mut self, now: DateTime<Utc>) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        if let Some(last) = self.last {
            // A clock set back refills nothing.
            let elapsed = (now - last).num_milliseconds().max(0) as f64 / 1000.0;
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: NO_EXECUTE.into(),
            ..Default::default()
        }
    }

    fn tol(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(NO_EXECUTE.into()),
            toleration_seconds: seconds,
            ..Default::default()
        }
    }

    #[test]
    fn eviction_times() {
        let t0 = Utc::now();
        let taints = [taint(UNREACHABLE)];
        // Nothing of its own: the defaults (300 s).
        let defaults = with_default_tolerations(&[], 300);
        assert_eq!(defaults.len(), 2);
        assert_eq!(
            eviction_time(&defaults, &taints, t0),
            Some(t0 + Duration::seconds(300))
        );
        // Its own toleration wins over the default, for ever without seconds.
        let forever = with_default_tolerations(&[tol(UNREACHABLE, None)], 300);
        assert_eq!(eviction_time(&forever, &taints, t0), None);
        let short = with_default_tolerations(&[tol(UNREACHABLE, Some(5))], 300);
        assert_eq!(
            eviction_time(&short, &taints, t0),
            Some(t0 + Duration::seconds(5))
        );
        // A NoExecute taint nothing tolerates: at once.
        let both = [taint(UNREACHABLE), taint("dedicated")];
        assert_eq!(eviction_time(&forever, &both, t0), Some(t0));
        // No NoExecute taint at all: stays.
        assert_eq!(eviction_time(&defaults, &[], t0), None);
        let mut added = taint(UNREACHABLE);
        added.time_added = Some(skiff_api::meta::Time::from(t0 - Duration::seconds(9)));
        assert_eq!(
            tainted_since(&[added, taint(NOT_READY)], t0),
            skiff_api::meta::Time::from(t0 - Duration::seconds(9)).0
        );
    }

    #[test]
    fn bucket_limits_and_refills_on_the_clock() {
        let t0 = Utc::now();
        let mut b = TokenBucket::new(0.5);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::seconds(1)));
        assert!(b.try_take(t0 + Duration::seconds(2)));
        let mut fast = TokenBucket::new(3.0);
        assert!((0..3).all(|_| fast.try_take(t0)));
        assert!(!fast.try_take(t0));
        assert!(TokenBucket::new(0.0).try_take(t0));
    }
}
