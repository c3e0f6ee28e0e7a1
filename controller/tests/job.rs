//! The Job controller against a real API server; pods' outcomes are
//! written by the test as a node agent would.

mod in_process;

use futures::StreamExt;
use in_process::*;
use serde_json::json;
use skiff_api::batch::{Job, JobStatus};
use skiff_api::core::{Event, Pod};
use skiff_client::{Api, DeleteParams, ListParams, WatchEvent};
use skiff_controller::job::{self, TRACKING_FINALIZER, Uncounted};
use tokio::task::JoinHandle;

async fn create_job(c: &Cluster, name: &str, spec: serde_json::Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox"}]}});
    let job: Job =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    Api::namespaced(c.client.clone(), "default")
        .create(&job)
        .await
        .unwrap()
}

async fn pods_of(c: &Cluster, job: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    api.list(&lp).await.unwrap().items
}

fn running(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
        })
        .collect()
}

/// Ends a pod the way a node agent reports it.
async fn finish(c: &Cluster, pod: &str, phase: &str) {
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let mut p = api.get(pod).await.unwrap();
    p.status.get_or_insert_with(Default::default).phase = Some(phase.into());
    api.replace_status(pod, &p).await.unwrap();
}

async fn status(c: &Cluster, job: &str) -> JobStatus {
    let api: Api<Job> = Api::namespaced(c.client.clone(), "default");
    api.get(job).await.unwrap().status.unwrap_or_default()
}

fn condition(s: &JobStatus, type_: &str) -> Option<(String, Option<String>)> {
    s.conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .map(|c| (c.type_.clone(), c.reason.clone()))
}

/// What a finished Job's counts must be when `final_type` appears.
struct Final {
    final_type: &'static str,
    interim: &'static str,
    succeeded: i32,
    failed: i32,
}

/// Watches `job` from its creation until `end.final_type` appears, checking
/// at every MODIFIED event that the final condition never shows before the
/// counts are final: with it, `succeeded`/`failed` hold every finished pod
/// and nothing is left in `uncountedTerminatedPods`. Returns the number of
/// MODIFIED events seen.
fn watch_job_counts(c: &Cluster, created: &Job, end: Final) -> JoinHandle<usize> {
    let api: Api<Job> = Api::namespaced(c.client.clone(), "default");
    let name = created.metadata.name_str().to_string();
    let from = created.metadata.resource_version.clone().unwrap();
    tokio::spawn(async move {
        let lp = ListParams::default().fields(&format!("metadata.name={name}"));
        let mut events = api.watch(&lp, &from).await.unwrap();
        let mut modified = 0;
        let mut last = (0, 0);
        let watching = async {
            while let Some(event) = events.next().await {
                let job = match event.unwrap() {
                    WatchEvent::Modified(job) => job,
                    WatchEvent::Bookmark { .. } => continue,
                    other => panic!("unexpected {} event", other.type_name()),
                };
                modified += 1;
                let s = job.status.unwrap_or_default();
                let counts = (s.succeeded.unwrap_or(0), s.failed.unwrap_or(0));
                assert!(
                    counts.0 >= last.0 && counts.1 >= last.1,
                    "counts went back: {last:?} then {counts:?}"
                );
                last = counts;
                if condition(&s, end.final_type).is_none() {
                    continue;
                }
                let uncounted = Uncounted::of(&s);
                assert_eq!(
                    (counts, &uncounted),
                    ((end.succeeded, end.failed), &Uncounted::default()),
                    "{} before every finished pod was counted: {s:?}",
                    end.final_type
                );
                assert!(
                    condition(&s, end.interim).is_some(),
                    "{} without {} first",
                    end.final_type,
                    end.interim
                );
                return;
            }
            panic!("the watch ended before {}", end.final_type);
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), watching)
            .await
            .unwrap_or_else(|_| panic!("no {} within 20 s", end.final_type));
        modified
    })
}

async fn event_reasons(c: &Cluster, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    let all = events.list(&ListParams::default()).await.unwrap().items;
    all.into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

/// Waits for `n` running pods (never seeing more than `max`).
async fn wait_running(c: &Cluster, job: &str, n: usize, max: usize) -> Vec<String> {
    wait_for(&format!("{n} running pods of {job}"), 15, || async {
        let pods = pods_of(c, job).await;
        let r = running(&pods);
        assert!(
            r.len() <= max,
            "{} pods running, parallelism is {max}",
            r.len()
        );
        (r.len() == n).then(|| {
            r.iter()
                .map(|p| p.metadata.name_str().to_string())
                .collect()
        })
    })
    .await
}

#[tokio::test]
async fn completions_three_parallelism_two() {
    let c = Cluster::start(&[job::start]).await;
    let created = create_job(&c, "work", json!({"completions": 3, "parallelism": 2})).await;
    let watcher = watch_job_counts(
        &c,
        &created,
        Final {
            final_type: "Complete",
            interim: "SuccessCriteriaMet",
            succeeded: 3,
            failed: 0,
        },
    );
    let first = wait_running(&c, "work", 2, 2).await;
    // The pods: from the template, controlled by the Job, tracked.
    let pod = &pods_of(&c, "work").await[0];
    let uid = created.metadata.uid.clone().unwrap();
    // The API server generated the selector from the new Job's uid.
    let selector = created.spec.selector.clone().unwrap();
    assert_eq!(
        selector.match_labels["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        pod.metadata.labels["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(pod.metadata.labels["job-name"], "work");
    assert_eq!(pod.metadata.controller_ref().unwrap().uid, uid);
    assert!(
        pod.metadata
            .finalizers
            .contains(&TRACKING_FINALIZER.to_string())
    );
    let s = status(&c, "work").await;
    assert!(s.start_time.is_some());

    finish(&c, &first[0], "Succeeded").await;
    // One done, two to go: a third pod, still two at a time.
    let second = wait_for("a replacement pod", 15, || async {
        let names: Vec<String> = running(&pods_of(&c, "work").await)
            .iter()
            .map(|p| p.metadata.name_str().to_string())
            .collect();
        (names.len() == 2 && !names.contains(&first[0])).then_some(names)
    })
    .await;
    for p in &second {
        finish(&c, p, "Succeeded").await;
    }
    // Every status the Job went through, up to Complete, was consistent.
    assert!(watcher.await.unwrap() >= 3);
    let s = status(&c, "work").await;
    assert_eq!(
        condition(&s, "Complete").unwrap().1.as_deref(),
        Some("CompletionsReached")
    );
    assert!(condition(&s, "SuccessCriteriaMet").is_some());
    assert!(s.completion_time.is_some());
    assert_eq!(s.active, Some(0));
    // Complete comes after the counting: the finalizers are already off.
    assert_eq!(s.succeeded, Some(3));
    let pods = pods_of(&c, "work").await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| {
        !p.metadata
            .finalizers
            .iter()
            .any(|f| f == TRACKING_FINALIZER)
    }));
    let reasons = event_reasons(&c, "work").await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "SuccessfulCreate").count(),
        3
    );
    assert!(reasons.contains(&"Completed".to_string()));

    // Deleting a counted pod counts nothing again.
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    api.delete(&first[0], &DeleteParams::default())
        .await
        .unwrap();
    wait_until("the pod gone", 15, || async {
        pods_of(&c, "work").await.len() == 2
    })
    .await;
    api.create(
        &serde_json::from_value(json!({"metadata": {"name": "marker"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap(),
    )
    .await
    .unwrap();
    wait_until("the job cache past the deletion", 10, || async {
        c.ctx.informers.pods.cache.get("default/marker").is_some()
    })
    .await;
    // The deletion's look at the Job follows within moments: watch a while.
    for _ in 0..10 {
        let s = status(&c, "work").await;
        assert_eq!((s.succeeded, s.failed), (Some(3), Some(0)));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn backoff_limit_one_fails_after_two_failures() {
    let c = Cluster::start(&[job::start]).await;
    let created = create_job(&c, "flaky", json!({"backoffLimit": 1})).await;
    let watcher = watch_job_counts(
        &c,
        &created,
        Final {
            final_type: "Failed",
            interim: "FailureTarget",
            succeeded: 0,
            failed: 2,
        },
    );
    let first = wait_running(&c, "flaky", 1, 1).await;
    finish(&c, &first[0], "Failed").await;
    let second = wait_for("a retry", 15, || async {
        let pods = pods_of(&c, "flaky").await;
        let r: Vec<String> = running(&pods)
            .iter()
            .map(|p| p.metadata.name_str().to_string())
            .collect();
        (r.len() == 1 && r[0] != first[0]).then(|| r[0].clone())
    })
    .await;
    let s = status(&c, "flaky").await;
    assert_eq!(
        condition(&s, "Failed"),
        None,
        "one failure is within the limit"
    );
    finish(&c, &second, "Failed").await;
    // Every status the Job went through, up to Failed, was consistent.
    assert!(watcher.await.unwrap() >= 3);
    let s = status(&c, "flaky").await;
    assert_eq!(
        condition(&s, "Failed").unwrap().1.as_deref(),
        Some("BackoffLimitExceeded")
    );
    let failed = s.conditions.iter().find(|c| c.type_ == "Failed").unwrap();
    assert_eq!(
        failed.message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    assert!(condition(&s, "Complete").is_none());
    assert_eq!((s.failed, s.succeeded), (Some(2), Some(0)));
    assert!(running(&pods_of(&c, "flaky").await).is_empty());
    assert_eq!(
        pods_of(&c, "flaky").await.len(),
        2,
        "no pod after the limit"
    );
    wait_until("a BackoffLimitExceeded event", 10, || async {
        event_reasons(&c, "flaky")
            .await
            .contains(&"BackoffLimitExceeded".to_string())
    })
    .await;
}

#[tokio::test]
async fn active_deadline_on_the_fake_clock() {
    let c = Cluster::start(&[job::start]).await;
    create_job(
        &c,
        "slow",
        json!({"parallelism": 2, "completions": 4, "activeDeadlineSeconds": 30}),
    )
    .await;
    wait_running(&c, "slow", 2, 2).await;
    c.advance(20);
    // Not yet: 20 s of 30.
    let s = status(&c, "slow").await;
    assert!(condition(&s, "Failed").is_none());
    c.advance(11);
    let s = wait_for("the deadline to fail the Job", 15, || async {
        let s = status(&c, "slow").await;
        condition(&s, "Failed").map(|_| s)
    })
    .await;
    assert_eq!(
        condition(&s, "Failed").unwrap().1.as_deref(),
        Some("DeadlineExceeded")
    );
    wait_until("its running pods deleted", 15, || async {
        pods_of(&c, "slow").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn deleting_a_job_releases_and_removes_its_pods() {
    let c = Cluster::start(&[job::start, skiff_controller::gc::start]).await;
    create_job(&c, "gone", json!({"parallelism": 2, "completions": 2})).await;
    let names = wait_running(&c, "gone", 2, 2).await;
    finish(&c, &names[0], "Succeeded").await;
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    jobs.delete("gone", &DeleteParams::background())
        .await
        .unwrap();
    wait_until(
        "the pods (with their tracking finalizer) gone too",
        15,
        || async { pods_of(&c, "gone").await.is_empty() },
    )
    .await;
}
