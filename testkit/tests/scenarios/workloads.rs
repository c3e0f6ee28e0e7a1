//! Garbage collection in its three modes, Jobs that succeed and fail, and
//! CronJobs on a fake clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use skiff_api::Object;
use skiff_api::apps::{Deployment, ReplicaSet};
use skiff_api::batch::{CronJob, Job};
use skiff_api::core::Pod;
use skiff_client::runtime::{Event, watcher};
use skiff_client::{Api, DeleteParams, ListParams, PropagationPolicy};
use skiff_testkit::objects::{deployment, is_active, phase};
use skiff_testkit::{Cluster, Parts};

use crate::support::*;

fn delete_with(policy: PropagationPolicy) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        ..Default::default()
    }
}

async fn web_with_pods(c: &Cluster, replicas: i32) {
    create_deployment(c, &deployment("web", replicas, "nginx:1.27")).await;
    wait_settled(c, "web", replicas as usize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_background_deletes_replicasets_and_pods() {
    let c = cluster(2).await;
    web_with_pods(&c, 3).await;
    deployments(&c)
        .delete("web", &delete_with(PropagationPolicy::Background))
        .await
        .unwrap();
    c.wait_until(CONVERGE, "the ReplicaSet and its pods gone", || async {
        deployments(&c).get_opt("web").await.unwrap().is_none()
            && replicasets_of(&c, "web").await.is_empty()
            && pods_of(&c, "web").await.is_empty()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_orphan_leaves_replicasets_and_pods_without_their_owner() {
    let c = cluster(2).await;
    web_with_pods(&c, 3).await;
    let before = replicasets_of(&c, "web").await;
    assert_eq!(before.len(), 1);
    deployments(&c)
        .delete("web", &delete_with(PropagationPolicy::Orphan))
        .await
        .unwrap();
    c.wait_until(CONVERGE, "the Deployment gone", || async {
        deployments(&c).get_opt("web").await.unwrap().is_none()
    })
    .await
    .unwrap();
    let orphan = |rss: &[ReplicaSet]| {
        rss.len() == 1
            && rss[0].metadata.uid == before[0].metadata.uid
            && rss[0].metadata.owner_references.is_empty()
    };
    let now = replicasets_of(&c, "web").await;
    assert!(
        orphan(&now),
        "orphaned ReplicaSets: {:?}",
        now.iter()
            .map(|rs| (&rs.metadata.uid, &rs.metadata.owner_references))
            .collect::<Vec<_>>()
    );
    // Give a collector that got it wrong time to act, then look again:
    // the ReplicaSet keeps its pods (still owned by it) running.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(orphan(&replicasets_of(&c, "web").await));
    let pods = pods_of(&c, "web").await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert!(is_active(p), "{} is going", p.metadata.name_str());
        let owner = p.metadata.controller_ref().unwrap();
        assert_eq!(Some(&owner.uid), before[0].metadata.uid.as_ref());
    }
}

/// The garbage collector learns of the owner's deletion before it learns
/// that the ReplicaSet was orphaned (its events lag): it must not collect
/// the ReplicaSet on the strength of owner references it no longer has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_orphan_holds_when_replicaset_events_lag() {
    let c = cluster(2).await;
    web_with_pods(&c, 2).await;
    let before = replicasets_of(&c, "web").await;
    c.faults()
        .delay_watch_events_of("replicasets", Duration::from_millis(500));
    deployments(&c)
        .delete("web", &delete_with(PropagationPolicy::Orphan))
        .await
        .unwrap();
    c.wait_until(CONVERGE, "the Deployment gone", || async {
        deployments(&c).get_opt("web").await.unwrap().is_none()
    })
    .await
    .unwrap();
    // Past the lag: every event has arrived and been acted on.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = replicasets_of(&c, "web").await;
    assert_eq!(after.len(), 1, "the ReplicaSet was collected");
    assert_eq!(after[0].metadata.uid, before[0].metadata.uid);
    assert!(after[0].metadata.owner_references.is_empty());
    assert!(after[0].metadata.deletion_timestamp.is_none());
    assert_eq!(
        pods_of(&c, "web")
            .await
            .iter()
            .filter(|p| is_active(p))
            .count(),
        2
    );
}

/// Deletions seen by a watch, with the revision each happened at.
fn deletions<T: Object>(api: Api<T>, into: Arc<Mutex<BTreeMap<String, i64>>>) {
    tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher(api, ListParams::default()));
        while let Some(item) = events.next().await {
            if let Ok(Event::Deleted(o)) = item {
                let meta = o.metadata();
                let rv = meta
                    .resource_version
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0);
                into.lock()
                    .unwrap()
                    .insert(format!("{}/{}", T::RESOURCE.kind, meta.name_str()), rv);
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_foreground_deletes_the_deployment_last() {
    let c = cluster(2).await;
    web_with_pods(&c, 3).await;
    let gone: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    deletions(c.api::<Deployment>(NS), gone.clone());
    deletions(c.api::<ReplicaSet>(NS), gone.clone());
    deletions(c.api::<Pod>(NS), gone.clone());
    // The watches list before the deletion (each starts with a list).
    tokio::time::sleep(Duration::from_millis(300)).await;

    deployments(&c)
        .delete("web", &delete_with(PropagationPolicy::Foreground))
        .await
        .unwrap();
    let d = deployments(&c).get_opt("web").await.unwrap();
    if let Some(d) = d {
        // Kept, being deleted, until its dependents are gone.
        assert!(d.metadata.deletion_timestamp.is_some());
        assert!(
            d.metadata
                .finalizers
                .contains(&"foregroundDeletion".to_string())
        );
    }
    c.wait_until(CONVERGE, "everything deleted", || async {
        let gone = gone.lock().unwrap();
        gone.contains_key("Deployment/web") && gone.len() == 5
    })
    .await
    .unwrap();
    let gone = gone.lock().unwrap().clone();
    let deployment_at = gone["Deployment/web"];
    for (what, at) in &gone {
        assert!(
            *at <= deployment_at,
            "{what} deleted after the Deployment: {gone:?}"
        );
    }
}

fn job(
    name: &str,
    completions: i32,
    parallelism: i32,
    backoff_limit: i32,
    env: serde_json::Value,
) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"completions": completions, "parallelism": parallelism,
            "backoffLimit": backoff_limit,
            "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "work", "image": "busybox", "env": env}]}}},
    }))
    .unwrap()
}

fn condition(job: &Job, type_: &str) -> Option<(String, String)> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .map(|c| (c.type_.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_pods_succeed_completes() {
    let c = cluster(2).await;
    let jobs = c.api::<Job>(NS);
    // Each pod runs a little, then exits 0.
    let env = json!([{"name": "HOLLOW_RUN_FOR", "value": "200ms"}]);
    jobs.create(&job("ok", 3, 2, 1, env)).await.unwrap();
    let done = c
        .wait_for(CONVERGE, "the Job complete", || async {
            let j = jobs.get("ok").await.ok()?;
            condition(&j, "Complete").map(|_| j)
        })
        .await
        .unwrap();
    // Complete comes only once every success is counted.
    let status = done.status.unwrap();
    assert!(status.completion_time.is_some());
    assert_eq!(status.succeeded, Some(3), "{status:?}");
    assert_eq!(status.failed.unwrap_or(0), 0);
    let pods = c
        .api::<Pod>(NS)
        .list_all(&ListParams::default().labels("job-name=ok"))
        .await
        .unwrap()
        .items;
    assert_eq!(pods.iter().filter(|p| phase(p) == "Succeeded").count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_pods_crash_fails_at_its_backoff_limit() {
    let c = cluster(2).await;
    let jobs = c.api::<Job>(NS);
    let pods = c.api::<Pod>(NS);
    // Pods that run until crashed: backoffLimit 1 allows one failure.
    jobs.create(&job("doomed", 1, 1, 1, json!([])))
        .await
        .unwrap();
    let crashed = Mutex::new(Vec::<String>::new());
    let failed = c
        .wait_for(CONVERGE, "the Job failed", || async {
            let j = jobs.get("doomed").await.ok()?;
            if condition(&j, "Failed").is_some() {
                return Some(j);
            }
            let running = pods
                .list_all(&ListParams::default().labels("job-name=doomed"))
                .await
                .ok()?
                .items;
            for p in running.iter().filter(|p| phase(p) == "Running") {
                let name = p.metadata.name_str().to_string();
                if crashed.lock().unwrap().contains(&name) {
                    continue;
                }
                if c.crash_container(NS, &name, "work", 1).await.is_ok() {
                    crashed.lock().unwrap().push(name);
                }
            }
            None
        })
        .await
        .unwrap();
    let crashed = crashed.into_inner().unwrap();
    assert_eq!(crashed.len(), 2, "one pod, one retry: {crashed:?}");
    assert_eq!(
        condition(&failed, "Failed").unwrap().1,
        "BackoffLimitExceeded"
    );
    // Failed comes only once every failure is counted.
    let status = failed.status.unwrap();
    assert_eq!(status.failed, Some(2), "{status:?}");
    assert_eq!(status.succeeded.unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cronjob_runs_jobs_on_schedule_on_a_fake_clock() {
    init_logging();
    // Node health follows the fake clock too: jumping it a minute would
    // make every node look silent, so node lifecycle stays off here.
    let c = Cluster::builder()
        .nodes(1)
        .lab_profile()
        .fake_clock()
        .parts(Parts {
            node_lifecycle: false,
            ..Parts::all()
        })
        .start()
        .await
        .unwrap();
    let cronjob: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "tick"},
        "spec": {"schedule": "*/1 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox",
                    "env": [{"name": "HOLLOW_EXIT_CODE", "value": "0"}]}]}}}}},
    }))
    .unwrap();
    c.api::<CronJob>(NS).create(&cronjob).await.unwrap();
    // The clock starts after the CronJob's creation: no time has passed yet.
    let clock = c.fake_clock().unwrap();
    clock.set(chrono::Utc::now());
    let jobs = c.api::<Job>(NS);
    let owned = || async {
        let mut names: Vec<String> = jobs
            .list_all(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|j| {
                j.metadata
                    .controller_ref()
                    .is_some_and(|r| r.name == "tick")
            })
            .map(|j| j.metadata.name_str().to_string())
            .collect();
        names.sort();
        names
    };
    // Nothing is due before the next minute starts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(owned().await.is_empty());

    for n in 1..=2usize {
        c.advance_clock(Duration::from_secs(60));
        let names = c
            .wait_for(CONVERGE, &format!("job {n}"), || async {
                let names = owned().await;
                assert!(names.len() <= n, "too many jobs: {names:?}");
                (names.len() == n).then_some(names)
            })
            .await
            .unwrap();
        // Its pods ran on the hollow node and exited 0.
        let newest = names.last().unwrap().clone();
        c.wait_until(CONVERGE, &format!("{newest} complete"), || async {
            jobs.get(&newest)
                .await
                .is_ok_and(|j| condition(&j, "Complete").is_some())
        })
        .await
        .unwrap();
    }
    // One Job per scheduled minute: names end in consecutive minutes.
    let minutes: Vec<i64> = owned()
        .await
        .iter()
        .map(|n| n.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(minutes[1], minutes[0] + 1, "{minutes:?}");
}
