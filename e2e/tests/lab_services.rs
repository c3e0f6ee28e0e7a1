//! Issue 5's whole-cluster scenario, as root: a 3-node `skiff lab`, the real
//! nginx image (Debian packages) and a busybox httpd image loaded into the
//! lab's registry, the seed's Deployment and Service applied unchanged with
//! kubectl 1.33 over TLS. From a pod on the third node: the ClusterIP, the
//! Service's DNS name, the NodePort and the LoadBalancer address answer;
//! scaling moves the endpoints; a readiness-gated rolling update drops no
//! request; a killed agent's containers keep serving and are adopted; a
//! node cut off and stopped loses its pods to the others and its endpoints;
//! `lab down` leaves no netns, mount, cgroup or process.

use std::collections::BTreeSet;
use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_container::cgroups::Cgroups;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::lab::{Lab, build_busybox_image, build_nginx_image, http_get_script};
use skiff_e2e::{eventually, manifest};

const NGINX_PAGE: &str = "hello from skiff nginx";
const BUSYBOX_PAGE: &str = "hello from skiff busybox";
/// The busybox httpd image, under a name of its own (the rollout's target).
const HELLO_IMAGE: &str = "docker.io/library/hello:v2";

struct Cluster {
    lab: Lab,
    kubectl: Kubectl,
}

impl Cluster {
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.kubectl.run(&all).ok();
        serde_json::from_str(&out.stdout).expect("kubectl -o json")
    }

    /// Pods with `app=APP` that are Running, Ready and not terminating.
    fn serving_pods(&self, app: &str) -> Vec<Value> {
        let label = format!("app={app}");
        self.json(&["get", "pods", "-l", &label])["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["phase"] == "Running"
                    && p["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .collect()
    }

    /// The addresses in a Service's Endpoints.
    fn endpoint_ips(&self, service: &str) -> BTreeSet<String> {
        let ep = self.json(&["get", "endpoints", service]);
        ep["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["ip"].as_str().map(str::to_string))
            .collect()
    }

    /// N GETs of ADDR:PORT from the client pod (busybox nc: Debian's static
    /// busybox wget crashes): how many answered with `page`.
    fn pod_requests(&self, n: u32, addr: &str, port: u16, page: &str) -> u32 {
        let script = format!(
            "ok=0; for i in $(seq {n}); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {addr} {port} | grep -q '{page}' && ok=$((ok+1)); done; echo $ok"
        );
        let out = self
            .kubectl
            .run(&["exec", "client", "--", "sh", "-c", &script]);
        if out.code != 0 {
            eprintln!("exec client: {}{}", out.stdout, out.stderr);
            return 0;
        }
        out.stdout.trim().parse().unwrap_or(0)
    }

    /// Waits until every one of N requests answers with `page`.
    #[track_caller]
    fn all_answer(&self, what: &str, addr: &str, port: u16, page: &str, limit: Duration) {
        let done = eventually(limit, || self.pod_requests(5, addr, port, page) == 5);
        assert!(
            done,
            "{what} ({addr}:{port}) did not answer\n{}",
            self.lab.log_tails()
        );
    }

    fn node_of(pod: &Value) -> String {
        pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn write(lab: &Lab, file: &str, text: &str) -> String {
    let path = lab.tmp().join(file);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn client_pod(node: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: hello:v2
    command: [sleep, "3600"]
"#
    )
}

/// A Deployment of nginx gated by a readiness probe, and its Service.
const ROLL: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: roll
spec:
  replicas: 2
  selector:
    matchLabels: {app: roll}
  template:
    metadata:
      labels: {app: roll}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: nginx:latest
        ports:
        - containerPort: 80
        readinessProbe:
          httpGet: {path: /, port: 80}
          periodSeconds: 1
        # Time for every node's proxy to drop the endpoint before nginx stops.
        lifecycle:
          preStop:
            sleep: {seconds: 2}
---
apiVersion: v1
kind: Service
metadata:
  name: roll
spec:
  selector: {app: roll}
  ports:
  - port: 80
    targetPort: 80
"#;

/// A loop of GETs through ADDR:80 from NODE's netns until `stop` exists:
/// prints "<nginx answers> <busybox answers> <failures>".
fn request_loop(addr: &str, stop: &str) -> String {
    let get = http_get_script(addr, 80);
    format!(
        r#"n=0; b=0; f=0
while [ ! -e {stop} ]; do
  page=$(timeout 2 bash -c "{get}" 2>/dev/null)
  case "$page" in
    *"{NGINX_PAGE}"*) n=$((n+1)) ;;
    *"{BUSYBOX_PAGE}"*) b=$((b+1)) ;;
    *) f=$((f+1)) ;;
  esac
  sleep 0.02
done
echo "$n $b $f""#
    )
}

#[test]
fn the_seed_nginx_is_served_across_three_nodes_through_its_service() {
    let started = Instant::now();
    let lab = Lab::up(3);
    eprintln!("lab up: {:.1}s", lab.up_time.as_secs_f64());
    let kubeconfig = std::fs::read_to_string(lab.kubeconfig()).unwrap();
    assert!(kubeconfig.contains("https://127.0.0.1:"), "{kubeconfig}");
    assert!(
        kubeconfig.contains("certificate-authority-data"),
        "{kubeconfig}"
    );
    assert!(kubeconfig.contains("token"), "{kubeconfig}");
    let kubectl = Kubectl::new("1.33", &lab.kubeconfig());
    let c = Cluster { lab, kubectl };
    let lab = &c.lab;

    let nginx = build_nginx_image(lab.tmp());
    assert!(lab.load(&nginx).contains("nginx:latest"));
    let hello = build_busybox_image(lab.tmp(), HELLO_IMAGE);
    assert!(lab.load(&hello).contains("hello:v2"));

    // The seed, unchanged, with kubectl over TLS.
    let deployment = manifest("nginx-deployment.yaml");
    let service = manifest("nginx-service.yaml");
    c.kubectl
        .run(&[
            "apply",
            "-f",
            deployment.to_str().unwrap(),
            "-f",
            service.to_str().unwrap(),
        ])
        .ok();
    let rollout = c.kubectl.run(&[
        "rollout",
        "status",
        "deploy/nginx-deployment",
        "--timeout=90s",
    ]);
    assert_eq!(rollout.code, 0, "{rollout:?}\n{}", lab.log_tails());
    let pods = c.serving_pods("nginx");
    assert_eq!(pods.len(), 2, "{pods:#?}");
    let nodes: BTreeSet<String> = pods.iter().map(Cluster::node_of).collect();
    assert_eq!(nodes.len(), 2, "both nginx pods on one node: {nodes:?}");
    let third = (1..=3)
        .map(|n| format!("node{n}"))
        .find(|n| !nodes.contains(n))
        .unwrap();

    // A client pod on the third node.
    let client = write(lab, "client.yaml", &client_pod(&third));
    c.kubectl.run(&["apply", "-f", &client]).ok();
    c.kubectl
        .run(&[
            "wait",
            "pod/client",
            "--for=condition=Ready",
            "--timeout=60s",
        ])
        .ok();

    let svc = c.json(&["get", "svc", "nginx-service"]);
    let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
    c.all_answer(
        "the ClusterIP",
        &cluster_ip,
        80,
        NGINX_PAGE,
        Duration::from_secs(20),
    );
    c.all_answer(
        "the Service's name",
        "nginx-service.default.svc.cluster.local",
        80,
        NGINX_PAGE,
        Duration::from_secs(10),
    );
    let lookup = c
        .kubectl
        .run(&[
            "exec",
            "client",
            "--",
            "nslookup",
            "nginx-service.default.svc.cluster.local",
        ])
        .ok();
    assert!(lookup.stdout.contains(&cluster_ip), "{lookup:?}");
    let resolv = c
        .kubectl
        .run(&["exec", "client", "--", "cat", "/etc/resolv.conf"])
        .ok();
    assert!(
        resolv.stdout.contains("default.svc.cluster.local"),
        "{resolv:?}"
    );
    // The short name through the search path; a name outside the cluster
    // fails cleanly and at once.
    c.all_answer(
        "the Service's short name",
        "nginx-service",
        80,
        NGINX_PAGE,
        Duration::from_secs(10),
    );
    let asked = Instant::now();
    let outside = c
        .kubectl
        .run(&["exec", "client", "--", "nslookup", "skiff-nowhere.example."]);
    assert_ne!(outside.code, 0, "{outside:?}");
    assert!(asked.elapsed() < Duration::from_secs(5), "{outside:?}");
    for node_ip in ["10.250.0.1", "10.250.0.2", "10.250.0.3"] {
        c.all_answer(
            "the NodePort",
            node_ip,
            node_port,
            NGINX_PAGE,
            Duration::from_secs(10),
        );
    }
    // LoadBalancer: the node addresses as ingress IPs, shown as EXTERNAL-IP, and served.
    let external = eventually(Duration::from_secs(20), || {
        let row = c
            .kubectl
            .run(&["get", "svc", "nginx-service", "--no-headers"])
            .ok()
            .stdout;
        row.split_whitespace()
            .nth(3)
            .is_some_and(|ip| ip.starts_with("10.250.0."))
    });
    assert!(
        external,
        "no EXTERNAL-IP: {:?}",
        c.kubectl.run(&["get", "svc"])
    );
    let svc = c.json(&["get", "svc", "nginx-service"]);
    let ingress = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    c.all_answer(
        "the LoadBalancer IP",
        &ingress,
        80,
        NGINX_PAGE,
        Duration::from_secs(10),
    );
    eprintln!("seed served: {:.1}s", started.elapsed().as_secs_f64());

    // Scale to 6 and back to 1: the endpoints follow, requests keep answering.
    for replicas in [6usize, 1, 2] {
        let flag = format!("--replicas={replicas}");
        c.kubectl
            .run(&["scale", "deploy/nginx-deployment", &flag])
            .ok();
        let followed = eventually(Duration::from_secs(60), || {
            let serving: BTreeSet<String> = c
                .serving_pods("nginx")
                .iter()
                .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
                .collect();
            serving.len() == replicas && c.endpoint_ips("nginx-service") == serving
        });
        assert!(
            followed,
            "endpoints did not follow {replicas} replicas: {:?}\n{}",
            c.endpoint_ips("nginx-service"),
            lab.log_tails()
        );
        assert_eq!(
            c.pod_requests(8, &cluster_ip, 80, NGINX_PAGE),
            8,
            "at {replicas} replicas"
        );
    }
    eprintln!("scaled: {:.1}s", started.elapsed().as_secs_f64());

    // A readiness-gated rolling update to the busybox image, under a loop of requests.
    let roll = write(lab, "roll.yaml", ROLL);
    c.kubectl.run(&["apply", "-f", &roll]).ok();
    c.kubectl
        .run(&["rollout", "status", "deploy/roll", "--timeout=60s"])
        .ok();
    let roll_ip = c.json(&["get", "svc", "roll"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        eventually(Duration::from_secs(10), || lab
            .http_get(&third, &roll_ip, 80)
            .is_some_and(|p| p.contains(NGINX_PAGE))),
        "roll's ClusterIP does not answer"
    );
    let stop = lab.tmp().join("stop-requests");
    let mut requests = lab.spawn_exec(
        &third,
        &[
            "bash",
            "-c",
            &request_loop(&roll_ip, stop.to_str().unwrap()),
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    c.kubectl
        .run(&["set", "image", "deploy/roll", "web=hello:v2"])
        .ok();
    let rolled = c
        .kubectl
        .run(&["rollout", "status", "deploy/roll", "--timeout=90s"]);
    // Old pods may still be draining: keep the loop a little longer.
    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(&stop, "").unwrap();
    let status = requests.wait().unwrap();
    let mut counts = String::new();
    requests
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut counts)
        .unwrap();
    assert_eq!(rolled.code, 0, "{rolled:?}\n{}", lab.log_tails());
    assert!(status.success(), "request loop: {counts}");
    let counts: Vec<u32> = counts
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    eprintln!("rollout requests (nginx, busybox, failed): {counts:?}");
    assert_eq!(counts.len(), 3);
    assert!(
        counts[0] > 0 && counts[1] > 0,
        "the loop did not see both versions: {counts:?}"
    );
    assert_eq!(
        counts[2], 0,
        "requests failed during the rollout: {counts:?}"
    );
    eprintln!("rolled: {:.1}s", started.elapsed().as_secs_f64());

    // Fault 1: an agent SIGKILLed; its container keeps serving, then is adopted.
    let pods = c.serving_pods("nginx");
    let victim_pod = pods
        .iter()
        .find(|p| Cluster::node_of(p) != third)
        .unwrap_or_else(|| panic!("no nginx pod off {third}: {pods:#?}"))
        .clone();
    let victim = Cluster::node_of(&victim_pod);
    let victim_ip = victim_pod["status"]["podIP"].as_str().unwrap().to_string();
    let victim_uid = victim_pod["metadata"]["uid"].clone();
    lab.ok("kill", &[&victim]);
    assert_eq!(
        c.pod_requests(3, &victim_ip, 80, NGINX_PAGE),
        3,
        "{victim}'s pod stopped serving with its agent"
    );
    lab.ok("start", &[&victim]);
    let adopted = eventually(Duration::from_secs(30), || {
        let same = c
            .serving_pods("nginx")
            .into_iter()
            .find(|p| p["metadata"]["uid"] == victim_uid);
        same.is_some_and(|p| p["status"]["containerStatuses"][0]["restartCount"] == 0)
            && c.kubectl
                .run(&["get", "node", &victim, "--no-headers"])
                .stdout
                .contains(" Ready ")
    });
    assert!(
        adopted,
        "{victim}'s pod was not adopted\n{}",
        lab.log_tails()
    );
    assert_eq!(c.pod_requests(3, &victim_ip, 80, NGINX_PAGE), 3);

    // Fault 2: the victim node cut off and its agent stopped: its pod is
    // replaced on another node and the Service drops the dead endpoint.
    let cut = Instant::now();
    lab.ok("link", &[&victim, "down"]);
    lab.ok("kill", &[&victim]);
    let moved = eventually(Duration::from_secs(60), || {
        let serving = c.serving_pods("nginx");
        let ips: BTreeSet<String> = serving
            .iter()
            .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
            .collect();
        serving.len() == 2
            && serving.iter().all(|p| Cluster::node_of(p) != victim)
            && c.endpoint_ips("nginx-service") == ips
    });
    assert!(
        moved,
        "pods not rescheduled off {victim}: {:?}\n{}",
        c.kubectl.run(&["get", "pods", "-o", "wide"]).stdout,
        lab.log_tails()
    );
    eprintln!(
        "{victim} down -> pods moved, endpoints updated: {:.1}s",
        cut.elapsed().as_secs_f64()
    );
    assert!(!c.endpoint_ips("nginx-service").contains(&victim_ip));
    assert_eq!(
        c.pod_requests(8, &cluster_ip, 80, NGINX_PAGE),
        8,
        "after {victim} went down"
    );

    eprintln!("scenario: {:.1}s", started.elapsed().as_secs_f64());
    // Down, with a node cut off and pods stuck terminating on it: nothing left.
    let dir = lab.dir();
    let prefix = format!("skiff-{}-", lab.name);
    c.lab.ok("down", &[]);
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let netns = String::from_utf8_lossy(&netns.stdout);
    assert!(!netns.contains(&prefix), "{netns}");
    assert!(!dir.exists(), "{} is left", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(dir.to_str().unwrap()),
        "mounts left: {mounts}"
    );
    let cgroups = Cgroups::detect().unwrap();
    for n in 1..=3 {
        let parent = format!("{prefix}node{n}");
        assert!(!cgroups.exists(&parent), "cgroup {parent} is left");
    }
    assert_eq!(
        processes_mentioning(dir.to_str().unwrap()),
        Vec::<String>::new()
    );
}

/// Processes whose command line names `needle` (the lab's directory).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            found.push(format!("{pid}: {text}"));
        }
    }
    found
}
