//! skiff-client: talk to a skiff (or any Kubernetes) API server.
//!
//! - [`kubeconfig`]: find and read a standard kubeconfig, write the one
//!   `skiff server` hands out.
//! - [`Client`]: the HTTP client (TLS from the kubeconfig, bearer tokens over
//!   https only), raw requests whose errors decode into `Status`.
//! - [`Api<T>`] for typed kinds and [`DynamicApi`] for any resource type over
//!   JSON values: get, list, create, replace, patch, delete, watch.

pub mod api;
pub mod client;
pub mod dynamic;
pub mod error;
pub mod join;
pub mod kubeconfig;
pub mod params;
pub mod recorder;
pub mod runtime;
mod tls;
pub mod watch;

pub use api::{Api, ObjectList};
pub use client::{Client, Request, load_config};
pub use dynamic::{DeleteOutcome, DynamicApi};
pub use error::{Error, Result};
pub use join::{JoinToken, NodeCredential};
pub use kubeconfig::{ClusterConfig, Kubeconfig};
pub use params::{DeleteParams, ListParams, Patch, PropagationPolicy, WriteParams};
pub use recorder::{EventRecorder, EventType};
pub use watch::{WatchEvent, WatchStream};
