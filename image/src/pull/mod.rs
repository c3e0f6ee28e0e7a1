//! Pulling images from OCI distribution registries (Docker Hub, the CNCF registry, mirrors).
//!
//! A pull resolves the reference, tries each mirror of its registry and then the registry
//! itself until one serves the manifest, then downloads the config and the layers from that
//! one (layers concurrently), each verified by sha256 on the way into the blob store and
//! unpacked into its own layer directory (diff_id checked over the whole decompressed stream).
//! The record is written last, through `ImageStore::commit` under the store's write lock; a
//! failure removes whatever this pull created.

mod auth;
mod download;
mod endpoint;
mod manifest;
mod policy;
mod rollback;
pub(crate) mod transport;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;

pub(crate) use auth::AuthCache;
pub use auth::Credentials;
pub(crate) use endpoint::Endpoint;
pub use policy::needs_pull;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image_store::ImageStore;
use crate::oci::{ConfigFile, Descriptor};
use crate::reference::Reference;
use crate::store::records::ImageRecord;
use manifest::Resolved;
use rollback::Rollback;
use transport::Session;

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Mirrors per registry, tried in order before it: `"docker.io" -> ["http://127.0.0.1:5000"]`.
    /// The URL's scheme decides plain http or https.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Registries (`127.0.0.1:5000`) spoken to over plain http; all others use https.
    pub insecure: BTreeSet<String>,
    /// Basic credentials per registry name or mirror host (also sent to its token server).
    pub credentials: BTreeMap<String, Credentials>,
    /// Layers downloaded (and unpacked) at the same time.
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            mirrors: BTreeMap::new(),
            insecure: BTreeSet::new(),
            credentials: BTreeMap::new(),
            concurrency: 3,
        }
    }
}

/// What a pull is doing, for progress bars and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullProgress {
    /// The manifest is known: where it came from and the layers (blob digest, size) to fetch.
    Resolved {
        reference: String,
        endpoint: String,
        manifest_digest: Digest,
        layers: Vec<(Digest, u64)>,
    },
    LayerStarted {
        digest: Digest,
        size: u64,
    },
    LayerBytes {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// Downloaded and unpacked (or already present).
    LayerDone {
        digest: Digest,
    },
    Done,
}

/// Progress callbacks may be called from any of the pull's concurrent layer downloads.
pub type ProgressFn<'a> = &'a (dyn Fn(PullProgress) + Send + Sync);

/// A registry client with one connection pool and one cache of tokens per (registry, scope).
pub struct Puller {
    client: reqwest::Client,
    options: PullOptions,
    auth: AuthCache,
}

impl Puller {
    pub fn new(options: PullOptions) -> Result<Puller> {
        for (registry, urls) in &options.mirrors {
            for url in urls {
                endpoint::check_mirror_url(registry, url)?;
            }
        }
        if options.concurrency == 0 {
            return Err(Error::PullPolicy(
                "pull concurrency must be at least 1".to_string(),
            ));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            // Redirects are followed by hand: Authorization must not go to another host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("skiff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::PullPolicy(format!("building the HTTP client: {e}")))?;
        Ok(Puller {
            client,
            options,
            auth: AuthCache::default(),
        })
    }

    pub fn options(&self) -> &PullOptions {
        &self.options
    }

    /// A session for `repository` on `endpoint` with the given token scope.
    pub(crate) fn session<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        repository: &'a str,
        scope: String,
    ) -> Session<'a> {
        // A registry's password never goes to its mirrors, only to the host it names.
        let credentials = self.options.credentials.get(&endpoint.host).or_else(|| {
            endpoint
                .mirror_of
                .is_none()
                .then(|| self.options.credentials.get(&endpoint.shown))
                .flatten()
        });
        Session {
            client: &self.client,
            auth: &self.auth,
            endpoint,
            repository,
            scope,
            credentials,
        }
    }

    /// Pulls `reference` (`nginx` means `docker.io/library/nginx:latest`) into `store` and
    /// records it under its normalised name.
    pub async fn pull(
        &self,
        store: &ImageStore,
        reference: &str,
        progress: ProgressFn<'_>,
    ) -> Result<ImageRecord> {
        let reference = Reference::parse(reference)?;
        let endpoints =
            endpoint::endpoints(&reference, &self.options.mirrors, &self.options.insecure);
        let scope = format!("repository:{}:pull", reference.repository());
        let mut failures = Vec::new();
        for ep in &endpoints {
            let session = self.session(ep, reference.repository(), scope.clone());
            match manifest::resolve(&session, &reference.manifest_ref(), reference.digest()).await {
                Ok(resolved) => {
                    return self
                        .fetch_image(store, &reference, &session, resolved, progress)
                        .await;
                }
                Err(e) => {
                    if endpoints.len() > 1 {
                        tracing::warn!(endpoint = %ep.shown, error = %e, "trying the next endpoint");
                    }
                    failures.push(e);
                }
            }
        }
        Err(combine(&reference, failures))
    }

    async fn fetch_image(
        &self,
        store: &ImageStore,
        reference: &Reference,
        session: &Session<'_>,
        resolved: Resolved,
        progress: ProgressFn<'_>,
    ) -> Result<ImageRecord> {
        let Resolved {
            index,
            manifest,
            parsed,
        } = resolved;
        progress(PullProgress::Resolved {
            reference: reference.to_string(),
            endpoint: session.endpoint.shown.clone(),
            manifest_digest: manifest.digest.clone(),
            layers: parsed
                .layers
                .iter()
                .map(|l| (l.digest.clone(), l.size))
                .collect(),
        });
        let lock_store = store.clone();
        let _lock = tokio::task::spawn_blocking(move || lock_store.write_lock())
            .await
            .map_err(|e| Error::io("lock the image store", std::io::Error::other(e)))??;
        let rollback = Rollback::new(store);
        for doc in index.iter().chain([&manifest]) {
            if !store.blobs().contains(&doc.digest) {
                store.blobs().put(&doc.digest, &doc.bytes[..])?;
                rollback.created_blob(&doc.digest);
            }
        }
        if !store.blobs().contains(&parsed.config.digest) {
            download::blob(session, store.blobs(), &parsed.config, "config", |_| {}).await?;
            rollback.created_blob(&parsed.config.digest);
        }
        let diff_ids = read_diff_ids(store, session, &parsed.config, parsed.layers.len())?;

        let mut seen = HashSet::new();
        let work: Vec<(Descriptor, Digest)> = parsed
            .layers
            .iter()
            .cloned()
            .zip(diff_ids)
            .filter(|(l, _)| seen.insert(l.digest.clone()))
            .collect();
        let failed = AtomicBool::new(false);
        let results: Vec<Result<()>> = futures::stream::iter(work)
            .map(|(desc, diff_id)| {
                let (rollback, failed) = (&rollback, &failed);
                async move {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let r = self
                        .layer(store, session, &desc, &diff_id, rollback, progress)
                        .await;
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    r
                }
            })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        // Every layer task has finished (none runs on behind the rollback): report the first error.
        results.into_iter().collect::<Result<Vec<()>>>()?;

        let commit_store = store.clone();
        let commit_ref = reference.clone();
        let manifest_digest = manifest.digest.clone();
        let index_digest = index.map(|i| i.digest);
        let record = tokio::task::spawn_blocking(move || {
            commit_store.commit(&commit_ref, &manifest_digest, index_digest.as_ref())
        })
        .await
        .map_err(|e| Error::io("record the image", std::io::Error::other(e)))??;
        rollback.disarm();
        progress(PullProgress::Done);
        Ok(record)
    }

    /// Downloads one layer blob (unless present) and unpacks it (unless present).
    async fn layer(
        &self,
        store: &ImageStore,
        session: &Session<'_>,
        desc: &Descriptor,
        diff_id: &Digest,
        rollback: &Rollback,
        progress: ProgressFn<'_>,
    ) -> Result<()> {
        progress(PullProgress::LayerStarted {
            digest: desc.digest.clone(),
            size: desc.size,
        });
        if !store.blobs().contains(&desc.digest) {
            download::blob(session, store.blobs(), desc, "layer", |done| {
                progress(PullProgress::LayerBytes {
                    digest: desc.digest.clone(),
                    done,
                    total: desc.size,
                })
            })
            .await?;
            rollback.created_blob(&desc.digest);
        }
        if !store.layers().contains(diff_id) {
            let (blobs, layers) = (store.blobs().clone(), store.layers().clone());
            let (blob, diff) = (desc.digest.clone(), diff_id.clone());
            tokio::task::spawn_blocking(move || layers.apply(&diff, blobs.open_blob(&blob)?))
                .await
                .map_err(|e| Error::io("unpack a layer", std::io::Error::other(e)))?
                .map_err(|e| match e {
                    Error::DigestMismatch {
                        expected, actual, ..
                    } => Error::DigestMismatch {
                        what: format!(
                            "the diff_id of layer {} of {} from {}",
                            desc.digest, session.repository, session.endpoint.shown
                        ),
                        expected,
                        actual,
                    },
                    other => other,
                })?;
            rollback.created_layer(diff_id);
        }
        progress(PullProgress::LayerDone {
            digest: desc.digest.clone(),
        });
        Ok(())
    }
}

/// The config's diff_ids, one per manifest layer (checked before anything is downloaded).
fn read_diff_ids(
    store: &ImageStore,
    session: &Session<'_>,
    config: &Descriptor,
    layers: usize,
) -> Result<Vec<Digest>> {
    let bytes = store.blobs().read(&config.digest)?;
    let parsed: ConfigFile = serde_json::from_slice(&bytes)
        .map_err(|e| session.error(format!("image config {}: {e}", config.digest)))?;
    if parsed.rootfs.diff_ids.len() != layers {
        return Err(session.error(format!(
            "the manifest has {layers} layers but the config {} diff_ids",
            parsed.rootfs.diff_ids.len()
        )));
    }
    Ok(parsed.rootfs.diff_ids)
}

/// One endpoint's error as it is; several become one that lists each.
fn combine(reference: &Reference, mut failures: Vec<Error>) -> Error {
    if failures.len() == 1 {
        return failures.remove(0);
    }
    let each: Vec<String> = failures.iter().map(ToString::to_string).collect();
    Error::Registry {
        registry: reference.registry().to_string(),
        repository: reference.repository().to_string(),
        what: format!(
            "no mirror and not the registry served it: {}",
            each.join("; ")
        ),
    }
}
