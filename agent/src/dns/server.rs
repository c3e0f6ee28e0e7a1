//! The running DNS server: watch caches of Services and Endpoints, and
//! listeners (UDP + TCP) on any number of addresses.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::StreamExt;
use skiff_api::Object;
use skiff_api::core::{Endpoints, Service};
use skiff_client::runtime::{Cache, informer};
use skiff_client::{Api, Client, ListParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::DnsServerConfig;
use super::listener::{self, Upstreams};
use super::respond::Responder;
use super::zone::ClusterZone;

/// How long a failed bind on the pod gateway waits before trying again.
const REBIND_INTERVAL: Duration = Duration::from_secs(5);

/// A cluster DNS server. Dropping it (or [`stop`](Self::stop)) ends its
/// watches and closes its sockets.
pub struct DnsServer {
    responder: Arc<Responder>,
    upstreams: Arc<Upstreams>,
    services: Cache<Service>,
    endpoints: Cache<Endpoints>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    addrs: Arc<Mutex<Vec<SocketAddr>>>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("domain", &self.responder.zone().domain())
            .field("addrs", &self.local_addrs())
            .field("synced", &self.is_synced())
            .finish()
    }
}

impl DnsServer {
    /// Starts watching Services and Endpoints of every namespace. Nothing
    /// listens yet: see [`listen`](Self::listen).
    pub fn start(client: Client, config: &DnsServerConfig) -> anyhow::Result<DnsServer> {
        config.validate().map_err(anyhow::Error::msg)?;
        let mut tasks = Vec::new();
        let services = watch_all::<Service>(&client, &mut tasks);
        let endpoints = watch_all::<Endpoints>(&client, &mut tasks);
        let zone = ClusterZone::new(&config.cluster_domain, services.clone(), endpoints.clone());
        let forwards = !config.upstreams.is_empty();
        Ok(DnsServer {
            responder: Arc::new(Responder::new(zone, config.ttl, forwards)),
            upstreams: Arc::new(Upstreams {
                servers: config.upstreams.clone(),
                timeout: config.upstream_timeout,
            }),
            services,
            endpoints,
            tasks: Mutex::new(tasks),
            addrs: Arc::default(),
        })
    }

    /// Serves UDP and TCP on `addr` (port 0: a free port); returns the
    /// address bound.
    pub fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let (udp, tcp) = listener::bind(addr)?;
        let bound = udp.local_addr()?;
        self.serve(udp, tcp, bound);
        Ok(bound)
    }

    fn serve(&self, udp: tokio::net::UdpSocket, tcp: tokio::net::TcpListener, bound: SocketAddr) {
        let (r, u) = (self.responder.clone(), self.upstreams.clone());
        let udp_task = tokio::spawn(listener::serve_udp(udp, r.clone(), u.clone()));
        let tcp_task = tokio::spawn(listener::serve_tcp(tcp, r, u));
        lock(&self.addrs).push(bound);
        lock(&self.tasks).extend([udp_task, tcp_task]);
        tracing::info!(addr = %bound, domain = self.responder.zone().domain(), "cluster DNS listening");
    }

    /// Serves on port 53 of the gateway of every pod CIDR `pod_cidrs`
    /// holds, now and as it changes (earlier ones keep serving the pods
    /// that use them). `None` there means `fallback`. A bind that fails
    /// is logged and retried.
    pub fn follow_pod_gateways(
        self: &Arc<Self>,
        mut pod_cidrs: watch::Receiver<Option<String>>,
        fallback: String,
        port: u16,
    ) {
        let server = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut served: Vec<IpAddr> = Vec::new();
            while server.strong_count() > 0 {
                let cidr = pod_cidrs.borrow_and_update().clone();
                let cidr = cidr.unwrap_or_else(|| fallback.clone());
                match crate::runtime::linux::cni::pod_gateway(&cidr) {
                    Ok(gateway) if !served.contains(&gateway) => {
                        let addr = SocketAddr::new(gateway, port);
                        if bind_until_done(&server, addr, &mut pod_cidrs).await {
                            served.push(gateway);
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(cidr, error = %e, "cluster DNS: no gateway to serve on")
                    }
                }
                if pod_cidrs.changed().await.is_err() {
                    return;
                }
            }
        });
        lock(&self.tasks).push(task);
    }

    /// Every address served on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        lock(&self.addrs).clone()
    }

    /// Both caches hold their first full list (before that, cluster names
    /// get SERVFAIL).
    pub fn is_synced(&self) -> bool {
        self.services.is_synced() && self.endpoints.is_synced()
    }

    pub async fn wait_synced(&self) {
        self.services.wait_synced().await;
        self.endpoints.wait_synced().await;
    }

    /// Ends the watches and closes every socket.
    pub fn stop(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        lock(&self.addrs).clear();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Tries to serve on `addr` every [`REBIND_INTERVAL`]; true once it does,
/// false if the pod CIDR changed first (the caller moves on to the new one).
async fn bind_until_done(
    server: &Weak<DnsServer>,
    addr: SocketAddr,
    pod_cidrs: &mut watch::Receiver<Option<String>>,
) -> bool {
    loop {
        let Some(strong) = server.upgrade() else {
            return false;
        };
        let bound = strong.listen(addr);
        drop(strong);
        match bound {
            Ok(_) => return true,
            Err(e) => tracing::error!(
                %addr, error = %e,
                "cluster DNS cannot listen (pods on this node cannot resolve names); retrying"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(REBIND_INTERVAL) => {}
            changed = pod_cidrs.changed() => {
                if changed.is_ok() {
                    return false;
                }
                tokio::time::sleep(REBIND_INTERVAL).await;
            }
        }
    }
}

/// A cache of every `T` in the cluster, kept by a task pushed on `tasks`.
fn watch_all<T: Object>(client: &Client, tasks: &mut Vec<JoinHandle<()>>) -> Cache<T> {
    let (cache, mut events) = informer(Api::<T>::all(client.clone()), ListParams::default());
    tasks.push(tokio::spawn(async move {
        while let Some(item) = events.next().await {
            if let Err(e) = item {
                tracing::warn!(kind = T::RESOURCE.kind, error = %e, "cluster DNS watch error (retrying)");
            }
        }
    }));
    cache
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
