//! Creating and deleting a ReplicaSet's pods: many at once (at most
//! [`MAX_IN_FLIGHT`] requests), in "slow start" batches of 1, 2, 4, ... so
//! that a failing create (a quota, a bad template) costs one request rather
//! than hundreds, and at most [`BURST_REPLICAS`] per sync, as Kubernetes does.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use skiff_api::apps::ReplicaSet;
use skiff_api::core::Pod;
use skiff_client::{Api, DeleteParams, EventType};

use super::ReplicaSetController;
use super::pods::pod_from_template;

/// Pod creations or deletions one sync starts at most.
pub const BURST_REPLICAS: usize = 500;
/// Requests in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Per sync, events about single pods; further ones are folded into one.
const EVENTS_PER_SYNC: usize = 10;

/// Runs `op` `count` times in batches of 1, 2, 4, ... (each batch at most
/// [`MAX_IN_FLIGHT`] at a time); stops after the first batch with a failure.
/// Returns the successes and the first error.
pub async fn slow_start<F, Fut, T, E>(count: usize, op: F) -> (Vec<T>, Option<E>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut done = Vec::with_capacity(count);
    let mut remaining = count;
    let mut batch = 1.min(remaining);
    while batch > 0 {
        let results: Vec<Result<T, E>> = futures::stream::iter((0..batch).map(|_| op()))
            .buffer_unordered(MAX_IN_FLIGHT)
            .collect()
            .await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(t) => done.push(t),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_some() {
            return (done, first_error);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    (done, None)
}

/// Records `Created pod: x` (or `Deleted pod: x`) events: one per pod for the
/// first few, then a single one standing for the rest, as Kubernetes'
/// event aggregation would show them.
fn record_pod_events(
    c: &ReplicaSetController,
    rs: &ReplicaSet,
    reason: &str,
    verb: &str,
    names: &[String],
) {
    for name in names.iter().take(EVENTS_PER_SYNC) {
        c.ctx
            .recorder
            .publish(rs, EventType::Normal, reason, format!("{verb} pod: {name}"));
    }
    if names.len() > EVENTS_PER_SYNC {
        let last = names.last().map(String::as_str).unwrap_or_default();
        c.ctx.recorder.publish(
            rs,
            EventType::Normal,
            reason,
            format!("(combined from similar events): {verb} pod: {last}"),
        );
    }
}

impl ReplicaSetController {
    /// Creates `count` pods for `rs`; the error of the first failure.
    pub(super) async fn create_pods(
        &self,
        key: &str,
        rs: &ReplicaSet,
        count: usize,
    ) -> Result<(), String> {
        let namespace = rs.metadata.namespace_str();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), namespace);
        let template = pod_from_template(rs);
        let (created, error) = slow_start(count, || {
            let (api, template) = (&api, &template);
            async move {
                let pod = api.create(template).await?;
                let name = pod.metadata.name.clone().unwrap_or_default();
                self.expectations
                    .created(key, namespace, &name, &self.ctx.informers.pods.cache);
                Ok::<_, skiff_client::Error>(name)
            }
        })
        .await;
        record_pod_events(self, rs, "SuccessfulCreate", "Created", &created);
        match error {
            None => Ok(()),
            Some(e) => {
                let message = format!("Error creating: {e}");
                self.ctx
                    .recorder
                    .publish(rs, EventType::Warning, "FailedCreate", message.clone());
                Err(message)
            }
        }
    }

    /// Deletes `pods` (already chosen) of `rs`; the error of the first failure.
    pub(super) async fn delete_pods(
        &self,
        key: &str,
        rs: &ReplicaSet,
        pods: &[Arc<Pod>],
    ) -> Result<(), String> {
        let namespace = rs.metadata.namespace_str();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), namespace);
        let api = &api;
        let deletions: Vec<_> = pods
            .iter()
            .map(|pod| async move {
                let name = pod.metadata.name_str().to_string();
                let params = DeleteParams {
                    precondition_uid: pod.metadata.uid.clone(),
                    ..Default::default()
                };
                match api.delete(&name, &params).await {
                    Ok(_) => {
                        self.expectations.deleted(
                            key,
                            namespace,
                            &name,
                            &self.ctx.informers.pods.cache,
                        );
                        Ok(Some(name))
                    }
                    // Gone already: nothing to wait for, nothing to report.
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(format!("Error deleting: {e}")),
                }
            })
            .collect();
        let results: Vec<Result<Option<String>, String>> = futures::stream::iter(deletions)
            .buffer_unordered(MAX_IN_FLIGHT)
            .collect()
            .await;
        let mut deleted = Vec::new();
        let mut error = None;
        for r in results {
            match r {
                Ok(Some(name)) => deleted.push(name),
                Ok(None) => {}
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        record_pod_events(self, rs, "SuccessfulDelete", "Deleted", &deleted);
        match error {
            None => Ok(()),
            Some(message) => {
                self.ctx
                    .recorder
                    .publish(rs, EventType::Warning, "FailedDelete", message.clone());
                Err(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn slow_start_doubles_batches() {
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start(10, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(1)
        })
        .await;
        assert_eq!((ok.len(), err), (10, None));
        assert_eq!(calls.load(Ordering::SeqCst), 10);
        let (ok, err) = slow_start(0, || async { Ok::<u8, ()>(1) }).await;
        assert!(ok.is_empty() && err.is_none());
    }

    #[tokio::test]
    async fn slow_start_stops_after_a_failing_batch() {
        // Batches are 1, 2, 4, 8: failing from the 4th call on stops after the third batch.
        let calls = Mutex::new(0);
        let (ok, err) = slow_start(100, || {
            let n = {
                let mut c = calls.lock().unwrap();
                *c += 1;
                *c
            };
            async move { if n >= 4 { Err(n) } else { Ok(n) } }
        })
        .await;
        assert_eq!(*calls.lock().unwrap(), 7);
        assert_eq!(ok.len(), 3);
        assert!(matches!(err, Some(n) if n >= 4));
    }
}
