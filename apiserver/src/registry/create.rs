//! POST: a new object gets its name (or a generated one), namespace, uid,
//! creation time and generation 1, after decoding, defaulting and
//! validation; Services get their cluster IP and node ports here.

use rand::Rng;
use serde_json::{Value, json};
use skiff_api::{ResourceType, Status};
use skiff_store::StoreError;

use super::{Registry, WriteOutcome, encode};
use crate::errors::store_error;
use crate::kinds;
use crate::namespaces;
use crate::query::WriteOptions;
use crate::value;

/// Attempts at a fresh generated name when one is already taken.
const GENERATE_NAME_ATTEMPTS: usize = 8;

/// The alphabet Kubernetes draws generated-name suffixes from (no vowels, no
/// look-alike characters).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `prefix` + 5 random characters.
pub fn generate_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Server-owned metadata a client may not set on create.
const SERVER_OWNED: [&str; 7] = [
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
];

impl Registry {
    pub async fn create(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        mut body: Value,
        opts: WriteOptions,
    ) -> Result<WriteOutcome, Status> {
        let namespace = super::scope(rt, namespace);
        if rt.namespaced {
            let Some(ns) = namespace else {
                return Err(Status::bad_request(format!(
                    "{} must be created in a namespace: POST to {}",
                    rt.qualified_plural(),
                    rt.collection_path(Some("{namespace}"))
                )));
            };
            let sent = value::namespace_of(&body);
            if !sent.is_empty() && sent != ns {
                return Err(Status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            value::set_meta(&mut body, "namespace", Value::String(ns.to_string()));
        } else {
            value::remove_meta(&mut body, "namespace");
        }
        for field in SERVER_OWNED {
            value::remove_meta(&mut body, field);
        }
        let prefix = value::meta_str(&body, "generateName")
            .unwrap_or_default()
            .to_string();
        let generated = value::name_of(&body).is_empty() && !prefix.is_empty();
        if generated {
            value::set_meta(&mut body, "name", Value::String(generate_name(&prefix)));
        }
        if let Some(ns) = namespace {
            namespaces::check_open(self, ns, rt, value::name_of(&body)).await?;
        }

        let normalized = (rt.codec.normalize)(body, opts.validation)?;
        let mut object = normalized.object;
        value::set_meta(
            &mut object,
            "uid",
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        value::set_meta(
            &mut object,
            "creationTimestamp",
            Value::String(value::now_rfc3339()),
        );
        value::set_meta(&mut object, "generation", json!(1));
        kinds::prepare_create(rt, &mut object);

        // Allocations are decided and written under one lock so that two
        // creates never take the same cluster IP or node port.
        let _allocation = if kinds::allocates(rt) {
            let guard = self.allocators.lock().await;
            let used = self.allocators.used(&*self.store, None).await?;
            self.allocators.assign(&mut object, &used, None)?;
            Some(guard)
        } else {
            None
        };

        if opts.dry_run {
            return Ok(WriteOutcome {
                object,
                warnings: normalized.warnings,
            });
        }
        let mut attempts = 0;
        loop {
            let name = value::name_of(&object).to_string();
            let key = rt.storage_key(namespace, &name);
            match self.store.create(&key, encode(&object)).await {
                Ok(revision) => {
                    value::set_resource_version(&mut object, revision);
                    return Ok(WriteOutcome {
                        object,
                        warnings: normalized.warnings,
                    });
                }
                Err(StoreError::AlreadyExists)
                    if generated && attempts < GENERATE_NAME_ATTEMPTS =>
                {
                    attempts += 1;
                    value::set_meta(&mut object, "name", Value::String(generate_name(&prefix)));
                }
                Err(e) => return Err(store_error(e, rt, &name)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_have_five_safe_characters() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].bytes().all(|b| SUFFIX_ALPHABET.contains(&b)));
        assert_ne!(generate_name("x-"), generate_name("x-"));
    }
}
