//! Exit notifications without polling: a pidfd on each container's monitor
//! becomes readable when the monitor exits, which it does right after
//! recording the container's exit; then the exit is pushed to the sink.

use std::time::Duration;

use skiff_container::state::{self, MONITOR_PID_FILE, ProcessIdentity};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::records::ContainerRecord;
use super::{LinuxRuntime, lock};
use crate::runtime::{ContainerId, RuntimeEvent, RuntimeEventKind};

impl LinuxRuntime {
    /// Watches the container's monitor (once per container) and reports
    /// the exit unless the agent caused it.
    pub(super) fn watch_exit(&self, record: ContainerRecord) {
        if !lock(&self.shared.watched).insert(record.id.clone()) {
            return;
        }
        let rt = self.clone();
        tokio::spawn(async move {
            let dir = rt.shared.paths.container(&record.id).dir;
            if let Some(monitor) = state::read_identity(&dir, MONITOR_PID_FILE) {
                wait_for_exit(monitor).await;
            }
            lock(&rt.shared.watched).remove(&record.id);
            let known = lock(&rt.shared.containers).contains_key(&record.id);
            let by_agent = lock(&rt.shared.stopping).contains(&record.id);
            if known && !by_agent {
                rt.emit(RuntimeEvent {
                    pod_uid: record.pod_uid.clone(),
                    namespace: record.pod_namespace.clone(),
                    name: record.pod_name.clone(),
                    container: ContainerId::new(record.id.clone()),
                    kind: RuntimeEventKind::Exited,
                });
            }
        });
    }
}

/// Resolves when the process `monitor` names has exited (at once if it
/// already has).
async fn wait_for_exit(monitor: ProcessIdentity) {
    let Ok(pidfd) = monitor.open_pidfd() else {
        return;
    };
    // SAFETY: the AsyncFd owns the pidfd, which stays open as long as it does.
    match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
        // Readable exactly when the process exits.
        Ok(fd) => {
            let _ = fd.readable().await;
        }
        Err(e) => {
            tracing::debug!(error = %e, "pidfd not pollable; polling the monitor");
            while monitor.is_alive() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
