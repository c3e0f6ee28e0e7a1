//! `skiff lab down`: stops everything the lab started and removes what it
//! made; fails (naming it) if anything is left.

use clap::Args;

use super::state::LabState;
use super::{LabFlags, teardown};
use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct DownArgs {
    #[command(flatten)]
    pub lab: LabFlags,
}

pub async fn run(args: DownArgs) -> CliResult {
    super::require_root()?;
    let layout = args.lab.layout()?;
    let state = LabState::load(&layout.state_path())?;
    let leftovers_before = teardown::leftovers(&layout, &teardown::cgroup_parents(&layout, None));
    if state.is_none() && leftovers_before.is_empty() && !layout.dir.exists() {
        return Err(CliError::msg(format!("lab {} is not up", layout.name)));
    }
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        teardown::teardown(&layout, state.as_ref()).map(|()| layout)
    })
    .await
    .map_err(|e| CliError::msg(e.to_string()))?
    .map(|layout| {
        println!(
            "lab {} is down ({:.1}s): no process, netns, mount or cgroup left",
            layout.name,
            started.elapsed().as_secs_f64()
        );
    })
}
