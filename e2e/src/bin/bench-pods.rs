//! Pod benchmark on one real node (real containers through the Linux
//! runtime), in a network namespace of its own.
//!
//! Phase `startup`: `skiff up` (server, controllers, scheduler and a real
//! agent in one process, embedded store), the busybox image imported
//! before any timing, then N bare Pods created at once. A pods watch
//! records, on this process's clock, when it saw each pod, saw it bound and
//! saw it Running and Ready; per pod: create request sent -> Running+Ready
//! (p50/p90/p99/max), split into API (create -> seen by the watch),
//! scheduler (seen -> bound) and node (bound -> Running+Ready).
//!
//! Phase `rss`: `skiff server` and `skiff agent` (real) as two processes,
//! so the agent's memory is its own: RSS and PSS idle (registered, no pods)
//! and with M running pods, and the memory of the per-container monitor
//! processes (RSS, PSS, private) from `/proc/PID/smaps_rollup`.
//!
//! Each phase deletes its pods and waits until the runtime removed them (no
//! cgroup under the phase's cgroup parent, no mount under its directory),
//! then stops its processes by PID. The network namespace
//! (`skiff-bench-<pid>`), cgroups and directories are removed at the end,
//! also on failure and on Ctrl-C (unless `--keep`).
//!
//! Run (root): `cargo build --release -p skiff -p skiff-e2e &&
//! target/release/bench-pods` (`--pods 100 --rss-pods 50 --timeout 120
//! --keep`).

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::future::join_all;
use serde_json::{Value, json};
use skiff_container::cgroups::Cgroups;
use skiff_e2e::podwatch::PodWatch;
use skiff_e2e::procstat::{self, Rollup};
use skiff_e2e::server::{Server, StoreChoice};
use skiff_e2e::{free_port, skiff_bin, workspace_root};

const LABEL: &str = "app=bench-pods";
const USAGE: &str = "flags: --pods N (100) --serial-pods N (20) --rss-pods N (50) \
    --timeout SECONDS (120) --keep --keep-logs DIR";

struct Args {
    pods: usize,
    /// Pods created one at a time (each once the previous runs): the
    /// start-up latency of a pod on an otherwise idle node.
    serial_pods: usize,
    rss_pods: usize,
    /// Longest wait for pods to run or go.
    timeout: Duration,
    /// Leave processes, pods, directories and the namespace for debugging.
    keep: bool,
    /// Copy the processes' logs here before the directories go.
    keep_logs: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        pods: 100,
        serial_pods: 20,
        rss_pods: 50,
        timeout: Duration::from_secs(120),
        keep: false,
        keep_logs: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<u64> {
            let v = it
                .next()
                .with_context(|| format!("{name} needs a value; {USAGE}"))?;
            v.parse()
                .with_context(|| format!("{name} {v:?} is not a whole number; {USAGE}"))
        };
        match flag.as_str() {
            "--pods" => args.pods = value("--pods")? as usize,
            "--rss-pods" => args.rss_pods = value("--rss-pods")? as usize,
            "--serial-pods" => args.serial_pods = value("--serial-pods")? as usize,
            "--keep-logs" => {
                let dir = it
                    .next()
                    .with_context(|| format!("--keep-logs needs a DIR; {USAGE}"))?;
                args.keep_logs = Some(PathBuf::from(dir));
            }
            "--timeout" => args.timeout = Duration::from_secs(value("--timeout")?),
            "--keep" => args.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown flag {other:?}; {USAGE}"),
        }
    }
    if args.pods == 0 {
        bail!("--pods must be at least 1");
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    // SAFETY: geteuid only reads this process's credentials.
    if unsafe { libc::geteuid() } != 0 {
        bail!("bench-pods needs root (network namespace, cgroups, mounts)");
    }
    let netns = Netns::create(&format!("skiff-bench-{}", std::process::id()), args.keep)?;
    // Before tokio starts: its threads, and every process started from
    // them, are then in the benchmark's namespace.
    netns.enter()?;
    // reqwest is built without a default TLS provider (only plain HTTP here).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // On Ctrl-C the benchmark's future is dropped: its guards stop the
    // processes and remove cgroups, mounts and directories.
    let result = rt.block_on(async {
        tokio::select! {
            r = run(&args) => r.map(|()| true),
            _ = tokio::signal::ctrl_c() => Ok(false),
        }
    });
    drop(rt);
    drop(netns);
    if !result? {
        eprintln!("bench-pods: interrupted; cleaned up");
        std::process::exit(130);
    }
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<()> {
    println!(
        "bench-pods: {} pods (startup), {} pods (rss); load {}",
        args.pods,
        args.rss_pods,
        procstat::load_average()
    );
    let startup = startup_phase(args).await?;
    let rss = rss_phase(args).await?;
    print_summary(args, &startup, &rss);
    Ok(())
}

// ---------------------------------------------------------------- phases

struct StartupReport {
    burst: Startup,
    serial: Option<Startup>,
    deleted_in: Duration,
    up_rss: Option<Rollup>,
}

async fn startup_phase(args: &Args) -> anyhow::Result<StartupReport> {
    let node = NodeDirs::new("up", args)?;
    node.import_busybox()?;
    let port = free_port();
    let data_dir = node.path("server");
    let mut cmd = Command::new(skiff_bin());
    cmd.args(["up", "--lab-profile", "--agent-listen", "127.0.0.1:0"])
        .args(["--cluster-cidr", "10.251.0.0/16"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data_dir);
    node.node_flags(&mut cmd, "bench-up", "10.251.0.0/16");
    let mut up = Proc::spawn("skiff up", &mut cmd, node.path("up.log"), args.keep)?;
    let api = Api::new(format!("http://127.0.0.1:{port}"));
    api.wait_node_ready("bench-up", &mut up, Duration::from_secs(60))
        .await?;
    println!(
        "startup: node bench-up ready; creating {} pods at once",
        args.pods
    );

    let burst = measure_startup(
        &api,
        "burst",
        args.pods,
        Pacing::Burst,
        args.timeout,
        &mut up,
    )
    .await?;
    burst.print("startup, all at once (skiff up)");
    let up_rss = procstat::rollup(up.pid());
    if args.keep {
        println!("--keep: pods left running; {}", up.describe());
        return Ok(StartupReport {
            burst,
            serial: None,
            deleted_in: Duration::ZERO,
            up_rss,
        });
    }
    let deleted_in = api
        .delete_and_wait_clean(&burst.names, &node, args.timeout)
        .await?;
    println!("startup: pods deleted and cleaned up in {deleted_in:.2?}");
    let mut serial = None;
    if args.serial_pods > 0 {
        let s = measure_startup(
            &api,
            "serial",
            args.serial_pods,
            Pacing::Serial,
            args.timeout,
            &mut up,
        )
        .await?;
        s.print("startup, one at a time (skiff up)");
        api.delete_and_wait_clean(&s.names, &node, args.timeout)
            .await?;
        serial = Some(s);
    }
    up.stop();
    Ok(StartupReport {
        burst,
        serial,
        deleted_in,
        up_rss,
    })
}

struct RssReport {
    idle: Rollup,
    busy: Rollup,
    monitors: Vec<Rollup>,
    startup: Startup,
    deleted_in: Duration,
}

async fn rss_phase(args: &Args) -> anyhow::Result<RssReport> {
    let node = NodeDirs::new("agent", args)?;
    node.import_busybox()?;
    let server = Server::start_with(
        StoreChoice::Sqlite,
        &["--lab-profile", "--cluster-cidr", "10.252.0.0/16"],
    )?;
    let mut cmd = Command::new(skiff_bin());
    cmd.args(["agent", "--lab-profile", "--listen", "127.0.0.1:0"])
        .arg("--kubeconfig")
        .arg(&server.kubeconfig);
    node.node_flags(&mut cmd, "bench-agent", "10.252.0.0/16");
    let mut agent = Proc::spawn("skiff agent", &mut cmd, node.path("agent.log"), args.keep)?;
    let api = Api::new(server.base_url.clone());
    api.wait_node_ready("bench-agent", &mut agent, Duration::from_secs(60))
        .await?;
    // Let start-up work (podCIDR, first heartbeats) settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = procstat::rollup(agent.pid()).context("reading the idle agent's memory")?;
    println!(
        "rss: agent idle: RSS {} PSS {}",
        mib(idle.rss_kib),
        mib(idle.pss_kib)
    );

    let startup = measure_startup(
        &api,
        "rss",
        args.rss_pods,
        Pacing::Burst,
        args.timeout,
        &mut agent,
    )
    .await?;
    startup.print("startup (skiff server + skiff agent)");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let busy = procstat::rollup(agent.pid()).context("reading the busy agent's memory")?;
    let monitors = node.monitor_memory();
    println!(
        "rss: agent with {} pods: RSS {} PSS {}; {} monitors read",
        args.rss_pods,
        mib(busy.rss_kib),
        mib(busy.pss_kib),
        monitors.len()
    );
    if args.keep {
        println!("--keep: pods left running; {}", agent.describe());
        println!("--keep: server at {} (stopped on exit)", server.base_url);
        return Ok(RssReport {
            idle,
            busy,
            monitors,
            startup,
            deleted_in: Duration::ZERO,
        });
    }
    let deleted_in = api
        .delete_and_wait_clean(&startup.names, &node, args.timeout)
        .await?;
    println!("rss: pods deleted and cleaned up in {deleted_in:.2?}");
    agent.stop();
    drop(server);
    Ok(RssReport {
        idle,
        busy,
        monitors,
        startup,
        deleted_in,
    })
}

// ------------------------------------------------------- startup timing

/// Per pod, in milliseconds: create sent -> Running+Ready, and its parts.
struct Startup {
    names: Vec<String>,
    total: Vec<f64>,
    api: Vec<f64>,
    scheduler: Vec<f64>,
    node: Vec<f64>,
    /// First create sent -> last pod Running+Ready.
    wall: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pacing {
    /// Every pod created at once (concurrent requests).
    Burst,
    /// Each pod created once the previous one is Running+Ready.
    Serial,
}

async fn measure_startup(
    api: &Api,
    tag: &str,
    n: usize,
    pacing: Pacing,
    timeout: Duration,
    process: &mut Proc,
) -> anyhow::Result<Startup> {
    let watch = PodWatch::start(&api.base, "default", LABEL).await?;
    let names: Vec<String> = (0..n).map(|i| format!("bench-{tag}-{i:03}")).collect();
    let t0 = Instant::now();
    let deadline = t0 + timeout;
    let mut sent = std::collections::HashMap::new();
    if pacing == Pacing::Burst {
        for r in join_all(names.iter().map(|name| create_timed(api, name))).await {
            let (name, at) = r?;
            sent.insert(name, at);
        }
        wait_ready(&watch, n, deadline, process).await?;
    } else {
        for (i, name) in names.iter().enumerate() {
            let (name, at) = create_timed(api, name).await?;
            sent.insert(name, at);
            wait_ready(&watch, i + 1, deadline, process).await?;
        }
    }
    let mut s = Startup {
        names,
        total: Vec::new(),
        api: Vec::new(),
        scheduler: Vec::new(),
        node: Vec::new(),
        wall: Duration::ZERO,
    };
    let ms = |later: Instant, earlier: Instant| {
        later.saturating_duration_since(earlier).as_secs_f64() * 1000.0
    };
    for (name, times) in watch.named_times() {
        let (Some(&created), Some(ready)) = (sent.get(&name), times.ready) else {
            continue;
        };
        let bound = times.bound.unwrap_or(ready);
        s.total.push(ms(ready, created));
        s.api.push(ms(times.seen, created));
        s.scheduler.push(ms(bound, times.seen));
        s.node.push(ms(ready, bound));
        s.wall = s.wall.max(ready.saturating_duration_since(t0));
    }
    for v in [&mut s.total, &mut s.api, &mut s.scheduler, &mut s.node] {
        v.sort_by(f64::total_cmp);
    }
    Ok(s)
}

/// Creates the pod; returns its name and when the request was sent.
async fn create_timed(api: &Api, name: &str) -> anyhow::Result<(String, Instant)> {
    let at = Instant::now();
    api.create_pod(name).await?;
    Ok((name.to_string(), at))
}

/// Waits until the watch saw `n` pods Running+Ready.
async fn wait_ready(
    watch: &PodWatch,
    n: usize,
    deadline: Instant,
    process: &mut Proc,
) -> anyhow::Result<()> {
    while watch.counts().ready < n {
        process.check_alive()?;
        if Instant::now() > deadline {
            let c = watch.counts();
            bail!(
                "timed out: {} pods seen, {} bound, {} Running+Ready of {n}; {}",
                c.seen,
                c.bound,
                c.ready,
                process.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

impl Startup {
    fn rate(&self) -> f64 {
        self.total.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn print(&self, title: &str) {
        println!(
            "{title}: {} pods Running+Ready in {:.2?} ({:.1} pods/s)",
            self.total.len(),
            self.wall,
            self.rate()
        );
        for (what, v) in [
            ("create -> Running+Ready", &self.total),
            ("  create -> seen (API)", &self.api),
            ("  seen -> bound (scheduler)", &self.scheduler),
            ("  bound -> Running+Ready (node)", &self.node),
        ] {
            println!("  {what:<32} {}", quantiles(v));
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn quantiles(sorted: &[f64]) -> String {
    format!(
        "p50 {:>6.0} ms  p90 {:>6.0} ms  p99 {:>6.0} ms  max {:>6.0} ms",
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        percentile(sorted, 100.0)
    )
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_summary(args: &Args, s: &StartupReport, r: &RssReport) {
    println!();
    println!("==================== bench-pods summary ====================");
    println!("machine load (1/5/15 min): {}", procstat::load_average());
    println!("pod startup on one node (skiff up), busybox present, create -> Running+Ready:");
    let runs = [
        (
            format!("{} bare pods created at once", args.pods),
            Some(&s.burst),
        ),
        (
            format!("{} pods one at a time", args.serial_pods),
            s.serial.as_ref(),
        ),
    ];
    for (title, run) in runs {
        let Some(run) = run else { continue };
        let p99 = percentile(&run.total, 99.0);
        println!("  {title}:");
        println!("    {}", quantiles(&run.total));
        println!(
            "    {} Running+Ready in {:.2?} ({:.1} pods/s); goal p99 <= 300 ms: {}",
            run.total.len(),
            run.wall,
            run.rate(),
            if p99 <= 300.0 { "met" } else { "NOT met" }
        );
        println!(
            "    parts p50/p99 ms: API {:.0}/{:.0}, scheduler {:.0}/{:.0}, node {:.0}/{:.0}",
            percentile(&run.api, 50.0),
            percentile(&run.api, 99.0),
            percentile(&run.scheduler, 50.0),
            percentile(&run.scheduler, 99.0),
            percentile(&run.node, 50.0),
            percentile(&run.node, 99.0),
        );
    }
    if let Some(m) = s.up_rss {
        println!(
            "  skiff up (server + agent) with {} pods: RSS {} PSS {}",
            args.pods,
            mib(m.rss_kib),
            mib(m.pss_kib)
        );
    }
    println!("  delete all -> runtime clean: {:.2?}", s.deleted_in);
    println!("agent alone (skiff agent, server in its own process):");
    println!(
        "  idle (registered):  RSS {}  PSS {}",
        mib(r.idle.rss_kib),
        mib(r.idle.pss_kib)
    );
    println!(
        "  with {} pods:       RSS {}  PSS {}",
        args.rss_pods,
        mib(r.busy.rss_kib),
        mib(r.busy.pss_kib)
    );
    println!(
        "  {} pods start (create -> Running+Ready): {}",
        r.startup.total.len(),
        quantiles(&r.startup.total)
    );
    if !r.monitors.is_empty() {
        let median = |f: fn(&Rollup) -> u64| {
            let mut v: Vec<f64> = r.monitors.iter().map(|m| f(m) as f64).collect();
            v.sort_by(f64::total_cmp);
            percentile(&v, 50.0) as u64
        };
        let private_total: u64 = r.monitors.iter().map(|m| m.private_kib).sum();
        println!(
            "  per-container monitor (median of {}): RSS {} KiB, PSS {} KiB, private {} KiB",
            r.monitors.len(),
            median(|m| m.rss_kib),
            median(|m| m.pss_kib),
            median(|m| m.private_kib)
        );
        println!(
            "  all {} monitors together: private {}",
            r.monitors.len(),
            mib(private_total)
        );
    }
    println!("  delete all -> runtime clean: {:.2?}", r.deleted_in);
    println!("============================================================");
}

// ------------------------------------------------------------ API calls

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: String) -> Api {
        Api {
            http: reqwest::Client::new(),
            base,
        }
    }

    fn pods_url(&self) -> String {
        format!("{}/api/v1/namespaces/default/pods", self.base)
    }

    async fn wait_node_ready(
        &self,
        name: &str,
        process: &mut Proc,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let url = format!("{}/api/v1/nodes/{name}", self.base);
        loop {
            process.check_alive()?;
            if let Ok(resp) = self.http.get(&url).send().await
                && resp.status().is_success()
                && let Ok(node) = resp.json::<Value>().await
                && is_ready(&node)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "node {name} not Ready after {limit:?}; {}",
                    process.describe()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A bare Pod of busybox sleeping, with the image already present.
    async fn create_pod(&self, name: &str) -> anyhow::Result<()> {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench-pods"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "sleep",
                    "image": "busybox:latest",
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "86400"],
                }],
            },
        });
        let resp = self
            .http
            .post(self.pods_url())
            .json(&pod)
            .send()
            .await
            .with_context(|| format!("creating pod {name}"))?;
        if !resp.status().is_success() {
            let status = resp.status();
            bail!(
                "creating pod {name}: {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn pods_left(&self) -> anyhow::Result<usize> {
        let url = format!("{}?labelSelector=app%3Dbench-pods", self.pods_url());
        let list: Value = self.http.get(&url).send().await?.json().await?;
        Ok(list["items"].as_array().map_or(0, Vec::len))
    }

    /// Deletes the pods; returns once the API has none left and the
    /// runtime removed their cgroups, mounts and sandboxes.
    async fn delete_and_wait_clean(
        &self,
        names: &[String],
        node: &NodeDirs,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let t0 = Instant::now();
        for r in join_all(names.iter().map(|name| {
            self.http
                .delete(format!("{}/{name}", self.pods_url()))
                .send()
        }))
        .await
        {
            let resp = r.context("deleting a pod")?;
            if !resp.status().is_success() {
                bail!("deleting a pod: {}", resp.status());
            }
        }
        loop {
            let left = self.pods_left().await?;
            let leftovers = node.leftovers();
            if left == 0 && leftovers.is_clean() {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > limit {
                bail!("after {limit:?}: {left} pods left in the API; on the node: {leftovers:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn is_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

// ------------------------------------------------ processes and cleanup

/// A child process of ours in its own process group (so that Ctrl-C
/// reaches only the benchmark, which then cleans up in order).
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
    keep: bool,
}

impl Proc {
    fn spawn(
        name: &'static str,
        cmd: &mut Command,
        log: PathBuf,
        keep: bool,
    ) -> anyhow::Result<Proc> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc {
            name,
            child,
            log,
            keep,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}); {}", self.name, self.describe());
        }
        Ok(())
    }

    /// PID, log path and the log's last lines.
    fn describe(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!(
            "{} (PID {}) logs to {}; last lines:\n{tail}",
            self.name,
            self.pid(),
            self.log.display()
        )
    }

    /// SIGINT (a clean stop), SIGKILL after 20 s.
    fn stop(mut self) {
        // SAFETY: a signal to our own child, by its PID.
        unsafe { libc::kill(self.pid() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGINT; killing it", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One node's directories (runtime root, image store, logs) and cgroup
/// parent; dropping it removes the cgroups (killing what is left in
/// them), unmounts what is left under the directory and deletes it.
struct NodeDirs {
    dir: Option<tempfile::TempDir>,
    tag: String,
    cgroup_parent: String,
    bridge: String,
    keep: bool,
    keep_logs: Option<PathBuf>,
}

#[derive(Debug)]
struct Leftovers {
    cgroups: Vec<PathBuf>,
    mounts: Vec<String>,
    sandboxes: usize,
}

impl Leftovers {
    fn is_clean(&self) -> bool {
        self.cgroups.is_empty() && self.mounts.is_empty() && self.sandboxes == 0
    }
}

impl NodeDirs {
    fn new(tag: &str, args: &Args) -> anyhow::Result<NodeDirs> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("skiff-bench-{tag}-"))
            .tempdir()?;
        Ok(NodeDirs {
            dir: Some(dir),
            tag: tag.to_string(),
            cgroup_parent: format!("skiff-bench-{}-{tag}", std::process::id()),
            bridge: format!("skb-{tag}"),
            keep: args.keep,
            keep_logs: args.keep_logs.clone(),
        })
    }

    /// Copies the processes' `*.log` files to `--keep-logs DIR` as `TAG-NAME`.
    fn save_logs(&self, to: &Path) {
        if let Err(e) = std::fs::create_dir_all(to) {
            eprintln!("--keep-logs {}: {e}", to.display());
            return;
        }
        for e in std::fs::read_dir(self.root())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") {
                let dest = to.join(format!("{}-{name}", self.tag));
                if let Err(err) = std::fs::copy(e.path(), &dest) {
                    eprintln!("copying {}: {err}", e.path().display());
                }
            }
        }
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().expect("the node's directory").path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    /// `--node-name`, `--root`, `--image-root`, cgroup parent, bridge and
    /// the pod CIDR used until the Node gets one.
    fn node_flags(&self, cmd: &mut Command, name: &str, cidr: &str) {
        cmd.args(["--node-name", name, "--pod-cidr", cidr])
            .arg("--root")
            .arg(self.path("agent"))
            .arg("--image-root")
            .arg(self.path("images"))
            .args(["--cgroup-parent", &self.cgroup_parent])
            .args(["--cni-bridge", &self.bridge]);
    }

    /// Builds the busybox OCI layout with the project's script and imports
    /// it with `skiff image import`, before anything is timed.
    fn import_busybox(&self) -> anyhow::Result<()> {
        let oci = self.path("busybox-oci");
        let script = workspace_root().join("image/scripts/make-busybox-oci.sh");
        run_quiet(Command::new("bash").arg(&script).arg(&oci))?;
        run_quiet(
            Command::new(skiff_bin())
                .args(["image", "import"])
                .arg(&oci)
                .arg("--root")
                .arg(self.path("images")),
        )
    }

    /// The smaps rollup of each running container's monitor.
    fn monitor_memory(&self) -> Vec<Rollup> {
        let containers = self.path("agent").join("containers");
        std::fs::read_dir(containers)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                skiff_container::state::read_identity(
                    &e.path(),
                    skiff_container::state::MONITOR_PID_FILE,
                )
            })
            .filter_map(|id| procstat::rollup(id.pid as u32))
            .collect()
    }

    fn leftovers(&self) -> Leftovers {
        let mut cgroups = Vec::new();
        if let Ok(c) = Cgroups::detect() {
            for dir in c.dirs(&self.cgroup_parent).unwrap_or_default() {
                walk_dirs(&dir, &mut cgroups);
            }
        }
        let sandboxes =
            std::fs::read_dir(self.path("agent").join("sandboxes")).map_or(0, |d| d.count());
        Leftovers {
            cgroups,
            mounts: mounts_under(self.root()),
            sandboxes,
        }
    }
}

impl Drop for NodeDirs {
    fn drop(&mut self) {
        if let Some(to) = &self.keep_logs {
            self.save_logs(to);
        }
        let Some(dir) = self.dir.take() else { return };
        if self.keep {
            let path = dir.keep();
            println!(
                "--keep: node directory {}, cgroup parent {}",
                path.display(),
                self.cgroup_parent
            );
            return;
        }
        if let Ok(cgroups) = Cgroups::detect() {
            // A monitor still starting (after a Ctrl-C or a failure) may
            // make or remove a cgroup while this removes them: try again.
            let mut last_error = None;
            for _ in 0..20 {
                if !cgroups.exists(&self.cgroup_parent) {
                    last_error = None;
                    break;
                }
                last_error = cgroups.remove(&self.cgroup_parent).err();
                std::thread::sleep(Duration::from_millis(250));
            }
            if let Some(e) = last_error {
                eprintln!("cleanup: removing cgroup {}: {e}", self.cgroup_parent);
            }
        }
        // Killed monitors finish their last writes.
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..4 {
            let mut mounts = mounts_under(dir.path());
            if mounts.is_empty() {
                break;
            }
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mounts {
                if let Ok(c) = std::ffi::CString::new(m) {
                    // SAFETY: a lazy unmount of a path under our own directory.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
        if let Err(e) = dir.close() {
            eprintln!("cleanup: removing the node directory: {e}");
        }
    }
}

fn walk_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
            walk_dirs(&e.path(), out);
        }
    }
}

/// Mount points at or under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let prefix = dir.display().to_string();
    let nested = format!("{prefix}/");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m == prefix || m.starts_with(&nested))
        .map(str::to_string)
        .collect()
}

fn run_quiet(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The benchmark's network namespace, made with `ip netns add` and
/// deleted on drop.
struct Netns {
    name: String,
    keep: bool,
}

impl Netns {
    fn create(name: &str, keep: bool) -> anyhow::Result<Netns> {
        run_quiet(Command::new("ip").args(["netns", "add", name]))?;
        Ok(Netns {
            name: name.to_string(),
            keep,
        })
    }

    /// Moves the calling thread into the namespace and sets `lo` up.
    fn enter(&self) -> anyhow::Result<()> {
        let host = std::fs::read_link("/proc/thread-self/ns/net")?;
        let path = format!("/run/netns/{}", self.name);
        let ns = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        // SAFETY: setns on a namespace file we opened; affects this thread only.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns into {path}: {}", std::io::Error::last_os_error());
        }
        if std::fs::read_link("/proc/thread-self/ns/net")? == host {
            bail!("still in the host's network namespace after setns");
        }
        skiff_container::sandbox::set_loopback_up().context("setting lo up")?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.keep {
            println!("--keep: network namespace {} kept", self.name);
            return;
        }
        if let Err(e) = run_quiet(Command::new("ip").args(["netns", "delete", &self.name])) {
            eprintln!("cleanup: {e:#}");
        }
    }
}
