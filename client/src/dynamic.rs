//! `DynamicApi`: every verb on one resource type, over `serde_json::Value`.
//! The CLI works on manifests of any kind through it; the typed [`Api`]
//! (crate::Api) is a thin layer on top.

use serde_json::Value;
use skiff_api::resource::{ResourceType, Subresource};

use crate::client::{ACCEPT_TABLE, Client, Request};
use crate::error::{Error, Result};
use crate::params::{DeleteParams, ListParams, Patch, WriteParams};
use crate::watch::{WatchStream, decode_events};

/// What a DELETE answered.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome<T> {
    /// `Status` Success: the object is gone.
    Gone(Box<skiff_api::Status>),
    /// The object as it is now: graceful deletion (a `deletionTimestamp`,
    /// finalizers still to run) or its final state.
    Object(T),
}

/// One resource type in one namespace (or all namespaces, or cluster-scoped).
#[derive(Debug, Clone)]
pub struct DynamicApi {
    client: Client,
    resource: &'static ResourceType,
    /// `None`: all namespaces (lists and watches only) or a cluster-scoped kind.
    namespace: Option<String>,
    write: WriteParams,
}

impl DynamicApi {
    /// Objects of `resource` in `namespace` (ignored for cluster-scoped kinds).
    pub fn namespaced(
        client: Client,
        resource: &'static ResourceType,
        namespace: &str,
    ) -> DynamicApi {
        DynamicApi {
            client,
            resource,
            namespace: resource.namespaced.then(|| namespace.to_string()),
            write: WriteParams::default(),
        }
    }

    /// Objects of `resource` in every namespace; single-object verbs then
    /// take the namespace from the object (create) or need [`Self::namespaced`].
    pub fn all(client: Client, resource: &'static ResourceType) -> DynamicApi {
        DynamicApi {
            client,
            resource,
            namespace: None,
            write: WriteParams::default(),
        }
    }

    /// In the client's default namespace (the kubeconfig context's, else `default`).
    pub fn default_namespaced(client: Client, resource: &'static ResourceType) -> DynamicApi {
        let ns = client.default_namespace().to_string();
        DynamicApi::namespaced(client, resource, &ns)
    }

    /// Field manager, validation and dry-run for every create, replace and patch.
    pub fn with_write_params(mut self, params: WriteParams) -> DynamicApi {
        self.write = params;
        self
    }

    pub fn resource(&self) -> &'static ResourceType {
        self.resource
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn collection_path(&self) -> String {
        self.resource.collection_path(self.namespace.as_deref())
    }

    /// Path of one object. A namespaced kind needs a namespace here.
    pub fn object_path(&self, name: &str) -> Result<String> {
        if self.resource.namespaced && self.namespace.is_none() {
            return Err(Error::Config(format!(
                "a namespace is needed to address {} \"{name}\"",
                self.resource.qualified_plural()
            )));
        }
        if name.is_empty() {
            return Err(Error::Config(format!(
                "resource name may not be empty ({})",
                self.resource.qualified_plural()
            )));
        }
        Ok(self.resource.object_path(self.namespace.as_deref(), name))
    }

    fn subresource_path(&self, name: &str, sub: Subresource) -> Result<String> {
        Ok(format!("{}/{}", self.object_path(name)?, sub.name()))
    }

    pub async fn get(&self, name: &str) -> Result<Value> {
        self.client
            .json(Request::get(self.object_path(name)?))
            .await
    }

    /// `None` on 404.
    pub async fn get_opt(&self, name: &str) -> Result<Option<Value>> {
        match self.get(name).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of the list (`lp.limit`, `lp.continue_token`).
    pub async fn list(&self, lp: &ListParams) -> Result<Value> {
        let req = Request::get(self.collection_path()).queries(lp.list_query());
        self.client.json(req).await
    }

    /// The whole list, following `continue` tokens; the result carries the
    /// first page's metadata (its resourceVersion) and every item.
    pub async fn list_all(&self, lp: &ListParams) -> Result<Value> {
        let mut lp = lp.clone();
        let mut first = self.list(&lp).await?;
        loop {
            let token = continue_token(&first);
            let Some(token) = token else { break };
            lp.continue_token = Some(token);
            let mut page = self.list(&lp).await?;
            let more = take_items(&mut page);
            if let Some(items) = first.get_mut("items").and_then(Value::as_array_mut) {
                items.extend(more);
            }
            let next = page.pointer("/metadata/continue").cloned();
            match (first.pointer_mut("/metadata"), next) {
                (Some(Value::Object(m)), Some(n)) => {
                    m.insert("continue".into(), n);
                }
                (Some(Value::Object(m)), None) => {
                    m.remove("continue");
                }
                _ => break,
            }
        }
        if let Some(Value::Object(m)) = first.pointer_mut("/metadata") {
            m.remove("continue");
            m.remove("remainingItemCount");
        }
        Ok(first)
    }

    /// POST; a namespaced kind addressed through [`Self::all`] goes to the
    /// object's own `metadata.namespace`.
    pub async fn create(&self, object: &Value) -> Result<Value> {
        let path = match (&self.namespace, self.resource.namespaced) {
            (None, true) => {
                let ns = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "a namespace is needed to create {}",
                            self.resource.qualified_plural()
                        ))
                    })?;
                self.resource.collection_path(Some(ns))
            }
            _ => self.collection_path(),
        };
        let req = Request::post(path, object).queries(self.write.query());
        self.client.json(req).await
    }

    /// PUT the whole object (its `metadata.resourceVersion` guards against lost updates).
    pub async fn replace(&self, name: &str, object: &Value) -> Result<Value> {
        let req = Request::put(self.object_path(name)?, object).queries(self.write.query());
        self.client.json(req).await
    }

    pub async fn patch(&self, name: &str, patch: &Patch) -> Result<Value> {
        let req = Request::patch(self.object_path(name)?, patch).queries(self.write.query());
        self.client.json(req).await
    }

    pub async fn delete(&self, name: &str, dp: &DeleteParams) -> Result<DeleteOutcome<Value>> {
        let req = Request::delete(self.object_path(name)?).json_body(&dp.body());
        let v = self.client.json(req).await?;
        if v.get("kind").and_then(Value::as_str) == Some("Status") {
            let status = serde_json::from_value(v).map_err(|e| Error::decode("a Status", e))?;
            Ok(DeleteOutcome::Gone(Box::new(status)))
        } else {
            Ok(DeleteOutcome::Object(v))
        }
    }

    /// Changes after `resource_version` (empty: the server's choice, which
    /// starts with the current objects).
    pub async fn watch(
        &self,
        lp: &ListParams,
        resource_version: &str,
    ) -> Result<WatchStream<Value>> {
        let req = Request::get(self.collection_path()).queries(lp.watch_query(resource_version));
        Ok(decode_events(self.client.stream(req).await?))
    }

    pub async fn get_subresource(&self, name: &str, sub: Subresource) -> Result<Value> {
        self.client
            .json(Request::get(self.subresource_path(name, sub)?))
            .await
    }

    pub async fn replace_subresource(
        &self,
        name: &str,
        sub: Subresource,
        object: &Value,
    ) -> Result<Value> {
        let req =
            Request::put(self.subresource_path(name, sub)?, object).queries(self.write.query());
        self.client.json(req).await
    }

    pub async fn patch_subresource(
        &self,
        name: &str,
        sub: Subresource,
        patch: &Patch,
    ) -> Result<Value> {
        let req =
            Request::patch(self.subresource_path(name, sub)?, patch).queries(self.write.query());
        self.client.json(req).await
    }

    /// One object as a server-side printed Table (or the object, if the
    /// server does not print this kind).
    pub async fn get_table(&self, name: &str) -> Result<Value> {
        let req = Request::get(self.object_path(name)?).accept(ACCEPT_TABLE);
        self.client.json(req).await
    }

    /// The list as a Table, following `continue` tokens.
    pub async fn list_table(&self, lp: &ListParams) -> Result<Value> {
        let mut lp = lp.clone();
        let mut first: Option<Value> = None;
        loop {
            let req = Request::get(self.collection_path())
                .queries(lp.list_query())
                .accept(ACCEPT_TABLE);
            let mut page = self.client.json(req).await?;
            let token = continue_token(&page);
            match first.as_mut() {
                None => first = Some(page),
                Some(f) => {
                    // Tables carry `rows`; a server that does not print sends `items`.
                    let key = if is_table(f) { "rows" } else { "items" };
                    let more = take_array(&mut page, key);
                    if let Some(a) = f.get_mut(key).and_then(Value::as_array_mut) {
                        a.extend(more);
                    }
                }
            }
            match token {
                Some(t) => lp.continue_token = Some(t),
                None => break,
            }
        }
        Ok(first.unwrap_or(Value::Null))
    }

    /// A watch whose objects are one-row Tables (as `kubectl get -w` asks).
    pub async fn watch_table(
        &self,
        lp: &ListParams,
        resource_version: &str,
    ) -> Result<WatchStream<Value>> {
        let req = Request::get(self.collection_path())
            .queries(lp.watch_query(resource_version))
            .accept(ACCEPT_TABLE);
        Ok(decode_events(self.client.stream(req).await?))
    }
}

fn is_table(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Table")
}

fn continue_token(list: &Value) -> Option<String> {
    list.pointer("/metadata/continue")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn take_items(list: &mut Value) -> Vec<Value> {
    take_array(list, "items")
}

fn take_array(v: &mut Value, key: &str) -> Vec<Value> {
    match v.get_mut(key).map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}
