//! Scaling ReplicaSets: one at a time (with the replica annotations and a
//! `ScalingReplicaSet` event), in proportion when the Deployment is scaled
//! in the middle of a rollout, and trimming the revision history.

use anyhow::Context as _;
use skiff_api::apps::ReplicaSet;
use skiff_client::{DeleteParams, EventType};

use super::sync::Sync;
use super::util::{
    self, active_or_latest, is_saturated, max_surge, set_replicas_annotations, spec_replicas,
};

impl Sync<'_> {
    /// Sets ReplicaSet `i` to `size` replicas (and the replica
    /// annotations); an event says so. True when the size changed.
    pub async fn scale_rs(&mut self, i: usize, size: i32, operation: &str) -> anyhow::Result<bool> {
        let replicas = self.d.spec.replicas();
        let max = replicas + max_surge(&self.d);
        let mut rs = self.rss[i].clone();
        let before = spec_replicas(&rs);
        let resized = before != size;
        let annotated = set_replicas_annotations(&mut rs, replicas, max);
        if !resized && !annotated {
            return Ok(false);
        }
        rs.spec.replicas = Some(size);
        self.update_rs(i, rs).await?;
        if resized {
            let name = self.rss[i].metadata.name_str().to_string();
            self.event(
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled {operation} replica set {name} to {size} from {before}"),
            );
        }
        Ok(resized)
    }

    /// [`scale_rs`](Self::scale_rs), up or down as `size` says; nothing
    /// when the size is already right.
    pub async fn scale_rs_to(&mut self, i: usize, size: i32) -> anyhow::Result<bool> {
        let current = spec_replicas(&self.rss[i]);
        if current == size {
            return Ok(false);
        }
        let operation = if current < size { "up" } else { "down" };
        self.scale_rs(i, size, operation).await
    }

    /// A change of `spec.replicas` (or a paused Deployment): resize the
    /// ReplicaSets without rolling, sharing the change out in proportion
    /// when several have replicas.
    pub async fn scale(&mut self) -> anyhow::Result<()> {
        let replicas = self.d.spec.replicas();
        let olds: Vec<ReplicaSet> = self
            .olds()
            .into_iter()
            .map(|i| self.rss[i].clone())
            .collect();
        if let Some(only) = active_or_latest(self.new_rs(), &olds) {
            let i = self.index_of(only);
            // Also brings its replica annotations up to date, so that the
            // next sync does not take this for a scaling event again.
            let operation = if spec_replicas(&self.rss[i]) < replicas {
                "up"
            } else {
                "down"
            };
            self.scale_rs(i, replicas, operation).await?;
            return Ok(());
        }
        if is_saturated(&self.d, self.new_rs()) {
            for i in self.active_olds() {
                self.scale_rs_to(i, 0).await?;
            }
            return Ok(());
        }
        if util::is_rolling(&self.d) {
            let mut active: Vec<ReplicaSet> = self
                .rss
                .iter()
                .filter(|rs| spec_replicas(rs) > 0)
                .cloned()
                .collect();
            let (sizes, operation) = util::proportional_sizes(&self.d, &mut active);
            for (rs, size) in active.iter().zip(sizes) {
                let i = self.index_of(rs);
                self.scale_rs(i, size, operation).await?;
            }
        }
        Ok(())
    }

    fn index_of(&self, rs: &ReplicaSet) -> usize {
        self.rss
            .iter()
            .position(|r| r.metadata.uid == rs.metadata.uid && r.metadata.name == rs.metadata.name)
            .unwrap_or_default()
    }

    /// Deletes the oldest ReplicaSets without pods beyond `revisionHistoryLimit`.
    pub async fn cleanup(&mut self) -> anyhow::Result<()> {
        let Some(limit) = self.d.spec.revision_history_limit else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = self
            .olds()
            .into_iter()
            .map(|i| &self.rss[i])
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = cleanable
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        if excess == 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| util::by_revision(a, b));
        let doomed: Vec<(String, Option<String>)> = cleanable
            .into_iter()
            .take(excess)
            .filter(|rs| {
                let status = rs.status.clone().unwrap_or_default();
                status.replicas == 0
                    && spec_replicas(rs) == 0
                    && rs.metadata.generation.unwrap_or(0)
                        <= status.observed_generation.unwrap_or(0)
            })
            .map(|rs| (rs.metadata.name_str().to_string(), rs.metadata.uid.clone()))
            .collect();
        let api = self.replicasets();
        for (name, uid) in doomed {
            let params = DeleteParams {
                precondition_uid: uid,
                ..DeleteParams::background()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {
                    tracing::debug!(deployment = %self.key, replicaset = name, "deleted old replica set")
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("deleting old replica set {name}"));
                }
            }
        }
        Ok(())
    }
}
