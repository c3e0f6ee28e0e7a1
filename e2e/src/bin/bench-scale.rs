//! Scale benchmark: hollow nodes, a Deployment scaled 0 -> N replicas, and
//! the scheduler on its own.
//!
//! Phase `e2e`: `skiff server` (embedded SQLite, controllers and scheduler
//! inside, default profile) and `skiff agent --hollow --nodes 1000`. A
//! Deployment `bench` is created with 0 replicas, a pods watch is opened,
//! then its scale is patched to 10,000. The watch records, per pod and on
//! this process's clock, when it first saw the pod (ADDED), saw it bound
//! (`spec.nodeName`) and saw it Running and Ready. The headline is the time
//! from the scale request to the last Running+Ready pod.
//!
//! Phase `scheduler`: a fresh `skiff server --disable-controllers` with the
//! same hollow nodes; 10,000 bare pods are created while no scheduler runs,
//! the agent is stopped (so only the scheduler writes: the Nodes keep their
//! last Ready status), then `skiff controller` is started and the binds are
//! timed from the watch: first bind -> last bind (the scheduler's rate) and
//! controller start -> last bind (with its start-up: leader election, the
//! informers' lists).
//!
//! Both phases print a timeline (counts and each process's CPU every
//! second), the server's requests and store operations from `/metrics`,
//! RSS and CPU seconds per process, and how much CPU other processes took.
//!
//! Run: `cargo build --release -p skiff -p skiff-e2e && target/release/bench-scale`
//! (`--nodes 1000 --replicas 10000 --timeout 600 --phase all|e2e|scheduler`;
//! `--controllers apart` runs phase 1's controllers in their own process,
//! `--buckets MS` prints per-stage counts per bucket, `--keep-logs DIR`).
//! Machines here are shared: the load average is printed with the figures.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::stream::{self, StreamExt};
use serde::Deserialize;
use skiff_e2e::agent::{HollowAgents, Profile};
use skiff_e2e::controller::ControllerProcess;
use skiff_e2e::metrics::Scrape;
use skiff_e2e::podwatch::{Counts, PodTimes, PodWatch};
use skiff_e2e::procstat::{self, CpuSampler, Memory};
use skiff_e2e::server::{Server, StoreChoice};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    All,
    EndToEnd,
    Scheduler,
}

struct Args {
    nodes: usize,
    replicas: usize,
    timeout: Duration,
    phase: Phase,
    /// Concurrent creates of the bare pods of the scheduler phase.
    concurrency: usize,
    /// Keep the agent running while the scheduler binds (it then writes
    /// every bound pod's status, competing for the CPUs).
    scheduler_with_agent: bool,
    /// Print how many pods reached each stage per bucket of this many ms.
    buckets: Option<Duration>,
    /// Phase 1 runs the controllers and scheduler in their own `skiff
    /// controller` process (to see their CPU apart from the API server's).
    controllers_apart: bool,
    /// Copy each phase's process logs here (`RUST_LOG` reaches the processes).
    keep_logs: Option<std::path::PathBuf>,
}

const USAGE: &str = "flags: --nodes N --replicas N --timeout SECONDS \
    --phase all|e2e|scheduler --concurrency C --scheduler-with-agent \
    --buckets MS --keep-logs DIR --controllers inside|apart";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        nodes: 1000,
        replicas: 10_000,
        timeout: Duration::from_secs(600),
        phase: Phase::All,
        concurrency: 64,
        scheduler_with_agent: false,
        buckets: None,
        keep_logs: None,
        controllers_apart: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--scheduler-with-agent" {
            args.scheduler_with_agent = true;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--nodes" => args.nodes = value.parse()?,
            "--replicas" => args.replicas = value.parse()?,
            "--timeout" => args.timeout = Duration::from_secs(value.parse()?),
            "--concurrency" => args.concurrency = value.parse()?,
            "--buckets" => args.buckets = Some(Duration::from_millis(value.parse()?)),
            "--keep-logs" => args.keep_logs = Some(value.into()),
            "--controllers" => {
                args.controllers_apart = match value.as_str() {
                    "inside" => false,
                    "apart" => true,
                    other => bail!("unknown --controllers {other} ({USAGE})"),
                }
            }
            "--phase" => {
                args.phase = match value.as_str() {
                    "all" => Phase::All,
                    "e2e" => Phase::EndToEnd,
                    "scheduler" => Phase::Scheduler,
                    other => bail!("unknown phase {other} ({USAGE})"),
                }
            }
            other => bail!("unknown flag {other} ({USAGE})"),
        }
    }
    if args.nodes == 0 || args.replicas == 0 || args.concurrency == 0 {
        bail!("--nodes, --replicas and --concurrency must be positive");
    }
    Ok(args)
}

/// The default cluster CIDR (10.244.0.0/16) holds 256 node /24s; beyond
/// that node IPAM gives the rest none (`CIDRNotAvailable`) and their agents
/// wait `pod_cidr_wait` (5 s) before falling back. A /12 holds 4,096, clear
/// of the Service range (10.96.0.0/12) and the hollow node IPs (10.250.x.x).
fn cluster_cidr_flags(nodes: usize) -> Vec<&'static str> {
    if nodes > 256 {
        vec!["--cluster-cidr", "10.128.0.0/12"]
    } else {
        Vec::new()
    }
}

/// The pod template of both phases: one container, tiny requests.
fn pod_spec() -> serde_json::Value {
    serde_json::json!({"containers": [{"name": "c", "image": "busybox",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]})
}

/// A server, its hollow nodes and maybe a `skiff controller`: every process
/// is killed on drop, in field order (agents, controller, then the server).
struct Cluster {
    agents: Option<HollowAgents>,
    controller: Option<ControllerProcess>,
    server: Server,
    http: reqwest::Client,
}

impl Cluster {
    /// Starts the server with `server_flags`, a `skiff controller` with
    /// `controller_flags` if given, and the hollow nodes; waits for the
    /// nodes to be Ready, for their podCIDRs when `controllers` run (node
    /// IPAM gives them), and for the agent to sync pods.
    async fn start(
        args: &Args,
        server_flags: &[&str],
        controller_flags: Option<&[&str]>,
        controllers: bool,
    ) -> anyhow::Result<Cluster> {
        let server = Server::start_with(StoreChoice::Sqlite, server_flags)?;
        let controller = match controller_flags {
            Some(flags) => Some(ControllerProcess::start(&server.kubeconfig, flags)?),
            None => None,
        };
        let agents = HollowAgents::start_with(&server, args.nodes, Profile::Default)?;
        println!(
            "server {} (pid {}), agent pid {}",
            server.base_url,
            server.pid(),
            agents.pid()
        );
        let mut cluster = Cluster {
            agents: Some(agents),
            controller,
            server,
            http: reqwest::Client::new(),
        };
        let t = Instant::now();
        let limit = Duration::from_secs(60) + Duration::from_millis(100 * args.nodes as u64);
        let waited = cluster.wait_nodes(args.nodes, controllers, limit).await;
        let (ready, cidrs) = match waited {
            Ok(times) => times,
            Err(e) => {
                let log = cluster.agents.as_ref().map(|a| a.log()).unwrap_or_default();
                bail!("{e:#}\nagent log (tail):\n{}", tail_lines(&log, 20));
            }
        };
        if let Some(agents) = cluster.agents.as_mut() {
            tokio::task::block_in_place(|| agents.wait_running(limit))?;
        }
        println!(
            "after the agent started: {} nodes Ready {:.1} s, all with a podCIDR {}, \
             agent syncing pods (\"hollow nodes running\") {:.1} s",
            args.nodes,
            ready.as_secs_f64(),
            cidrs.map_or("- (no node IPAM)".into(), |c| format!(
                "{:.1} s",
                c.as_secs_f64()
            )),
            t.elapsed().as_secs_f64()
        );
        Ok(cluster)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url)
    }

    /// Waits until `want` Nodes are Ready, then (if `cidrs`) until all have
    /// a podCIDR: the time each took.
    async fn wait_nodes(
        &self,
        want: usize,
        cidrs_wanted: bool,
        limit: Duration,
    ) -> anyhow::Result<(Duration, Option<Duration>)> {
        let start = Instant::now();
        let deadline = start + limit;
        let (mut ready, mut cidrs, mut ready_at) = (0, 0, None);
        while Instant::now() < deadline {
            if let Ok(resp) = self.http.get(self.url("/api/v1/nodes")).send().await
                && let Ok(list) = resp.json::<NodeList>().await
            {
                ready = list.items.iter().filter(|n| n.is_ready()).count();
                cidrs = list.items.iter().filter(|n| n.has_pod_cidr()).count();
                if ready >= want && ready_at.is_none() {
                    ready_at = Some(start.elapsed());
                }
                if let Some(r) = ready_at {
                    if !cidrs_wanted {
                        return Ok((r, None));
                    }
                    if cidrs >= want {
                        return Ok((r, Some(start.elapsed())));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("after {limit:?}: {ready} of {want} nodes Ready, {cidrs} with a podCIDR")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<()> {
        let resp = req.send().await?;
        if !resp.status().is_success() {
            bail!(
                "{}: {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Copies the server's and the agent's logs to `dir` as `{phase}-*.log`.
    fn keep_logs(&self, dir: Option<&std::path::Path>, phase: &str) -> anyhow::Result<()> {
        let Some(dir) = dir else { return Ok(()) };
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("{phase}-server.log")), self.server.log())?;
        if let Some(agents) = &self.agents {
            std::fs::write(dir.join(format!("{phase}-agent.log")), agents.log())?;
        }
        if let Some(controller) = &self.controller {
            std::fs::write(
                dir.join(format!("{phase}-controller.log")),
                controller.log(),
            )?;
        }
        Ok(())
    }

    fn agent_pid(&self) -> Option<u32> {
        self.agents.as_ref().map(HollowAgents::pid)
    }
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[derive(Deserialize)]
struct NodeList {
    #[serde(default)]
    items: Vec<LiteNode>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LiteNode {
    spec: LiteNodeSpec,
    status: LiteNodeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LiteNodeSpec {
    unschedulable: bool,
    #[serde(rename = "podCIDR")]
    pod_cidr: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LiteNodeStatus {
    conditions: Vec<LiteCondition>,
}

#[derive(Deserialize)]
struct LiteCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

impl LiteNode {
    fn has_pod_cidr(&self) -> bool {
        self.spec.pod_cidr.as_deref().is_some_and(|c| !c.is_empty())
    }

    fn is_ready(&self) -> bool {
        !self.spec.unschedulable
            && self
                .status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    }
}

/// Named processes whose CPU use is printed each second of a phase.
struct Probe {
    names: Vec<&'static str>,
    pids: Vec<u32>,
    sampler: CpuSampler,
    cpu_start: Vec<Option<f64>>,
    machine_start: Option<(f64, f64)>,
}

impl Probe {
    fn new(procs: &[(&'static str, u32)]) -> Probe {
        let pids: Vec<u32> = procs.iter().map(|p| p.1).collect();
        Probe {
            names: procs.iter().map(|p| p.0).collect(),
            sampler: CpuSampler::new(pids.clone()),
            cpu_start: pids.iter().map(|p| procstat::cpu_seconds(*p)).collect(),
            machine_start: procstat::machine_cpu_seconds(),
            pids,
        }
    }

    fn header(&self) -> String {
        self.names
            .iter()
            .map(|n| format!(" {:>9}", format!("{n} %")))
            .collect()
    }

    fn sample(&mut self) -> String {
        self.sampler
            .sample()
            .iter()
            .map(|p| match p {
                Some(p) => format!(" {p:>9.0}"),
                None => format!(" {:>9}", "-"),
            })
            .collect()
    }

    /// The machine's busy CPU seconds since the probe started, and the CPU
    /// seconds it had (all cores): how much others took shows beside ours.
    fn machine_used(&self) -> Option<(f64, f64)> {
        let (busy0, total0) = self.machine_start?;
        let (busy, total) = procstat::machine_cpu_seconds()?;
        Some((busy - busy0, total - total0))
    }

    /// CPU seconds each process used since the probe started.
    fn cpu_used(&self) -> Vec<Option<f64>> {
        self.pids
            .iter()
            .zip(&self.cpu_start)
            .map(|(pid, start)| Some(procstat::cpu_seconds(*pid)? - (*start)?))
            .collect()
    }
}

/// Polls `counts` until `done` or the timeout, printing a timeline line a second.
async fn follow(
    watch: &PodWatch,
    probe: &mut Probe,
    start: Instant,
    timeout: Duration,
    done: impl Fn(&Counts) -> bool,
) -> bool {
    println!(
        "{:>7} {:>8} {:>8} {:>8}{}",
        "t s",
        "seen",
        "bound",
        "ready",
        probe.header()
    );
    let mut next_line = start + Duration::from_secs(1);
    loop {
        let counts = watch.counts();
        let now = Instant::now();
        if done(&counts) || now.duration_since(start) > timeout || now >= next_line {
            println!(
                "{:>7.1} {:>8} {:>8} {:>8}{}",
                now.duration_since(start).as_secs_f64(),
                counts.seen,
                counts.bound,
                counts.ready,
                probe.sample()
            );
            next_line += Duration::from_secs(1);
        }
        if done(&counts) {
            return true;
        }
        if now.duration_since(start) > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Some(sorted[idx])
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
        .unwrap_or_else(|| "-".into())
}

/// One per-pod latency row: p50, p99 and max over the pods that have both ends.
fn latency_row(name: &str, times: &[PodTimes], span: impl Fn(&PodTimes) -> Option<Duration>) {
    let mut spans: Vec<Duration> = times.iter().filter_map(span).collect();
    spans.sort();
    println!(
        "{:<30} {:>8} {:>9} {:>9} {:>9}",
        name,
        spans.len(),
        ms(percentile(&spans, 0.50)),
        ms(percentile(&spans, 0.99)),
        ms(spans.last().copied())
    );
}

/// The time from `start` to the last pod reaching a stage, if `want` pods reached it.
fn all_reached(
    times: &[PodTimes],
    start: Instant,
    want: usize,
    stage: impl Fn(&PodTimes) -> Option<Instant>,
) -> (usize, Option<Duration>) {
    let reached: Vec<Instant> = times.iter().filter_map(stage).collect();
    let last = reached.iter().max().map(|t| t.duration_since(start));
    (
        reached.len(),
        if reached.len() >= want { last } else { None },
    )
}

fn stage_row(name: &str, count: usize, want: usize, took: Option<Duration>) {
    match took {
        Some(d) => println!(
            "{:<30} {:>8} {:>9.2} {:>9.0}",
            name,
            count,
            d.as_secs_f64(),
            want as f64 / d.as_secs_f64()
        ),
        None => println!("{name:<30} {count:>8} {:>9} {:>9}", "-", "-"),
    }
}

/// How many pods were first seen, bound and Running+Ready in each `width`
/// of time after `start`: where a stage stalls or bursts.
fn print_buckets(times: &[PodTimes], start: Instant, width: Duration) {
    let index = |t: Instant| (t.duration_since(start).as_secs_f64() / width.as_secs_f64()) as usize;
    let mut rows: Vec<[usize; 3]> = Vec::new();
    let mut add = |t: Option<Instant>, stage: usize| {
        if let Some(t) = t {
            let i = index(t);
            if rows.len() <= i {
                rows.resize(i + 1, [0; 3]);
            }
            rows[i][stage] += 1;
        }
    };
    for t in times {
        add(Some(t.seen), 0);
        add(t.bound, 1);
        add(t.ready, 2);
    }
    println!(
        "{:>9} {:>8} {:>8} {:>8}   (pods reaching each stage in each {} ms)",
        "from s",
        "seen",
        "bound",
        "ready",
        width.as_millis()
    );
    for (i, [seen, bound, ready]) in rows.iter().enumerate() {
        println!(
            "{:>9.2} {seen:>8} {bound:>8} {ready:>8}",
            i as f64 * width.as_secs_f64()
        );
    }
}

/// The requests the server answered and the store operations it made
/// between two scrapes of its `/metrics`.
fn print_server_work(before: &Scrape, after: &Scrape) {
    println!(
        "{:<36} {:>9} {:>9}",
        "server requests in the phase", "count", "mean ms"
    );
    let requests = after.activity_since(
        before,
        "apiserver_request_duration_seconds",
        &["verb", "resource"],
    );
    let (busy, single): (Vec<_>, Vec<_>) = requests.iter().partition(|a| a.count > 1.0);
    for a in busy {
        println!(
            "{:<36} {:>9.0} {:>9.2}",
            a.name,
            a.count,
            a.mean_seconds * 1e3
        );
    }
    if !single.is_empty() {
        println!(
            "({} more kinds with one request each: start-up lists and watches, the scale)",
            single.len()
        );
    }
    println!(
        "{:<36} {:>9} {:>9}",
        "store operations in the phase", "count", "mean ms"
    );
    for a in after.activity_since(before, "etcd_request_duration_seconds", &["operation"]) {
        println!(
            "{:<36} {:>9.0} {:>9.2}",
            a.name,
            a.count,
            a.mean_seconds * 1e3
        );
    }
}

fn mib(m: Option<f64>) -> String {
    m.map(|m| format!("{m:.1}")).unwrap_or_else(|| "-".into())
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}")).unwrap_or_else(|| "-".into())
}

struct ProcessRow {
    name: String,
    idle: Option<Memory>,
    after: Option<Memory>,
    cpu: Option<f64>,
}

fn print_processes(rows: &[ProcessRow], machine: Option<(f64, f64)>) {
    println!(
        "{:<32} {:>13} {:>14} {:>10} {:>14}",
        "process", "RSS idle MiB", "RSS after MiB", "peak MiB", "CPU s (phase)"
    );
    for r in rows {
        println!(
            "{:<32} {:>13} {:>14} {:>10} {:>14}",
            r.name,
            mib(r.idle.map(|m| m.rss_mib)),
            mib(r.after.map(|m| m.rss_mib)),
            mib(r.after.map(|m| m.peak_mib)),
            secs(r.cpu)
        );
    }
    if let Some((busy, total)) = machine {
        let ours: f64 = rows.iter().filter_map(|r| r.cpu).sum();
        println!(
            "machine in the phase: {busy:.1} of {total:.1} CPU s busy ({:.0}%); \
             these processes {ours:.1} s, others {:.1} s",
            busy / total.max(1e-9) * 100.0,
            (busy - ours).max(0.0)
        );
    }
}

/// What the summary line needs from phase 1.
struct EndToEnd {
    complete: bool,
    total: Option<Duration>,
    ready: usize,
    create_to_ready: (Option<Duration>, Option<Duration>),
    server_rss: Option<f64>,
    agent_rss: Option<f64>,
}

async fn end_to_end(args: &Args) -> anyhow::Result<EndToEnd> {
    println!();
    println!("== phase 1: end to end ==");
    let cidr = cluster_cidr_flags(args.nodes);
    let cluster = if args.controllers_apart {
        println!(
            "skiff server --disable-controllers (SQLite) + skiff controller (controllers and \
             scheduler; default profile) + skiff agent --hollow --nodes {} (default profile)",
            args.nodes
        );
        Cluster::start(args, &["--disable-controllers"], Some(&cidr), true).await?
    } else {
        println!(
            "skiff server (SQLite; controllers and scheduler inside; default profile) \
             + skiff agent --hollow --nodes {} (default profile)",
            args.nodes
        );
        Cluster::start(args, &cidr, None, true).await?
    };
    let server_pid = cluster.server.pid();
    let agent_pid = cluster.agent_pid().context("agent running")?;
    let controller_pid = cluster.controller.as_ref().map(ControllerProcess::pid);
    let controller_idle = controller_pid.and_then(procstat::memory);
    // Let the controllers' first pass over the new nodes end.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server_idle = procstat::memory(server_pid);
    let agent_idle = procstat::memory(agent_pid);
    let me = std::process::id();

    let deployment = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bench", "labels": {"app": "bench"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "bench"}},
            "template": {"metadata": {"labels": {"app": "bench"}}, "spec": pod_spec()}}
    });
    let deployments = cluster.url("/apis/apps/v1/namespaces/default/deployments");
    cluster
        .send(cluster.http.post(&deployments).json(&deployment))
        .await
        .context("creating the Deployment")?;
    let watch = PodWatch::start(&cluster.server.base_url, "default", "app=bench").await?;
    let mut procs = vec![("server", server_pid), ("agent", agent_pid), ("bench", me)];
    if let Some(pid) = controller_pid {
        procs.push(("ctrl", pid));
    }
    let mut probe = Probe::new(&procs);

    let scrape_before = Scrape::fetch(&cluster.http, &cluster.server.base_url).await?;
    println!("Deployment bench scaled 0 -> {} at t = 0", args.replicas);
    let start = Instant::now();
    let patch = serde_json::json!({"spec": {"replicas": args.replicas}});
    cluster
        .send(
            cluster
                .http
                .patch(format!("{deployments}/bench/scale"))
                .header("Content-Type", "application/merge-patch+json")
                .body(patch.to_string()),
        )
        .await
        .context("scaling the Deployment")?;
    let want = args.replicas;
    let complete = follow(&watch, &mut probe, start, args.timeout, |c| c.ready >= want).await;
    let cpu = probe.cpu_used();
    let machine = probe.machine_used();
    let server_after = procstat::memory(server_pid);
    let agent_after = procstat::memory(agent_pid);
    let controller_after = controller_pid.and_then(procstat::memory);
    let scrape_after = Scrape::fetch(&cluster.http, &cluster.server.base_url).await?;
    let counts = watch.counts();
    let times = watch.times();
    if !complete {
        println!(
            "TIMEOUT after {:?}: {} seen, {} bound, {} Running+Ready of {want}",
            args.timeout, counts.seen, counts.bound, counts.ready
        );
    }

    println!();
    println!(
        "{:<30} {:>8} {:>9} {:>9}",
        "stage (from the scale request)", "pods", "seconds", "pods/s"
    );
    let first_seen = times.iter().map(|t| t.seen.duration_since(start)).min();
    println!(
        "{:<30} {:>8} {:>9}",
        "first pod seen",
        usize::from(first_seen.is_some()),
        first_seen
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .unwrap_or_else(|| "-".into())
    );
    let (n, d) = all_reached(&times, start, want, |t| Some(t.seen));
    stage_row("all seen (created)", n, want, d);
    let (n, d) = all_reached(&times, start, want, |t| t.bound);
    stage_row("all bound (scheduled)", n, want, d);
    let (ready, total) = all_reached(&times, start, want, |t| t.ready);
    stage_row("all Running+Ready", ready, want, total);

    println!();
    println!(
        "{:<30} {:>8} {:>9} {:>9} {:>9}",
        "per pod (watch clock)", "pods", "p50 ms", "p99 ms", "max ms"
    );
    latency_row("first seen -> bound", &times, |t| {
        Some(t.bound?.duration_since(t.seen))
    });
    latency_row("bound -> Running+Ready", &times, |t| {
        Some(t.ready?.duration_since(t.bound?))
    });
    latency_row("first seen -> Running+Ready", &times, |t| {
        Some(t.ready?.duration_since(t.seen))
    });
    let mut create_to_ready: Vec<Duration> = times
        .iter()
        .filter_map(|t| Some(t.ready?.duration_since(t.seen)))
        .collect();
    create_to_ready.sort();
    println!(
        "watch: {} events, {} re-watches",
        counts.events, counts.rewatches
    );
    if let Some(width) = args.buckets {
        println!();
        print_buckets(&times, start, width);
    }
    println!();
    print_server_work(&scrape_before, &scrape_after);

    println!();
    cluster.keep_logs(args.keep_logs.as_deref(), "e2e")?;
    let mut rows = vec![
        ProcessRow {
            name: if args.controllers_apart {
                "skiff server".into()
            } else {
                "skiff server (+controllers)".into()
            },
            idle: server_idle,
            after: server_after,
            cpu: cpu[0],
        },
        ProcessRow {
            name: format!("skiff agent ({} nodes)", args.nodes),
            idle: agent_idle,
            after: agent_after,
            cpu: cpu[1],
        },
        ProcessRow {
            name: "bench-scale (the watch)".into(),
            idle: None,
            after: procstat::memory(me),
            cpu: cpu[2],
        },
    ];
    if controller_pid.is_some() {
        rows.push(ProcessRow {
            name: "skiff controller".into(),
            idle: controller_idle,
            after: controller_after,
            cpu: cpu[3],
        });
    }
    print_processes(&rows, machine);
    Ok(EndToEnd {
        complete,
        total,
        ready,
        create_to_ready: (
            percentile(&create_to_ready, 0.50),
            percentile(&create_to_ready, 0.99),
        ),
        server_rss: server_after.map(|m| m.rss_mib),
        agent_rss: agent_after.map(|m| m.rss_mib),
    })
}

/// What the summary line needs from phase 2.
struct SchedulerAlone {
    complete: bool,
    binds_per_second: Option<f64>,
    with_startup_per_second: Option<f64>,
}

async fn scheduler_alone(args: &Args) -> anyhow::Result<SchedulerAlone> {
    println!();
    println!("== phase 2: scheduler alone ==");
    println!(
        "skiff server --disable-controllers (SQLite) + skiff agent --hollow --nodes {}; \
         {} bare pods created with no scheduler running; {}; then skiff controller \
         (scheduler + controllers, leader election) is started",
        args.nodes,
        args.replicas,
        if args.scheduler_with_agent {
            "the agent keeps running (it writes every bound pod's status)"
        } else {
            "the agent is stopped (Nodes keep their Ready status; \
             --node-monitor-grace-period 3600 so they stay Ready)"
        }
    );
    let mut cluster = Cluster::start(args, &["--disable-controllers"], None, false).await?;
    let pods_url = cluster.url("/api/v1/namespaces/default/pods");
    let server_cpu = procstat::cpu_seconds(cluster.server.pid());
    let t = Instant::now();
    let results: Vec<anyhow::Result<()>> = stream::iter(0..args.replicas)
        .map(|i| {
            let body = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("sched-{i}"), "labels": {"bench": "sched"}},
                "spec": pod_spec()});
            cluster.send(cluster.http.post(&pods_url).json(&body))
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    results
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()
        .context("creating the pods")?;
    let created = t.elapsed();
    let create_cpu = procstat::cpu_seconds(cluster.server.pid())
        .zip(server_cpu)
        .map(|(now, before)| now - before);
    println!(
        "{} pods created in {:.2} s ({:.0} creates/s, {} concurrent; server CPU {} s)",
        args.replicas,
        created.as_secs_f64(),
        args.replicas as f64 / created.as_secs_f64(),
        args.concurrency,
        secs(create_cpu)
    );
    let watch = PodWatch::start(&cluster.server.base_url, "default", "bench=sched").await?;
    if !args.scheduler_with_agent {
        cluster.agents = None;
    }
    let server_pid = cluster.server.pid();
    let me = std::process::id();

    let scrape_before = Scrape::fetch(&cluster.http, &cluster.server.base_url).await?;
    let start = Instant::now();
    let mut controller_flags = vec!["--node-monitor-grace-period", "3600"];
    controller_flags.extend(cluster_cidr_flags(args.nodes));
    let controller = ControllerProcess::start(&cluster.server.kubeconfig, &controller_flags)?;
    let mut procs = vec![
        ("server", server_pid),
        ("ctrl", controller.pid()),
        ("bench", me),
    ];
    if let Some(agent) = cluster.agent_pid() {
        procs.push(("agent", agent));
    }
    let mut probe = Probe::new(&procs);
    println!("skiff controller started at t = 0");
    let want = args.replicas;
    let complete = follow(&watch, &mut probe, start, args.timeout, |c| c.bound >= want).await;
    let cpu = probe.cpu_used();
    let machine = probe.machine_used();
    let controller_after = procstat::memory(controller.pid());
    let server_after = procstat::memory(server_pid);
    let scrape_after = Scrape::fetch(&cluster.http, &cluster.server.base_url).await?;
    let times = watch.times();
    if !complete {
        let log = controller.log();
        println!(
            "TIMEOUT after {:?}: {} of {want} bound; controller log (tail):\n{}",
            args.timeout,
            watch.counts().bound,
            tail_lines(&log, 20)
        );
    }

    let binds: Vec<Instant> = times.iter().filter_map(|t| t.bound).collect();
    let first = binds.iter().min().copied();
    let last = binds.iter().max().copied();
    println!();
    println!(
        "{:<36} {:>8} {:>9} {:>9}",
        "stage (from skiff controller start)", "binds", "seconds", "binds/s"
    );
    println!(
        "{:<36} {:>8} {:>9}",
        "first bind",
        usize::from(first.is_some()),
        first
            .map(|f| format!("{:.2}", f.duration_since(start).as_secs_f64()))
            .unwrap_or_else(|| "-".into())
    );
    let mut binds_per_second = None;
    let mut with_startup_per_second = None;
    if let (Some(first), Some(last), true) = (first, last, complete) {
        let span = last.duration_since(first).as_secs_f64().max(1e-3);
        binds_per_second = Some((binds.len() - 1).max(1) as f64 / span);
        println!(
            "{:<36} {:>8} {:>9.2} {:>9.0}",
            "first bind -> last bind",
            binds.len(),
            span,
            binds_per_second.unwrap_or_default()
        );
        let whole = last.duration_since(start).as_secs_f64();
        with_startup_per_second = Some(binds.len() as f64 / whole);
        println!(
            "{:<36} {:>8} {:>9.2} {:>9.0}",
            "controller start -> last bind",
            binds.len(),
            whole,
            with_startup_per_second.unwrap_or_default()
        );
    } else {
        println!("{:<36} {:>8}", "bound before the timeout", binds.len());
    }
    println!();
    print_server_work(&scrape_before, &scrape_after);

    println!();
    let mut rows = vec![
        ProcessRow {
            name: "skiff server".into(),
            idle: None,
            after: server_after,
            cpu: cpu[0],
        },
        ProcessRow {
            name: "skiff controller".into(),
            idle: None,
            after: controller_after,
            cpu: cpu[1],
        },
        ProcessRow {
            name: "bench-scale (the watch)".into(),
            idle: None,
            after: procstat::memory(me),
            cpu: cpu[2],
        },
    ];
    if let Some(agent) = cluster.agent_pid() {
        rows.push(ProcessRow {
            name: format!("skiff agent ({} nodes)", args.nodes),
            idle: None,
            after: procstat::memory(agent),
            cpu: cpu[3],
        });
    }
    print_processes(&rows, machine);
    cluster.keep_logs(args.keep_logs.as_deref(), "scheduler")?;
    if let Some(dir) = &args.keep_logs {
        std::fs::write(dir.join("scheduler-controller.log"), controller.log())?;
    }
    Ok(SchedulerAlone {
        complete,
        binds_per_second,
        with_startup_per_second,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a default TLS stack; it wants a provider even for http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = parse_args()?;
    let bin = skiff_e2e::skiff_bin();
    println!(
        "bench-scale: {} hollow nodes, Deployment 0 -> {} replicas, embedded SQLite store",
        args.nodes, args.replicas
    );
    let cidr = cluster_cidr_flags(args.nodes);
    println!(
        "cluster CIDR: {}",
        cidr.get(1)
            .copied()
            .unwrap_or("the default (10.244.0.0/16)")
    );
    println!(
        "settings: timeout {} s per phase, {} concurrent creates (phase 2), skiff = {}, {} CPUs, load average {}",
        args.timeout.as_secs(),
        args.concurrency,
        bin.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        procstat::load_average()
    );

    let e2e = match args.phase {
        Phase::All | Phase::EndToEnd => Some(end_to_end(&args).await?),
        Phase::Scheduler => None,
    };
    let sched = match args.phase {
        Phase::All | Phase::Scheduler => Some(scheduler_alone(&args).await?),
        Phase::EndToEnd => None,
    };

    println!();
    println!("summary (load average now {}):", procstat::load_average());
    if let Some(e) = &e2e {
        match e.total {
            Some(t) => println!(
                "  end to end: {} pods Running+Ready in {:.2} s = {:.0} pods/s (goal >= 1000); \
                 create -> Running+Ready p50 {} ms, p99 {} ms; server RSS {} MiB, agent RSS {} MiB",
                e.ready,
                t.as_secs_f64(),
                e.ready as f64 / t.as_secs_f64(),
                ms(e.create_to_ready.0),
                ms(e.create_to_ready.1),
                mib(e.server_rss),
                mib(e.agent_rss)
            ),
            None => println!(
                "  end to end: INCOMPLETE, {} of {} pods Running+Ready within {} s",
                e.ready,
                args.replicas,
                args.timeout.as_secs()
            ),
        }
    }
    if let Some(s) = &sched {
        match (s.binds_per_second, s.with_startup_per_second) {
            (Some(b), Some(w)) => println!(
                "  scheduler alone: {b:.0} binds/s (first -> last bind); \
                 {w:.0} binds/s from controller start"
            ),
            _ => println!("  scheduler alone: INCOMPLETE within the timeout"),
        }
    }
    let failed =
        e2e.as_ref().is_some_and(|e| !e.complete) || sched.as_ref().is_some_and(|s| !s.complete);
    if failed {
        bail!("a phase did not finish within {} s", args.timeout.as_secs());
    }
    Ok(())
}
