//! After a restart: every sandbox and container recorded under the root is
//! known again (restart counts and exits from disk), running containers'
//! exits are watched again, and leftovers are cleaned up: container
//! directories without a complete record, IPs held for no known sandbox.

use skiff_container::sandbox;

use super::records::{self, ContainerRecord, SandboxRecord};
use super::{LinuxRuntime, blocking, lock};
use crate::runtime::RuntimeResult;

/// What was found on disk.
struct Found {
    sandboxes: Vec<SandboxRecord>,
    containers: Vec<ContainerRecord>,
}

impl LinuxRuntime {
    pub(super) async fn adopt(&self) -> RuntimeResult<()> {
        let paths = self.shared.paths.clone();
        let found = blocking(move || {
            let mut sandboxes = Vec::new();
            for dir in subdirs(&paths.sandboxes()) {
                let Ok(mut record) = records::load::<SandboxRecord>(&dir.join("sandbox.json"))
                else {
                    // Volumes of a pod whose sandbox never got recorded.
                    continue;
                };
                // A sandbox whose pins are gone (a reboot) cannot run containers.
                let pins = sandbox::open(&dir.join("ns"));
                let intact = pins
                    .as_ref()
                    .is_some_and(|p| record.host_network || p.net.is_some());
                if record.ready && !intact {
                    record.ready = false;
                    record.ip = None;
                }
                sandboxes.push(record);
            }
            let mut containers = Vec::new();
            for dir in subdirs(&paths.containers()) {
                let complete = dir.join(skiff_container::spec::SPEC_FILE).is_file();
                match records::load::<ContainerRecord>(&dir.join("meta.json")) {
                    Ok(record) if complete => containers.push(record),
                    _ => {
                        // Created half-way when the agent died: never started.
                        tracing::info!(dir = %dir.display(), "removing an incomplete container");
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                }
            }
            Ok(Found {
                sandboxes,
                containers,
            })
        })
        .await?;
        tracing::info!(
            sandboxes = found.sandboxes.len(),
            containers = found.containers.len(),
            "adopted the runtime's state"
        );
        {
            let mut map = lock(&self.shared.sandboxes);
            for s in found.sandboxes {
                map.insert(s.pod_uid.clone(), s);
            }
        }
        {
            let mut map = lock(&self.shared.containers);
            for c in &found.containers {
                map.insert(c.id.clone(), c.clone());
            }
        }
        for c in found.containers {
            let dir = self.shared.paths.container(&c.id).dir;
            if skiff_container::state::monitor_pid(&dir).is_some() {
                self.watch_exit(c);
            }
        }
        self.collect_leaked_ips().await;
        Ok(())
    }

    /// IPs held in the CNI data directory for sandboxes no longer known.
    async fn collect_leaked_ips(&self) {
        let live: Vec<SandboxRecord> = lock(&self.shared.sandboxes)
            .values()
            .filter(|s| s.ready && !s.host_network)
            .cloned()
            .collect();
        let live_ids: std::collections::HashSet<String> =
            live.iter().map(|s| s.pod_uid.clone()).collect();
        let cidr = live.iter().find_map(|s| s.pod_cidr.clone());
        let Ok(cni) = self.cni(Some(cidr.as_deref().unwrap_or("10.88.0.0/16"))) else {
            return;
        };
        if let Err(e) = cni.gc(&live_ids).await {
            tracing::warn!(error = %e, "collecting leaked pod IPs");
        }
    }
}

fn subdirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}
