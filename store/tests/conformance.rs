//! One conformance suite, run against both stores: every case below is
//! instantiated as `sqlite::<case>` (a temp file) and `etcd::<case>` (its own
//! etcd 3.4 server on tmpfs).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use skiff_store::compactor::spawn_compactor;
use skiff_store::etcd::EtcdStore;
use skiff_store::sqlite::SqliteStore;
use skiff_store::testing::{EtcdServer, unique_prefix};
use skiff_store::{
    EventType, KeyValue, ListOptions, Revision, Store, StoreError, WatchEvent, WatchStream,
};

/// Upper bound for anything the tests wait for (generous: the machine is
/// shared). Tests assert what happens, never how fast.
const WAIT: Duration = Duration::from_secs(30);

/// A store plus whatever must live as long as it.
struct Fixture {
    store: Arc<dyn Store>,
    _sqlite_dir: Option<tempfile::TempDir>,
    _etcd: Option<EtcdServer>,
}

impl Fixture {
    fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("skiff.db")).unwrap();
        Fixture {
            store: Arc::new(store),
            _sqlite_dir: Some(dir),
            _etcd: None,
        }
    }

    async fn etcd() -> Fixture {
        let server = EtcdServer::start().unwrap();
        let store = EtcdStore::connect(&[server.endpoint()], &unique_prefix())
            .await
            .unwrap();
        Fixture {
            store: Arc::new(store),
            _sqlite_dir: None,
            _etcd: Some(server),
        }
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let fixture = super::Fixture::sqlite();
                    super::$case(fixture.store.clone()).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let fixture = super::Fixture::etcd().await;
                    super::$case(fixture.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    create_returns_increasing_revisions,
    create_twice_is_already_exists,
    get_missing_is_none,
    update_compares_the_revision,
    delete_compares_the_revision,
    recreate_after_delete_is_a_new_key,
    list_is_in_key_order_and_isolates_prefixes,
    list_paginates_with_limit_and_start_after,
    list_at_an_old_revision_shows_the_old_state,
    list_at_a_future_revision_fails,
    count_counts_live_keys_under_a_prefix,
    watch_from_a_revision_sees_exactly_the_later_events,
    watch_resumed_from_the_middle_misses_and_repeats_nothing,
    watch_sees_live_events,
    slow_watcher_loses_no_event,
    concurrent_writers_lose_no_update,
    compaction_forgets_old_revisions_but_keeps_current_values,
    compactor_task_bounds_history,
    large_values_work_and_oversized_ones_are_refused,
);

// ---- helpers ----

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("timed out waiting for a watch event")
        .expect("watch stream ended")
        .expect("watch stream failed")
}

async fn take_events(stream: &mut WatchStream, n: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(stream).await);
    }
    events
}

/// Writes marker keys under `prefix` and checks that each is the very next
/// event: proves the stream held nothing else before them. Two markers: the
/// first may still come from history, the second comes from the live feed,
/// where a stream that repeats events would show a duplicate instead.
async fn assert_nothing_else(store: &dyn Store, stream: &mut WatchStream, prefix: &str) {
    for n in 0..2 {
        let key = format!("{prefix}zz-marker-{n}-{}", unique_prefix().replace('/', ""));
        let rev = store.create(&key, b"marker".to_vec()).await.unwrap();
        let event = next_event(stream).await;
        assert_eq!(
            (
                event.event_type,
                event.kv.key.as_str(),
                event.kv.mod_revision
            ),
            (EventType::Added, key.as_str(), rev),
            "unexpected event before marker {n}"
        );
    }
}

/// The error a watch reports, before the stream or as its first item.
async fn watch_error(store: &dyn Store, prefix: &str, after: Revision) -> StoreError {
    match store.watch(prefix, after).await {
        Err(error) => error,
        Ok(mut stream) => tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("timed out waiting for the watch error")
            .expect("watch stream ended without an error")
            .expect_err("watch delivered an event instead of an error"),
    }
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

fn list_at(revision: Revision) -> ListOptions {
    ListOptions {
        revision: Some(revision),
        ..Default::default()
    }
}

// ---- cases ----

async fn create_returns_increasing_revisions(store: Arc<dyn Store>) {
    let r1 = store.create("/c/a", b"1".to_vec()).await.unwrap();
    let r2 = store.create("/c/b", b"2".to_vec()).await.unwrap();
    assert!(r1 > 0);
    assert!(r2 > r1);
    assert_eq!(store.current_revision().await.unwrap(), r2);
    let a = store.get("/c/a").await.unwrap().unwrap();
    assert_eq!(
        a,
        KeyValue {
            key: "/c/a".into(),
            value: b"1".to_vec(),
            mod_revision: r1,
            create_revision: r1,
        }
    );
}

async fn create_twice_is_already_exists(store: Arc<dyn Store>) {
    let rev = store.create("/c/a", b"1".to_vec()).await.unwrap();
    let err = store.create("/c/a", b"2".to_vec()).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    // The failed create changed nothing.
    let a = store.get("/c/a").await.unwrap().unwrap();
    assert_eq!((a.value, a.mod_revision), (b"1".to_vec(), rev));
    assert_eq!(store.current_revision().await.unwrap(), rev);
}

async fn get_missing_is_none(store: Arc<dyn Store>) {
    assert_eq!(store.get("/nothing/here").await.unwrap(), None);
    store.create("/nothing/her", vec![]).await.unwrap();
    assert_eq!(store.get("/nothing/here").await.unwrap(), None);
}

async fn update_compares_the_revision(store: Arc<dyn Store>) {
    let r1 = store.create("/u/a", b"v1".to_vec()).await.unwrap();
    let r2 = store.update("/u/a", b"v2".to_vec(), r1).await.unwrap();
    assert!(r2 > r1);
    let a = store.get("/u/a").await.unwrap().unwrap();
    assert_eq!(
        (a.value.as_slice(), a.mod_revision, a.create_revision),
        (&b"v2"[..], r2, r1)
    );

    match store.update("/u/a", b"v3".to_vec(), r1).await {
        Err(StoreError::Conflict { current }) => assert_eq!(current, Some(a.clone())),
        other => panic!("stale update: {other:?}"),
    }
    let err = store.update("/u/a", b"v3".to_vec(), 0).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.get("/u/a").await.unwrap(), Some(a));

    let err = store
        .update("/u/missing", b"x".to_vec(), r1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store
        .update("/u/missing", b"x".to_vec(), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(store.get("/u/missing").await.unwrap(), None);
}

async fn delete_compares_the_revision(store: Arc<dyn Store>) {
    let r1 = store.create("/d/a", b"v1".to_vec()).await.unwrap();
    let r2 = store.update("/d/a", b"v2".to_vec(), r1).await.unwrap();

    match store.delete("/d/a", Some(r1)).await {
        Err(StoreError::Conflict {
            current: Some(current),
        }) => {
            assert_eq!(
                (current.value.as_slice(), current.mod_revision),
                (&b"v2"[..], r2)
            );
        }
        other => panic!("stale delete: {other:?}"),
    }

    let (deleted_at, last) = store.delete("/d/a", Some(r2)).await.unwrap();
    assert!(deleted_at > r2);
    assert_eq!(
        last,
        KeyValue {
            key: "/d/a".into(),
            value: b"v2".to_vec(),
            mod_revision: r2,
            create_revision: r1,
        }
    );
    assert_eq!(store.get("/d/a").await.unwrap(), None);
    assert_eq!(store.current_revision().await.unwrap(), deleted_at);

    let err = store.delete("/d/a", None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store.delete("/d/a", Some(r2)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    // Without an expected revision, any current value is deleted.
    let r3 = store.create("/d/b", b"b".to_vec()).await.unwrap();
    let (deleted_at, last) = store.delete("/d/b", None).await.unwrap();
    assert!(deleted_at > r3);
    assert_eq!((last.value.as_slice(), last.mod_revision), (&b"b"[..], r3));
    assert_eq!(store.get("/d/b").await.unwrap(), None);
}

async fn recreate_after_delete_is_a_new_key(store: Arc<dyn Store>) {
    let r1 = store.create("/r/a", b"old".to_vec()).await.unwrap();
    let (deleted_at, _) = store.delete("/r/a", None).await.unwrap();
    let mut watch = store.watch("/r/", deleted_at).await.unwrap();
    let r2 = store.create("/r/a", b"new".to_vec()).await.unwrap();
    assert!(r2 > r1);
    let a = store.get("/r/a").await.unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (r2, r2));
    let event = next_event(&mut watch).await;
    assert_eq!(event.event_type, EventType::Added);
    assert_eq!(event.kv, a);
}

async fn list_is_in_key_order_and_isolates_prefixes(store: Arc<dyn Store>) {
    for key in ["/a/2", "/ab/1", "/a/1", "/b/1", "/a/3", "/a"] {
        store.create(key, key.as_bytes().to_vec()).await.unwrap();
    }
    let current = store.current_revision().await.unwrap();

    let list = store.list("/a/", &ListOptions::default()).await.unwrap();
    assert_eq!(keys(&list.items), ["/a/1", "/a/2", "/a/3"]);
    assert_eq!(list.revision, current);
    assert!(!list.more);
    assert!(list.items.iter().all(|kv| kv.value == kv.key.as_bytes()));

    let all = store.list("/", &ListOptions::default()).await.unwrap();
    assert_eq!(
        keys(&all.items),
        ["/a", "/a/1", "/a/2", "/a/3", "/ab/1", "/b/1"]
    );
    let everything = store.list("", &ListOptions::default()).await.unwrap();
    assert_eq!(keys(&everything.items), keys(&all.items));

    let empty = store.list("/zzz/", &ListOptions::default()).await.unwrap();
    assert!(empty.items.is_empty() && !empty.more);
}

async fn list_paginates_with_limit_and_start_after(store: Arc<dyn Store>) {
    for i in 1..=5 {
        store.create(&format!("/p/{i}"), vec![i]).await.unwrap();
    }
    store.create("/pq/1", vec![]).await.unwrap();
    let page = |revision: Option<Revision>, start_after: Option<&str>| ListOptions {
        revision,
        limit: Some(2),
        start_after: start_after.map(str::to_owned),
    };

    let first = store.list("/p/", &page(None, None)).await.unwrap();
    assert_eq!(keys(&first.items), ["/p/1", "/p/2"]);
    assert!(first.more);
    let at = first.revision;

    // A write between pages does not show up when paging at the first
    // page's revision.
    store.create("/p/25", vec![]).await.unwrap();

    let second = store
        .list("/p/", &page(Some(at), Some("/p/2")))
        .await
        .unwrap();
    assert_eq!(keys(&second.items), ["/p/3", "/p/4"]);
    assert!(second.more);
    assert_eq!(second.revision, at);
    let third = store
        .list("/p/", &page(Some(at), Some("/p/4")))
        .await
        .unwrap();
    assert_eq!(keys(&third.items), ["/p/5"]);
    assert!(!third.more);

    // An exactly full last page has no more.
    let exact = ListOptions {
        limit: Some(6),
        ..Default::default()
    };
    let all = store.list("/p/", &exact).await.unwrap();
    assert_eq!(
        keys(&all.items),
        ["/p/1", "/p/2", "/p/25", "/p/3", "/p/4", "/p/5"]
    );
    assert!(!all.more);
}

async fn list_at_an_old_revision_shows_the_old_state(store: Arc<dyn Store>) {
    let r1 = store.create("/o/a", b"a1".to_vec()).await.unwrap();
    let r2 = store.create("/o/b", b"b1".to_vec()).await.unwrap();
    let r3 = store.update("/o/a", b"a2".to_vec(), r1).await.unwrap();
    let (r4, _) = store.delete("/o/b", None).await.unwrap();
    let r5 = store.create("/o/c", b"c1".to_vec()).await.unwrap();

    let state = |list: &[KeyValue]| -> Vec<(String, Vec<u8>, Revision)> {
        list.iter()
            .map(|kv| (kv.key.clone(), kv.value.clone(), kv.mod_revision))
            .collect()
    };
    let at = |rev| {
        let store = store.clone();
        async move { store.list("/o/", &list_at(rev)).await.unwrap() }
    };
    let kv = |k: &str, v: &[u8], r| (k.to_owned(), v.to_vec(), r);

    assert_eq!(state(&at(r1).await.items), [kv("/o/a", b"a1", r1)]);
    assert_eq!(
        state(&at(r2).await.items),
        [kv("/o/a", b"a1", r1), kv("/o/b", b"b1", r2)]
    );
    assert_eq!(
        state(&at(r3).await.items),
        [kv("/o/a", b"a2", r3), kv("/o/b", b"b1", r2)]
    );
    assert_eq!(state(&at(r4).await.items), [kv("/o/a", b"a2", r3)]);
    let latest = at(r5).await;
    assert_eq!(latest.revision, r5);
    assert_eq!(
        state(&latest.items),
        [kv("/o/a", b"a2", r3), kv("/o/c", b"c1", r5)]
    );
    // Old revision plus pagination.
    let paged = ListOptions {
        revision: Some(r3),
        limit: Some(1),
        start_after: None,
    };
    let page = store.list("/o/", &paged).await.unwrap();
    assert_eq!(state(&page.items), [kv("/o/a", b"a2", r3)]);
    assert!(page.more);
    assert_eq!(page.items[0].create_revision, r1);
}

async fn list_at_a_future_revision_fails(store: Arc<dyn Store>) {
    let rev = store.create("/f/a", vec![]).await.unwrap();
    let err = store.list("/f/", &list_at(rev + 10)).await.unwrap_err();
    match err {
        StoreError::FutureRevision { requested, current } => {
            assert_eq!((requested, current), (rev + 10, rev));
        }
        other => panic!("{other:?}"),
    }
}

async fn count_counts_live_keys_under_a_prefix(store: Arc<dyn Store>) {
    assert_eq!(store.count("/n/").await.unwrap(), 0);
    for i in 0..7 {
        store.create(&format!("/n/{i}"), vec![]).await.unwrap();
    }
    store.create("/nn/0", vec![]).await.unwrap();
    let rev = store.create("/n/extra", vec![]).await.unwrap();
    store.update("/n/extra", b"x".to_vec(), rev).await.unwrap();
    assert_eq!(store.count("/n/").await.unwrap(), 8);
    store.delete("/n/3", None).await.unwrap();
    assert_eq!(store.count("/n/").await.unwrap(), 7);
    assert_eq!(store.count("/nn/").await.unwrap(), 1);
    assert_eq!(store.count("/").await.unwrap(), 8);
}

async fn watch_from_a_revision_sees_exactly_the_later_events(store: Arc<dyn Store>) {
    store.create("/w/before", b"old".to_vec()).await.unwrap();
    let start = store.current_revision().await.unwrap();
    let r1 = store.create("/w/a", b"a1".to_vec()).await.unwrap();
    store
        .create("/x/other", b"not watched".to_vec())
        .await
        .unwrap();
    store
        .create("/wx/other", b"not watched".to_vec())
        .await
        .unwrap();
    let r2 = store.update("/w/a", b"a2".to_vec(), r1).await.unwrap();
    let (r3, _) = store.delete("/w/a", Some(r2)).await.unwrap();

    let mut watch = store.watch("/w/", start).await.unwrap();
    let events = take_events(&mut watch, 3).await;
    let expected = [
        (EventType::Added, b"a1", r1),
        (EventType::Modified, b"a2", r2),
        // A deletion carries the last value and the deletion's revision.
        (EventType::Deleted, b"a2", r3),
    ];
    for (event, (event_type, value, revision)) in events.iter().zip(expected) {
        assert_eq!(event.event_type, event_type);
        assert_eq!(event.kv.key, "/w/a");
        assert_eq!(event.kv.value, value);
        assert_eq!(event.kv.mod_revision, revision);
        assert_eq!(event.kv.create_revision, r1);
    }
    assert_nothing_else(store.as_ref(), &mut watch, "/w/").await;
}

async fn watch_resumed_from_the_middle_misses_and_repeats_nothing(store: Arc<dyn Store>) {
    let mut revisions = Vec::new();
    for i in 0..6 {
        revisions.push(store.create(&format!("/m/{i}"), vec![i]).await.unwrap());
    }
    let mut first = store.watch("/m/", revisions[0] - 1).await.unwrap();
    let seen = take_events(&mut first, 3).await;
    let resume_at = seen.last().unwrap().kv.mod_revision;
    drop(first);

    let mut resumed = store.watch("/m/", resume_at).await.unwrap();
    let late = store.create("/m/6", vec![6]).await.unwrap();
    let rest = take_events(&mut resumed, 4).await;
    let all: Vec<Revision> = seen
        .iter()
        .chain(&rest)
        .map(|e| e.kv.mod_revision)
        .collect();
    revisions.push(late);
    assert_eq!(all, revisions);
    let values: Vec<u8> = seen.iter().chain(&rest).map(|e| e.kv.value[0]).collect();
    assert_eq!(values, [0, 1, 2, 3, 4, 5, 6]);
    assert_nothing_else(store.as_ref(), &mut resumed, "/m/").await;
}

async fn watch_sees_live_events(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/live/", start).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let r1 = store.create("/live/a", b"1".to_vec()).await.unwrap();
            store.create("/elsewhere/a", b"1".to_vec()).await.unwrap();
            let r2 = store.update("/live/a", b"2".to_vec(), r1).await.unwrap();
            store.delete("/live/a", Some(r2)).await.unwrap();
        })
    };
    let events = take_events(&mut watch, 3).await;
    writer.await.unwrap();
    let kinds: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        [EventType::Added, EventType::Modified, EventType::Deleted]
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].kv.mod_revision < w[1].kv.mod_revision)
    );
    assert_nothing_else(store.as_ref(), &mut watch, "/live/").await;
}

async fn slow_watcher_loses_no_event(store: Arc<dyn Store>) {
    // More events than the SQLite store's live buffer holds, written while
    // the watcher does not read: it must catch up from history.
    const WRITERS: usize = 10;
    const PER_WRITER: usize = 500;
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/slow/", start).await.unwrap();
    let first = store.create("/slow/first", vec![]).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv.mod_revision, first);

    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::with_capacity(PER_WRITER);
            for i in 0..PER_WRITER {
                let key = format!("/slow/{w}/{i}");
                revisions.push(store.create(&key, vec![w as u8]).await.unwrap());
            }
            revisions
        }));
    }
    let mut written = Vec::new();
    for task in tasks {
        written.extend(task.await.unwrap());
    }
    written.sort_unstable();

    let events = take_events(&mut watch, WRITERS * PER_WRITER).await;
    let seen: Vec<Revision> = events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(seen, written, "events missing, repeated or out of order");
    assert_nothing_else(store.as_ref(), &mut watch, "/slow/").await;
}

async fn concurrent_writers_lose_no_update(store: Arc<dyn Store>) {
    const WRITERS: usize = 32;
    const INCREMENTS: usize = 50;
    let created = store.create("/counter", b"0".to_vec()).await.unwrap();
    let mut watch = store.watch("/counter", created).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0usize;
            for _ in 0..INCREMENTS {
                let mut current = store.get("/counter").await.unwrap().unwrap();
                loop {
                    let n: u64 = String::from_utf8_lossy(&current.value).parse().unwrap();
                    let next = (n + 1).to_string().into_bytes();
                    match store.update("/counter", next, current.mod_revision).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { current: Some(now) }) => {
                            conflicts += 1;
                            current = now;
                        }
                        Err(other) => panic!("update failed: {other:?}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let total = (WRITERS * INCREMENTS) as u64;
    let counter = store.get("/counter").await.unwrap().unwrap();
    assert_eq!(
        counter.value,
        total.to_string().into_bytes(),
        "lost updates"
    );
    assert_eq!(counter.create_revision, created);
    // Every successful increment is one event, in order, with no gaps.
    let events = take_events(&mut watch, total as usize).await;
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.event_type, EventType::Modified);
        assert_eq!(event.kv.value, (i as u64 + 1).to_string().into_bytes());
    }
    assert_eq!(events.last().unwrap().kv.mod_revision, counter.mod_revision);
    // With 32 writers on one key, conflicts are practically certain; the
    // count is informative only.
    eprintln!("{conflicts} conflicts retried");
}

async fn compaction_forgets_old_revisions_but_keeps_current_values(store: Arc<dyn Store>) {
    let r1 = store.create("/k/a", b"a1".to_vec()).await.unwrap();
    let r2 = store.create("/k/b", b"b1".to_vec()).await.unwrap();
    let r3 = store.update("/k/a", b"a2".to_vec(), r1).await.unwrap();
    let (r4, _) = store.delete("/k/b", None).await.unwrap();
    let r5 = store.update("/k/a", b"a3".to_vec(), r3).await.unwrap();
    let r6 = store.create("/k/c", b"c1".to_vec()).await.unwrap();
    let (r7, _) = store.delete("/k/c", Some(r6)).await.unwrap();
    let r8 = store.create("/k/d", b"d1".to_vec()).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), 0);

    let compact_at = r5;
    store.compact(compact_at).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), compact_at);
    // Compacting again, or to an older revision, changes nothing.
    store.compact(compact_at).await.unwrap();
    store.compact(r2).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), compact_at);
    let err = store.compact(r8 + 100).await.unwrap_err();
    assert!(matches!(err, StoreError::FutureRevision { .. }), "{err:?}");

    // Reads before the compacted revision fail.
    match store.list("/k/", &list_at(r3)).await.unwrap_err() {
        StoreError::Compacted {
            requested,
            compacted,
        } => assert_eq!((requested, compacted), (r3, compact_at)),
        other => panic!("{other:?}"),
    }
    // The compacted revision itself and later ones still read correctly.
    let at = store.list("/k/", &list_at(compact_at)).await.unwrap();
    assert_eq!(keys(&at.items), ["/k/a"]);
    assert_eq!(at.items[0].value, b"a3");
    let at = store.list("/k/", &list_at(r6)).await.unwrap();
    assert_eq!(keys(&at.items), ["/k/a", "/k/c"]);
    let at = store.list("/k/", &list_at(r7)).await.unwrap();
    assert_eq!(keys(&at.items), ["/k/a"]);

    // Current values survive; nothing deleted comes back.
    let now = store.list("/k/", &ListOptions::default()).await.unwrap();
    assert_eq!(keys(&now.items), ["/k/a", "/k/d"]);
    assert_eq!(
        store.get("/k/a").await.unwrap().unwrap().create_revision,
        r1
    );
    assert_eq!(store.get("/k/b").await.unwrap(), None);
    assert_eq!(store.count("/k/").await.unwrap(), 2);
    assert!(r4 < compact_at);

    // Watching from before the compacted revision fails...
    match watch_error(store.as_ref(), "/k/", r3 - 1).await {
        StoreError::Compacted { compacted, .. } => assert_eq!(compacted, compact_at),
        other => panic!("{other:?}"),
    }
    // ...while a watch needing only revisions >= compacted works.
    for after in [compact_at - 1, compact_at] {
        let mut watch = store.watch("/k/", after).await.unwrap();
        let first = next_event(&mut watch).await;
        let expected = if after < compact_at { r5 } else { r6 };
        assert_eq!(first.kv.mod_revision, expected, "watch after {after}");
        let rest = take_events(&mut watch, 2 + usize::from(after < compact_at)).await;
        let last = rest.last().unwrap();
        assert_eq!(
            (last.event_type, last.kv.mod_revision),
            (EventType::Added, r8)
        );
        let deleted = &rest[rest.len() - 2];
        assert_eq!(
            (
                deleted.event_type,
                deleted.kv.value.as_slice(),
                deleted.kv.mod_revision
            ),
            (EventType::Deleted, &b"c1"[..], r7)
        );
    }
}

async fn compactor_task_bounds_history(store: Arc<dyn Store>) {
    const KEEP: i64 = 5;
    let mut rev = store.create("/t/a", b"0".to_vec()).await.unwrap();
    for i in 1..20 {
        rev = store
            .update("/t/a", i.to_string().into_bytes(), rev)
            .await
            .unwrap();
    }
    let task = spawn_compactor(store.clone(), Duration::from_millis(20), KEEP);
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.compacted_revision().await.unwrap() < rev - KEEP {
        assert!(
            tokio::time::Instant::now() < deadline,
            "compactor did not run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;
    assert_eq!(store.compacted_revision().await.unwrap(), rev - KEEP);
    let err = store
        .list("/t/", &list_at(rev - KEEP - 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Compacted { .. }), "{err:?}");
    // The kept history is still there for watchers.
    let mut watch = store.watch("/t/", rev - KEEP).await.unwrap();
    let events = take_events(&mut watch, KEEP as usize).await;
    assert_eq!(events.last().unwrap().kv.value, b"19");
    assert_eq!(store.get("/t/a").await.unwrap().unwrap().value, b"19");
}

async fn large_values_work_and_oversized_ones_are_refused(store: Arc<dyn Store>) {
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let start = store.current_revision().await.unwrap();
    let r1 = store.create("/big/a", big.clone()).await.unwrap();
    let r2 = store.create("/big/b", big.clone()).await.unwrap();
    assert_eq!(store.get("/big/a").await.unwrap().unwrap().value, big);
    // A list larger than gRPC's default 4 MiB response limit.
    let mut rev = r2;
    for key in ["/big/c", "/big/d", "/big/e"] {
        rev = store.create(key, big.clone()).await.unwrap();
    }
    let list = store.list("/big/", &ListOptions::default()).await.unwrap();
    assert_eq!(list.items.len(), 5);
    assert!(list.items.iter().all(|kv| kv.value == big));
    let updated = store.update("/big/a", big[1..].to_vec(), r1).await.unwrap();
    assert!(updated > rev);
    let mut watch = store.watch("/big/", start).await.unwrap();
    let events = take_events(&mut watch, 6).await;
    assert_eq!(events[0].kv.value, big);
    assert_eq!(events[5].kv.value, &big[1..]);

    let huge = vec![7u8; 3 * 1024 * 1024];
    let err = store.create("/big/huge", huge.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge(_)), "{err:?}");
    let err = store.update("/big/a", huge, updated).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge(_)), "{err:?}");
    assert_eq!(store.get("/big/huge").await.unwrap(), None);
    assert_eq!(
        store.get("/big/a").await.unwrap().unwrap().mod_revision,
        updated
    );
}
