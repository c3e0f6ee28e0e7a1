//! Endpoints: for each Service with a selector, an Endpoints object of the
//! same name listing the pods it selects: ready addresses, not-ready ones
//! apart, ports resolved per pod. Written only when it changes; deleted
//! with its Service. Services without a selector keep hand-made Endpoints.

mod subsets;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use skiff_api::core::{Endpoints, Pod, Service};
use skiff_api::meta::ObjectMeta;
use skiff_client::runtime::{Action, Event, ObjectExt, ObjectKey, WorkQueue};
use skiff_client::{Api, DeleteParams};
use tokio::task::JoinSet;

pub use subsets::{desired_subsets, pod_ready, resolve_target_port, selects};

use crate::context::Context;
use crate::run::{CONFLICT_RETRY, requeue_on_conflict, spawn_workers};

/// Label Kubernetes puts on the Endpoints of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let queue: WorkQueue<ObjectKey> = WorkQueue::new();
    let informers = &ctx.informers;
    informers.services.on_event({
        let queue = queue.clone();
        move |event| {
            for service in event.objects() {
                queue.add(service.key());
            }
        }
    });
    // A pod concerns the Services that select it now and those that
    // selected it before this change: remember each pod's last labels.
    let last_labels: Arc<Mutex<HashMap<ObjectKey, BTreeMap<String, String>>>> = Arc::default();
    informers.pods.on_event({
        let (queue, services) = (queue.clone(), informers.services.cache.clone());
        move |event| {
            let mut last = last_labels.lock().unwrap_or_else(PoisonError::into_inner);
            let enqueue_for = |namespace: &str, labels: &BTreeMap<String, String>| {
                for service in services.filter(Some(namespace), |s| selects(s, labels)) {
                    queue.add(service.key());
                }
            };
            match event {
                Event::Applied(pod) => {
                    let ns = pod.metadata.namespace_str();
                    if let Some(before) = last.insert(pod.key(), pod.metadata.labels.clone())
                        && before != pod.metadata.labels
                    {
                        enqueue_for(ns, &before);
                    }
                    enqueue_for(ns, &pod.metadata.labels);
                }
                Event::Deleted(pod) => {
                    let labels = last.remove(&pod.key()).unwrap_or_default();
                    enqueue_for(pod.metadata.namespace_str(), &labels);
                    enqueue_for(pod.metadata.namespace_str(), &pod.metadata.labels);
                }
                Event::Restarted(pods) => {
                    last.clear();
                    last.extend(pods.iter().map(|p| (p.key(), p.metadata.labels.clone())));
                    for service in services.list() {
                        queue.add(service.key());
                    }
                }
            }
        }
    });
    // Someone else changed (or deleted) an Endpoints we manage: put it
    // back. After a (re)list, also look at leftovers whose Service is gone.
    informers.endpoints.on_event({
        let (queue, services) = (queue.clone(), informers.services.cache.clone());
        move |event| match event {
            Event::Restarted(all) => {
                for endpoints in all {
                    queue.add(endpoints.key());
                }
            }
            Event::Applied(e) | Event::Deleted(e) => {
                if services.get_key(&e.key()).is_some() {
                    queue.add(e.key());
                }
            }
        }
    });
    let worker_ctx = ctx.clone();
    spawn_workers(ctx, tasks, "endpoints", queue, move |key: ObjectKey| {
        let ctx = worker_ctx.clone();
        async move {
            // AlreadyExists too: a create raced another writer, like a conflict.
            match reconcile(&ctx, &key).await {
                Err(e) if e.is_already_exists() => Ok(Action::RequeueAfter(CONFLICT_RETRY)),
                other => requeue_on_conflict(other),
            }
        }
    });
}

async fn reconcile(ctx: &Context, key: &ObjectKey) -> Result<Action, skiff_client::Error> {
    let namespace = key.namespace().unwrap_or_default();
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), namespace);
    let existing = ctx.informers.endpoints.cache.get_key(key);
    let Some(service) = ctx.informers.services.cache.get_key(key) else {
        if existing.is_some() {
            match api.delete(&key.name, &DeleteParams::default()).await {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        return Ok(Action::Done);
    };
    if subsets::service_selector(&service).is_empty() {
        return Ok(Action::Done); // hand-managed Endpoints
    }
    let pods: Vec<Arc<Pod>> = ctx
        .informers
        .pods
        .cache
        .filter(Some(namespace), |p| selects(&service, &p.metadata.labels));
    let subsets = desired_subsets(&service, &pods);
    let labels = desired_labels(&service);
    match existing {
        Some(current) if current.subsets == subsets && current.metadata.labels == labels => {}
        Some(current) => {
            let mut next = (*current).clone();
            next.subsets = subsets;
            next.metadata.labels = labels;
            api.replace(&key.name, &next).await?;
        }
        None => {
            let new = Endpoints {
                metadata: ObjectMeta {
                    name: Some(key.name.clone()),
                    namespace: Some(namespace.to_string()),
                    labels,
                    ..Default::default()
                },
                subsets,
                ..Default::default()
            };
            api.create(&new).await?;
        }
    }
    Ok(Action::Done)
}

/// The Service's labels, plus the headless mark.
fn desired_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone();
    let headless = service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}
