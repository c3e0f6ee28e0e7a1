//! skiff-testkit: reconciliation tests against a whole cluster in one
//! process.
//!
//! A [`Cluster`] is an API server on an embedded SQLite store in a temp
//! dir (with the garbage collector on), the controllers and the scheduler
//! (`skiff_controller::manager`), and N hollow nodes (real node agents over
//! in-memory container runtimes). A test starts one in a line, drives it
//! through the ordinary client, breaks it, and checks that it converges:
//!
//! ```no_run
//! use std::time::Duration;
//! use skiff_api::apps::Deployment;
//! use skiff_testkit::{Cluster, objects};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let cluster = Cluster::builder().nodes(3).lab_profile().start().await?;
//! cluster.faults().conflict_writes(0.3); // 30% of writes answered 409
//! let deployments = cluster.api::<Deployment>("default");
//! deployments.create(&objects::deployment("web", 5, "nginx:1.27")).await?;
//! // Never more than 5 pods at once, checked at every watch event.
//! let watch = cluster
//!     .watch_pods("default", "app=web", |pods| match pods.active() {
//!         n if n <= 5 => Ok(()),
//!         n => Err(format!("{n} pods")),
//!     })
//!     .await?;
//! cluster.wait_rolled_out("default", "web", Duration::from_secs(20)).await?;
//! watch.verify()?;
//! # Ok(())
//! # }
//! ```
//!
//! What a test can break, and how:
//!
//! | fault | call |
//! |---|---|
//! | writes answered `409 Conflict` (a fraction, the next N, by resource/verb) | [`Cluster::faults`] → [`Faults::conflict_writes`], [`Faults::conflict_next_writes`], [`Faults::conflict_matching`] |
//! | watch streams dropped now, or after a random lifetime | [`Faults::drop_watches`], [`Faults::watch_lifetime`] |
//! | watch events or responses delivered late | [`Faults::delay_watch_events`], [`Faults::delay_responses`] |
//! | the controller process killed and restarted (fresh caches) | [`Cluster::kill_controllers`], [`Cluster::restart_controllers`] |
//! | a leader-elected replica crashing | [`ClusterBuilder::controller_replicas`], [`Cluster::kill_controller_replica`], [`Cluster::leader`] |
//! | a node going silent, or its agent dying | [`Cluster::stop_heartbeat`] / [`Cluster::resume_heartbeat`], [`Cluster::stop_node`] |
//! | a container crashing, exiting, or turning un-ready | [`Cluster::crash_container`], [`Cluster::exit_container`], [`Cluster::set_container_ready`] |
//! | time passing (CronJobs, deadlines) without waiting | [`ClusterBuilder::fake_clock`], [`Cluster::advance_clock`] |
//!
//! Hollow containers can also be scripted from the pod spec with
//! environment variables (`HOLLOW_EXIT_CODE`, `HOLLOW_RUN_FOR`,
//! `HOLLOW_NEVER_READY`, `HOLLOW_READY_AFTER`, `HOLLOW_IGNORE_SIGTERM`: see
//! `skiff_agent::runtime::hollow::program`), which is how a Job's pods
//! succeed or fail and how a rollout gets pods that never become ready.
//!
//! Checking: [`Cluster::watch_pods`] runs a closure on the set of pods
//! after every watch event and collects what it rejects
//! ([`ObjectWatch::verify`]; [`Cluster::watch_objects`] does the same for
//! any kind); [`wait_until`] / [`wait_for`] poll with a
//! deadline. Use [`ClusterBuilder::lab_profile`]: seconds instead of
//! minutes for node health, evictions, restarts and leader election.
//!
//! Everything stops, and the temp dir goes, when the `Cluster` is dropped.
//! Run tests on a multi-threaded runtime
//! (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`): the
//! server, controllers and nodes share it with the test.

mod cluster;
mod controllers;
pub mod invariants;
mod nodes;
pub mod objects;
mod wait;

pub use cluster::{Cluster, ClusterBuilder};
pub use controllers::{COMPONENT, ElectionTimings, LEADER_LEASE_NAME, LEADER_LEASE_NAMESPACE};
pub use invariants::{ObjectWatch, PodSnapshot, PodWatch, Snapshot};
pub use skiff_apiserver::{Faults, WriteFilter, WriteVerb};
pub use skiff_controller::manager::Parts;
pub use wait::{POLL_INTERVAL, wait_for, wait_until};
