//! `skiff agent`: the node agent. Without `--hollow` it runs this machine
//! as a real node (containers through the Linux runtime, see `node.rs`);
//! `--hollow --nodes N` runs N hollow nodes (nodes that pretend to run
//! containers) in this one process, for scale and reconciliation tests.

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
    #[command(flatten)]
    pub node: super::node::NodeFlags,
    /// Where the agent's HTTP API (logs, exec, stats; the kubelet port)
    /// listens, `IP:PORT` or `none`. Default: 127.0.0.1:0 (a free port)
    /// for hollow nodes, 0.0.0.0:10250 for a real node. Nodes report the
    /// port; the API server proxies `kubectl logs` and `exec` to it.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<String>,
    /// Join the cluster with this join token (`K10<ca hash>::<secret>`,
    /// the server's <data-dir>/node-token) at `--server https://HOST:PORT`;
    /// the node's own credential is kept in <root>/kubeconfig, and the
    /// token the agent's HTTP API then requires (the server's proxy token)
    /// in <root>/proxy-token (without a join token that API requires none).
    /// A hollow fleet joins as one node (`--nodes 1`, named <prefix>0).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Read the join token from this file instead.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,
}

/// The client the agent works with, and the token its HTTP API requires:
/// the joined node's identity and the server's proxy token when a join
/// token is given; else the kubeconfig's client and no token (an agent run
/// with an admin kubeconfig serves logs and exec unauthenticated: keep its
/// `--listen` on loopback or a trusted network).
async fn agent_client(
    global: &GlobalArgs,
    args: &AgentArgs,
    node_name: impl FnOnce() -> CliResult<String>,
) -> CliResult<super::secure::Joined> {
    let token = super::secure::read_join_token(args.token.as_deref(), args.token_file.as_deref())?;
    match token {
        Some(token) => {
            let name = node_name()?;
            super::secure::join_client(global, &args.node.root, &name, &token).await
        }
        None => Ok(super::secure::Joined {
            client: Ctx::new(global)?.client,
            proxy_token: None,
        }),
    }
}

/// Says so when the agent's HTTP API is reachable beyond loopback with no
/// token required.
fn warn_if_open(listen: Option<std::net::SocketAddr>, token: Option<&str>) {
    if let Some(addr) = listen
        && token.is_none()
        && !addr.ip().is_loopback()
    {
        tracing::warn!(
            %addr,
            "the agent's HTTP API (logs, exec) requires no token: join with --token to secure it"
        );
    }
}

/// The `--listen` address: `none` is no server; absent is `default`.
pub fn listen_addr(flag: Option<&str>, default: &str) -> CliResult<Option<std::net::SocketAddr>> {
    match flag.unwrap_or(default) {
        "none" => Ok(None),
        addr => addr
            .parse()
            .map(Some)
            .map_err(|e| CliError::msg(format!("--listen {addr:?}: want IP:PORT or none ({e})"))),
    }
}

pub async fn run(global: &GlobalArgs, args: AgentArgs) -> CliResult {
    if !args.hollow {
        return run_real(global, args).await;
    }
    super::server::init_logging();
    let joined = agent_client(global, &args, || {
        if args.nodes != 1 {
            return Err(CliError::msg(format!(
                "a join token gives one node identity; {} hollow nodes need an admin kubeconfig",
                args.nodes
            )));
        }
        Ok(format!("{}0", args.name_prefix))
    })
    .await?;
    let mut config = FleetConfig::default();
    if args.lab_profile {
        config = config.lab_profile();
    }
    config.agent.server_addr = listen_addr(args.listen.as_deref(), "127.0.0.1:0")?;
    warn_if_open(config.agent.server_addr, joined.proxy_token.as_deref());
    config.agent.server_token = joined.proxy_token;
    let fleet = start_hollow_fleet(joined.client, args.nodes, &args.name_prefix, config)
        .await
        .map_err(|e| CliError::msg(format!("starting hollow nodes: {e:#}")))?;
    tracing::info!(nodes = fleet.len(), prefix = %args.name_prefix, "hollow nodes running");
    super::server::wait_for_signal().await?;
    tracing::info!("shutting down hollow nodes");
    fleet.shutdown().await;
    Ok(())
}

/// This machine as a node: runs until SIGINT or SIGTERM; its containers
/// keep running after it stops (a new agent on the same `--root` adopts them).
async fn run_real(global: &GlobalArgs, args: AgentArgs) -> CliResult {
    super::server::init_logging();
    let joined = agent_client(global, &args, || match &args.node.node_name {
        Some(name) => Ok(name.clone()),
        None => super::secure::hostname(),
    })
    .await?;
    let listen = listen_addr(args.listen.as_deref(), super::node::DEFAULT_AGENT_LISTEN)?;
    warn_if_open(listen, joined.proxy_token.as_deref());
    let agent = super::node::start(
        joined.client,
        &args.node,
        args.lab_profile,
        listen,
        joined.proxy_token,
    )
    .await?;
    super::server::wait_for_signal().await?;
    tracing::info!("stopping the node agent; containers keep running");
    agent.shutdown().await;
    Ok(())
}
