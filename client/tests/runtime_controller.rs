//! A reconcile loop over an informer against a real API server: each key is
//! reconciled once per burst of changes, never by two workers at once.

mod runtime_support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_api::core::ConfigMap;
use skiff_client::runtime::{
    Action, Controller, ObjectExt, ObjectKey, WorkQueue, enqueue_from, informer,
};
use skiff_client::{Api, ListParams};
use tokio::sync::Semaphore;

use runtime_support::{TestServer, config_map, eventually};

#[derive(Default)]
struct Tally {
    calls: HashMap<String, u32>,
    in_flight: HashSet<String>,
    overlaps: u32,
    /// What each key's last reconcile read from the cache.
    seen: HashMap<String, Option<String>>,
}

#[tokio::test]
async fn each_key_once_per_burst() {
    let mut ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let (cache, events) = informer(api.clone(), ListParams::default());
    let queue: WorkQueue<ObjectKey> = WorkQueue::new();
    let feeder = tokio::spawn(enqueue_from(queue.clone(), events, |cm| Some(cm.key())));
    cache.wait_synced().await;

    // A burst of changes before any worker runs: one key each in the queue.
    for name in ["a", "b", "c"] {
        let mut cm = api.create(&config_map(name, &[("v", "0")])).await.unwrap();
        for v in 1..=5 {
            cm.data.insert("v".into(), v.to_string());
            cm = api.replace(name, &cm).await.unwrap();
        }
    }
    eventually("the last versions in the cache", || {
        let c = cache.clone();
        async move { c.list().iter().filter(|cm| cm.data["v"] == "5").count() == 3 }
    })
    .await;
    assert_eq!(queue.len(), 3);

    // The first reconcile of "a" is held until the gate opens.
    let gate = Arc::new(Semaphore::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let controller = Controller::new(queue.clone()).named("test");
    let run = tokio::spawn({
        let (gate, tally, cache) = (gate.clone(), tally.clone(), cache.clone());
        controller.run(3, move |key: ObjectKey| {
            let (gate, tally, cache) = (gate.clone(), tally.clone(), cache.clone());
            async move {
                let k = key.to_string();
                let first = {
                    let mut t = tally.lock().unwrap();
                    if !t.in_flight.insert(k.clone()) {
                        t.overlaps += 1;
                    }
                    let n = t.calls.entry(k.clone()).or_default();
                    *n += 1;
                    *n == 1
                };
                if k == "default/a" && first {
                    let _ = gate.acquire().await;
                }
                // Reconcilers read the cache, never the server.
                let seen = cache.get_key(&key).map(|cm| cm.data["v"].clone());
                let mut t = tally.lock().unwrap();
                t.in_flight.remove(&k);
                t.seen.insert(k, seen);
                Ok::<_, String>(Action::Done)
            }
        })
    });
    let calls =
        |t: &Arc<Mutex<Tally>>, k: &str| t.lock().unwrap().calls.get(k).copied().unwrap_or(0);
    eventually("one reconcile of each key", || {
        let t = tally.clone();
        async move {
            ["default/a", "default/b", "default/c"]
                .iter()
                .all(|k| calls(&t, k) == 1)
        }
    })
    .await;

    // A burst on "a" while it is being reconciled: held back, then once more.
    let mut a = api.get("a").await.unwrap();
    for v in 6..=10 {
        a.data.insert("v".into(), v.to_string());
        a = api.replace("a", &a).await.unwrap();
    }
    eventually("the burst in the cache", || {
        let c = cache.clone();
        async move { c.get("default/a").is_some_and(|cm| cm.data["v"] == "10") }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        calls(&tally, "default/a"),
        1,
        "a second worker took a key in progress"
    );
    gate.add_permits(1);
    eventually("the held-back reconcile", || {
        let t = tally.clone();
        async move { calls(&t, "default/a") == 2 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    {
        let t = tally.lock().unwrap();
        assert_eq!(t.calls["default/a"], 2);
        assert_eq!(t.calls["default/b"], 1);
        assert_eq!(t.calls["default/c"], 1);
        assert_eq!(t.overlaps, 0);
        // The held-back reconcile read the state after the whole burst.
        assert_eq!(t.seen["default/a"].as_deref(), Some("10"));
        assert_eq!(t.seen["default/b"].as_deref(), Some("5"));
    }

    queue.shutdown();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("workers did not stop")
        .unwrap();
    feeder.abort();
    ts.stop().await;
}
