//! The lab benchmark, as root (everything in the labs' own network
//! namespaces; the host's network is never touched):
//!
//! 1. `skiff lab up --nodes N` until every node is Ready (each run a fresh
//!    lab), and `skiff lab down` of each, the medians of the runs;
//! 2. on one lab with the nginx image loaded and already pulled once by
//!    every node: from `kubectl apply` of the seed Deployment and Service
//!    to nginx's page answering through the Service's ClusterIP from a node
//!    (polled every ~50 ms from node N's netns), the median of the runs.
//!    Each run deletes both and waits for the pods to go first.
//!
//! `cargo build --release -p skiff -p skiff-e2e && sudo target/release/bench-lab
//! [--nodes 3] [--runs 3]` (nginx's .debs are cached in `$SKIFF_DEB_CACHE`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::lab::{Lab, build_nginx_image};
use skiff_e2e::{eventually, manifest};

const NGINX_PAGE: &str = "hello from skiff nginx";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: u32| -> u32 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let nodes = flag("--nodes", 3);
    let runs = flag("--runs", 3).max(1);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bench-lab: needs root (the lab makes network namespaces)");
        return ExitCode::FAILURE;
    }
    match run(nodes, runs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

fn run(nodes: u32, runs: u32) -> Result<(), String> {
    // 1. lab up.
    let mut up = Vec::new();
    let mut down = Vec::new();
    let mut lab = None;
    for i in 0..runs {
        if let Some(previous) = lab.take() {
            down.push(lab_down(previous));
        }
        let l = Lab::up(nodes);
        println!("lab up run {}: {}", i + 1, secs(l.up_time));
        up.push(l.up_time);
        lab = Some(l);
    }
    let lab = lab.expect("at least one run");

    // 2. apply -> Service answering, on the last lab.
    let image = build_nginx_image(lab.tmp());
    lab.load(&image);
    let kubectl = Kubectl::new("1.33", &lab.kubeconfig());
    let seed = [
        manifest("nginx-deployment.yaml"),
        manifest("nginx-service.yaml"),
    ];
    let files: Vec<&str> = seed.iter().map(|p| p.to_str().unwrap()).collect();
    let apply = ["apply", "-f", files[0], "-f", files[1]];
    let delete = ["delete", "-f", files[0], "-f", files[1], "--wait=true"];
    let client_node = format!("node{nodes}");

    // Warm-up (not counted): every node pulls the image once.
    kubectl.run(&apply).ok();
    let replicas = format!("--replicas={}", 2 * nodes);
    kubectl
        .run(&["scale", "deploy/nginx-deployment", &replicas])
        .ok();
    let warm = kubectl.run(&[
        "rollout",
        "status",
        "deploy/nginx-deployment",
        "--timeout=120s",
    ]);
    if warm.code != 0 {
        return Err(format!("warm-up rollout: {warm:?}\n{}", lab.log_tails()));
    }
    clean(&kubectl, &delete)?;

    let mut answer = Vec::new();
    for i in 0..runs {
        let started = Instant::now();
        kubectl.run(&apply).ok();
        let mut cluster_ip = String::new();
        let answered = eventually(Duration::from_secs(120), || {
            if cluster_ip.is_empty() {
                cluster_ip = kubectl
                    .run(&[
                        "get",
                        "svc",
                        "nginx-service",
                        "-o",
                        "jsonpath={.spec.clusterIP}",
                    ])
                    .stdout
                    .trim()
                    .to_string();
                return false;
            }
            lab.http_get(&client_node, &cluster_ip, 80)
                .is_some_and(|page| page.contains(NGINX_PAGE))
        });
        let took = started.elapsed();
        if !answered {
            return Err(format!(
                "run {}: the Service never answered\n{}",
                i + 1,
                lab.log_tails()
            ));
        }
        println!(
            "apply -> ClusterIP answering from {client_node}, run {}: {}",
            i + 1,
            secs(took)
        );
        answer.push(took);
        clean(&kubectl, &delete)?;
    }

    down.push(lab_down(lab));
    println!();
    println!("== bench-lab ({nodes} nodes, {runs} runs, medians) ==");
    println!(
        "lab up (all nodes Ready):              {}",
        secs(median(up))
    );
    println!(
        "lab down (last one after its pods):    {}",
        secs(median(down))
    );
    println!(
        "apply -> Service answering (ClusterIP): {}",
        secs(median(answer))
    );
    Ok(())
}

/// `skiff lab down`, timed (the lab's Drop then has nothing left to do).
fn lab_down(lab: Lab) -> Duration {
    let started = Instant::now();
    lab.ok("down", &[]);
    let took = started.elapsed();
    println!("lab down: {}", secs(took));
    took
}

/// Deletes the seed and waits until no nginx pod is left.
fn clean(kubectl: &Kubectl, delete: &[&str]) -> Result<(), String> {
    kubectl.run(delete).ok();
    let gone = eventually(Duration::from_secs(60), || {
        kubectl
            .run(&["get", "pods", "-l", "app=nginx", "--no-headers"])
            .stdout
            .trim()
            .is_empty()
    });
    if gone {
        Ok(())
    } else {
        Err("nginx pods still there 60 s after delete".into())
    }
}
