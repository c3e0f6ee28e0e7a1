//! core/v1 kinds through the codec: the messages kubectl prints.

use serde_json::{Value, json};

use super::*;
use crate::codec::{FieldValidation, normalize};
use crate::object::Object;

/// `field: message` of every cause of the Invalid error `body` gets.
pub(crate) fn causes<T: Object>(body: Value) -> Vec<String> {
    let status = normalize::<T>(body, FieldValidation::Strict).expect_err("should be invalid");
    assert_eq!(status.code, 422, "{}", status.message);
    status
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

pub(crate) fn ok<T: Object>(body: Value) -> Value {
    match normalize::<T>(body, FieldValidation::Strict) {
        Ok(n) => n.object,
        Err(s) => panic!("{}", s.message),
    }
}

/// The update check between two bodies, after normalizing both.
pub(crate) fn update_causes<T: Object>(new: Value, old: Value) -> Vec<String> {
    let new = ok::<T>(new);
    let old = ok::<T>(old);
    match (T::RESOURCE.codec.validate_update)(&new, &old) {
        Ok(()) => Vec::new(),
        Err(s) => s
            .details
            .unwrap()
            .causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect(),
    }
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn nginx() -> Value {
    json!({"name": "nginx", "image": "nginx:1.25"})
}

#[test]
fn pod_defaults_through_the_codec() {
    let p = ok::<Pod>(pod(json!({"containers": [nginx()]})));
    assert_eq!(
        p["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(p["spec"]["restartPolicy"], "Always");
    assert_eq!(p["spec"]["enableServiceLinks"], true);
    assert_eq!(
        p["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );
}

#[test]
fn bad_pod_name() {
    let mut body = pod(json!({"containers": [nginx()]}));
    body["metadata"]["name"] = json!("Bad_Name");
    let status = normalize::<Pod>(body, FieldValidation::Strict).unwrap_err();
    assert_eq!(
        status.message,
        "Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    assert_eq!(
        status.details.unwrap().causes[0].reason,
        "FieldValueInvalid"
    );
}

#[test]
fn container_checks() {
    let c = causes::<Pod>(pod(json!({"containers": [
        {"name": "a"},
        {"name": "a", "image": "x", "ports": [{"containerPort": 0}, {"containerPort": 70000, "hostPort": 70000, "protocol": "ICMP"}]},
        {"name": "Bad", "image": "x", "imagePullPolicy": "Sometimes"}
    ]})));
    assert_eq!(
        c,
        vec![
            "spec.containers[0].image: Required value",
            "spec.containers[1].name: Duplicate value: \"a\"",
            "spec.containers[1].ports[0].containerPort: Required value",
            "spec.containers[1].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[1].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[1].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[2].name: Invalid value: \"Bad\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.containers[2].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
        ]
    );
    assert_eq!(
        causes::<Pod>(pod(json!({}))),
        vec!["spec.containers: Required value"]
    );
    assert_eq!(
        causes::<Pod>(pod(
            json!({"containers": [{"name": "x", "image": "x", "ports": [{"name": "web", "containerPort": 80}, {"name": "web", "containerPort": 81}]}]})
        )),
        vec!["spec.containers[0].ports[1].name: Duplicate value: \"web\""]
    );
}

#[test]
fn resources() {
    let c = causes::<Pod>(pod(
        json!({"containers": [{"name": "x", "image": "x", "resources": {
            "limits": {"cpu": "500m", "memory": "12x"},
            "requests": {"cpu": 1, "memory": "-1", "widgets": "1"}
        }}]}),
    ));
    assert_eq!(
        c,
        vec![
            "spec.containers[0].resources.limits[memory]: Invalid value: \"12x\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
            "spec.containers[0].resources.requests[widgets]: Invalid value: \"widgets\": must be a standard resource for containers",
            "spec.containers[0].resources.requests[cpu]: Invalid value: \"1\": must be less than or equal to cpu limit of 500m",
        ]
    );
    let p = ok::<Pod>(pod(
        json!({"containers": [{"name": "x", "image": "x", "resources": {
            "limits": {"cpu": 0.5, "memory": "128Mi", "example.com/gpu": 1}
        }}]}),
    ));
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "0.5"
    );
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["requests"]["memory"],
        "128Mi"
    );
    assert_eq!(p["status"]["qosClass"], "Guaranteed");
}

#[test]
fn volumes_and_mounts() {
    let c = causes::<Pod>(pod(json!({
        "volumes": [
            {"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}},
            {"name": "data", "configMap": {"name": "cfg", "items": [{"key": "a/b", "path": "/abs"}]}},
            {"name": "s", "secret": {}}
        ],
        "containers": [{"name": "x", "image": "x", "volumeMounts": [
            {"name": "data", "mountPath": "/d"},
            {"name": "missing", "mountPath": "/d"},
            {"name": "data", "mountPath": "/e", "subPath": "../up"}
        ]}]
    })));
    assert_eq!(
        c,
        vec![
            "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[1].name: Duplicate value: \"data\"",
            "spec.volumes[1].configMap.items[0].key: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            "spec.volumes[1].configMap.items[0].path: Invalid value: \"/abs\": must be a relative path",
            "spec.volumes[2].secret.secretName: Required value",
            "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique",
            "spec.containers[0].volumeMounts[2].subPath: Invalid value: \"../up\": must not contain '..'",
        ]
    );
    // A volume without a source is an emptyDir.
    let p = ok::<Pod>(pod(
        json!({"volumes": [{"name": "tmp"}], "containers": [nginx()]}),
    ));
    assert_eq!(
        p["spec"]["volumes"][0],
        json!({"name": "tmp", "emptyDir": {}})
    );
}

#[test]
fn env_and_probes() {
    let c = causes::<Pod>(pod(json!({"containers": [{"name": "x", "image": "x",
        "env": [
            {"name": "1BAD", "value": "v"},
            {"name": "A", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "spec.nothing"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s"}}}
        ],
        "livenessProbe": {"httpGet": {"port": 8080}, "successThreshold": 2, "periodSeconds": -1}
    }]})));
    assert_eq!(
        c,
        vec![
            "spec.containers[0].env[0].name: Invalid value: \"1BAD\": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.nothing\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
            "spec.containers[0].env[2].valueFrom.secretKeyRef.key: Required value",
            "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        ]
    );
    let p = ok::<Pod>(pod(json!({"containers": [{"name": "x", "image": "x",
        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
        "readinessProbe": {"exec": {"command": ["true"]}}}]})));
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(c["readinessProbe"]["failureThreshold"], 3);
}

#[test]
fn pod_level_fields() {
    let c = causes::<Pod>(pod(json!({
        "containers": [nginx()],
        "restartPolicy": "Sometimes",
        "dnsPolicy": "Google",
        "nodeSelector": {"disk": "fast ssd"},
        "activeDeadlineSeconds": 0,
        "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"}, {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}],
        "securityContext": {"runAsUser": -1}
    })));
    assert_eq!(
        c,
        vec![
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            "spec.nodeSelector: Invalid value: \"fast ssd\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
            "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
        ]
    );
}

#[test]
fn unknown_fields_are_found_with_their_paths() {
    let body = pod(json!({"containers": [{"name": "x", "image": "x", "foo": 1}], "bar": true}));
    let s = normalize::<Pod>(body.clone(), FieldValidation::Strict).unwrap_err();
    assert_eq!(s.code, 400);
    assert_eq!(
        s.message,
        "strict decoding error: unknown field \"spec.containers[0].foo\", unknown field \"spec.bar\""
    );
    let n = normalize::<Pod>(body.clone(), FieldValidation::Warn).unwrap();
    assert_eq!(n.warnings.len(), 2);
    assert!(n.object["spec"].get("bar").is_none());
    assert!(
        normalize::<Pod>(body, FieldValidation::Ignore)
            .unwrap()
            .warnings
            .is_empty()
    );
}

#[test]
fn pod_updates() {
    let old = pod(json!({"containers": [nginx()], "activeDeadlineSeconds": 100}));
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    new["spec"]["activeDeadlineSeconds"] = json!(50);
    new["spec"]["tolerations"] = json!([{"key": "k", "operator": "Exists"}]);
    assert!(update_causes::<Pod>(new.clone(), old.clone()).is_empty());

    let mut longer = old.clone();
    longer["spec"]["activeDeadlineSeconds"] = json!(200);
    assert_eq!(
        update_causes::<Pod>(longer, old.clone()),
        vec![
            "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"
        ]
    );

    let mut env = old.clone();
    env["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "b"}]);
    assert_eq!(
        update_causes::<Pod>(env, old.clone()),
        vec![format!("spec: Forbidden: {POD_UPDATE_FORBIDDEN}")]
    );

    let with_toleration = new;
    let mut removed = with_toleration.clone();
    removed["spec"]["tolerations"] = json!([]);
    assert_eq!(
        update_causes::<Pod>(removed, with_toleration),
        vec![
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        ]
    );
}

fn service(spec: Value) -> Value {
    json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

#[test]
fn service_checks() {
    let c = causes::<Service>(service(json!({
        "type": "Magic",
        "ports": [{"port": 0}, {"name": "b", "port": 70000, "targetPort": "Not_A_Name", "protocol": "HTTP"}],
        "selector": {"app": "bad value"},
        "clusterIP": "10.0.0"
    })));
    assert_eq!(
        c,
        vec![
            "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            "spec.clusterIP: Invalid value: \"10.0.0\": must be empty, 'None', or a valid IP address",
            "spec.clusterIPs[0]: Invalid value: \"10.0.0\": must be empty, 'None', or a valid IP address",
            "spec.ports[0].name: Required value",
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            // targetPort defaults to port, so it is wrong too (as in Kubernetes).
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.ports[1].targetPort: Invalid value: \"Not_A_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.selector: Invalid value: \"bad value\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ]
    );
    assert_eq!(
        causes::<Service>(service(json!({}))),
        vec!["spec.ports: Required value"]
    );
    assert_eq!(
        causes::<Service>(service(json!({"ports": [{"port": 80, "nodePort": 30080}]}))),
        vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
    assert_eq!(
        causes::<Service>(service(json!({"type": "ExternalName"}))),
        vec!["spec.externalName: Required value"]
    );
    let ext = ok::<Service>(service(
        json!({"type": "ExternalName", "externalName": "db.example.com."}),
    ));
    assert!(ext["spec"].get("ipFamilies").is_none());
    assert_eq!(
        causes::<Service>(service(
            json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]})
        )),
        vec![
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"
        ]
    );
    // Service names are DNS-1035 labels.
    let mut body = service(json!({"ports": [{"port": 80}]}));
    body["metadata"]["name"] = json!("1web");
    assert!(
        causes::<Service>(body)[0]
            .starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label")
    );
}

#[test]
fn service_defaults() {
    let s = ok::<Service>(service(
        json!({"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}],
        "sessionAffinity": "ClientIP", "clusterIP": "10.96.0.10"}),
    ));
    let spec = &s["spec"];
    assert_eq!(spec["ports"][0]["targetPort"], "http");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(
        spec["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    assert_eq!(spec["clusterIPs"], json!(["10.96.0.10"]));
    assert!(spec.get("allocateLoadBalancerNodePorts").is_none());
}

#[test]
fn cluster_ip_is_immutable() {
    let old = service(json!({"ports": [{"port": 80}], "clusterIP": "10.96.0.10"}));
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("10.96.0.11");
    assert_eq!(
        update_causes::<Service>(new, old.clone()),
        vec![
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"
        ]
    );
    let mut unset = old.clone();
    unset["spec"].as_object_mut().unwrap().remove("clusterIP");
    assert!(update_causes::<Service>(unset, old).is_empty());
}

#[test]
fn secrets() {
    let base = json!({"metadata": {"name": "s", "namespace": "default"}});
    let mut body = base.clone();
    body["stringData"] = json!({"password": "hunter2"});
    body["data"] = json!({"user": "YWRtaW4="});
    let s = ok::<Secret>(body);
    assert_eq!(s["type"], "Opaque");
    assert_eq!(
        s["data"],
        json!({"password": "aHVudGVyMg==", "user": "YWRtaW4="})
    );
    assert!(s.get("stringData").is_none());

    let mut bad = base.clone();
    bad["data"] = json!({"bad key": "YQ==", "x": "not base64!"});
    let c = causes::<Secret>(bad);
    assert_eq!(c.len(), 2);
    assert!(c[0].starts_with("data[bad key]: Invalid value: \"bad key\": a valid config key"));
    assert!(
        c[1].starts_with("data[x]: Invalid value: \"<secret contents redacted>\": "),
        "{}",
        c[1]
    );

    let mut tls = base.clone();
    tls["type"] = json!("kubernetes.io/tls");
    tls["data"] = json!({"tls.crt": "YQ=="});
    assert_eq!(causes::<Secret>(tls), vec!["data[tls.key]: Required value"]);

    let mut old = base.clone();
    old["data"] = json!({"a": "YQ=="});
    old["immutable"] = json!(true);
    let mut new = old.clone();
    new["data"] = json!({"a": "Yg=="});
    new["type"] = json!("Other");
    assert_eq!(
        update_causes::<Secret>(new, old),
        vec![
            "type: Invalid value: \"Other\": field is immutable",
            "data: Forbidden: field is immutable when `immutable` is set",
        ]
    );
}

#[test]
fn config_maps() {
    let base = json!({"metadata": {"name": "cfg", "namespace": "default"}});
    let mut body = base.clone();
    body["data"] = json!({"game.properties": "a=b", "dup": "x"});
    body["binaryData"] = json!({"dup": "AAE="});
    assert_eq!(
        causes::<ConfigMap>(body),
        vec!["binaryData[dup]: Invalid value: \"dup\": duplicate of key present in data"]
    );
    let mut old = base.clone();
    old["data"] = json!({"a": "1"});
    let mut new = old.clone();
    new["data"] = json!({"a": "2"});
    assert!(update_causes::<ConfigMap>(new.clone(), old.clone()).is_empty());
    old["immutable"] = json!(true);
    new["immutable"] = json!(false);
    assert_eq!(
        update_causes::<ConfigMap>(new, old),
        vec![
            "data: Forbidden: field is immutable when `immutable` is set",
            "immutable: Forbidden: field is immutable when `immutable` is set",
        ]
    );
}

#[test]
fn namespaces() {
    let ns = ok::<Namespace>(json!({"metadata": {"name": "team-a"}}));
    assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(ns["status"], json!({"phase": "Active"}));
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
    // A finalized namespace keeps its empty finalizer list.
    let finalized = ok::<Namespace>(
        json!({"metadata": {"name": "team-a"}, "spec": {}, "status": {"phase": "Terminating"}}),
    );
    assert_eq!(finalized["spec"], json!({}));
    assert_eq!(finalized["status"]["phase"], "Terminating");
    assert_eq!(
        causes::<Namespace>(json!({"metadata": {"name": "a.b"}})).len(),
        1
    );
    assert_eq!(
        causes::<Namespace>(json!({"metadata": {"name": "x"}, "spec": {"finalizers": ["custom"]}})),
        vec![
            "spec.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        ]
    );
}

#[test]
fn nodes() {
    let n = ok::<Node>(
        json!({"metadata": {"name": "node-1.lab"}, "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": 110}}}),
    );
    assert_eq!(
        n["status"]["allocatable"],
        json!({"cpu": "4", "memory": "8Gi", "pods": "110"})
    );
    let c = causes::<Node>(json!({"metadata": {"name": "n"}, "spec": {"taints": [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "dedicated", "effect": "NoSchedule"},
        {"key": "x", "effect": "Sometimes"}
    ]}}));
    assert_eq!(
        c,
        vec![
            "spec.taints[1]: Duplicate value: dedicated:NoSchedule",
            "spec.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ]
    );
}

#[test]
fn events_and_endpoints() {
    let e = ok::<Event>(
        json!({"metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Scheduled", "type": "Normal", "count": 1,
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2026-11-27T06:35:16Z", "eventTime": "2026-11-27T06:35:16.000001Z"}),
    );
    assert_eq!(e["eventTime"], "2026-11-27T06:35:16.000001Z");
    assert_eq!(
        causes::<Event>(json!({"metadata": {"name": "x", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"}})),
        vec!["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"]
    );

    let ep = ok::<Endpoints>(json!({"metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "10.244.1.5", "nodeName": "n1",
            "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}],
            "ports": [{"port": 80}]}]}));
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(
        causes::<Endpoints>(json!({"metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "nope"}], "ports": [{"port": 80}, {"port": 81}]}]})),
        vec![
            "subsets[0].addresses[0].ip: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            "subsets[0].ports[0].name: Required value",
            "subsets[0].ports[1].name: Required value",
        ]
    );
}

#[test]
fn every_kind_has_a_schema() {
    for rt in crate::RESOURCES {
        let schema = (rt.codec.schema)();
        let v = serde_json::to_value(&schema).unwrap();
        assert!(v["properties"]["metadata"].is_object(), "{}", rt.kind);
    }
}
