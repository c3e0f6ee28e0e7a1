//! A `skiff agent --hollow` child process: N hollow nodes joined to a test server.

use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::server::Server;
use crate::skiff_bin;

/// The agents' timings: `--lab-profile` (seconds) or Kubernetes' defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Lab,
    Default,
}

pub struct HollowAgents {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl HollowAgents {
    /// Starts `nodes` hollow nodes (lab profile) against `server`.
    pub fn start(server: &Server, nodes: usize) -> anyhow::Result<HollowAgents> {
        HollowAgents::start_with(server, nodes, Profile::Lab)
    }

    /// Starts `nodes` hollow nodes with the given timings against `server`.
    pub fn start_with(
        server: &Server,
        nodes: usize,
        profile: Profile,
    ) -> anyhow::Result<HollowAgents> {
        let log = tempfile::NamedTempFile::new()?;
        let mut cmd = Command::new(skiff_bin());
        cmd.args(["agent", "--hollow", "--nodes"])
            .arg(nodes.to_string());
        if profile == Profile::Lab {
            cmd.arg("--lab-profile");
        }
        let child = cmd
            .arg("--kubeconfig")
            .arg(&server.kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.reopen()?))
            .spawn()
            .context("starting skiff agent --hollow")?;
        Ok(HollowAgents { child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the agent process says all its nodes run (registered,
    /// podCIDRs awaited, pods syncing): Nodes are Ready before that.
    pub fn wait_running(&mut self, limit: std::time::Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if self.log().contains("hollow nodes running") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("skiff agent exited ({status}):\n{}", self.log());
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!("skiff agent not running after {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// What the agents logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for HollowAgents {
    fn drop(&mut self) {
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
