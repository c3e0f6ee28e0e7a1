//! Rows of the controllers' kinds: Deployment, ReplicaSet, Job, CronJob.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::duration::{age, human_duration, parse_time};
use super::read::{
    at, condition_true, containers_and_images, format_label_selector, int, int0, list, text,
};
use crate::selector::LabelSelector;

fn created(o: &Value, now: DateTime<Utc>) -> String {
    age(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
        now,
    )
}

/// `spec.replicas`, which defaults to 1 for Deployments and ReplicaSets.
fn desired(o: &Value) -> i64 {
    int(o, "/spec/replicas").unwrap_or(1)
}

/// Containers, Images and Selector cells of a pod-template kind.
fn wide(containers: &[Value], selector: String) -> [Value; 3] {
    let (names, images) = containers_and_images(containers);
    [json!(names), json!(images), json!(selector)]
}

pub(crate) fn deployment(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // printDeployment prints the selector as is: empty stays empty.
    let selector = match LabelSelector::from_json_opt(at(d, "/spec/selector")) {
        Ok(s) => s.to_string(),
        Err(_) => "<invalid>".into(),
    };
    let mut cells = vec![
        json!(text(d, "/metadata/name")),
        json!(format!(
            "{}/{}",
            int0(d, "/status/readyReplicas"),
            desired(d)
        )),
        json!(int0(d, "/status/updatedReplicas")),
        json!(int0(d, "/status/availableReplicas")),
        json!(created(d, now)),
    ];
    cells.extend(wide(list(d, "/spec/template/spec/containers"), selector));
    cells
}

pub(crate) fn replicaset(rs: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        json!(text(rs, "/metadata/name")),
        json!(desired(rs)),
        json!(int0(rs, "/status/replicas")),
        json!(int0(rs, "/status/readyReplicas")),
        json!(created(rs, now)),
    ];
    cells.extend(wide(
        list(rs, "/spec/template/spec/containers"),
        format_label_selector(at(rs, "/spec/selector")),
    ));
    cells
}

fn job_status(job: &Value) -> &'static str {
    let has = |kind| condition_true(job, "/status/conditions", kind);
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if at(job, "/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_completions(job: &Value) -> String {
    let succeeded = int0(job, "/status/succeeded");
    match int(job, "/spec/completions") {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int0(job, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

fn job_duration(job: &Value, now: DateTime<Utc>) -> String {
    let time = |p: &str| at(job, p).and_then(Value::as_str).and_then(parse_time);
    match (time("/status/startTime"), time("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    }
}

pub(crate) fn job(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        json!(text(job, "/metadata/name")),
        json!(job_status(job)),
        json!(job_completions(job)),
        json!(job_duration(job, now)),
        json!(created(job, now)),
    ];
    cells.extend(wide(
        list(job, "/spec/template/spec/containers"),
        format_label_selector(at(job, "/spec/selector")),
    ));
    cells
}

pub(crate) fn cronjob(cj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last_schedule = match at(cj, "/status/lastScheduleTime").and_then(Value::as_str) {
        Some(t) => age(Some(t), now),
        None => "<none>".into(),
    };
    let suspend = match at(cj, "/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let timezone = match text(cj, "/spec/timeZone") {
        "" => "<none>",
        tz => tz,
    };
    let mut cells = vec![
        json!(text(cj, "/metadata/name")),
        json!(text(cj, "/spec/schedule")),
        json!(timezone),
        json!(suspend),
        json!(list(cj, "/status/active").len()),
        json!(last_schedule),
        json!(created(cj, now)),
    ];
    cells.extend(wide(
        list(cj, "/spec/jobTemplate/spec/template/spec/containers"),
        format_label_selector(at(cj, "/spec/jobTemplate/spec/selector")),
    ));
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-27T12:00:00Z").unwrap()
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}})
    }

    #[test]
    fn deployment_row() {
        let d = json!({"kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "creationTimestamp": "2026-11-27T11:15:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}}, "template": template()},
            "status": {"replicas": 3, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 1}});
        assert_eq!(
            Value::Array(deployment(&d, now())),
            json!([
                "nginx-deployment",
                "2/3",
                2,
                1,
                "45m",
                "nginx,log",
                "nginx:1.27,busybox",
                "app=nginx"
            ])
        );
        let fresh = json!({"metadata": {"name": "x"}, "spec": {"selector": {}}});
        assert_eq!(
            Value::Array(deployment(&fresh, now())),
            json!(["x", "0/1", 0, 0, "<unknown>", "", "", ""])
        );
    }

    #[test]
    fn replicaset_row() {
        let rs = json!({"metadata": {"name": "nginx-deployment-5d9c8f", "creationTimestamp": "2026-11-27T09:00:00Z"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx", "pod-template-hash": "5d9c8f"}},
                     "template": template()},
            "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(
            Value::Array(replicaset(&rs, now())),
            json!([
                "nginx-deployment-5d9c8f",
                2,
                2,
                1,
                "3h",
                "nginx,log",
                "nginx:1.27,busybox",
                "app=nginx,pod-template-hash=5d9c8f"
            ])
        );
        let bare = json!({"metadata": {"name": "r"}, "spec": {"replicas": 0}});
        assert_eq!(replicaset(&bare, now())[7], "<none>");
    }

    #[test]
    fn job_rows() {
        let base = json!({"metadata": {"name": "pi", "creationTimestamp": "2026-11-27T11:58:00Z"},
            "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                     "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
            "status": {"startTime": "2026-11-27T11:58:05Z"}});
        assert_eq!(
            Value::Array(job(&base, now())),
            json!([
                "pi",
                "Running",
                "0/1",
                "115s",
                "2m",
                "pi",
                "perl",
                "batch.kubernetes.io/controller-uid=u"
            ])
        );
        let mut done = base.clone();
        done["status"] = json!({"startTime": "2026-11-27T11:58:05Z", "completionTime": "2026-11-27T11:58:40Z",
            "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]});
        let c = job(&done, now());
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[3].clone()),
            (json!("Complete"), json!("1/1"), json!("35s"))
        );
        let mut failed = base.clone();
        failed["status"]["conditions"] = json!([{"type": "Failed", "status": "True"}]);
        assert_eq!(job(&failed, now())[1], "Failed");
        let mut suspended = base.clone();
        suspended["status"] = json!({"conditions": [{"type": "Suspended", "status": "True"}]});
        let c = job(&suspended, now());
        assert_eq!(
            (c[1].clone(), c[3].clone()),
            (json!("Suspended"), json!(""))
        );
        let mut parallel = base.clone();
        parallel["spec"]
            .as_object_mut()
            .unwrap()
            .remove("completions");
        parallel["spec"]["parallelism"] = json!(3);
        assert_eq!(job(&parallel, now())[2], "0/1 of 3");
    }

    #[test]
    fn cronjob_rows() {
        let cj = json!({"metadata": {"name": "hello", "creationTimestamp": "2026-11-20T12:00:00Z"},
            "spec": {"schedule": "*/1 * * * *", "suspend": false, "jobTemplate": {"spec": {
                "template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2026-11-27T11:59:00Z"}});
        assert_eq!(
            Value::Array(cronjob(&cj, now())),
            json!([
                "hello",
                "*/1 * * * *",
                "<none>",
                "False",
                1,
                "60s",
                "7d",
                "hello",
                "busybox",
                "<none>"
            ])
        );
        let idle = json!({"metadata": {"name": "n"}, "spec": {"schedule": "@daily", "timeZone": "Etc/UTC"}});
        let c = cronjob(&idle, now());
        assert_eq!(
            Value::Array(c[1..6].to_vec()),
            json!(["@daily", "Etc/UTC", "<unset>", 0, "<none>"])
        );
    }
}
