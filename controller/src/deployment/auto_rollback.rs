//! Automatic rollback (beyond Kubernetes, like Nomad's `auto_revert`): a
//! Deployment annotated `skiff.dev/auto-rollback: "true"` whose rollout
//! passes its progress deadline goes back to the newest older ReplicaSet
//! that once rolled out completely. The revision it left is recorded in
//! `skiff.dev/auto-rollback-from`, so a revision is rolled back from once
//! only, and a rollback that itself times out does not loop.

use std::collections::BTreeMap;

use serde_json::json;
use skiff_client::{EventType, Patch};

use super::conditions::{self, PROGRESSING, TIMED_OUT};
use super::history::rollback_patch;
use super::sync::Sync;
use super::util::{AUTO_ROLLBACK, AUTO_ROLLBACK_FROM, ROLLOUT_COMPLETE, is_paused, revision};

impl Sync<'_> {
    /// Rolls back if this Deployment asks for it and its current rollout
    /// timed out. True when it patched the Deployment.
    pub async fn auto_rollback(&mut self) -> anyhow::Result<bool> {
        let d = &self.d;
        let enabled = d
            .metadata
            .annotations
            .get(AUTO_ROLLBACK)
            .is_some_and(|v| v == "true");
        if !enabled || is_paused(d) || d.metadata.deletion_timestamp.is_some() {
            return Ok(false);
        }
        let Some(new) = self.new_rs() else {
            return Ok(false);
        };
        let status = self.status();
        let Some(cond) = conditions::get(&status, PROGRESSING) else {
            return Ok(false);
        };
        // The deadline of this very ReplicaSet's rollout (not a condition
        // left over from the rollout before a rollback).
        let timed_out_message = format!(
            "ReplicaSet {:?} has timed out progressing.",
            new.metadata.name_str()
        );
        if cond.reason.as_deref() != Some(TIMED_OUT)
            || cond.message.as_deref() != Some(timed_out_message.as_str())
        {
            return Ok(false);
        }
        let failed = revision(new);
        if d.metadata.annotations.get(AUTO_ROLLBACK_FROM) == Some(&failed.to_string()) {
            return Ok(false);
        }
        let target = self
            .olds()
            .into_iter()
            .map(|i| &self.rss[i])
            .filter(|rs| {
                rs.metadata
                    .annotations
                    .get(ROLLOUT_COMPLETE)
                    .is_some_and(|v| v == "true")
            })
            .max_by_key(|rs| revision(rs));
        let extra = BTreeMap::from([(AUTO_ROLLBACK_FROM.to_string(), failed.to_string())]);
        match target {
            Some(target) => {
                let to = revision(target);
                let patch = rollback_patch(d, target, &extra, true);
                self.patch_deployment(&patch).await?;
                self.event(
                    EventType::Warning,
                    "AutoRollback",
                    format!("Rolled back to revision {to} after progress deadline exceeded"),
                );
            }
            None => {
                let patch = Patch::Merge(json!({"metadata": {
                    "annotations": extra,
                    "resourceVersion": d.metadata.resource_version,
                }}));
                self.patch_deployment(&patch).await?;
                self.event(
                    EventType::Warning,
                    "AutoRollbackFailed",
                    format!("Progress deadline exceeded at revision {failed}, and no earlier revision ever rolled out completely"),
                );
            }
        }
        Ok(true)
    }
}
