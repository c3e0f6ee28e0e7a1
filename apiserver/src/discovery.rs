//! Legacy discovery (`/api`, `/apis`, `/api/v1`, `/apis/{g}`, `/apis/{g}/{v}`),
//! generated from the resource table. Requests for aggregated discovery get
//! these legacy bodies as plain `application/json`; kubectl falls back.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::resource::{RESOURCES, group_versions};
use skiff_api::{ResourceType, Subresource};

use crate::handlers::json_response;
use crate::routes::ApiPath;

/// The verbs of every collection and object.
const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The discovery document for `path`; `server_address` is what `/api`
/// reports as the address clients reach the server at.
pub fn respond(path: &ApiPath, server_address: &str) -> Response {
    let body = match path {
        ApiPath::CoreVersions => core_versions(server_address),
        ApiPath::GroupList => group_list(),
        ApiPath::Group(g) => group(g),
        ApiPath::ResourceList { group, version } => resource_list(group, version),
        ApiPath::Resource(_) => json!({}),
    };
    json_response(StatusCode::OK, &body)
}

fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(name: &str) -> Value {
    let versions: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| *g == name)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": name, "versions": versions, "preferredVersion": preferred})
}

fn group_list() -> Value {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in group_versions() {
        if !g.is_empty() && !names.contains(&g) {
            names.push(g);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": names.into_iter().map(group_entry).collect::<Vec<_>>(),
    })
}

fn group(name: &str) -> Value {
    let mut g = group_entry(name);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

fn resource_list(group: &str, version: &str) -> Value {
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut resources = Vec::new();
    for rt in RESOURCES
        .iter()
        .copied()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(resource_entry(rt));
        for sub in rt.subresources {
            resources.push(subresource_entry(rt, *sub));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn resource_entry(rt: &ResourceType) -> Value {
    let mut r = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    r
}

fn subresource_entry(rt: &ResourceType, sub: Subresource) -> Value {
    let mut r = json!({
        "name": format!("{}/{}", rt.plural, sub.name()),
        "singularName": "",
        "namespaced": rt.namespaced,
    });
    let (kind, verbs): (&str, &[&str]) = match sub {
        Subresource::Status => (rt.kind, &["get", "patch", "update"]),
        Subresource::Scale => {
            r["group"] = json!("autoscaling");
            r["version"] = json!("v1");
            ("Scale", &["get", "patch", "update"])
        }
        Subresource::Log => (rt.kind, &["get"]),
        Subresource::Exec => ("PodExecOptions", &["create", "get"]),
        Subresource::Binding => ("Binding", &["create"]),
    };
    r["kind"] = json!(kind);
    r["verbs"] = json!(verbs);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resources_have_short_names_and_subresources() {
        let list = resource_list("", "v1");
        let resources = list["resources"].as_array().unwrap();
        let pods = resources.iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["verbs"].as_array().unwrap().len(), 8);
        let exec = resources.iter().find(|r| r["name"] == "pods/exec").unwrap();
        assert_eq!(exec["kind"], "PodExecOptions");
        let ns = resources
            .iter()
            .find(|r| r["name"] == "namespaces")
            .unwrap();
        assert_eq!(ns["namespaced"], false);
    }

    #[test]
    fn apps_group_has_scale() {
        let list = resource_list("apps", "v1");
        assert_eq!(list["groupVersion"], "apps/v1");
        let scale = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        let groups = group_list();
        assert!(
            groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "apps")
        );
        assert!(
            !groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "")
        );
    }
}
