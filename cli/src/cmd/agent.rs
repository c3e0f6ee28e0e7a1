//! `skiff agent`: the node agent. `--hollow --nodes N` runs N hollow nodes
//! (nodes that pretend to run containers) in this one process, for scale
//! and reconciliation tests.

use clap::Args;
use skiff_agent::{FleetConfig, start_hollow_fleet};

use crate::context::{Ctx, GlobalArgs};
use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Run hollow nodes: real agent logic over a runtime that only pretends
    /// to run containers.
    #[arg(long)]
    pub hollow: bool,
    /// How many hollow nodes this process runs.
    #[arg(long, default_value_t = 1, requires = "hollow")]
    pub nodes: usize,
    /// Node names are this prefix followed by 0, 1, 2, ...
    #[arg(long, default_value = "hollow-node-", value_name = "PREFIX")]
    pub name_prefix: String,
    /// Seconds instead of minutes for heartbeats and back-off (labs, tests).
    #[arg(long)]
    pub lab_profile: bool,
}

pub async fn run(global: &GlobalArgs, args: AgentArgs) -> CliResult {
    if !args.hollow {
        return Err(CliError::msg(
            "this build runs hollow nodes only (`skiff agent --hollow --nodes N`); \
             the Linux container runtime arrives with the real-containers milestone",
        ));
    }
    super::server::init_logging();
    let ctx = Ctx::new(global)?;
    let mut config = FleetConfig::default();
    if args.lab_profile {
        config = config.lab_profile();
    }
    let fleet = start_hollow_fleet(ctx.client.clone(), args.nodes, &args.name_prefix, config)
        .await
        .map_err(|e| CliError::msg(format!("starting hollow nodes: {e:#}")))?;
    tracing::info!(nodes = fleet.len(), prefix = %args.name_prefix, "hollow nodes running");
    super::server::wait_for_signal().await?;
    tracing::info!("shutting down hollow nodes");
    fleet.shutdown().await;
    Ok(())
}
