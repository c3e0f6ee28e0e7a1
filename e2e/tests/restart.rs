//! The API server process restarted (SIGKILL, then started again on the
//! same data directory or etcd and the same port), with both stores:
//! nothing is lost (every object keeps its uid and resourceVersion), a
//! client-library watcher opened before the restart goes on and sees a
//! change made after it (resuming, without listing again), the hollow
//! agents reconnect (Nodes stay Ready, pods stay Running, logs and exec
//! reach them) and no pod is recreated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use skiff_api::apps::Deployment;
use skiff_client::runtime::{Event, watcher};
use skiff_client::{Api, Client, Kubeconfig, ListParams};
use skiff_e2e::agent::HollowAgents;
use skiff_e2e::server::{Server, StoreChoice};
use skiff_e2e::{eventually, manifest, skiff};
use skiff_store::testing::EtcdServer;

const NODES: usize = 2;
const REPLICAS: usize = 3;

/// The kinds whose objects nobody changes while the cluster is idle: each
/// must come back with the same uid and resourceVersion.
const STILL_KINDS: [&str; 7] = [
    "namespaces",
    "deployments",
    "replicasets",
    "pods",
    "services",
    "endpoints",
    "configmaps",
];

/// `skiff get KIND -A -o json`, or panics with the server's log.
fn get_json(server: &Server, args: &[&str]) -> Value {
    let (code, out, err) = skiff(&server.kubeconfig, args);
    assert_eq!(code, 0, "skiff {args:?}: {err}\n{}", server.log());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("skiff {args:?}: {e}: {out}"))
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `kind/namespace/name` -> (uid, resourceVersion) of every object of `kinds`.
fn identities(server: &Server, kinds: &[&str]) -> BTreeMap<String, (String, String)> {
    let mut all = BTreeMap::new();
    for kind in kinds {
        for o in items(&get_json(server, &["get", kind, "-A", "-o", "json"])) {
            let key = format!(
                "{kind}/{}/{}",
                str_at(&o, "/metadata/namespace"),
                str_at(&o, "/metadata/name")
            );
            let id = (
                str_at(&o, "/metadata/uid").to_string(),
                str_at(&o, "/metadata/resourceVersion").to_string(),
            );
            all.insert(key, id);
        }
    }
    all
}

/// Pod name -> (uid, node) of the deployment's pods, when `want` of them
/// run; `None` otherwise.
fn running_pods(server: &Server, want: usize) -> Option<BTreeMap<String, (String, String)>> {
    let pods = items(&get_json(
        server,
        &["get", "pods", "-l", "app=nginx", "-o", "json"],
    ));
    let running: BTreeMap<_, _> = pods
        .iter()
        .filter(|p| str_at(p, "/status/phase") == "Running")
        .filter(|p| str_at(p, "/metadata/deletionTimestamp").is_empty())
        .map(|p| {
            (
                str_at(p, "/metadata/name").to_string(),
                (
                    str_at(p, "/metadata/uid").to_string(),
                    str_at(p, "/spec/nodeName").to_string(),
                ),
            )
        })
        .collect();
    (pods.len() == want && running.len() == want).then_some(running)
}

fn ready_nodes(server: &Server) -> usize {
    items(&get_json(server, &["get", "nodes", "-o", "json"]))
        .iter()
        .filter(|n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .count()
}

/// What the watcher saw, in order: `restarted N`, `applied R` (the
/// deployment's spec.replicas), `deleted`, or `error`.
type Seen = Arc<Mutex<Vec<String>>>;

/// A watcher of Deployments in `default`, run on its own thread until the
/// test ends.
fn watch_deployments(server: &Server) -> Seen {
    let config = Kubeconfig::read(&server.kubeconfig)
        .and_then(|k| k.resolve(None))
        .expect("the server's kubeconfig");
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = Client::new(config).expect("a client");
            let api: Api<Deployment> = Api::namespaced(client, "default");
            let mut events = Box::pin(watcher(api, ListParams::default()));
            while let Some(event) = events.next().await {
                let line = match event {
                    Ok(Event::Restarted(all)) => format!("restarted {}", all.len()),
                    Ok(Event::Applied(d)) => {
                        format!("applied {}", d.spec.replicas.unwrap_or_default())
                    }
                    Ok(Event::Deleted(_)) => "deleted".to_string(),
                    Err(_) => "error".to_string(),
                };
                record.lock().unwrap().push(line);
            }
        });
    });
    seen
}

fn scenario(store: StoreChoice) {
    let mut server = Server::start_with(store, &["--lab-profile"]).expect("server starts");
    let mut agents = HollowAgents::start(&server, NODES).expect("agents start");
    agents
        .wait_running(Duration::from_secs(60))
        .expect("hollow nodes run");
    let deployment = manifest("nginx-deployment.yaml");
    let (code, _, err) = skiff(
        &server.kubeconfig,
        &["apply", "-f", deployment.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let replicas = REPLICAS.to_string();
    let (code, _, err) = skiff(
        &server.kubeconfig,
        &[
            "scale",
            "deployment",
            "nginx-deployment",
            "--replicas",
            &replicas,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mut pods = None;
    assert!(
        eventually(Duration::from_secs(60), || {
            pods = running_pods(&server, REPLICAS);
            pods.is_some()
        }),
        "{REPLICAS} pods Running:\n{}",
        agents.log()
    );
    let pods = pods.unwrap();
    assert_eq!(ready_nodes(&server), NODES);

    let seen = watch_deployments(&server);
    assert!(
        eventually(Duration::from_secs(10), || seen
            .lock()
            .unwrap()
            .contains(&"restarted 1".to_string())),
        "the watcher lists: {:?}",
        seen.lock().unwrap()
    );
    // Let the controllers' last status writes land before taking stock.
    std::thread::sleep(Duration::from_secs(2));
    let before = identities(&server, &STILL_KINDS);
    let nodes_before = identities(&server, &["nodes"]);
    assert!(before.keys().any(|k| k.starts_with("replicasets/")));

    let old_pid = server.pid();
    server.restart().expect("the server restarts");
    assert_ne!(server.pid(), old_pid);
    let events_at_restart = seen.lock().unwrap().len();

    // Nothing lost, nothing rewritten.
    let after = identities(&server, &STILL_KINDS);
    assert_eq!(after, before, "objects after the restart");
    // Nodes keep their uids (their status moves on with heartbeats).
    let uids = |m: &BTreeMap<String, (String, String)>| -> Vec<(String, String)> {
        m.iter()
            .map(|(k, (uid, _))| (k.clone(), uid.clone()))
            .collect()
    };
    assert_eq!(uids(&identities(&server, &["nodes"])), uids(&nodes_before));

    // The agents reconnect: their Nodes renew and stay Ready across a few
    // lease durations (lab profile: 4 s), and the pods keep running.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        ready_nodes(&server),
        NODES,
        "Nodes Ready after the restart:\n{}",
        agents.log()
    );
    assert_eq!(running_pods(&server, REPLICAS).as_ref(), Some(&pods));
    let lease_renewed = items(&get_json(
        &server,
        &["get", "leases", "-n", "kube-node-lease", "-o", "json"],
    ))
    .iter()
    .all(|l| {
        let renewed = str_at(l, "/spec/renewTime");
        chrono_age_secs(renewed).is_some_and(|age| age < 4.0)
    });
    assert!(
        lease_renewed,
        "every node's Lease renewed after the restart"
    );

    // A change after the restart reaches the watcher opened before it.
    let (code, _, err) = skiff(
        &server.kubeconfig,
        &["scale", "deployment", "nginx-deployment", "--replicas", "5"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        eventually(Duration::from_secs(20), || seen.lock().unwrap()
            [events_at_restart..]
            .contains(&"applied 5".to_string())),
        "the watcher sees the scale after the restart: {:?}",
        seen.lock().unwrap()
    );
    // And the controllers act on it, around the pods that were there.
    let mut scaled = None;
    assert!(
        eventually(Duration::from_secs(30), || {
            scaled = running_pods(&server, 5);
            scaled.is_some()
        }),
        "5 pods Running after scaling:\n{}",
        server.log()
    );
    let scaled = scaled.unwrap();
    for (name, id) in &pods {
        assert_eq!(scaled.get(name), Some(id), "pod {name} kept");
    }
    // It resumed from its resourceVersion: no second list was needed.
    let since_restart = seen.lock().unwrap()[events_at_restart..].to_vec();
    assert!(
        !since_restart.iter().any(|e| e.starts_with("restarted")),
        "the watcher resumed without listing again: {since_restart:?}"
    );

    // Logs and exec still reach the agents through the restarted server.
    let (name, _) = pods.iter().next().unwrap();
    let (code, out, err) = skiff(&server.kubeconfig, &["exec", name, "--", "echo", "back"]);
    assert_eq!((code, out.trim()), (0, "back"), "{err}");
    let (code, _, err) = skiff(&server.kubeconfig, &["logs", name]);
    assert_eq!(code, 0, "{err}");
}

/// Seconds since an RFC 3339 time with microseconds (a Lease's
/// `renewTime`), by the `date` command's clock.
fn chrono_age_secs(time: &str) -> Option<f64> {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", time, "+%s.%N"])
        .output()
        .ok()?;
    let then: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some(now - then)
}

#[test]
fn restart_with_sqlite_loses_nothing() {
    scenario(StoreChoice::Sqlite);
}

#[test]
fn restart_with_etcd_loses_nothing() {
    let etcd = EtcdServer::start().expect("etcd starts");
    scenario(StoreChoice::Etcd {
        endpoint: etcd.endpoint(),
        prefix: "/skiff-e2e-restart".into(),
    });
}
