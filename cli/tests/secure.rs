//! Secure join end to end: `skiff server --tls` (TLS forced on loopback),
//! the real kubectl and skiff over TLS with the kubeconfig's CA and admin
//! token, and a hollow agent joining with the K10 join token: it runs its
//! pods as `system:node:<name>`, may not touch anything else, and its name
//! cannot be taken over with the join token alone.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Background, Cluster, json, manifest};

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

fn kubectl(version: &str, home: &Path, kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(Path::new(KUBECTL_DIR).join(format!("kubectl.{version}")))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn server_url(cluster: &Cluster) -> String {
    skiff_client::Kubeconfig::read(&cluster.kubeconfig)
        .and_then(|k| k.resolve(None))
        .expect("the written kubeconfig")
        .server
}

fn join_token(cluster: &Cluster) -> String {
    std::fs::read_to_string(cluster.path().join("data").join("node-token"))
        .expect("the server writes node-token")
        .trim()
        .to_string()
}

fn cluster_admin_token(cluster: &Cluster) -> String {
    std::fs::read_to_string(cluster.path().join("data").join("admin-token"))
        .expect("the server writes admin-token")
        .trim()
        .to_string()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kubectl_and_skiff_over_tls_need_the_token() {
    let cluster = Cluster::start_with(&["--tls"]);
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    assert!(text.contains("server: https://127.0.0.1:"), "{text}");
    assert!(text.contains("certificate-authority-data:"), "{text}");
    assert!(text.contains("token:"), "{text}");

    cluster.skiff(&["get", "nodes"]).ok();
    let deployment = manifest("nginx-deployment.yaml");
    for version in ["1.27", "1.33"] {
        let home = cluster.path().join(format!("home-{version}"));
        let (code, out, err) = kubectl(version, &home, &cluster.kubeconfig, &["get", "nodes"]);
        assert_eq!(code, 0, "kubectl {version} get nodes: {out}{err}");
        let (code, out, err) = kubectl(
            version,
            &home,
            &cluster.kubeconfig,
            &["apply", "-f", &deployment],
        );
        assert_eq!(code, 0, "kubectl {version} apply: {out}{err}");
        assert!(out.contains("deployment.apps/nginx-deployment"), "{out}");
    }
    let got = cluster.skiff(&["get", "deployment", "nginx-deployment", "-o", "json"]);
    assert_eq!(json(got.ok())["metadata"]["name"], "nginx-deployment");

    // A wrong token: 401, in kubectl's words (with no token at all kubectl
    // would prompt for a user name instead).
    let wrong = cluster.path().join("wrong-token");
    let swap = |replacement: Option<&str>| -> String {
        text.lines()
            .filter_map(
                |l| match (l.trim_start().starts_with("token:"), replacement) {
                    (false, _) => Some(format!("{l}\n")),
                    (true, Some(r)) => Some(format!(
                        "{}token: {r}\n",
                        &l[..l.len() - l.trim_start().len()]
                    )),
                    (true, None) => None,
                },
            )
            .collect()
    };
    std::fs::write(&wrong, swap(Some("not-the-token"))).unwrap();
    let anonymous = cluster.path().join("no-token");
    std::fs::write(&anonymous, swap(None)).unwrap();
    for version in ["1.27", "1.33"] {
        let home = cluster.path().join(format!("home-wrong-{version}"));
        let (code, out, err) = kubectl(version, &home, &wrong, &["get", "nodes"]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            // 1.33: "(Unauthorized)"; 1.27 words the 401 of discovery.
            err.contains("error: You must be logged in to the server ("),
            "{err}"
        );
    }
    for kubeconfig in [&wrong, &anonymous] {
        let run = Command::new(BIN)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["get", "nodes"])
            .env("HOME", cluster.path())
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{err}");
        assert!(err.contains("(Unauthorized)"), "{err}");
    }
}

/// `skiff agent --hollow --nodes 1 --token ...` with its own root.
fn agent(cluster: &Cluster, root: &Path, token: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "agent",
        "--hollow",
        "--nodes",
        "1",
        "--name-prefix",
        "joined-",
    ])
    .args([
        "--lab-profile",
        "--server",
        &server_url(cluster),
        "--token",
        token,
    ])
    .arg("--root")
    .arg(root)
    .env("HOME", cluster.path())
    .env_remove("KUBECONFIG")
    .env("RUST_LOG", "info")
    .stdin(Stdio::null());
    cmd
}

#[test]
fn an_agent_joins_with_the_k10_token_and_stays_in_its_lane() {
    let cluster = Cluster::start_with(&["--tls"]);
    let token = join_token(&cluster);
    assert!(token.starts_with("K10"), "{token}");
    let root = cluster.path().join("agent-root");
    let log = std::fs::File::create(cluster.path().join("agent.log")).unwrap();
    let child = agent(&cluster, &root, &token)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut first = Background(child);
    let agent_log =
        || std::fs::read_to_string(cluster.path().join("agent.log")).unwrap_or_default();
    wait_until(
        "the joined node to be Ready",
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = first.0.try_wait() {
                panic!("the agent exited ({status}):\n{}", agent_log());
            }
            let got = cluster.skiff(&["get", "node", "joined-0", "-o", "json"]);
            got.code == 0
                && json(&got.stdout)["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
        },
    );

    // Its pods run: pod status is written with the node's identity.
    cluster
        .skiff(&["apply", "-f", &manifest("nginx-deployment.yaml")])
        .ok();
    wait_until(
        "2 pods Running on joined-0",
        Duration::from_secs(60),
        || {
            let got = cluster.skiff(&["get", "pods", "-o", "json"]);
            let pods = json(got.ok());
            let running = pods["items"].as_array().unwrap().iter().filter(|p| {
                p["spec"]["nodeName"] == "joined-0" && p["status"]["phase"] == "Running"
            });
            running.count() == 2
        },
    );

    // exec (WebSocket over TLS, token in the upgrade) and logs, by skiff and kubectl.
    let pods = json(cluster.skiff(&["get", "pods", "-o", "json"]).ok());
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let out = cluster.skiff(&["exec", &pod, "--", "echo", "over-tls"]);
    assert_eq!(out.ok().trim(), "over-tls");
    cluster.skiff(&["logs", &pod]).ok();
    let home = cluster.path().join("home-exec");
    let (code, out, err) = kubectl(
        "1.33",
        &home,
        &cluster.kubeconfig,
        &["exec", &pod, "--", "echo", "kubectl-over-tls"],
    );
    assert_eq!((code, out.trim()), (0, "kubectl-over-tls"), "{err}");
    // kubectl 1.27 execs over SPDY: the proxy's third way to the agent.
    let (code, out, err) = kubectl(
        "1.27",
        &home,
        &cluster.kubeconfig,
        &["exec", &pod, "--", "echo", "spdy-over-tls"],
    );
    assert_eq!((code, out.trim()), (0, "spdy-over-tls"), "{err}");
    let (code, out, err) = kubectl("1.33", &home, &cluster.kubeconfig, &["logs", &pod]);
    assert_eq!(code, 0, "kubectl logs: {out}{err}");

    // The agent's own port wants the server's proxy token, which the join
    // handed over and the agent keeps beside its credential.
    let proxy_token = std::fs::read_to_string(cluster.path().join("data").join("proxy-token"))
        .expect("the server writes proxy-token");
    let stored = root.join("proxy-token");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), proxy_token);
    let mode = std::os::unix::fs::PermissionsExt::mode(&stored.metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let node = json(
        cluster
            .skiff(&["get", "node", "joined-0", "-o", "json"])
            .ok(),
    );
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .unwrap();
    let stats = format!("http://127.0.0.1:{port}/stats/default/{pod}/nginx");
    let curl = |auth: Option<&str>| -> String {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-w", "\n%{http_code}"]);
        if let Some(token) = auth {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let out = cmd.arg(&stats).output().expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for auth in [
        None,
        Some("not-the-token"),
        Some(cluster_admin_token(&cluster).as_str()),
    ] {
        let out = curl(auth);
        assert!(out.ends_with("\n401"), "{auth:?}: {out}");
        assert!(out.contains("\"reason\":\"Unauthorized\""), "{out}");
    }
    let out = curl(Some(proxy_token.trim()));
    assert!(out.ends_with("\n200"), "{out}");

    // As the node: reads yes, anything beyond its own node and pods no.
    let credential = root.join("kubeconfig");
    let as_node = |args: &[&str]| {
        let mut full = vec!["--kubeconfig", credential.to_str().unwrap()];
        full.extend_from_slice(args);
        Command::new(BIN)
            .args(&full)
            .env("HOME", cluster.path())
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    };
    let out = as_node(&["get", "pods", "-A"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_node(&["scale", "deployment", "nginx-deployment", "--replicas", "5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("(Forbidden)") && err.contains("system:node:joined-0"),
        "{err}"
    );
    let other = cluster.write(
        "other-node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: other\n",
    );
    cluster.skiff(&["apply", "-f", &other]).ok();
    let out = as_node(&["delete", "node", "other"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("(Forbidden)"), "{err}");
    cluster.skiff(&["get", "node", "other"]).ok();

    // The join token alone cannot take the name over...
    let thief = agent(&cluster, &cluster.path().join("thief-root"), &token)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&thief.stderr);
    assert_eq!(thief.status.code(), Some(1), "{err}");
    assert!(err.contains("has joined already"), "{err}");
    // ...a token pinning another CA refuses the server...
    let (_, secret) = token.split_once("::").unwrap();
    let elsewhere = format!("K10{}::{secret}", "0".repeat(64));
    let out = agent(&cluster, &cluster.path().join("other-root"), &elsewhere)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not the one the join token pins"), "{err}");

    // ...and the node itself comes back with its stored credential.
    let before = std::fs::read_to_string(&credential).unwrap();
    drop(first);
    let log = std::fs::File::create(cluster.path().join("agent2.log")).unwrap();
    let mut again = Background(
        agent(&cluster, &root, &token)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_until("the agent to rejoin", Duration::from_secs(20), || {
        let log = std::fs::read_to_string(cluster.path().join("agent2.log")).unwrap_or_default();
        if let Ok(Some(status)) = again.0.try_wait() {
            panic!("the rejoining agent exited ({status}):\n{log}");
        }
        log.contains("hollow nodes running")
    });
    assert_eq!(std::fs::read_to_string(&credential).unwrap(), before);
}

/// In a network namespace of its own (so nothing touches the host's
/// network): a server on a non-loopback address serves TLS with tokens by
/// default, while its second listener on loopback stays plain HTTP.
#[test]
fn non_loopback_listeners_serve_tls_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let script = format!(
        r#"set -e
ip link set lo up
ip addr add 10.99.0.1/32 dev lo
{BIN} server --data-dir {d}/data --listen 10.99.0.1:0 --listen 127.0.0.1:0 \
    --write-kubeconfig {d}/kc > {d}/server.log 2>&1 &
pid=$!
trap "kill $pid" EXIT
for i in $(seq 300); do [ -f {d}/kc ] && break; sleep 0.1; done
HOME={d} {BIN} --kubeconfig {d}/kc get namespaces -o name > {d}/admin.out 2>&1 || echo "admin failed" >> {d}/admin.out
sed 's/^\(\s*\)token: .*/\1token: wrong/' {d}/kc > {d}/wrong
HOME={d} {BIN} --kubeconfig {d}/wrong get namespaces > {d}/wrong.out 2>&1 && echo "wrong token accepted" >> {d}/wrong.out || true
plain=$(grep -o '127.0.0.1:[0-9]* (plain http' {d}/server.log | cut -d' ' -f1)
HOME={d} {BIN} -s http://$plain get namespaces -o name > {d}/plain.out 2>&1 || echo "plain failed" >> {d}/plain.out
tls=$(grep -o 'https://10.99.0.1:[0-9]*' {d}/kc)
curl -s -o /dev/null -w '%{{http_code}}' http://${{tls#https://}}/version > {d}/clear.out 2>&1 || true
"#
    );
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        read("server.log")
    );
    let kc = read("kc");
    assert!(kc.contains("server: https://10.99.0.1:"), "{kc}");
    assert!(kc.contains("certificate-authority-data:"), "{kc}");
    let admin = read("admin.out");
    assert!(admin.contains("namespace/kube-system"), "{admin}");
    let wrong = read("wrong.out");
    assert!(wrong.contains("(Unauthorized)"), "{wrong}");
    let plain = read("plain.out");
    assert!(plain.contains("namespace/default"), "{plain}");
    // Plain HTTP to the TLS port gets no API answer.
    let clear = read("clear.out");
    assert!(!clear.starts_with('2'), "{clear}");
    let sans = read("data/tls/server.sans");
    assert!(sans.lines().any(|l| l == "10.99.0.1"), "{sans}");
}
