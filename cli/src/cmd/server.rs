//! `skiff server`: the API server on the embedded SQLite store (or etcd),
//! the controllers and the scheduler in the same process, and a kubeconfig
//! that skiff and kubectl can both use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use skiff_client::Kubeconfig;
use skiff_store::Store;

use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Directory for the state (`state.db`) and the kubeconfig.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Address to serve the API on (repeatable; port 0 picks a free one).
    /// Non-loopback addresses serve TLS and require a token; loopback ones
    /// serve plain HTTP where every request has admin rights (anyone on
    /// this machine), unless --tls. The kubeconfig names the first.
    #[arg(long, default_value = "127.0.0.1:6443", value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Serve TLS (and require tokens) on loopback addresses too.
    #[arg(long)]
    pub tls: bool,
    /// Another name or IP for the serving certificate (repeatable).
    #[arg(long = "tls-san", value_name = "NAME|IP")]
    pub tls_san: Vec<String>,
    /// etcd endpoints (comma list) instead of the embedded store.
    #[arg(long, value_name = "URLS", value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// Key prefix in etcd, so that several clusters can share one etcd.
    #[arg(long, default_value = "/skiff", value_name = "PREFIX")]
    pub etcd_prefix: String,
    /// The range Service cluster IPs are allocated from.
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Option<String>,
    /// NodePort range, `30000-32767`.
    #[arg(long, value_name = "FROM-TO")]
    pub service_node_port_range: Option<String>,
    /// Where to write the kubeconfig (default DIR/kubeconfig).
    #[arg(long, value_name = "PATH")]
    pub write_kubeconfig: Option<PathBuf>,
    /// Run only the API server (controllers and scheduler elsewhere: `skiff controller`).
    #[arg(long)]
    pub disable_controllers: bool,
    #[command(flatten)]
    pub controllers: super::controller::ControllerFlags,
}

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn parse_port_range(s: &str) -> CliResult<(u16, u16)> {
    let bad = || {
        CliError::msg(format!(
            "invalid --service-node-port-range {s:?}: want FROM-TO"
        ))
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let from: u16 = a.trim().parse().map_err(|_| bad())?;
    let to: u16 = b.trim().parse().map_err(|_| bad())?;
    if from > to {
        return Err(bad());
    }
    Ok((from, to))
}

/// The address clients should use: a wildcard listen address is reached on loopback.
fn client_address(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

async fn open_store(args: &ServerArgs) -> CliResult<Arc<dyn Store>> {
    if args.etcd.is_empty() {
        let path = args.data_dir.join("state.db");
        let store = skiff_store::sqlite::SqliteStore::open(&path)
            .map_err(|e| CliError::msg(format!("opening {}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), "using the embedded SQLite store");
        Ok(Arc::new(store))
    } else {
        let store = skiff_store::etcd::EtcdStore::connect(&args.etcd, &args.etcd_prefix)
            .await
            .map_err(|e| {
                CliError::msg(format!("connecting to etcd {}: {e}", args.etcd.join(",")))
            })?;
        tracing::info!(endpoints = %args.etcd.join(","), prefix = %args.etcd_prefix, "using etcd");
        Ok(Arc::new(store))
    }
}

/// A started API server with its controllers (`skiff server`, `skiff up`).
pub(crate) struct StartedServer {
    server: skiff_apiserver::RunningServer,
    controllers: tokio::task::JoinSet<()>,
    /// The admin's connection settings: `http://127.0.0.1:PORT`, or
    /// `https://` with the CA and the admin token.
    pub client_config: skiff_client::ClusterConfig,
    pub kubeconfig: PathBuf,
    /// What the server presents to node agents (`skiff up` gives it to its
    /// in-process agent, which then requires it).
    pub proxy_token: String,
}

impl StartedServer {
    /// Stops the controllers, then the API server.
    pub async fn shutdown(mut self) {
        self.controllers.shutdown().await;
        self.server.shutdown().await;
    }
}

/// Opens the store, starts the API server, writes the kubeconfig and
/// starts the controllers (unless disabled).
pub(crate) async fn start(args: &ServerArgs) -> CliResult<StartedServer> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| CliError::msg(format!("creating {}: {e}", args.data_dir.display())))?;
    let Some((&first, extra)) = args.listen.split_first() else {
        return Err(CliError::msg("--listen: give at least one address"));
    };
    let security =
        super::secure::server_security(&args.data_dir, &args.listen, &args.tls_san, args.tls)?;
    let store = open_store(args).await?;
    let mut config = skiff_apiserver::ServerConfig::new(first, store);
    config.extra_listen = extra.to_vec();
    config.security = Some(security.clone());
    if let Some(cidr) = &args.service_cidr {
        config.service_cidr = cidr.clone();
    }
    if let Some(range) = &args.service_node_port_range {
        config.node_port_range = parse_port_range(range)?;
    }
    // The garbage collector runs with the controllers; without it Orphan and
    // Foreground deletions would wait for ever on their finalizers.
    config.garbage_collector = !args.disable_controllers;
    let server = skiff_apiserver::start(config).await.map_err(|e| {
        let addrs: Vec<String> = args.listen.iter().map(|a| a.to_string()).collect();
        CliError::msg(format!(
            "starting the API server on {}: {e:#}",
            addrs.join(", ")
        ))
    })?;
    let addr = server.local_addr();
    // The same rule the server applies to each listener.
    let tls = args.tls || !addr.ip().is_loopback();
    let url = format!(
        "{}://{}",
        if tls { "https" } else { "http" },
        client_address(addr)
    );
    let kubeconfig_path = args
        .write_kubeconfig
        .clone()
        .unwrap_or_else(|| args.data_dir.join("kubeconfig"));
    let kubeconfig = if tls {
        Kubeconfig::single(
            &url,
            Some(&security.tls.ca_pem),
            Some(&security.admin_token),
        )
    } else {
        Kubeconfig::single(&url, None, None)
    };
    let client_config = match kubeconfig.resolve(None) {
        Ok(c) => c,
        Err(e) => {
            server.shutdown().await;
            return Err(CliError::msg(e.to_string()));
        }
    };
    if let Err(e) = kubeconfig.write(&kubeconfig_path) {
        server.shutdown().await;
        return Err(CliError::msg(e.to_string()));
    }
    for a in server.local_addrs() {
        let secured = args.tls || !a.ip().is_loopback();
        let how = if secured {
            "https, tokens required"
        } else {
            "plain http, no authentication"
        };
        tracing::info!("skiff API server listening on {a} ({how})");
    }
    tracing::info!(
        "node join token (also in {}): {}",
        args.data_dir
            .join(skiff_apiserver::auth::NODE_TOKEN_FILE)
            .display(),
        security.join_token()
    );
    tracing::info!(
        "kubeconfig written to {0}; use it with: export KUBECONFIG={0}",
        kubeconfig_path.display()
    );

    let mut controllers = tokio::task::JoinSet::new();
    if !args.disable_controllers {
        let client = skiff_client::Client::new(client_config.clone())
            .map_err(|e| CliError::msg(e.to_string()))?;
        let ctx = args.controllers.context(client)?;
        skiff_controller::manager::start(
            &ctx,
            skiff_controller::manager::Parts::all(),
            &mut controllers,
        );
        tracing::info!("controllers and scheduler started");
    }
    Ok(StartedServer {
        server,
        controllers,
        client_config,
        kubeconfig: kubeconfig_path,
        proxy_token: security.proxy_token.clone(),
    })
}

pub async fn run(args: ServerArgs) -> CliResult {
    init_logging();
    let started = start(&args).await?;
    wait_for_signal().await?;
    tracing::info!("shutting down");
    started.shutdown().await;
    Ok(())
}

/// Returns on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() -> CliResult {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CliError::msg(format!("installing a SIGTERM handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| CliError::msg(format!("installing a SIGINT handler: {e}")))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("30000-32767").unwrap(), (30000, 32767));
        assert!(parse_port_range("3-1").is_err());
        assert!(parse_port_range("x").is_err());
    }

    #[test]
    fn wildcard_addresses_become_loopback() {
        let a: SocketAddr = "0.0.0.0:6443".parse().unwrap();
        assert_eq!(client_address(a).to_string(), "127.0.0.1:6443");
        let b: SocketAddr = "127.0.0.2:1".parse().unwrap();
        assert_eq!(client_address(b), b);
    }
}
