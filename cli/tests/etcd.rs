//! The same apply / get / delete flow with `skiff server --etcd` against a
//! real etcd.

mod common;

use common::{Cluster, json, manifest};
use skiff_store::testing::EtcdServer;

#[test]
fn apply_get_delete_on_etcd() {
    let etcd = EtcdServer::start().expect("etcd starts");
    let prefix = skiff_store::testing::unique_prefix();
    let c = Cluster::start_with(&["--etcd", &etcd.endpoint(), "--etcd-prefix", &prefix]);

    let deploy = manifest("nginx-deployment.yaml");
    assert_eq!(
        c.skiff(&["apply", "-f", &deploy]).ok(),
        "deployment.apps/nginx-deployment created\n"
    );
    assert_eq!(
        c.skiff(&["apply", "-f", &deploy]).ok(),
        "deployment.apps/nginx-deployment unchanged\n"
    );
    let table = c
        .skiff(&["get", "deploy,pods", "-o", "wide"])
        .ok()
        .to_string();
    assert!(
        table.contains("deployment.apps/nginx-deployment "),
        "{table}"
    );
    let live = json(
        c.skiff(&["get", "deploy", "nginx-deployment", "-o", "json"])
            .ok(),
    );
    assert_eq!(live["spec"]["replicas"], 2);
    assert_eq!(
        c.skiff(&["scale", "deploy", "nginx-deployment", "--replicas=5"])
            .ok(),
        "deployment.apps/nginx-deployment scaled\n"
    );
    assert_eq!(
        c.skiff(&["delete", "-f", &deploy]).ok(),
        "deployment.apps \"nginx-deployment\" deleted\n"
    );
    c.skiff(&["get", "deploy", "nginx-deployment"]).fails();

    // The state lives in etcd: a second server on the same prefix sees it.
    c.skiff(&["apply", "-f", &manifest("nginx-service.yaml")])
        .ok();
    let again = Cluster::start_with(&["--etcd", &etcd.endpoint(), "--etcd-prefix", &prefix]);
    assert_eq!(
        again.skiff(&["get", "svc", "-o", "name"]).ok(),
        "service/nginx-service\n"
    );
    drop(again);
    drop(c);
    drop(etcd);
}
