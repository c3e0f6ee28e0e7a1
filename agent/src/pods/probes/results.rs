//! What the probe workers of one container have found, shared between the
//! workers (which write it) and pod syncs (which read it).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::timing::ProbeKind;

/// A container whose liveness or startup probe failed: it is to be stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub kind: ProbeKind,
    /// The last failure's message.
    pub message: String,
    /// The probe's `terminationGracePeriodSeconds`, overriding the pod's.
    pub grace: Option<Duration>,
}

/// The probe results the pod status needs: `None` where the container has
/// no such probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeView {
    /// The readiness probe passes.
    pub ready: Option<bool>,
    /// The startup probe has passed.
    pub started: Option<bool>,
}

#[derive(Debug)]
pub struct ContainerResults {
    state: Mutex<State>,
    /// True once liveness and readiness probes may run.
    started: watch::Sender<bool>,
}

#[derive(Debug, Clone, Default)]
struct State {
    view: ProbeView,
    kill: Option<Kill>,
}

impl ContainerResults {
    /// Fresh results: unready while a readiness probe has not passed, not
    /// started while a startup probe has not.
    pub fn new(readiness: bool, startup: bool) -> ContainerResults {
        ContainerResults {
            state: Mutex::new(State {
                view: ProbeView {
                    ready: readiness.then_some(false),
                    started: startup.then_some(false),
                },
                kill: None,
            }),
            started: watch::Sender::new(!startup),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn view(&self) -> ProbeView {
        self.lock().view
    }

    pub fn kill(&self) -> Option<Kill> {
        self.lock().kill.clone()
    }

    /// True when it changed.
    pub fn set_ready(&self, ready: bool) -> bool {
        let mut st = self.lock();
        let changed = st.view.ready != Some(ready);
        st.view.ready = Some(ready);
        changed
    }

    /// The startup probe passed; true when that is news.
    pub fn set_started(&self) -> bool {
        let changed = {
            let mut st = self.lock();
            let changed = st.view.started != Some(true);
            st.view.started = Some(true);
            changed
        };
        self.started.send_replace(true);
        changed
    }

    /// True when the container was not already to be killed.
    pub fn set_kill(&self, kill: Kill) -> bool {
        let mut st = self.lock();
        let first = st.kill.is_none();
        st.kill.get_or_insert(kill);
        first
    }

    /// Waits until liveness and readiness probes may run.
    pub async fn wait_started(&self) {
        let mut rx = self.started.subscribe();
        // The sender lives as long as `self`: this cannot fail while we wait.
        let _ = rx.wait_for(|s| *s).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fresh_results_and_changes() {
        let r = ContainerResults::new(true, true);
        assert_eq!(
            r.view(),
            ProbeView {
                ready: Some(false),
                started: Some(false)
            }
        );
        assert!(r.set_ready(true));
        assert!(!r.set_ready(true));
        let gated = std::sync::Arc::new(ContainerResults::new(false, true));
        let waiter = tokio::spawn({
            let gated = gated.clone();
            async move { gated.wait_started().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(gated.set_started());
        assert!(!gated.set_started());
        waiter.await.unwrap();
        let plain = ContainerResults::new(false, false);
        assert_eq!(plain.view(), ProbeView::default());
        plain.wait_started().await;
        let kill = |m: &str| Kill {
            kind: ProbeKind::Liveness,
            message: m.into(),
            grace: None,
        };
        assert!(plain.set_kill(kill("first")));
        assert!(!plain.set_kill(kill("second")));
        assert_eq!(plain.kill().unwrap().message, "first");
    }
}
