//! An in-process cluster for controller tests: an API server on SQLite in a
//! temp dir (garbage collection on), a `Context` with the lab profile and a
//! fake clock, and only the controllers a test asks for, plus polling
//! helpers (assert by waiting for a state with a deadline, never by sleeping).

#![allow(dead_code)] // each test file uses a different part

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use skiff_apiserver::RunningServer;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_client::Client;
use skiff_controller::clock::FakeClock;
use skiff_controller::config::ControllerConfig;
use skiff_controller::context::Context;
use tokio::task::JoinSet;

/// A controller's `start`.
pub type Start = fn(&Context, &mut JoinSet<()>);

pub struct Cluster {
    pub client: Client,
    pub ctx: Context,
    pub clock: FakeClock,
    pub server_addr: String,
    tasks: JoinSet<()>,
    _server: RunningServer,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// A server, plus `controllers` on the lab profile.
    pub async fn start(controllers: &[Start]) -> Cluster {
        Cluster::start_with(ControllerConfig::lab_profile(), controllers).await
    }

    pub async fn start_with(config: ControllerConfig, controllers: &[Start]) -> Cluster {
        let EmbeddedServer {
            server,
            url: server_addr,
            dir,
        } = start_embedded(|c| c.garbage_collector = true)
            .await
            .expect("API server");
        let client = Client::from_server(&server_addr).expect("client");
        let clock = FakeClock::new(Utc::now());
        let mut cluster = Cluster {
            ctx: Context::new(
                client.clone(),
                config,
                Arc::new(clock.clone()),
                "test-controllers",
            ),
            client,
            clock,
            server_addr,
            tasks: JoinSet::new(),
            _server: server,
            _dir: dir,
        };
        cluster.run(controllers);
        cluster
    }

    /// Starts `controllers` on a fresh `Context` (fresh informers), as a
    /// restarted controller process would; the old ones are stopped.
    pub fn restart(&mut self, controllers: &[Start]) {
        self.tasks.abort_all();
        self.ctx = Context::new(
            self.client.clone(),
            (*self.ctx.config).clone(),
            Arc::new(self.clock.clone()),
            "test-controllers",
        );
        self.run(controllers);
    }

    fn run(&mut self, controllers: &[Start]) {
        for start in controllers {
            start(&self.ctx, &mut self.tasks);
        }
        self.ctx.informers.start(&mut self.tasks);
    }

    /// Moves the fake clock.
    pub fn advance(&self, seconds: i64) {
        self.clock.advance(chrono::Duration::seconds(seconds));
    }
}

/// Polls `check` until it returns `Some`, failing the test after `secs`
/// seconds with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `wait_for` on a condition.
pub async fn wait_until<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, secs, || {
        let f = check();
        async move { f.await.then_some(()) }
    })
    .await
}
