//! Finding the Deployment's new ReplicaSet (the one with its template) and
//! keeping its annotations and the Deployment's revision in step, or
//! creating it, named by the template hash.

use anyhow::Context as _;
use serde_json::json;
use skiff_api::apps::{ReplicaSet, ReplicaSetSpec};
use skiff_api::meta::ObjectMeta;
use skiff_client::{EventType, Patch};

use super::conditions::{self, FAILED_RS_CREATE, FOUND_NEW_RS, NEW_RS_CREATED, PROGRESSING};
use super::hash::pod_template_hash;
use super::sync::{Sync, has_progress_deadline};
use super::util::{self, POD_TEMPLATE_HASH, REVISION, max_revision, set_new_rs_annotations};
use crate::replicaset::pods::controller_ref;

impl Sync<'_> {
    /// Records `revision` on the Deployment.
    async fn set_deployment_revision(&mut self, revision: &str) -> anyhow::Result<()> {
        if self
            .d
            .metadata
            .annotations
            .get(REVISION)
            .map(String::as_str)
            == Some(revision)
        {
            return Ok(());
        }
        let patch = Patch::Merge(json!({"metadata": {
            "annotations": {REVISION: revision},
            "resourceVersion": self.d.metadata.resource_version,
        }}));
        self.patch_deployment(&patch).await
    }

    /// Finds the new ReplicaSet (bringing its annotations and
    /// `minReadySeconds` up to date, and the Deployment's revision), or
    /// creates it when `create`.
    pub async fn find_or_create_new_rs(&mut self, create: bool) -> anyhow::Result<()> {
        self.new = util::find_new(&self.d, &self.rss);
        let olds = self.olds();
        let new_revision = max_revision(olds.iter().map(|&i| &self.rss[i])) + 1;
        let now = self.c.ctx.clock.now();
        if let Some(i) = self.new {
            let mut rs = self.rss[i].clone();
            let annotated = set_new_rs_annotations(&self.d, &mut rs, new_revision, true);
            let min_ready = self.d.spec.min_ready_seconds;
            if annotated || rs.spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0) {
                rs.spec.min_ready_seconds = min_ready;
                self.update_rs(i, rs).await?;
            }
            let revision = self.rss[i]
                .metadata
                .annotations
                .get(REVISION)
                .cloned()
                .unwrap_or_default();
            self.set_deployment_revision(&revision).await?;
            let mut status = self.status();
            if has_progress_deadline(&self.d) && conditions::get(&status, PROGRESSING).is_none() {
                let message = format!(
                    "Found new replica set {:?}",
                    self.rss[i].metadata.name_str()
                );
                conditions::set(
                    &mut status,
                    conditions::new(PROGRESSING, "True", FOUND_NEW_RS, message, now),
                );
                self.write_status(status).await?;
            }
            return Ok(());
        }
        if create {
            self.create_new_rs(new_revision).await?;
        }
        Ok(())
    }

    async fn create_new_rs(&mut self, new_revision: i64) -> anyhow::Result<()> {
        let d = &self.d;
        let mut status = self.status();
        let hash = pod_template_hash(&d.spec.template, status.collision_count);
        let mut template = d.spec.template.clone();
        template
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let mut selector = d.spec.selector.clone().unwrap_or_default();
        selector
            .match_labels
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let mut rs = ReplicaSet {
            api_version: Some("apps/v1".into()),
            kind: Some("ReplicaSet".into()),
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", d.metadata.name_str())),
                namespace: d.metadata.namespace.clone(),
                owner_references: vec![controller_ref("apps/v1", "Deployment", &d.metadata)],
                labels: template.metadata.labels.clone(),
                ..Default::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: d.spec.min_ready_seconds,
                selector: Some(selector),
                template,
            },
            status: None,
        };
        let all: Vec<&ReplicaSet> = self.rss.iter().chain([&rs]).collect();
        let replicas = util::new_rs_new_replicas(d, &all, &rs);
        rs.spec.replicas = Some(replicas);
        set_new_rs_annotations(d, &mut rs, new_revision, false);
        let name = rs.metadata.name_str().to_string();
        let now = self.c.ctx.clock.now();
        let created = match self.replicasets().create(&rs).await {
            Ok(created) => created,
            Err(e) if e.is_already_exists() => {
                // Ours already (a sync that raced its own create), or a hash collision.
                let existing = self.replicasets().get(&name).await?;
                let ours = existing.metadata.controller_ref().map(|r| r.uid.as_str())
                    == self.d.metadata.uid.as_deref();
                if ours && util::equal_ignore_hash(&existing.spec.template, &self.d.spec.template) {
                    self.remember_rs(&existing);
                    self.rss.push(existing);
                    self.new = Some(self.rss.len() - 1);
                    return Ok(());
                }
                status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                self.write_status(status).await?;
                anyhow::bail!(
                    "replica set {name} exists with another template: hash collision, trying again"
                );
            }
            Err(e) => {
                let message = format!("Failed to create new replica set {name:?}: {e}");
                if has_progress_deadline(&self.d) {
                    conditions::set(
                        &mut status,
                        conditions::new(
                            PROGRESSING,
                            "False",
                            FAILED_RS_CREATE,
                            message.clone(),
                            now,
                        ),
                    );
                    // The create error is the one to report.
                    let _ = self.write_status(status).await;
                }
                self.event(EventType::Warning, FAILED_RS_CREATE, message);
                return Err(e).context("creating the new replica set");
            }
        };
        self.remember_rs(&created);
        if replicas > 0 {
            self.event(
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} to {replicas}"),
            );
        }
        self.rss.push(created);
        self.new = Some(self.rss.len() - 1);
        self.set_deployment_revision(&new_revision.to_string())
            .await?;
        let mut status = self.status();
        if has_progress_deadline(&self.d) {
            let message = format!("Created new replica set {name:?}");
            conditions::set(
                &mut status,
                conditions::new(PROGRESSING, "True", NEW_RS_CREATED, message, now),
            );
            self.write_status(status).await?;
        }
        Ok(())
    }
}
