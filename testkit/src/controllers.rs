//! The controllers and the scheduler of a test cluster: one manager (what
//! `skiff server` runs), which a test kills and restarts, or several
//! replicas under leader election (what several `skiff controller`
//! processes do), which a test kills one by one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use skiff_client::runtime::LeaderElectionConfig;
use skiff_client::{Client, EventRecorder};
use skiff_controller::clock::SharedClock;
use skiff_controller::config::ControllerConfig;
use skiff_controller::context::Context;
use skiff_controller::manager::{self, Parts};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// The Lease the replicas compete for (as `skiff controller`).
pub const LEADER_LEASE_NAMESPACE: &str = "kube-system";
pub const LEADER_LEASE_NAME: &str = "skiff-controller";
/// What the controllers' Events name as their source.
pub const COMPONENT: &str = "skiff-controller-manager";

/// Leader-election timings: how long a dead leader blocks a failover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElectionTimings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl ElectionTimings {
    /// client-go's: 15 s, 10 s, 2 s.
    pub fn kubernetes() -> ElectionTimings {
        ElectionTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// A failover within about 3 s.
    pub fn lab() -> ElectionTimings {
        ElectionTimings {
            lease_duration: Duration::from_secs(2),
            renew_deadline: Duration::from_millis(1500),
            retry_period: Duration::from_millis(300),
        }
    }
}

/// One leader-elected replica.
struct Replica {
    task: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
    /// How many times it started leading.
    terms: Arc<AtomicUsize>,
}

/// Builds the [`Context`] a (re)started controller process gets.
#[derive(Clone)]
struct ContextFactory {
    client: Client,
    config: ControllerConfig,
    clock: SharedClock,
}

impl ContextFactory {
    /// A fresh context; with `instance`, its Events name that replica.
    fn make(&self, instance: Option<&str>) -> Context {
        let mut ctx = Context::new(
            self.client.clone(),
            self.config.clone(),
            self.clock.clone(),
            COMPONENT,
        );
        if instance.is_some() {
            ctx.recorder = EventRecorder::new(self.client.clone(), COMPONENT, instance);
        }
        ctx
    }
}

pub struct Controllers {
    factory: ContextFactory,
    parts: Parts,
    election: ElectionTimings,
    /// The single manager, while it runs.
    manager: Option<(Context, JoinSet<()>)>,
    replicas: BTreeMap<String, Replica>,
}

impl Drop for Controllers {
    fn drop(&mut self) {
        // A JoinSet aborts its tasks when dropped; a JoinHandle does not.
        for r in self.replicas.values() {
            r.task.abort();
        }
    }
}

impl Controllers {
    pub fn new(
        client: Client,
        config: ControllerConfig,
        clock: SharedClock,
        parts: Parts,
        election: ElectionTimings,
    ) -> Controllers {
        Controllers {
            factory: ContextFactory {
                client,
                config,
                clock,
            },
            parts,
            election,
            manager: None,
            replicas: BTreeMap::new(),
        }
    }

    /// Starts the manager on a fresh [`Context`] (fresh informers, empty
    /// queues and expectations): a newly started process. Stops a running
    /// one first.
    pub async fn start(&mut self) {
        self.kill().await;
        let ctx = self.factory.make(None);
        let mut tasks = JoinSet::new();
        manager::start(&ctx, self.parts, &mut tasks);
        self.manager = Some((ctx, tasks));
    }

    /// Kills the manager at once (its tasks are aborted mid-whatever).
    pub async fn kill(&mut self) {
        if let Some((_, mut tasks)) = self.manager.take() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }

    pub fn is_running(&self) -> bool {
        self.manager.is_some()
    }

    /// The running manager's context (its informers' caches, its config).
    pub fn manager_context(&self) -> Option<&Context> {
        self.manager.as_ref().map(|(ctx, _)| ctx)
    }

    /// Starts a replica that campaigns for the leader Lease as `identity`
    /// and runs every controller while it leads; its Events name it as
    /// `reportingInstance`.
    pub fn start_replica(&mut self, identity: &str) -> anyhow::Result<()> {
        if self.replicas.contains_key(identity) {
            anyhow::bail!("a replica {identity} runs already");
        }
        let mut election =
            LeaderElectionConfig::new(LEADER_LEASE_NAMESPACE, LEADER_LEASE_NAME, identity);
        election.lease_duration = self.election.lease_duration;
        election.renew_deadline = self.election.renew_deadline;
        election.retry_period = self.election.retry_period;
        let terms = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel::<()>();
        let make_context = {
            let (factory, terms, id) = (self.factory.clone(), terms.clone(), identity.to_string());
            move || {
                terms.fetch_add(1, Ordering::SeqCst);
                factory.make(Some(&id))
            }
        };
        let (client, parts) = (self.factory.client.clone(), self.parts);
        let name = identity.to_string();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = manager::run_with_leader_election_config(
                client,
                election,
                make_context,
                parts,
                shutdown,
            )
            .await
            {
                tracing::error!(replica = %name, error = %e, "controller replica failed");
            }
        });
        self.replicas.insert(
            identity.to_string(),
            Replica {
                task,
                stop: Some(stop),
                terms,
            },
        );
        Ok(())
    }

    /// Kills a replica as a crash would: it stops acting at once and does
    /// not release the Lease (the others wait for it to expire).
    pub async fn kill_replica(&mut self, identity: &str) -> bool {
        let Some(r) = self.replicas.remove(identity) else {
            return false;
        };
        r.task.abort();
        let _ = r.task.await;
        true
    }

    /// Stops a replica cleanly: it releases the Lease on its way out.
    pub async fn stop_replica(&mut self, identity: &str) -> bool {
        let Some(mut r) = self.replicas.remove(identity) else {
            return false;
        };
        if let Some(stop) = r.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut r.task).await;
        true
    }

    /// How many times `identity` started leading (0: it never acted).
    pub fn terms(&self, identity: &str) -> usize {
        self.replicas
            .get(identity)
            .map_or(0, |r| r.terms.load(Ordering::SeqCst))
    }
}
