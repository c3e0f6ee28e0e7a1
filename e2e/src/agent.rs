//! A `skiff agent --hollow` child process: N hollow nodes joined to a test server.

use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::server::Server;
use crate::skiff_bin;

pub struct HollowAgents {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl HollowAgents {
    /// Starts `nodes` hollow nodes (lab profile) against `server`.
    pub fn start(server: &Server, nodes: usize) -> anyhow::Result<HollowAgents> {
        let log = tempfile::NamedTempFile::new()?;
        let child = Command::new(skiff_bin())
            .args(["agent", "--hollow", "--lab-profile", "--nodes"])
            .arg(nodes.to_string())
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
