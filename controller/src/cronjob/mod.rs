//! CronJob: at each time its `schedule` (standard cron syntax, UTC) fires
//! on `ctx.clock`, creates a Job `<cronjob>-<minutes since the epoch>` from
//! `jobTemplate`. Of several missed times only the most recent runs (older
//! than `startingDeadlineSeconds`: skipped; more than 100 missed: a
//! `TooManyMissedTimes` warning). `concurrencyPolicy`: `Allow`, `Forbid`
//! (skip while a Job runs) or `Replace` (delete the running ones first).
//! `suspend` stops new runs. Keeps `status.active`, `lastScheduleTime`,
//! `lastSuccessfulTime`, and deletes the oldest finished Jobs beyond
//! `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`.
//!
//! Time: each CronJob is looked at again when its next time comes, and at
//! least every second ([`CLOCK_RECHECK`]): a test that moves a fake clock
//! sees the Jobs appear within a second, without poking anything.

mod jobs;
mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_api::batch::{CRONJOBS, CronJob, CronSchedule, Job};
use skiff_api::meta::Time;
use skiff_client::runtime::{Action, BY_CONTROLLER_UID, ObjectExt, ObjectKey, WorkQueue};
use skiff_client::{Api, DeleteParams, Error, EventType};
use tokio::task::JoinSet;

pub use jobs::{SCHEDULED_TIMESTAMP_ANNOTATION, beyond_history, job_for, job_name};
pub use schedule::{Due, TOO_MANY_MISSED, most_recent};

use crate::context::Context;
use crate::run::{requeue_on_conflict, spawn_workers};

/// Longest wait before a CronJob is looked at again.
pub const CLOCK_RECHECK: Duration = Duration::from_secs(1);

/// Time zones that are UTC (the only one schedules run in here).
const UTC_ZONES: [&str; 4] = ["UTC", "Etc/UTC", "GMT", "Etc/GMT"];

/// Per CronJob uid, the scheduled time last reported as held back by
/// `Forbid` (so that the event is recorded once per time, not per look).
type Reported = Mutex<HashMap<String, DateTime<Utc>>>;

pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let queue: WorkQueue<ObjectKey> = WorkQueue::new();
    ctx.informers.cronjobs.on_event({
        let queue = queue.clone();
        move |event| {
            for cj in event.objects() {
                queue.add(cj.key());
            }
        }
    });
    ctx.informers.jobs.on_event({
        let queue = queue.clone();
        move |event| {
            for job in event.objects() {
                if let Some(cj) = job.controller_key(&CRONJOBS) {
                    queue.add(cj);
                }
            }
        }
    });
    let reported: Arc<Reported> = Arc::default();
    let worker_ctx = ctx.clone();
    spawn_workers(ctx, tasks, "cronjob", queue, move |key: ObjectKey| {
        let (ctx, reported) = (worker_ctx.clone(), reported.clone());
        async move { requeue_on_conflict(reconcile(&ctx, &reported, &key).await) }
    });
}

async fn reconcile(ctx: &Context, reported: &Reported, key: &ObjectKey) -> Result<Action, Error> {
    let Some(cj) = ctx.informers.cronjobs.cache.get_key(key) else {
        return Ok(Action::Done);
    };
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::Done);
    }
    let now = ctx.clock.now();
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let namespace = key.namespace().unwrap_or_default();
    let job_api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let owned = ctx.informers.jobs.cache.by_index(BY_CONTROLLER_UID, &uid);

    let mut status = cj.status.clone().unwrap_or_default();
    track_jobs(ctx, &cj, &owned, &job_api, &mut status).await?;
    for job in jobs::beyond_history(&cj, &owned) {
        delete_job(&job_api, &job).await?;
        let message = format!("Deleted job {}", job.metadata.name_str());
        ctx.recorder
            .publish(&*cj, EventType::Normal, "SuccessfulDelete", message);
    }

    let action = schedule_next(ctx, reported, &cj, &job_api, &mut status, now).await;
    if Some(&status) != cj.status.as_ref() {
        let mut next = (*cj).clone();
        next.status = Some(status);
        Api::<CronJob>::namespaced(ctx.client.clone(), namespace)
            .replace_status(&key.name, &next)
            .await?;
    }
    action
}

/// Brings `status.active` and `lastSuccessfulTime` up to date with the
/// CronJob's Jobs.
async fn track_jobs(
    ctx: &Context,
    cj: &CronJob,
    owned: &[Arc<Job>],
    job_api: &Api<Job>,
    status: &mut skiff_api::batch::CronJobStatus,
) -> Result<(), Error> {
    let was_active = |job: &Job| status.active.iter().any(|r| r.uid == job.metadata.uid);
    let mut active = Vec::new();
    for job in owned {
        match jobs::outcome(job) {
            None => active.push(
                status
                    .active
                    .iter()
                    .find(|r| r.uid == job.metadata.uid)
                    .cloned()
                    .unwrap_or_else(|| jobs::reference(job)),
            ),
            Some(outcome) => {
                if was_active(job) {
                    let message = format!(
                        "Saw completed job: {}, status: {outcome}",
                        job.metadata.name_str()
                    );
                    ctx.recorder
                        .publish(cj, EventType::Normal, "SawCompletedJob", message);
                }
                let completed = job.status.as_ref().and_then(|s| s.completion_time);
                if outcome == crate::job::COMPLETE && completed > status.last_successful_time {
                    status.last_successful_time = completed;
                }
            }
        }
    }
    // Listed as active, not in the cache: a Job just created (the cache is
    // behind) stays, one that is gone goes.
    for r in &status.active {
        if owned.iter().any(|j| j.metadata.uid == r.uid) {
            continue;
        }
        let name = r.name.as_deref().unwrap_or_default();
        if let Some(job) = job_api.get_opt(name).await?
            && job.metadata.uid == r.uid
            && jobs::outcome(&job).is_none()
        {
            active.push(r.clone());
        }
    }
    active.sort_by(|a, b| a.name.cmp(&b.name));
    status.active = active;
    Ok(())
}

async fn delete_job(api: &Api<Job>, job: &Job) -> Result<(), Error> {
    let params = DeleteParams {
        precondition_uid: job.metadata.uid.clone(),
        ..DeleteParams::background()
    };
    match api.delete(job.metadata.name_str(), &params).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs the due scheduled time, if any; says when to look again.
async fn schedule_next(
    ctx: &Context,
    reported: &Reported,
    cj: &CronJob,
    job_api: &Api<Job>,
    status: &mut skiff_api::batch::CronJobStatus,
    now: DateTime<Utc>,
) -> Result<Action, Error> {
    let spec = &cj.spec;
    if spec.suspend == Some(true) {
        return Ok(Action::Done);
    }
    let schedule = match CronSchedule::parse(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            let message = format!("unparseable schedule: {:?} : {e}", spec.schedule);
            ctx.recorder
                .publish(cj, EventType::Warning, "UnparseableSchedule", message);
            return Ok(Action::Done);
        }
    };
    if let Some(tz) = spec
        .time_zone
        .as_deref()
        .filter(|tz| !UTC_ZONES.contains(tz))
    {
        let message = format!("invalid timeZone: {tz:?}: only UTC is supported");
        ctx.recorder
            .publish(cj, EventType::Warning, "UnknownTimeZone", message);
        return Ok(Action::Done);
    }
    let recheck = match schedule
        .next_after(now)
        .and_then(|n| (n - now).to_std().ok())
    {
        Some(until) => Action::RequeueAfter(until.clamp(Duration::from_millis(10), CLOCK_RECHECK)),
        None => Action::RequeueAfter(CLOCK_RECHECK),
    };
    let mut earliest = status
        .last_schedule_time
        .or(cj.metadata.creation_timestamp)
        .map_or(now, |t| t.0);
    if let Some(deadline) = spec.starting_deadline_seconds {
        earliest = earliest.max(now - chrono::Duration::seconds(deadline));
    }
    let due = schedule::most_recent(&schedule, earliest, now);
    let Some(when) = due.time else {
        return Ok(recheck);
    };
    if due.missed > TOO_MANY_MISSED {
        let message = format!(
            "too many missed start times: {}. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            due.missed
        );
        ctx.recorder
            .publish(cj, EventType::Warning, "TooManyMissedTimes", message);
    }
    match spec.concurrency_policy.as_deref().unwrap_or("Allow") {
        "Forbid" if !status.active.is_empty() => {
            let uid = cj.metadata.uid.clone().unwrap_or_default();
            let first_time = reported
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(uid, when)
                != Some(when);
            if first_time {
                let message = "Not starting job because prior execution is running and concurrency policy is Forbid";
                ctx.recorder
                    .publish(cj, EventType::Normal, "JobAlreadyActive", message);
            }
            return Ok(recheck);
        }
        "Replace" => {
            for r in std::mem::take(&mut status.active) {
                let name = r.name.clone().unwrap_or_default();
                let params = DeleteParams {
                    precondition_uid: r.uid.clone(),
                    ..DeleteParams::background()
                };
                match job_api.delete(&name, &params).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => return Err(e),
                }
                ctx.recorder.publish(
                    cj,
                    EventType::Normal,
                    "SuccessfulDelete",
                    format!("Deleted job {name}"),
                );
            }
        }
        _ => {}
    }
    let job = match job_api.create(&jobs::job_for(cj, when)).await {
        Ok(job) => {
            let message = format!("Created job {}", job.metadata.name_str());
            ctx.recorder
                .publish(cj, EventType::Normal, "SuccessfulCreate", message);
            Some(job)
        }
        // Made by an earlier look whose status write was lost: ours if it
        // names this CronJob as controller.
        Err(e) if e.is_already_exists() => job_api
            .get_opt(&jobs::job_name(cj, when))
            .await?
            .filter(|j| j.metadata.controller_ref().map(|r| &r.uid) == cj.metadata.uid.as_ref()),
        Err(e) => {
            ctx.recorder.publish(
                cj,
                EventType::Warning,
                "FailedCreate",
                format!("Error creating job: {e}"),
            );
            return Err(e);
        }
    };
    if let Some(job) = job
        && jobs::outcome(&job).is_none()
        && !status.active.iter().any(|r| r.uid == job.metadata.uid)
    {
        status.active.push(jobs::reference(&job));
    }
    status.last_schedule_time = Some(Time::from(when));
    Ok(recheck)
}
