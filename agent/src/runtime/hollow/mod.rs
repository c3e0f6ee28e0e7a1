//! The hollow runtime: containers that "run" in memory. They start at once
//! (or after a configurable delay), report Running and Ready, and exit only
//! when told to (fault injection: [`HollowRuntime::exit`], [`HollowRuntime::crash`],
//! [`HollowRuntime::oom_kill`]) or when their environment scripts it (see
//! [`program`]). Pod IPs come from the node's podCIDR as a real node's
//! would. A node costs a few hundred bytes plus its pods, and there are no
//! threads or tasks per node: hundreds of hollow nodes fit in one process.

mod follow;
pub mod ipam;
pub mod program;
pub mod shell;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use self::program::Program;
use self::state::{Exit, State};
use super::{
    ContainerConfig, ContainerId, ContainerInfo, ContainerStats, EventSink, ExecOutput,
    ExecRequest, ExecSession, ExitReason, LogOptions, LogStream, Runtime, RuntimeError,
    RuntimeEvent, RuntimeResult, SandboxConfig, SandboxStatus, SinkSlot, StopOptions,
};

/// What `nodeInfo.containerRuntimeVersion` says of a hollow node.
pub const HOLLOW_RUNTIME_VERSION: &str = "hollow://0.1";

/// Knobs that make hollow containers more like real ones.
#[derive(Debug, Clone, PartialEq)]
pub struct HollowConfig {
    /// How long `start_container` takes.
    pub start_delay: Duration,
    /// How long after starting a container reports ready (per container:
    /// `HOLLOW_READY_AFTER`).
    pub ready_delay: Duration,
    /// How long a container takes to exit after SIGTERM (capped by the
    /// grace period).
    pub stop_delay: Duration,
    /// Pulls of images whose reference contains one of these fail
    /// (`ErrImagePull`, then `ImagePullBackOff`): a bad image in a rollout.
    pub failing_images: Vec<String>,
}

impl Default for HollowConfig {
    fn default() -> HollowConfig {
        HollowConfig {
            start_delay: Duration::ZERO,
            ready_delay: Duration::ZERO,
            stop_delay: Duration::ZERO,
            failing_images: vec!["doesnotexist".into(), "does-not-exist".into()],
        }
    }
}

/// One hollow node's containers. Cheap to clone: clones share the node.
#[derive(Clone)]
pub struct HollowRuntime {
    shared: Arc<Shared>,
}

struct Shared {
    config: HollowConfig,
    /// Makes container ids of different nodes differ.
    seed: u64,
    state: Mutex<State>,
    sink: SinkSlot,
}

impl std::fmt::Debug for HollowRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("HollowRuntime")
            .field("sandboxes", &st.sandboxes.len())
            .field("containers", &st.containers.len())
            .finish()
    }
}

impl Default for HollowRuntime {
    fn default() -> Self {
        HollowRuntime::new(HollowConfig::default())
    }
}

impl HollowRuntime {
    pub fn new(config: HollowConfig) -> HollowRuntime {
        let state = State::new(config.failing_images.clone());
        HollowRuntime {
            shared: Arc::new(Shared {
                config,
                seed: rand::random(),
                state: Mutex::new(state),
                sink: SinkSlot::default(),
            }),
        }
    }

    pub fn config(&self) -> &HollowConfig {
        &self.shared.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No transition panics half-way; the state stays usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: Option<RuntimeEvent>) {
        if let Some(event) = event {
            self.shared.sink.emit(event);
        }
    }

    /// Ends the running container `container` of the pod with `exit_code`
    /// (reason `Completed` for 0, else `Error`). False when none runs.
    pub fn exit(&self, pod_uid: &str, container: &str, exit_code: i32) -> bool {
        self.end(pod_uid, container, Exit::code(exit_code))
    }

    /// Like [`exit`](Self::exit), always with reason `Error`: the process crashed.
    pub fn crash(&self, pod_uid: &str, container: &str, exit_code: i32) -> bool {
        self.end(
            pod_uid,
            container,
            Exit {
                code: exit_code,
                signal: None,
                reason: ExitReason::Error,
            },
        )
    }

    /// The kernel's OOM killer ends the container: 137, `OOMKilled`.
    pub fn oom_kill(&self, pod_uid: &str, container: &str) -> bool {
        self.end(
            pod_uid,
            container,
            Exit {
                reason: ExitReason::OomKilled,
                ..Exit::killed()
            },
        )
    }

    fn end(&self, pod_uid: &str, container: &str, exit: Exit) -> bool {
        let event = {
            let mut st = self.lock();
            let Some(id) = st.running_id(pod_uid, container) else {
                return false;
            };
            st.exit(&id, exit, Utc::now())
        };
        let ended = event.is_some();
        self.emit(event);
        ended
    }

    /// Sets the readiness of the running container `container` of the pod.
    /// False when none runs.
    pub fn set_ready(&self, pod_uid: &str, container: &str, ready: bool) -> bool {
        let event = {
            let mut st = self.lock();
            let Some(id) = st.running_id(pod_uid, container) else {
                return false;
            };
            st.set_ready(&id, ready)
        };
        self.emit(event);
        true
    }

    /// From now on, pulls of images whose reference contains `pattern` fail.
    pub fn fail_image_pulls(&self, pattern: &str) {
        self.lock().failing_images.push(pattern.to_string());
    }

    /// The newest container called `container` in the pod.
    pub fn container(&self, pod_uid: &str, container: &str) -> Option<ContainerInfo> {
        self.lock()
            .latest(pod_uid, container)
            .map(|c| c.info.clone())
    }

    /// Every container of the pod, oldest first.
    pub fn containers_of(&self, pod_uid: &str) -> Vec<ContainerInfo> {
        self.lock().containers_of(pod_uid)
    }

    pub fn sandbox_count(&self) -> usize {
        self.lock().sandboxes.len()
    }

    pub fn running_containers(&self) -> usize {
        self.lock()
            .containers
            .values()
            .filter(|c| c.info.state.is_running())
            .count()
    }

    /// After a start: readiness and the scripted exit, now or later.
    fn schedule(&self, id: &ContainerId, program: &Program) {
        if !program.never_ready {
            let delay = program
                .ready_after
                .unwrap_or(self.shared.config.ready_delay);
            if delay.is_zero() {
                // Ready as it starts: the agent reads it right after, no event.
                let _ = self.lock().set_ready(id, true);
            } else {
                let (rt, id) = (self.clone(), id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let event = rt.lock().set_ready(&id, true);
                    rt.emit(event);
                });
            }
        }
        if let Some(run_for) = program.run_for {
            let exit = Exit::code(program.exit_code);
            if run_for.is_zero() {
                let event = self.lock().exit(id, exit, Utc::now());
                self.emit(event);
            } else {
                let (rt, id) = (self.clone(), id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(run_for).await;
                    let event = rt.lock().exit(&id, exit, Utc::now());
                    rt.emit(event);
                });
            }
        }
    }
}

#[async_trait]
impl Runtime for HollowRuntime {
    fn version(&self) -> String {
        HOLLOW_RUNTIME_VERSION.to_string()
    }

    fn subscribe(&self, sink: EventSink) {
        self.shared.sink.set(sink);
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<SandboxStatus> {
        self.lock().run_sandbox(config, Utc::now())
    }

    async fn stop_sandbox(&self, pod_uid: &str) -> RuntimeResult<()> {
        self.lock().stop_sandbox(pod_uid, Utc::now());
        Ok(())
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> RuntimeResult<()> {
        self.lock().remove_sandbox(pod_uid, Utc::now());
        Ok(())
    }

    async fn sandbox_status(&self, pod_uid: &str) -> RuntimeResult<Option<SandboxStatus>> {
        Ok(self
            .lock()
            .sandboxes
            .get(pod_uid)
            .map(|sb| sb.status.clone()))
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxStatus>> {
        Ok(self
            .lock()
            .sandboxes
            .values()
            .map(|sb| sb.status.clone())
            .collect())
    }

    async fn create_container(
        &self,
        pod_uid: &str,
        config: &ContainerConfig,
    ) -> RuntimeResult<ContainerId> {
        self.lock()
            .create_container(pod_uid, config, self.shared.seed, Utc::now())
    }

    async fn start_container(&self, id: &ContainerId) -> RuntimeResult<()> {
        let delay = self.shared.config.start_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let program = self.lock().start(id, Utc::now())?;
        self.schedule(id, &program);
        Ok(())
    }

    async fn stop_container(&self, id: &ContainerId, options: StopOptions) -> RuntimeResult<()> {
        let program = {
            let st = self.lock();
            match st.containers.get(id) {
                Some(c) if c.info.state.is_running() => c.program.clone(),
                _ => return Ok(()),
            }
        };
        let kill = options.signal == Some(super::signal::SIGKILL);
        let exit = if kill || program.ignore_sigterm {
            if !kill {
                tokio::time::sleep(options.grace).await;
            }
            Exit::killed()
        } else {
            let delay = self.shared.config.stop_delay.min(options.grace);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Exit::code(0)
        };
        // Stopping is the agent's doing: no event.
        let _ = self.lock().exit(id, exit, Utc::now());
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> RuntimeResult<()> {
        self.lock().remove_container(id, Utc::now());
        Ok(())
    }

    async fn container_status(&self, id: &ContainerId) -> RuntimeResult<Option<ContainerInfo>> {
        Ok(self.lock().containers.get(id).map(|c| c.info.clone()))
    }

    async fn list_containers(&self, pod_uid: &str) -> RuntimeResult<Vec<ContainerInfo>> {
        Ok(self.lock().containers_of(pod_uid))
    }

    async fn logs(&self, id: &ContainerId, options: &LogOptions) -> RuntimeResult<LogStream> {
        let info = self
            .lock()
            .containers
            .get(id)
            .map(|c| c.info.clone())
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        if options.follow {
            return Ok(follow::follow(
                self.clone(),
                id.clone(),
                info,
                options.clone(),
            ));
        }
        let text = hollow_log(&info, options);
        Ok(Box::pin(futures::stream::iter([Ok(text.into_bytes())])))
    }

    async fn exec_sync(
        &self,
        id: &ContainerId,
        _command: &[String],
        _timeout: Duration,
    ) -> RuntimeResult<ExecOutput> {
        let st = self.lock();
        match st.containers.get(id) {
            Some(c) if c.info.state.is_running() => {
                // Scripted by `HOLLOW_EXEC_*` (see [`program`]): exec probes can fail.
                let running_for = match &c.info.state {
                    super::ContainerState::Running { started_at } => {
                        (Utc::now() - *started_at).to_std().unwrap_or_default()
                    }
                    _ => Duration::ZERO,
                };
                let exit_code = c.program.exec_exit_code(running_for);
                let stderr = if exit_code == 0 {
                    Vec::new()
                } else {
                    format!("hollow exec: exit code {exit_code}\n").into_bytes()
                };
                Ok(ExecOutput {
                    exit_code,
                    stdout: Vec::new(),
                    stderr,
                })
            }
            Some(_) => Err(RuntimeError::Failed(format!(
                "container {id} is not running"
            ))),
            None => Err(RuntimeError::NotFound(format!("container {id}"))),
        }
    }

    /// Hollow containers run no process: the command is interpreted by the
    /// [hollow shell](shell) (`echo`, `cat`, `sh -c 'echo x; exit 3'`, ...),
    /// so stdin, stdout, stderr and exit codes can be tested end to end.
    async fn exec(&self, id: &ContainerId, request: ExecRequest) -> RuntimeResult<ExecSession> {
        let hostname = {
            let st = self.lock();
            let c = st
                .containers
                .get(id)
                .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
            if !c.info.state.is_running() {
                return Err(RuntimeError::Failed(format!(
                    "container {id} is not running"
                )));
            }
            st.sandboxes
                .get(&c.info.pod_uid)
                .map(|sb| sb.status.name.clone())
                .unwrap_or_default()
        };
        type Reader = std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>;
        const PIPE: usize = 64 * 1024;
        let (stdin_writer, stdin_reader) = tokio::io::duplex(PIPE);
        let (stdout_writer, stdout_reader) = tokio::io::duplex(PIPE);
        let (stderr_writer, stderr_reader) = tokio::io::duplex(PIPE);
        let (resize, mut resizes) = tokio::sync::mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
        let mut outputs = shell::Outputs {
            stdout: stdout_writer,
            stderr: (!request.tty).then_some(stderr_writer),
        };
        let stdin = request.stdin.then_some(stdin_reader);
        let command = request.command.clone();
        tokio::spawn(async move {
            let code = shell::run(&command, &hostname, stdin, &mut outputs).await;
            // The outputs close before the exit is reported, as a process's pipes do.
            drop(outputs);
            resizes.close();
            let _ = exit_tx.send(code);
        });
        Ok(ExecSession {
            stdin: request
                .stdin
                .then(|| Box::pin(stdin_writer) as std::pin::Pin<Box<_>>),
            stdout: Some(Box::pin(stdout_reader) as Reader),
            stderr: (!request.tty).then(|| Box::pin(stderr_reader) as Reader),
            resize: request.tty.then_some(resize),
            exit: Box::pin(async move {
                exit_rx
                    .await
                    .map_err(|_| RuntimeError::Failed("the hollow exec was lost".into()))
            }),
        })
    }

    async fn container_stats(&self, id: &ContainerId) -> RuntimeResult<ContainerStats> {
        let st = self.lock();
        let c = st
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        let now = Utc::now();
        let running_for = match &c.info.state {
            super::ContainerState::Running { started_at } => {
                (now - *started_at).to_std().unwrap_or_default()
            }
            _ => Duration::ZERO,
        };
        Ok(ContainerStats {
            timestamp: now,
            // A hollow process idles at a thousandth of a core.
            cpu_usage_nanos: (running_for.as_nanos() / 1000) as u64,
            memory_working_set_bytes: 4 << 20,
        })
    }
}

/// What a hollow container "printed": its lifecycle, one line per event.
fn hollow_log(info: &ContainerInfo, options: &LogOptions) -> String {
    let mut lines: Vec<(chrono::DateTime<Utc>, String)> = vec![(
        info.created_at,
        format!(
            "hollow container {} (restart {}) of image {}",
            info.name, info.restart_count, info.image
        ),
    )];
    match &info.state {
        super::ContainerState::Created => {}
        super::ContainerState::Running { started_at } => {
            lines.push((*started_at, "started".into()));
        }
        super::ContainerState::Exited {
            exit_code,
            started_at,
            finished_at,
            ..
        } => {
            if let Some(s) = started_at {
                lines.push((*s, "started".into()));
            }
            lines.push((*finished_at, format!("exited with code {exit_code}")));
        }
    }
    if let Some(since) = options.since {
        lines.retain(|(t, _)| *t >= since);
    }
    if let Some(tail) = options.tail_lines {
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
    }
    let mut out = String::new();
    for (t, line) in lines {
        if options.timestamps {
            out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
            out.push(' ');
        }
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(limit) = options.limit_bytes {
        let mut cut = limit.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn sandbox(uid: &str) -> SandboxConfig {
        SandboxConfig {
            pod_uid: uid.into(),
            namespace: "ns".into(),
            name: "p".into(),
            pod_cidr: Some("10.244.0.0/24".into()),
            ..Default::default()
        }
    }

    fn container(name: &str, env: &[(&str, &str)]) -> ContainerConfig {
        ContainerConfig {
            name: name.into(),
            image: "busybox".into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn counting_sink(rt: &HollowRuntime) -> Arc<AtomicUsize> {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        rt.subscribe(Arc::new(move |_| {
            n2.fetch_add(1, Ordering::SeqCst);
        }));
        n
    }

    #[tokio::test]
    async fn starts_ready_and_crashes_on_demand() {
        let rt = HollowRuntime::default();
        let events = counting_sink(&rt);
        rt.run_sandbox(&sandbox("u1")).await.unwrap();
        let id = rt
            .create_container("u1", &container("c", &[]))
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        let info = rt.container_status(&id).await.unwrap().unwrap();
        assert!(info.state.is_running() && info.ready);
        assert_eq!(rt.running_containers(), 1);
        assert!(rt.crash("u1", "c", 2));
        assert!(!rt.crash("u1", "c", 2), "it no longer runs");
        assert_eq!(events.load(Ordering::SeqCst), 1);
        let info = rt.container("u1", "c").unwrap();
        match info.state {
            crate::runtime::ContainerState::Exited {
                exit_code, reason, ..
            } => assert_eq!((exit_code, reason), (2, ExitReason::Error)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn scripted_exits_and_readiness() {
        let rt = HollowRuntime::default();
        let events = counting_sink(&rt);
        rt.run_sandbox(&sandbox("u1")).await.unwrap();
        let quick = rt
            .create_container("u1", &container("quick", &[("HOLLOW_EXIT_CODE", "4")]))
            .await
            .unwrap();
        rt.start_container(&quick).await.unwrap();
        assert_eq!(
            rt.container_status(&quick)
                .await
                .unwrap()
                .unwrap()
                .state
                .exit_code(),
            Some(4)
        );
        assert_eq!(events.load(Ordering::SeqCst), 1);
        let slow = rt
            .create_container(
                "u1",
                &container(
                    "slow",
                    &[("HOLLOW_RUN_FOR", "50ms"), ("HOLLOW_READY_AFTER", "10ms")],
                ),
            )
            .await
            .unwrap();
        rt.start_container(&slow).await.unwrap();
        assert!(!rt.container_status(&slow).await.unwrap().unwrap().ready);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let info = rt.container_status(&slow).await.unwrap().unwrap();
        assert_eq!(info.state.exit_code(), Some(0));
        // Ready, then exited.
        assert_eq!(events.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn stops_honour_sigterm_or_take_the_grace_period() {
        let rt = HollowRuntime::default();
        rt.run_sandbox(&sandbox("u1")).await.unwrap();
        let nice = rt
            .create_container("u1", &container("nice", &[]))
            .await
            .unwrap();
        let stubborn = rt
            .create_container(
                "u1",
                &container("stubborn", &[("HOLLOW_IGNORE_SIGTERM", "true")]),
            )
            .await
            .unwrap();
        rt.start_container(&nice).await.unwrap();
        rt.start_container(&stubborn).await.unwrap();
        let grace = StopOptions::grace(Duration::from_millis(100));
        let t = tokio::time::Instant::now();
        rt.stop_container(&nice, grace).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(100));
        rt.stop_container(&stubborn, grace).await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(100));
        let code = |id| {
            let rt = rt.clone();
            async move {
                rt.container_status(&id)
                    .await
                    .unwrap()
                    .unwrap()
                    .state
                    .exit_code()
            }
        };
        assert_eq!(code(nice).await, Some(0));
        assert_eq!(code(stubborn).await, Some(137));
    }

    #[tokio::test]
    async fn logs_exec_and_stats() {
        let rt = HollowRuntime::default();
        rt.run_sandbox(&sandbox("u1")).await.unwrap();
        let id = rt
            .create_container("u1", &container("c", &[]))
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        let chunks: Vec<_> = rt
            .logs(&id, &LogOptions::default())
            .await
            .unwrap()
            .collect()
            .await;
        let text = String::from_utf8(chunks[0].clone().unwrap()).unwrap();
        assert!(text.contains("hollow container c") && text.ends_with("started\n"));
        let tail = LogOptions {
            tail_lines: Some(1),
            ..Default::default()
        };
        let chunks: Vec<_> = rt.logs(&id, &tail).await.unwrap().collect().await;
        assert_eq!(chunks[0].as_ref().unwrap(), b"started\n");
        assert_eq!(
            rt.exec_sync(&id, &["true".into()], Duration::from_secs(1))
                .await
                .unwrap()
                .exit_code,
            0
        );
        assert_eq!(
            rt.container_stats(&id)
                .await
                .unwrap()
                .memory_working_set_bytes,
            4 << 20
        );
        rt.remove_sandbox("u1").await.unwrap();
        assert!(matches!(
            rt.exec_sync(&id, &[], Duration::from_secs(1)).await,
            Err(RuntimeError::NotFound(_))
        ));
        assert_eq!(rt.sandbox_count(), 0);
    }
}
