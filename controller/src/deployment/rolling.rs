//! The RollingUpdate strategy: grow the new ReplicaSet up to
//! `replicas + maxSurge` pods in all, shrink the old ones while at least
//! `replicas - maxUnavailable` pods stay available, unhealthy old pods first.

use super::sync::Sync;
use super::util::{self, kept_available, max_unavailable, new_rs_new_replicas, spec_replicas, sum};

impl Sync<'_> {
    pub async fn rollout_rolling(&mut self) -> anyhow::Result<()> {
        self.find_or_create_new_rs(true).await?;
        let Some(new) = self.new else {
            anyhow::bail!("no new replica set for deployment {}", self.key);
        };
        if self.reconcile_new_rs(new).await? {
            return self.sync_rollout_status().await;
        }
        if self.reconcile_old_rss(new).await? {
            return self.sync_rollout_status().await;
        }
        if util::deployment_complete(&self.d, &self.status()) {
            self.cleanup().await?;
        }
        self.sync_rollout_status().await
    }

    /// Scales the new ReplicaSet up as far as the surge allows (or down to
    /// `replicas`). True when it changed.
    async fn reconcile_new_rs(&mut self, new: usize) -> anyhow::Result<bool> {
        let replicas = self.d.spec.replicas();
        let current = spec_replicas(&self.rss[new]);
        if current == replicas {
            return Ok(false);
        }
        if current > replicas {
            return self.scale_rs_to(new, replicas).await;
        }
        let all: Vec<_> = self.rss.iter().collect();
        let size = new_rs_new_replicas(&self.d, &all, &self.rss[new]);
        self.scale_rs_to(new, size).await
    }

    /// The least number of pods that must stay available.
    fn min_available(&self) -> i32 {
        self.d.spec.replicas() - max_unavailable(&self.d)
    }

    /// Scales old ReplicaSets down as far as availability allows. True
    /// when one changed.
    async fn reconcile_old_rss(&mut self, new: usize) -> anyhow::Result<bool> {
        let olds = self.active_olds();
        if olds.is_empty() {
            return Ok(false);
        }
        let all_pods = sum(&self.rss, spec_replicas);
        let new_rs = &self.rss[new];
        let new_unavailable = spec_replicas(new_rs) - kept_available(new_rs);
        let max_scaled_down = all_pods - self.min_available() - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        let cleaned = self.cleanup_unhealthy(&olds, max_scaled_down).await?;
        let scaled = self.scale_down_olds(&olds).await?;
        Ok(cleaned + scaled > 0)
    }

    /// Takes unavailable pods out of the old ReplicaSets (oldest first):
    /// they serve nothing, so removing them costs no availability.
    async fn cleanup_unhealthy(&mut self, olds: &[usize], max: i32) -> anyhow::Result<i32> {
        let mut total = 0;
        for &i in olds {
            if total >= max {
                break;
            }
            let rs = &self.rss[i];
            let (size, available) = (spec_replicas(rs), kept_available(rs));
            if size == 0 || size == available {
                continue;
            }
            let down = (max - total).min(size - available);
            self.scale_rs_to(i, size - down).await?;
            total += down;
        }
        Ok(total)
    }

    /// Scales old ReplicaSets (oldest first) down by what is available
    /// beyond the minimum.
    async fn scale_down_olds(&mut self, olds: &[usize]) -> anyhow::Result<i32> {
        let available = sum(&self.rss, kept_available);
        let min_available = self.min_available();
        if available <= min_available {
            return Ok(0);
        }
        let to_scale_down = available - min_available;
        let mut total = 0;
        for &i in olds {
            if total >= to_scale_down {
                break;
            }
            let size = spec_replicas(&self.rss[i]);
            if size == 0 {
                continue;
            }
            let down = size.min(to_scale_down - total);
            self.scale_rs_to(i, size - down).await?;
            total += down;
        }
        Ok(total)
    }
}
