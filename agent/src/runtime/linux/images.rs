//! The image a container runs: found in the node's store, or pulled as its
//! `imagePullPolicy` says.

use std::collections::{BTreeMap, BTreeSet};

use skiff_image::{ImageRecord, PullOptions, Puller};

use super::config::RegistryConfig;
use super::{LinuxRuntime, blocking};
use crate::runtime::{RuntimeError, RuntimeResult};

/// The registry client for the node's mirrors and insecure registries.
pub(super) fn puller(registry: &RegistryConfig) -> RuntimeResult<Puller> {
    let mut mirrors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (registry, url) in &registry.mirrors {
        mirrors
            .entry(registry.clone())
            .or_default()
            .push(url.clone());
    }
    let options = PullOptions {
        mirrors,
        insecure: registry.insecure.iter().cloned().collect::<BTreeSet<_>>(),
        ..PullOptions::default()
    };
    Puller::new(options).map_err(|e| RuntimeError::InvalidConfig(format!("registry settings: {e}")))
}

impl LinuxRuntime {
    pub(super) async fn ensure_image(
        &self,
        image: &str,
        policy: &str,
    ) -> RuntimeResult<ImageRecord> {
        if image.is_empty() {
            return Err(RuntimeError::InvalidConfig(
                "the container names no image".into(),
            ));
        }
        let store = self.shared.images.clone();
        let reference = image.to_string();
        let present = blocking(move || match store.get(&reference) {
            Ok(record) => Ok(Some(record)),
            Err(skiff_image::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(RuntimeError::ImagePull(format!("image {reference:?}: {e}"))),
        })
        .await?;
        let policy = if policy.is_empty() {
            "IfNotPresent"
        } else {
            policy
        };
        let pull = skiff_image::needs_pull(policy, present.is_some())
            .map_err(|e| RuntimeError::ImagePull(format!("image {image:?}: {e}")))?;
        match present {
            Some(record) if !pull => Ok(record),
            _ => {
                tracing::info!(image, policy, "pulling");
                let progress = |_: skiff_image::PullProgress| {};
                self.shared
                    .puller
                    .pull(&self.shared.images, image, &progress)
                    .await
                    .map_err(|e| RuntimeError::ImagePull(format!("pulling image {image:?}: {e}")))
            }
        }
    }
}
