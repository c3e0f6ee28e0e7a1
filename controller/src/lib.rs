//! skiff-controller: the controllers and the scheduler. Each controller is
//! level-triggered: shared informers feed its work queue with keys, and its
//! reconcile compares what is stored with what should be, acting on the
//! difference. `manager` starts them all (under leader election in
//! `skiff controller`).

pub mod clock;
pub mod config;
pub mod context;
pub mod cronjob;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod informers;
pub mod job;
pub mod manager;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod replicaset;
pub mod run;
pub mod scheduler;
pub mod service_lb;
