//! `Api<T>`: the typed face of [`DynamicApi`] for kinds that implement
//! [`skiff_api::Object`].

use std::marker::PhantomData;

use futures::StreamExt;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use skiff_api::Object;
use skiff_api::meta::ListMeta;
use skiff_api::resource::Subresource;

use crate::client::Client;
use crate::dynamic::{DeleteOutcome, DynamicApi};
use crate::error::{Error, Result};
use crate::params::{DeleteParams, ListParams, Patch, WriteParams};
use crate::watch::{WatchEvent, WatchStream};

/// A list of `T` as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned", serialize = "T: Serialize"))]
pub struct ObjectList<T> {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<T>,
}

fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl<T> ObjectList<T> {
    /// The revision the list was read at: where a following watch starts.
    pub fn resource_version(&self) -> &str {
        self.metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    }
}

/// Typed access to one kind.
#[derive(Debug)]
pub struct Api<T> {
    inner: DynamicApi,
    _kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Api<T> {
    fn clone(&self) -> Self {
        Api {
            inner: self.inner.clone(),
            _kind: PhantomData,
        }
    }
}

fn from_value<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::decode(std::any::type_name::<T>(), e))
}

fn to_value<T: Serialize>(t: &T) -> Result<Value> {
    serde_json::to_value(t).map_err(|e| Error::decode(std::any::type_name::<T>(), e))
}

impl<T: Object> Api<T> {
    /// `T`s in `namespace` (ignored for cluster-scoped kinds).
    pub fn namespaced(client: Client, namespace: &str) -> Api<T> {
        Api {
            inner: DynamicApi::namespaced(client, T::RESOURCE, namespace),
            _kind: PhantomData,
        }
    }

    /// `T`s in every namespace (list/watch), or a cluster-scoped kind.
    pub fn all(client: Client) -> Api<T> {
        Api {
            inner: DynamicApi::all(client, T::RESOURCE),
            _kind: PhantomData,
        }
    }

    /// In the client's default namespace.
    pub fn default_namespaced(client: Client) -> Api<T> {
        Api {
            inner: DynamicApi::default_namespaced(client, T::RESOURCE),
            _kind: PhantomData,
        }
    }

    /// Field manager, validation and dry-run for every write.
    pub fn with_write_params(mut self, params: WriteParams) -> Api<T> {
        self.inner = self.inner.with_write_params(params);
        self
    }

    /// The untyped API underneath.
    pub fn dynamic(&self) -> &DynamicApi {
        &self.inner
    }

    pub async fn get(&self, name: &str) -> Result<T> {
        from_value(self.inner.get(name).await?)
    }

    /// `None` on 404.
    pub async fn get_opt(&self, name: &str) -> Result<Option<T>> {
        self.inner.get_opt(name).await?.map(from_value).transpose()
    }

    /// One page (see `ListParams::limit` and `continue_token`).
    pub async fn list(&self, lp: &ListParams) -> Result<ObjectList<T>> {
        from_value(self.inner.list(lp).await?)
    }

    /// Every page.
    pub async fn list_all(&self, lp: &ListParams) -> Result<ObjectList<T>> {
        from_value(self.inner.list_all(lp).await?)
    }

    pub async fn create(&self, object: &T) -> Result<T> {
        from_value(self.inner.create(&to_value(object)?).await?)
    }

    pub async fn replace(&self, name: &str, object: &T) -> Result<T> {
        from_value(self.inner.replace(name, &to_value(object)?).await?)
    }

    pub async fn patch(&self, name: &str, patch: &Patch) -> Result<T> {
        from_value(self.inner.patch(name, patch).await?)
    }

    pub async fn delete(&self, name: &str, dp: &DeleteParams) -> Result<DeleteOutcome<T>> {
        Ok(match self.inner.delete(name, dp).await? {
            DeleteOutcome::Gone(s) => DeleteOutcome::Gone(s),
            DeleteOutcome::Object(v) => DeleteOutcome::Object(from_value(v)?),
        })
    }

    /// Changes after `resource_version` (usually a list's).
    pub async fn watch(&self, lp: &ListParams, resource_version: &str) -> Result<WatchStream<T>> {
        let raw = self.inner.watch(lp, resource_version).await?;
        Ok(Box::pin(raw.map(|ev| {
            ev.and_then(|ev| {
                Ok(match ev {
                    WatchEvent::Added(v) => WatchEvent::Added(from_value(v)?),
                    WatchEvent::Modified(v) => WatchEvent::Modified(from_value(v)?),
                    WatchEvent::Deleted(v) => WatchEvent::Deleted(from_value(v)?),
                    WatchEvent::Bookmark { resource_version } => {
                        WatchEvent::Bookmark { resource_version }
                    }
                    WatchEvent::Error(s) => WatchEvent::Error(s),
                })
            })
        })))
    }

    /// PUT `/status` (only `.status` changes).
    pub async fn replace_status(&self, name: &str, object: &T) -> Result<T> {
        from_value(
            self.inner
                .replace_subresource(name, Subresource::Status, &to_value(object)?)
                .await?,
        )
    }

    /// PATCH `/status`.
    pub async fn patch_status(&self, name: &str, patch: &Patch) -> Result<T> {
        from_value(
            self.inner
                .patch_subresource(name, Subresource::Status, patch)
                .await?,
        )
    }

    /// GET `/scale` (an `autoscaling/v1` Scale).
    pub async fn get_scale(&self, name: &str) -> Result<Value> {
        self.inner.get_subresource(name, Subresource::Scale).await
    }

    /// PATCH `/scale`, e.g. `Patch::Merge(json!({"spec":{"replicas":3}}))`.
    pub async fn patch_scale(&self, name: &str, patch: &Patch) -> Result<Value> {
        self.inner
            .patch_subresource(name, Subresource::Scale, patch)
            .await
    }
}
