//! `<lab>/state.json`: what `lab up` made, written as it goes, so `down`
//! (or a failed `up`) removes exactly that: processes by PID (checked
//! against their start time, so a reused PID is never signalled), network
//! namespaces, cgroup parents.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::errors::{CliError, CliResult};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabState {
    pub name: String,
    pub dir: PathBuf,
    pub nodes: u32,
    /// Network namespaces, in creation order.
    pub netns: Vec<String>,
    pub cgroup_parents: Vec<String>,
    pub processes: Vec<LabProcess>,
    /// The server on the host's loopback.
    pub api_port: Option<u16>,
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabProcess {
    /// `server`, `relay`, `registry`, `node1`, ...
    pub role: String,
    pub pid: i32,
    /// `/proc/PID/stat` field 22: tells this process from a later one with
    /// the same PID.
    pub start_time: u64,
    /// The netns it was started in.
    pub netns: String,
    pub log: PathBuf,
    /// Its command line, so `lab start` can run it again.
    #[serde(default)]
    pub program: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
}

impl LabState {
    pub fn load(path: &Path) -> CliResult<Option<LabState>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CliError::msg(format!("reading {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::msg(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Written to a temporary file and renamed: never half a state.
    pub fn save(&self, path: &Path) -> CliResult {
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CliError::msg(format!("encoding the lab state: {e}")))?;
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| CliError::msg(format!("writing {}: {e}", path.display())))
    }

    pub fn process(&self, role: &str) -> Option<&LabProcess> {
        self.processes.iter().rev().find(|p| p.role == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(LabState::load(&path).unwrap().is_none());
        let mut s = LabState {
            name: "t".into(),
            nodes: 2,
            ..Default::default()
        };
        s.processes.push(LabProcess {
            role: "server".into(),
            pid: 42,
            start_time: 7,
            netns: "skiff-t-br".into(),
            log: "/x".into(),
            program: "/bin/skiff".into(),
            args: vec!["server".into()],
        });
        s.save(&path).unwrap();
        let back = LabState::load(&path).unwrap().unwrap();
        assert_eq!(back.nodes, 2);
        assert_eq!(back.process("server").unwrap().pid, 42);
        assert!(back.process("relay").is_none());
        std::fs::write(&path, "{").unwrap();
        assert!(LabState::load(&path).is_err());
    }
}
