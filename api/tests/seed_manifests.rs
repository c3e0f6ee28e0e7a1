//! The example manifests in `manifests/` go through decoding, defaulting
//! and validation as the API server would put them through.

use serde_json::{Value, json};
use skiff_api::apps::Deployment;
use skiff_api::codec::{FieldValidation, normalize};
use skiff_api::core::Service;

fn manifest(name: &str) -> Value {
    let path = format!("{}/../manifests/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn nginx_deployment_is_defaulted_like_kubernetes() {
    let n = normalize::<Deployment>(manifest("nginx-deployment.yaml"), FieldValidation::Strict)
        .unwrap();
    assert!(n.warnings.is_empty());
    let d = &n.object;
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app": "nginx"}})
    );
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["securityContext"], json!({}));
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "nginx");
    assert_eq!(c["image"], "nginx:latest");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["resources"], json!({}));
}

#[test]
fn nginx_service_is_defaulted_like_kubernetes() {
    let n = normalize::<Service>(manifest("nginx-service.yaml"), FieldValidation::Strict).unwrap();
    let s = &n.object;
    assert_eq!(s["apiVersion"], "v1");
    assert_eq!(s["kind"], "Service");
    let spec = &s["spec"];
    assert_eq!(spec["type"], "LoadBalancer");
    assert_eq!(
        spec["ports"],
        json!([{"protocol": "TCP", "port": 80, "targetPort": 80}])
    );
    assert_eq!(spec["selector"], json!({"app": "nginx"}));
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(s["status"], json!({"loadBalancer": {}}));
}

#[test]
fn normalizing_twice_changes_nothing() {
    let once = normalize::<Deployment>(manifest("nginx-deployment.yaml"), FieldValidation::Strict)
        .unwrap();
    let twice = normalize::<Deployment>(once.object.clone(), FieldValidation::Strict).unwrap();
    assert_eq!(once.object, twice.object);
    let once =
        normalize::<Service>(manifest("nginx-service.yaml"), FieldValidation::Strict).unwrap();
    let twice = normalize::<Service>(once.object.clone(), FieldValidation::Strict).unwrap();
    assert_eq!(once.object, twice.object);
}
