//! `/metrics` in the Prometheus text format: request counts and latencies by
//! verb and resource, registered watchers, store latency by operation.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use skiff_store::{KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbResource {
    verb: String,
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabel {
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<VerbResource>,
    watchers: Family<ResourceLabel, Gauge>,
    store: HistogramFamily<OperationLabel>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily<VerbResource> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let watchers = Family::<ResourceLabel, Gauge>::default();
        let store: HistogramFamily<OperationLabel> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "apiserver_request",
            "Requests by verb, resource and HTTP code",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Request latency (time to response headers) by verb and resource",
            durations.clone(),
        );
        registry.register(
            "apiserver_registered_watchers",
            "Open watch streams by resource",
            watchers.clone(),
        );
        registry.register(
            "etcd_request_duration_seconds",
            "Store operation latency by operation",
            store.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            watchers,
            store,
        }
    }

    pub fn record_request(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.into(),
                resource: resource.into(),
                code: code.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&VerbResource {
                verb: verb.into(),
                resource: resource.into(),
            })
            .observe(seconds);
    }

    /// Counts an open watch until the guard is dropped.
    pub fn watcher(self: &Arc<Self>, resource: &str) -> WatcherGuard {
        let labels = ResourceLabel {
            resource: resource.into(),
        };
        self.watchers.get_or_create(&labels).inc();
        WatcherGuard {
            metrics: self.clone(),
            labels,
        }
    }

    pub fn observe_store(&self, operation: &str, seconds: f64) {
        self.store
            .get_or_create(&OperationLabel {
                operation: operation.into(),
            })
            .observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Decrements the watcher gauge when a watch ends.
pub struct WatcherGuard {
    metrics: Arc<Metrics>,
    labels: ResourceLabel,
}

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.metrics.watchers.get_or_create(&self.labels).dec();
    }
}

/// What a handler tells the metrics middleware about its request (put in
/// the response's extensions).
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// `GET`, `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`, `DELETE`, ...
    pub verb: &'static str,
    /// `pods`, `deployments/scale`, or `""` for non-resource paths.
    pub resource: String,
}

/// Middleware: counts and times every request.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let (verb, resource) = match resp.extensions().get::<RequestInfo>() {
        Some(info) => (info.verb.to_string(), info.resource.clone()),
        None => (method, String::new()),
    };
    metrics.record_request(
        &verb,
        &resource,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// A store that times every operation into [`Metrics`].
pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl InstrumentedStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> InstrumentedStore {
        InstrumentedStore { inner, metrics }
    }

    async fn timed<T>(&self, op: &str, f: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = f.await;
        self.metrics
            .observe_store(op, started.elapsed().as_secs_f64());
        out
    }
}

#[async_trait::async_trait]
impl Store for InstrumentedStore {
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        self.timed("create", self.inner.create(key, value)).await
    }
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.timed("get", self.inner.get(key)).await
    }
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        self.timed("update", self.inner.update(key, value, expected))
            .await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        self.timed("delete", self.inner.delete(key, expected)).await
    }
    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
        self.timed("list", self.inner.list(prefix, opts)).await
    }
    async fn count(&self, prefix: &str) -> Result<i64> {
        self.timed("count", self.inner.count(prefix)).await
    }
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.timed("watch", self.inner.watch(prefix, after)).await
    }
    async fn current_revision(&self) -> Result<Revision> {
        self.timed("current_revision", self.inner.current_revision())
            .await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.timed("compact", self.inner.compact(revision)).await
    }
    async fn compacted_revision(&self) -> Result<Revision> {
        self.timed("compacted_revision", self.inner.compacted_revision())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Arc::new(Metrics::new());
        m.record_request("LIST", "pods", 200, 0.01);
        let guard = m.watcher("pods");
        m.observe_store("get", 0.001);
        let text = m.encode();
        assert!(
            text.contains(
                "apiserver_request_total{verb=\"LIST\",resource=\"pods\",code=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("apiserver_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("apiserver_registered_watchers{resource=\"pods\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("etcd_request_duration_seconds_count{operation=\"get\"} 1"),
            "{text}"
        );
        drop(guard);
        assert!(
            m.encode()
                .contains("apiserver_registered_watchers{resource=\"pods\"} 0")
        );
    }
}
