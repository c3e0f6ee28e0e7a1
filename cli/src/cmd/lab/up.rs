//! `skiff lab up`: the lab network (runtime.md's recipe), the server in the
//! lab bridge's netns with a loopback relay on the host, one agent per node
//! netns; done when every node is Ready. Anything that fails on the way
//! tears down what was made.

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use skiff_api::core::Node;
use skiff_client::{Api, Client, Kubeconfig, ListParams};

use super::layout::{
    BRIDGE, CLUSTER_CIDR, LAB_PREFIX_LEN, Layout, MAX_NODES, NODE_IFACE, SERVER_IP, SERVICE_CIDR,
};
use super::state::LabState;
use super::{LabFlags, netns, procs, teardown};
use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub lab: LabFlags,
    /// How many nodes (network namespaces with an agent each).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub nodes: u32,
    /// Also write the host's kubeconfig here.
    #[arg(long, value_name = "PATH")]
    pub write_kubeconfig: Option<PathBuf>,
    /// The server's port on the host's 127.0.0.1 (0: a free one).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub api_port: u16,
    /// How long to wait for every node to be Ready.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    /// Extra flags for every agent (repeatable), e.g. --agent-arg=--proxy=false.
    #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
    pub agent_arg: Vec<String>,
}

pub async fn run(args: UpArgs) -> CliResult {
    super::require_root()?;
    if args.nodes == 0 || args.nodes > MAX_NODES {
        return Err(CliError::msg(format!(
            "--nodes {}: want 1 to {MAX_NODES}",
            args.nodes
        )));
    }
    let layout = args.lab.layout()?;
    if layout.state_path().exists() || !netns::list_with_prefix(&layout.netns_prefix()).is_empty() {
        return Err(CliError::msg(format!(
            "lab {0} already exists (skiff lab down --name {0})",
            layout.name
        )));
    }
    let started = Instant::now();
    for d in [layout.dir.clone(), layout.logs_dir(), layout.server_dir()] {
        std::fs::create_dir_all(&d)
            .map_err(|e| CliError::msg(format!("creating {}: {e}", d.display())))?;
    }
    let mut state = LabState {
        name: layout.name.clone(),
        dir: layout.dir.clone(),
        nodes: args.nodes,
        ..Default::default()
    };
    state.save(&layout.state_path())?;
    match build(&layout, &args, &mut state).await {
        Ok(kubeconfig) => {
            println!(
                "lab {} is up: {} nodes Ready in {:.1}s",
                layout.name,
                args.nodes,
                started.elapsed().as_secs_f64()
            );
            println!("kubeconfig: {}", kubeconfig.display());
            println!("  export KUBECONFIG={}", kubeconfig.display());
            Ok(())
        }
        Err(e) => {
            eprintln!("lab up failed: {}", e.render().unwrap_or_default());
            eprintln!("logs were in {}; tearing down", layout.logs_dir().display());
            print_log_tails(&state);
            let _ = state.save(&layout.state_path());
            if let Err(t) = teardown::teardown(&layout, Some(&state)) {
                eprintln!("{}", t.render().unwrap_or_default());
            }
            Err(CliError::Reported)
        }
    }
}

/// The last lines of each process's log, before they are removed.
fn print_log_tails(state: &LabState) {
    for p in &state.processes {
        let text = std::fs::read_to_string(&p.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(8)..];
        if !tail.is_empty() {
            eprintln!("--- {} ({}):", p.role, p.log.display());
            for l in tail {
                eprintln!("  {l}");
            }
        }
    }
}

async fn build(layout: &Layout, args: &UpArgs, state: &mut LabState) -> CliResult<PathBuf> {
    let state_path = layout.state_path();
    network(layout, args.nodes, state)?;
    state.save(&state_path)?;

    let exe = lab_binary(layout)?;
    let br = layout.bridge_netns();
    let server_args: Vec<String> = vec![
        "server".into(),
        "--data-dir".into(),
        path_arg(&layout.server_dir()),
        "--listen".into(),
        Layout::api_addr().to_string(),
        "--write-kubeconfig".into(),
        path_arg(&layout.server_kubeconfig()),
        "--lab-profile".into(),
        "--cluster-cidr".into(),
        CLUSTER_CIDR.into(),
        "--service-cidr".into(),
        SERVICE_CIDR.into(),
    ];
    let server = procs::spawn(
        "server",
        &exe,
        &server_args,
        &br,
        layout.logs_dir().join("server.log"),
        None,
    )?;
    state.processes.push(server);
    state.save(&state_path)?;

    // The host's loopback listener, handed to a relay that lives in the lab.
    let listener = TcpListener::bind(("127.0.0.1", args.api_port))
        .map_err(|e| CliError::msg(format!("binding 127.0.0.1:{}: {e}", args.api_port)))?;
    let port = listener
        .local_addr()
        .map_err(|e| CliError::msg(e.to_string()))?
        .port();
    let relay = procs::spawn(
        "relay",
        &exe,
        &[
            "lab".into(),
            "relay".into(),
            "--to".into(),
            Layout::api_addr().to_string(),
        ],
        &br,
        layout.logs_dir().join("relay.log"),
        Some(listener.as_raw_fd()),
    )?;
    drop(listener);
    state.processes.push(relay);
    state.api_port = Some(port);
    state.save(&state_path)?;

    let server_kubeconfig = wait_for_file(&layout.server_kubeconfig(), state, "server").await?;
    let host = host_kubeconfig(&server_kubeconfig, port)?;
    host.write(&layout.host_kubeconfig())
        .map_err(|e| CliError::msg(e.to_string()))?;
    let mut kubeconfig = layout.host_kubeconfig();
    if let Some(path) = &args.write_kubeconfig {
        host.write(path).map_err(|e| CliError::msg(e.to_string()))?;
        kubeconfig = path.clone();
    }
    state.kubeconfig = Some(kubeconfig.clone());
    state.save(&state_path)?;

    // A TLS server wrote a join token: nodes join with it (and get node
    // identities the server restricts); else they use its kubeconfig.
    let node_token = layout.server_dir().join("node-token");
    let credentials: Vec<String> = if node_token.is_file() {
        let server = Kubeconfig::from_yaml(&server_kubeconfig)
            .ok()
            .and_then(|k| k.clusters.first().map(|c| c.cluster.server.clone()))
            .unwrap_or_else(|| format!("https://{}", Layout::api_addr()));
        vec![
            "--server".into(),
            server,
            "--token-file".into(),
            path_arg(&node_token),
        ]
    } else {
        vec!["--kubeconfig".into(), path_arg(&layout.server_kubeconfig())]
    };
    for n in 1..=args.nodes {
        let node_dir = layout.node_dir(n);
        std::fs::create_dir_all(&node_dir)
            .map_err(|e| CliError::msg(format!("creating {}: {e}", node_dir.display())))?;
        let mut agent_args: Vec<String> = vec!["agent".into()];
        agent_args.extend(credentials.clone());
        agent_args.extend([
            "--lab-profile".into(),
            "--node-name".into(),
            Layout::node_name(n),
            "--node-ip".into(),
            Layout::node_ip(n).to_string(),
            "--iface".into(),
            NODE_IFACE.into(),
            "--enable-ip-forward".into(),
            "--root".into(),
            path_arg(&node_dir.join("agent")),
            "--image-root".into(),
            path_arg(&node_dir.join("images")),
            "--cgroup-parent".into(),
            layout.cgroup_parent(n),
            "--registry-mirror".into(),
            format!("docker.io=http://{}", Layout::registry_addr()),
            "--insecure-registry".into(),
            Layout::registry_addr().to_string(),
            "--listen".into(),
            format!("{}:10250", Layout::node_ip(n)),
            "--service-cidr".into(),
            SERVICE_CIDR.into(),
            "--proxy-cluster-cidr".into(),
            CLUSTER_CIDR.into(),
        ]);
        agent_args.extend(args.agent_arg.iter().cloned());
        state.cgroup_parents.push(layout.cgroup_parent(n));
        let agent = procs::spawn(
            &Layout::node_name(n),
            &exe,
            &agent_args,
            &layout.node_netns(n),
            layout
                .logs_dir()
                .join(format!("{}.log", Layout::node_name(n))),
            None,
        )?;
        state.processes.push(agent);
        state.save(&state_path)?;
    }

    let client = Client::new(
        host.resolve(None)
            .map_err(|e| CliError::msg(e.to_string()))?,
    )
    .map_err(|e| CliError::msg(e.to_string()))?;
    wait_nodes_ready(&client, state, Duration::from_secs(args.timeout)).await?;
    Ok(kubeconfig)
}

/// The lab's own copy of this program (a hard link when possible), so that
/// rebuilding or upgrading skiff while the lab runs changes nothing in it.
fn lab_binary(layout: &Layout) -> CliResult<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let dir = layout.dir.join("bin");
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::msg(format!("creating {}: {e}", dir.display())))?;
    let target = dir.join("skiff");
    let running = std::fs::metadata("/proc/self/exe")
        .map_err(|e| CliError::msg(format!("finding this program: {e}")))?;
    let linked = std::env::current_exe().ok().is_some_and(|path| {
        std::fs::metadata(&path).is_ok_and(|m| m.ino() == running.ino() && m.dev() == running.dev())
            && std::fs::hard_link(&path, &target).is_ok()
    });
    if !linked {
        std::fs::copy("/proc/self/exe", &target).map_err(|e| {
            CliError::msg(format!("copying this program to {}: {e}", target.display()))
        })?;
    }
    Ok(target)
}

fn path_arg(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The lab link: a bridge in the lab netns holding the server address, a
/// veth to each node's eth0, forwarding on in each node, no default route.
fn network(layout: &Layout, nodes: u32, state: &mut LabState) -> CliResult {
    let br = layout.bridge_netns();
    state.netns.push(br.clone());
    netns::add(&br)?;
    let server_cidr = format!("{SERVER_IP}/{LAB_PREFIX_LEN}");
    netns::ip(&["-n", &br, "link", "add", BRIDGE, "type", "bridge"])?;
    netns::ip(&["-n", &br, "addr", "add", &server_cidr, "dev", BRIDGE])?;
    netns::ip(&["-n", &br, "link", "set", BRIDGE, "up"])?;
    for n in 1..=nodes {
        let node = layout.node_netns(n);
        state.netns.push(node.clone());
        netns::add(&node)?;
        let veth = format!("n{n}");
        netns::ip(&[
            "-n", &br, "link", "add", &veth, "type", "veth", "peer", "name", NODE_IFACE, "netns",
            &node,
        ])?;
        netns::ip(&["-n", &br, "link", "set", &veth, "master", BRIDGE, "up"])?;
        let addr = format!("{}/{LAB_PREFIX_LEN}", Layout::node_ip(n));
        netns::ip(&["-n", &node, "addr", "add", &addr, "dev", NODE_IFACE])?;
        netns::ip(&["-n", &node, "link", "set", NODE_IFACE, "up"])?;
        // No default route in a lab node: without a route for the service
        // range, the node's own connections to a ClusterIP would fail before
        // the proxy's DNAT; unmatched ones are rejected by the proxy.
        netns::ip(&["-n", &node, "route", "add", SERVICE_CIDR, "dev", NODE_IFACE])?;
        netns::enable_forwarding(&node)?;
    }
    Ok(())
}

/// Waits for `path` while the process `role` lives.
async fn wait_for_file(path: &std::path::Path, state: &LabState, role: &str) -> CliResult<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return Ok(text);
        }
        if let Some(p) = state.process(role)
            && !procs::alive(p)
        {
            return Err(CliError::msg(format!(
                "the {role} exited; see {}",
                p.log.display()
            )));
        }
        if Instant::now() > deadline {
            return Err(CliError::msg(format!(
                "the {role} did not write {} within 30s",
                path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server's kubeconfig, pointed at the host's loopback relay (the
/// serving certificate always names 127.0.0.1).
pub fn host_kubeconfig(server_kubeconfig: &str, port: u16) -> CliResult<Kubeconfig> {
    let mut k = Kubeconfig::from_yaml(server_kubeconfig)
        .map_err(|e| CliError::msg(format!("reading the server's kubeconfig: {e}")))?;
    for c in &mut k.clusters {
        let scheme = c
            .cluster
            .server
            .split_once("://")
            .map_or("http", |(s, _)| s)
            .to_string();
        c.cluster.server = format!("{scheme}://127.0.0.1:{port}");
    }
    Ok(k)
}

async fn wait_nodes_ready(client: &Client, state: &LabState, timeout: Duration) -> CliResult {
    let deadline = Instant::now() + timeout;
    let wanted: Vec<String> = (1..=state.nodes).map(Layout::node_name).collect();
    let api: Api<Node> = Api::all(client.clone());
    loop {
        let last = match api.list(&ListParams::default()).await {
            Ok(list) => {
                let ready: Vec<String> = list
                    .items
                    .iter()
                    .filter(|n| node_ready(n))
                    .filter_map(|n| n.metadata.name.clone())
                    .collect();
                let missing: Vec<&String> = wanted.iter().filter(|w| !ready.contains(w)).collect();
                if missing.is_empty() {
                    return Ok(());
                }
                format!("not Ready yet: {missing:?}")
            }
            Err(e) => e.to_string(),
        };
        for p in &state.processes {
            if !procs::alive(p) {
                return Err(CliError::msg(format!(
                    "{} exited; see {}",
                    p.role,
                    p.log.display()
                )));
            }
        }
        if Instant::now() > deadline {
            return Err(CliError::msg(format!(
                "nodes not Ready within {}s: {last}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn node_ready(node: &Node) -> bool {
    node.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_kubeconfig_points_at_the_relay() {
        let k = Kubeconfig::single("http://10.250.0.254:6443", None, None)
            .to_yaml()
            .unwrap();
        let h = host_kubeconfig(&k, 4321).unwrap();
        assert_eq!(h.clusters[0].cluster.server, "http://127.0.0.1:4321");
        let k = Kubeconfig::single("https://10.250.0.254:6443", None, Some("t"))
            .to_yaml()
            .unwrap();
        let h = host_kubeconfig(&k, 4321).unwrap();
        assert_eq!(h.clusters[0].cluster.server, "https://127.0.0.1:4321");
        assert_eq!(h.users[0].user.token.as_deref(), Some("t"));
    }
}
