//! `skiff up` end to end, as root, inside a network namespace of the
//! test's own: a busybox Deployment of 2 replicas runs as real containers
//! with pod IPs that answer HTTP; Ctrl-C leaves the containers running and
//! a second `skiff up` adopts them; deleting the Deployment leaves no
//! cgroup, mount or IP behind.

mod node;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use node::{BIN, TestNode, enter_private_netns, http_get};
use serde_json::Value;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:latest
        imagePullPolicy: Never
        ports:
        - containerPort: 80
"#;

/// An emptyDir shared by two containers, filled from a configMap and a
/// secret (an item with its own path and mode 0400), served by httpd.
const VOLUMES: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: site
data:
  index.html: "from a configmap\n"
---
apiVersion: v1
kind: Secret
metadata:
  name: token
data:
  greeting: ZnJvbSBhIHNlY3JldAo=
---
apiVersion: v1
kind: Pod
metadata:
  name: vols
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shared
    emptyDir: {}
  - name: site
    configMap:
      name: site
  - name: token
    secret:
      secretName: token
      items:
      - key: greeting
        path: sub/greeting
        mode: 256
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: Never
    command: [httpd, -f, -p, "80", -h, /shared]
    volumeMounts:
    - name: shared
      mountPath: /shared
  - name: writer
    image: busybox:latest
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - >-
      cat /site/index.html /token/sub/greeting > /shared/tmp;
      stat -c 'mode %a' /token/sub/greeting >> /shared/tmp;
      touch /site/x 2>/dev/null || echo read-only >> /shared/tmp;
      mv /shared/tmp /shared/index.html; exec sleep 3600
    volumeMounts:
    - name: shared
      mountPath: /shared
    - name: site
      mountPath: /site
    - name: token
      mountPath: /token
"#;

/// A `skiff up` child; killed (not gracefully) if the test fails.
struct Up {
    child: Child,
    log: PathBuf,
}

impl Up {
    fn start(node: &TestNode, server_dir: &Path) -> Up {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::SeqCst);
        let log = node.dir.path().join(format!("up-{n}.log"));
        let child = Command::new(BIN)
            .args(["up", "--listen", "127.0.0.1:0", "--lab-profile"])
            .arg("--data-dir")
            .arg(server_dir)
            .arg("--root")
            .arg(node.root())
            .arg("--image-root")
            .arg(node.image_root())
            .args(["--cgroup-parent", &node.cgroup_parent])
            .args(["--cni-bridge", &node.bridge])
            .args(["--node-name", "up-node", "--cluster-cidr", "10.251.0.0/16"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting skiff up");
        Up { child, log }
    }

    /// Ctrl-C, and wait for it to finish.
    fn interrupt(mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "skiff up exited with {status}: {}",
                    self.log()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("skiff up did not stop on SIGINT: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skiff(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skiff {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `(name, podIP, restartCount)` of each Running and Ready pod whose name
/// starts with `prefix`.
fn running_pods(kubeconfig: &Path, prefix: &str) -> Vec<(String, String, i64)> {
    let list: Value =
        serde_json::from_str(&skiff(kubeconfig, &["get", "pods", "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["status"]["phase"] == "Running"
                && p["metadata"]["deletionTimestamp"].is_null()
                && p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["status"]["podIP"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["status"]["containerStatuses"][0]["restartCount"]
                    .as_i64()
                    .unwrap_or(-1),
            )
        })
        .collect()
}

fn wait_for<T>(what: &str, up: &Up, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; skiff up said:\n{}",
            up.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn answers(ip: &str) -> bool {
    page(ip).is_some_and(|body| body.contains("hello from skiff busybox"))
}

fn page(ip: &str) -> Option<String> {
    ip.parse().ok().and_then(|ip| http_get(ip, 80).ok())
}

#[test]
fn skiff_up_runs_a_deployment_of_real_containers() {
    enter_private_netns();
    let node = TestNode::new();
    let server_dir = node.dir.path().join("server");
    let kubeconfig = server_dir.join("kubeconfig");
    let manifest = node.dir.path().join("web.yaml");
    std::fs::write(&manifest, DEPLOYMENT).unwrap();

    let up = Up::start(&node, &server_dir);
    wait_for("the kubeconfig", &up, Duration::from_secs(30), || {
        kubeconfig.exists().then_some(())
    });
    wait_for("the node", &up, Duration::from_secs(30), || {
        let nodes = Command::new(BIN)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "node", "up-node"])
            .output()
            .ok()?;
        nodes.status.success().then_some(())
    });
    skiff(&kubeconfig, &["apply", "-f", manifest.to_str().unwrap()]);
    let pods = wait_for("2 running pods", &up, Duration::from_secs(60), || {
        let pods = running_pods(&kubeconfig, "web-");
        (pods.len() == 2 && pods.iter().all(|p| !p.1.is_empty())).then_some(pods)
    });
    for (name, ip, _) in &pods {
        assert!(ip.starts_with("10.251."), "pod {name} has IP {ip}");
        wait_for("HTTP from the pod", &up, Duration::from_secs(10), || {
            answers(ip).then_some(())
        });
    }

    // exec and logs through the API server and the agent's HTTP API.
    let (name, _, _) = &pods[0];
    let hostname = skiff(&kubeconfig, &["exec", name, "--", "cat", "/etc/hostname"]);
    assert_eq!(hostname, format!("{name}\n"));
    // The image's httpd runs with -v: one line per request, on stderr.
    let logs = skiff(&kubeconfig, &["logs", name]);
    eprintln!("logs of {name}:\n{logs}");
    assert!(logs.contains("response:200"), "{logs}");

    // Volumes: emptyDir shared by two containers, configMap and secret files.
    let volumes = node.dir.path().join("volumes.yaml");
    std::fs::write(&volumes, VOLUMES).unwrap();
    skiff(&kubeconfig, &["apply", "-f", volumes.to_str().unwrap()]);
    let vols = wait_for("the volumes pod", &up, Duration::from_secs(60), || {
        running_pods(&kubeconfig, "vols").pop()
    });
    let body = wait_for(
        "the page from the volumes",
        &up,
        Duration::from_secs(10),
        || page(&vols.1).filter(|b| b.contains("from a configmap")),
    );
    assert!(
        body.ends_with("from a configmap\nfrom a secret\nmode 400\nread-only\n"),
        "{body}"
    );
    skiff(&kubeconfig, &["delete", "pod", "vols"]);

    // Ctrl-C: the containers keep running; a second `skiff up` adopts them.
    up.interrupt();
    for (_, ip, _) in &pods {
        assert!(answers(ip), "pod {ip} stopped with the agent");
    }
    let up = Up::start(&node, &server_dir);
    std::thread::sleep(Duration::from_secs(3));
    let again = wait_for("the pods adopted", &up, Duration::from_secs(30), || {
        let now = running_pods(&kubeconfig, "web-");
        (now.len() == 2).then_some(now)
    });
    let mut before = pods.clone();
    let mut after = again.clone();
    before.sort();
    after.sort();
    assert_eq!(before, after, "same pods, same IPs, no restarts");
    assert!(after.iter().all(|p| p.2 == 0), "{after:?}");

    skiff(&kubeconfig, &["delete", "deployment", "web"]);
    wait_for("the pods gone", &up, Duration::from_secs(60), || {
        let list: Value =
            serde_json::from_str(&skiff(&kubeconfig, &["get", "pods", "-o", "json"])).unwrap();
        list["items"].as_array().unwrap().is_empty().then_some(())
    });
    wait_for("the node cleaned up", &up, Duration::from_secs(20), || {
        let sandboxes = std::fs::read_dir(node.root().join("sandboxes")).map_or(0, |d| d.count());
        (node.leftover_cgroups().is_empty()
            && node.leftover_ips().is_empty()
            && node.leftover_mounts().is_empty()
            && sandboxes == 0)
            .then_some(())
    });
    // With --nocapture: what the second `skiff up` said.
    eprintln!("{}", up.log());
    up.interrupt();
}
