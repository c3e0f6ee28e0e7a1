//! The command line: one module per command.
//!
//! Adding a command (rollout, logs, exec, agent, up, lab, image, doctor) is
//! one module with an `Args` struct and a `run`, one variant in [`Command`]
//! and one arm in [`run`].

use clap::{Parser, Subcommand};

use crate::context::{Ctx, GlobalArgs};
use crate::errors::CliResult;

pub mod agent;
pub mod apply;
pub mod controller;
pub mod delete;
pub mod describe;
pub mod doctor;
pub mod exec;
pub mod get;
pub mod image;
pub mod lab;
pub mod logs;
pub mod node;
mod pod_container;
pub mod rollout;
pub mod scale;
pub mod secure;
pub mod server;
mod terminal;
pub mod up;
pub mod version;
mod wait;
mod ws_connect;

#[derive(Parser, Debug)]
#[command(
    name = "skiff",
    version,
    about = "skiff: a small Kubernetes in one binary",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the API server on an embedded SQLite store (or etcd).
    #[command(alias = "apiserver")]
    Server(server::ServerArgs),
    /// Run the controllers and the scheduler (leader-elected) against an API server.
    Controller(controller::ControllerArgs),
    /// Run a node agent (`--hollow --nodes N`: N hollow nodes in this process).
    Agent(agent::AgentArgs),
    /// Run a one-machine cluster: the server, the controllers and a real node agent.
    Up(up::UpArgs),
    /// Create or update objects from manifests (client-side apply).
    Apply(apply::ApplyArgs),
    /// List objects, or show some by name.
    Get(get::GetArgs),
    /// Show objects in detail, with their events.
    Describe(describe::DescribeArgs),
    /// Delete objects by file, name, label selector or --all.
    Delete(delete::DeleteArgs),
    /// Set the number of replicas of a Deployment or ReplicaSet (the /scale subresource).
    Scale(scale::ScaleArgs),
    /// Print a container's logs (`-f` follows them).
    Logs(logs::LogsArgs),
    /// Run a command in a container (`-i` passes stdin, `-t` a terminal).
    Exec(exec::ExecArgs),
    /// Follow or undo a Deployment's rollout.
    Rollout(rollout::RolloutArgs),
    /// Import, list and remove images in the node's image store (`--root`, default
    /// /var/lib/skiff/images); no API server involved.
    Image(image::ImageArgs),
    /// Print the client and server versions.
    Version(version::VersionArgs),
    /// A multi-node cluster on this machine, each node a network namespace.
    Lab(lab::LabArgs),
    /// Check this host for running a node: cgroups, overlayfs, namespaces, CNI, nft, network.
    Doctor(doctor::DoctorArgs),
}

pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Server(args) => server::run(args).await,
        Command::Controller(args) => controller::run(&cli.global, args).await,
        Command::Agent(args) => agent::run(&cli.global, args).await,
        Command::Up(args) => up::run(args).await,
        Command::Apply(args) => apply::run(&Ctx::new(&cli.global)?, args).await,
        Command::Get(args) => get::run(&Ctx::new(&cli.global)?, args).await,
        Command::Describe(args) => describe::run(&Ctx::new(&cli.global)?, args).await,
        Command::Delete(args) => delete::run(&Ctx::new(&cli.global)?, args).await,
        Command::Scale(args) => scale::run(&Ctx::new(&cli.global)?, args).await,
        Command::Rollout(args) => rollout::run(&Ctx::new(&cli.global)?, args).await,
        Command::Logs(args) => logs::run(&Ctx::new(&cli.global)?, args).await,
        Command::Exec(args) => exec::run(&Ctx::new(&cli.global)?, args).await,
        Command::Image(args) => image::run(args),
        Command::Version(args) => version::run(&cli.global, args).await,
        Command::Lab(args) => lab::run(args).await,
        Command::Doctor(args) => doctor::run(args).await,
    }
}
