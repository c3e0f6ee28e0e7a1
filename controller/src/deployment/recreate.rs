//! The Recreate strategy: every old pod goes (and is gone) before the new
//! ReplicaSet gets any: old and new pods never run side by side.

use std::sync::Arc;

use skiff_client::runtime::BY_CONTROLLER_UID;

use super::sync::Sync;
use super::util::{self, actual_replicas, sum};

impl Sync<'_> {
    pub async fn rollout_recreate(&mut self) -> anyhow::Result<()> {
        self.find_or_create_new_rs(false).await?;
        let mut scaled = false;
        for i in self.active_olds() {
            scaled |= self.scale_rs_to(i, 0).await?;
        }
        if scaled || self.old_pods_running() {
            return self.sync_rollout_status().await;
        }
        if self.new.is_none() {
            self.find_or_create_new_rs(true).await?;
        }
        if let Some(new) = self.new {
            let replicas = self.d.spec.replicas();
            self.scale_rs_to(new, replicas).await?;
        }
        if util::deployment_complete(&self.d, &self.status()) {
            self.cleanup().await?;
        }
        self.sync_rollout_status().await
    }

    /// Does an old ReplicaSet still report pods, or own a pod that has not
    /// finished (terminating pods included)?
    fn old_pods_running(&self) -> bool {
        let olds = self.olds();
        if sum(olds.iter().map(|&i| &self.rss[i]), actual_replicas) > 0 {
            return true;
        }
        let pods = &self.c.ctx.informers.pods.cache;
        olds.iter().any(|&i| {
            let uid = self.rss[i].metadata.uid.clone().unwrap_or_default();
            pods.by_index(BY_CONTROLLER_UID, &uid)
                .iter()
                .any(|p| !finished(p))
        })
    }
}

fn finished(pod: &Arc<skiff_api::core::Pod>) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}
