//! A `skiff controller` child process (controllers and scheduler apart from
//! the API server), for clusters whose server runs `--disable-controllers`.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::skiff_bin;

pub struct ControllerProcess {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl ControllerProcess {
    /// Starts `skiff controller --kubeconfig KUBECONFIG` with `extra` flags.
    pub fn start(kubeconfig: &Path, extra: &[&str]) -> anyhow::Result<ControllerProcess> {
        let log = tempfile::NamedTempFile::new()?;
        let child = Command::new(skiff_bin())
            .arg("controller")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.reopen()?))
            .spawn()
            .context("starting skiff controller")?;
        Ok(ControllerProcess { child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
