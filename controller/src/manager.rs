//! Starts every controller and the scheduler on one set of shared
//! informers, and (for `skiff controller`) runs them only while this
//! process holds the leader Lease.

use std::future::Future;

use skiff_client::Client;
use skiff_client::runtime::{LeaderElectionConfig, LeaderElector};
use tokio::task::JoinSet;

use crate::context::Context;

/// The parts a manager can run. Everything by default; tests pick.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    pub replicaset: bool,
    pub deployment: bool,
    pub gc: bool,
    pub node_lifecycle: bool,
    pub node_ipam: bool,
    pub endpoints: bool,
    pub job: bool,
    pub cronjob: bool,
    pub scheduler: bool,
    /// LoadBalancer Services get the Ready Nodes' IPs as ingress.
    pub service_lb: bool,
}

impl Parts {
    pub fn all() -> Parts {
        Parts {
            replicaset: true,
            deployment: true,
            gc: true,
            node_lifecycle: true,
            node_ipam: true,
            endpoints: true,
            job: true,
            cronjob: true,
            scheduler: true,
            service_lb: true,
        }
    }
}

impl Default for Parts {
    fn default() -> Parts {
        Parts::all()
    }
}

/// Starts `parts` and then the informers they read, on `tasks`. Dropping or
/// aborting `tasks` stops them all.
pub fn start(ctx: &Context, parts: Parts, tasks: &mut JoinSet<()>) {
    if parts.replicaset {
        crate::replicaset::start(ctx, tasks);
    }
    if parts.deployment {
        crate::deployment::start(ctx, tasks);
    }
    if parts.gc && ctx.config.garbage_collector {
        crate::gc::start(ctx, tasks);
    }
    if parts.node_lifecycle {
        crate::node_lifecycle::start(ctx, tasks);
    }
    if parts.node_ipam {
        crate::node_ipam::start(ctx, tasks);
    }
    if parts.endpoints {
        crate::endpoints::start(ctx, tasks);
    }
    if parts.job {
        crate::job::start(ctx, tasks);
    }
    if parts.cronjob {
        crate::cronjob::start(ctx, tasks);
    }
    if parts.scheduler {
        crate::scheduler::start(ctx, tasks);
    }
    if parts.service_lb {
        crate::service_lb::start(ctx, tasks);
    }
    // Handlers are registered: only now may events flow.
    ctx.informers.start(tasks);
}

/// Runs everything until `shutdown` completes.
pub async fn run(ctx: Context, parts: Parts, shutdown: impl Future<Output = ()>) {
    let mut tasks = JoinSet::new();
    start(&ctx, parts, &mut tasks);
    shutdown.await;
    tasks.shutdown().await;
}

/// Runs the controllers only while holding the `kube-system/skiff-controller`
/// Lease: several `skiff controller` replicas may run, one acts. Losing the
/// lease stops every controller at once (a fresh leader starts from a fresh
/// list, as Kubernetes' controller manager does by exiting).
pub async fn run_with_leader_election(
    client: Client,
    identity: &str,
    make_context: impl Fn() -> Context,
    parts: Parts,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let election = LeaderElectionConfig::new("kube-system", "skiff-controller", identity);
    run_with_leader_election_config(client, election, make_context, parts, shutdown).await
}

/// [`run_with_leader_election`] with the Lease and its timings given (tests
/// shorten them so that a failover takes seconds).
pub async fn run_with_leader_election_config(
    client: Client,
    election: LeaderElectionConfig,
    make_context: impl Fn() -> Context,
    parts: Parts,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let identity = election.identity.clone();
    let identity = identity.as_str();
    let elector = LeaderElector::new(client, election)?;
    let mut leading = elector.subscribe();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let campaign = async {
        elector
            .run(async {
                let _ = stop_rx.await;
            })
            .await
    };
    let acting = async {
        loop {
            while !*leading.borrow_and_update() {
                if leading.changed().await.is_err() {
                    return;
                }
            }
            tracing::info!(identity, "became leader: starting controllers");
            let mut tasks = JoinSet::new();
            start(&make_context(), parts, &mut tasks);
            while *leading.borrow_and_update() {
                if leading.changed().await.is_err() {
                    break;
                }
            }
            tracing::warn!(identity, "lost leadership: stopping controllers");
            tasks.shutdown().await;
        }
    };
    // Campaign and act side by side; on shutdown stop acting (dropping the
    // controllers' tasks), then let the elector release the lease.
    let work = async {
        tokio::select! {
            _ = shutdown => {}
            _ = acting => {}
        }
        let _ = stop_tx.send(());
    };
    tokio::join!(campaign, work);
    Ok(())
}
