//! `kubectl logs` (`-f`, `--tail`, `--timestamps`, `--previous`, `-c`) and
//! `kubectl exec` (1.30 and 1.33: WebSocket v5; 1.27 and 1.29: SPDY/3.1)
//! against a `skiff server` whose pods run on a hollow agent
//! process, and the same through `skiff logs` / `skiff exec`. The API
//! server proxies to the agent's HTTP API; hollow containers "print"
//! their lifecycle and exec runs the hollow shell (echo, cat, exit N).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use skiff_e2e::agent::HollowAgents;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::server::{Server, StoreChoice};
use skiff_e2e::{eventually, skiff, skiff_bin};

/// Pods bound straight to the hollow node (no scheduler runs here).
const PODS: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  nodeName: hollow-node-0
  containers:
  - name: app
    image: nginx:1.27
  - name: sidecar
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: job
spec:
  nodeName: hollow-node-0
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    env:
    - name: HOLLOW_RUN_FOR
      value: 3s
    - name: HOLLOW_EXIT_CODE
      value: \"7\"
";

fn cluster() -> (Server, HollowAgents) {
    let server = Server::start(StoreChoice::Sqlite).expect("server starts");
    let mut agents = HollowAgents::start(&server, 1).expect("agent starts");
    agents
        .wait_running(Duration::from_secs(30))
        .expect("hollow node runs");
    (server, agents)
}

fn wait_running(k: &Kubectl, pod: &str) {
    let running = eventually(Duration::from_secs(20), || {
        k.run(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"])
            .stdout
            == "Running"
    });
    assert!(running, "pod {pod} never ran");
}

fn kubectl_logs_and_exec(version: &str) {
    let (server, agents) = cluster();
    let k = Kubectl::new(version, &server.kubeconfig);
    k.run_with_stdin(&["apply", "-f", "-"], Some(PODS)).ok();
    wait_running(&k, "web");
    wait_running(&k, "job");

    // logs: the first container by default (kubectl says so), -c, --tail, --timestamps.
    let out = k.run(&["logs", "web"]).ok();
    assert!(
        out.stdout
            .starts_with("hollow container app (restart 0) of image nginx:1.27\n"),
        "{out:?}\nagent:\n{}",
        agents.log()
    );
    assert!(
        out.stderr
            .contains("Defaulted container \"app\" out of: app, sidecar"),
        "{out:?}"
    );
    let out = k.run(&["logs", "web", "-c", "sidecar", "--tail", "1"]).ok();
    assert_eq!(out.stdout, "started\n");
    let out = k
        .run(&["logs", "web", "-c", "app", "--timestamps", "--tail=1"])
        .ok();
    let (stamp, rest) = out.stdout.split_once(' ').unwrap();
    assert!(
        stamp.contains('T') && stamp.ends_with('Z'),
        "{}",
        out.stdout
    );
    assert_eq!(rest, "started\n");
    let out = k.run(&["logs", "web", "-c", "app", "--previous"]).failed();
    assert!(
        out.stderr
            .contains("previous terminated container \"app\" in pod \"web\" not found"),
        "{out:?}"
    );
    let out = k.run(&["logs", "nope"]).failed();
    assert!(out.stderr.contains("pods \"nope\" not found"), "{out:?}");

    // logs -f: streams until the container exits (after 3 s), then kubectl exits 0.
    let started = std::time::Instant::now();
    let out = k.run(&["logs", "-f", "job"]).ok();
    assert!(
        out.stdout.ends_with("started\nexited with code 7\n"),
        "{out:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // exec: output, exit codes, stdin.
    let out = k
        .run(&["exec", "web", "-c", "app", "--", "echo", "hello", "world"])
        .ok();
    assert_eq!(out.stdout, "hello world\n");
    let out = k.run(&[
        "exec",
        "web",
        "-c",
        "app",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err\n"), "{out:?}");
    assert!(
        out.stderr.contains("command terminated with exit code 3"),
        "{out:?}"
    );
    let out = k
        .run_with_stdin(
            &["exec", "-i", "web", "-c", "app", "--", "cat"],
            Some("piped in\n"),
        )
        .ok();
    assert_eq!(out.stdout, "piped in\n");
    let out = k.run(&["exec", "web", "-c", "app", "--", "hostname"]).ok();
    assert_eq!(out.stdout, "web\n");
    // The finished job cannot be exec'd into (kubectl checks the phase).
    assert!(eventually(Duration::from_secs(10), || {
        k.run(&["get", "pod", "job", "-o", "jsonpath={.status.phase}"])
            .stdout
            == "Failed"
    }));
    let out = k.run(&["exec", "job", "--", "true"]).failed();
    assert!(out.stderr.contains("completed pod"), "{out:?}");
}

#[test]
fn kubectl_1_30() {
    kubectl_logs_and_exec("1.30");
}

#[test]
fn kubectl_1_33() {
    kubectl_logs_and_exec("1.33");
}

/// kubectl 1.27 to 1.29 exec over SPDY/3.1: the API server speaks it to
/// them and relays to the agent's WebSocket.
fn kubectl_exec_over_spdy(version: &str) {
    let (server, _agents) = cluster();
    let k = Kubectl::new(version, &server.kubeconfig);
    k.run_with_stdin(&["apply", "-f", "-"], Some(PODS)).ok();
    wait_running(&k, "web");
    let out = k.run(&["logs", "web", "-c", "app", "--tail=1"]).ok();
    assert_eq!(out.stdout, "started\n");
    let out = k
        .run(&["exec", "web", "-c", "app", "--", "echo", "hi"])
        .ok();
    assert_eq!(out.stdout, "hi\n");
    let out = k.run(&[
        "exec",
        "web",
        "-c",
        "app",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err\n"), "{out:?}");
    assert!(
        out.stderr.contains("command terminated with exit code 3"),
        "{out:?}"
    );
    let out = k
        .run_with_stdin(
            &["exec", "-i", "web", "-c", "app", "--", "cat"],
            Some("over spdy\n"),
        )
        .ok();
    assert_eq!(out.stdout, "over spdy\n");
}

#[test]
fn kubectl_1_27_exec_over_spdy() {
    kubectl_exec_over_spdy("1.27");
}

#[test]
fn kubectl_1_29_exec_over_spdy() {
    kubectl_exec_over_spdy("1.29");
}

#[test]
fn skiff_logs_and_exec() {
    let (server, _agents) = cluster();
    let kc = &server.kubeconfig;
    let k = Kubectl::new("1.33", kc);
    k.run_with_stdin(&["apply", "-f", "-"], Some(PODS)).ok();
    wait_running(&k, "web");
    wait_running(&k, "job");

    let (code, out, err) = skiff(kc, &["logs", "web", "-c", "sidecar"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("hollow container sidecar (restart 0)"),
        "{out}"
    );
    let (code, out, err) = skiff(kc, &["logs", "web"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("hollow container app"), "{out}");
    assert!(
        err.contains("Defaulted container \"app\" out of: app, sidecar"),
        "{err}"
    );
    let (code, out, _) = skiff(
        kc,
        &["logs", "web", "-c", "app", "--tail", "1", "--timestamps"],
    );
    assert_eq!(code, 0);
    assert!(out.ends_with(" started\n") && out.contains('T'), "{out}");
    let (code, _, err) = skiff(kc, &["logs", "web", "-c", "app", "--previous"]);
    assert_eq!(code, 1);
    assert!(err.contains("previous terminated container"), "{err}");
    let (code, out, err) = skiff(kc, &["logs", "-f", "job"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("exited with code 7\n"), "{out}");

    let (code, out, _) = skiff(kc, &["exec", "web", "-c", "app", "--", "echo", "hi"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"));
    let (code, out, err) = skiff(
        kc,
        &[
            "exec",
            "web",
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "echo o; echo e >&2; exit 4",
        ],
    );
    assert_eq!((code, out.as_str()), (4, "o\n"));
    assert!(
        err.contains("e\n") && err.contains("command terminated with exit code 4"),
        "{err}"
    );
    // -i: stdin travels, and its end ends `cat`.
    let mut child = Command::new(skiff_bin())
        .args(["exec", "-i", "web", "-c", "app", "--", "cat"])
        .env("KUBECONFIG", kc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from skiff\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from skiff\n");
    // -t without a terminal: said, and run without one.
    let (code, out, err) = skiff(
        kc,
        &["exec", "-i", "-t", "web", "-c", "app", "--", "echo", "x"],
    );
    assert_eq!((code, out.as_str()), (0, "x\n"));
    assert!(err.contains("Unable to use a TTY"), "{err}");
}
