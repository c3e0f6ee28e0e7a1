//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get`
//! asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with
//! the columns and cell formats of kube-apiserver. Wide (priority 1) cells
//! are always included; kubectl shows them with `-o wide`.

mod columns;
mod core_rows;
mod duration;
mod pod;
mod read;
mod workloads;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::resource::ResourceType;

pub use duration::human_duration;

/// The `columnDefinitions` of `rt`'s kind: each
/// `{"name","type","format","description","priority"}`.
pub fn column_definitions(rt: &ResourceType) -> Vec<Value> {
    columns::for_kind(rt.kind)
        .iter()
        .map(columns::Column::to_json)
        .collect()
}

/// One row's cells, in column order (wide cells included). Ages are
/// measured at `now`.
pub fn row_cells(rt: &ResourceType, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
    match rt.kind {
        "Pod" => pod::cells(object, now),
        "Deployment" => workloads::deployment(object, now),
        "ReplicaSet" => workloads::replicaset(object, now),
        "Job" => workloads::job(object, now),
        "CronJob" => workloads::cronjob(object, now),
        "Service" => core_rows::service(object, now),
        "Node" => core_rows::node(object, now),
        "Namespace" => core_rows::namespace(object, now),
        "Event" => core_rows::event(object, now),
        "Endpoints" => core_rows::endpoints(object, now),
        "ConfigMap" => core_rows::configmap(object, now),
        "Secret" => core_rows::secret(object, now),
        "Lease" => core_rows::lease(object, now),
        _ => core_rows::default(object, now),
    }
}

/// One `rows[]` entry: cells, the object's metadata as
/// `PartialObjectMetadata` (kubectl needs it for `-A` and
/// `--show-labels`), and row conditions where the real printer sets them.
pub fn row(rt: &ResourceType, object: &Value, now: DateTime<Utc>) -> Value {
    let metadata = object
        .get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(row_cells(rt, object, now)));
    if rt.kind == "Pod"
        && let Some(conditions) = pod::conditions(object)
    {
        row.insert("conditions".into(), conditions);
    }
    row.insert(
        "object".into(),
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
        }),
    );
    Value::Object(row)
}

/// A whole Table for a list (or one object, or one watch event's object).
/// `continue_token` goes to `metadata.continue` when paging.
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    resource_version: &str,
    continue_token: Option<&str>,
    now: DateTime<Utc>,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(resource_version));
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata.insert("continue".into(), json!(token));
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(rt),
        "rows": objects.iter().map(|o| row(rt, o, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{RESOURCES, by_kind};

    fn now() -> DateTime<Utc> {
        duration::parse_time("2026-11-27T06:35:18Z").unwrap()
    }

    /// The example in kubectl-wire.md §5.
    #[test]
    fn pod_table_like_the_wire_doc() {
        let pods = by_kind("v1", "Pod").unwrap();
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "nginx-deployment-0dd4456a60-npp6f", "namespace": "default", "uid": "u-1",
                         "resourceVersion": "116", "creationTimestamp": "2026-11-27T06:35:16Z",
                         "labels": {"app": "nginx", "pod-template-hash": "0dd4456a60"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx:latest"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.11", "podIPs": [{"ip": "10.244.0.11"}],
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0,
                                              "state": {"running": {"startedAt": "2026-11-27T06:35:17Z"}}}]}
        });
        let t = table(pods, std::slice::from_ref(&pod), "131", None, now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "131"}));
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        let priorities: Vec<i64> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["priority"].as_i64().unwrap())
            .collect();
        assert_eq!(priorities, [0, 0, 0, 0, 0, 1, 1, 1, 1]);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["columnDefinitions"][0]["type"], "string");
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "nginx-deployment-0dd4456a60-npp6f",
                "1/1",
                "Running",
                "0",
                "2s",
                "10.244.0.11",
                "node-1",
                "<none>",
                "<none>"
            ])
        );
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]})
        );
        assert!(t["rows"][0].get("conditions").is_none());
    }

    #[test]
    fn continue_token_and_empty_lists() {
        let rt = by_kind("apps/v1", "Deployment").unwrap();
        let t = table(rt, &[], "7", Some("abc"), now());
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "7", "continue": "abc"})
        );
        assert_eq!(t["rows"], json!([]));
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn cells_match_columns_for_every_kind() {
        let bare = json!({"metadata": {"name": "x"}});
        for rt in RESOURCES {
            let cols = column_definitions(rt);
            assert_eq!(row_cells(rt, &bare, now()).len(), cols.len(), "{}", rt.kind);
            assert_eq!(
                cols[usize::from(rt.kind == "Event") * (cols.len() - 1)]["name"],
                "Name",
                "{}",
                rt.kind
            );
            for c in &cols {
                for field in ["name", "type", "format", "description", "priority"] {
                    assert!(c.get(field).is_some(), "{} {field}", rt.kind);
                }
            }
        }
    }

    #[test]
    fn finished_pods_carry_row_conditions() {
        let pods = by_kind("v1", "Pod").unwrap();
        let done = json!({"metadata": {"name": "p"}, "spec": {"containers": []}, "status": {"phase": "Succeeded"}});
        let r = row(pods, &done, now());
        assert_eq!(r["conditions"][0]["reason"], "Succeeded");
    }

    #[test]
    fn column_headers_per_kind() {
        let names = |api: &str, kind: &str| -> Vec<String> {
            column_definitions(by_kind(api, kind).unwrap())
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            names("apps/v1", "Deployment"),
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            names("apps/v1", "ReplicaSet"),
            [
                "Name",
                "Desired",
                "Current",
                "Ready",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            names("v1", "Service"),
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(
            names("v1", "Node"),
            [
                "Name",
                "Status",
                "Roles",
                "Age",
                "Version",
                "Internal-IP",
                "External-IP",
                "OS-Image",
                "Kernel-Version",
                "Container-Runtime"
            ]
        );
        assert_eq!(names("v1", "Namespace"), ["Name", "Status", "Age"]);
        assert_eq!(
            names("v1", "Event"),
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        assert_eq!(names("v1", "Endpoints"), ["Name", "Endpoints", "Age"]);
        assert_eq!(
            names("batch/v1", "Job"),
            [
                "Name",
                "Status",
                "Completions",
                "Duration",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            names("batch/v1", "CronJob"),
            [
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                "Active",
                "Last Schedule",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(names("v1", "ConfigMap"), ["Name", "Data", "Age"]);
        assert_eq!(names("v1", "Secret"), ["Name", "Type", "Data", "Age"]);
        assert_eq!(
            names("coordination.k8s.io/v1", "Lease"),
            ["Name", "Holder", "Age"]
        );
    }
}
