//! One sync of one pod: make the runtime match the pod, then report.
//!
//! - No pod (deleted from the API server): kill and remove what runs.
//! - `deletionTimestamp`: stop the containers within the grace period,
//!   remove the sandbox, then delete the pod with grace 0.
//! - Succeeded or Failed: terminal, nothing runs again.
//! - Otherwise: a sandbox, the init containers one by one to completion,
//!   then the app containers; exited ones restarted as `restartPolicy`
//!   says, after their back-off; then the status, written if it changed.
//!
//! Returns when to look again (a back-off or deadline ending); everything
//! else arrives as an event.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use skiff_api::core::{Container, Pod, PodSpec};
use skiff_api::meta::Time;
use skiff_client::runtime::Action;

use super::backoff::go_duration;
use super::env::{EnvContext, Sources};
use super::probes;
use super::record::{PodRecord, StartFailure};
use super::restart::Restart;
use super::spec::{self, field_path};
use super::status::{self, ContainerView, StatusInput, Waiting};
use super::stop::{
    sandboxes_of, stop_all, stop_everything, teardown, terminate, termination_grace,
};
use super::volumes;
use super::write;
use crate::engine::Engine;
use crate::node_state::NodeState;
use crate::runtime::{ContainerId, ContainerInfo, ContainerState, RuntimeError};

/// Syncs the pod with key `key` (`namespace/name`) on `node`; `pod` is the
/// cached object, `None` when the API server no longer has it.
pub async fn sync_pod(
    engine: &Engine,
    node: &NodeState,
    key: &str,
    pod: Option<Arc<Pod>>,
) -> anyhow::Result<Action> {
    let mut record = node.take_record(key);
    let result = sync(engine, node, key, pod, &mut record).await;
    if let Some(r) = record {
        node.put_record(key, r);
    }
    result
}

async fn sync(
    engine: &Engine,
    node: &NodeState,
    key: &str,
    pod: Option<Arc<Pod>>,
    record: &mut Option<PodRecord>,
) -> anyhow::Result<Action> {
    let Some(pod) = pod else {
        if let Some(old) = record.take() {
            teardown(node, &old.uid, old.grace).await?;
        }
        // Left from before an agent restart.
        for sb in sandboxes_of(node, key).await? {
            teardown(node, &sb.pod_uid, Duration::ZERO).await?;
        }
        return Ok(Action::Done);
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let grace = termination_grace(&pod);
    if let Some(old) = record.take_if(|r| r.uid != uid) {
        teardown(node, &old.uid, old.grace).await?;
    }
    if record.is_none() {
        // First sight since the agent started: an older pod of this name may run.
        for sb in sandboxes_of(node, key).await? {
            if sb.pod_uid != uid {
                teardown(node, &sb.pod_uid, grace).await?;
            }
        }
    }
    let r = record.get_or_insert_with(|| PodRecord::new(uid.clone(), grace));
    if pod.metadata.deletion_timestamp.is_some() {
        terminate(engine, node, &pod).await?;
        *record = None;
        return Ok(Action::Done);
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if r.terminal || matches!(phase, Some("Succeeded" | "Failed")) {
        r.terminal = true;
        r.probes.clear();
        stop_everything(node, &uid).await?;
        return Ok(Action::Done);
    }
    let Some(pod_spec) = pod.spec.as_ref() else {
        return Ok(Action::Done);
    };
    run(engine, node, &pod, pod_spec, r).await
}

/// When `activeDeadlineSeconds` runs out, from `start`; `Some(ZERO)` once passed.
fn deadline_left(spec: &PodSpec, start: Time, now: DateTime<Utc>) -> Option<Duration> {
    let secs = spec.active_deadline_seconds?;
    let end = start.0 + chrono::Duration::seconds(secs);
    Some((end - now).to_std().unwrap_or(Duration::ZERO))
}

/// What to do with one container now.
#[derive(Debug)]
enum Step {
    Nothing,
    /// Create and start a new container with this restart count.
    Start(u32),
    /// Start the one that was created but never started.
    StartCreated(ContainerId),
    /// In back-off: look again after this long.
    Wait(Duration),
}

/// The newest container named `name`, and the one before it.
fn latest_two<'a>(
    all: &'a [ContainerInfo],
    name: &str,
) -> (Option<&'a ContainerInfo>, Option<&'a ContainerInfo>) {
    let mut mine: Vec<&ContainerInfo> = all.iter().filter(|c| c.name == name).collect();
    mine.sort_by_key(|c| (c.restart_count, c.created_at));
    let latest = mine.pop();
    (latest, mine.pop())
}

/// Whether an exited container runs again: its restart policy says so, or
/// a failed probe had it stopped (then, as the kubelet, it restarts unless
/// the policy is Never, whatever its exit code).
fn restarts(r: &PodRecord, latest: &ContainerInfo, restart: Restart, exit_code: i32) -> bool {
    restart.wants(exit_code) || (restart != Restart::Never && r.probes.was_killed(&latest.id))
}

/// A running sidecar is through once its startup probe (if any) passed.
fn startup_passed(r: &PodRecord, c: &Container, latest: &ContainerInfo) -> bool {
    c.startup_probe.is_none() || r.probes.view(&latest.id).started == Some(true)
}

/// Everything a sync of a running pod works with.
struct Run<'a> {
    engine: &'a Engine,
    node: &'a NodeState,
    pod: &'a Pod,
    uid: String,
    now: DateTime<Utc>,
    env: EnvContext<'a>,
    sources: Sources,
    /// The soonest time to look again.
    requeue: Option<Duration>,
    /// Containers whose create or start failed in this sync.
    fresh_failures: Vec<String>,
}

impl Run<'_> {
    fn requeue_after(&mut self, d: Duration) {
        let d = d.max(Duration::from_millis(10));
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    fn decide(
        &self,
        r: &mut PodRecord,
        c: &Container,
        latest: Option<&ContainerInfo>,
        restart: Restart,
    ) -> Step {
        let policy = self.node.config.restart_backoff;
        if let Some(f) = r.start_failure(&c.name)
            && let Some(left) = r.start_backoff.remaining(&c.name, f.at, self.now, policy)
        {
            return Step::Wait(left);
        }
        let Some(latest) = latest else {
            return Step::Start(0);
        };
        match &latest.state {
            ContainerState::Created => Step::StartCreated(latest.id.clone()),
            ContainerState::Running { .. } => Step::Nothing,
            ContainerState::Exited {
                exit_code,
                finished_at,
                ..
            } => {
                if !restarts(r, latest, restart, *exit_code) {
                    Step::Nothing
                } else if let Some(left) =
                    r.crash_backoff
                        .remaining(&c.name, *finished_at, self.now, policy)
                {
                    let meta = &self.pod.metadata;
                    self.node.event(
                        self.pod,
                        Some(&field_path(self.pod, &c.name)),
                        true,
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {} in pod {}_{}({})",
                            c.name,
                            meta.name_str(),
                            meta.namespace_str(),
                            self.uid
                        ),
                    );
                    Step::Wait(left)
                } else {
                    r.crash_backoff
                        .next(&c.name, *finished_at, self.now, policy);
                    Step::Start(latest.restart_count + 1)
                }
            }
        }
    }

    /// Carries out `step`; true when a container was started.
    async fn act(
        &mut self,
        r: &mut PodRecord,
        c: &Container,
        step: Step,
        existing: &[ContainerInfo],
    ) -> bool {
        match step {
            Step::Nothing => false,
            Step::Wait(d) => {
                self.requeue_after(d);
                false
            }
            Step::StartCreated(id) => match self.node.runtime.start_container(&id).await {
                Ok(()) => {
                    let field = field_path(self.pod, &c.name);
                    let msg = format!("Started container {}", c.name);
                    self.node
                        .event(self.pod, Some(&field), false, "Started", msg);
                    true
                }
                Err(e) => {
                    self.fail(r, c, "RunContainerError", e.to_string());
                    false
                }
            },
            Step::Start(restart_count) => self.start_new(r, c, restart_count, existing).await,
        }
    }

    async fn start_new(
        &mut self,
        r: &mut PodRecord,
        c: &Container,
        restart_count: u32,
        existing: &[ContainerInfo],
    ) -> bool {
        let client = &self.engine.client;
        let config =
            match spec::container_config(client, &mut self.sources, &self.env, c, restart_count)
                .await
            {
                Ok(config) => config,
                Err(message) => {
                    self.fail(r, c, "CreateContainerConfigError", message);
                    return false;
                }
            };
        let mut config = config;
        if let Some(root) = &self.node.config.volumes_root {
            match volumes::prepare(client, &mut self.sources, root, self.pod, c).await {
                Ok(mounts) => config.mounts = mounts,
                Err(message) => {
                    self.fail(r, c, "CreateContainerConfigError", message);
                    return false;
                }
            }
        }
        let rt = &self.node.runtime;
        let id = match rt.create_container(&self.uid, &config).await {
            Ok(id) => id,
            Err(e) => {
                let reason = match e {
                    RuntimeError::ImagePull(_) => "ErrImagePull",
                    RuntimeError::InvalidConfig(_) => "CreateContainerConfigError",
                    _ => "CreateContainerError",
                };
                self.fail(r, c, reason, e.to_string());
                return false;
            }
        };
        if let Err(e) = rt.start_container(&id).await {
            self.fail(r, c, "RunContainerError", e.to_string());
            return false;
        }
        r.clear_start_failure(&c.name);
        r.start_backoff.clear(&c.name);
        let field = field_path(self.pod, &c.name);
        for (reason, message) in [
            (
                "Pulled",
                format!(
                    "Container image \"{}\" already present on machine",
                    c.image_str()
                ),
            ),
            ("Created", format!("Created container {}", c.name)),
            ("Started", format!("Started container {}", c.name)),
        ] {
            self.node
                .event(self.pod, Some(&field), false, reason, message);
        }
        // Keep the one before (lastState, `logs --previous`), drop older ones.
        for old in existing
            .iter()
            .filter(|o| o.name == c.name && o.restart_count + 1 < restart_count)
        {
            if let Err(e) = rt.remove_container(&old.id).await {
                tracing::debug!(container = %old.id, error = %e, "removing an old container");
            }
        }
        true
    }

    fn fail(&mut self, r: &mut PodRecord, c: &Container, reason: &str, message: String) {
        tracing::debug!(pod = %self.uid, container = %c.name, reason, %message, "container did not start");
        let field = field_path(self.pod, &c.name);
        if reason == "ErrImagePull" {
            self.node
                .event(self.pod, Some(&field), true, "Failed", message.clone());
        }
        self.node.event(
            self.pod,
            Some(&field),
            true,
            "Failed",
            format!("Error: {reason}"),
        );
        let policy = self.node.config.restart_backoff;
        r.set_start_failure(StartFailure {
            container: c.name.clone(),
            reason: reason.to_string(),
            message,
            at: self.now,
        });
        r.start_backoff.next(&c.name, self.now, self.now, policy);
        self.fresh_failures.push(c.name.clone());
    }

    /// Why a container waits, if its runtime state does not say it all.
    fn waiting(
        &mut self,
        r: &PodRecord,
        c: &Container,
        latest: Option<&ContainerInfo>,
        restart: Restart,
    ) -> Option<Waiting> {
        let policy = self.node.config.restart_backoff;
        if let Some(f) = r.start_failure(&c.name) {
            let left = r.start_backoff.remaining(&c.name, f.at, self.now, policy);
            // A failed pull is reported as such for the first half of its
            // back-off window, then as the back-off (as kubectl users see it).
            if let (Some(left), "ErrImagePull") = (left, f.reason.as_str()) {
                let window = r.start_backoff.current(&c.name).unwrap_or(policy.initial);
                let age = (self.now - f.at).to_std().unwrap_or(Duration::ZERO);
                let raw_for = window / 2;
                if age >= raw_for {
                    self.requeue_after(left);
                    let field = field_path(self.pod, &c.name);
                    let msg = format!("Back-off pulling image \"{}\"", c.image_str());
                    self.node
                        .event(self.pod, Some(&field), false, "BackOff", msg);
                    let msg = "Error: ImagePullBackOff".to_string();
                    self.node.event(self.pod, Some(&field), true, "Failed", msg);
                    return Some(Waiting {
                        reason: "ImagePullBackOff".into(),
                        message: Some(format!("Back-off pulling image \"{}\"", c.image_str())),
                    });
                }
                self.requeue_after(raw_for - age);
            } else if let Some(left) = left {
                self.requeue_after(left);
            }
            return Some(Waiting {
                reason: f.reason.clone(),
                message: Some(f.message.clone()),
            });
        }
        let latest = latest?;
        let ContainerState::Exited {
            exit_code,
            finished_at,
            ..
        } = &latest.state
        else {
            return None;
        };
        if !restarts(r, latest, restart, *exit_code) {
            return None;
        }
        let left = r
            .crash_backoff
            .remaining(&c.name, *finished_at, self.now, policy)?;
        self.requeue_after(left);
        let window = r.crash_backoff.current(&c.name).unwrap_or(policy.initial);
        let meta = &self.pod.metadata;
        Some(Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(format!(
                "back-off {} restarting failed container={} pod={}_{}({})",
                go_duration(window),
                c.name,
                meta.name_str(),
                meta.namespace_str(),
                self.uid
            )),
        })
    }
}

async fn run(
    engine: &Engine,
    node: &NodeState,
    pod: &Pod,
    pod_spec: &PodSpec,
    r: &mut PodRecord,
) -> anyhow::Result<Action> {
    let rt = &node.runtime;
    let uid = r.uid.clone();
    let now = Utc::now();
    let start_time = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time)
        .or(r.start_time)
        .unwrap_or_else(|| Time::from(now));
    r.start_time = Some(start_time);

    let sandbox = match rt.sandbox_status(&uid).await? {
        Some(sb) if sb.is_ready() => sb,
        existing => {
            let attempt = existing.map_or(0, |sb| sb.attempt + 1);
            if attempt > 0 {
                // A sandbox that went down took its containers with it.
                stop_all(node, &uid, Duration::ZERO).await?;
            }
            let config = spec::sandbox_config(pod, Some(node.effective_pod_cidr()), attempt);
            rt.run_sandbox(&config)
                .await
                .context("creating the pod sandbox")?
        }
    };
    let pod_ip = if pod_spec.host_network == Some(true) {
        Some(node.config.node_ip)
    } else {
        sandbox.ip
    };
    let allocatable = node.allocatable();
    let mut run = Run {
        engine,
        node,
        pod,
        uid: uid.clone(),
        now,
        env: EnvContext {
            pod,
            pod_ip,
            host_ip: node.config.node_ip,
            allocatable: &allocatable,
        },
        sources: Sources::default(),
        requeue: None,
        fresh_failures: Vec::new(),
    };

    let deadline = deadline_left(pod_spec, start_time, now);
    let deadline_exceeded = deadline == Some(Duration::ZERO);
    let policy = Restart::of_pod(pod_spec);
    let mut acted = false;
    let mut before = rt.list_containers(&uid).await?;
    // Containers that failed liveness or startup probes stop first, for
    // the restart path below.
    let restarts_after_kill = |name: &str| {
        policy != Restart::Never || pod_spec.init_containers.iter().any(|c| c.name == name)
    };
    if !deadline_exceeded
        && probes::stop_unhealthy(
            node,
            pod,
            &mut r.probes,
            &before,
            r.grace,
            restarts_after_kill,
        )
        .await?
    {
        acted = true;
        before = rt.list_containers(&uid).await?;
    }
    if deadline_exceeded {
        let msg = status::DEADLINE_EXCEEDED_MESSAGE.to_string();
        node.event(pod, None, false, "DeadlineExceeded", msg);
        stop_all(node, &uid, r.grace).await?;
        acted = true;
    } else {
        if let Some(left) = deadline {
            run.requeue_after(left);
        }
        // Once an app container exists the init phase is over for good.
        let mut init_done = true;
        let app_names = || pod_spec.containers.iter().map(|c| c.name.as_str());
        let app_started = before.iter().any(|c| app_names().any(|n| n == c.name));
        for c in &pod_spec.init_containers {
            let restart = Restart::of_init(policy, c);
            if app_started && restart != Restart::Always {
                // Through with for good; only sidecars keep running.
                continue;
            }
            let (latest, _) = latest_two(&before, &c.name);
            let step = run.decide(r, c, latest, restart);
            let started = run.act(r, c, step, &before).await;
            acted |= started;
            let complete = match (restart, latest.map(|l| &l.state)) {
                // A sidecar is through once it runs and its startup probe passed.
                (Restart::Always, Some(ContainerState::Running { .. })) => {
                    latest.is_some_and(|l| startup_passed(r, c, l))
                }
                (Restart::Always, _) => started && c.startup_probe.is_none(),
                (_, Some(ContainerState::Exited { exit_code: 0, .. })) => !started,
                _ => false,
            };
            if !complete && !app_started {
                init_done = false;
                break;
            }
        }
        if init_done {
            for c in &pod_spec.containers {
                let (latest, _) = latest_two(&before, &c.name);
                let step = run.decide(r, c, latest, policy);
                acted |= run.act(r, c, step, &before).await;
            }
        }
    }
    let after = if acted || !run.fresh_failures.is_empty() {
        rt.list_containers(&uid).await?
    } else {
        before
    };
    probes::sync_pod_probes(engine, node, pod, pod_spec, pod_ip, &mut r.probes, &after);

    let mut init_views = Vec::with_capacity(pod_spec.init_containers.len());
    for c in &pod_spec.init_containers {
        let (latest, previous) = latest_two(&after, &c.name);
        let waiting = run.waiting(r, c, latest, Restart::of_init(policy, c));
        init_views.push(ContainerView {
            spec: c,
            latest,
            previous,
            waiting,
            probes: latest.map(|l| r.probes.view(&l.id)).unwrap_or_default(),
        });
    }
    let mut app_views = Vec::with_capacity(pod_spec.containers.len());
    for c in &pod_spec.containers {
        let (latest, previous) = latest_two(&after, &c.name);
        let waiting = run.waiting(r, c, latest, policy);
        app_views.push(ContainerView {
            spec: c,
            latest,
            previous,
            waiting,
            probes: latest.map(|l| r.probes.view(&l.id)).unwrap_or_default(),
        });
    }
    let requeue = run.requeue;
    let app_started = after
        .iter()
        .any(|c| pod_spec.containers.iter().any(|s| s.name == c.name));
    let input = StatusInput {
        pod,
        id_scheme: &node.id_scheme,
        host_ip: node.config.node_ip,
        pod_ip,
        sandbox_ready: sandbox.is_ready(),
        start_time,
        init: init_views,
        app: app_views,
        app_started,
        deadline_exceeded,
        now,
    };
    let new_status = status::build(&input);
    let terminal = matches!(new_status.phase.as_deref(), Some("Succeeded" | "Failed"));
    write::status_if_changed(engine, pod, r, new_status).await?;
    if terminal {
        r.terminal = true;
        r.probes.clear();
        stop_everything(node, &uid).await?;
        return Ok(Action::Done);
    }
    Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_count_from_the_start_time() {
        let now = Utc::now();
        let spec = PodSpec {
            active_deadline_seconds: Some(30),
            ..Default::default()
        };
        let start = Time::from(now - chrono::Duration::seconds(10));
        let left = deadline_left(&spec, start, now).unwrap();
        assert!(left <= Duration::from_secs(21) && left >= Duration::from_secs(19));
        let old = Time::from(now - chrono::Duration::seconds(31));
        assert_eq!(deadline_left(&spec, old, now), Some(Duration::ZERO));
        assert_eq!(deadline_left(&PodSpec::default(), old, now), None);
    }

    #[test]
    fn the_newest_two_containers_of_a_name() {
        let mk = |name: &str, n: u32| ContainerInfo {
            id: ContainerId::new(format!("{name}{n}")),
            pod_uid: "u".into(),
            name: name.into(),
            restart_count: n,
            image: String::new(),
            image_ref: String::new(),
            state: ContainerState::Created,
            ready: false,
            created_at: Utc::now(),
        };
        let all = vec![mk("a", 1), mk("b", 0), mk("a", 3), mk("a", 2)];
        let (latest, previous) = latest_two(&all, "a");
        assert_eq!(latest.unwrap().restart_count, 3);
        assert_eq!(previous.unwrap().restart_count, 2);
        assert_eq!(latest_two(&all, "b").1, None);
        assert_eq!(latest_two(&all, "c").0, None);
    }
}
