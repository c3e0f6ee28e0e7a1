//! The reconciliation scenarios of issue 3, each on its own in-process
//! cluster (API server, controllers, scheduler, hollow nodes) built with
//! skiff-testkit, with the lab profile.

mod deployments;
mod faults;
mod nodes;
mod support;
mod workloads;
