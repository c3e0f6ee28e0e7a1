//! API create benchmark: N Pods created through the HTTP API by C concurrent
//! clients, on the embedded SQLite store and on etcd, printed beside raw etcd
//! puts of the same size measured in the same run (the anchor), plus the
//! server's RSS after the creates.
//!
//! Run: `cargo build --release -p skiff -p skiff-e2e && target/release/bench-api`
//! (`--objects 10000 --concurrency 32`). Machines here are noisy: compare the
//! ratios within one run, not absolute figures across runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::stream::{self, StreamExt};
use skiff_e2e::server::{Server, StoreChoice};
use skiff_store::testing::EtcdServer;

struct Args {
    objects: usize,
    concurrency: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        objects: 10_000,
        concurrency: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--objects" => args.objects = value.parse()?,
            "--concurrency" => args.concurrency = value.parse()?,
            other => bail!("unknown flag {other} (known: --objects N --concurrency C)"),
        }
    }
    Ok(args)
}

/// Throughput and latency of one run.
struct Figures {
    name: String,
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    rss_mib: Option<f64>,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[idx]
    }
}

/// A realistic Pod (the seed's nginx container, labelled), about 1 KiB stored.
fn pod_body(i: usize) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("bench-{i}"), "labels": {"app": "nginx", "bench": "api"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:latest",
            "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    })
}

async fn run_timed<F, Fut>(
    name: &str,
    ops: usize,
    concurrency: usize,
    op: F,
) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let start = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = stream::iter(0..ops)
        .map(|i| {
            let fut = op(i);
            async move {
                let t = Instant::now();
                fut.await?;
                Ok(t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let latencies = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Figures {
        name: name.into(),
        ops,
        elapsed,
        latencies,
        rss_mib: None,
    })
}

async fn raw_etcd_puts(endpoint: &str, args: &Args) -> anyhow::Result<Figures> {
    let client = etcd_client::Client::connect([endpoint], None).await?;
    let value = Arc::new(serde_json::to_vec(&pod_body(0))?);
    run_timed("raw etcd put", args.objects, args.concurrency, |i| {
        let mut kv = client.kv_client();
        let value = value.clone();
        async move {
            kv.put(format!("/raw/pods/bench-{i}"), value.as_slice(), None)
                .await?;
            Ok(())
        }
    })
    .await
}

async fn api_creates(server: &Server, label: &str, args: &Args) -> anyhow::Result<Figures> {
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/pods", server.base_url);
    let mut figures = run_timed(label, args.objects, args.concurrency, |i| {
        let req = http.post(&url).json(&pod_body(i));
        async move {
            let resp = req.send().await?;
            if resp.status() != reqwest::StatusCode::CREATED {
                bail!("create answered {}: {}", resp.status(), resp.text().await?);
            }
            Ok(())
        }
    })
    .await?;
    figures.rss_mib = rss_mib(server.pid());
    Ok(figures)
}

/// Resident memory of a process, from /proc.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn print(rows: &[Figures], anchor: &Figures) {
    println!(
        "{:<24} {:>8} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "case", "ops", "ops/s", "p50 ms", "p99 ms", "vs etcd put", "RSS MiB"
    );
    for f in rows {
        println!(
            "{:<24} {:>8} {:>10.0} {:>10.2} {:>10.2} {:>11.2}x {:>10}",
            f.name,
            f.ops,
            f.per_second(),
            f.percentile(0.50).as_secs_f64() * 1e3,
            f.percentile(0.99).as_secs_f64() * 1e3,
            f.per_second() / anchor.per_second(),
            f.rss_mib
                .map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    // reqwest is built without a default TLS stack; it wants a provider even for http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!(
        "bench-api: {} Pods, {} concurrent clients, one run per case",
        args.objects, args.concurrency
    );
    let etcd = EtcdServer::start()?;
    let anchor = raw_etcd_puts(&etcd.endpoint(), &args).await?;

    // The API alone: no scheduler reacting to 10,000 unschedulable pods.
    let api_only = ["--disable-controllers"];
    let sqlite = Server::start_with(StoreChoice::Sqlite, &api_only)?;
    let idle_rss = rss_mib(sqlite.pid());
    let on_sqlite = api_creates(&sqlite, "API create (SQLite)", &args).await?;
    drop(sqlite);

    let on_etcd_server = Server::start_with(
        StoreChoice::Etcd {
            endpoint: etcd.endpoint(),
            prefix: "/bench".into(),
        },
        &api_only,
    )?;
    let on_etcd = api_creates(&on_etcd_server, "API create (etcd)", &args).await?;
    drop(on_etcd_server);

    let rows = [anchor, on_sqlite, on_etcd];
    print(&rows, &rows[0]);
    if let Some(idle) = idle_rss {
        println!("server RSS idle (SQLite): {idle:.1} MiB");
    }
    Ok(())
}
