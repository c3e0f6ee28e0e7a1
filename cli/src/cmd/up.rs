//! `skiff up`: a one-machine cluster in one process: the API server on the
//! embedded SQLite store, the controllers and scheduler, and a real node
//! agent for this machine. Ctrl-C stops the agent and the server; the
//! containers keep running and the next `skiff up` adopts them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::controller::ControllerFlags;
use super::node::NodeFlags;
use super::server::{self, ServerArgs};
use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// The server's state (`state.db`) and the kubeconfig.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/skiff/server")]
    pub data_dir: PathBuf,
    /// Address to serve the API on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:6443", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Where to write the kubeconfig (default DIR/kubeconfig).
    #[arg(long, value_name = "PATH")]
    pub write_kubeconfig: Option<PathBuf>,
    /// Where the node agent's HTTP API (logs, exec, stats) listens,
    /// `IP:PORT` or `none`.
    #[arg(long, value_name = "IP:PORT", default_value = super::node::DEFAULT_AGENT_LISTEN)]
    pub agent_listen: String,
    #[command(flatten)]
    pub controllers: ControllerFlags,
    #[command(flatten)]
    pub node: NodeFlags,
}

pub async fn run(args: UpArgs) -> CliResult {
    server::init_logging();
    let lab_profile = args.controllers.lab_profile;
    let server_args = ServerArgs {
        data_dir: args.data_dir.clone(),
        listen: vec![args.listen],
        tls: false,
        tls_san: Vec::new(),
        etcd: Vec::new(),
        etcd_prefix: "/skiff".into(),
        service_cidr: None,
        service_node_port_range: None,
        write_kubeconfig: args.write_kubeconfig.clone(),
        disable_controllers: false,
        controllers: args.controllers.clone(),
    };
    let started = server::start(&server_args).await?;
    let client = skiff_client::Client::new(started.client_config.clone())
        .map_err(|e| CliError::msg(e.to_string()))?;
    let listen = match super::agent::listen_addr(Some(&args.agent_listen), "none") {
        Ok(listen) => listen,
        Err(e) => {
            started.shutdown().await;
            return Err(e);
        }
    };
    // In one process: the agent requires the server's proxy token directly.
    let token = Some(started.proxy_token.clone());
    let agent = match super::node::start(client, &args.node, lab_profile, listen, token).await {
        Ok(agent) => agent,
        Err(e) => {
            started.shutdown().await;
            return Err(e);
        }
    };
    tracing::info!(
        "skiff is up: node {} ready; export KUBECONFIG={}",
        agent.node_name(),
        started.kubeconfig.display()
    );
    server::wait_for_signal().await?;
    tracing::info!("stopping the agent and the server; containers keep running");
    agent.shutdown().await;
    started.shutdown().await;
    Ok(())
}
