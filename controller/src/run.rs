//! The start-up most controllers share: wait until the shared caches are
//! synced, then run the workers; and the usual answer to a lost write race.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use skiff_client::runtime::{Action, Controller, WorkQueue};
use tokio::task::JoinSet;

use crate::context::Context;

/// How soon a write that lost a race is retried (from a fresher cache).
pub const CONFLICT_RETRY: Duration = Duration::from_millis(50);

/// Spawns `config.workers` workers named `name` over `queue`. They start
/// once every shared cache is synced, so that a reconcile never acts on a
/// half-filled cache.
pub fn spawn_workers<K, F, Fut, E>(
    ctx: &Context,
    tasks: &mut JoinSet<()>,
    name: &'static str,
    queue: WorkQueue<K>,
    reconcile: F,
) where
    K: Clone + Eq + Hash + Debug + Send + Sync + 'static,
    F: Fn(K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let (informers, workers) = (ctx.informers.clone(), ctx.config.workers);
    tasks.spawn(async move {
        informers.wait_synced().await;
        Controller::new(queue)
            .named(name)
            .run(workers, reconcile)
            .await;
    });
}

/// Turns a 409 Conflict (the cache was behind) into a quick retry rather
/// than an error with backoff.
pub fn requeue_on_conflict(
    result: Result<Action, skiff_client::Error>,
) -> Result<Action, skiff_client::Error> {
    match result {
        Err(e) if e.is_conflict() => Ok(Action::RequeueAfter(CONFLICT_RETRY)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use skiff_api::Status;
    use skiff_api::core::NODES;

    use super::*;

    #[test]
    fn conflicts_become_a_quick_retry_and_the_rest_pass_through() {
        let conflict = skiff_client::Error::Api(Box::new(Status::conflict(&NODES, "x")));
        assert_eq!(
            requeue_on_conflict(Err(conflict)).unwrap(),
            Action::RequeueAfter(CONFLICT_RETRY)
        );
        assert_eq!(requeue_on_conflict(Ok(Action::Done)).unwrap(), Action::Done);
        let missing = skiff_client::Error::Api(Box::new(Status::not_found(&NODES, "x")));
        assert!(requeue_on_conflict(Err(missing)).is_err());
    }
}
