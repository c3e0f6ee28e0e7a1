//! A light pods watch for benchmarks: when this client first saw each pod,
//! saw it bound to a node, and saw it Running and Ready, all on one clock.
//!
//! It must keep up with thousands of events a second on a busy machine, so
//! it reads the raw newline-delimited stream and decodes only the handful
//! of fields it needs. When the server cuts the stream (a client too slow is
//! cut off) it resumes from the last revision it saw; after an `ERROR`
//! event (410 Gone) it lists again and watches from the list.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde::Deserialize;

/// What the watch saw of one pod, in this process's clock.
#[derive(Debug, Clone, Copy)]
pub struct PodTimes {
    pub seen: Instant,
    pub bound: Option<Instant>,
    pub ready: Option<Instant>,
}

/// Running totals.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub seen: usize,
    pub bound: usize,
    pub ready: usize,
    /// Watch streams opened again after the first (cut off, errors, 410).
    pub rewatches: usize,
    pub events: usize,
}

#[derive(Default)]
struct Tally {
    pods: HashMap<String, PodTimes>,
    counts: Counts,
}

impl Tally {
    fn observe(&mut self, pod: &LitePod, now: Instant) {
        let times = match self.pods.get_mut(&pod.metadata.name) {
            Some(t) => t,
            None => {
                self.counts.seen += 1;
                self.pods
                    .entry(pod.metadata.name.clone())
                    .or_insert(PodTimes {
                        seen: now,
                        bound: None,
                        ready: None,
                    })
            }
        };
        if times.bound.is_none() && pod.is_bound() {
            times.bound = Some(now);
            self.counts.bound += 1;
        }
        if times.ready.is_none() && pod.is_running_and_ready() {
            times.ready = Some(now);
            self.counts.ready += 1;
        }
    }
}

/// The few fields of a Pod (or of the `Status` of an `ERROR` event) read.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LitePod {
    metadata: LiteMeta,
    spec: LiteSpec,
    status: LiteStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LiteMeta {
    name: String,
    resource_version: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LiteSpec {
    node_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LiteStatus {
    phase: Option<String>,
    conditions: Option<Vec<LiteCondition>>,
}

#[derive(Deserialize)]
struct LiteCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

impl LitePod {
    fn is_bound(&self) -> bool {
        self.spec
            .node_name
            .as_deref()
            .is_some_and(|n| !n.is_empty())
    }

    fn is_running_and_ready(&self) -> bool {
        self.status.phase.as_deref() == Some("Running")
            && self
                .status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    }
}

#[derive(Deserialize)]
struct LiteEvent {
    #[serde(rename = "type")]
    kind: String,
    object: LitePod,
}

/// The type alone, for lines that are no Pod event (an `ERROR` carries a
/// `Status`, whose `status` is a string).
#[derive(Deserialize)]
struct EventType {
    #[serde(rename = "type")]
    kind: String,
}

enum Line {
    Event(LiteEvent),
    Error,
    Other,
}

fn decode(line: &[u8]) -> Line {
    if let Ok(event) = serde_json::from_slice::<LiteEvent>(line) {
        if event.kind == "ERROR" {
            return Line::Error;
        }
        return Line::Event(event);
    }
    match serde_json::from_slice::<EventType>(line) {
        Ok(t) if t.kind == "ERROR" => Line::Error,
        _ => Line::Other,
    }
}

#[derive(Deserialize)]
struct LiteList {
    #[serde(default)]
    metadata: LiteMeta,
    #[serde(default)]
    items: Vec<LitePod>,
}

/// A running pods watch in one namespace, filtered by a label selector.
pub struct PodWatch {
    tally: Arc<Mutex<Tally>>,
    task: tokio::task::JoinHandle<()>,
}

impl PodWatch {
    /// Lists the matching pods (recording them as seen now), then watches
    /// from the list's revision in a task of its own.
    pub async fn start(
        base_url: &str,
        namespace: &str,
        selector: &str,
    ) -> anyhow::Result<PodWatch> {
        let target = Target {
            http: reqwest::Client::new(),
            base: format!("{base_url}/api/v1/namespaces/{namespace}/pods"),
            selector: selector.replace('=', "%3D").replace(',', "%2C"),
        };
        let tally = Arc::new(Mutex::new(Tally::default()));
        let rv = target.relist(&tally).await?;
        let task = tokio::spawn(watch_loop(target, tally.clone(), rv));
        Ok(PodWatch { tally, task })
    }

    pub fn counts(&self) -> Counts {
        lock(&self.tally).counts
    }

    /// Every pod seen so far and its times.
    pub fn times(&self) -> Vec<PodTimes> {
        lock(&self.tally).pods.values().copied().collect()
    }

    /// Every pod seen so far by name, with its times.
    pub fn named_times(&self) -> Vec<(String, PodTimes)> {
        lock(&self.tally)
            .pods
            .iter()
            .map(|(name, times)| (name.clone(), *times))
            .collect()
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Target {
    http: reqwest::Client,
    base: String,
    selector: String,
}

impl Target {
    /// Lists the pods, records them, and returns the list's revision.
    async fn relist(&self, tally: &Mutex<Tally>) -> anyhow::Result<String> {
        let url = format!("{}?labelSelector={}", self.base, self.selector);
        let resp = self.http.get(&url).send().await.context("listing pods")?;
        if !resp.status().is_success() {
            bail!("listing pods answered {}", resp.status());
        }
        let list: LiteList = serde_json::from_slice(&resp.bytes().await?)?;
        let now = Instant::now();
        let mut t = lock(tally);
        for pod in &list.items {
            t.observe(pod, now);
        }
        Ok(list.metadata.resource_version)
    }

    /// Streams events from `rv` until the stream ends; returns the last
    /// revision seen and whether an `ERROR` event asked for a new list.
    async fn stream(&self, tally: &Mutex<Tally>, mut rv: String) -> (String, bool) {
        let url = format!(
            "{}?watch=true&allowWatchBookmarks=true&labelSelector={}&resourceVersion={rv}",
            self.base, self.selector
        );
        let resp = match self.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return (rv, r.status() == reqwest::StatusCode::GONE),
            Err(_) => return (rv, false),
        };
        let mut body = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        while let Some(Ok(chunk)) = body.next().await {
            buf.extend_from_slice(&chunk);
            let now = Instant::now();
            let mut t = lock(tally);
            let mut start = 0;
            while let Some(len) = buf[start..].iter().position(|b| *b == b'\n') {
                let line = &buf[start..start + len];
                start += len + 1;
                let event = match decode(line) {
                    Line::Event(e) => e,
                    Line::Error => return (rv, true),
                    Line::Other => continue,
                };
                t.counts.events += 1;
                if matches!(event.kind.as_str(), "ADDED" | "MODIFIED") {
                    t.observe(&event.object, now);
                }
                if !event.object.metadata.resource_version.is_empty() {
                    rv = event.object.metadata.resource_version;
                }
            }
            buf.drain(..start);
        }
        (rv, false)
    }
}

async fn watch_loop(target: Target, tally: Arc<Mutex<Tally>>, mut rv: String) {
    loop {
        let (last, relist) = target.stream(&tally, rv).await;
        rv = last;
        lock(&tally).counts.rewatches += 1;
        if relist {
            match target.relist(&tally).await {
                Ok(fresh) => rv = fresh,
                Err(e) => eprintln!("pods watch: {e:#}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: &str) -> LitePod {
        serde_json::from_str(json).expect("a pod")
    }

    #[test]
    fn a_pod_is_recorded_once_per_stage() {
        let mut t = Tally::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        let t2 = t0 + Duration::from_millis(9);
        t.observe(&pod(r#"{"metadata":{"name":"a"}}"#), t0);
        t.observe(
            &pod(r#"{"metadata":{"name":"a"},"spec":{"nodeName":"n1"}}"#),
            t1,
        );
        let running = r#"{"metadata":{"name":"a"},"spec":{"nodeName":"n1"},
            "status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#;
        t.observe(&pod(running), t2);
        t.observe(&pod(running), t2 + Duration::from_secs(1));
        let a = t.pods["a"];
        assert_eq!((a.seen, a.bound, a.ready), (t0, Some(t1), Some(t2)));
        assert_eq!((t.counts.seen, t.counts.bound, t.counts.ready), (1, 1, 1));
    }

    #[test]
    fn running_but_not_ready_is_not_ready() {
        let p = pod(r#"{"metadata":{"name":"a"},"spec":{"nodeName":""},
            "status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}]}}"#);
        assert!(!p.is_bound());
        assert!(!p.is_running_and_ready());
    }

    #[test]
    fn an_error_event_with_its_status_object_asks_for_a_list() {
        let line = br#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","code":410}}"#;
        assert!(matches!(decode(line), Line::Error));
        let line = br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}"#;
        assert!(
            matches!(decode(line), Line::Event(e) if e.object.metadata.resource_version == "7")
        );
        assert!(matches!(decode(b"not json"), Line::Other));
    }
}
