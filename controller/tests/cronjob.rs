//! The CronJob controller against a real API server on a fake clock: Jobs
//! on schedule, Forbid and Replace, history limits. No Job controller
//! runs: the test ends Jobs by writing their status.

mod in_process;

use chrono::Utc;
use in_process::*;
use serde_json::json;
use skiff_api::batch::{CronJob, Job};
use skiff_api::core::Event;
use skiff_api::meta::Time;
use skiff_client::{Api, ListParams};
use skiff_controller::cronjob::{self, SCHEDULED_TIMESTAMP_ANNOTATION};

async fn create_cronjob(c: &Cluster, name: &str, extra: serde_json::Value) -> CronJob {
    let mut spec = json!({
        "schedule": "*/1 * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}},
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let cj: CronJob =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    let created = Api::namespaced(c.client.clone(), "default")
        .create(&cj)
        .await
        .unwrap();
    // The clock starts now: after the CronJob's creation time.
    c.clock.set(Utc::now());
    created
}

/// The CronJob's Jobs, oldest first (names grow with the scheduled minute).
async fn jobs_of(c: &Cluster, cronjob: &str) -> Vec<Job> {
    let api: Api<Job> = Api::namespaced(c.client.clone(), "default");
    let mut jobs: Vec<Job> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| {
            j.metadata
                .controller_ref()
                .is_some_and(|r| r.name == cronjob)
        })
        .collect();
    jobs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    jobs
}

async fn wait_jobs(c: &Cluster, cronjob: &str, n: usize) -> Vec<Job> {
    wait_for(&format!("{n} jobs of {cronjob}"), 15, || async {
        let jobs = jobs_of(c, cronjob).await;
        assert!(jobs.len() <= n, "{} jobs, expected {n}", jobs.len());
        (jobs.len() == n).then_some(jobs)
    })
    .await
}

/// Ends a Job as the Job controller would.
async fn end(c: &Cluster, job: &str, outcome: &str) {
    let api: Api<Job> = Api::namespaced(c.client.clone(), "default");
    let mut j = api.get(job).await.unwrap();
    let now = Time::from(c.ctx.clock.now());
    j.status = Some(
        serde_json::from_value(json!({
            "startTime": now,
            "completionTime": if outcome == "Complete" { json!(now) } else { json!(null) },
            "conditions": [{"type": outcome, "status": "True"}],
        }))
        .unwrap(),
    );
    api.replace_status(job, &j).await.unwrap();
}

async fn cronjob_status(c: &Cluster, name: &str) -> skiff_api::batch::CronJobStatus {
    let api: Api<CronJob> = Api::namespaced(c.client.clone(), "default");
    api.get(name).await.unwrap().status.unwrap_or_default()
}

async fn has_event(c: &Cluster, name: &str, reason: &str) -> bool {
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .any(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.reason.as_deref() == Some(reason)
        })
}

#[tokio::test]
async fn every_minute_three_minutes_three_jobs() {
    let c = Cluster::start(&[cronjob::start]).await;
    let cj = create_cronjob(&c, "tick", json!({})).await;
    for n in 1..=3 {
        c.advance(60);
        wait_jobs(&c, "tick", n).await;
    }
    let jobs = jobs_of(&c, "tick").await;
    let minutes: Vec<i64> = jobs
        .iter()
        .map(|j| {
            j.metadata
                .name_str()
                .strip_prefix("tick-")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(minutes, [minutes[0], minutes[0] + 1, minutes[0] + 2]);
    let first = &jobs[0];
    assert_eq!(
        first.metadata.annotations[SCHEDULED_TIMESTAMP_ANNOTATION],
        Time::from(chrono::DateTime::from_timestamp(minutes[0] * 60, 0).unwrap()).to_string()
    );
    let owner = first.metadata.controller_ref().unwrap();
    assert_eq!(
        (owner.kind.as_str(), &owner.uid),
        ("CronJob", cj.metadata.uid.as_ref().unwrap())
    );
    assert_eq!(owner.block_owner_deletion, Some(true));
    let status = wait_for("three active jobs in the status", 15, || async {
        let s = cronjob_status(&c, "tick").await;
        (s.active.len() == 3).then_some(s)
    })
    .await;
    assert_eq!(
        status.last_schedule_time.unwrap().0.timestamp(),
        minutes[2] * 60,
        "lastScheduleTime is the last scheduled minute"
    );
    assert!(has_event(&c, "tick", "SuccessfulCreate").await);
}

#[tokio::test]
async fn forbid_skips_while_a_job_runs() {
    let c = Cluster::start(&[cronjob::start]).await;
    create_cronjob(&c, "solo", json!({"concurrencyPolicy": "Forbid"})).await;
    c.advance(60);
    let first = wait_jobs(&c, "solo", 1).await;
    c.advance(60);
    wait_until("the run held back (JobAlreadyActive)", 15, || async {
        has_event(&c, "solo", "JobAlreadyActive").await
    })
    .await;
    assert_eq!(jobs_of(&c, "solo").await.len(), 1);
    // The running Job ends: the held-back time runs.
    end(&c, first[0].metadata.name_str(), "Complete").await;
    wait_jobs(&c, "solo", 2).await;
    let s = wait_for("lastSuccessfulTime", 15, || async {
        let s = cronjob_status(&c, "solo").await;
        s.last_successful_time.is_some().then_some(s)
    })
    .await;
    assert_eq!(s.active.len(), 1);
}

#[tokio::test]
async fn replace_deletes_the_running_job() {
    let c = Cluster::start(&[cronjob::start]).await;
    create_cronjob(&c, "fresh", json!({"concurrencyPolicy": "Replace"})).await;
    c.advance(60);
    let first = wait_jobs(&c, "fresh", 1).await;
    c.advance(60);
    wait_until("the old Job replaced by a new one", 15, || async {
        let jobs = jobs_of(&c, "fresh").await;
        jobs.len() == 1 && jobs[0].metadata.name != first[0].metadata.name
    })
    .await;
}

#[tokio::test]
async fn history_limits_delete_the_oldest_finished_jobs() {
    let c = Cluster::start(&[cronjob::start]).await;
    create_cronjob(
        &c,
        "hist",
        json!({"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1}),
    )
    .await;
    let outcomes = ["Complete", "Complete", "Complete", "Failed", "Failed"];
    let mut names = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        c.advance(60);
        let name = wait_for(&format!("job {}", i + 1), 15, || async {
            jobs_of(&c, "hist")
                .await
                .into_iter()
                .map(|j| j.metadata.name_str().to_string())
                .find(|n| !names.contains(n))
        })
        .await;
        end(&c, &name, outcome).await;
        names.push(name);
    }
    // Kept: the newest Complete one and the newest Failed one.
    wait_until("only the newest finished jobs kept", 15, || async {
        let left: Vec<String> = jobs_of(&c, "hist")
            .await
            .into_iter()
            .map(|j| j.metadata.name_str().to_string())
            .collect();
        left == [names[2].clone(), names[4].clone()]
    })
    .await;
    assert!(has_event(&c, "hist", "SuccessfulDelete").await);
}
