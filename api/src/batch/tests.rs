//! batch/v1 kinds through the codec.

use serde_json::{Value, json};

use super::*;
use crate::core::tests::{causes, ok, update_causes};

fn job(spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default"}, "spec": spec})
}

fn template(restart: &str) -> Value {
    json!({"spec": {"restartPolicy": restart,
        "containers": [{"name": "pi", "image": "perl:5.34", "command": ["perl", "-e", "print 1"]}]}})
}

#[test]
fn job_defaults() {
    let j = ok::<Job>(job(json!({"template": template("Never")})));
    let s = &j["spec"];
    assert_eq!(
        (s["parallelism"].clone(), s["completions"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(s["backoffLimit"], 6);
    assert_eq!(s["completionMode"], "NonIndexed");
    assert_eq!(s["suspend"], false);
    assert_eq!(s["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(s["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    // Parallelism alone leaves completions unset (a work queue).
    let j = ok::<Job>(job(
        json!({"parallelism": 3, "template": template("OnFailure")}),
    ));
    assert!(j["spec"].get("completions").is_none());
}

#[test]
fn job_restart_policy_is_never_defaulted_to_always() {
    let mut t = template("Never");
    t["spec"].as_object_mut().unwrap().remove("restartPolicy");
    assert_eq!(
        causes::<Job>(job(json!({"template": t}))),
        vec!["spec.template.spec.restartPolicy: Required value"]
    );
    assert_eq!(
        causes::<Job>(job(json!({"template": template("Always")}))),
        vec![
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ]
    );
}

#[test]
fn job_numbers() {
    assert_eq!(
        causes::<Job>(job(
            json!({"completions": -1, "parallelism": -2, "backoffLimit": -3, "template": template("Never")})
        )),
        vec![
            "spec.parallelism: Invalid value: -2: must be greater than or equal to 0",
            "spec.completions: Invalid value: -1: must be greater than or equal to 0",
            "spec.backoffLimit: Invalid value: -3: must be greater than or equal to 0",
        ]
    );
    assert_eq!(
        causes::<Job>(job(
            json!({"parallelism": 2, "completionMode": "Indexed", "template": template("Never")})
        )),
        vec!["spec.completions: Required value: when completion mode is Indexed"]
    );
}

#[test]
fn job_selectors() {
    // Manual selectors must be given and match.
    assert_eq!(
        causes::<Job>(job(
            json!({"manualSelector": true, "template": template("Never")})
        )),
        vec!["spec.selector: Required value"]
    );
    let mut t = template("Never");
    t["metadata"] = json!({"labels": {"app": "pi"}});
    assert_eq!(
        causes::<Job>(job(
            json!({"manualSelector": true, "selector": {"matchLabels": {"app": "other"}}, "template": t})
        )),
        vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"pi\"}: `selector` does not match template `labels`"
        ]
    );

    // The server generates one from the uid.
    let mut stored = ok::<Job>(job(json!({"template": t})));
    assert!(stored["spec"].get("selector").is_none());
    assert_eq!(stored["metadata"]["labels"], json!({"app": "pi"}));
    stored["metadata"]["uid"] = json!("1234");
    generate_selector_value(&mut stored).unwrap();
    assert_eq!(
        stored["spec"]["selector"],
        json!({"matchLabels": {CONTROLLER_UID_LABEL: "1234"}})
    );
    let labels = &stored["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels[CONTROLLER_UID_LABEL], "1234");
    assert_eq!(labels[LEGACY_CONTROLLER_UID_LABEL], "1234");
    assert_eq!(labels[JOB_NAME_LABEL], "pi");
    assert_eq!(labels[LEGACY_JOB_NAME_LABEL], "pi");
    assert_eq!(labels["app"], "pi");
    // Stored and normalized again (an update): still valid, unchanged.
    assert_eq!(ok::<Job>(stored.clone()), stored);

    // A selector not made for this uid is refused.
    let mut wrong = stored.clone();
    wrong["spec"]["selector"]["matchLabels"][CONTROLLER_UID_LABEL] = json!("5678");
    wrong["spec"]["template"]["metadata"]["labels"][CONTROLLER_UID_LABEL] = json!("5678");
    assert_eq!(
        causes::<Job>(wrong),
        vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"batch.kubernetes.io/controller-uid\":\"5678\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated"
        ]
    );
}

#[test]
fn job_updates() {
    let old = job(json!({"template": template("Never")}));
    let mut suspended = old.clone();
    suspended["spec"]["suspend"] = json!(true);
    suspended["spec"]["parallelism"] = json!(4);
    suspended["spec"]["completions"] = json!(1);
    assert!(update_causes::<Job>(suspended, old.clone()).is_empty());
    let mut changed = old.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:5.36");
    changed["spec"]["completions"] = json!(3);
    let c = update_causes::<Job>(changed, old);
    assert_eq!(c.len(), 2);
    assert!(c[0].starts_with("spec.template: Invalid value: {"));
    assert!(c[0].ends_with(": field is immutable"));
    assert_eq!(
        c[1],
        "spec.completions: Invalid value: 3: field is immutable"
    );
}

fn cron_job(spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "hello", "namespace": "default"}, "spec": spec})
}

fn job_template() -> Value {
    json!({"spec": {"template": template("OnFailure")}})
}

#[test]
fn cron_job_defaults() {
    let cj = ok::<CronJob>(cron_job(
        json!({"schedule": "*/1 * * * *", "jobTemplate": job_template()}),
    ));
    let s = &cj["spec"];
    assert_eq!(s["concurrencyPolicy"], "Allow");
    assert_eq!(s["suspend"], false);
    assert_eq!(s["successfulJobsHistoryLimit"], 3);
    assert_eq!(s["failedJobsHistoryLimit"], 1);
    let pod = &s["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "OnFailure");
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    // Job defaults wait for the Job itself.
    assert!(s["jobTemplate"]["spec"].get("backoffLimit").is_none());
}

#[test]
fn cron_job_checks() {
    assert_eq!(
        causes::<CronJob>(cron_job(json!({"jobTemplate": job_template()}))),
        vec!["spec.schedule: Required value"]
    );
    assert_eq!(
        causes::<CronJob>(cron_job(
            json!({"schedule": "61 * * * *", "jobTemplate": job_template()})
        )),
        vec!["spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59)"]
    );
    assert_eq!(
        causes::<CronJob>(cron_job(
            json!({"schedule": "CRON_TZ=UTC 0 * * * *", "jobTemplate": job_template()})
        )),
        vec![
            "spec.schedule: Invalid value: \"CRON_TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        ]
    );
    assert_eq!(
        causes::<CronJob>(cron_job(json!({"schedule": "@daily", "timeZone": "Local",
            "concurrencyPolicy": "Sometimes", "startingDeadlineSeconds": -5, "jobTemplate": job_template()}))),
        vec![
            "spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            "spec.startingDeadlineSeconds: Invalid value: -5: must be greater than or equal to 0",
        ]
    );
    ok::<CronJob>(cron_job(
        json!({"schedule": "0 9 * * mon-fri", "timeZone": "Europe/Paris", "jobTemplate": job_template()}),
    ));
    assert_eq!(
        causes::<CronJob>(cron_job(
            json!({"schedule": "@hourly", "jobTemplate": {"spec": {"template": template("Always")}}})
        )),
        vec![
            "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ]
    );
    let mut long = cron_job(json!({"schedule": "@hourly", "jobTemplate": job_template()}));
    long["metadata"]["name"] = json!("a".repeat(53));
    assert_eq!(
        causes::<CronJob>(long),
        vec![format!(
            "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
            "a".repeat(53)
        )]
    );
}

#[test]
fn cron_job_status_round_trips() {
    let mut body = cron_job(json!({"schedule": "@hourly", "jobTemplate": job_template()}));
    body["status"] = json!({"active": [{"kind": "Job", "name": "hello-29000000", "namespace": "default"}],
        "lastScheduleTime": "2026-11-27T06:00:00Z", "lastSuccessfulTime": "2026-11-27T06:00:09Z"});
    let cj = ok::<CronJob>(body.clone());
    assert_eq!(cj["status"], body["status"]);
    assert!(cj_schedule(&cj).is_ok());
}

fn cj_schedule(v: &Value) -> Result<CronSchedule, String> {
    let cj: CronJob = serde_json::from_value(v.clone()).unwrap();
    cj.spec.parsed_schedule()
}
