//! The proxy's loop: informers in, nft transactions out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use skiff_api::core::{Endpoints, Service};
use skiff_client::runtime::{Cache, Event, ObjectExt, informer};
use skiff_client::{Api, Client, ListParams};
use tokio::sync::{oneshot, watch};
use tokio::time::{Duration, Instant};

use super::config::ProxyConfig;
use super::model::service_rules;
use super::nft::{Nft, NftError};
use super::script::{self, Objects, TableSettings};

/// After a failed transaction, the next (full) attempt waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// What the proxy has applied so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyState {
    /// Transactions applied (the first is the full resync).
    pub transactions: u64,
    /// Service ports programmed.
    pub service_ports: usize,
    /// Ready endpoints programmed, over all Service ports.
    pub endpoints: usize,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
}

/// A running service proxy. Dropping it stops the loop and leaves the
/// table as it is; [`shutdown`](Self::shutdown) may remove it.
pub struct ServiceProxy {
    settings: TableSettings,
    nft: Nft,
    remove_on_shutdown: bool,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    state: watch::Receiver<ProxyState>,
}

impl std::fmt::Debug for ServiceProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProxy")
            .field("table", &self.settings.table)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl ServiceProxy {
    /// Checks `config`, makes the (empty) table, so that a missing `nft`
    /// or missing privileges fail here, then starts watching.
    pub async fn start(client: Client, config: ProxyConfig) -> anyhow::Result<ServiceProxy> {
        config.validate().map_err(anyhow::Error::msg)?;
        let settings = TableSettings {
            table: config.table.clone(),
            service_cidr: config.service_cidr.clone(),
            cluster_cidr: config.cluster_cidr.clone(),
        };
        let nft = Nft {
            program: config.nft_program.clone(),
        };
        nft.apply(&script::skeleton_script(&settings))
            .await
            .map_err(|e| {
                anyhow::anyhow!("service proxy: creating table {}: {e}", settings.table)
            })?;
        let (state_tx, state) = watch::channel(ProxyState::default());
        let (stop, stop_rx) = oneshot::channel();
        let worker = Worker {
            settings: settings.clone(),
            nft: nft.clone(),
            debounce: config.debounce,
            state: state_tx,
            applied: BTreeMap::new(),
            needs_full: true,
            contested: BTreeSet::new(),
        };
        let task = tokio::spawn(worker.run(client, stop_rx));
        Ok(ServiceProxy {
            settings,
            nft,
            remove_on_shutdown: config.remove_on_shutdown,
            stop: Some(stop),
            task: Some(task),
            state,
        })
    }

    pub fn table(&self) -> &str {
        &self.settings.table
    }

    /// Follows what has been applied (tests and benchmarks wait on it).
    pub fn state(&self) -> watch::Receiver<ProxyState> {
        self.state.clone()
    }

    /// Stops the loop; removes the table if the config says so.
    pub async fn shutdown(mut self) -> Result<(), NftError> {
        self.stop_loop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if self.remove_on_shutdown {
            Self::remove_table(&self.nft, &self.settings.table).await?;
        }
        Ok(())
    }

    /// Removes `table ip <table>` (and nothing else), if it is there.
    pub async fn remove_table(nft: &Nft, table: &str) -> Result<(), NftError> {
        nft.apply(&script::delete_table_script(table)).await
    }

    fn stop_loop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for ServiceProxy {
    fn drop(&mut self) {
        self.stop_loop();
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

struct Worker {
    settings: TableSettings,
    nft: Nft,
    debounce: Duration,
    state: watch::Sender<ProxyState>,
    /// What the table holds, per Service (`namespace/name`).
    applied: BTreeMap<String, Objects>,
    /// The next transaction replaces the whole table (start, and after a
    /// failure, when what the table holds is no longer certain).
    needs_full: bool,
    /// Services that lost a shared element (a NodePort, an `ip . proto .
    /// port`) to another Service: looked at again on every change, so they
    /// get it once the holder lets go.
    contested: BTreeSet<String>,
}

/// Services with changes not yet applied.
#[derive(Default)]
struct Dirty {
    all: bool,
    keys: BTreeSet<String>,
}

impl Dirty {
    fn note<T: skiff_api::Object>(&mut self, event: &Event<Arc<T>>) {
        match event {
            Event::Restarted(_) => self.all = true,
            Event::Applied(o) | Event::Deleted(o) => {
                self.keys.insert(o.key().to_string());
            }
        }
    }

    fn is_empty(&self) -> bool {
        !self.all && self.keys.is_empty()
    }
}

impl Worker {
    async fn run(mut self, client: Client, mut stop: oneshot::Receiver<()>) {
        let (services, mut service_events) =
            informer(Api::<Service>::all(client.clone()), ListParams::default());
        let (endpoints, mut endpoint_events) =
            informer(Api::<Endpoints>::all(client), ListParams::default());
        let mut dirty = Dirty::default();
        let mut due: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = &mut stop => return,
                Some(item) = service_events.next() => match item {
                    Ok(event) => dirty.note(&event),
                    Err(e) => tracing::warn!(error = %e, "service proxy: Service watch error (retrying)"),
                },
                Some(item) = endpoint_events.next() => match item {
                    Ok(event) => dirty.note(&event),
                    Err(e) => tracing::warn!(error = %e, "service proxy: Endpoints watch error (retrying)"),
                },
                _ = sleep_until(due) => {
                    due = None;
                    if !services.is_synced() || !endpoints.is_synced() {
                        continue; // the first lists will mark everything dirty
                    }
                    let batch = std::mem::take(&mut dirty);
                    if let Err(e) = self.apply(&services, &endpoints, batch).await {
                        tracing::warn!(table = %self.settings.table, error = %e, "service proxy: applying rules failed; full resync next");
                        self.needs_full = true;
                        dirty.all = true;
                        self.state.send_modify(|s| s.last_error = Some(e.to_string()));
                        due = Some(Instant::now() + RETRY_AFTER_FAILURE);
                    }
                    continue;
                }
            }
            if due.is_none() && !dirty.is_empty() {
                due = Some(Instant::now() + self.debounce);
            }
        }
    }

    async fn apply(
        &mut self,
        services: &Cache<Service>,
        endpoints: &Cache<Endpoints>,
        dirty: Dirty,
    ) -> Result<(), NftError> {
        let full = self.needs_full || dirty.all;
        let keys: BTreeSet<String> = if full {
            services
                .keys()
                .into_iter()
                .chain(self.applied.keys().cloned())
                .collect()
        } else {
            let mut keys = dirty.keys;
            keys.extend(self.contested.iter().cloned());
            keys
        };
        // Who holds each shared element now. A Service lets go of its own
        // when it is looked at; those that lost one come last, so that
        // they never take it from a holder and get what a holder let go.
        let mut claims: HashMap<(String, String), String> = HashMap::new();
        if !self.needs_full {
            for (key, objects) in &self.applied {
                for element in shared_elements(objects) {
                    claims.insert(element.clone(), key.clone());
                }
            }
        }
        let (losers, holders): (Vec<String>, Vec<String>) =
            keys.into_iter().partition(|k| self.contested.contains(k));
        let mut contested = BTreeSet::new();
        let table = &self.settings.table;
        let mut text = String::new();
        if self.needs_full {
            text.push_str(&script::skeleton_script(&self.settings));
        }
        let empty = Objects::default();
        let mut next = Vec::with_capacity(holders.len() + losers.len());
        for key in holders.into_iter().chain(losers) {
            if !self.needs_full
                && let Some(old) = self.applied.get(&key)
            {
                for element in shared_elements(old) {
                    if claims.get(element) == Some(&key) {
                        claims.remove(element);
                    }
                }
            }
            let mut desired = self.desired(&key, services, endpoints);
            let taken: Vec<(String, String)> = shared_elements(&desired)
                .filter(|e| claims.get(*e).is_some_and(|holder| *holder != key))
                .cloned()
                .collect();
            for element in &taken {
                tracing::warn!(service = %key, map = %element.0, element = %element.1, holder = %claims[element], "service proxy: already served for another Service; skipped");
                desired.elements.remove(element);
            }
            if !taken.is_empty() {
                contested.insert(key.clone());
            }
            for element in shared_elements(&desired) {
                claims.insert(element.clone(), key.clone());
            }
            let before = if self.needs_full {
                &empty
            } else {
                self.applied.get(&key).unwrap_or(&empty)
            };
            text.push_str(&script::diff_script(table, before, &desired));
            next.push((key, desired));
        }
        self.nft.apply(&text).await?;
        self.contested = contested;
        if self.needs_full {
            self.applied.clear();
            self.needs_full = false;
        }
        for (key, desired) in next {
            if desired == Objects::default() {
                self.applied.remove(&key);
            } else {
                self.applied.insert(key, desired);
            }
        }
        let (ports, eps) = self.counts();
        self.state.send_modify(|s| {
            s.transactions += 1;
            s.service_ports = ports;
            s.endpoints = eps;
            s.last_error = None;
        });
        Ok(())
    }

    /// The objects Service `key` should have now (none once it is gone).
    fn desired(
        &self,
        key: &str,
        services: &Cache<Service>,
        endpoints: &Cache<Endpoints>,
    ) -> Objects {
        let mut objects = Objects::default();
        if let Some(service) = services.get(key) {
            let eps = endpoints.get(key);
            // Without a table to keep slots in (a full resync), none are kept.
            let previous = if self.needs_full {
                None
            } else {
                self.applied.get(key)
            };
            for rules in service_rules(&service, eps.as_deref()) {
                objects.extend(&script::service_objects(&self.settings, &rules, previous));
            }
        }
        objects
    }

    /// Service ports and endpoints programmed, from the applied chains.
    fn counts(&self) -> (usize, usize) {
        let chains = self.applied.values().flat_map(|o| o.chains.keys());
        chains.fold((0, 0), |(ports, eps), name| {
            (
                ports + usize::from(name.starts_with("svc-")),
                eps + usize::from(name.starts_with("ep-")),
            )
        })
    }
}

/// The elements `objects` has in the skeleton's shared maps and sets.
fn shared_elements(objects: &Objects) -> impl Iterator<Item = &(String, String)> {
    script::SHARED_MAPS.iter().flat_map(move |map| {
        objects
            .elements
            .range((map.to_string(), String::new())..)
            .map(|(k, _)| k)
            .take_while(move |(m, _)| m == map)
    })
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
