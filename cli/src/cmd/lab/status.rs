//! `skiff lab status`: the lab's processes, namespaces and nodes.

use clap::Args;
use skiff_api::core::Node;
use skiff_client::{Api, Client, Kubeconfig, ListParams};

use super::state::LabState;
use super::{LabFlags, procs};
use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub lab: LabFlags,
}

pub async fn run(args: StatusArgs) -> CliResult {
    let layout = args.lab.layout()?;
    let Some(state) = LabState::load(&layout.state_path())? else {
        println!("lab {} is not up", layout.name);
        return Ok(());
    };
    println!("lab:        {}", state.name);
    println!("directory:  {}", state.dir.display());
    if let Some(port) = state.api_port {
        println!(
            "API server: 127.0.0.1:{port} (in the lab: {})",
            super::layout::Layout::api_addr()
        );
    }
    if let Some(k) = &state.kubeconfig {
        println!("kubeconfig: {}", k.display());
    }
    println!("netns:      {}", state.netns.join(" "));
    println!();
    println!("{:<10} {:>8} {:<24} STATUS", "PROCESS", "PID", "NETNS");
    let mut down = 0;
    for p in &state.processes {
        let alive = procs::alive(p);
        down += usize::from(!alive);
        println!(
            "{:<10} {:>8} {:<24} {}",
            p.role,
            p.pid,
            p.netns,
            if alive { "running" } else { "exited" }
        );
    }
    if let Some(k) = &state.kubeconfig
        && let Ok(text) = std::fs::read_to_string(k)
        && let Ok(config) = Kubeconfig::from_yaml(&text)
        && let Ok(cluster) = config.resolve(None)
        && let Ok(client) = Client::new(cluster)
    {
        println!();
        match Api::<Node>::all(client).list(&ListParams::default()).await {
            Ok(list) => {
                println!(
                    "{:<10} {:<8} {:<16} POD-CIDR",
                    "NODE", "READY", "INTERNAL-IP"
                );
                for n in &list.items {
                    let ip = skiff_agent::routes::internal_ipv4(n)
                        .map(|i| i.to_string())
                        .unwrap_or_default();
                    let cidr = n
                        .spec
                        .as_ref()
                        .and_then(|s| s.pod_cidr.clone())
                        .unwrap_or_default();
                    println!(
                        "{:<10} {:<8} {:<16} {}",
                        n.metadata.name.as_deref().unwrap_or_default(),
                        super::up::node_ready(n),
                        ip,
                        cidr
                    );
                }
            }
            Err(e) => println!("nodes: the API server did not answer: {e}"),
        }
    }
    if down > 0 {
        return Err(CliError::msg(format!(
            "{down} of the lab's processes exited"
        )));
    }
    Ok(())
}
