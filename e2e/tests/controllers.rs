//! The controllers milestone seen through the real kubectl: a `skiff server`
//! (controllers and scheduler inside, lab profile) and three hollow nodes in
//! a `skiff agent --hollow` process. The seed Deployment rolls out, changes
//! image, is rolled back by `skiff rollout undo`, and `describe` shows the
//! Events the controllers, the scheduler and the agents recorded.

use std::time::Duration;

use skiff_e2e::agent::HollowAgents;
use skiff_e2e::kubectl::{Kubectl, wait_for_line};
use skiff_e2e::server::{Server, StoreChoice};
use skiff_e2e::{eventually, manifest, skiff};

fn image_of(k: &Kubectl) -> String {
    k.run(&[
        "get",
        "deploy",
        "nginx-deployment",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
    .ok()
    .stdout
}

fn rollout_status(k: &Kubectl) {
    let out = k
        .run(&[
            "rollout",
            "status",
            "deploy/nginx-deployment",
            "--timeout=60s",
        ])
        .ok();
    assert!(
        out.stdout
            .contains("deployment \"nginx-deployment\" successfully rolled out"),
        "{}",
        out.stdout
    );
}

fn scenario(version: &str) {
    let server = Server::start_with(StoreChoice::Sqlite, &["--lab-profile"]).expect("server");
    let agents = HollowAgents::start(&server, 3).expect("hollow agents");
    let k = Kubectl::new(version, &server.kubeconfig);
    assert!(
        eventually(Duration::from_secs(30), || {
            k.run(&["get", "nodes", "--no-headers"])
                .stdout
                .matches(" Ready ")
                .count()
                == 3
        }),
        "3 hollow nodes never became Ready:\n{}",
        agents.log()
    );

    // get pods -w shows the Deployment's pods appear.
    let (_watch, lines) = k.spawn_lines(&["get", "pods", "-w"]);
    std::thread::sleep(Duration::from_millis(500));
    let deploy = manifest("nginx-deployment.yaml");
    let out = k.run(&["apply", "-f", deploy.to_str().unwrap()]).ok();
    assert_eq!(
        out.stdout.trim(),
        "deployment.apps/nginx-deployment created"
    );
    rollout_status(&k);
    assert!(
        wait_for_line(&lines, "Running", Duration::from_secs(20))
            .is_some_and(|l| l.starts_with("nginx-deployment-")),
        "get pods -w never showed a Running nginx pod"
    );
    let out = k.run(&["get", "pods", "-o", "wide"]).ok();
    assert_eq!(
        out.stdout.matches("Running").count(),
        2,
        "two Running pods expected:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("hollow-node-"), "{}", out.stdout);

    // A new image rolls out; skiff rollout undo restores the old template.
    k.run(&[
        "set",
        "image",
        "deploy/nginx-deployment",
        "nginx=nginx:1.27",
    ])
    .ok();
    rollout_status(&k);
    assert_eq!(image_of(&k), "nginx:1.27");
    let (code, stdout, stderr) = skiff(
        &server.kubeconfig,
        &["rollout", "undo", "deploy/nginx-deployment"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.trim(),
        "deployment.apps/nginx-deployment rolled back"
    );
    rollout_status(&k);
    assert_eq!(image_of(&k), "nginx:latest");
    let (code, stdout, _) = skiff(
        &server.kubeconfig,
        &["rollout", "status", "deploy/nginx-deployment"],
    );
    assert_eq!(code, 0);
    assert!(stdout.contains("successfully rolled out"), "{stdout}");

    // describe shows the Events of the controllers, scheduler and agents.
    let out = k.run(&["describe", "deploy", "nginx-deployment"]).ok();
    assert!(out.stdout.contains("ScalingReplicaSet"), "{}", out.stdout);
    assert!(out.stdout.contains("NewReplicaSet:"), "{}", out.stdout);
    let pod = k
        .run(&["get", "pods", "-l", "app=nginx", "-o", "name"])
        .ok()
        .stdout
        .lines()
        .next()
        .expect("a pod")
        .trim_start_matches("pod/")
        .to_string();
    let out = k.run(&["describe", "pod", &pod]).ok();
    assert!(
        out.stdout.contains("Scheduled") && out.stdout.contains("Successfully assigned"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Controlled By:  ReplicaSet/"),
        "{}",
        out.stdout
    );

    // Deleting the Deployment takes its ReplicaSets and pods with it (GC).
    k.run(&["delete", "-f", deploy.to_str().unwrap()]).ok();
    assert!(
        eventually(Duration::from_secs(30), || {
            k.run(&["get", "pods,rs", "--no-headers"])
                .stdout
                .trim()
                .is_empty()
        }),
        "pods and ReplicaSets outlived their Deployment"
    );
    drop(agents);
}

#[test]
fn controllers_with_kubectl_1_33() {
    scenario("1.33");
}

#[test]
fn controllers_with_kubectl_dispatcher() {
    scenario("dispatcher");
}
