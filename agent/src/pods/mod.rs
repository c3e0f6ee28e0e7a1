//! Pods on a node: what is remembered of each, how one is synced with the
//! runtime, and what is reported about it.

pub mod backoff;
pub mod env;
pub mod pre_stop;
pub mod probes;
pub mod record;
pub mod restart;
pub mod spec;
pub mod status;
pub mod stop;
pub mod sync;
pub mod volumes;
pub mod write;
