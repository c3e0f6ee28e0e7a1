//! `skiff controller`: the controllers and the scheduler apart from the API
//! server. Several replicas may run: one leads through a Lease and acts.

use std::sync::Arc;

use clap::Args;
use skiff_client::Client;
use skiff_controller::clock::SystemClock;
use skiff_controller::config::ControllerConfig;
use skiff_controller::context::Context;
use skiff_controller::manager::{self, Parts};

use crate::context::{Ctx, GlobalArgs};
use crate::errors::{CliError, CliResult};

/// Controller tunables shared by `skiff server` and `skiff controller`.
#[derive(Args, Debug, Clone)]
pub struct ControllerFlags {
    /// Timings of a few seconds instead of Kubernetes' minutes (labs, tests):
    /// a silent node is unknown after 4 s and its pods evicted 2 s later.
    #[arg(long)]
    pub lab_profile: bool,
    /// A node whose Lease is older than this is NotReady (default 40 s; lab 4 s).
    #[arg(long, value_name = "SECONDS")]
    pub node_monitor_grace_period: Option<u64>,
    /// Seconds pods tolerate an unreachable/not-ready node before eviction (default 300).
    #[arg(long, value_name = "SECONDS")]
    pub default_toleration_seconds: Option<i64>,
    /// Pod evictions per second across the cluster (default 0.1).
    #[arg(long, value_name = "RATE")]
    pub eviction_rate: Option<f64>,
    /// The pod network, one podCIDR per node is carved from it.
    #[arg(long, value_name = "CIDR")]
    pub cluster_cidr: Option<String>,
}

impl ControllerFlags {
    pub fn config(&self) -> ControllerConfig {
        let mut config = if self.lab_profile {
            ControllerConfig::lab_profile()
        } else {
            ControllerConfig::default()
        };
        if let Some(s) = self.node_monitor_grace_period {
            config.node_monitor_grace_period = std::time::Duration::from_secs(s);
        }
        if let Some(s) = self.default_toleration_seconds {
            config.default_toleration_seconds = s;
        }
        if let Some(r) = self.eviction_rate {
            config.eviction_rate_per_second = r;
        }
        if let Some(c) = &self.cluster_cidr {
            config.cluster_cidr = c.clone();
        }
        config
    }

    pub fn context(&self, client: Client) -> CliResult<Context> {
        Ok(Context::new(
            client,
            self.config(),
            Arc::new(SystemClock),
            "skiff-controller-manager",
        ))
    }
}

#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// This replica's name in the leader Lease (default: hostname and pid).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    #[command(flatten)]
    pub flags: ControllerFlags,
}

pub async fn run(global: &GlobalArgs, args: ControllerArgs) -> CliResult {
    super::server::init_logging();
    let ctx = Ctx::new(global)?;
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let client = ctx.client.clone();
    let flags = args.flags.clone();
    let make_context = move || {
        Context::new(
            client.clone(),
            flags.config(),
            Arc::new(SystemClock),
            "skiff-controller-manager",
        )
    };
    tracing::info!(%identity, "skiff controller campaigning for kube-system/skiff-controller");
    manager::run_with_leader_election(
        ctx.client.clone(),
        &identity,
        make_context,
        Parts::all(),
        async {
            let _ = super::server::wait_for_signal().await;
        },
    )
    .await
    .map_err(|e| CliError::msg(format!("{e:#}")))
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "skiff".into());
    format!("{host}_{}", std::process::id())
}
