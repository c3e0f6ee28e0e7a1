//! The etcd store (etcd v3 API; tested against etcd 3.4).
//!
//! Every key is stored under a prefix (so several skiff clusters, or tests,
//! can share one etcd) and reported back without it. Conditional writes are
//! transactions comparing `create_revision` (create) or `mod_revision`
//! (update, delete); the etcd revision is the store revision.
//!
//! Compaction is cluster-wide in etcd: compacting through one prefix's store
//! compacts every prefix's history.

mod errors;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, KvClient, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchClient,
};

use crate::keys::{prefix_end, range_start};
use crate::{KeyValue, ListOptions, ListResult, Result, Revision, Store, StoreError, WatchStream};
use errors::Failure;

/// Largest response accepted (a big list); gRPC's default of 4 MiB would
/// fail a list of a few large objects.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// How long `connect` waits for etcd to answer before giving up.
const CONNECT_PROBE: Duration = Duration::from_secs(5);

/// A [`Store`] in etcd. Cloning is cheap: clones share one connection.
#[derive(Clone)]
pub struct EtcdStore {
    kv: KvClient,
    watch: WatchClient,
    prefix: Arc<str>,
    /// The newest compaction known to this process (etcd does not report it
    /// directly): the last one requested here or discovered.
    compacted: Arc<AtomicI64>,
}

impl EtcdStore {
    /// Connects to etcd at `endpoints` (`http://host:port`) and checks that
    /// it answers. `prefix` is prepended to every key.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<EtcdStore> {
        if endpoints.is_empty() {
            return Err(StoreError::Unavailable("no etcd endpoints given".into()));
        }
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            // Bounds the wait for a response to start (not a watch's life).
            .with_timeout(Duration::from_secs(30))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(errors::map)?;
        let store = EtcdStore {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            prefix: prefix.into(),
            compacted: Arc::new(AtomicI64::new(0)),
        };
        match tokio::time::timeout(CONNECT_PROBE, store.current_revision()).await {
            Ok(answer) => answer?,
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "etcd at {} did not answer within {CONNECT_PROBE:?}",
                    endpoints.join(",")
                )));
            }
        };
        Ok(store)
    }

    /// The prefix every key is stored under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn kv(&self) -> KvClient {
        self.kv.clone()
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Converts an etcd key-value, removing the prefix from its key.
    fn unprefixed(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        convert(&self.prefix, kv)
    }

    /// The first key-value of a txn's `get` (else branch) response.
    fn else_get(&self, response: &TxnResponse) -> Result<Option<KeyValue>> {
        match response.op_responses().first() {
            Some(TxnOpResponse::Get(get)) => {
                get.kvs().first().map(|kv| self.unprefixed(kv)).transpose()
            }
            _ => Err(StoreError::Other(anyhow!(
                "etcd: txn response without its get"
            ))),
        }
    }

    /// `NotFound` or `Conflict` for a failed comparison, from the current value.
    fn mismatch(current: Option<KeyValue>) -> StoreError {
        match current {
            None => StoreError::NotFound,
            Some(current) => StoreError::Conflict {
                current: Some(current),
            },
        }
    }

    /// Maps an error from a read at `requested`, filling in the revisions
    /// etcd's message leaves out.
    async fn read_error(&self, error: etcd_client::Error, requested: Revision) -> StoreError {
        match errors::classify(error) {
            Failure::Compacted => {
                let compacted = self.discover_compacted().await.unwrap_or(requested + 1);
                StoreError::Compacted {
                    requested,
                    compacted,
                }
            }
            Failure::FutureRevision => StoreError::FutureRevision {
                requested,
                current: self.current_revision().await.unwrap_or(0),
            },
            Failure::TooLarge => StoreError::TooLarge(0),
            Failure::Other(error) => error,
        }
    }

    /// Whether the store can still be read at `revision`.
    async fn readable(&self, revision: Revision) -> Result<bool> {
        let options = GetOptions::new().with_revision(revision).with_count_only();
        match self.kv().get(range_key(&self.prefix), Some(options)).await {
            Ok(_) => Ok(true),
            Err(error) => match errors::classify(error) {
                Failure::Compacted => Ok(false),
                Failure::Other(error) => Err(error),
                _ => Err(StoreError::Other(anyhow!(
                    "etcd: unexpected answer probing revision {revision}"
                ))),
            },
        }
    }

    /// Finds the oldest readable revision by bisection (reads at a revision
    /// fail once it is compacted), starting from the newest one known.
    async fn discover_compacted(&self) -> Result<Revision> {
        let known = self.compacted.load(Ordering::Acquire);
        let mut unreadable = known.max(1);
        if self.readable(unreadable).await? {
            return Ok(known);
        }
        // Invariant: `unreadable` is compacted away, `readable` is not.
        let mut readable = self.current_revision().await?;
        while readable - unreadable > 1 {
            let middle = unreadable + (readable - unreadable) / 2;
            if self.readable(middle).await? {
                readable = middle;
            } else {
                unreadable = middle;
            }
        }
        self.compacted.fetch_max(readable, Ordering::AcqRel);
        Ok(readable)
    }
}

/// Converts an etcd key-value, removing `prefix` from its key.
fn convert(prefix: &str, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key()
        .strip_prefix(prefix.as_bytes())
        .ok_or_else(|| StoreError::Other(anyhow!("etcd returned a key outside {prefix:?}")))?;
    let key = String::from_utf8(key.to_vec())
        .map_err(|e| StoreError::Other(anyhow!("etcd key is not UTF-8: {e}")))?;
    Ok(KeyValue {
        key,
        value: kv.value().to_vec(),
        mod_revision: kv.mod_revision(),
        create_revision: kv.create_revision(),
    })
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| StoreError::Other(anyhow!("etcd response without a header")))
}

/// The end of the etcd key range holding every key that starts with `prefix`
/// (`\0` means "to the end of the keyspace").
fn range_end(prefix: &str) -> Vec<u8> {
    prefix_end(prefix.as_bytes()).unwrap_or_else(|| vec![0])
}

/// etcd refuses an empty key; `\0` starts a range at the first key there is.
fn non_empty(key: Vec<u8>) -> Vec<u8> {
    if key.is_empty() { vec![0] } else { key }
}

/// The start of the etcd key range holding every key under `prefix`.
fn range_key(prefix: &str) -> Vec<u8> {
    non_empty(prefix.as_bytes().to_vec())
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        let key = self.full_key(key);
        let size = value.len();
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, None)]);
        let response = self
            .kv()
            .txn(txn)
            .await
            .map_err(|e| errors::map_write(e, size))?;
        if !response.succeeded() {
            return Err(StoreError::AlreadyExists);
        }
        header_revision(response.header())
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let response = self
            .kv()
            .get(self.full_key(key), None)
            .await
            .map_err(errors::map)?;
        response
            .kvs()
            .first()
            .map(|kv| self.unprefixed(kv))
            .transpose()
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        if expected <= 0 {
            // etcd compares a missing key's mod_revision as 0: never match it.
            return Err(Self::mismatch(self.get(key).await?));
        }
        let key = self.full_key(key);
        let size = value.len();
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key.clone(),
                CompareOp::Equal,
                expected,
            )])
            .and_then([TxnOp::put(key.clone(), value, None)])
            .or_else([TxnOp::get(key, None)]);
        let response = self
            .kv()
            .txn(txn)
            .await
            .map_err(|e| errors::map_write(e, size))?;
        if !response.succeeded() {
            return Err(Self::mismatch(self.else_get(&response)?));
        }
        header_revision(response.header())
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let full_key = self.full_key(key);
        let delete = DeleteOptions::new().with_prev_key();
        let (revision, previous) = match expected {
            None => {
                let response = self
                    .kv()
                    .delete(full_key, Some(delete))
                    .await
                    .map_err(errors::map)?;
                let previous = response.prev_kvs().first().cloned();
                (header_revision(response.header())?, previous)
            }
            Some(expected) if expected <= 0 => {
                return Err(Self::mismatch(self.get(key).await?));
            }
            Some(expected) => {
                let txn = Txn::new()
                    .when([Compare::mod_revision(
                        full_key.clone(),
                        CompareOp::Equal,
                        expected,
                    )])
                    .and_then([TxnOp::delete(full_key.clone(), Some(delete))])
                    .or_else([TxnOp::get(full_key, None)]);
                let response = self.kv().txn(txn).await.map_err(errors::map)?;
                if !response.succeeded() {
                    return Err(Self::mismatch(self.else_get(&response)?));
                }
                let previous = match response.op_responses().into_iter().next() {
                    Some(TxnOpResponse::Delete(deleted)) => deleted.prev_kvs().first().cloned(),
                    _ => None,
                };
                (header_revision(response.header())?, previous)
            }
        };
        // A delete of a missing key succeeds in etcd with nothing deleted.
        let previous = previous.ok_or(StoreError::NotFound)?;
        Ok((revision, self.unprefixed(&previous)?))
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
        let full_prefix = self.full_key(prefix);
        let start_after = opts.start_after.as_deref().map(|key| self.full_key(key));
        let start = range_start(&full_prefix, start_after.as_deref());
        let mut options = GetOptions::new().with_range(range_end(&full_prefix));
        if let Some(limit) = opts.limit.filter(|limit| *limit > 0) {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let requested = opts.revision.filter(|revision| *revision > 0);
        if let Some(revision) = requested {
            options = options.with_revision(revision);
        }
        let response = match self.kv().get(non_empty(start), Some(options)).await {
            Ok(response) => response,
            Err(error) => return Err(self.read_error(error, requested.unwrap_or(0)).await),
        };
        let items = response
            .kvs()
            .iter()
            .map(|kv| self.unprefixed(kv))
            .collect::<Result<Vec<_>>>()?;
        let revision = match requested {
            Some(revision) => revision,
            None => header_revision(response.header())?,
        };
        Ok(ListResult {
            items,
            revision,
            more: response.more(),
        })
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let full_prefix = self.full_key(prefix);
        let options = GetOptions::new()
            .with_range(range_end(&full_prefix))
            .with_count_only();
        let response = self
            .kv()
            .get(range_key(&full_prefix), Some(options))
            .await
            .map_err(errors::map)?;
        Ok(response.count())
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let after = after.max(0);
        let compacted = self.compacted.load(Ordering::Acquire);
        if after.saturating_add(1) < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted,
            });
        }
        watch::start(self, prefix, after).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .kv()
            .get(range_key(&self.prefix), Some(options))
            .await
            .map_err(errors::map)?;
        header_revision(response.header())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        if revision <= self.compacted.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.kv().compact(revision, None).await {
            Ok(_) => {}
            // Already compacted at or past `revision` (by anyone): done.
            Err(error) => match errors::classify(error) {
                Failure::Compacted => {}
                Failure::FutureRevision => {
                    return Err(StoreError::FutureRevision {
                        requested: revision,
                        current: self.current_revision().await?,
                    });
                }
                Failure::TooLarge => return Err(StoreError::TooLarge(0)),
                Failure::Other(error) => return Err(error),
            },
        }
        self.compacted.fetch_max(revision, Ordering::AcqRel);
        Ok(())
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        self.discover_compacted().await
    }
}
