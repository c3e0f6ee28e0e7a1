//! What the pod's status already says about a container's logs: the
//! kubelet's checks (and wording), made before the agent is asked.

use serde_json::Value;
use skiff_api::Status;

/// Err when `container` has no logs to show: not started yet (with the
/// waiting reason), or no previous instance for `previous`.
pub fn check_log_status(
    pod: &Value,
    pod_name: &str,
    container: &str,
    previous: bool,
) -> Result<(), Status> {
    let status = ["/status/containerStatuses", "/status/initContainerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container));
    let Some(status) = status else {
        return Err(waiting(container, pod_name, "ContainerCreating"));
    };
    let has_id = |state: &str| {
        status
            .pointer(&format!("/{state}/terminated/containerID"))
            .and_then(Value::as_str)
            .is_some_and(|id| !id.is_empty())
    };
    if previous {
        if !has_id("lastState") {
            return Err(Status::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
            )));
        }
        return Ok(());
    }
    let state = status.get("state");
    let is = |s: &str| state.and_then(|st| st.get(s)).is_some();
    if is("running") || has_id("state") || has_id("lastState") {
        return Ok(());
    }
    if is("terminated") {
        return Err(Status::bad_request(format!(
            "container \"{container}\" in pod \"{pod_name}\" is terminated"
        )));
    }
    let reason = state
        .and_then(|st| st.pointer("/waiting/reason"))
        .and_then(Value::as_str)
        .unwrap_or("ContainerCreating");
    Err(waiting(container, pod_name, reason))
}

fn waiting(container: &str, pod: &str, reason: &str) -> Status {
    let why = match reason {
        "ErrImagePull" => "image can't be pulled",
        "ImagePullBackOff" => "trying and failing to pull image",
        other => other,
    };
    Status::bad_request(format!(
        "container \"{container}\" in pod \"{pod}\" is waiting to start: {why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(statuses: Value) -> Value {
        json!({"status": {"containerStatuses": statuses}})
    }

    #[test]
    fn unstarted_containers_say_why() {
        let err = check_log_status(&json!({}), "p", "c", false).unwrap_err();
        assert_eq!(
            err.message,
            "container \"c\" in pod \"p\" is waiting to start: ContainerCreating"
        );
        assert_eq!(err.code, 400);
        let pulling =
            pod(json!([{"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]));
        let err = check_log_status(&pulling, "p", "c", false).unwrap_err();
        assert!(err.message.ends_with("trying and failing to pull image"));
    }

    #[test]
    fn running_exited_and_previous() {
        let running = pod(json!([{"name": "c", "state": {"running": {}}}]));
        assert!(check_log_status(&running, "p", "c", false).is_ok());
        let err = check_log_status(&running, "p", "c", true).unwrap_err();
        assert_eq!(
            err.message,
            "previous terminated container \"c\" in pod \"p\" not found"
        );
        let restarted = pod(
            json!([{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "hollow://1"}}}]),
        );
        assert!(check_log_status(&restarted, "p", "c", false).is_ok());
        assert!(check_log_status(&restarted, "p", "c", true).is_ok());
        let done = pod(
            json!([{"name": "c", "state": {"terminated": {"exitCode": 0, "containerID": "hollow://2"}}}]),
        );
        assert!(check_log_status(&done, "p", "c", false).is_ok());
    }
}
