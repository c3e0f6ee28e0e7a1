//! Containers: create (image, spec.json, record), start (the monitor),
//! stop (stop signal, grace, SIGKILL to the cgroup), remove, status, stats.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_container::sandbox;
use skiff_container::spec::{
    CgroupSpec, ContainerSpec, IdMapping, LogSpec, MountKind, MountSpec, NamespacesSpec, RootfsSpec,
};
use skiff_container::state::{self, Status};

use super::paths::ContainerPaths;
use super::process;
use super::records::{self, ContainerRecord, SandboxRecord};
use super::{LinuxRuntime, blocking, failed, lock};
use crate::runtime::{
    ContainerConfig, ContainerId, ContainerInfo, ContainerState, ContainerStats, ExitReason,
    RuntimeError, RuntimeResult, StopOptions, signal,
};

/// The kubelet's limit on a termination message.
const MAX_TERMINATION_MESSAGE: u64 = 4096;

/// How long a SIGKILLed container may take to be recorded as exited.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl LinuxRuntime {
    pub(super) async fn create_container_impl(
        &self,
        pod_uid: &str,
        config: &ContainerConfig,
    ) -> RuntimeResult<ContainerId> {
        let started = std::time::Instant::now();
        let sb = self
            .sandbox_record(pod_uid)
            .ok_or_else(|| RuntimeError::NotFound(format!("sandbox of pod {pod_uid}")))?;
        if !sb.ready {
            return Err(RuntimeError::Failed(format!(
                "the sandbox of pod {pod_uid} is not ready"
            )));
        }
        let image = self
            .ensure_image(&config.image, &config.image_pull_policy)
            .await?;
        let qos_class = match sb.qos.as_str() {
            "guaranteed" => "Guaranteed",
            "besteffort" => "BestEffort",
            _ => "Burstable",
        };
        let resolved = process::resolve(&image.config, config, qos_class)
            .map_err(RuntimeError::InvalidConfig)?;
        let id = new_container_id();
        let cp = self.shared.paths.container(&id);
        let log_path = self.shared.paths.container_log(
            &sb.namespace,
            &sb.name,
            pod_uid,
            &config.name,
            config.restart_count,
        );
        let cgroup = format!("{}/{id}", sb.cgroup);
        let termination_log = config
            .termination_message_path
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(|_| cp.termination_log());
        let mounts = self.mounts(&sb, config, termination_log.as_deref())?;
        let ns_dir = self.shared.paths.sandbox(pod_uid).namespaces();
        let spec = ContainerSpec {
            id: id.clone(),
            rootfs: RootfsSpec {
                layers: self.shared.images.layer_dirs(&image),
                upper_dir: cp.upper(),
                work_dir: cp.work(),
                merged_dir: cp.merged(),
                readonly: resolved.readonly_rootfs,
            },
            process: resolved.process.clone(),
            namespaces: NamespacesSpec {
                net: (!sb.host_network).then(|| ns_dir.join(sandbox::NET_PIN)),
                ipc: Some(ns_dir.join(sandbox::IPC_PIN)),
                uts: Some(ns_dir.join(sandbox::UTS_PIN)),
                hostname: None,
                cgroup: true,
                user: sb.user_namespace_host_id.map(|host_id| IdMapping {
                    host_id,
                    size: 65536,
                }),
                time_offset_seconds: sb.time_offset_seconds,
            },
            mounts,
            masked_paths: resolved.masked_paths,
            readonly_paths: resolved.readonly_paths,
            cgroup: CgroupSpec {
                path: cgroup.clone(),
                resources: process::cgroup_resources(
                    &config.resources,
                    self.shared.config.pids_limit,
                ),
            },
            log: LogSpec {
                path: log_path.clone(),
                max_size_bytes: self.shared.config.log_max_size_bytes,
                max_files: self.shared.config.log_max_files,
            },
            stdin: config.stdin,
            stdin_once: config.stdin_once,
        };
        let record = ContainerRecord {
            id: id.clone(),
            pod_uid: pod_uid.to_string(),
            pod_namespace: sb.namespace.clone(),
            pod_name: sb.name.clone(),
            name: config.name.clone(),
            restart_count: config.restart_count,
            image: config.image.clone(),
            image_ref: image_ref(&image.reference, &image.manifest_digest.to_string()),
            created_at: Utc::now(),
            cgroup,
            log_path,
            stop_signal: resolved.process.stop_signal,
            termination_log,
        };
        let rec = record.clone();
        blocking(move || write_container(&cp, &spec, &rec)).await?;
        tracing::debug!(
            pod = %sb.name,
            container = %config.name,
            ms = started.elapsed().as_millis() as u64,
            "container created"
        );
        lock(&self.shared.containers).insert(id.clone(), record);
        Ok(ContainerId::new(id))
    }

    /// Volumes, the pod's files, `/dev/shm` and the termination-message file.
    fn mounts(
        &self,
        sb: &SandboxRecord,
        config: &ContainerConfig,
        termination_log: Option<&Path>,
    ) -> RuntimeResult<Vec<MountSpec>> {
        let sp = self.shared.paths.sandbox(&sb.pod_uid);
        let bind = |source: PathBuf, destination: &str, readonly: bool| MountSpec {
            destination: destination.to_string(),
            kind: MountKind::Bind { source },
            readonly,
        };
        let mut mounts = Vec::with_capacity(config.mounts.len() + 5);
        for m in &config.mounts {
            if !m.container_path.starts_with('/') {
                return Err(RuntimeError::InvalidConfig(format!(
                    "mount path {:?} is not absolute",
                    m.container_path
                )));
            }
            let source = match &m.sub_path {
                Some(sub) => m.host_path.join(sub),
                None => m.host_path.clone(),
            };
            mounts.push(bind(source, &m.container_path, m.read_only));
        }
        let mounted = |dest: &str| config.mounts.iter().any(|m| m.container_path == dest);
        for (source, dest) in [
            (sp.hosts(), "/etc/hosts"),
            (sp.resolv_conf(), "/etc/resolv.conf"),
            (sp.hostname(), "/etc/hostname"),
            (sp.namespaces().join(sandbox::SHM_DIR), "/dev/shm"),
        ] {
            if !mounted(dest) {
                mounts.push(bind(source, dest, false));
            }
        }
        if let (Some(file), Some(dest)) = (termination_log, &config.termination_message_path) {
            if !dest.starts_with('/') {
                return Err(RuntimeError::InvalidConfig(format!(
                    "terminationMessagePath {dest:?} is not absolute"
                )));
            }
            mounts.push(bind(file.to_path_buf(), dest, false));
        }
        Ok(mounts)
    }

    pub(super) async fn start_container_impl(&self, id: &ContainerId) -> RuntimeResult<()> {
        let record = self.container_record(id)?;
        let dir = self.shared.paths.container(&record.id).dir;
        let status = {
            let dir = dir.clone();
            blocking(move || read_status(&dir)).await?
        };
        if !matches!(status, Status::Created) {
            return Err(RuntimeError::Failed(format!(
                "container {id} was already started"
            )));
        }
        let started = std::time::Instant::now();
        let output = tokio::process::Command::new(&self.shared.config.helper_program)
            .arg("container-monitor")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .map_err(|e| {
                failed(
                    format!(
                        "starting the monitor {}",
                        self.shared.config.helper_program.display()
                    ),
                    e,
                )
            })?;
        if !output.status.success() {
            let reason = String::from_utf8_lossy(&output.stderr).trim().to_string();
            let reason = if reason.is_empty() {
                format!("the monitor exited with {}", output.status)
            } else {
                reason
            };
            return Err(RuntimeError::Failed(format!(
                "starting container {}: {reason}",
                record.name
            )));
        }
        tracing::debug!(
            pod = %record.pod_name,
            container = %record.name,
            ms = started.elapsed().as_millis() as u64,
            "container started by its monitor"
        );
        self.watch_exit(record);
        Ok(())
    }

    pub(super) async fn stop_container_impl(
        &self,
        id: &ContainerId,
        options: StopOptions,
    ) -> RuntimeResult<()> {
        let record = self.container_record(id)?;
        lock(&self.shared.stopping).insert(record.id.clone());
        let result = self.stop_with(&record, options).await;
        lock(&self.shared.stopping).remove(&record.id);
        result
    }

    async fn stop_with(&self, record: &ContainerRecord, options: StopOptions) -> RuntimeResult<()> {
        let dir = self.shared.paths.container(&record.id).dir;
        if !self.is_live(&dir).await? {
            return Ok(());
        }
        let sig = options.signal.unwrap_or(record.stop_signal);
        if sig != signal::SIGKILL {
            let d = dir.clone();
            let sent = blocking(move || Ok(state::signal_container(&d, sig))).await?;
            if let Err(e) = sent {
                tracing::debug!(container = %record.id, error = %e, "stop signal not delivered");
            }
            if self.wait_exit(&dir, options.grace).await? {
                return Ok(());
            }
        }
        self.kill_and_wait(record, Duration::ZERO).await
    }

    /// SIGKILL to every process of the container's cgroup (after `grace`
    /// if it is not zero), then waits until the exit is recorded.
    pub(super) async fn kill_and_wait(
        &self,
        record: &ContainerRecord,
        grace: Duration,
    ) -> RuntimeResult<()> {
        let dir = self.shared.paths.container(&record.id).dir;
        if !self.is_live(&dir).await? {
            return Ok(());
        }
        if !grace.is_zero() && self.wait_exit(&dir, grace).await? {
            return Ok(());
        }
        let cgroups = self.shared.cgroups.clone();
        let cgroup = record.cgroup.clone();
        let d = dir.clone();
        blocking(move || {
            if cgroups.exists(&cgroup) {
                cgroups
                    .kill_all(&cgroup)
                    .map_err(|e| failed(format!("killing the processes of {cgroup}"), e))?;
            } else if let Err(e) = state::signal_container(&d, libc::SIGKILL) {
                tracing::debug!(error = %e, "SIGKILL not delivered");
            }
            Ok(())
        })
        .await?;
        if self.wait_exit(&dir, KILL_WAIT).await? {
            Ok(())
        } else {
            Err(RuntimeError::Failed(format!(
                "container {} did not exit {KILL_WAIT:?} after SIGKILL",
                record.id
            )))
        }
    }

    /// [`kill_and_wait`](Self::kill_and_wait) as the agent's doing: no event.
    pub(super) async fn kill_quietly(&self, record: &ContainerRecord) -> RuntimeResult<()> {
        lock(&self.shared.stopping).insert(record.id.clone());
        let result = self.kill_and_wait(record, Duration::ZERO).await;
        lock(&self.shared.stopping).remove(&record.id);
        result
    }

    /// True while the container may still run (created with a live
    /// monitor, or running).
    async fn is_live(&self, dir: &Path) -> RuntimeResult<bool> {
        let d = dir.to_path_buf();
        blocking(move || {
            Ok(match read_status(&d)? {
                Status::Running { .. } => true,
                Status::Created => state::monitor_pid(&d).is_some(),
                Status::Exited(_) | Status::Failed { .. } => false,
            })
        })
        .await
    }

    /// Waits up to `limit` for the exit to be recorded; true if it was.
    async fn wait_exit(&self, dir: &Path, limit: Duration) -> RuntimeResult<bool> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if !self.is_live(dir).await? {
                // The monitor writes exit.json after draining the output.
                let d = dir.to_path_buf();
                let settled = blocking(move || {
                    Ok(state::monitor_pid(&d).is_none()
                        || matches!(read_status(&d)?, Status::Exited(_) | Status::Failed { .. }))
                })
                .await?;
                if settled {
                    return Ok(true);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(super) async fn remove_container_impl(&self, id: &ContainerId) -> RuntimeResult<()> {
        let Ok(record) = self.container_record(id) else {
            return Ok(());
        };
        self.remove_container_record(&record).await
    }

    pub(super) async fn remove_container_record(
        &self,
        record: &ContainerRecord,
    ) -> RuntimeResult<()> {
        self.kill_quietly(record).await?;
        let cp = self.shared.paths.container(&record.id);
        let cgroups = self.shared.cgroups.clone();
        let rec = record.clone();
        blocking(move || {
            if cgroups.exists(&rec.cgroup) {
                cgroups
                    .remove(&rec.cgroup)
                    .map_err(|e| failed(format!("removing the cgroup {}", rec.cgroup), e))?;
            }
            remove_logs(&rec.log_path);
            match std::fs::remove_dir_all(&cp.dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(failed(format!("removing {}", cp.dir.display()), e))
                }
                _ => Ok(()),
            }
        })
        .await?;
        lock(&self.shared.containers).remove(&record.id);
        lock(&self.shared.watched).remove(&record.id);
        Ok(())
    }

    /// What the agent sees of a container (blocking: reads its state files).
    pub(super) fn info(&self, record: &ContainerRecord) -> RuntimeResult<ContainerInfo> {
        let dir = self.shared.paths.container(&record.id).dir;
        let state = match read_status(&dir)? {
            Status::Created => ContainerState::Created,
            Status::Running { started_at, .. } => ContainerState::Running { started_at },
            Status::Exited(exit) => ContainerState::Exited {
                exit_code: exit.exit_code,
                signal: exit.signal,
                reason: if exit.oom_killed {
                    ExitReason::OomKilled
                } else {
                    ExitReason::from_code(exit.exit_code)
                },
                message: record
                    .termination_log
                    .as_deref()
                    .and_then(read_termination_message),
                started_at: exit.started_at,
                finished_at: exit.finished_at,
            },
            Status::Failed { message } => ContainerState::Exited {
                // What the kubelet reports for a container that could not start.
                exit_code: 128,
                signal: None,
                reason: ExitReason::Error,
                message: Some(message),
                started_at: None,
                finished_at: modified(&dir.join(state::ERROR_FILE)).unwrap_or_else(Utc::now),
            },
        };
        Ok(ContainerInfo {
            id: ContainerId::new(record.id.clone()),
            pod_uid: record.pod_uid.clone(),
            name: record.name.clone(),
            restart_count: record.restart_count,
            image: record.image.clone(),
            image_ref: record.image_ref.clone(),
            ready: state.is_running(),
            state,
            created_at: record.created_at,
        })
    }

    pub(super) async fn stats_impl(&self, id: &ContainerId) -> RuntimeResult<ContainerStats> {
        let record = self.container_record(id)?;
        let cgroups = self.shared.cgroups.clone();
        blocking(move || {
            let stats = cgroups
                .stats(&record.cgroup)
                .map_err(|e| failed(format!("reading the stats of {}", record.cgroup), e))?;
            Ok(ContainerStats {
                timestamp: Utc::now(),
                cpu_usage_nanos: stats.cpu_usage_nanos,
                memory_working_set_bytes: stats.memory_working_set_bytes,
            })
        })
        .await
    }
}

pub(super) fn read_status(dir: &Path) -> RuntimeResult<Status> {
    state::read_status(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RuntimeError::NotFound(e.to_string()),
        _ => failed("reading the container's state", e),
    })
}

/// 32 hex digits: unique on the node, and the container cgroup's name.
fn new_container_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `docker.io/library/busybox:latest` + digest -> `docker.io/library/busybox@sha256:...`.
fn image_ref(reference: &str, digest: &str) -> String {
    let repo = match reference.split_once('@') {
        Some((repo, _)) => repo,
        None => {
            // A tag follows the last ':' after the last '/'.
            let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
            match reference[last_slash..].rfind(':') {
                Some(i) => &reference[..last_slash + i],
                None => reference,
            }
        }
    };
    format!("{repo}@{digest}")
}

fn write_container(
    cp: &ContainerPaths,
    spec: &ContainerSpec,
    record: &ContainerRecord,
) -> RuntimeResult<()> {
    let mk = |dir: &Path| {
        std::fs::create_dir_all(dir).map_err(|e| failed(format!("creating {}", dir.display()), e))
    };
    for dir in [cp.dir.clone(), cp.upper(), cp.work(), cp.merged()] {
        mk(&dir)?;
    }
    if let Some(parent) = spec.log.path.parent() {
        mk(parent)?;
    }
    if let Some(file) = &record.termination_log {
        std::fs::write(file, b"").map_err(|e| failed(format!("creating {}", file.display()), e))?;
        // Any user in the container may write its message.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o666));
    }
    records::save(&cp.meta(), record).map_err(|e| failed("saving the container record", e))?;
    // Last: a directory with spec.json is a complete container.
    records::save(&cp.spec(), spec).map_err(|e| failed("writing the container spec", e))
}

fn read_termination_message(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_TERMINATION_MESSAGE)
        .read_to_end(&mut text)
        .ok()?;
    let text = String::from_utf8_lossy(&text).into_owned();
    (!text.is_empty()).then_some(text)
}

fn modified(path: &Path) -> Option<DateTime<Utc>> {
    std::fs::metadata(path)
        .ok()?
        .modified()
        .ok()
        .map(DateTime::<Utc>::from)
}

/// The current log and its rotated files.
fn remove_logs(path: &Path) {
    let _ = std::fs::remove_file(path);
    for n in 1..=64 {
        let rotated = PathBuf::from(format!("{}.{n}", path.display()));
        if std::fs::remove_file(&rotated).is_err() {
            break;
        }
    }
    if let Some(parent) = path.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_drop_the_tag() {
        let d = "sha256:abc";
        assert_eq!(
            image_ref("docker.io/library/busybox:latest", d),
            "docker.io/library/busybox@sha256:abc"
        );
        assert_eq!(
            image_ref("127.0.0.1:5000/app:v1", d),
            "127.0.0.1:5000/app@sha256:abc"
        );
        assert_eq!(
            image_ref("127.0.0.1:5000/app", d),
            "127.0.0.1:5000/app@sha256:abc"
        );
        assert_eq!(image_ref("r/app@sha256:old", d), "r/app@sha256:abc");
        assert_eq!(new_container_id().len(), 32);
    }

    #[test]
    fn termination_messages_are_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("t");
        std::fs::write(&f, "").unwrap();
        assert_eq!(read_termination_message(&f), None);
        std::fs::write(&f, "x".repeat(5000)).unwrap();
        assert_eq!(read_termination_message(&f).unwrap().len(), 4096);
    }
}
