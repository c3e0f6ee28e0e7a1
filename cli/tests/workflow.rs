//! The user story end to end: `skiff server`, then apply / get / describe /
//! scale / delete through the built binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::{Background, Cluster, deployment_variant, json, manifest};

#[test]
fn apply_creates_then_leaves_unchanged_then_configures() {
    let c = Cluster::start();
    let deploy = manifest("nginx-deployment.yaml");
    assert_eq!(
        c.skiff(&["apply", "-f", &deploy]).ok(),
        "deployment.apps/nginx-deployment created\n"
    );
    assert_eq!(
        c.skiff(&["apply", "-f", &deploy]).ok(),
        "deployment.apps/nginx-deployment unchanged\n"
    );

    let changed = c.write("changed.yaml", &deployment_variant(3, "nginx:1.27"));
    assert_eq!(
        c.skiff(&["apply", "-f", &changed]).ok(),
        "deployment.apps/nginx-deployment configured\n"
    );
    assert_eq!(
        c.skiff(&["apply", "-f", &changed]).ok(),
        "deployment.apps/nginx-deployment unchanged\n"
    );

    let live = json(
        c.skiff(&["get", "deploy", "nginx-deployment", "-o", "json"])
            .ok(),
    );
    assert_eq!(live["spec"]["replicas"], 3);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    let annotation =
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .expect("last-applied annotation");
    assert!(annotation.ends_with("}\n"), "{annotation}");
    assert_eq!(json(annotation)["spec"]["replicas"], 3);
    assert!(live["metadata"].get("managedFields").is_none());
}

#[test]
fn multi_document_files_directories_and_stdin() {
    let c = Cluster::start();
    let both = format!(
        "{}\n---\n{}",
        std::fs::read_to_string(manifest("nginx-deployment.yaml")).unwrap(),
        std::fs::read_to_string(manifest("nginx-service.yaml")).unwrap()
    );
    let file = c.write("both.yaml", &both);
    assert_eq!(
        c.skiff(&["apply", "-f", &file]).ok(),
        "deployment.apps/nginx-deployment created\nservice/nginx-service created\n"
    );
    // The seed manifests' directory, and the same again from stdin.
    let dir = format!("{}/../manifests", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        c.skiff(&["apply", "-f", &dir]).ok(),
        "deployment.apps/nginx-deployment unchanged\nservice/nginx-service unchanged\n"
    );
    let out = c.skiff_stdin(
        &["apply", "-f", "-"],
        &both.replace("replicas: 2", "replicas: 4"),
    );
    assert_eq!(
        out.ok(),
        "deployment.apps/nginx-deployment configured\nservice/nginx-service unchanged\n"
    );
    // A JSON List works too.
    let list = r#"{"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"one"},"data":{"a":"1"}},
        {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"two"}}]}"#;
    assert_eq!(
        c.skiff_stdin(&["apply", "-f", "-"], list).ok(),
        "configmap/one created\nconfigmap/two created\n"
    );
}

#[test]
fn get_prints_tables_and_objects() {
    let c = Cluster::start();
    let dir = format!("{}/../manifests", env!("CARGO_MANIFEST_DIR"));
    c.skiff(&["apply", "-f", &dir]).ok();

    let table = c.skiff(&["get", "deployments"]).ok().to_string();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(
        lines.next().unwrap().starts_with("nginx-deployment   "),
        "{table}"
    );

    let wide = c.skiff(&["get", "deploy", "-o", "wide"]).ok().to_string();
    assert!(
        wide.lines()
            .next()
            .unwrap()
            .ends_with("CONTAINERS   IMAGES         SELECTOR"),
        "{wide}"
    );
    assert!(wide.contains("nginx:latest   app=nginx"), "{wide}");

    // Several kinds: prefixes and a blank line between the tables.
    let both = c.skiff(&["get", "deploy,svc"]).ok().to_string();
    assert!(
        both.contains("\ndeployment.apps/nginx-deployment "),
        "{both}"
    );
    assert!(both.contains("\n\nNAME "), "{both}");
    assert!(both.contains("service/nginx-service "), "{both}");
    let svc = c.skiff(&["get", "service/nginx-service"]).ok().to_string();
    assert!(
        svc.starts_with("NAME            TYPE           CLUSTER-IP"),
        "{svc}"
    );
    assert!(svc.contains("LoadBalancer"), "{svc}");

    let all = c
        .skiff(&["get", "svc", "-A", "--show-labels"])
        .ok()
        .to_string();
    assert!(all.starts_with("NAMESPACE   NAME "), "{all}");
    assert!(all.trim_end().ends_with("<none>"), "{all}");
    assert!(all.contains("\ndefault     nginx-service "), "{all}");

    assert_eq!(
        c.skiff(&["get", "deploy,svc", "-o", "name"]).ok(),
        "deployment.apps/nginx-deployment\nservice/nginx-service\n"
    );
    let yaml = c
        .skiff(&["get", "deploy", "nginx-deployment", "-o", "yaml"])
        .ok()
        .to_string();
    assert!(
        yaml.starts_with("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"),
        "{yaml}"
    );
    assert!(yaml.contains("\n  replicas: 2\n"), "{yaml}");
    let list = json(c.skiff(&["get", "deploy,svc", "-o", "json"]).ok());
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "Deployment");
    assert_eq!(list["items"][1]["kind"], "Service");

    // Label selectors.
    assert!(
        c.skiff(&["get", "deploy", "-l", "app=nginx", "-o", "name"])
            .ok()
            .is_empty()
    );
    c.skiff(&["apply", "-f", &c.write("labelled.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labelled\n  labels:\n    tier: web\n")]).ok();
    assert_eq!(
        c.skiff(&["get", "cm", "-l", "tier=web", "-o", "name"]).ok(),
        "configmap/labelled\n"
    );
    let none = c.skiff(&["get", "cm", "-l", "tier=db"]);
    assert_eq!(none.ok(), "");
    assert_eq!(none.stderr, "No resources found in default namespace.\n");
    let other_ns = c.skiff(&["get", "deploy", "-n", "kube-system"]);
    assert_eq!(
        other_ns.stderr,
        "No resources found in kube-system namespace.\n"
    );
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  nodeName: node-1
  containers:
  - name: nginx
    image: nginx:1.27
    env:
    - name: FOO
      value: bar
    ports:
    - containerPort: 80
    volumeMounts:
    - name: data
      mountPath: /data
  volumes:
  - name: data
    emptyDir: {}
";

/// Lines of a background `skiff` run's stdout, read on a thread.
fn lines_of(child: &mut Background) -> mpsc::Receiver<String> {
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn get_pods_watch_prints_changes() {
    let c = Cluster::start();
    let mut child = Background(
        c.command(&["get", "pods", "-w"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start get -w"),
    );
    let rx = lines_of(&mut child);
    // Nothing to list: no header until the first change arrives.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    c.skiff_stdin(&["apply", "-f", "-"], POD).ok();
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a line from get -w")
    };
    let header: Vec<String> = next().split_whitespace().map(str::to_string).collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let row = next();
    assert!(row.starts_with("web "), "{row}");
    assert!(row.contains("Pending"), "{row}");
}

#[test]
fn get_deployments_watch_after_the_list() {
    let c = Cluster::start();
    c.skiff(&["apply", "-f", &manifest("nginx-deployment.yaml")])
        .ok();
    let mut child = Background(
        c.command(&["get", "deploy", "-w"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start get -w"),
    );
    let rx = lines_of(&mut child);
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a line from get -w")
    };
    assert!(next().starts_with("NAME "));
    assert!(next().starts_with("nginx-deployment "));
    c.skiff(&["scale", "deploy", "nginx-deployment", "--replicas=7"])
        .ok();
    // The controllers in `skiff server` also write the Deployment's status,
    // so rows from before the scale may come first: every row is this
    // Deployment's, and one of them shows the new size.
    loop {
        let change = next();
        assert!(change.starts_with("nginx-deployment "), "{change}");
        if change.contains("/7") {
            break;
        }
    }
}

#[test]
fn get_all_lists_the_common_kinds() {
    let c = Cluster::start();
    let dir = format!("{}/../manifests", env!("CARGO_MANIFEST_DIR"));
    c.skiff(&["apply", "-f", &dir]).ok();
    c.skiff_stdin(&["apply", "-f", "-"], POD).ok();
    let all = c.skiff(&["get", "all"]).ok().to_string();
    // One section per kind, in discovery order; the controllers in `skiff
    // server` may already have added a ReplicaSet section by now.
    let sections: Vec<&str> = all.split("\n\n").collect();
    let position = |needle: &str| {
        sections
            .iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("no section with {needle:?} in:\n{all}"))
    };
    let pods = position("\npod/web ");
    let services = position("\nservice/nginx-service ");
    let deployments = position("\ndeployment.apps/nginx-deployment ");
    assert!(pods < services && services < deployments, "{all}");
    assert!(sections.len() <= 4, "{all}");
    for section in &sections {
        assert!(section.starts_with("NAME "), "{all}");
    }
}

#[test]
fn describe_has_the_usual_sections() {
    let c = Cluster::start();
    let dir = format!("{}/../manifests", env!("CARGO_MANIFEST_DIR"));
    c.skiff(&["apply", "-f", &dir]).ok();
    let d = c
        .skiff(&["describe", "deployment", "nginx-deployment"])
        .ok()
        .to_string();
    for needle in [
        "Name:                   nginx-deployment\n",
        "Namespace:              default\n",
        "Selector:               app=nginx\n",
        "Replicas:               2 desired | ",
        "StrategyType:           RollingUpdate\n",
        "Pod Template:\n  Labels:  app=nginx\n  Containers:\n   nginx:\n",
        "    Image:        nginx:latest\n",
        "    Port:         80/TCP\n",
        "NewReplicaSet:",
        "Events:",
    ] {
        assert!(d.contains(needle), "missing {needle:?} in:\n{d}");
    }
    assert!(!d.contains("last-applied-configuration"), "{d}");
    let s = c.skiff(&["describe", "svc/nginx-service"]).ok().to_string();
    for needle in [
        "Type:",
        "LoadBalancer",
        "Port:",
        "80/TCP",
        "TargetPort:",
        "NodePort:",
        "Endpoints:",
        "Events:",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in:\n{s}");
    }
    c.skiff_stdin(&["apply", "-f", "-"], POD).ok();
    c.skiff_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n  labels:\n    node-role.kubernetes.io/worker: \"\"\n",
    )
    .ok();
    let uid = json(c.skiff(&["get", "pod", "web", "-o", "json"]).ok())["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let event = format!(
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: web.1\ninvolvedObject:\n  kind: Pod\n  namespace: default\n  name: web\n  uid: {uid}\n\
         reason: Scheduled\nmessage: Successfully assigned default/web to node-1\ntype: Normal\nsource:\n  component: default-scheduler\ncount: 1\n"
    );
    c.skiff_stdin(&["apply", "-f", "-"], &event).ok();
    let p = c.skiff(&["describe", "pod", "web"]).ok().to_string();
    for needle in [
        "Name:             web\n",
        "Node:             node-1\n",
        "Status:           Pending\n",
        "Containers:\n  nginx:\n    Image:      nginx:1.27\n",
        "    Environment:\n      FOO:  bar\n",
        "    Mounts:\n      /data from data (rw)\n",
        "Volumes:\n  data:\n    Type:",
        "Events:\n  Type    Reason     Age",
        "  Normal  Scheduled  ",
        "default-scheduler  Successfully assigned default/web to node-1\n",
    ] {
        assert!(p.contains(needle), "missing {needle:?} in:\n{p}");
    }
    let n = c.skiff(&["describe", "node", "node-1"]).ok().to_string();
    for needle in [
        "Roles:                worker\n",
        "Taints:               <none>\n",
        "Non-terminated Pods:  (1 in total)\n",
    ] {
        assert!(n.contains(needle), "missing {needle:?} in:\n{n}");
    }
    // Objects chosen by label.
    let by_label = c
        .skiff(&["describe", "pods", "-l", "app=web"])
        .ok()
        .to_string();
    assert!(
        by_label.starts_with("Name:             web\n"),
        "{by_label}"
    );
    let ns = c
        .skiff(&["describe", "namespace", "default"])
        .ok()
        .to_string();
    assert!(ns.starts_with("Name:"), "{ns}");
    let missing = c.skiff(&["describe", "deploy", "nope"]);
    assert_eq!(
        missing.fails(),
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
}

#[test]
fn scale_through_the_scale_subresource() {
    let c = Cluster::start();
    c.skiff(&["apply", "-f", &manifest("nginx-deployment.yaml")])
        .ok();
    assert_eq!(
        c.skiff(&["scale", "deploy", "nginx-deployment", "--replicas=5"])
            .ok(),
        "deployment.apps/nginx-deployment scaled\n"
    );
    let live = json(
        c.skiff(&["get", "deploy/nginx-deployment", "-o", "json"])
            .ok(),
    );
    assert_eq!(live["spec"]["replicas"], 5);

    let mismatch = c.skiff(&[
        "scale",
        "deploy/nginx-deployment",
        "--replicas=1",
        "--current-replicas=2",
    ]);
    assert_eq!(
        mismatch.fails(),
        "error: Expected replicas to be 2, was 5\n"
    );
    c.skiff(&[
        "scale",
        "deploy/nginx-deployment",
        "--replicas=1",
        "--current-replicas=5",
    ])
    .ok();
    let live = json(
        c.skiff(&["get", "deploy/nginx-deployment", "-o", "json"])
            .ok(),
    );
    assert_eq!(live["spec"]["replicas"], 1);

    let missing = c.skiff(&["scale", "deploy", "nope", "--replicas=1"]);
    assert_eq!(
        missing.fails(),
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
    let no_scale = c.skiff(&["scale", "svc", "nginx-service", "--replicas=1"]);
    assert!(
        no_scale
            .fails()
            .starts_with("error: could not find proper group-version for scale subresource")
    );
}

#[test]
fn delete_waits_until_the_objects_are_gone() {
    let c = Cluster::start();
    let dir = format!("{}/../manifests", env!("CARGO_MANIFEST_DIR"));
    c.skiff(&["apply", "-f", &dir]).ok();
    let out = c.skiff(&["delete", "-f", &manifest("nginx-deployment.yaml")]);
    assert_eq!(out.ok(), "deployment.apps \"nginx-deployment\" deleted\n");
    let gone = c.skiff(&["get", "deploy", "nginx-deployment"]);
    assert_eq!(
        gone.fails(),
        "Error from server (NotFound): deployments.apps \"nginx-deployment\" not found\n"
    );

    assert_eq!(
        c.skiff(&["delete", "service", "nginx-service"]).ok(),
        "service \"nginx-service\" deleted\n"
    );
    let again = c.skiff(&["delete", "-f", &manifest("nginx-service.yaml")]);
    assert!(
        again
            .fails()
            .starts_with("Error from server (NotFound): error when deleting \""),
        "{}",
        again.stderr
    );
    assert_eq!(
        c.skiff(&["delete", "svc", "nginx-service", "--ignore-not-found"])
            .ok(),
        ""
    );

    // By label selector and --all.
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        c.skiff(&["apply", "-f", &c.write(&format!("{name}.yaml"), &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels:\n    tier: {tier}\n"))]).ok();
    }
    assert_eq!(
        c.skiff(&["delete", "cm", "-l", "tier=web"]).ok(),
        "configmap \"a\" deleted\nconfigmap \"b\" deleted\n"
    );
    assert_eq!(
        c.skiff(&["delete", "cm", "--all", "--wait=false"]).ok(),
        "configmap \"c\" deleted\n"
    );
    let nothing = c.skiff(&["delete", "cm", "--all"]);
    assert_eq!(nothing.ok(), "");
    assert_eq!(nothing.stderr, "No resources found\n");
    // A pod on a node with no agent would wait for its containers: --force does not.
    c.skiff_stdin(&["apply", "-f", "-"], POD).ok();
    let forced = c.skiff(&["delete", "pod", "web", "--force", "--grace-period=0"]);
    assert_eq!(forced.ok(), "pod \"web\" force deleted\n");
    assert!(
        forced
            .stderr
            .starts_with("Warning: Immediate deletion does not wait"),
        "{}",
        forced.stderr
    );

    let no_name = c.skiff(&["delete", "cm"]);
    assert_eq!(
        no_name.fails(),
        "error: resource(s) were provided, but no name was specified\n"
    );
}

#[test]
fn version_and_kubectl_share_the_kubeconfig() {
    let c = Cluster::start();
    let v = c.skiff(&["version"]).ok().to_string();
    assert!(v.starts_with("Client Version: v"), "{v}");
    assert!(v.contains("\nServer Version: v1."), "{v}");
    assert!(c.skiff(&["version", "--client"]).ok().lines().count() == 1);

    c.skiff(&["apply", "-f", &manifest("nginx-deployment.yaml")])
        .ok();
    // The kubeconfig `skiff server` wrote works for kubectl as is.
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["get", "deployments", "-o", "name"])
        .env_remove("KUBECONFIG")
        .env("HOME", c.path())
        .output()
        .expect("run kubectl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "deployment.apps/nginx-deployment\n",
        "kubectl stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
