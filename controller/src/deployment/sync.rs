//! One sync of one Deployment: the Deployment and its ReplicaSets as last
//! read or written, and the writes it makes (each remembered for
//! [`Freshness`](super::fresh::Freshness)).

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use skiff_api::apps::{Deployment, DeploymentStatus, ReplicaSet};
use skiff_client::{Api, EventType, Patch};

use super::DeploymentController;
use super::fresh::Kind;
use super::util::{self, spec_replicas};

pub(super) struct Sync<'a> {
    pub c: &'a DeploymentController,
    /// `namespace/name` of the Deployment.
    pub key: String,
    /// The Deployment as last read or written.
    pub d: Deployment,
    /// Its ReplicaSets, as last read or written.
    pub rss: Vec<ReplicaSet>,
    /// Index in `rss` of the new ReplicaSet (the one with the Deployment's template).
    pub new: Option<usize>,
    /// Look again after this long (progress deadline, paused conditions).
    pub requeue: Option<Duration>,
}

pub(super) fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

impl<'a> Sync<'a> {
    pub fn new(
        c: &'a DeploymentController,
        key: String,
        d: Deployment,
        rss: Vec<ReplicaSet>,
    ) -> Sync<'a> {
        Sync {
            c,
            key,
            d,
            rss,
            new: None,
            requeue: None,
        }
    }

    pub fn namespace(&self) -> &str {
        self.d.metadata.namespace_str()
    }

    pub fn name(&self) -> &str {
        self.d.metadata.name_str()
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.c.ctx.client.clone(), self.namespace())
    }

    pub fn replicasets(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.c.ctx.client.clone(), self.namespace())
    }

    pub fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    pub fn new_rs(&self) -> Option<&ReplicaSet> {
        self.new.map(|i| &self.rss[i])
    }

    /// Indices of the old ReplicaSets (all but the new one).
    pub fn olds(&self) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    /// Indices of the old ReplicaSets with replicas, oldest first.
    pub fn active_olds(&self) -> Vec<usize> {
        let mut olds: Vec<usize> = self
            .olds()
            .into_iter()
            .filter(|&i| spec_replicas(&self.rss[i]) > 0)
            .collect();
        olds.sort_by(|&a, &b| util::by_creation(&self.rss[a], &self.rss[b]));
        olds
    }

    pub fn event(&self, kind: EventType, reason: &str, message: String) {
        self.c.ctx.recorder.publish(&self.d, kind, reason, message);
    }

    fn rs_key(rs: &ReplicaSet) -> String {
        format!("{}/{}", rs.metadata.namespace_str(), rs.metadata.name_str())
    }

    pub fn remember_rs(&self, rs: &ReplicaSet) {
        self.c.fresh.record(
            &self.key,
            Kind::ReplicaSet,
            &Self::rs_key(rs),
            rs.metadata.resource_version.as_deref(),
        );
    }

    fn remember_deployment(&self) {
        self.c.fresh.record(
            &self.key,
            Kind::Deployment,
            &self.key,
            self.d.metadata.resource_version.as_deref(),
        );
    }

    /// Replaces ReplicaSet `i` with `rs` (pinned to the version read).
    pub async fn update_rs(&mut self, i: usize, rs: ReplicaSet) -> anyhow::Result<()> {
        let updated = self
            .replicasets()
            .replace(rs.metadata.name_str(), &rs)
            .await
            .with_context(|| format!("updating replica set {}", rs.metadata.name_str()))?;
        self.remember_rs(&updated);
        self.rss[i] = updated;
        Ok(())
    }

    /// Merge-patches the metadata of ReplicaSet `i` (annotations).
    pub async fn patch_rs_metadata(
        &mut self,
        i: usize,
        metadata: serde_json::Value,
    ) -> anyhow::Result<()> {
        let name = self.rss[i].metadata.name_str().to_string();
        let updated = self
            .replicasets()
            .patch(&name, &Patch::Merge(json!({ "metadata": metadata })))
            .await
            .with_context(|| format!("annotating replica set {name}"))?;
        self.remember_rs(&updated);
        self.rss[i] = updated;
        Ok(())
    }

    /// Writes `status` through `/status` (pinned to the version read).
    pub async fn write_status(&mut self, status: DeploymentStatus) -> anyhow::Result<()> {
        let mut d = self.d.clone();
        d.status = Some(status);
        self.d = self
            .deployments()
            .replace_status(self.name(), &d)
            .await
            .context("updating the deployment status")?;
        self.remember_deployment();
        Ok(())
    }

    /// Patches the Deployment itself (its metadata or template).
    pub async fn patch_deployment(&mut self, patch: &Patch) -> anyhow::Result<()> {
        self.d = self
            .deployments()
            .patch(self.name(), patch)
            .await
            .context("updating the deployment")?;
        self.remember_deployment();
        Ok(())
    }
}
