//! Leader election against a real API server, with short timings: one
//! leader at a time; a dead leader is replaced once its lease expires; a
//! leader that steps down is replaced at once.

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use skiff_api::coordination::Lease;
use skiff_client::Api;
use skiff_client::runtime::{LeaderElectionConfig, LeaderElector};
use tokio::sync::oneshot;
use tokio::time::Instant;

use runtime_support::{TestServer, eventually};

const LEASE: Duration = Duration::from_secs(2);

fn elector(ts: &TestServer, identity: &str) -> Arc<LeaderElector> {
    let config = LeaderElectionConfig {
        lease_duration: LEASE,
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(200),
        ..LeaderElectionConfig::new("default", "skiff-test", identity)
    };
    Arc::new(LeaderElector::new(ts.client.clone(), config).unwrap())
}

/// Runs `e` until the returned sender fires (or is dropped).
fn campaign(e: &Arc<LeaderElector>) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let e = e.clone();
    let task = tokio::spawn(async move {
        e.run(async {
            let _ = rx.await;
        })
        .await
    });
    (tx, task)
}

async fn lease(ts: &TestServer) -> Lease {
    Api::<Lease>::namespaced(ts.client.clone(), "default")
        .get("skiff-test")
        .await
        .unwrap()
}

#[tokio::test]
async fn one_leader_then_takeover_after_expiry_or_release() {
    let mut ts = TestServer::start().await;
    let (a, b) = (elector(&ts, "a"), elector(&ts, "b"));
    let (stop_a, task_a) = campaign(&a);
    let (stop_b, task_b) = campaign(&b);

    eventually("a leader", || {
        let (a, b) = (a.clone(), b.clone());
        async move { a.is_leader() || b.is_leader() }
    })
    .await;
    // For longer than a lease, exactly one leads, always the same one.
    let first_is_a = a.is_leader();
    let until = Instant::now() + LEASE * 2;
    while Instant::now() < until {
        assert_eq!(a.is_leader(), first_is_a);
        assert_eq!(b.is_leader(), !first_is_a);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (leader, follower, leader_task, leader_stop, follower_stop, follower_task) = if first_is_a {
        (a, b, task_a, stop_a, stop_b, task_b)
    } else {
        (b, a, task_b, stop_b, stop_a, task_a)
    };
    let leader_id = leader.config().identity.clone();
    let follower_id = follower.config().identity.clone();
    let held = lease(&ts).await;
    let spec = held.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(leader_id.as_str()));
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert_eq!(spec.lease_transitions, Some(0));
    assert!(spec.acquire_time.unwrap() < spec.renew_time.unwrap());

    // The leader dies without a word: it stops renewing.
    leader_task.abort();
    let _ = leader_task.await;
    drop(leader_stop);
    let died = Instant::now();
    assert!(!leader.is_leader());
    // It renewed within the renew deadline (1 s) before dying, and the
    // lease lasts 2 s after a renewal: nobody may lead for 1 s at least.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!follower.is_leader(), "took over before the lease expired");
    eventually("the takeover", || {
        let f = follower.clone();
        async move { f.is_leader() }
    })
    .await;
    let waited = died.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "took over after {waited:?}"
    );
    let spec = lease(&ts).await.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(follower_id.as_str()));
    assert_eq!(spec.lease_transitions, Some(1));

    // A third candidate waits while the lease is held...
    let c = elector(&ts, "c");
    let (stop_c, task_c) = campaign(&c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!c.is_leader());
    // ...and takes over at once when the leader steps down.
    let stepped_down = Instant::now();
    follower_stop.send(()).unwrap();
    follower_task.await.unwrap();
    assert!(!follower.is_leader());
    eventually("c to lead", || {
        let c = c.clone();
        async move { c.is_leader() }
    })
    .await;
    assert!(
        stepped_down.elapsed() < LEASE,
        "c waited {:?}: the lease was not released",
        stepped_down.elapsed()
    );
    let spec = lease(&ts).await.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("c"));
    assert_eq!(spec.lease_transitions, Some(2));

    // Leadership is followed through a watch channel.
    let mut rx = c.subscribe();
    assert!(*rx.borrow_and_update());
    stop_c.send(()).unwrap();
    task_c.await.unwrap();
    rx.changed().await.unwrap();
    assert!(!*rx.borrow());
    let spec = lease(&ts).await.spec.unwrap();
    assert_eq!(spec.holder_identity, None);
    ts.stop().await;
}

#[tokio::test]
async fn a_leader_that_cannot_renew_stops_leading() {
    let mut ts = TestServer::start().await;
    let e = elector(&ts, "lonely");
    let (_stop, task) = campaign(&e);
    eventually("leading", || {
        let e = e.clone();
        async move { e.is_leader() }
    })
    .await;
    // The server goes away: renewals fail, and the elector stops leading
    // before its lease could expire for anyone else.
    let gone = Instant::now();
    ts.stop().await;
    eventually("leadership lost", || {
        let e = e.clone();
        async move { !e.is_leader() }
    })
    .await;
    assert!(gone.elapsed() < LEASE, "{:?}", gone.elapsed());
    // Back again: it campaigns on and leads again (its own lease, or expired).
    ts.restart().await;
    eventually("leading again", || {
        let e = e.clone();
        async move { e.is_leader() }
    })
    .await;
    task.abort();
    ts.stop().await;
}
