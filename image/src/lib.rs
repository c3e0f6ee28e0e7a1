//! skiff's node image store.
//!
//! - [`Reference`]: image references normalised as Docker does
//!   (`nginx` -> `docker.io/library/nginx:latest`).
//! - [`store::blobs::BlobStore`]: content-addressed blobs (`blobs/sha256/<hex>`), written through
//!   a verified temporary file.
//! - [`layer::apply_layer`] and [`store::layers::LayerStore`]: one directory per layer keyed by
//!   diff_id (`layers/sha256/<hex>`), unpacked with overlayfs whiteouts and nothing written
//!   outside it, shared by every image and container that uses it.
//! - [`ImageStore`]: the above plus image records (`images/<reference>.json`), `import` of OCI
//!   layouts and docker archives, `get`/`list`/`remove`, and `gc` of unused blobs and layers.
//!
//! - [`Puller`]: pulls from OCI distribution registries (mirrors, token auth, verification)
//!   into the store: blobs under `ImageStore::write_lock`, then `ImageStore::commit`, exactly
//!   as import does. [`needs_pull`] applies `imagePullPolicy`.
//! - `testing` (feature `testing`): a local registry and token server for tests.

pub mod digest;
pub mod error;
pub mod image_store;
pub mod import;
pub mod layer;
pub mod oci;
pub mod pull;
pub mod reference;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use digest::Digest;
pub use error::{Error, Result};
pub use image_store::{GcReport, ImageStore};
pub use oci::ImageConfig;
pub use pull::{Credentials, PullOptions, PullProgress, Puller, needs_pull};
pub use reference::Reference;
pub use store::records::{ImageRecord, LayerRecord};
