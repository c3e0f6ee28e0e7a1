//! Node credentials, kept in the store (so every API server sharing an etcd
//! sees them) as hashes only: `/skiff-auth/nodes/<name>` holds
//! `{"tokenHash": "<sha256 hex>"}`. Not under `/registry/`: no API serves
//! them, not even to an admin.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use skiff_api::Status;
use skiff_store::{Store, StoreError};

use super::tokens::{self, constant_time_eq};
use crate::errors::plain_store_error;

const PREFIX: &str = "/skiff-auth/nodes/";

pub(crate) struct NodeCredentials {
    store: Arc<dyn Store>,
    /// Hashes already read, by node name.
    cache: RwLock<HashMap<String, [u8; 32]>>,
}

impl NodeCredentials {
    pub(crate) fn new(store: Arc<dyn Store>) -> NodeCredentials {
        NodeCredentials {
            store,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The stored hash of `name`'s token, if the node has joined.
    async fn stored(&self, name: &str) -> Result<Option<[u8; 32]>, Status> {
        if let Some(h) = self.cache.read().expect("credential cache").get(name) {
            return Ok(Some(*h));
        }
        let Some(kv) = self
            .store
            .get(&format!("{PREFIX}{name}"))
            .await
            .map_err(plain_store_error)?
        else {
            return Ok(None);
        };
        let record: Value = serde_json::from_slice(&kv.value)
            .map_err(|e| Status::internal(format!("node credential of {name}: {e}")))?;
        let hash = record
            .get("tokenHash")
            .and_then(Value::as_str)
            .and_then(parse_hex)
            .ok_or_else(|| Status::internal(format!("node credential of {name} is unreadable")))?;
        self.cache
            .write()
            .expect("credential cache")
            .insert(name.to_string(), hash);
        Ok(Some(hash))
    }

    /// Whether `token` is `name`'s credential.
    pub(crate) async fn verify(&self, name: &str, token: &str) -> Result<bool, Status> {
        Ok(match self.stored(name).await? {
            Some(h) => constant_time_eq(&h, &tokens::hash(token)),
            None => false,
        })
    }

    /// Creates `name`'s credential; `None` when it has one already (a
    /// concurrent join won).
    pub(crate) async fn create(&self, name: &str) -> Result<Option<String>, Status> {
        let token = tokens::node_token(name, &tokens::random_secret());
        let hash = tokens::hash(&token);
        let record = json!({ "tokenHash": crate::tls::certs::hex(&hash) });
        match self
            .store
            .create(&format!("{PREFIX}{name}"), record.to_string().into_bytes())
            .await
        {
            Ok(_) => {
                self.cache
                    .write()
                    .expect("credential cache")
                    .insert(name.to_string(), hash);
                Ok(Some(token))
            }
            Err(StoreError::AlreadyExists) => Ok(None),
            Err(e) => Err(plain_store_error(e)),
        }
    }
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_once_then_verify() {
        let dir = tempfile::tempdir().unwrap();
        let store = skiff_store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let creds = NodeCredentials::new(Arc::new(store));
        assert!(!creds.verify("n1", "node:n1:x").await.unwrap());
        let token = creds.create("n1").await.unwrap().unwrap();
        assert!(
            creds.create("n1").await.unwrap().is_none(),
            "joined once only"
        );
        assert!(creds.verify("n1", &token).await.unwrap());
        assert!(!creds.verify("n1", "node:n1:wrong").await.unwrap());
        assert!(!creds.verify("n2", &token).await.unwrap());
        // A fresh cache (another API server) reads it from the store.
        let other = NodeCredentials::new(creds.store.clone());
        assert!(other.verify("n1", &token).await.unwrap());
    }
}
