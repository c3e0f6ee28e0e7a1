//! The Deployment's status as `kubectl rollout status` reads it:
//! observedGeneration, replica counts summed over its ReplicaSets, and the
//! `Available` and `Progressing` conditions, with the progress deadline.

use std::time::Duration;

use serde_json::json;
use skiff_api::apps::{DeploymentCondition, DeploymentStatus};

use super::conditions::{
    self, AVAILABLE, MINIMUM_REPLICAS_AVAILABLE, MINIMUM_REPLICAS_UNAVAILABLE, NEW_RS_AVAILABLE,
    PAUSED, PROGRESSING, REPLICA_FAILURE, RESUMED, RS_UPDATED, TIMED_OUT,
};
use super::sync::{Sync, has_progress_deadline};
use super::util::{
    self, ROLLOUT_COMPLETE, actual_replicas, available_replicas, is_paused, max_unavailable,
    ready_replicas, spec_replicas, sum,
};

/// The longest wait before checking a rollout's progress deadline again:
/// the clock may be a test clock that jumps.
const DEADLINE_RECHECK_CAP: Duration = Duration::from_secs(2);

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// "ReplicaSet "x"" or, without a new ReplicaSet, "Deployment "y"".
fn subject(sync: &Sync<'_>) -> String {
    match sync.new_rs() {
        Some(rs) => format!("ReplicaSet {:?}", rs.metadata.name_str()),
        None => format!("Deployment {:?}", sync.name()),
    }
}

impl Sync<'_> {
    /// The status the ReplicaSets add up to (conditions carried over, `Available` set).
    fn calculate_status(&self) -> DeploymentStatus {
        let previous = self.status();
        let available = sum(&self.rss, available_replicas);
        let total = sum(&self.rss, spec_replicas);
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: nonzero(sum(&self.rss, actual_replicas)),
            updated_replicas: nonzero(self.new_rs().map(actual_replicas).unwrap_or(0)),
            ready_replicas: nonzero(sum(&self.rss, ready_replicas)),
            available_replicas: nonzero(available),
            unavailable_replicas: nonzero((total - available).max(0)),
            conditions: previous.conditions,
            collision_count: previous.collision_count,
        };
        let now = self.c.ctx.clock.now();
        let cond = if available >= self.d.spec.replicas() - max_unavailable(&self.d) {
            conditions::new(
                AVAILABLE,
                "True",
                MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.",
                now,
            )
        } else {
            conditions::new(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.",
                now,
            )
        };
        conditions::set(&mut status, cond);
        status
    }

    /// Writes the calculated status if it differs (scaling, paused, deleted).
    pub async fn sync_deployment_status(&mut self) -> anyhow::Result<()> {
        let status = self.calculate_status();
        if Some(&status) != self.d.status.as_ref() {
            self.write_status(status).await?;
        }
        Ok(())
    }

    /// A failure the ReplicaSets report (the new one's first) as a
    /// Deployment condition.
    fn replica_failure(&self) -> Option<DeploymentCondition> {
        let to_condition = |c: &skiff_api::apps::ReplicaSetCondition| DeploymentCondition {
            type_: c.type_.clone(),
            status: c.status.clone(),
            last_update_time: c.last_transition_time,
            last_transition_time: c.last_transition_time,
            reason: c.reason.clone(),
            message: c.message.clone(),
        };
        let failures = |rs: &skiff_api::apps::ReplicaSet| {
            rs.status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == REPLICA_FAILURE))
                .map(to_condition)
        };
        self.new_rs()
            .and_then(failures)
            .or_else(|| self.rss.iter().find_map(failures))
    }

    /// The status of a rollout: counts, `Available`, and `Progressing`
    /// (progressing, complete, or past its deadline); then the follow-ups
    /// (marking a completed ReplicaSet, automatic rollback, when to look again).
    pub async fn sync_rollout_status(&mut self) -> anyhow::Result<()> {
        let now = self.c.ctx.clock.now();
        let mut status = self.calculate_status();
        let deadline = has_progress_deadline(&self.d);
        if !deadline {
            conditions::remove(&mut status, PROGRESSING);
        }
        let current = conditions::get(&self.status(), PROGRESSING).cloned();
        let already_complete = status.replicas == status.updated_replicas
            && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
        if deadline && !already_complete {
            if util::deployment_complete(&self.d, &status) {
                let message = format!("{} has successfully progressed.", subject(self));
                conditions::set(
                    &mut status,
                    conditions::new(PROGRESSING, "True", NEW_RS_AVAILABLE, message, now),
                );
            } else if util::deployment_progressing(&self.d, &status) {
                let message = format!("{} is progressing.", subject(self));
                let mut cond = conditions::new(PROGRESSING, "True", RS_UPDATED, message, now);
                // Progress moves lastUpdateTime even when the reason stays.
                if let Some(current) = &current {
                    if current.status == "True" {
                        cond.last_transition_time = current.last_transition_time;
                    }
                    conditions::remove(&mut status, PROGRESSING);
                }
                conditions::set(&mut status, cond);
            } else if util::deployment_timed_out(&self.d, &status, now) {
                let message = format!("{} has timed out progressing.", subject(self));
                conditions::set(
                    &mut status,
                    conditions::new(PROGRESSING, "False", TIMED_OUT, message, now),
                );
            }
        }
        match self.replica_failure() {
            Some(failure) => conditions::set(&mut status, failure),
            None => conditions::remove(&mut status, REPLICA_FAILURE),
        }
        if Some(&status) != self.d.status.as_ref() {
            self.write_status(status).await?;
        }
        self.mark_complete_rs().await?;
        if !self.auto_rollback().await? {
            self.requeue = self.deadline_recheck(now);
        }
        Ok(())
    }

    /// Marks the new ReplicaSet of a completed rollout as one an automatic
    /// rollback may return to.
    async fn mark_complete_rs(&mut self) -> anyhow::Result<()> {
        let Some(i) = self.new else {
            return Ok(());
        };
        let complete = util::deployment_complete(&self.d, &self.status());
        let marked = self.rss[i]
            .metadata
            .annotations
            .get(ROLLOUT_COMPLETE)
            .is_some_and(|v| v == "true");
        if complete && !marked && self.d.spec.replicas() > 0 {
            self.patch_rs_metadata(i, json!({"annotations": {ROLLOUT_COMPLETE: "true"}}))
                .await?;
        }
        Ok(())
    }

    /// When to look at a rollout again to see whether it timed out.
    fn deadline_recheck(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        let status = self.status();
        let cond = conditions::get(&status, PROGRESSING)?;
        let seconds = self
            .d
            .spec
            .progress_deadline_seconds
            .filter(|_| has_progress_deadline(&self.d))?;
        if util::deployment_complete(&self.d, &status) || cond.reason.as_deref() == Some(TIMED_OUT)
        {
            return None;
        }
        let from = cond.last_update_time?.0;
        let after = (from + chrono::Duration::seconds(i64::from(seconds)) - now)
            .to_std()
            .unwrap_or_default();
        Some(
            (after + Duration::from_secs(1))
                .clamp(Duration::from_millis(100), DEADLINE_RECHECK_CAP),
        )
    }

    /// `Progressing` says `Unknown`/`DeploymentPaused` while paused and
    /// `DeploymentResumed` once resumed (unless the deadline already passed).
    pub async fn check_paused_conditions(&mut self) -> anyhow::Result<()> {
        if !has_progress_deadline(&self.d) {
            return Ok(());
        }
        let mut status = self.status();
        let reason = conditions::get(&status, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT) {
            return Ok(());
        }
        let paused_cond = reason.as_deref() == Some(PAUSED);
        let now = self.c.ctx.clock.now();
        let cond = match (is_paused(&self.d), paused_cond) {
            (true, false) => {
                conditions::new(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now)
            }
            (false, true) => conditions::new(
                PROGRESSING,
                "Unknown",
                RESUMED,
                "Deployment is resumed",
                now,
            ),
            _ => return Ok(()),
        };
        conditions::set(&mut status, cond);
        self.write_status(status).await
    }
}
