//! `skiff lab exec NODE -- CMD...`: CMD in that node's network namespace
//! (only the network: files and processes are the host's, so the host's
//! tools work there), with this terminal; exits with CMD's status.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;

use clap::Args;

use super::layout::Layout;
use super::state::LabState;
use super::{LabFlags, netns};
use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub lab: LabFlags,
    /// node1, node2, ... (or `server`: the lab bridge's netns).
    pub node: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

pub async fn run(args: ExecArgs) -> CliResult {
    let layout = args.lab.layout()?;
    let state = LabState::load(&layout.state_path())?.ok_or_else(|| {
        CliError::msg(format!(
            "lab {0} is not up (skiff lab up --name {0})",
            layout.name
        ))
    })?;
    let n = Layout::parse_target(&args.node, state.nodes)?;
    let ns = netns::open(&layout.target_netns(n))?;
    let ns_fd = std::os::fd::AsRawFd::as_raw_fd(&ns);
    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..]);
    if let Some(k) = &state.kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    // SAFETY: setns only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = tokio::task::spawn_blocking(move || cmd.status())
        .await
        .map_err(|e| CliError::msg(e.to_string()))?
        .map_err(|e| CliError::msg(format!("running {:?}: {e}", args.command[0])))?;
    drop(ns);
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    if code == 0 {
        Ok(())
    } else {
        std::process::exit(code);
    }
}
