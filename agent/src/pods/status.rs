//! The pod status the agent reports, computed from the pod and what the
//! runtime says of its containers, as the kubelet computes it: phase,
//! conditions, container statuses, IPs. Pure: same input, same status (time
//! stamps are kept from the current status unless something changed), so
//! an unchanged pod is never written twice.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use skiff_api::core::{
    Container, ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, IpEntry, Pod, PodCondition, PodStatus,
    pod_defaults::qos_class,
};
use skiff_api::meta::Time;

use super::probes::ProbeView;
use crate::runtime::{ContainerInfo, ContainerState};

/// Condition types this agent owns; others (a readiness gate's, an
/// eviction's `DisruptionTarget`) are kept as they are.
pub const OWNED_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

pub const DEADLINE_EXCEEDED_MESSAGE: &str =
    "Pod was active on the node longer than the specified deadline";

/// Why a container waits, when the runtime state alone does not say
/// (back-off, a failed create).
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub reason: String,
    pub message: Option<String>,
}

/// One container of the spec and what the runtime has of it.
#[derive(Debug, Clone)]
pub struct ContainerView<'a> {
    pub spec: &'a Container,
    /// The newest container of this name.
    pub latest: Option<&'a ContainerInfo>,
    /// The one before it (`lastState`).
    pub previous: Option<&'a ContainerInfo>,
    pub waiting: Option<Waiting>,
    /// What the latest container's probes found.
    pub probes: ProbeView,
}

impl ContainerView<'_> {
    fn running(&self) -> bool {
        self.latest.is_some_and(|c| c.state.is_running())
    }

    /// Started: running, and its startup probe (if any) has passed.
    pub fn started(&self) -> bool {
        self.running() && self.probes.started != Some(false)
    }

    /// Ready: started, the runtime's readiness signal is up, and its
    /// readiness probe (if any) passes.
    pub fn ready(&self) -> bool {
        self.started() && self.latest.is_some_and(|c| c.ready) && self.probes.ready != Some(false)
    }

    fn exit_code(&self) -> Option<i32> {
        self.latest.and_then(|c| c.state.exit_code())
    }

    /// A sidecar: an init container with `restartPolicy: Always`.
    fn is_sidecar(&self) -> bool {
        self.spec.restart_policy.as_deref() == Some("Always")
    }

    /// An init container that is through: exited 0, or a sidecar that has started.
    fn init_complete(&self) -> bool {
        if self.is_sidecar() {
            self.started()
        } else {
            self.waiting.is_none() && self.exit_code() == Some(0)
        }
    }
}

pub struct StatusInput<'a> {
    pub pod: &'a Pod,
    /// `hollow` or `skiff`: container ids are written `hollow://<id>`.
    pub id_scheme: &'a str,
    pub host_ip: IpAddr,
    pub pod_ip: Option<IpAddr>,
    pub sandbox_ready: bool,
    pub start_time: Time,
    pub init: Vec<ContainerView<'a>>,
    pub app: Vec<ContainerView<'a>>,
    /// Some app container was started: the init phase is over for good
    /// (a sidecar restarting later does not undo it).
    pub app_started: bool,
    /// `activeDeadlineSeconds` passed: the pod failed.
    pub deadline_exceeded: bool,
    pub now: DateTime<Utc>,
}

impl StatusInput<'_> {
    fn restart_policy(&self) -> &str {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .unwrap_or("Always")
    }

    pub fn init_done(&self) -> bool {
        self.app_started || self.init.iter().all(ContainerView::init_complete)
    }

    /// A regular init container failed and will not be retried.
    pub fn init_failed(&self) -> bool {
        self.restart_policy() == "Never"
            && self
                .init
                .iter()
                .any(|v| !v.is_sidecar() && v.exit_code().is_some_and(|c| c != 0))
    }

    /// The kubelet's `getPhase`.
    pub fn phase(&self) -> &'static str {
        if self.deadline_exceeded {
            return "Failed";
        }
        if !self.init_done() {
            return if self.init_failed() {
                "Failed"
            } else {
                "Pending"
            };
        }
        let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for v in &self.app {
            match v.latest.map(|c| &c.state) {
                None | Some(ContainerState::Created) => waiting += 1,
                Some(ContainerState::Running { .. }) => running += 1,
                Some(ContainerState::Exited { exit_code, .. }) => {
                    stopped += 1;
                    // One waiting to restart has not succeeded, whatever its code.
                    if *exit_code == 0 && v.waiting.is_none() {
                        succeeded += 1;
                    }
                }
            }
        }
        let policy = self.restart_policy();
        if waiting > 0 {
            "Pending"
        } else if running > 0 {
            "Running"
        } else if stopped > 0 {
            if policy == "Always" {
                "Running"
            } else if stopped == succeeded {
                "Succeeded"
            } else if policy == "Never" {
                "Failed"
            } else {
                "Running"
            }
        } else {
            "Pending"
        }
    }
}

/// The whole status to report.
pub fn build(input: &StatusInput) -> PodStatus {
    let current = input.pod.status.clone().unwrap_or_default();
    let phase = input.phase();
    let init_done = input.init_done();
    let mut status = PodStatus {
        phase: Some(phase.to_string()),
        conditions: conditions(input, &current, phase, init_done),
        host_ip: Some(input.host_ip.to_string()),
        host_ips: vec![IpEntry {
            ip: input.host_ip.to_string(),
        }],
        pod_ip: input.pod_ip.map(|ip| ip.to_string()),
        pod_ips: input
            .pod_ip
            .map(|ip| IpEntry { ip: ip.to_string() })
            .into_iter()
            .collect(),
        start_time: Some(input.start_time),
        init_container_statuses: input
            .init
            .iter()
            .map(|v| container_status(v, input.id_scheme, "PodInitializing"))
            .collect(),
        container_statuses: input
            .app
            .iter()
            .map(|v| {
                let pending_reason = if input.init.is_empty() || init_done {
                    "ContainerCreating"
                } else {
                    "PodInitializing"
                };
                container_status(v, input.id_scheme, pending_reason)
            })
            .collect(),
        qos_class: current
            .qos_class
            .clone()
            .or_else(|| input.pod.spec.as_ref().map(|s| qos_class(s).to_string())),
        nominated_node_name: current.nominated_node_name.clone(),
        ..PodStatus::default()
    };
    if input.deadline_exceeded {
        status.reason = Some("DeadlineExceeded".into());
        status.message = Some(DEADLINE_EXCEEDED_MESSAGE.into());
    }
    status
}

fn conditions(
    input: &StatusInput,
    current: &PodStatus,
    phase: &str,
    init_done: bool,
) -> Vec<PodCondition> {
    let now = Time::from(input.now);
    let cond = |type_: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        let since = current
            .condition(type_)
            .filter(|c| c.status == status)
            .and_then(|c| c.last_transition_time)
            .unwrap_or(now);
        PodCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            last_probe_time: None,
            last_transition_time: Some(since),
            reason: reason.map(str::to_string),
            message,
        }
    };
    let names = |views: &[ContainerView], keep: &dyn Fn(&ContainerView) -> bool| {
        let list: Vec<&str> = views
            .iter()
            .filter(|v| keep(v))
            .map(|v| v.spec.name.as_str())
            .collect();
        list.join(" ")
    };

    let initialized = if init_done {
        cond("Initialized", true, None, None)
    } else {
        let incomplete = names(&input.init, &|v| !v.init_complete());
        cond(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!("containers with incomplete status: [{incomplete}]")),
        )
    };
    let containers_ready = if phase == "Succeeded" {
        cond("ContainersReady", false, Some("PodCompleted"), None)
    } else if input.app.iter().all(ContainerView::ready) {
        cond("ContainersReady", true, None, None)
    } else {
        let unready = names(&input.app, &|v| !v.ready());
        cond(
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            Some(format!("containers with unready status: [{unready}]")),
        )
    };
    let ready = if containers_ready.status != "True" {
        cond(
            "Ready",
            false,
            containers_ready.reason.as_deref(),
            containers_ready.message.clone(),
        )
    } else {
        match unmet_readiness_gate(input.pod, current) {
            Some(message) => cond(
                "Ready",
                false,
                Some("ReadinessGatesNotReady"),
                Some(message),
            ),
            None => cond("Ready", true, None, None),
        }
    };
    let scheduled = current
        .condition("PodScheduled")
        .filter(|c| c.status == "True")
        .cloned()
        .unwrap_or_else(|| cond("PodScheduled", true, None, None));
    let mut out = vec![
        cond("PodReadyToStartContainers", input.sandbox_ready, None, None),
        initialized,
        ready,
        containers_ready,
        scheduled,
    ];
    out.extend(
        current
            .conditions
            .iter()
            .filter(|c| !OWNED_CONDITIONS.contains(&c.type_.as_str()))
            .cloned(),
    );
    out
}

/// The message of the first readiness gate whose condition is not True.
fn unmet_readiness_gate(pod: &Pod, current: &PodStatus) -> Option<String> {
    let gates = pod.spec.as_ref().map(|s| s.readiness_gates.as_slice())?;
    gates
        .iter()
        .find_map(|g| match current.condition(&g.condition_type) {
            None => Some(format!(
                "corresponding condition of pod readiness gate \"{}\" does not exist.",
                g.condition_type
            )),
            Some(c) if c.status != "True" => Some(format!(
                "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                g.condition_type, c.status
            )),
            Some(_) => None,
        })
}

fn container_status(v: &ContainerView, scheme: &str, pending_reason: &str) -> ContainerStatus {
    let terminated = |c: &ContainerInfo| terminated_state(c, scheme);
    let (state, last) = match (&v.waiting, v.latest) {
        (Some(w), latest) => {
            let last = latest
                .and_then(terminated)
                .or_else(|| v.previous.and_then(terminated));
            (
                ApiState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(w.reason.clone()),
                        message: w.message.clone(),
                    }),
                    ..ApiState::default()
                },
                last,
            )
        }
        (None, None)
        | (
            None,
            Some(ContainerInfo {
                state: ContainerState::Created,
                ..
            }),
        ) => (
            ApiState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(pending_reason.to_string()),
                    message: None,
                }),
                ..ApiState::default()
            },
            v.previous.and_then(terminated),
        ),
        (None, Some(c)) => {
            let state = match &c.state {
                ContainerState::Running { started_at } => ApiState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(Time::from(*started_at)),
                    }),
                    ..ApiState::default()
                },
                _ => ApiState {
                    terminated: terminated(c),
                    ..ApiState::default()
                },
            };
            (state, v.previous.and_then(terminated))
        }
    };
    ContainerStatus {
        name: v.spec.name.clone(),
        state: Some(state),
        last_state: last.map(|t| ApiState {
            terminated: Some(t),
            ..ApiState::default()
        }),
        ready: v.ready(),
        restart_count: v.latest.map_or(0, |c| c.restart_count as i32),
        image: v.spec.image_str().to_string(),
        image_id: v.latest.map(|c| c.image_ref.clone()).unwrap_or_default(),
        container_id: v.latest.map(|c| container_id(scheme, c)),
        started: Some(v.started()),
    }
}

pub fn container_id(scheme: &str, c: &ContainerInfo) -> String {
    format!("{scheme}://{}", c.id)
}

fn terminated_state(c: &ContainerInfo, scheme: &str) -> Option<ContainerStateTerminated> {
    match &c.state {
        ContainerState::Exited {
            exit_code,
            signal,
            reason,
            message,
            started_at,
            finished_at,
        } => Some(ContainerStateTerminated {
            exit_code: *exit_code,
            signal: *signal,
            reason: Some(reason.as_str().to_string()),
            message: message.clone(),
            started_at: started_at.map(Time::from),
            finished_at: Some(Time::from(*finished_at)),
            container_id: Some(container_id(scheme, c)),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ContainerId, ExitReason};
    use skiff_api::core::{PodReadinessGate, PodSpec, ResourceRequirements};
    use skiff_api::meta::ObjectMeta;
    use skiff_api::quantity::Quantity;

    fn spec(name: &str) -> Container {
        Container {
            name: name.into(),
            image: Some("nginx".into()),
            ..Default::default()
        }
    }

    fn pod(policy: &str, containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers,
                init_containers: init,
                restart_policy: Some(policy.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn info(name: &str, restarts: u32, state: ContainerState, ready: bool) -> ContainerInfo {
        ContainerInfo {
            id: ContainerId::new(format!("id-{name}-{restarts}")),
            pod_uid: "u1".into(),
            name: name.into(),
            restart_count: restarts,
            image: "nginx".into(),
            image_ref: "nginx@hollow:1".into(),
            state,
            ready,
            created_at: Utc::now(),
        }
    }

    fn running() -> ContainerState {
        ContainerState::Running {
            started_at: Utc::now(),
        }
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState::Exited {
            exit_code: code,
            signal: None,
            reason: ExitReason::from_code(code),
            message: None,
            started_at: Some(Utc::now()),
            finished_at: Utc::now(),
        }
    }

    fn input<'a>(
        pod: &'a Pod,
        app: Vec<ContainerView<'a>>,
        init: Vec<ContainerView<'a>>,
    ) -> StatusInput<'a> {
        StatusInput {
            pod,
            id_scheme: "hollow",
            host_ip: "10.250.0.1".parse().unwrap(),
            pod_ip: Some("10.244.0.5".parse().unwrap()),
            sandbox_ready: true,
            start_time: Time::now(),
            init,
            app,
            app_started: false,
            deadline_exceeded: false,
            now: Utc::now(),
        }
    }

    fn view<'a>(spec: &'a Container, latest: Option<&'a ContainerInfo>) -> ContainerView<'a> {
        ContainerView {
            spec,
            latest,
            previous: None,
            waiting: None,
            probes: ProbeView::default(),
        }
    }

    #[test]
    fn a_running_ready_pod() {
        let p = pod("Always", vec![spec("web")], vec![]);
        let c = info("web", 0, running(), true);
        let spec_c = &p.spec.as_ref().unwrap().containers[0];
        let s = build(&input(&p, vec![view(spec_c, Some(&c))], vec![]));
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert!(s.is_ready());
        let types: Vec<_> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, OWNED_CONDITIONS);
        assert!(s.conditions.iter().all(|c| c.status == "True"));
        let cs = &s.container_statuses[0];
        assert!(cs.ready && cs.started == Some(true));
        assert!(cs.state.as_ref().unwrap().running.is_some());
        assert_eq!(cs.container_id.as_deref(), Some("hollow://id-web-0"));
        assert_eq!(cs.image_id, "nginx@hollow:1");
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.5"));
        assert_eq!(s.host_ips[0].ip, "10.250.0.1");
        assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    }

    #[test]
    fn phases_follow_the_kubelet() {
        let cases: &[(&str, &[Option<ContainerState>], &str)] = &[
            ("Always", &[None], "Pending"),
            ("Always", &[Some(running()), None], "Pending"),
            ("Always", &[Some(running()), Some(exited(0))], "Running"),
            ("Always", &[Some(exited(0))], "Running"),
            (
                "OnFailure",
                &[Some(exited(0)), Some(exited(0))],
                "Succeeded",
            ),
            ("OnFailure", &[Some(exited(1))], "Running"),
            ("Never", &[Some(exited(0)), Some(exited(1))], "Failed"),
            ("Never", &[Some(exited(0))], "Succeeded"),
            ("Never", &[Some(running()), Some(exited(1))], "Running"),
        ];
        for (policy, states, want) in cases {
            let names: Vec<String> = (0..states.len()).map(|i| format!("c{i}")).collect();
            let p = pod(policy, names.iter().map(|n| spec(n)).collect(), vec![]);
            let infos: Vec<Option<ContainerInfo>> = states
                .iter()
                .zip(&names)
                .map(|(s, n)| s.clone().map(|s| info(n, 0, s, true)))
                .collect();
            let specs = &p.spec.as_ref().unwrap().containers;
            let views = specs
                .iter()
                .zip(&infos)
                .map(|(sp, i)| view(sp, i.as_ref()))
                .collect();
            assert_eq!(
                input(&p, views, vec![]).phase(),
                *want,
                "{policy} {states:?}"
            );
        }
    }

    #[test]
    fn crash_loop_back_off_keeps_the_last_termination() {
        let p = pod("Always", vec![spec("c")], vec![]);
        let last = info("c", 3, exited(1), false);
        let prev = info("c", 2, exited(1), false);
        let sp = &p.spec.as_ref().unwrap().containers[0];
        let v = ContainerView {
            spec: sp,
            latest: Some(&last),
            previous: Some(&prev),
            waiting: Some(Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(
                    "back-off 10s restarting failed container=c pod=p_default(u1)".into(),
                ),
            }),
            probes: ProbeView::default(),
        };
        let s = build(&input(&p, vec![v], vec![]));
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let cs = &s.container_statuses[0];
        assert_eq!(cs.restart_count, 3);
        let waiting = cs.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
        let last_term = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(last_term.exit_code, 1);
        assert_eq!(last_term.reason.as_deref(), Some("Error"));
        assert_eq!(last_term.container_id.as_deref(), Some("hollow://id-c-3"));
        let ready = s.condition("Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [c]")
        );
    }

    #[test]
    fn init_containers_gate_the_pod() {
        let p = pod(
            "Always",
            vec![spec("app")],
            vec![spec("setup"), spec("migrate")],
        );
        let ps = p.spec.as_ref().unwrap();
        let done = info("setup", 0, exited(0), false);
        let busy = info("migrate", 0, running(), true);
        let init = vec![
            view(&ps.init_containers[0], Some(&done)),
            view(&ps.init_containers[1], Some(&busy)),
        ];
        let s = build(&input(&p, vec![view(&ps.containers[0], None)], init));
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let initialized = s.condition("Initialized").unwrap();
        assert_eq!(initialized.status, "False");
        assert_eq!(
            initialized.message.as_deref(),
            Some("containers with incomplete status: [migrate]")
        );
        let app = &s.container_statuses[0];
        assert_eq!(
            app.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("PodInitializing")
        );
        assert_eq!(s.init_container_statuses.len(), 2);
        // A failed init container fails a Never pod.
        let never = pod("Never", vec![spec("app")], vec![spec("setup")]);
        let ns = never.spec.as_ref().unwrap();
        let failed = info("setup", 0, exited(2), false);
        let i = input(
            &never,
            vec![view(&ns.containers[0], None)],
            vec![view(&ns.init_containers[0], Some(&failed))],
        );
        assert_eq!(i.phase(), "Failed");
    }

    #[test]
    fn completed_pods_and_deadlines() {
        let p = pod("Never", vec![spec("job")], vec![]);
        let sp = &p.spec.as_ref().unwrap().containers[0];
        let c = info("job", 0, exited(0), false);
        let s = build(&input(&p, vec![view(sp, Some(&c))], vec![]));
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        assert_eq!(
            s.condition("Ready").unwrap().reason.as_deref(),
            Some("PodCompleted")
        );
        let term = s.container_statuses[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(term.reason.as_deref(), Some("Completed"));
        let r = info("job", 0, running(), true);
        let mut i = input(&p, vec![view(sp, Some(&r))], vec![]);
        i.deadline_exceeded = true;
        let s = build(&i);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        assert_eq!(s.reason.as_deref(), Some("DeadlineExceeded"));
    }

    #[test]
    fn transition_times_and_foreign_conditions_are_kept() {
        let mut p = pod("Always", vec![spec("web")], vec![]);
        p.spec.as_mut().unwrap().readiness_gates = vec![PodReadinessGate {
            condition_type: "example.com/gate".into(),
        }];
        p.spec.as_mut().unwrap().containers[0].resources = ResourceRequirements {
            requests: [("cpu".to_string(), Quantity::new("100m"))].into(),
            ..Default::default()
        };
        let c = info("web", 0, running(), true);
        let first = {
            let sp = &p.spec.as_ref().unwrap().containers[0];
            build(&input(&p, vec![view(sp, Some(&c))], vec![]))
        };
        let ready = first.condition("Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert_eq!(first.qos_class.as_deref(), Some("Burstable"));
        // The gate's condition arrives; the old transition times stay.
        let mut current = first.clone();
        let old = Time::from(Utc::now() - chrono::Duration::seconds(60));
        for c in &mut current.conditions {
            c.last_transition_time = Some(old);
        }
        current.conditions.push(PodCondition {
            type_: "example.com/gate".into(),
            status: "True".into(),
            ..Default::default()
        });
        p.status = Some(current);
        let sp = &p.spec.as_ref().unwrap().containers[0];
        let second = build(&input(&p, vec![view(sp, Some(&c))], vec![]));
        assert!(second.is_ready());
        assert_ne!(
            second.condition("Ready").unwrap().last_transition_time,
            Some(old)
        );
        assert_eq!(
            second
                .condition("ContainersReady")
                .unwrap()
                .last_transition_time,
            Some(old)
        );
        assert!(second.condition("example.com/gate").is_some());
    }
    #[test]
    fn probes_decide_started_and_ready() {
        let p = pod("Always", vec![spec("web"), spec("db")], vec![]);
        let ps = p.spec.as_ref().unwrap();
        let web = info("web", 0, running(), true);
        let db = info("db", 0, running(), true);
        let with = |probes: ProbeView| {
            let mut v = view(&ps.containers[0], Some(&web));
            v.probes = probes;
            build(&input(
                &p,
                vec![v, view(&ps.containers[1], Some(&db))],
                vec![],
            ))
        };
        // A readiness probe that has not passed: unready, but started.
        let s = with(ProbeView {
            ready: Some(false),
            started: None,
        });
        assert!(!s.container_statuses[0].ready);
        assert_eq!(s.container_statuses[0].started, Some(true));
        assert!(s.container_statuses[1].ready);
        assert_eq!(s.condition("ContainersReady").unwrap().status, "False");
        assert_eq!(
            s.condition("Ready").unwrap().message.as_deref(),
            Some("containers with unready status: [web]")
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        // It passes: the pod is Ready.
        let s = with(ProbeView {
            ready: Some(true),
            started: None,
        });
        assert!(s.is_ready());
        // A startup probe that has not passed: neither started nor ready.
        let s = with(ProbeView {
            ready: None,
            started: Some(false),
        });
        assert_eq!(s.container_statuses[0].started, Some(false));
        assert!(!s.container_statuses[0].ready);
        assert!(!s.is_ready());
        let s = with(ProbeView {
            ready: None,
            started: Some(true),
        });
        assert!(s.is_ready());
    }
}
