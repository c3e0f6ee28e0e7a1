//! Liveness, readiness and startup probes, run by the agent above the
//! runtime so that every runtime gets them.
//!
//! - Each running container with probes gets one tokio task per probe
//!   ([`worker`]), started by the pod sync when it sees the container run
//!   and stopped when it no longer does (or its pod goes); pods without
//!   probes cost nothing. Handlers: exec (through the runtime's
//!   `exec_sync`), httpGet and tcpSocket; gRPC is reported as unsupported.
//! - Results live per container id ([`results`]); a change queues a pod
//!   sync, never an API poll. Readiness feeds `containerStatuses[].ready`
//!   and the Ready/ContainersReady conditions; a startup probe gates the
//!   other two (and `started`); a liveness or startup verdict of failure
//!   has the sync stop the container ([`kill`]) for the restart path.

mod action;
mod handlers;
mod http;
mod kill;
mod pod;
mod results;
mod set;
mod timing;
mod worker;

pub use kill::stop_unhealthy;
pub use pod::sync_pod_probes;
pub use results::ProbeView;
pub use set::PodProbes;
