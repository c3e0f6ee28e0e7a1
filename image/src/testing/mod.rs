//! Test harnesses (feature `testing`), for this crate's tests and other crates' tests:
//! a local OCI registry (Debian's `docker-registry`, CNCF distribution 2.8) on 127.0.0.1, with
//! or without token auth served by an in-process token server, and a byte-for-byte pusher of
//! OCI image layouts.
//!
//! ```no_run
//! # async fn demo() -> skiff_image::Result<()> {
//! use skiff_image::testing::Registry;
//! let registry = Registry::start()?;
//! registry.push_oci_layout("/tmp/busybox-oci".as_ref(), "library/busybox", "latest").await?;
//! let puller = skiff_image::Puller::new(registry.pull_options())?;
//! # Ok(()) }
//! ```

mod push;
mod registry;
mod token_server;

pub use registry::{REGISTRY_BIN, Registry};
