//! `skiff lab`: a multi-node cluster on one machine, each node a network
//! namespace (runtime.md's verified recipe), the host's own network never
//! touched: `up`, `down`, `exec`, `status`, `load`, and faults on one
//! node (`kill` its agent, `start` it again, `link` down/up).

mod down;
mod exec;
mod layout;
mod load;
mod netns;
mod node_ops;
mod procs;
mod relay;
mod state;
mod status;
mod teardown;
mod up;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::errors::{CliError, CliResult};
pub use layout::{DEFAULT_LAB_DIR, DEFAULT_LAB_NAME};

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Build the lab: N node namespaces, the server, one agent per node; returns when all are Ready.
    Up(up::UpArgs),
    /// Stop every lab process and remove its namespaces, mounts, cgroups and files.
    Down(down::DownArgs),
    /// Run a command in a node's network namespace: `skiff lab exec node2 -- curl ...`.
    Exec(exec::ExecArgs),
    /// Show the lab's processes and nodes.
    Status(status::StatusArgs),
    /// Make an image (OCI layout or docker-archive) available to every node under its name.
    Load(load::LoadArgs),
    /// Stop a node's agent (SIGKILL by default); its containers keep running.
    Kill(node_ops::KillArgs),
    /// Run a stopped node's agent again, with the same command line (it adopts its containers).
    Start(node_ops::StartArgs),
    /// Cut a node off the lab network (`down`) or plug it back (`up`).
    Link(node_ops::LinkArgs),
    /// (internal) Forward the host's loopback listener into the lab.
    #[command(hide = true)]
    Relay(relay::RelayArgs),
}

/// Which lab, and where its files live.
#[derive(Args, Debug, Clone)]
pub struct LabFlags {
    /// The lab's name (several labs can run side by side).
    #[arg(long, default_value = DEFAULT_LAB_NAME, value_name = "NAME")]
    pub name: String,
    /// Where labs keep their state, node directories and logs.
    #[arg(long, default_value = DEFAULT_LAB_DIR, value_name = "DIR")]
    pub dir: PathBuf,
}

impl LabFlags {
    pub fn layout(&self) -> CliResult<layout::Layout> {
        layout::Layout::new(&self.dir, &self.name)
    }
}

pub async fn run(args: LabArgs) -> CliResult {
    match args.command {
        LabCommand::Up(a) => up::run(a).await,
        LabCommand::Down(a) => down::run(a).await,
        LabCommand::Exec(a) => exec::run(a).await,
        LabCommand::Status(a) => status::run(a).await,
        LabCommand::Load(a) => load::run(a).await,
        LabCommand::Kill(a) => node_ops::kill(a).await,
        LabCommand::Start(a) => node_ops::start(a).await,
        LabCommand::Link(a) => node_ops::link(a).await,
        LabCommand::Relay(a) => relay::run(a).await,
    }
}

/// Namespaces, cgroups and mounts need root.
fn require_root() -> CliResult {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CliError::msg(
            "skiff lab needs root (network namespaces, cgroups, mounts)",
        ));
    }
    Ok(())
}
