//! OpenAPI: `/openapi/v2` is an empty protobuf document (kubectl then runs
//! no client-side checks, and leaves unknown fields to the server's
//! `fieldValidation`); `/openapi/v3` is an index of per group-version
//! documents built from the kinds' schemars schemas, whose paths carry the
//! `fieldValidation` parameter and `x-kubernetes-group-version-kind`, which
//! is how kubectl 1.29+ learns that the server validates fields itself.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use skiff_api::resource::{RESOURCES, group_versions};
use skiff_api::{ResourceType, Status, Subresource};

use crate::errors::ApiError;
use crate::handlers::json_response;

/// The media type of the (empty) v2 document. kube-apiserver answers with
/// the dotted form: Go's MIME parser (kubectl <= 1.28) rejects the `@` of
/// the type kubectl asks for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

pub async fn v2() -> Response {
    let mut resp = (StatusCode::OK, Vec::<u8>::new()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(V2_PROTOBUF));
    resp
}

pub async fn v3_index() -> Response {
    let mut paths = Map::new();
    for (key, doc) in documents() {
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.hash)}),
        );
    }
    json_response(StatusCode::OK, &json!({"paths": paths}))
}

pub async fn v3_document(req: Request) -> Response {
    let key = req
        .uri()
        .path()
        .trim_start_matches("/openapi/v3/")
        .trim_end_matches('/');
    match documents().get(key) {
        Some(doc) => json_response(StatusCode::OK, &doc.body),
        None => ApiError(Status::path_not_found()).into_response(),
    }
}

struct Document {
    body: Value,
    hash: String,
}

/// One document per group-version, keyed `api/v1`, `apis/apps/v1`; built once.
fn documents() -> &'static BTreeMap<String, Document> {
    static DOCS: OnceLock<BTreeMap<String, Document>> = OnceLock::new();
    DOCS.get_or_init(|| {
        group_versions()
            .into_iter()
            .map(|(g, v)| {
                let key = if g.is_empty() {
                    format!("api/{v}")
                } else {
                    format!("apis/{g}/{v}")
                };
                let body = group_version_document(g, v);
                let mut hasher = std::hash::DefaultHasher::new();
                body.to_string().hash(&mut hasher);
                let hash = format!("{:016X}", hasher.finish());
                (key, Document { body, hash })
            })
            .collect()
    })
}

/// The component name of a kind: `io.k8s.api.apps.v1.Deployment`.
fn schema_name(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "core"
    } else {
        rt.group
    };
    format!("io.k8s.api.{group}.{}.{}", rt.version, rt.kind)
}

fn gvk(rt: &ResourceType) -> Value {
    json!({"group": rt.group, "version": rt.version, "kind": rt.kind})
}

fn group_version_document(group: &str, version: &str) -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for rt in RESOURCES
        .iter()
        .copied()
        .filter(|r| r.group == group && r.version == version)
    {
        add_schemas(rt, &mut schemas);
        add_paths(rt, &mut paths);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::version::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// The kind's schema and its definitions, references rewritten from
/// `#/$defs/X` to `#/components/schemas/X`.
fn add_schemas(rt: &ResourceType, schemas: &mut Map<String, Value>) {
    let mut root = serde_json::to_value((rt.codec.schema)()).unwrap_or_else(|_| json!({}));
    rewrite_refs(&mut root);
    to_openapi_3_0(&mut root);
    if let Some(map) = root.as_object_mut() {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            for (name, def) in defs {
                schemas.entry(name).or_insert(def);
            }
        }
        map.insert("x-kubernetes-group-version-kind".into(), json!([gvk(rt)]));
    }
    schemas.insert(schema_name(rt), root);
}

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// JSON Schema 2020-12 (what schemars writes) to the OpenAPI 3.0 dialect
/// kubectl reads: `type: [T, "null"]` and `anyOf: [X, {type: null}]` become
/// `nullable: true`, and a `$ref` with siblings moves into `allOf` (3.0
/// ignores a `$ref`'s siblings).
fn to_openapi_3_0(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.values_mut().for_each(to_openapi_3_0);
            if let Some(Value::Array(types)) = map.get("type") {
                let nullable = types.iter().any(|t| t == "null");
                let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                match rest.as_slice() {
                    [one] => {
                        map.insert("type".into(), one.clone());
                    }
                    _ => {
                        map.remove("type");
                    }
                }
                if nullable {
                    map.insert("nullable".into(), Value::Bool(true));
                }
            }
            for key in ["anyOf", "oneOf"] {
                let Some(Value::Array(variants)) = map.get(key) else {
                    continue;
                };
                let is_null = |x: &Value| x.get("type").is_some_and(|t| t == "null");
                if !variants.iter().any(is_null) {
                    continue;
                }
                let rest: Vec<Value> = variants.iter().filter(|x| !is_null(x)).cloned().collect();
                map.remove(key);
                map.insert("nullable".into(), Value::Bool(true));
                match rest.as_slice() {
                    [Value::Object(only)] if !only.contains_key("$ref") => {
                        for (k, x) in only {
                            map.entry(k.clone()).or_insert_with(|| x.clone());
                        }
                    }
                    [only] => {
                        map.insert("allOf".into(), Value::Array(vec![only.clone()]));
                    }
                    _ => {
                        map.insert(key.into(), Value::Array(rest));
                    }
                }
            }
            if map.len() > 1
                && let Some(r) = map.remove("$ref")
            {
                map.insert("allOf".into(), json!([{"$ref": r}]));
            }
            if let Some(c) = map.remove("const") {
                map.insert("enum".into(), json!([c]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_openapi_3_0),
        _ => {}
    }
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true})
}

fn operation(rt: &ResourceType, action: &str, id: String, write: bool, kind_schema: &str) -> Value {
    let mut params = Vec::new();
    if write {
        params.extend(["dryRun", "fieldManager", "fieldValidation"].map(query_param));
    }
    json!({
        "operationId": id,
        "parameters": params,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(rt),
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": format!("#/components/schemas/{kind_schema}")}}}}},
    })
}

fn add_paths(rt: &ResourceType, paths: &mut Map<String, Value>) {
    let base = rt.group_version_path();
    let collection = if rt.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{base}/{}", rt.plural)
    };
    let item = format!("{collection}/{{name}}");
    let schema = schema_name(rt);
    let id = |verb: &str, suffix: &str| format!("{verb}{}{suffix}", rt.kind);
    paths.insert(
        collection.clone(),
        json!({
            "get": operation(rt, "list", id("list", ""), false, &schema),
            "post": operation(rt, "post", id("create", ""), true, &schema),
            "delete": operation(rt, "deletecollection", id("deleteCollection", ""), false, &schema),
        }),
    );
    paths.insert(
        item.clone(),
        json!({
            "get": operation(rt, "get", id("read", ""), false, &schema),
            "put": operation(rt, "put", id("replace", ""), true, &schema),
            "patch": operation(rt, "patch", id("patch", ""), true, &schema),
            "delete": operation(rt, "delete", id("delete", ""), false, &schema),
        }),
    );
    if rt.namespaced {
        paths.insert(
            format!("{base}/{}", rt.plural),
            json!({"get": operation(rt, "list", id("list", "ForAllNamespaces"), false, &schema)}),
        );
    }
    for sub in rt.subresources {
        let path = format!("{item}/{}", sub.name());
        let suffix = match sub {
            Subresource::Status => "Status",
            Subresource::Scale => "Scale",
            _ => continue,
        };
        paths.insert(
            path,
            json!({
                "get": operation(rt, "get", id("read", suffix), false, &schema),
                "put": operation(rt, "put", id("replace", suffix), true, &schema),
                "patch": operation(rt, "patch", id("patch", suffix), true, &schema),
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_documents() {
        let docs = documents();
        assert!(docs.contains_key("api/v1"));
        assert!(docs.contains_key("apis/apps/v1"));
        let apps = &docs["apis/apps/v1"].body;
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        let schemas = apps["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("io.k8s.api.apps.v1.Deployment"));
        let text = apps.to_string();
        assert!(!text.contains("#/$defs/"), "references left unrewritten");
    }

    #[test]
    fn schemas_are_openapi_3_0() {
        let mut v = json!({"properties": {
            "a": {"type": ["string", "null"]},
            "b": {"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}]},
            "c": {"$ref": "#/components/schemas/Y", "default": {}},
            "d": {"anyOf": [{"type": "integer", "format": "int32"}, {"type": "null"}]},
            "e": {"const": "x"},
        }});
        to_openapi_3_0(&mut v);
        assert_eq!(
            v,
            json!({"properties": {
                "a": {"type": "string", "nullable": true},
                "b": {"allOf": [{"$ref": "#/components/schemas/X"}], "nullable": true},
                "c": {"allOf": [{"$ref": "#/components/schemas/Y"}], "default": {}},
                "d": {"type": "integer", "format": "int32", "nullable": true},
                "e": {"enum": ["x"]},
            }})
        );
        let text = documents()["apis/apps/v1"].body.to_string();
        assert!(
            !text.contains("\"type\":[") && !text.contains("\"null\""),
            "{text}"
        );
    }

    #[test]
    fn refs_are_rewritten() {
        let mut v = json!({"a": {"$ref": "#/$defs/X"}, "b": [{"$ref": "#/$defs/Y"}]});
        rewrite_refs(&mut v);
        assert_eq!(v["a"]["$ref"], "#/components/schemas/X");
        assert_eq!(v["b"][0]["$ref"], "#/components/schemas/Y");
    }
}
