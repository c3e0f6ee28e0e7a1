//! The real kubectl (1.27, 1.33 and the `/usr/bin/kubectl` dispatcher, which
//! picks 1.32 by our `/version`) against a `skiff server` process, with
//! kubectl's default validation, on both stores.

use std::time::Duration;

use skiff_e2e::kubectl::{Kubectl, wait_for_line};
use skiff_e2e::manifest;
use skiff_e2e::server::{Server, StoreChoice};
use skiff_store::testing::EtcdServer;

const CHANGED_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
";

const NEGATIVE_REPLICAS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  replicas: -1
  selector:
    matchLabels:
      app: bad
  template:
    metadata:
      labels:
        app: bad
    spec:
      containers:
      - name: c
        image: busybox
";

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: watched
  labels:
    app: watched
spec:
  containers:
  - name: c
    image: busybox
";

/// The user story of the API server issue, step by step, with one kubectl.
fn scenario(version: &str, store: StoreChoice) {
    let server = Server::start(store).expect("server starts");
    let k = Kubectl::new(version, &server.kubeconfig);
    let deploy = manifest("nginx-deployment.yaml");
    let deploy = deploy.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // apply: created, unchanged, configured.
    let out = k.run(&["apply", "-f", deploy]).ok();
    assert_eq!(
        out.stdout.trim(),
        "deployment.apps/nginx-deployment created"
    );
    let out = k.run(&["apply", "-f", deploy]).ok();
    assert_eq!(
        out.stdout.trim(),
        "deployment.apps/nginx-deployment unchanged"
    );
    let changed = dir.path().join("changed.yaml");
    std::fs::write(&changed, CHANGED_DEPLOYMENT).unwrap();
    let out = k.run(&["apply", "-f", changed.to_str().unwrap()]).ok();
    assert_eq!(
        out.stdout.trim(),
        "deployment.apps/nginx-deployment configured"
    );
    let stored: serde_json::Value = serde_json::from_str(
        &k.run(&["get", "deploy", "nginx-deployment", "-o", "json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(stored["spec"]["replicas"], 3);
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(stored["metadata"]["generation"], 2);

    // get: the usual columns; -o yaml.
    let out = k.run(&["get", "deploy"]).ok();
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(
        out.stdout.contains("nginx-deployment   0/3"),
        "{}",
        out.stdout
    );
    let out = k.run(&["get", "deploy", "-o", "wide"]).ok();
    assert!(out.stdout.contains("CONTAINERS"), "{}", out.stdout);
    assert!(out.stdout.contains("app=nginx"), "{}", out.stdout);
    let out = k
        .run(&["get", "deploy", "nginx-deployment", "-o", "yaml"])
        .ok();
    assert!(out.stdout.contains("kind: Deployment"), "{}", out.stdout);
    assert!(out.stdout.contains("replicas: 3"), "{}", out.stdout);

    // scale, and scale guarded by --current-replicas.
    let out = k
        .run(&["scale", "deploy", "nginx-deployment", "--replicas=5"])
        .ok();
    assert_eq!(out.stdout.trim(), "deployment.apps/nginx-deployment scaled");
    let out = k
        .run(&[
            "scale",
            "deploy/nginx-deployment",
            "--current-replicas=5",
            "--replicas=4",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), "deployment.apps/nginx-deployment scaled");
    let out = k
        .run(&[
            "scale",
            "deploy/nginx-deployment",
            "--current-replicas=7",
            "--replicas=1",
        ])
        .failed();
    assert!(
        out.stderr.contains("Expected replicas to be 7, was 4"),
        "{}",
        out.stderr
    );
    let out = k
        .run(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .ok();
    assert_eq!(out.stdout, "4");

    // The Service: defaults and allocations shown in the usual columns.
    let svc = manifest("nginx-service.yaml");
    let out = k.run(&["apply", "-f", svc.to_str().unwrap()]).ok();
    assert_eq!(out.stdout.trim(), "service/nginx-service created");
    let out = k.run(&["get", "svc", "nginx-service"]).ok();
    let row = out.stdout.lines().nth(1).unwrap().to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[0], "nginx-service");
    assert_eq!(cells[1], "LoadBalancer");
    assert!(cells[2].starts_with("10."), "{row}");
    assert_eq!(cells[3], "<pending>");
    assert!(
        cells[4].starts_with("80:3") && cells[4].ends_with("/TCP"),
        "{row}"
    );

    // get pods -w prints a change.
    let (_watch, lines) = k.spawn_lines(&["get", "pods", "-w"]);
    std::thread::sleep(Duration::from_millis(500));
    let out = k.run_with_stdin(&["apply", "-f", "-"], Some(POD)).ok();
    assert_eq!(out.stdout.trim(), "pod/watched created");
    assert!(
        wait_for_line(&lines, "watched", Duration::from_secs(20)).is_some(),
        "get pods -w never printed the new pod"
    );

    // api-resources lists the kinds, with short names.
    let out = k.run(&["api-resources"]).ok();
    for needle in [
        "deployments",
        "deploy",
        "replicasets",
        "pods",
        "po",
        "services",
        "svc",
    ] {
        assert!(
            out.stdout.split_whitespace().any(|w| w == needle),
            "api-resources lacks {needle}:\n{}",
            out.stdout
        );
    }

    // Errors read as with a real cluster.
    let out = k.run(&["get", "deploy", "missing"]).failed();
    assert_eq!(
        out.stderr.trim(),
        "Error from server (NotFound): deployments.apps \"missing\" not found"
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, NEGATIVE_REPLICAS).unwrap();
    let out = k.run(&["apply", "-f", bad.to_str().unwrap()]).failed();
    assert!(
        out.stderr.contains(
            "The Deployment \"bad\" is invalid: spec.replicas: Invalid value: -1: \
             must be greater than or equal to 0"
        ),
        "{}",
        out.stderr
    );
    let out = k.run(&["get", "deploy", "bad"]).failed();
    assert!(out.stderr.contains("NotFound"), "{}", out.stderr);

    // delete -f returns once the object is gone.
    let out = k.run(&["delete", "-f", deploy]).ok();
    assert_eq!(
        out.stdout.trim(),
        "deployment.apps \"nginx-deployment\" deleted"
    );
    k.run(&["get", "deploy", "nginx-deployment"]).failed();
    drop(server);
}

#[test]
fn kubectl_1_27_sqlite() {
    scenario("1.27", StoreChoice::Sqlite);
}

#[test]
fn kubectl_1_33_sqlite() {
    scenario("1.33", StoreChoice::Sqlite);
}

#[test]
fn kubectl_dispatcher_sqlite() {
    scenario("dispatcher", StoreChoice::Sqlite);
}

#[test]
fn kubectl_1_33_etcd() {
    let etcd = EtcdServer::start().expect("etcd starts");
    scenario(
        "1.33",
        StoreChoice::Etcd {
            endpoint: etcd.endpoint(),
            prefix: "/skiff-e2e".into(),
        },
    );
}
