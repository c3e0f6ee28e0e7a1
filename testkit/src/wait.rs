//! Waiting for a state with a deadline: tests assert by polling until the
//! cluster converges, never by sleeping a fixed time.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `check` until it gives `Some`, and returns that; an error naming
/// `what` once `timeout` has passed.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `check` until it is true; an error naming `what` once `timeout`
/// has passed.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(timeout, what, || {
        let f = check();
        async move { f.await.then_some(()) }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn returns_once_true() {
        let calls = AtomicUsize::new(0);
        let n = wait_for(Duration::from_secs(5), "the third call", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            (n == 3).then_some(n)
        })
        .await
        .unwrap();
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn fails_after_the_timeout_naming_what() {
        let err = wait_until(Duration::from_millis(120), "never", || async { false })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("waiting for never"), "{err}");
    }
}
