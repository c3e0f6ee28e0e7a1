//! What the scenarios share: a lab-profile cluster, the Deployment moves
//! (scale, set image) with the retries a real client makes on 409, and
//! "the pods of this app have settled at N".

use std::future::Future;
use std::time::Duration;

use serde_json::json;
use skiff_api::apps::{Deployment, ReplicaSet};
use skiff_api::core::{Event, Pod};
use skiff_client::{Api, ListParams, Patch};
use skiff_testkit::Cluster;
use skiff_testkit::objects::{is_available, template_hash};

pub const NS: &str = "default";
/// How long any one convergence may take (faults included).
pub const CONVERGE: Duration = Duration::from_secs(30);

pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// `nodes` hollow nodes, lab profile.
pub async fn cluster(nodes: usize) -> Cluster {
    init_logging();
    Cluster::builder()
        .nodes(nodes)
        .lab_profile()
        .start()
        .await
        .expect("start the cluster")
}

/// Runs `write` again while it fails with 409 Conflict (as clients do on
/// an optimistic-concurrency failure); other errors fail the test.
pub async fn retry_conflicts<T, F, Fut>(what: &str, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = skiff_client::Result<T>>,
{
    for _ in 0..100 {
        match write().await {
            Ok(v) => return v,
            Err(e) if e.is_conflict() => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("{what}: {e}"),
        }
    }
    panic!("{what}: 100 conflicts in a row");
}

pub fn deployments(c: &Cluster) -> Api<Deployment> {
    c.api(NS)
}

pub async fn create_deployment(c: &Cluster, d: &Deployment) {
    let api = deployments(c);
    retry_conflicts("create deployment", || api.create(d)).await;
}

pub async fn scale(c: &Cluster, name: &str, replicas: i32) {
    let api = deployments(c);
    let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
    retry_conflicts("scale", || api.patch(name, &patch)).await;
}

pub async fn set_image(c: &Cluster, name: &str, image: &str) {
    let api = deployments(c);
    let patch = Patch::Strategic(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}),
    );
    retry_conflicts("set image", || api.patch(name, &patch)).await;
}

/// Every pod of `app`, terminating ones included.
pub async fn pods_of(c: &Cluster, app: &str) -> Vec<Pod> {
    c.api::<Pod>(NS)
        .list_all(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list pods")
        .items
}

pub async fn replicasets_of(c: &Cluster, app: &str) -> Vec<ReplicaSet> {
    c.api::<ReplicaSet>(NS)
        .list_all(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list replicasets")
        .items
}

/// Waits until `app` has exactly `n` pods, every one available (none
/// terminating, none left over), all of one template; returns them.
pub async fn wait_settled(c: &Cluster, app: &str, n: usize) -> Vec<Pod> {
    let settled = c
        .wait_for(
            CONVERGE,
            &format!("{n} available pods of {app}"),
            || async {
                let pods = pods_of(c, app).await;
                let hashes: std::collections::BTreeSet<&str> =
                    pods.iter().map(template_hash).collect();
                (pods.len() == n && pods.iter().all(is_available) && hashes.len() <= 1)
                    .then_some(pods)
            },
        )
        .await;
    match settled {
        Ok(pods) => pods,
        Err(e) => panic!("{e}\n{}", describe(c, app).await),
    }
}

/// What the pods, ReplicaSets and Deployment of `app` look like (for failures).
pub async fn describe(c: &Cluster, app: &str) -> String {
    let mut out = String::new();
    for p in pods_of(c, app).await {
        out.push_str(&format!(
            "pod {} hash={} node={:?} phase={} ready={} deleting={}\n",
            p.metadata.name_str(),
            template_hash(&p),
            skiff_testkit::objects::node_of(&p),
            skiff_testkit::objects::phase(&p),
            skiff_testkit::objects::is_ready(&p),
            p.metadata.deletion_timestamp.is_some(),
        ));
    }
    for rs in replicasets_of(c, app).await {
        out.push_str(&format!(
            "replicaset {} spec={:?} status={:?}\n",
            rs.metadata.name_str(),
            rs.spec.replicas,
            rs.status
        ));
    }
    if let Ok(d) = deployments(c).get(app).await {
        out.push_str(&format!(
            "deployment generation={:?} status={:?}\n",
            d.metadata.generation, d.status
        ));
    }
    out
}

/// Waits until the Deployment's status counts `n` replicas, all updated,
/// ready and available, for its latest generation.
pub async fn wait_status(c: &Cluster, name: &str, n: i32) -> Deployment {
    let api = deployments(c);
    let what = format!("deployment {name} status at {n} replicas");
    let reached = c
        .wait_for(CONVERGE, &what, || async {
            let d = api.get(name).await.ok()?;
            let s = d.status.as_ref()?;
            let counts = [
                s.replicas,
                s.updated_replicas,
                s.ready_replicas,
                s.available_replicas,
            ];
            (s.observed_generation >= d.metadata.generation
                && counts.iter().all(|v| v.unwrap_or(0) == n))
            .then_some(d)
        })
        .await;
    match reached {
        Ok(d) => d,
        Err(e) => panic!("{e}\n{}", describe(c, name).await),
    }
}

/// Reasons, messages and reporting instances of the Events about `name`.
pub async fn events_about(c: &Cluster, name: &str) -> Vec<(String, String, String)> {
    c.api::<Event>(NS)
        .list_all(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| {
            (
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
                e.reporting_instance.unwrap_or_default(),
            )
        })
        .collect()
}
