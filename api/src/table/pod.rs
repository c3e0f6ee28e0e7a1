//! The Pod row: READY, STATUS and RESTARTS are worked out from the
//! container statuses exactly as kube-apiserver's printer does.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::duration::{age, human_duration, parse_time};
use super::read::{condition_true, list, text, text_or};

/// A container status's `state` or `lastState` entry.
fn state<'a>(cs: &'a Value, which: &str, kind: &str) -> Option<&'a Value> {
    cs.get(which)
        .and_then(|s| s.get(kind))
        .filter(|v| v.is_object())
}

/// `Signal:N` / `ExitCode:N` (with a prefix) for a terminated state without reason.
fn terminated_code(t: &Value, prefix: &str) -> String {
    let signal = t.get("signal").and_then(Value::as_i64).unwrap_or(0);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
        format!("{prefix}ExitCode:{code}")
    }
}

/// Keeps the later of the latest restart time and this container's last termination.
fn note_restart(latest: &mut Option<DateTime<Utc>>, cs: &Value) {
    let finished = state(cs, "lastState", "terminated")
        .and_then(|t| t.get("finishedAt"))
        .and_then(Value::as_str)
        .and_then(parse_time);
    if let Some(f) = finished
        && latest.is_none_or(|l| l < f)
    {
        *latest = Some(f);
    }
}

struct Summary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<DateTime<Utc>>,
}

fn summarize(pod: &Value) -> Summary {
    let init_specs = list(pod, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| text(c, "/name") == name && text(c, "/restartPolicy") == "Always")
    };
    let phase = text(pod, "/status/phase");
    let mut s = Summary {
        ready: 0,
        total: list(pod, "/spec/containers").len()
            + init_specs
                .iter()
                .filter(|c| text(c, "/restartPolicy") == "Always")
                .count(),
        reason: text_or(pod, "/status/reason", phase),
        restarts: 0,
        last_restart: None,
    };
    let gated = list(pod, "/status/conditions")
        .iter()
        .any(|c| text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated");
    if gated {
        s.reason = "SchedulingGated".into();
    }

    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart = None;
    let mut initializing = false;
    for (i, cs) in list(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let rc = cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        s.restarts += rc;
        note_restart(&mut s.last_restart, cs);
        let sidecar = restartable(text(cs, "/name"));
        if sidecar {
            sidecar_restarts += rc;
            note_restart(&mut sidecar_last_restart, cs);
        }
        let terminated = state(cs, "state", "terminated");
        let waiting_reason = state(cs, "state", "waiting")
            .map(|w| text(w, "/reason"))
            .unwrap_or("");
        if terminated.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64).unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && cs.get("started").and_then(Value::as_bool) == Some(true) {
            if cs.get("ready").and_then(Value::as_bool) == Some(true) {
                s.ready += 1;
            }
            continue;
        }
        s.reason = match terminated {
            Some(t) => match text(t, "/reason") {
                "" => terminated_code(t, "Init:"),
                r => format!("Init:{r}"),
            },
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                format!("Init:{waiting_reason}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "/status/conditions", "Initialized") {
        s.restarts = sidecar_restarts;
        s.last_restart = sidecar_last_restart;
        let mut has_running = false;
        for cs in list(pod, "/status/containerStatuses").iter().rev() {
            s.restarts += cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            note_restart(&mut s.last_restart, cs);
            let waiting = state(cs, "state", "waiting")
                .map(|w| text(w, "/reason"))
                .unwrap_or("");
            let terminated = state(cs, "state", "terminated");
            if !waiting.is_empty() {
                s.reason = waiting.to_string();
            } else if let Some(t) = terminated {
                s.reason = match text(t, "/reason") {
                    "" => terminated_code(t, ""),
                    r => r.to_string(),
                };
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true)
                && state(cs, "state", "running").is_some()
            {
                has_running = true;
                s.ready += 1;
            }
        }
        if s.reason == "Completed" && has_running {
            s.reason = if condition_true(pod, "/status/conditions", "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    if deleting && text(pod, "/status/reason") == "NodeLost" {
        s.reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        s.reason = "Terminating".into();
    }
    if s.reason.is_empty() {
        // A pod nothing has reported on yet.
        s.reason = "Pending".into();
    }
    s
}

pub(crate) fn cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let s = summarize(pod);
    let restarts = match s.last_restart {
        Some(t) if s.restarts != 0 => format!("{} ({} ago)", s.restarts, human_duration(now - t)),
        _ => s.restarts.to_string(),
    };
    let ip = list(pod, "/status/podIPs")
        .first()
        .map(|p| text(p, "/ip").to_string())
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| text_or(pod, "/status/podIP", "<none>"));
    let gates = list(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let ready = gates
            .iter()
            .filter(|g| condition_true(pod, "/status/conditions", text(g, "/conditionType")))
            .count();
        format!("{ready}/{}", gates.len())
    };
    vec![
        json!(text(pod, "/metadata/name")),
        json!(format!("{}/{}", s.ready, s.total)),
        json!(s.reason),
        json!(restarts),
        json!(age(
            pod.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str),
            now
        )),
        json!(ip),
        json!(text_or(pod, "/spec/nodeName", "<none>")),
        json!(text_or(pod, "/status/nominatedNodeName", "<none>")),
        json!(readiness_gates),
    ]
}

/// Row conditions the real printer attaches to finished pods.
pub(crate) fn conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match text(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-27T06:35:18Z").unwrap()
    }

    fn pod(status: Value) -> Value {
        json!({
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-11-27T06:35:16Z"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx"}]},
            "status": status
        })
    }

    fn status_cell(p: &Value) -> String {
        cells(p, now())[2].as_str().unwrap().to_string()
    }

    #[test]
    fn running_pod_like_the_wire_doc() {
        let p = pod(
            json!({"phase": "Running", "podIPs": [{"ip": "10.244.0.11"}], "podIP": "10.244.0.11",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0,
                                   "state": {"running": {"startedAt": "2026-11-27T06:35:17Z"}}}]}),
        );
        assert_eq!(
            Value::Array(cells(&p, now())),
            json!([
                "web",
                "1/1",
                "Running",
                "0",
                "2s",
                "10.244.0.11",
                "node-1",
                "<none>",
                "<none>"
            ])
        );
    }

    #[test]
    fn waiting_and_terminated_reasons() {
        let waiting = |reason: &str| {
            pod(
                json!({"phase": "Pending", "containerStatuses": [{"name": "nginx", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": reason}}}]}),
            )
        };
        assert_eq!(
            status_cell(&waiting("ContainerCreating")),
            "ContainerCreating"
        );
        assert_eq!(
            status_cell(&waiting("CrashLoopBackOff")),
            "CrashLoopBackOff"
        );
        let terminated = |t: Value| {
            pod(
                json!({"phase": "Failed", "containerStatuses": [{"name": "nginx",
            "restartCount": 0, "state": {"terminated": t}}]}),
            )
        };
        assert_eq!(
            status_cell(&terminated(json!({"exitCode": 0, "reason": "Completed"}))),
            "Completed"
        );
        assert_eq!(
            status_cell(&terminated(json!({"exitCode": 1, "reason": "Error"}))),
            "Error"
        );
        assert_eq!(
            status_cell(&terminated(json!({"exitCode": 137, "reason": "OOMKilled"}))),
            "OOMKilled"
        );
        assert_eq!(
            status_cell(&terminated(json!({"exitCode": 2}))),
            "ExitCode:2"
        );
        assert_eq!(
            status_cell(&terminated(json!({"exitCode": 2, "signal": 9}))),
            "Signal:9"
        );
    }

    #[test]
    fn pending_and_terminating() {
        let mut p = pod(json!({}));
        p.as_object_mut().unwrap().remove("status");
        assert_eq!(status_cell(&p), "Pending");
        assert_eq!(cells(&p, now())[1], "0/1");
        assert_eq!(cells(&p, now())[5], "<none>");
        let mut t = pod(json!({"phase": "Running"}));
        t["metadata"]["deletionTimestamp"] = json!("2026-11-27T06:35:17Z");
        assert_eq!(status_cell(&t), "Terminating");
        let mut done = pod(json!({"phase": "Succeeded"}));
        done["metadata"]["deletionTimestamp"] = json!("2026-11-27T06:35:17Z");
        assert_eq!(status_cell(&done), "Succeeded");
        assert!(conditions(&done).is_some());
        assert!(conditions(&t).is_none());
    }

    #[test]
    fn restarts_with_last_restart_age() {
        let p = pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "nginx", "ready": true,
            "restartCount": 3, "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-27T06:30:18Z"}}}]}),
        );
        assert_eq!(cells(&p, now())[3], "3 (5m ago)");
        let q = pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "nginx", "ready": true,
            "restartCount": 2, "state": {"running": {}}}]}),
        );
        assert_eq!(cells(&q, now())[3], "2");
    }

    #[test]
    fn completed_with_a_running_container() {
        let mut p = pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        p["spec"]["containers"] = json!([{"name": "a"}, {"name": "b"}]);
        let c = cells(&p, now());
        assert_eq!(
            (c[1].as_str().unwrap(), c[2].as_str().unwrap()),
            ("1/2", "NotReady")
        );
    }

    #[test]
    fn init_containers() {
        let mut p = pod(json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "setup", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}));
        p["spec"]["initContainers"] = json!([{"name": "setup"}, {"name": "more"}]);
        assert_eq!(status_cell(&p), "Init:0/2");
        p["status"]["initContainerStatuses"][0]["state"] =
            json!({"terminated": {"exitCode": 1, "reason": "Error"}});
        assert_eq!(status_cell(&p), "Init:Error");
        p["status"]["initContainerStatuses"][0]["state"] =
            json!({"waiting": {"reason": "ImagePullBackOff"}});
        assert_eq!(status_cell(&p), "Init:ImagePullBackOff");
        p["status"]["initContainerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 3}});
        assert_eq!(status_cell(&p), "Init:ExitCode:3");
    }

    #[test]
    fn sidecars_count_as_containers() {
        let mut p = pod(json!({"phase": "Running", "initContainerStatuses": [
            {"name": "proxy", "restartCount": 1, "started": true, "ready": true, "state": {"running": {}}}],
            "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0, "state": {"running": {}}}]}));
        p["spec"]["initContainers"] = json!([{"name": "proxy", "restartPolicy": "Always"}]);
        let c = cells(&p, now());
        assert_eq!(
            (
                c[1].as_str().unwrap(),
                c[2].as_str().unwrap(),
                c[3].as_str().unwrap()
            ),
            ("2/2", "Running", "1")
        );
    }

    #[test]
    fn wide_cells() {
        let mut p = pod(json!({"phase": "Pending", "nominatedNodeName": "node-2",
            "conditions": [{"type": "example.com/gate", "status": "True"}]}));
        p["spec"]["readinessGates"] =
            json!([{"conditionType": "example.com/gate"}, {"conditionType": "other"}]);
        p["spec"].as_object_mut().unwrap().remove("nodeName");
        let c = cells(&p, now());
        assert_eq!(
            Value::Array(c[5..].to_vec()),
            json!(["<none>", "<none>", "node-2", "1/2"])
        );
    }
}
