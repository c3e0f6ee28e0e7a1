//! Faults and repairs on one lab node, for trying what a cluster does when
//! a node misbehaves: `lab kill NODE` stops its agent (its containers keep
//! running), `lab start NODE` runs the agent again with the same command
//! line (it adopts them), `lab link NODE down|up` cuts the node off the lab
//! network and back.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::layout::Layout;
use super::state::LabState;
use super::{LabFlags, netns, procs};
use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct KillArgs {
    #[command(flatten)]
    pub lab: LabFlags,
    /// node1, node2, ...
    pub node: String,
    /// SIGKILL (default: the agent gets no chance to clean up) or SIGTERM.
    #[arg(long, value_enum, default_value_t = Signal::Kill)]
    pub signal: Signal,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Signal {
    Kill,
    Term,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    #[command(flatten)]
    pub lab: LabFlags,
    /// node1, node2, ...
    pub node: String,
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    #[command(flatten)]
    pub lab: LabFlags,
    /// node1, node2, ...
    pub node: String,
    pub state: LinkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LinkState {
    Up,
    Down,
}

fn load(flags: &LabFlags, node: &str) -> CliResult<(Layout, LabState, u32)> {
    super::require_root()?;
    let layout = flags.layout()?;
    let state = LabState::load(&layout.state_path())?.ok_or_else(|| {
        CliError::msg(format!(
            "lab {0} is not up (skiff lab up --name {0})",
            layout.name
        ))
    })?;
    let n = Layout::parse_target(node, state.nodes)?;
    if n == 0 {
        return Err(CliError::msg(
            "want a node (node1, node2, ...), not the server",
        ));
    }
    Ok((layout, state, n))
}

pub async fn kill(args: KillArgs) -> CliResult {
    let (_, state, n) = load(&args.lab, &args.node)?;
    let role = Layout::node_name(n);
    let Some(p) = state.process(&role).filter(|p| procs::alive(p)) else {
        return Err(CliError::msg(format!("the agent of {role} is not running")));
    };
    let sig = match args.signal {
        Signal::Kill => libc::SIGKILL,
        Signal::Term => libc::SIGTERM,
    };
    // SAFETY: kill(2) on a PID whose start time was just checked.
    unsafe {
        libc::kill(p.pid, sig);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while procs::alive(p) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "stopped the agent of {role} (pid {}); its containers keep running",
        p.pid
    );
    Ok(())
}

pub async fn start(args: StartArgs) -> CliResult {
    let (layout, mut state, n) = load(&args.lab, &args.node)?;
    let role = Layout::node_name(n);
    let previous = state
        .process(&role)
        .cloned()
        .ok_or_else(|| CliError::msg(format!("{role} has no recorded agent")))?;
    if procs::alive(&previous) {
        return Err(CliError::msg(format!(
            "the agent of {role} runs (pid {}): skiff lab kill {role} first",
            previous.pid
        )));
    }
    if previous.args.is_empty() {
        return Err(CliError::msg(format!(
            "{role}'s command line was not recorded (a lab made by an older skiff)"
        )));
    }
    let p = procs::spawn(
        &role,
        &previous.program,
        &previous.args,
        &previous.netns,
        previous.log.clone(),
        None,
    )?;
    let pid = p.pid;
    state.processes.retain(|q| q.role != role);
    state.processes.push(p);
    state.save(&layout.state_path())?;
    println!("started the agent of {role} again (pid {pid})");
    Ok(())
}

pub async fn link(args: LinkArgs) -> CliResult {
    let (layout, _, n) = load(&args.lab, &args.node)?;
    let veth = format!("n{n}");
    let updown = match args.state {
        LinkState::Up => "up",
        LinkState::Down => "down",
    };
    // The lab side of the node's cable: the node keeps its own eth0 config.
    netns::ip(&["-n", &layout.bridge_netns(), "link", "set", &veth, updown])?;
    println!("{} link {updown}", Layout::node_name(n));
    Ok(())
}
