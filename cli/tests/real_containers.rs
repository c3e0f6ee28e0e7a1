//! Issue 4's proof with real containers, as root, each test in a network
//! namespace of its own (the host's network is never touched):
//! - the seed's nginx Deployment (`image: nginx:latest`, unchanged) pulled
//!   through a `docker.io` mirror (a local registry inside the test's
//!   netns, holding a real nginx built from Debian packages), 2 pods
//!   Running whose port 80 answers; then the real kubectl (1.30, 1.33):
//!   `logs`, `logs -f` ending with the container, `exec` with and without
//!   stdin;
//! - probes: readiness gates Ready, liveness failure restarts once;
//! - `skiff server` and `skiff agent` as separate processes: the agent
//!   killed with SIGKILL while pods run, an exit while it is down reported
//!   with its code, the survivor adopted; nothing left after deletion.

mod cluster;
mod node;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cluster::{
    Kubectl, Proc, container_status, is_ready, is_running, name, node_flags, pod_ip, restart_count,
    wait_for,
};
use node::{TestNode, enter_private_netns, http_get};
use serde_json::Value;

/// The seed manifests, used as they are.
fn manifest(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests")
        .join(file)
}

/// Builds the Debian nginx image layout (its .debs cached in
/// `$SKIFF_DEB_CACHE`, default `~/.cache/skiff/debs`: offline once warm).
fn build_nginx(dir: &Path) -> PathBuf {
    let out = dir.join("nginx-oci");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/scripts/make-nginx-oci.sh");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&script).arg(&out);
    if let Ok(cache) = std::env::var("SKIFF_DEB_CACHE") {
        cmd.env("DEB_CACHE", cache);
    }
    let done = cmd.output().expect("running make-nginx-oci.sh");
    assert!(
        done.status.success(),
        "make-nginx-oci.sh failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

fn kubeconfig_and_node(
    kubectl: &Kubectl,
    kubeconfig: &Path,
    node: &str,
    logs: impl Fn() -> String,
) {
    wait_for("the kubeconfig", Duration::from_secs(30), &logs, || {
        kubeconfig.exists().then_some(())
    });
    wait_for("the node", Duration::from_secs(30), &logs, || {
        kubectl
            .command(&["get", "node", node])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(drop)
    });
}

fn write(dir: &Path, file: &str, text: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const EXEC_AND_LOGS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: counter
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'for i in 1 2 3 4; do echo line $i; sleep 1; done']
"#;

/// Readiness: `late` opens its port after 3 s, `missing` probes a path
/// that 404s forever. Liveness: `flaky` is alive for 3 s in its first run
/// only (an emptyDir remembers the first run).
const PROBES: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: late
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'sleep 3; exec httpd -f -p 8080 -h /www']
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: missing
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    readinessProbe:
      httpGet: {path: /no-such-page, port: 80}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: flaky
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: state
    emptyDir: {}
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - >-
      touch /tmp/alive;
      if [ -e /state/first-run-done ]; then exec sleep 3600; fi;
      touch /state/first-run-done; sleep 3; rm /tmp/alive; exec sleep 3600
    volumeMounts:
    - {name: state, mountPath: /state}
    livenessProbe:
      exec: {command: [cat, /tmp/alive]}
      periodSeconds: 1
      failureThreshold: 1
"#;

#[test]
fn nginx_from_a_mirror_then_kubectl_logs_exec_and_probes() {
    // Before leaving the host's network: a cold .deb cache downloads.
    let scratch = tempfile::tempdir().unwrap();
    let nginx = build_nginx(scratch.path());
    enter_private_netns();
    let node = TestNode::new();
    // Started after entering the netns: the registry listens on the
    // test's own loopback, where `skiff up` (our child) finds it.
    let registry = skiff_image::testing::Registry::start().expect("starting docker-registry");
    node::tokio_runtime()
        .block_on(registry.push_oci_layout(&nginx, "library/nginx", "latest"))
        .expect("pushing nginx");

    let server_dir = node.dir.path().join("server");
    let kubeconfig = server_dir.join("kubeconfig");
    let mut args: Vec<String> = [
        "up",
        "--listen",
        "127.0.0.1:0",
        "--cluster-cidr",
        "10.251.0.0/16",
    ]
    .map(String::from)
    .into();
    args.extend(["--data-dir".into(), server_dir.display().to_string()]);
    args.extend(node_flags(&node, "real-node"));
    args.extend([
        "--registry-mirror".into(),
        format!("docker.io={}", registry.url()),
    ]);
    let up = Proc::start(&node, "up", &args);
    let logs = || format!("skiff up:\n{}\nregistry:\n{}", up.log(), registry.log());
    let k130 = Kubectl::new("1.30", &kubeconfig);
    let k133 = Kubectl::new("1.33", &kubeconfig);
    kubeconfig_and_node(&k130, &kubeconfig, "real-node", logs);

    // The seed's Deployment as it is: nginx:latest from the mirror.
    let deployment = manifest("nginx-deployment.yaml");
    k130.ok(&["apply", "-f", deployment.to_str().unwrap()]);
    let pods = wait_for("2 nginx pods Ready", Duration::from_secs(90), logs, || {
        let pods: Vec<Value> = k130
            .pods()
            .into_iter()
            .filter(|p| name(p).starts_with("nginx-deployment-") && is_running(p) && is_ready(p))
            .collect();
        (pods.len() == 2 && pods.iter().all(|p| pod_ip(p).is_some())).then_some(pods)
    });
    for pod in &pods {
        let ip = pod_ip(pod).unwrap();
        assert!(ip.to_string().starts_with("10.251."), "{ip}");
        let page = wait_for("nginx's page", Duration::from_secs(10), logs, || {
            http_get(ip, 80)
                .ok()
                .filter(|p| p.contains("hello from skiff nginx"))
        });
        assert!(page.contains("Server: nginx"), "{page}");
        let image = container_status(pod)["image"].as_str().unwrap_or_default();
        assert!(image.contains("nginx"), "{image}");
    }

    let nginx_pod = name(&pods[0]).to_string();
    for k in [&k130, &k133] {
        // exec: the pod's hostname, and stdin through to the process and closed.
        let hostname = k.ok(&["exec", &nginx_pod, "--", "cat", "/etc/hostname"]);
        assert_eq!(hostname, format!("{nginx_pod}\n"));
        let out = k.run_input(
            &[
                "exec",
                "-i",
                &nginx_pod,
                "--",
                "sh",
                "-c",
                "cat; echo eof-seen",
            ],
            Some("to the container\n"),
            Duration::from_secs(20),
        );
        assert!(out.status.success(), "exec -i: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "to the container\neof-seen\n"
        );
        // `-t` without `-i`: kubectl drops the terminal and runs it.
        let out = k.run_input(
            &["exec", "-t", &nginx_pod, "--", "sh", "-c", "exit 3"],
            None,
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(3), "exec -t: {out:?}");
        // nginx logs its access log to /dev/stdout.
        let access = k.ok(&["logs", &nginx_pod]);
        assert!(access.contains("\"GET / HTTP/1.0\" 200"), "{access}");
    }

    // logs -f follows a running container and ends when it exits.
    let counter = write(node.dir.path(), "counter.yaml", EXEC_AND_LOGS);
    k130.ok(&["apply", "-f", &counter]);
    wait_for("counter running", Duration::from_secs(30), logs, || {
        is_running(&k130.pod("counter")).then_some(())
    });
    // Both versions follow it at once, from its first line to its exit.
    let started = Instant::now();
    let followers: Vec<_> = [&k130, &k133]
        .map(|k| {
            k.command(&["logs", "-f", "counter"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .into();
    for follower in followers {
        let out = cluster::wait_output(follower, Duration::from_secs(30))
            .expect("logs -f did not end with the container");
        assert!(out.status.success(), "logs -f: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "line 1\nline 2\nline 3\nline 4\n"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let done = k130.pod("counter");
    assert_eq!(done["status"]["phase"], "Succeeded", "{done}");

    // Probes.
    let probes = write(node.dir.path(), "probes.yaml", PROBES);
    k130.ok(&["apply", "-f", &probes]);
    let running_since = wait_for("late running", Duration::from_secs(30), logs, || {
        is_running(&k130.pod("late")).then(Instant::now)
    });
    let late = k130.pod("late");
    assert!(!is_ready(&late), "ready before its port opened: {late}");
    wait_for("late Ready", Duration::from_secs(20), logs, || {
        is_ready(&k130.pod("late")).then_some(())
    });
    // Its port opens 3 s after the start.
    assert!(running_since.elapsed() >= Duration::from_secs(2));
    let flaky = wait_for("flaky restarted", Duration::from_secs(30), logs, || {
        let p = k130.pod("flaky");
        (restart_count(&p) >= 1 && is_ready(&p)).then_some(p)
    });
    let last = &container_status(&flaky)["lastState"]["terminated"];
    // `sleep` as PID 1 ignores SIGTERM: killed after the grace period.
    assert_eq!(last["exitCode"], 137, "{flaky}");
    // The second run stays alive: exactly one restart.
    std::thread::sleep(Duration::from_secs(4));
    let flaky = k130.pod("flaky");
    assert_eq!(restart_count(&flaky), 1, "{flaky}");
    let missing = k130.pod("missing");
    assert!(is_running(&missing), "{missing}");
    assert!(
        !is_ready(&missing),
        "a 404 must not make it Ready: {missing}"
    );
    assert_eq!(restart_count(&missing), 0);

    k130.ok(&["delete", "deployment", "nginx-deployment"]);
    k130.ok(&["delete", "pod", "--all", "--wait=false"]);
    wait_for("every pod gone", Duration::from_secs(60), logs, || {
        k130.pods().is_empty().then_some(())
    });
    wait_for("the node clean", Duration::from_secs(20), logs, || {
        node_is_clean(&node).then_some(())
    });
    up.interrupt();
}

fn node_is_clean(node: &TestNode) -> bool {
    let sandboxes = std::fs::read_dir(node.root().join("sandboxes")).map_or(0, |d| d.count());
    let containers = std::fs::read_dir(node.root().join("containers")).map_or(0, |d| d.count());
    node.leftover_cgroups().is_empty()
        && node.leftover_ips().is_empty()
        && node.leftover_mounts().is_empty()
        && sandboxes == 0
        && containers == 0
}

const CRASH_PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: short
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'echo started; sleep 4; exit 7']
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
"#;

/// The host PID of a pod's first container, from the runtime's state dir.
fn container_pid(node: &TestNode, pod: &Value) -> i32 {
    let id = container_status(pod)["containerID"]
        .as_str()
        .and_then(|s| s.split_once("://"))
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| panic!("no containerID: {pod}"));
    let dir = node.root().join("containers").join(&id);
    skiff_container::state::read_identity(&dir, skiff_container::state::CONTAINER_PID_FILE)
        .unwrap_or_else(|| panic!("no container pid in {}", dir.display()))
        .pid
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn agent_killed_with_sigkill_adopts_its_containers_and_reports_exits() {
    enter_private_netns();
    let node = TestNode::new();
    let server_dir = node.dir.path().join("server");
    let kubeconfig = server_dir.join("kubeconfig");
    let server = Proc::start(
        &node,
        "server",
        &[
            "server".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--lab-profile".into(),
            "--cluster-cidr".into(),
            "10.252.0.0/16".into(),
            "--data-dir".into(),
            server_dir.display().to_string(),
        ],
    );
    let k = Kubectl::new("1.33", &kubeconfig);
    wait_for(
        "the kubeconfig",
        Duration::from_secs(30),
        || server.log(),
        || kubeconfig.exists().then_some(()),
    );
    let agent_args = {
        let mut a = vec![
            "agent".to_string(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
        ];
        a.extend(node_flags(&node, "crash-node"));
        a
    };
    let agent = Proc::start(&node, "agent", &agent_args);
    let logs = || format!("server:\n{}\nagent:\n{}", server.log(), agent.log());
    kubeconfig_and_node(&k, &kubeconfig, "crash-node", logs);
    let pods = write(node.dir.path(), "pods.yaml", CRASH_PODS);
    k.ok(&["apply", "-f", &pods]);
    let (short, web) = wait_for("both pods running", Duration::from_secs(30), logs, || {
        let (s, w) = (k.pod("short"), k.pod("web"));
        (is_running(&s) && is_running(&w) && pod_ip(&w).is_some()).then_some((s, w))
    });
    let web_ip = pod_ip(&web).unwrap();
    assert!(http_get(web_ip, 80).is_ok_and(|p| p.contains("hello from skiff busybox")));
    let web_id = container_status(&web)["containerID"].clone();
    let web_pid = container_pid(&node, &web);
    let short_pid = container_pid(&node, &short);

    // Inside, PID 1 is the container's own program, and no process there
    // (the exec's own included) leads back to the skiff binary.
    let exe = k.ok(&["exec", "web", "--", "readlink", "/proc/1/exe"]);
    assert_eq!(exe, "/bin/busybox\n");
    let exes = k.ok(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do readlink $p/exe; done | sort -u",
    ]);
    assert_eq!(exes, "/bin/busybox\n", "programs seen inside");

    agent.crash();
    wait_for("short exited", Duration::from_secs(15), String::new, || {
        (!alive(short_pid)).then_some(())
    });
    assert!(alive(web_pid), "web died with the agent");
    let stale = k.pod("short");
    assert_eq!(stale["status"]["phase"], "Running", "nobody reported yet");

    let agent = Proc::start(&node, "agent", &agent_args);
    let logs = || format!("server:\n{}\nagent:\n{}", server.log(), agent.log());
    let short = wait_for(
        "short's exit reported",
        Duration::from_secs(30),
        logs,
        || {
            let p = k.pod("short");
            (p["status"]["phase"] == "Failed").then_some(p)
        },
    );
    let terminated = &container_status(&short)["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 7, "{short}");
    assert_eq!(k.ok(&["logs", "short"]), "started\n");
    // A few heartbeats later the survivor is the same container.
    std::thread::sleep(Duration::from_secs(3));
    let web = k.pod("web");
    assert!(is_running(&web) && is_ready(&web), "{web}");
    assert_eq!(container_status(&web)["containerID"], web_id);
    assert_eq!(restart_count(&web), 0);
    assert_eq!(container_pid(&node, &web), web_pid);
    assert!(alive(web_pid));
    assert!(http_get(web_ip, 80).is_ok_and(|p| p.contains("hello from skiff busybox")));
    assert_eq!(
        k.ok(&["exec", "web", "--", "cat", "/etc/hostname"]),
        "web\n"
    );

    k.ok(&["delete", "pod", "--all"]);
    wait_for("every pod gone", Duration::from_secs(30), logs, || {
        k.pods().is_empty().then_some(())
    });
    wait_for("the node clean", Duration::from_secs(20), logs, || {
        node_is_clean(&node).then_some(())
    });
    assert!(!alive(web_pid));
    agent.interrupt();
    server.interrupt();
}

/// `exec -t` without `-i` (the API allows it; kubectl drops the terminal
/// itself): the command still gets the terminal as its controlling tty.
#[test]
fn exec_with_a_terminal_and_no_stdin() {
    use skiff_agent::runtime::{ContainerConfig, ExecRequest, Runtime, SandboxConfig};
    enter_private_netns();
    let node = TestNode::new();
    node::tokio_runtime().block_on(async {
        let rt = node.runtime().await;
        let sandbox = SandboxConfig {
            pod_uid: "tty-pod".into(),
            namespace: "default".into(),
            name: "tty".into(),
            hostname: "tty".into(),
            pod_cidr: Some("10.253.0.0/24".into()),
            qos_class: "BestEffort".into(),
            ..Default::default()
        };
        rt.run_sandbox(&sandbox).await.expect("sandbox");
        let c = ContainerConfig {
            name: "c".into(),
            image: "docker.io/library/busybox:latest".into(),
            image_pull_policy: "Never".into(),
            command: vec!["sleep".into(), "3600".into()],
            ..Default::default()
        };
        let id = rt.create_container("tty-pod", &c).await.expect("create");
        rt.start_container(&id).await.expect("start");
        let session = rt
            .exec(
                &id,
                ExecRequest {
                    command: [
                        "sh",
                        "-c",
                        "test -t 0 && test -t 1 && echo ctty=$(cut -d' ' -f7 /proc/$$/stat)",
                    ]
                    .map(String::from)
                    .into(),
                    stdin: false,
                    tty: true,
                },
            )
            .await
            .expect("exec");
        assert!(session.stdin.is_none());
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut session.stdout.unwrap(), &mut out)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(session.exit.await.unwrap(), 0, "{text}");
        assert!(text.starts_with("ctty="), "{text}");
        assert!(!text.starts_with("ctty=0\r"), "no controlling tty: {text}");
        // The helper itself, as any caller may run it: stdin /dev/null,
        // the terminal on stdout and stderr only.
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two fds; null name, termios and winsize are allowed.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just opened and are ours alone.
        let (master, slave) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(master),
                std::os::fd::OwnedFd::from_raw_fd(slave),
            )
        };
        let status = std::process::Command::new(node::BIN)
            .arg("container-exec")
            .arg(node.root().join("containers").join(id.as_str()))
            .args([
                "--tty",
                "--",
                "sh",
                "-c",
                "test -t 1 && echo ctty=$(cut -d' ' -f7 /proc/$$/stat)",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave)
            .status()
            .unwrap();
        let mut text = String::new();
        // EIO once the slave is closed everywhere: the output has ended.
        let _ = std::io::Read::read_to_string(&mut &master, &mut text);
        assert!(status.success(), "container-exec --tty: {status}: {text}");
        assert!(
            text.starts_with("ctty=") && !text.starts_with("ctty=0\r"),
            "{text}"
        );
        rt.remove_sandbox("tty-pod").await.expect("remove");
        assert!(node_is_clean(&node));
    });
}
