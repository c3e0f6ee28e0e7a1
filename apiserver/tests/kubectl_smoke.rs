//! The real kubectl (1.33 and 1.27) against the server: proof that the wire
//! format is right. Default validation is on, so OpenAPI v2/v3 are
//! exercised too.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

struct Kubectl {
    binary: PathBuf,
    home: tempfile::TempDir,
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(version: &str, server: &str) -> Kubectl {
        let home = tempfile::tempdir().unwrap();
        let kube = home.path().join(".kube");
        std::fs::create_dir_all(&kube).unwrap();
        std::fs::write(
            kube.join("config"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {server}\n\
                 contexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: skiff\n\
                 current-context: skiff\nusers:\n- name: skiff\n  user: {{}}\n"
            ),
        )
        .unwrap();
        Kubectl {
            binary: Path::new(KUBECTL_DIR).join(format!("kubectl.{version}")),
            home,
        }
    }

    /// Runs kubectl off the async runtime (the server keeps serving).
    async fn run(&self, args: &[&str]) -> Output {
        let binary = self.binary.clone();
        let home = self.home.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let out = Command::new(&binary)
                .args(&args)
                .env_clear()
                .env("HOME", &home)
                .env("KUBECONFIG", home.join(".kube/config"))
                .env("PATH", "/usr/bin:/bin")
                .output()
                .expect("run kubectl");
            Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    /// Runs and requires exit 0 and nothing on stderr (no warnings).
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_eq!(
            out.code, 0,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        assert_eq!(out.stderr, "", "kubectl {args:?} complained");
        out.stdout
    }
}

fn manifest(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

async fn smoke(version: &str) {
    let s = TestServer::start(Backend::Sqlite).await;
    let k = Kubectl::new(version, &s.base);
    let deploy = manifest("nginx-deployment.yaml");
    let service = manifest("nginx-service.yaml");

    let out = k.ok(&["apply", "-f", &deploy]).await;
    assert_eq!(out.trim(), "deployment.apps/nginx-deployment created");
    let out = k.ok(&["apply", "-f", &deploy]).await;
    assert_eq!(out.trim(), "deployment.apps/nginx-deployment unchanged");

    let out = k.ok(&["get", "deploy"]).await;
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] {
        assert!(header.contains(column), "{out}");
    }
    assert!(out.contains("nginx-deployment"), "{out}");

    let out = k
        .ok(&["scale", "deploy", "nginx-deployment", "--replicas=5"])
        .await;
    assert_eq!(out.trim(), "deployment.apps/nginx-deployment scaled");
    let (_, d) = s.get(&format!("{DEPLOY}/nginx-deployment")).await;
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], 2);
    let out = k
        .ok(&[
            "scale",
            "deploy",
            "nginx-deployment",
            "--current-replicas=5",
            "--replicas=3",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/nginx-deployment scaled");

    // A changed manifest: 3-way strategic merge patch.
    let changed = k.home.path().join("changed.yaml");
    let text = std::fs::read_to_string(&deploy)
        .unwrap()
        .replace("nginx:latest", "nginx:1.27");
    std::fs::write(&changed, text).unwrap();
    let out = k.ok(&["apply", "-f", changed.to_str().unwrap()]).await;
    assert_eq!(out.trim(), "deployment.apps/nginx-deployment configured");
    let (_, d) = s.get(&format!("{DEPLOY}/nginx-deployment")).await;
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );

    // rollout status follows the deployment over a watch until a (here
    // simulated) controller reports the rollout done.
    let reporter = {
        let client = s.client.clone();
        let url = s.url(&format!("{DEPLOY}/nginx-deployment/status"));
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let status = json!({"status": {"observedGeneration": 4, "replicas": 3,
                "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}});
            let resp = client
                .patch(&url)
                .header("Content-Type", "application/merge-patch+json")
                .body(status.to_string())
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success());
        })
    };
    let out = k
        .ok(&[
            "rollout",
            "status",
            "deployment/nginx-deployment",
            "--timeout=20s",
        ])
        .await;
    assert!(
        out.trim_end()
            .ends_with("deployment \"nginx-deployment\" successfully rolled out"),
        "{out}"
    );
    reporter.await.unwrap();

    let out = k.ok(&["apply", "-f", &service]).await;
    assert_eq!(out.trim(), "service/nginx-service created");
    let out = k.ok(&["get", "svc", "nginx-service"]).await;
    for column in ["TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"] {
        assert!(out.contains(column), "{out}");
    }
    assert!(out.contains("LoadBalancer"), "{out}");

    let out = k
        .ok(&["get", "deploy", "nginx-deployment", "-o", "json"])
        .await;
    let obj: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(obj["metadata"]["name"], "nginx-deployment");

    let out = k.run(&["get", "pods"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    assert_eq!(out.stderr, "No resources found in default namespace.\n");
    let out = k.ok(&["explain", "deployment.spec.replicas"]).await;
    assert!(out.contains("replicas <integer>"), "{out}");
    let out = k.ok(&["api-resources"]).await;
    assert!(
        out.contains("deployments") && out.contains("deploy"),
        "{out}"
    );

    // Unknown fields under the default (Strict) validation.
    let bad = k.home.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nfoo: bar\n",
    )
    .unwrap();
    let out = k.run(&["apply", "-f", bad.to_str().unwrap()]).await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unknown field \"foo\""),
        "{}",
        out.stderr
    );

    let out = k.ok(&["delete", "-f", &deploy]).await;
    assert_eq!(out.trim(), "deployment.apps \"nginx-deployment\" deleted");
    let out = k.ok(&["delete", "-f", &service]).await;
    assert_eq!(out.trim(), "service \"nginx-service\" deleted");
    let (code, _) = s.get(&format!("{DEPLOY}/nginx-deployment")).await;
    assert_eq!(code, reqwest::StatusCode::NOT_FOUND);

    // A namespace with contents: kubectl waits for its cleanup. (Applied
    // from a file: `kubectl create namespace` of 1.32+ sends protobuf.)
    let team = k.home.path().join("team.yaml");
    std::fs::write(
        &team,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team\ndata:\n  a: b\n",
    )
    .unwrap();
    let out = k.ok(&["apply", "-f", team.to_str().unwrap()]).await;
    assert_eq!(
        out.trim(),
        "namespace/team created\nconfigmap/settings created"
    );
    let out = k
        .ok(&["delete", "namespace", "team", "--timeout=20s"])
        .await;
    assert_eq!(out.trim(), "namespace \"team\" deleted");

    // A bound pod is deleted gracefully; kubectl waits until it is gone.
    s.create(PODS, &pod("graceful")).await;
    s.post(
        &format!("{PODS}/graceful/binding"),
        &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "graceful"},
            "target": {"kind": "Node", "name": "node-1"}}),
    )
    .await;
    let remover = {
        let client = s.client.clone();
        let url = s.url(&format!("{PODS}/graceful"));
        tokio::spawn(async move {
            // What the node agent does once the containers are stopped.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            client
                .delete(&url)
                .json(&json!({"gracePeriodSeconds": 0}))
                .send()
                .await
                .unwrap();
        })
    };
    let out = k.ok(&["delete", "pod", "graceful", "--timeout=20s"]).await;
    assert_eq!(out.trim(), "pod \"graceful\" deleted");
    remover.await.unwrap();
}

macro_rules! smoke_tests {
    ($($name:ident => $version:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            smoke($version).await;
        }
    )*};
}

smoke_tests! {
    kubectl_1_27 => "1.27",
    kubectl_1_28 => "1.28",
    kubectl_1_29 => "1.29",
    kubectl_1_30 => "1.30",
    kubectl_1_31 => "1.31",
    kubectl_1_32 => "1.32",
    kubectl_1_33 => "1.33",
}
