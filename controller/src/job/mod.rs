//! Job: runs pods from its template until `completions` of them succeed
//! (`parallelism` at a time), or fails: more than `backoffLimit` failed
//! pods, or `activeDeadlineSeconds` passed since `startTime` (on
//! `ctx.clock`). Pods are counted exactly once through the tracking
//! finalizer (see [`tracking`]); `Failed`/`Complete` come only after
//! `FailureTarget`/`SuccessCriteriaMet` and once every finished pod is
//! counted (see [`conditions`]). `suspend` deletes the active pods.
//! Not supported: `completionMode: Indexed`, `podFailurePolicy`,
//! `ttlSecondsAfterFinished`, and the back-off delay between failed pods.
//!
//! Waiting on the clock (a deadline), a Job is looked at again at least
//! every second, so a fake clock moved by a test is noticed at once.

mod conditions;
mod expectations;
mod pods;
mod tracking;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use skiff_api::batch::{JOBS, Job, JobStatus};
use skiff_api::core::Pod;
use skiff_api::meta::Time;
use skiff_client::runtime::{Action, BY_CONTROLLER_UID, ObjectExt, ObjectKey, WorkQueue};
use skiff_client::{Api, Error, EventType};
use tokio::task::JoinSet;

pub use conditions::{COMPLETE, FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET, SUSPENDED, finished};
pub use pods::pod_for;
pub use tracking::{Outcome, TRACKING_FINALIZER, Tally, Uncounted, outcome, tally};

use crate::context::Context;
use crate::run::{requeue_on_conflict, spawn_workers};
use expectations::Expectations;

/// What the Job controller's queue holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobKey {
    /// A Job (that may be gone: its pods are then let go).
    Job(ObjectKey),
    /// A pod with the tracking finalizer and no Job as controller.
    Pod(ObjectKey),
}

/// Longest wait before a Job waiting on the clock is looked at again.
pub const CLOCK_RECHECK: Duration = Duration::from_secs(1);

pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let queue: WorkQueue<JobKey> = WorkQueue::new();
    ctx.informers.jobs.on_event({
        let queue = queue.clone();
        move |event| {
            for job in event.objects() {
                queue.add(JobKey::Job(job.key()));
            }
        }
    });
    ctx.informers.pods.on_event({
        let queue = queue.clone();
        move |event| {
            for pod in event.objects() {
                match pod.controller_key(&JOBS) {
                    Some(job) => queue.add(JobKey::Job(job)),
                    None if tracking::has_finalizer(pod) => queue.add(JobKey::Pod(pod.key())),
                    None => {}
                }
            }
        }
    });
    let expectations = Arc::new(Expectations::default());
    let worker_ctx = ctx.clone();
    spawn_workers(ctx, tasks, "job", queue, move |key: JobKey| {
        let (ctx, expectations) = (worker_ctx.clone(), expectations.clone());
        async move {
            requeue_on_conflict(match &key {
                JobKey::Job(k) => sync_job(&ctx, &expectations, k).await,
                JobKey::Pod(k) => release_pod(&ctx, k).await,
            })
        }
    });
}

async fn release_pod(ctx: &Context, key: &ObjectKey) -> Result<Action, Error> {
    if let Some(pod) = ctx.informers.pods.cache.get_key(key) {
        release_if_orphan(ctx, &pod).await?;
    }
    Ok(Action::Done)
}

/// Takes the tracking finalizer off a pod whose Job is gone (checked with
/// a GET: the Job cache may just be behind).
async fn release_if_orphan(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    if !tracking::has_finalizer(pod) {
        return Ok(());
    }
    if let Some(owner) = pod.metadata.controller_ref().filter(|r| r.kind == "Job") {
        let ns = pod.metadata.namespace_str();
        let cached = ctx
            .informers
            .jobs
            .cache
            .get(&format!("{ns}/{}", owner.name));
        if cached.is_some_and(|j| j.metadata.uid.as_deref() == Some(owner.uid.as_str())) {
            return Ok(());
        }
        let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
        if let Some(job) = api.get_opt(&owner.name).await?
            && job.metadata.uid.as_deref() == Some(owner.uid.as_str())
        {
            return Ok(());
        }
    }
    pods::release(ctx, pod).await
}

/// What one look at a Job decided.
#[derive(Default)]
struct Plan {
    status: JobStatus,
    delete: Vec<Arc<Pod>>,
    create: usize,
    /// Finished pods whose tracking finalizer may go once `status` is stored.
    release: Vec<Arc<Pod>>,
    events: Vec<(EventType, String, String)>,
    recheck: Option<Duration>,
}

async fn sync_job(
    ctx: &Context,
    expectations: &Expectations,
    key: &ObjectKey,
) -> Result<Action, Error> {
    let Some(job) = ctx.informers.jobs.cache.get_key(key) else {
        let ns = key.namespace().unwrap_or_default();
        let left = ctx
            .informers
            .pods
            .cache
            .filter(Some(ns), |p| p.controller_key(&JOBS).as_ref() == Some(key));
        for pod in left {
            release_if_orphan(ctx, &pod).await?;
        }
        return Ok(Action::Done);
    };
    let uid = job.metadata.uid.clone().unwrap_or_default();
    if !expectations.status_seen(&uid, job.metadata.resource_version.as_deref()) {
        return Ok(Action::Done); // our last status write's event will bring it back
    }
    let pod_cache = &ctx.informers.pods.cache;
    let owned = pod_cache.by_index(BY_CONTROLLER_UID, &uid);
    let mut plan = plan(ctx, &job, &owned);
    if !expectations.satisfied(&uid, pod_cache, &owned) {
        // Earlier creations or deletions are not in the cache yet.
        plan.delete.clear();
        plan.create = 0;
    }
    let old = job.status.clone().unwrap_or_default();
    let active_now = plan.status.active.unwrap_or(0);
    plan.status.active = Some(active_now - plan.delete.len() as i32 + plan.create as i32);
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), key.namespace().unwrap_or_default());
    if plan.status != old {
        let mut next = (*job).clone();
        next.status = Some(plan.status.clone());
        let written = api.replace_status(&key.name, &next).await?;
        expectations.wrote_status(&uid, written.metadata.resource_version.as_deref());
    }
    for (kind, reason, message) in plan.events {
        ctx.recorder.publish(&*job, kind, &reason, message);
    }
    // The status holding the uncounted pods is stored: their finalizers may go.
    for pod in &plan.release {
        pods::release(ctx, pod).await?;
    }
    act(ctx, expectations, &job, &plan.delete, plan.create).await?;
    Ok(plan.recheck.map_or(Action::Done, Action::RequeueAfter))
}

/// Deletes and creates pods, recording what the cache should show next.
async fn act(
    ctx: &Context,
    expectations: &Expectations,
    job: &Job,
    delete: &[Arc<Pod>],
    create: usize,
) -> Result<(), Error> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let mut deleted = Vec::new();
    for pod in delete {
        pods::delete(ctx, pod).await?;
        deleted.push(pod.metadata.uid.clone().unwrap_or_default());
        let message = format!("Deleted pod: {}", pod.metadata.name_str());
        ctx.recorder
            .publish(job, EventType::Normal, "SuccessfulDelete", message);
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), job.metadata.namespace_str());
    let template = pods::pod_for(job);
    let results = join_all((0..create).map(|_| api.create(&template))).await;
    let mut created = Vec::new();
    let mut failure = None;
    for result in results {
        match result {
            Ok(pod) => {
                let name = pod.metadata.name_str().to_string();
                created.push(format!("{}/{name}", pod.metadata.namespace_str()));
                ctx.recorder.publish(
                    job,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!("Created pod: {name}"),
                );
            }
            Err(e) => failure = Some(e),
        }
    }
    expectations.expect(&uid, created, deleted);
    match failure {
        Some(e) => {
            ctx.recorder.publish(
                job,
                EventType::Warning,
                "FailedCreate",
                format!("Error creating: {e}"),
            );
            Err(e)
        }
        None => Ok(()),
    }
}

/// Decides the Job's status and which pods to create or delete.
fn plan(ctx: &Context, job: &Job, owned: &[Arc<Pod>]) -> Plan {
    let now = ctx.clock.now();
    let now_t = Time::from(now);
    let mut status = job.status.clone().unwrap_or_default();
    let over = conditions::finished(&status).is_some();
    let decided = conditions::ending(&status);
    let suspend = job.spec.suspend == Some(true);
    let deleting = job.metadata.deletion_timestamp.is_some();
    let running = !over && decided.is_none() && !suspend && !deleting;
    let t = tracking::tally(&status, owned, running);
    status.succeeded = Some(t.succeeded);
    status.failed = Some(t.failed);
    status.uncounted_terminated_pods = Some(t.uncounted.to_value());
    status.active = Some(t.active.len() as i32);
    status.ready = Some(
        t.active
            .iter()
            .filter(|p| crate::endpoints::pod_ready(p))
            .count() as i32,
    );
    let mut plan = Plan {
        release: t.to_release.clone(),
        ..Plan::default()
    };
    if deleting {
        plan.status = status;
        return plan;
    }
    if over {
        plan.delete = t.active.clone();
        plan.status = status;
        return plan;
    }
    if let Some(end) = decided {
        // The outcome is known: no more pods, and the final condition
        // once the last finished ones are counted.
        plan.delete = t.active.clone();
        end_when_counted(&mut plan, &mut status, &t, &end, now_t);
        plan.status = status;
        return plan;
    }
    let spec = &job.spec;
    let succeeded = t.total_succeeded();
    let deadline = spec
        .active_deadline_seconds
        .zip(status.start_time)
        .map(|(secs, start)| start.0 + chrono::Duration::seconds(secs));
    let complete = match spec.completions {
        Some(c) => succeeded >= c,
        None => succeeded > 0 && t.active.is_empty(),
    };
    let outcome = if t.total_failed() > spec.backoff_limit.unwrap_or(6) {
        Some((
            FAILURE_TARGET,
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if deadline.is_some_and(|d| now >= d) {
        Some((
            FAILURE_TARGET,
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else if complete {
        Some((
            SUCCESS_CRITERIA_MET,
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ))
    } else {
        None
    };
    if let Some((interim, reason, message)) = outcome {
        conditions::set(&mut status, interim, true, reason, message, now_t);
        plan.delete = t.active.clone();
        if let Some(end) = conditions::ending(&status) {
            end_when_counted(&mut plan, &mut status, &t, &end, now_t);
        }
    } else if suspend {
        if !conditions::suspended(&status) {
            conditions::set(
                &mut status,
                SUSPENDED,
                true,
                "JobSuspended",
                "Job suspended",
                now_t,
            );
            plan.events.push((
                EventType::Normal,
                "Suspended".into(),
                "Job suspended".into(),
            ));
        }
        plan.delete = t.active.clone();
    } else {
        if conditions::suspended(&status) {
            conditions::set(
                &mut status,
                SUSPENDED,
                false,
                "JobResumed",
                "Job resumed",
                now_t,
            );
            plan.events
                .push((EventType::Normal, "Resumed".into(), "Job resumed".into()));
            status.start_time = Some(now_t); // the deadline counts from the resumption
        }
        let start = *status.start_time.get_or_insert(now_t);
        let parallelism = spec.parallelism.unwrap_or(1).max(0) as usize;
        let wanted = match spec.completions {
            Some(c) => parallelism.min((c - succeeded).max(0) as usize),
            None if succeeded > 0 => 0,
            None => parallelism,
        };
        let active = t.active.len();
        if active < wanted {
            plan.create = wanted - active;
        } else if active > wanted {
            // The newest go first: they have done the least work.
            let mut newest: Vec<Arc<Pod>> = t.active.clone();
            newest.sort_by_key(|p| std::cmp::Reverse(p.metadata.creation_timestamp));
            plan.delete = newest.into_iter().take(active - wanted).collect();
        }
        if let Some(secs) = spec.active_deadline_seconds {
            let left = (start.0 + chrono::Duration::seconds(secs) - now)
                .to_std()
                .unwrap_or_default();
            plan.recheck = Some(left.clamp(Duration::from_millis(10), CLOCK_RECHECK));
        }
    }
    plan.status = status;
    plan
}

/// Adds the final condition (and, for `Complete`, `completionTime`) and its
/// event, but only once the counts are final: nothing in
/// `uncountedTerminatedPods`, and no pod left running or holding the
/// tracking finalizer (a pod deleted just now may still report a phase that
/// would be counted). Until then a reader of a finished Job could see
/// `succeeded`/`failed` short; the pod events that follow bring the Job back.
fn end_when_counted(
    plan: &mut Plan,
    status: &mut JobStatus,
    t: &Tally,
    end: &conditions::Ending,
    now: Time,
) {
    let settled = t.uncounted == Uncounted::default() && t.to_release.is_empty();
    if !settled || !t.active.is_empty() {
        return;
    }
    conditions::set(status, end.type_, true, &end.reason, &end.message, now);
    let event = if end.type_ == COMPLETE {
        status.completion_time = Some(now);
        (
            EventType::Normal,
            "Completed".into(),
            "Job completed".into(),
        )
    } else {
        (EventType::Warning, end.reason.clone(), end.message.clone())
    };
    plan.events.push(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided() -> (JobStatus, conditions::Ending) {
        let mut status = JobStatus::default();
        let (reason, message) = ("BackoffLimitExceeded", "limit");
        conditions::set(
            &mut status,
            FAILURE_TARGET,
            true,
            reason,
            message,
            Time::now(),
        );
        let end = conditions::ending(&status).unwrap();
        (status, end)
    }

    #[test]
    fn the_final_condition_waits_for_the_last_count() {
        let (mut status, end) = decided();
        let mut plan = Plan::default();
        let waiting = Tally {
            failed: 1,
            uncounted: Uncounted {
                failed: vec!["last".into()],
                ..Uncounted::default()
            },
            to_release: vec![Arc::new(Pod::default())],
            ..Tally::default()
        };
        end_when_counted(&mut plan, &mut status, &waiting, &end, Time::now());
        assert_eq!(conditions::finished(&status), None);
        assert!(plan.events.is_empty());

        let counted = Tally {
            failed: 2,
            ..Tally::default()
        };
        end_when_counted(&mut plan, &mut status, &counted, &end, Time::now());
        assert_eq!(conditions::finished(&status), Some(FAILED));
        let failed = status.conditions.iter().find(|c| c.type_ == FAILED);
        assert_eq!(
            failed.unwrap().reason.as_deref(),
            Some("BackoffLimitExceeded")
        );
        assert_eq!(plan.events[0].1, "BackoffLimitExceeded");
        assert!(status.completion_time.is_none());
    }

    #[test]
    fn a_pod_still_running_or_held_keeps_the_job_open() {
        let (mut status, end) = decided();
        let mut plan = Plan::default();
        let running = Tally {
            active: vec![Arc::new(Pod::default())],
            ..Tally::default()
        };
        end_when_counted(&mut plan, &mut status, &running, &end, Time::now());
        let held = Tally {
            to_release: vec![Arc::new(Pod::default())],
            ..Tally::default()
        };
        end_when_counted(&mut plan, &mut status, &held, &end, Time::now());
        assert_eq!(conditions::finished(&status), None);
    }
}
