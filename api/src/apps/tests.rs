//! apps/v1 kinds through the codec: the messages kubectl prints.

use serde_json::{Value, json};

use super::*;
use crate::codec::{FieldValidation, normalize};
use crate::core::tests::{causes, ok, update_causes};

fn deployment(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn spec() -> Value {
    json!({
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
        }
    })
}

#[test]
fn negative_replicas() {
    let mut s = spec();
    s["replicas"] = json!(-1);
    let mut body = deployment(s);
    body["metadata"]["name"] = json!("bad");
    let status = normalize::<Deployment>(body, FieldValidation::Strict).unwrap_err();
    assert_eq!(
        status.message,
        "Deployment.apps \"bad\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}

#[test]
fn selector_must_match_template_labels() {
    let mut s = spec();
    s["template"]["metadata"]["labels"] = json!({"app": "x"});
    assert_eq!(
        causes::<Deployment>(deployment(s)),
        vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
        ]
    );
    let mut s = spec();
    s["selector"] =
        json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]});
    ok::<Deployment>(deployment(s));
}

#[test]
fn selector_is_required_and_not_defaulted_from_labels() {
    let mut s = spec();
    s.as_object_mut().unwrap().remove("selector");
    assert_eq!(
        causes::<Deployment>(deployment(s)),
        vec!["spec.selector: Required value"]
    );
    let mut s = spec();
    s["selector"] = json!({});
    assert_eq!(
        causes::<Deployment>(deployment(s)),
        vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        ]
    );
}

#[test]
fn template_checks() {
    let mut s = spec();
    s["template"]["spec"] = json!({"restartPolicy": "Never", "activeDeadlineSeconds": 5,
        "containers": [{"name": "web", "ports": [{"containerPort": 70000}]}]});
    assert_eq!(
        causes::<Deployment>(deployment(s)),
        vec![
            "spec.template.spec.containers[0].image: Required value",
            "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            "spec.template.spec.activeDeadlineSeconds: Invalid value: 5: activeDeadlineSeconds in ReplicaSet is not Supported",
        ]
    );
    let mut s = spec();
    s["template"]["spec"]["containers"] = json!([]);
    assert_eq!(
        causes::<Deployment>(deployment(s)),
        vec!["spec.template.spec.containers: Required value"]
    );
}

#[test]
fn strategy_checks() {
    let with = |strategy: Value| {
        let mut s = spec();
        s["strategy"] = strategy;
        causes::<Deployment>(deployment(s))
    };
    assert_eq!(
        with(json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})),
        vec![
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"
        ]
    );
    assert_eq!(
        with(json!({"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}})).len(),
        1
    );
    assert_eq!(
        with(json!({"rollingUpdate": {"maxUnavailable": "150%"}})),
        vec![
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"
        ]
    );
    assert_eq!(
        with(json!({"rollingUpdate": {"maxSurge": "lots", "maxUnavailable": -1}})),
        vec![
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0",
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"lots\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        ]
    );
    assert_eq!(
        with(json!({"type": "Recreate", "rollingUpdate": {}})),
        vec![
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        ]
    );
    assert_eq!(
        with(json!({"type": "BlueGreen"})),
        vec![
            "spec.strategy.type: Unsupported value: \"BlueGreen\": supported values: \"Recreate\", \"RollingUpdate\""
        ]
    );
    // Surge may exceed 100%.
    let mut s = spec();
    s["strategy"] = json!({"rollingUpdate": {"maxSurge": "200%", "maxUnavailable": 1}});
    let d = ok::<Deployment>(deployment(s));
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    // Recreate gets no rollingUpdate defaults.
    let mut s = spec();
    s["strategy"] = json!({"type": "Recreate"});
    assert_eq!(
        ok::<Deployment>(deployment(s))["spec"]["strategy"],
        json!({"type": "Recreate"})
    );
}

#[test]
fn deadlines_and_limits() {
    let mut s = spec();
    s["minReadySeconds"] = json!(30);
    s["progressDeadlineSeconds"] = json!(30);
    s["revisionHistoryLimit"] = json!(-2);
    assert_eq!(
        causes::<Deployment>(deployment(s)),
        vec![
            "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
            "spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds",
        ]
    );
}

#[test]
fn unknown_fields_in_deployments() {
    let mut s = spec();
    s["foo"] = json!(1);
    s["template"]["spec"]["containers"][0]["foo"] = json!("bar");
    let status = normalize::<Deployment>(deployment(s), FieldValidation::Strict).unwrap_err();
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "strict decoding error: unknown field \"spec.template.spec.containers[0].foo\", unknown field \"spec.foo\""
    );
}

#[test]
fn selector_is_immutable() {
    let old = deployment(spec());
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "y"}});
    new["spec"]["template"]["metadata"]["labels"] = json!({"app": "y"});
    assert_eq!(
        update_causes::<Deployment>(new, old.clone()),
        vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"y\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ]
    );
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(5);
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    assert!(update_causes::<Deployment>(scaled, old).is_empty());
}

#[test]
fn replica_sets() {
    let body = json!({"metadata": {"name": "web-abc", "namespace": "default"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let rs = ok::<ReplicaSet>(body.clone());
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(
        rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    assert!(rs.get("status").is_none());

    let mut bad = body.clone();
    bad["spec"]["replicas"] = json!(-3);
    bad["spec"]["template"]["metadata"]["labels"] = json!({});
    assert_eq!(
        causes::<ReplicaSet>(bad),
        vec![
            "spec.replicas: Invalid value: -3: must be greater than or equal to 0",
            "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`",
        ]
    );
    let mut moved = body.clone();
    moved["spec"]["selector"]["matchLabels"]["tier"] = json!("fe");
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = json!("fe");
    assert_eq!(update_causes::<ReplicaSet>(moved, body).len(), 1);
}

#[test]
fn status_round_trips() {
    let mut body = deployment(spec());
    body["status"] = json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2,
        "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-11-27T06:35:16Z",
                        "lastTransitionTime": "2026-11-27T06:35:16Z", "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability."}]});
    let d = ok::<Deployment>(body.clone());
    assert_eq!(d["status"], body["status"]);
}

#[test]
fn kubectl_generated_manifests_decode() {
    // What `kubectl create deployment x --image=nginx --dry-run=client -o yaml` prints.
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: x
  name: x
spec:
  replicas: 1
  selector:
    matchLabels:
      app: x
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: x
    spec:
      containers:
      - image: nginx
        name: nginx
        resources:
          limits:
            cpu: 1
            memory: 128Mi
status: {}
"#;
    let body: Value = serde_saphyr::from_str(yaml).unwrap();
    let d = ok::<Deployment>(body);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["cpu"], "1");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert!(d["metadata"].get("creationTimestamp").is_none());
    assert_eq!(d["status"], json!({}));
}
