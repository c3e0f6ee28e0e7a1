//! `skiff lab` end to end, as root: two nodes as network namespaces, the
//! busybox image loaded into the lab's registry (the nodes' docker.io
//! mirror), a Deployment spread over both nodes, a pod on node1 reaching a
//! pod on node2 by its IP with its own source address (routes, no NAT),
//! `lab exec`, and `lab down` leaving no netns, mount, cgroup or process.
//! The host's network is never touched: everything network-shaped lives in
//! the lab's namespaces.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_container::cgroups::Cgroups;

const BIN: &str = env!("CARGO_BIN_EXE_skiff");

/// One lab of this test: unique name, its own directory; `lab down` on drop.
struct Lab {
    name: String,
    tmp: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            name: format!("test{}", std::process::id()),
            tmp: tempfile::Builder::new()
                .prefix("skiff-lab-test")
                .tempdir()
                .unwrap(),
        }
    }

    fn base(&self) -> PathBuf {
        self.tmp.path().join("labs")
    }

    fn dir(&self) -> PathBuf {
        self.base().join(&self.name)
    }

    fn kubeconfig(&self) -> PathBuf {
        self.tmp.path().join("kubeconfig")
    }

    /// `skiff lab SUB --name N --dir D ARGS...`
    fn lab(&self, sub: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(["lab", sub, "--name", &self.name, "--dir"])
            .arg(self.base())
            .args(args);
        cmd.output().unwrap()
    }

    /// `skiff ARGS` against the lab, must succeed.
    fn skiff(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skiff {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pods(&self) -> Vec<Value> {
        let json: Value =
            serde_json::from_str(&self.skiff(&["get", "pods", "-o", "json"])).unwrap();
        json["items"].as_array().cloned().unwrap_or_default()
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.dir().join("logs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = body.lines().collect();
            text += &format!("--- {}\n", entry.path().display());
            text += &lines[lines.len().saturating_sub(15)..].join("\n");
            text += "\n";
        }
        text
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.dir().exists() {
            let out = self.lab("down", &[]);
            if !out.status.success() {
                eprintln!(
                    "cleanup: lab down: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// More than half of this machine's memory: two such pods never share a node.
fn half_the_memory_and_more() -> String {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    format!("{}Ki", kib * 6 / 10)
}

fn deployment() -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:latest
        resources:
          requests:
            memory: {}
        ports:
        - containerPort: 80
"#,
        half_the_memory_and_more()
    )
}

/// A pod on node1 fetching the page of `target` (a pod IP on node2) in a
/// loop (busybox's nc: Debian's static busybox wget crashes).
fn client_pod(target: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: wget
    image: busybox:latest
    command:
    - sh
    - -c
    - while true; do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 {target} 80; sleep 0.3; done
"#
    )
}

fn netns_names() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_nft_tables() -> String {
    Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(&needle) {
            found.push(format!("{pid}: {text}"));
        }
    }
    found
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_two_node_lab_routes_pods_across_nodes_and_leaves_nothing() {
    let started = Instant::now();
    let nft_before = host_nft_tables();
    let lab = Lab::new();
    let kubeconfig = lab.kubeconfig().to_string_lossy().into_owned();
    let up = lab.lab(
        "up",
        &[
            "--nodes",
            "2",
            "--timeout",
            "40",
            "--write-kubeconfig",
            &kubeconfig,
        ],
    );
    let text = ok(&up, "lab up");
    assert!(text.contains(&kubeconfig), "{text}");
    // A second lab of the same name is refused.
    let again = lab.lab("up", &["--nodes", "1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let nodes = lab.skiff(&["get", "nodes", "--no-headers"]);
    assert_eq!(nodes.matches(" Ready ").count(), 2, "{nodes}");
    let names = netns_names();
    for ns in ["br", "node1", "node2"] {
        assert!(
            names.contains(&format!("skiff-{}-{ns}", lab.name)),
            "{names}"
        );
    }
    ok(&lab.lab("status", &[]), "lab status");

    // The busybox image, under its own name, through the lab's registry.
    let oci = lab.tmp.path().join("busybox-oci");
    let script = format!(
        "{}/../image/scripts/make-busybox-oci.sh",
        env!("CARGO_MANIFEST_DIR")
    );
    let made = Command::new("bash")
        .arg(&script)
        .arg(&oci)
        .output()
        .unwrap();
    ok(&made, "make-busybox-oci.sh");
    let loaded = ok(&lab.lab("load", &[oci.to_str().unwrap()]), "lab load");
    assert!(loaded.contains("library/busybox:latest"), "{loaded}");

    let manifest = lab.tmp.path().join("web.yaml");
    std::fs::write(&manifest, deployment()).unwrap();
    lab.skiff(&["apply", "-f", manifest.to_str().unwrap()]);
    let out = Command::new(BIN)
        .args([
            "--kubeconfig",
            &kubeconfig,
            "rollout",
            "status",
            "deploy/web",
            "--timeout=40s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rollout: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        lab.logs()
    );
    let pods = lab.pods();
    let on = |node: &str| {
        pods.iter()
            .find(|p| p["spec"]["nodeName"] == node)
            .cloned()
            .unwrap_or_else(|| panic!("no web pod on {node}: {pods:#?}"))
    };
    let web2 = on("node2");
    let web2_ip = web2["status"]["podIP"].as_str().unwrap().to_string();
    let web2_name = web2["metadata"]["name"].as_str().unwrap().to_string();
    assert!(on("node1")["status"]["podIP"].as_str().is_some());

    // From node1's netns itself (the host's bash, run there by lab exec).
    let get = format!(
        "exec 3<>/dev/tcp/{web2_ip}/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 3 cat <&3"
    );
    let fetched = lab.lab("exec", &["node1", "--", "bash", "-c", &get]);
    assert!(
        ok(&fetched, "lab exec bash /dev/tcp").contains("hello from skiff busybox"),
        "{fetched:?}"
    );
    // lab exec passes the exit status on.
    let status = lab.lab("exec", &["node2", "--", "sh", "-c", "exit 3"]);
    assert_eq!(status.status.code(), Some(3));

    // A pod on node1 reaches the pod on node2 with its own IP as source.
    let client = lab.tmp.path().join("client.yaml");
    std::fs::write(&client, client_pod(&web2_ip)).unwrap();
    lab.skiff(&["apply", "-f", client.to_str().unwrap()]);
    let client_ip = wait_for("the client pod's IP", Duration::from_secs(20), || {
        let pods = lab.pods();
        let c = pods.iter().find(|p| p["metadata"]["name"] == "client")?;
        (c["status"]["phase"] == "Running")
            .then(|| c["status"]["podIP"].as_str().map(str::to_string))
            .flatten()
    });
    assert!(client_ip.starts_with("10.244."), "{client_ip}");
    let log_dir = lab.dir().join("node2/agent/logs");
    wait_for(
        "node2's httpd to log a request from the client pod's IP",
        Duration::from_secs(20),
        || {
            let logs: String = std::fs::read_dir(&log_dir)
                .ok()?
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(&web2_name))
                .map(|e| std::fs::read_to_string(e.path().join("httpd/0.log")).unwrap_or_default())
                .collect();
            logs.contains(&format!("{client_ip}]:")).then_some(())
        },
    );

    // Faults: the agent of node2 killed, its container keeps serving; a
    // new agent adopts it (same pod, no restart).
    ok(&lab.lab("kill", &["node2"]), "lab kill");
    let page = lab.lab("exec", &["node1", "--", "bash", "-c", &get]);
    assert!(ok(&page, "fetch while node2's agent is down").contains("hello from skiff busybox"));
    ok(&lab.lab("start", &["node2"]), "lab start");
    wait_for(
        "node2's agent to adopt its pod",
        Duration::from_secs(20),
        || {
            let nodes = lab.skiff(&["get", "nodes", "--no-headers"]);
            let pods = lab.pods();
            let same = pods
                .iter()
                .find(|p| p["metadata"]["name"] == web2_name.as_str())?;
            let restarts = same["status"]["containerStatuses"][0]["restartCount"].as_i64();
            (nodes.matches(" Ready ").count() == 2 && restarts == Some(0)).then_some(())
        },
    );
    // node2's cable cut: node1 no longer reaches its pod; plugged back: it does.
    ok(&lab.lab("link", &["node2", "down"]), "lab link down");
    let cut = lab.lab("exec", &["node1", "--", "timeout", "2", "bash", "-c", &get]);
    assert!(!cut.status.success(), "reached node2 through a cut link");
    ok(&lab.lab("link", &["node2", "up"]), "lab link up");
    wait_for("node2 reachable again", Duration::from_secs(10), || {
        lab.lab("exec", &["node1", "--", "bash", "-c", &get])
            .status
            .success()
            .then_some(())
    });

    let cgroup_parents: Vec<String> = (1..=2)
        .map(|n| format!("skiff-{}-node{n}", lab.name))
        .collect();
    let down = ok(&lab.lab("down", &[]), "lab down");
    assert!(down.contains("is down"), "{down}");
    let names = netns_names();
    assert!(!names.contains(&format!("skiff-{}-", lab.name)), "{names}");
    assert_eq!(mounts_under(&lab.dir()), Vec::<String>::new());
    assert!(!lab.dir().exists());
    let cgroups = Cgroups::detect().unwrap();
    for p in &cgroup_parents {
        assert!(!cgroups.exists(p), "cgroup {p} is left");
    }
    assert_eq!(processes_mentioning(&lab.dir()), Vec::<String>::new());
    assert_eq!(host_nft_tables(), nft_before, "the host's nftables changed");
    // Down again: nothing to do, said clearly.
    let again = lab.lab("down", &[]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not up"));
    assert!(started.elapsed() < Duration::from_secs(90));
}
