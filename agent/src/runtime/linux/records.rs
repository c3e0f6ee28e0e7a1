//! The runtime's own records, one JSON file each: `sandbox.json` per pod
//! and `meta.json` per container (the monitor's files hold the rest).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::runtime::{SandboxState, SandboxStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    pub attempt: u32,
    pub hostname: String,
    pub host_network: bool,
    /// `guaranteed`, `burstable` or `besteffort`.
    pub qos: String,
    /// The pod's cgroup, relative to every hierarchy's root.
    pub cgroup: String,
    /// From CNI; `None` for host-network pods and once stopped.
    pub ip: Option<IpAddr>,
    /// Its network namespace and IP are up.
    pub ready: bool,
    /// The range the IP came from (CNI DEL needs the same network config).
    #[serde(default)]
    pub pod_cidr: Option<String>,
    /// `hostUsers: false`: first host id of the pod's 65536 ids.
    #[serde(default)]
    pub user_namespace_host_id: Option<u32>,
    #[serde(default)]
    pub time_offset_seconds: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl SandboxRecord {
    pub fn status(&self) -> SandboxStatus {
        SandboxStatus {
            pod_uid: self.pod_uid.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            attempt: self.attempt,
            ip: self.ip,
            state: if self.ready {
                SandboxState::Ready
            } else {
                SandboxState::NotReady
            },
            created_at: self.created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub name: String,
    pub restart_count: u32,
    pub image: String,
    /// `<repository>@<manifest digest>`.
    pub image_ref: String,
    pub created_at: DateTime<Utc>,
    /// The container's cgroup.
    pub cgroup: String,
    pub log_path: PathBuf,
    /// The signal `stop_container` sends first.
    pub stop_signal: i32,
    /// The host file bound at `terminationMessagePath`.
    pub termination_log: Option<PathBuf>,
}

pub fn load<T: DeserializeOwned>(path: &Path) -> std::io::Result<T> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a valid record: {e}", path.display()),
        )
    })
}

pub fn save<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    skiff_container::state::write_atomic(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let r = SandboxRecord {
            pod_uid: "u".into(),
            namespace: "ns".into(),
            name: "p".into(),
            attempt: 1,
            hostname: "p".into(),
            host_network: false,
            qos: "burstable".into(),
            cgroup: "skiff/burstable/podu".into(),
            ip: Some("10.1.0.2".parse().unwrap()),
            ready: true,
            pod_cidr: Some("10.1.0.0/24".into()),
            user_namespace_host_id: None,
            time_offset_seconds: None,
            created_at: Utc::now(),
        };
        let path = tmp.path().join("sandbox.json");
        save(&path, &r).unwrap();
        let back: SandboxRecord = load(&path).unwrap();
        assert_eq!(back, r);
        assert!(back.status().is_ready());
        std::fs::write(&path, b"{").unwrap();
        let err = load::<SandboxRecord>(&path).unwrap_err();
        assert!(err.to_string().contains("sandbox.json"));
    }
}
