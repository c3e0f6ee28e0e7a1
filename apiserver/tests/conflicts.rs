//! No lost update: 32 writers x 50 read-modify-write increments of one
//! ConfigMap over HTTP, retrying on 409, end at exactly 1600, on both stores.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

const WRITERS: usize = 32;
const INCREMENTS: usize = 50;

async fn increments_are_never_lost(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.create(CM, &configmap("counter", json!({"n": "0"}))).await;
    let path = format!("{CM}/counter");
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let client = client();
        let url = s.url(&path);
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0usize;
            for _ in 0..INCREMENTS {
                loop {
                    let mut cm: serde_json::Value =
                        client.get(&url).send().await.unwrap().json().await.unwrap();
                    let n: u64 = cm["data"]["n"].as_str().unwrap().parse().unwrap();
                    cm["data"]["n"] = json!((n + 1).to_string());
                    let resp = client.put(&url).json(&cm).send().await.unwrap();
                    match resp.status() {
                        StatusCode::OK => break,
                        StatusCode::CONFLICT => conflicts += 1,
                        other => panic!("unexpected {other}: {}", resp.text().await.unwrap()),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let (_, cm) = s.get(&path).await;
    assert_eq!(cm["data"]["n"], (WRITERS * INCREMENTS).to_string());
    eprintln!("conflicts: {conflicts}");
    assert!(
        conflicts > 0,
        "32 concurrent writers never conflicted: the test proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_loses_no_update() {
    increments_are_never_lost(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_loses_no_update() {
    increments_are_never_lost(Backend::Etcd).await;
}
