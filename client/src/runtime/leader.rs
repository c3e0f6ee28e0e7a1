//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it.
//!
//! The holder writes its identity and a fresh `renewTime` every
//! `retry_period`. Others take the Lease only once it has expired
//! (`renewTime + leaseDurationSeconds` is past) or was released (no
//! holder). Every write carries the `resourceVersion` that was read, so of
//! two candidates racing for the Lease one gets 409 Conflict and loses.
//! A leader that has not renewed within `renew_deadline` (shorter than the
//! lease duration) stops leading before anyone else may start.
//!
//! Clocks: expiry compares the holder's `renewTime` with this machine's
//! clock, so candidates' clocks must agree to well under the lease duration.

use std::future::Future;
use std::time::Duration;

use chrono::TimeDelta;
use skiff_api::coordination::{Lease, LeaseSpec};
use skiff_api::meta::{MicroTime, ObjectMeta};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::Api;
use crate::client::Client;
use crate::error::{Error, Result};

/// Which Lease, who we are, and the timings.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderElectionConfig {
    pub namespace: String,
    /// The Lease's name: what the candidates compete for.
    pub name: String,
    /// This candidate, unique among them (e.g. `hostname_uuid`).
    pub identity: String,
    /// How long others wait after the last renewal before taking over (15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading (10 s).
    pub renew_deadline: Duration,
    /// Time between tries, to acquire or to renew (2 s).
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// client-go's default timings: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(namespace: &str, name: &str, identity: &str) -> LeaderElectionConfig {
        LeaderElectionConfig {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    fn check(&self) -> Result<()> {
        let problem = if self.name.is_empty() || self.namespace.is_empty() {
            "the lease needs a namespace and a name"
        } else if self.identity.is_empty() {
            "the candidate needs an identity"
        } else if self.retry_period.is_zero() {
            "the retry period must be positive"
        } else if self.renew_deadline <= self.retry_period {
            "the renew deadline must be longer than the retry period"
        } else if self.lease_duration <= self.renew_deadline {
            "the lease duration must be longer than the renew deadline"
        } else {
            return Ok(());
        };
        Err(Error::Config(format!("leader election: {problem}")))
    }

    /// `leaseDurationSeconds`: whole seconds, rounded up (never shorter than configured).
    fn lease_seconds(&self) -> i32 {
        let d = self.lease_duration;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
    }
}

/// What one try found.
enum Attempt {
    /// We hold the Lease (acquired or renewed).
    Held,
    /// Someone else holds it and it has not expired.
    HeldByOther,
}

/// One candidate. Share it (`Arc`) between the task that [`run`](Self::run)s
/// it and those that watch [`subscribe`](Self::subscribe).
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    leading: watch::Sender<bool>,
}

impl LeaderElector {
    /// Checks the timings (`retry_period < renew_deadline < lease_duration`).
    pub fn new(client: Client, config: LeaderElectionConfig) -> Result<LeaderElector> {
        config.check()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            leading: watch::Sender::new(false),
        })
    }

    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// Are we the leader right now?
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Follows leadership: `true` while leading. Work done as leader must
    /// stop as soon as this turns `false`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Campaigns until `shutdown` completes: acquires the Lease, renews it,
    /// and after losing it campaigns again. Then steps down: stops leading
    /// and releases the Lease so another candidate takes over at once.
    /// Dropping this future instead stops leading without releasing (others
    /// wait for the Lease to expire).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let _stop_leading = StopLeadingOnDrop(&self.leading);
        tokio::select! {
            _ = shutdown => {}
            never = self.campaign() => match never {},
        }
        self.set_leading(false);
        // A dead server must not hold up shutdown for long.
        match tokio::time::timeout(self.config.renew_deadline, self.release()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(lease = %self.config.name, error = %e, "releasing the lease failed")
            }
            Err(_) => tracing::warn!(lease = %self.config.name, "releasing the lease timed out"),
        }
    }

    async fn campaign(&self) -> std::convert::Infallible {
        let retry = self.config.retry_period;
        loop {
            // Acquire.
            let mut renewed_at = loop {
                let started = Instant::now();
                match tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew())
                    .await
                {
                    Ok(Ok(Attempt::Held)) => break started,
                    Ok(Ok(Attempt::HeldByOther)) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(lease = %self.config.name, error = %e, "acquiring the lease failed")
                    }
                    Err(_) => {
                        tracing::debug!(lease = %self.config.name, "acquiring the lease timed out")
                    }
                }
                tokio::time::sleep(retry).await;
            };
            tracing::info!(lease = %self.config.name, identity = %self.config.identity, "became leader");
            self.set_leading(true);

            // Renew until a renewal is refused or the deadline passes.
            loop {
                let deadline = renewed_at + self.config.renew_deadline;
                tokio::time::sleep_until((Instant::now() + retry).min(deadline)).await;
                if Instant::now() >= deadline {
                    break;
                }
                let started = Instant::now();
                match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                    Ok(Ok(Attempt::Held)) => renewed_at = started,
                    Ok(Ok(Attempt::HeldByOther)) => break,
                    Ok(Err(e)) => {
                        tracing::warn!(lease = %self.config.name, error = %e, "renewing the lease failed")
                    }
                    Err(_) => break,
                }
            }
            self.set_leading(false);
            tracing::warn!(lease = %self.config.name, identity = %self.config.identity, "lost leadership");
        }
    }

    fn set_leading(&self, leading: bool) {
        self.leading
            .send_if_modified(|l| std::mem::replace(l, leading) != leading);
    }

    /// One read-and-write of the Lease. Errors (409 included) are transient:
    /// the caller tries again after `retry_period`.
    async fn try_acquire_or_renew(&self) -> Result<Attempt> {
        let now = MicroTime::now();
        let me = self.config.identity.as_str();
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                api_version: Some("coordination.k8s.io/v1".into()),
                kind: Some("Lease".into()),
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me.to_string()),
                    lease_duration_seconds: Some(self.config.lease_seconds()),
                    acquire_time: Some(now),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&lease).await {
                Ok(_) => Ok(Attempt::Held),
                // Another candidate created it first.
                Err(e) if e.is_already_exists() => Ok(Attempt::HeldByOther),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if holder != me {
            if !holder.is_empty() && !expired(spec, now) {
                return Ok(Attempt::HeldByOther);
            }
            spec.holder_identity = Some(me.to_string());
            spec.acquire_time = Some(now);
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.acquire_time.get_or_insert(now);
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(self.config.lease_seconds());
        // Carries the resourceVersion read above: 409 if anyone wrote since.
        self.api.replace(&self.config.name, &lease).await?;
        Ok(Attempt::Held)
    }

    /// Gives the Lease up if we hold it: no holder, 1 s duration, as client-go.
    async fn release(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime::now();
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now);
        spec.renew_time = Some(now);
        self.api.replace(&self.config.name, &lease).await?;
        tracing::info!(lease = %self.config.name, identity = %self.config.identity, "released the lease");
        Ok(())
    }
}

/// Has the holder's lease run out by `now`? No renewal time counts as expired.
fn expired(spec: &LeaseSpec, now: MicroTime) -> bool {
    let Some(renewed) = spec.renew_time else {
        return true;
    };
    let duration = TimeDelta::seconds(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    renewed.0 + duration < now.0
}

/// However `run` ends, even dropped mid-way, the flag must not stay `true`.
struct StopLeadingOnDrop<'a>(&'a watch::Sender<bool>);

impl Drop for StopLeadingOnDrop<'_> {
    fn drop(&mut self) {
        self.0.send_if_modified(|l| std::mem::replace(l, false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn spec(renewed_secs_ago: Option<i64>, duration: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some("other".into()),
            renew_time: renewed_secs_ago
                .map(|s| MicroTime::from(Utc::now() - TimeDelta::seconds(s))),
            lease_duration_seconds: duration,
            ..Default::default()
        }
    }

    #[test]
    fn expiry_is_renew_time_plus_duration() {
        let now = MicroTime::now();
        assert!(!expired(&spec(Some(5), Some(15)), now));
        assert!(expired(&spec(Some(20), Some(15)), now));
        assert!(expired(&spec(None, Some(15)), now));
        assert!(expired(&spec(Some(1), None), now));
    }

    #[test]
    fn timings_are_checked() {
        let ok = LeaderElectionConfig::new("kube-system", "skiff-controller", "me");
        assert!(ok.check().is_ok());
        assert_eq!(ok.lease_seconds(), 15);
        let bad = LeaderElectionConfig {
            renew_deadline: Duration::from_secs(20),
            ..ok.clone()
        };
        assert!(matches!(bad.check(), Err(Error::Config(m)) if m.contains("renew deadline")));
        let bad = LeaderElectionConfig {
            retry_period: Duration::from_secs(10),
            ..ok.clone()
        };
        assert!(bad.check().is_err());
        let bad = LeaderElectionConfig {
            identity: String::new(),
            ..ok.clone()
        };
        assert!(bad.check().is_err());
        let short = LeaderElectionConfig {
            lease_duration: Duration::from_millis(1500),
            renew_deadline: Duration::from_secs(1),
            retry_period: Duration::from_millis(200),
            ..ok
        };
        assert!(short.check().is_ok());
        assert_eq!(short.lease_seconds(), 2);
    }

    #[tokio::test]
    async fn dropping_run_stops_leading() {
        let client = Client::from_server("http://127.0.0.1:1").unwrap();
        let config = LeaderElectionConfig::new("default", "l", "me");
        let elector = LeaderElector::new(client, config).unwrap();
        elector.set_leading(true);
        let rx = elector.subscribe();
        {
            let run = elector.run(std::future::pending());
            // Polled once (the server is unreachable: it is trying), then dropped.
            let _ = tokio::time::timeout(Duration::from_millis(20), run).await;
        }
        assert!(!*rx.borrow());
        assert!(!elector.is_leader());
    }
}
