//! PUT and every other read-modify-write (PATCH, scale, status): the new
//! object keeps the stored identity (uid, creation time, deletion state),
//! ignores `status` on the main resource (or everything but `status` on
//! `/status`), bumps `generation` when the desired state changed, and is
//! written only if the stored revision is still the one it was based on.

use serde_json::{Value, json};
use skiff_api::{ResourceType, Status, StatusCause};

use super::{CONFLICT_RETRIES, Registry, Stored, WriteOutcome, encode, without_version};
use crate::errors::store_error;
use crate::kinds;
use crate::query::WriteOptions;
use crate::value;

/// Which part of the object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// The main resource: everything but `status` (when the kind has a
    /// status subresource).
    Main,
    /// `/status`: only `status`.
    Status,
}

/// How a read-modify-write is done.
#[derive(Debug, Clone, Copy)]
pub struct ModifyOptions {
    pub write: WriteOptions,
    pub mode: UpdateMode,
    /// Redo the change on a lost race (the client did not pin a
    /// `resourceVersion`).
    pub retry: bool,
}

/// Metadata that always comes from the stored object.
const PRESERVED: [&str; 6] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "namespace",
    "name",
];

impl Registry {
    /// PUT: `body` must carry the current `metadata.resourceVersion`.
    pub async fn update(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        mut body: Value,
        opts: WriteOptions,
        mode: UpdateMode,
    ) -> Result<WriteOutcome, Status> {
        let namespace = super::scope(rt, namespace);
        check_identity(&mut body, namespace, name)?;
        let current = self.get(rt, namespace, name).await?;
        match value::parse_resource_version(
            value::meta_str(&body, "resourceVersion").unwrap_or_default(),
        )? {
            None => {
                return Err(Status::invalid(
                    rt,
                    name,
                    vec![StatusCause {
                        reason: "FieldValueInvalid".into(),
                        message: "Invalid value: 0x0: must be specified for an update".into(),
                        field: "metadata.resourceVersion".into(),
                    }],
                ));
            }
            Some(rv) if rv != current.revision => return Err(Status::conflict(rt, name)),
            Some(_) => {}
        }
        self.replace(rt, &current, body, opts, mode).await
    }

    /// Read-modify-write: `change` turns the current object into the new one.
    /// A lost race is retried when `how.retry`; a changed `resourceVersion`
    /// in the result is a 409.
    pub async fn modify<F>(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        how: ModifyOptions,
        mut change: F,
    ) -> Result<WriteOutcome, Status>
    where
        F: FnMut(&Stored) -> Result<Value, Status>,
    {
        let namespace = super::scope(rt, namespace);
        let mut attempt = 0;
        loop {
            let current = self.get(rt, namespace, name).await?;
            let mut new = change(&current)?;
            let wanted = value::meta_str(&new, "resourceVersion").unwrap_or_default();
            if !wanted.is_empty() && wanted != current.revision.to_string() {
                return Err(Status::conflict(rt, name));
            }
            check_identity(&mut new, namespace, name)?;
            match self.replace(rt, &current, new, how.write, how.mode).await {
                Err(s) if s.is_conflict() && how.retry && attempt < CONFLICT_RETRIES => {
                    attempt += 1
                }
                other => return other,
            }
        }
    }

    /// Writes `new` over `current` by the update rules (see the module docs).
    pub async fn replace(
        &self,
        rt: &'static ResourceType,
        current: &Stored,
        new: Value,
        opts: WriteOptions,
        mode: UpdateMode,
    ) -> Result<WriteOutcome, Status> {
        let name = value::name_of(&current.object).to_string();
        let old = without_version(&current.object);
        let sent_uid = value::uid_of(&new);
        if !sent_uid.is_empty() && sent_uid != value::uid_of(&old) {
            return Err(Status::conflict_message(
                rt,
                &name,
                format!(
                    "Precondition failed: UID in precondition: {sent_uid}, UID in object meta: {}",
                    value::uid_of(&old)
                ),
            ));
        }
        let mut next = match mode {
            UpdateMode::Main => {
                let mut next = new;
                if rt.has_subresource(skiff_api::Subresource::Status) {
                    value::set_field(&mut next, "status", value::field(&old, "status"));
                }
                next
            }
            UpdateMode::Status => {
                let mut next = old.clone();
                value::set_field(&mut next, "status", value::field(&new, "status"));
                next
            }
        };
        for field in PRESERVED {
            match value::meta_value(&old, field) {
                Some(v) => value::set_meta(&mut next, field, v),
                None => {
                    value::remove_meta(&mut next, field);
                }
            }
        }
        for field in ["resourceVersion", "managedFields", "generation"] {
            value::remove_meta(&mut next, field);
        }
        if mode == UpdateMode::Main {
            kinds::prepare_update(rt, &mut next, &old);
        }

        let normalized = (rt.codec.normalize)(next, opts.validation)?;
        let mut object = normalized.object;

        let _allocation = if kinds::allocates(rt) && mode == UpdateMode::Main {
            let guard = self.allocators.lock().await;
            let key = rt.storage_key(super::scope(rt, Some(value::namespace_of(&old))), &name);
            let used = self.allocators.used(&*self.store, Some(&key)).await?;
            self.allocators.assign(&mut object, &used, Some(&old))?;
            Some(guard)
        } else {
            None
        };

        (rt.codec.validate_update)(&object, &old)?;

        let generation = value::generation_of(&old);
        let bumped = if value::desired_state(&object) != value::desired_state(&old) {
            generation + 1
        } else {
            generation
        };
        if bumped > 0 {
            value::set_meta(&mut object, "generation", json!(bumped));
        }

        if object == old {
            // Nothing changed: no write, the same resourceVersion.
            return Ok(WriteOutcome {
                object: current.object.clone(),
                warnings: normalized.warnings,
            });
        }
        let key = rt.storage_key(super::scope(rt, Some(value::namespace_of(&old))), &name);
        if opts.dry_run {
            value::set_resource_version(&mut object, current.revision);
            return Ok(WriteOutcome {
                object,
                warnings: normalized.warnings,
            });
        }
        // The last finalizer of an object being deleted was removed: delete it
        // (kube-apiserver's rule: grace period already 0, finalizers empty).
        if finalizers_done(&old, &object) {
            let (revision, _) = self
                .store
                .delete(&key, Some(current.revision))
                .await
                .map_err(|e| store_error(e, rt, &name))?;
            value::set_resource_version(&mut object, revision);
            return Ok(WriteOutcome {
                object,
                warnings: normalized.warnings,
            });
        }
        let revision = self
            .store
            .update(&key, encode(&object), current.revision)
            .await
            .map_err(|e| store_error(e, rt, &name))?;
        value::set_resource_version(&mut object, revision);
        Ok(WriteOutcome {
            object,
            warnings: normalized.warnings,
        })
    }
}

/// An object under deletion whose grace period is over and whose finalizers
/// are now all gone.
pub(super) fn finalizers_done(old: &Value, new: &Value) -> bool {
    value::is_being_deleted(old)
        && old
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
        && value::finalizers_of(new).is_empty()
        // A Namespace also waits for its contents (`spec.finalizers`).
        && crate::namespaces::spec_finalizers(new).is_empty()
}

/// The body's name and namespace must be the URL's (filled in when absent).
fn check_identity(body: &mut Value, namespace: Option<&str>, name: &str) -> Result<(), Status> {
    let sent = value::name_of(body);
    if !sent.is_empty() && sent != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({sent}) does not match the name on the URL ({name})"
        )));
    }
    value::set_meta(body, "name", Value::String(name.to_string()));
    if let Some(ns) = namespace {
        let sent = value::namespace_of(body);
        if !sent.is_empty() && sent != ns {
            return Err(Status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        value::set_meta(body, "namespace", Value::String(ns.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_checks() {
        let mut b = json!({"metadata": {"name": "a"}});
        assert!(check_identity(&mut b, Some("ns"), "a").is_ok());
        assert_eq!(b["metadata"]["namespace"], "ns");
        let mut b = json!({"metadata": {"name": "b"}});
        assert_eq!(check_identity(&mut b, None, "a").unwrap_err().code, 400);
        let mut b = json!({"metadata": {"namespace": "x"}});
        assert_eq!(
            check_identity(&mut b, Some("y"), "a").unwrap_err().code,
            400
        );
    }

    #[test]
    fn finalizer_rule() {
        let old = json!({"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 0, "finalizers": ["a"]}});
        let new = json!({"metadata": {"deletionTimestamp": "t"}});
        assert!(finalizers_done(&old, &new));
        assert!(!finalizers_done(&old, &old));
        let graceful =
            json!({"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 30}});
        assert!(!finalizers_done(&graceful, &new));
        assert!(!finalizers_done(&json!({}), &new));
    }
}
