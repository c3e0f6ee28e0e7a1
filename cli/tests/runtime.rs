//! The Linux runtime with real containers (root; each test in a network
//! namespace of its own): a busybox pod serving HTTP on its pod IP, its
//! isolation, localhost shared in a pod, cgroup limits, logs, exec, and
//! adoption by a new runtime after the old one is dropped.

mod node;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use node::{TestNode, enter_private_netns, eventually, http_get, tokio_runtime};
use skiff_agent::runtime::linux::LinuxRuntime;
use skiff_agent::runtime::{
    ContainerConfig, ContainerId, ContainerState, ExecRequest, ExitReason, LogOptions, Resources,
    Runtime, RuntimeError, SandboxConfig, StopOptions,
};

const BUSYBOX: &str = "docker.io/library/busybox:latest";

fn sandbox(uid: &str, name: &str, cidr: &str) -> SandboxConfig {
    SandboxConfig {
        pod_uid: uid.into(),
        namespace: "default".into(),
        name: name.into(),
        hostname: name.into(),
        pod_cidr: Some(cidr.into()),
        qos_class: "Burstable".into(),
        ..Default::default()
    }
}

fn container(name: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        image: BUSYBOX.into(),
        image_pull_policy: "Never".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        termination_message_path: Some("/dev/termination-log".into()),
        ..Default::default()
    }
}

async fn run(rt: &LinuxRuntime, uid: &str, c: &ContainerConfig) -> ContainerId {
    let id = rt.create_container(uid, c).await.expect("create");
    rt.start_container(&id).await.expect("start");
    id
}

async fn exec(rt: &LinuxRuntime, id: &ContainerId, cmd: &[&str]) -> (i32, String) {
    let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    let out = rt
        .exec_sync(id, &cmd, Duration::from_secs(10))
        .await
        .expect("exec");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.exit_code, text)
}

async fn exited(rt: &LinuxRuntime, id: &ContainerId) -> ContainerState {
    eventually(Duration::from_secs(20), || async {
        let info = rt.container_status(id).await.unwrap().unwrap();
        info.state.is_exited().then_some(info.state)
    })
    .await
    .expect("the container did not exit")
}

/// Removes the pod and checks nothing of it is left on the node.
async fn remove_and_check_clean(node: &TestNode, rt: &LinuxRuntime, uid: &str) {
    rt.remove_sandbox(uid).await.expect("remove_sandbox");
    assert!(rt.sandbox_status(uid).await.unwrap().is_none());
    assert_eq!(
        node.leftover_cgroups(),
        Vec::<std::path::PathBuf>::new(),
        "cgroups left"
    );
    assert_eq!(node.leftover_mounts(), Vec::<String>::new(), "mounts left");
    assert_eq!(
        node.leftover_ips(),
        Vec::<std::path::PathBuf>::new(),
        "IPs left"
    );
}

#[test]
fn a_busybox_pod_serves_http_on_its_ip_and_is_isolated() {
    enter_private_netns();
    let node = TestNode::new();
    tokio_runtime().block_on(async {
        let rt = node.runtime().await;
        let events = Arc::new(AtomicUsize::new(0));
        let seen = events.clone();
        rt.subscribe(Arc::new(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        let sb = rt
            .run_sandbox(&sandbox("pod-a", "web", "10.250.7.0/24"))
            .await
            .expect("run_sandbox");
        let ip = sb.ip.expect("a pod IP");
        assert!(ip.to_string().starts_with("10.250.7."), "{ip}");
        // The image's own Cmd: httpd -f -p 80 -h /www.
        let mut httpd = container("httpd", &[]);
        httpd.command.clear();
        let web = run(&rt, "pod-a", &httpd).await;
        let info = rt.container_status(&web).await.unwrap().unwrap();
        assert!(info.state.is_running(), "{:?}", info.state);
        assert!(
            info.image_ref
                .starts_with("docker.io/library/busybox@sha256:")
        );

        let body = eventually(Duration::from_secs(10), || async move {
            tokio::task::spawn_blocking(move || http_get(ip, 80).ok())
                .await
                .unwrap()
        })
        .await
        .expect("httpd answers on the pod IP");
        assert!(body.contains("hello from skiff busybox"), "{body}");

        // Its own hostname, PID 1, no host processes.
        assert_eq!(exec(&rt, &web, &["hostname"]).await, (0, "web\n".into()));
        assert_eq!(exec(&rt, &web, &["cat", "/etc/hostname"]).await.1, "web\n");
        let (_, cmdline) = exec(&rt, &web, &["cat", "/proc/1/cmdline"]).await;
        assert!(cmdline.starts_with("/bin/httpd"), "{cmdline:?}");
        let (_, procs) = exec(&rt, &web, &["ls", "/proc"]).await;
        let pids: Vec<&str> = procs
            .split_whitespace()
            .filter(|p| p.parse::<u32>().is_ok())
            .collect();
        assert!(pids.len() <= 3, "host processes visible: {pids:?}");
        let (_, hosts) = exec(&rt, &web, &["cat", "/etc/hosts"]).await;
        assert!(hosts.contains(&format!("{ip}\tweb")), "{hosts}");

        // A second container of the pod reaches the first on localhost.
        let side = run(&rt, "pod-a", &container("side", &["sleep", "3600"])).await;
        let (code, page) = exec(
            &rt,
            &side,
            &["wget", "-q", "-O", "-", "http://127.0.0.1:80/"],
        )
        .await;
        assert_eq!(code, 0, "{page}");
        assert!(page.contains("hello from skiff busybox"), "{page}");

        // Exec with a terminal: the output comes back on one stream.
        let session = rt
            .exec(
                &side,
                ExecRequest {
                    command: vec![
                        "sh".into(),
                        "-c".into(),
                        "test -t 0 && test -t 1 && echo on-a-terminal".into(),
                    ],
                    // kubectl exec -it.
                    stdin: true,
                    tty: true,
                },
            )
            .await
            .unwrap();
        assert!(session.stderr.is_none() && session.stdin.is_some());
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut session.stdout.unwrap(), &mut out)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert_eq!(session.exit.await.unwrap(), 0, "{text}");
        // The terminal's line discipline turns "\n" into "\r\n".
        assert_eq!(text, "on-a-terminal\r\n");

        // httpd ignores SIGTERM: after the grace period it is killed.
        let t = Instant::now();
        rt.stop_container(&web, StopOptions::grace(Duration::from_millis(500)))
            .await
            .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(500));
        let state = rt.container_status(&web).await.unwrap().unwrap().state;
        assert_eq!(state.exit_code(), Some(137), "{state:?}");
        assert_eq!(
            events.load(Ordering::SeqCst),
            0,
            "stops are the agent's doing"
        );
        remove_and_check_clean(&node, &rt, "pod-a").await;
    });
}

#[test]
fn exits_logs_and_termination_messages() {
    enter_private_netns();
    let node = TestNode::new();
    tokio_runtime().block_on(async {
        let rt = node.runtime().await;
        let events = Arc::new(AtomicUsize::new(0));
        let seen = events.clone();
        rt.subscribe(Arc::new(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        rt.run_sandbox(&sandbox("pod-b", "job", "10.250.8.0/24"))
            .await
            .unwrap();
        let c = container(
            "job",
            &[
                "sh",
                "-c",
                "echo one; echo two >&2; echo bye > /dev/termination-log; exit 3",
            ],
        );
        let id = run(&rt, "pod-b", &c).await;
        match exited(&rt, &id).await {
            ContainerState::Exited {
                exit_code,
                reason,
                message,
                ..
            } => {
                assert_eq!((exit_code, reason), (3, ExitReason::Error));
                assert_eq!(message.as_deref(), Some("bye\n"));
            }
            other => panic!("{other:?}"),
        }
        let got = eventually(Duration::from_secs(5), || async {
            (events.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;
        assert!(got.is_some(), "the exit was pushed as an event");
        let chunks: Vec<_> = rt
            .logs(&id, &LogOptions::default())
            .await
            .unwrap()
            .collect()
            .await;
        let text: String = chunks
            .into_iter()
            .map(|c| String::from_utf8(c.unwrap()).unwrap())
            .collect();
        assert_eq!(text, "one\ntwo\n");
        let tail = LogOptions {
            tail_lines: Some(1),
            follow: true,
            ..Default::default()
        };
        let chunks: Vec<_> = rt.logs(&id, &tail).await.unwrap().collect().await;
        assert_eq!(chunks.len(), 1, "follow ends once the container has exited");
        assert_eq!(chunks[0].as_ref().unwrap(), b"two\n");

        // An absent image with policy Never is a pull error that says so.
        let mut absent = container("absent", &["true"]);
        absent.image = "example.invalid/nothing:1".into();
        match rt.create_container("pod-b", &absent).await {
            Err(RuntimeError::ImagePull(m)) => assert!(m.contains("ErrImageNeverPull"), "{m}"),
            other => panic!("{other:?}"),
        }
        // exec_sync gives up (and kills the command) at its timeout.
        let waiter = run(&rt, "pod-b", &container("waiter", &["sleep", "3600"])).await;
        let t = Instant::now();
        let err = rt
            .exec_sync(
                &waiter,
                &["sleep".into(), "30".into()],
                Duration::from_millis(300),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));

        // A command that does not exist fails to start with a clear error.
        let bad = rt
            .create_container("pod-b", &container("bad", &["/no/such/program"]))
            .await
            .unwrap();
        let err = rt.start_container(&bad).await.unwrap_err().to_string();
        assert!(err.contains("/no/such/program"), "{err}");
        remove_and_check_clean(&node, &rt, "pod-b").await;
    });
}

#[test]
fn cpu_and_memory_limits_are_enforced() {
    enter_private_netns();
    let node = TestNode::new();
    tokio_runtime().block_on(async {
        let rt = node.runtime().await;
        rt.run_sandbox(&sandbox("pod-c", "limits", "10.250.9.0/24"))
            .await
            .unwrap();
        let mut spin = container("spin", &["sh", "-c", "while :; do :; done"]);
        spin.resources = Resources {
            cpu_limit_milli: Some(200),
            ..Default::default()
        };
        let spin = run(&rt, "pod-c", &spin).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let a = rt.container_stats(&spin).await.unwrap();
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let b = rt.container_stats(&spin).await.unwrap();
        let cpus = (b.cpu_usage_nanos - a.cpu_usage_nanos) as f64 / t.elapsed().as_nanos() as f64;
        assert!(
            (0.12..=0.28).contains(&cpus),
            "cpu limit 200m used {cpus:.3} CPU"
        );
        assert!(b.memory_working_set_bytes > 0);

        let mut hog = container(
            "hog",
            &["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"],
        );
        hog.resources = Resources {
            memory_limit_bytes: Some(32 << 20),
            ..Default::default()
        };
        let hog = run(&rt, "pod-c", &hog).await;
        match exited(&rt, &hog).await {
            ContainerState::Exited {
                exit_code, reason, ..
            } => assert_eq!((exit_code, reason), (137, ExitReason::OomKilled)),
            other => panic!("{other:?}"),
        }
        remove_and_check_clean(&node, &rt, "pod-c").await;
    });
}

#[test]
fn a_new_runtime_adopts_running_containers_and_missed_exits() {
    enter_private_netns();
    let node = TestNode::new();
    let tokio = tokio_runtime();
    let (long, short) = tokio.block_on(async {
        let rt = node.runtime().await;
        rt.run_sandbox(&sandbox("pod-d", "adopt", "10.250.10.0/24"))
            .await
            .unwrap();
        let mut long = container(
            "long",
            &["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
        );
        long.restart_count = 4;
        let long = run(&rt, "pod-d", &long).await;
        let short = run(
            &rt,
            "pod-d",
            &container("short", &["sh", "-c", "sleep 1; exit 7"]),
        )
        .await;
        (long, short)
        // The runtime is dropped here, as an agent that died.
    });
    drop(tokio);
    std::thread::sleep(Duration::from_secs(2));
    tokio_runtime().block_on(async {
        let rt = node.runtime().await;
        let sandboxes = rt.list_sandboxes().await.unwrap();
        assert_eq!(sandboxes.len(), 1);
        assert!(sandboxes[0].is_ready() && sandboxes[0].ip.is_some());
        let all = rt.list_containers("pod-d").await.unwrap();
        assert_eq!(all.len(), 2);
        let l = all.iter().find(|c| c.id == long).unwrap();
        assert!(l.state.is_running(), "{:?}", l.state);
        assert_eq!(l.restart_count, 4);
        let s = all.iter().find(|c| c.id == short).unwrap();
        assert_eq!(s.state.exit_code(), Some(7), "{:?}", s.state);
        // The adopted container is still driven: stop and exec work.
        assert_eq!(exec(&rt, &long, &["true"]).await.0, 0);
        rt.stop_container(&long, StopOptions::grace(Duration::from_secs(5)))
            .await
            .unwrap();
        // Its shell traps SIGTERM and exits 0.
        assert_eq!(
            rt.container_status(&long)
                .await
                .unwrap()
                .unwrap()
                .state
                .exit_code(),
            Some(0)
        );
        remove_and_check_clean(&node, &rt, "pod-d").await;
    });
}

#[test]
fn containers_are_confined() {
    enter_private_netns();
    let node = TestNode::new();
    tokio_runtime().block_on(async {
        let mut config = node.config();
        config.pids_limit = 16;
        let rt = LinuxRuntime::open(config).await.unwrap();
        rt.run_sandbox(&sandbox("pod-e", "confined", "10.250.11.0/24"))
            .await
            .unwrap();
        let id = run(&rt, "pod-e", &container("box", &["sleep", "3600"])).await;
        // No mounting, no new namespaces: capabilities and seccomp.
        let (code, out) = exec(&rt, &id, &["mount", "-t", "tmpfs", "none", "/mnt"]).await;
        assert_ne!(code, 0, "mount worked: {out}");
        let (code, out) = exec(&rt, &id, &["unshare", "-n", "true"]).await;
        assert_ne!(code, 0, "unshare worked: {out}");
        // Masked and read-only paths.
        let (_, size) = exec(&rt, &id, &["sh", "-c", "wc -c < /proc/interrupts"]).await;
        assert_eq!(size.trim(), "0", "/proc/interrupts is masked");
        let (code, _) = exec(
            &rt,
            &id,
            &["sh", "-c", "echo 1 > /proc/sys/kernel/domainname"],
        )
        .await;
        assert_ne!(code, 0, "/proc/sys is read-only");
        // The pids limit: forks beyond 16 processes fail.
        let (_, out) = exec(
            &rt,
            &id,
            &[
                "sh",
                "-c",
                "for i in $(seq 1 40); do sleep 5 & done 2>&1; echo end",
            ],
        )
        .await;
        assert!(out.contains("fork") || out.contains("Resource"), "{out}");
        remove_and_check_clean(&node, &rt, "pod-e").await;
    });
}

#[test]
fn a_pod_can_have_its_own_clock() {
    enter_private_netns();
    let node = TestNode::new();
    tokio_runtime().block_on(async {
        let rt = node.runtime().await;
        let mut config = sandbox("pod-f", "shifted", "10.250.12.0/24");
        config.time_offset_seconds = Some(10 * 86400);
        rt.run_sandbox(&config).await.unwrap();
        let id = run(&rt, "pod-f", &container("box", &["sleep", "3600"])).await;
        let (_, uptime) = exec(&rt, &id, &["cat", "/proc/uptime"]).await;
        let secs: f64 = uptime.split_whitespace().next().unwrap().parse().unwrap();
        let host: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs - host > 9.0 * 86400.0, "uptime {secs} vs host {host}");
        remove_and_check_clean(&node, &rt, "pod-f").await;
    });
}
