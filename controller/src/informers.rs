//! Shared informers: one list+watch per kind for every controller and the
//! scheduler in this process, each with a read-only cache. Controllers
//! register handlers (usually "enqueue these keys") before the informers
//! start; handlers run on the informer's task, in event order, so none can
//! fall behind and miss an event.

use std::sync::{Arc, RwLock};

use futures::StreamExt;
use skiff_api::Object;
use skiff_api::apps::{Deployment, ReplicaSet};
use skiff_api::batch::{CronJob, Job};
use skiff_api::coordination::Lease;
use skiff_api::core::{Endpoints, Namespace, Node, Pod, Service};
use skiff_client::runtime::{BY_CONTROLLER_UID, BY_NODE, BY_OWNER_UID, Cache, Event, informer};
use skiff_client::runtime::{controller_uid, owner_uids, pod_node_name};
use skiff_client::{Api, Client, ListParams};
use tokio::task::JoinSet;

type Handler<T> = Box<dyn Fn(&Event<Arc<T>>) + Send + Sync>;

/// One kind's cache, and the handlers its events go to.
pub struct Informer<T: Object> {
    pub cache: Cache<T>,
    handlers: Arc<RwLock<Vec<Handler<T>>>>,
    events: std::sync::Mutex<Option<skiff_client::runtime::InformerEvents<T>>>,
}

impl<T: Object> Informer<T> {
    fn new(api: Api<T>, params: ListParams) -> Informer<T> {
        let (cache, events) = informer(api, params);
        Informer {
            cache,
            handlers: Arc::default(),
            events: std::sync::Mutex::new(Some(events)),
        }
    }

    /// Calls `handler` with every event (the initial list as `Restarted`).
    /// Register before [`SharedInformers::start`].
    pub fn on_event(&self, handler: impl Fn(&Event<Arc<T>>) + Send + Sync + 'static) {
        self.handlers
            .write()
            .expect("handlers lock")
            .push(Box::new(handler));
    }

    fn spawn(&self, tasks: &mut JoinSet<()>) {
        let Some(mut events) = self.events.lock().expect("events lock").take() else {
            return; // already running
        };
        let handlers = self.handlers.clone();
        tasks.spawn(async move {
            while let Some(item) = events.next().await {
                match item {
                    Ok(event) => {
                        for handler in handlers.read().expect("handlers lock").iter() {
                            handler(&event);
                        }
                    }
                    Err(e) => tracing::warn!(kind = T::RESOURCE.kind, error = %e, "informer watch error (retrying)"),
                }
            }
        });
    }
}

/// The informers of every kind the controllers and the scheduler read.
pub struct SharedInformers {
    pub pods: Informer<Pod>,
    pub replicasets: Informer<ReplicaSet>,
    pub deployments: Informer<Deployment>,
    pub nodes: Informer<Node>,
    pub services: Informer<Service>,
    pub endpoints: Informer<Endpoints>,
    pub jobs: Informer<Job>,
    pub cronjobs: Informer<CronJob>,
    pub namespaces: Informer<Namespace>,
    /// Node heartbeats (`kube-node-lease` namespace).
    pub node_leases: Informer<Lease>,
}

impl SharedInformers {
    /// Informers over every namespace, not yet started. Pods are indexed by
    /// node ([`BY_NODE`]) and by owner uid ([`BY_OWNER_UID`],
    /// [`BY_CONTROLLER_UID`]); ReplicaSets and Jobs by controller uid.
    pub fn new(client: &Client) -> SharedInformers {
        let all = ListParams::default;
        let informers = SharedInformers {
            pods: Informer::new(Api::all(client.clone()), all()),
            replicasets: Informer::new(Api::all(client.clone()), all()),
            deployments: Informer::new(Api::all(client.clone()), all()),
            nodes: Informer::new(Api::all(client.clone()), all()),
            services: Informer::new(Api::all(client.clone()), all()),
            endpoints: Informer::new(Api::all(client.clone()), all()),
            jobs: Informer::new(Api::all(client.clone()), all()),
            cronjobs: Informer::new(Api::all(client.clone()), all()),
            namespaces: Informer::new(Api::all(client.clone()), all()),
            node_leases: Informer::new(Api::namespaced(client.clone(), "kube-node-lease"), all()),
        };
        informers.pods.cache.add_index(BY_NODE, pod_node_name);
        informers.pods.cache.add_index(BY_OWNER_UID, owner_uids);
        informers
            .pods
            .cache
            .add_index(BY_CONTROLLER_UID, controller_uid);
        informers
            .replicasets
            .cache
            .add_index(BY_CONTROLLER_UID, controller_uid);
        informers
            .jobs
            .cache
            .add_index(BY_CONTROLLER_UID, controller_uid);
        informers
    }

    /// Starts every informer's list+watch on `tasks`.
    pub fn start(&self, tasks: &mut JoinSet<()>) {
        self.pods.spawn(tasks);
        self.replicasets.spawn(tasks);
        self.deployments.spawn(tasks);
        self.nodes.spawn(tasks);
        self.services.spawn(tasks);
        self.endpoints.spawn(tasks);
        self.jobs.spawn(tasks);
        self.cronjobs.spawn(tasks);
        self.namespaces.spawn(tasks);
        self.node_leases.spawn(tasks);
    }

    /// Returns once every cache holds its first full list.
    pub async fn wait_synced(&self) {
        self.pods.cache.wait_synced().await;
        self.replicasets.cache.wait_synced().await;
        self.deployments.cache.wait_synced().await;
        self.nodes.cache.wait_synced().await;
        self.services.cache.wait_synced().await;
        self.endpoints.cache.wait_synced().await;
        self.jobs.cache.wait_synced().await;
        self.cronjobs.cache.wait_synced().await;
        self.namespaces.cache.wait_synced().await;
        self.node_leases.cache.wait_synced().await;
    }
}
