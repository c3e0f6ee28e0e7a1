//! Namespaces: the ones every cluster has, the check that a write goes into
//! a namespace that exists and is not being deleted, and the background
//! task that empties a deleted namespace and then removes it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use skiff_api::core::NAMESPACES;
use skiff_api::{RESOURCES, ResourceType, Status};
use skiff_store::ListOptions;

use crate::errors::plain_store_error;
use crate::query::WriteOptions;
use crate::registry::{DeleteOptions, Registry, decode};
use crate::value;

/// Created at start when missing.
pub const DEFAULT_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// How often a terminating namespace is checked for remaining contents.
const FINALIZE_POLL: Duration = Duration::from_millis(500);

/// Creates the default namespaces that do not exist yet.
pub async fn ensure_defaults(registry: &Registry) -> Result<(), Status> {
    for name in DEFAULT_NAMESPACES {
        if registry.try_get(&NAMESPACES, None, name).await?.is_some() {
            continue;
        }
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let opts = WriteOptions {
            validation: skiff_api::FieldValidation::Strict,
            dry_run: false,
        };
        match registry.create(&NAMESPACES, None, body, opts).await {
            Ok(_) => tracing::info!(namespace = name, "created namespace"),
            Err(s) if s.is_already_exists() => {}
            Err(s) => return Err(s),
        }
    }
    Ok(())
}

/// Writes into `namespace` need it to exist (404) and not be terminating (403).
///
/// Answered from the namespaces' watch cache when it knows the namespace
/// (like Kubernetes' NamespaceLifecycle admission); a miss (absent, or
/// created a moment ago and its event not applied yet) is read from the
/// store, and so is a namespace this server is emptying or has just removed,
/// so that the cache lagging behind a deletion cannot let a create in after
/// the finalizer's last pass. A create that slips past a deletion made on
/// another server lands while that server's finalizer is usually still
/// looping (it repeats until the namespace is empty) and goes with the rest.
pub async fn check_open(
    registry: &Registry,
    namespace: &str,
    rt: &ResourceType,
    name: &str,
) -> Result<(), Status> {
    let cached = registry
        .namespace_view()
        .filter(|_| !registry.needs_live_namespace_lookup(namespace))
        .and_then(|view| view.object(&NAMESPACES.storage_key(None, namespace)));
    let terminating = match cached {
        Some(ns) => value::is_being_deleted(&ns),
        None => match registry.try_get(&NAMESPACES, None, namespace).await? {
            Some(ns) => value::is_being_deleted(&ns.object),
            None => return Err(Status::namespace_not_found(namespace)),
        },
    };
    if terminating {
        let mut s = Status::forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            rt.qualified_plural()
        ));
        s.details = Some(skiff_api::status::StatusDetails {
            name: name.into(),
            group: rt.group.into(),
            kind: rt.plural.into(),
            ..Default::default()
        });
        return Err(s);
    }
    Ok(())
}

/// Starts emptying a terminating namespace, unless a task already is.
pub fn spawn_finalizer(registry: &Registry, namespace: &str) {
    let Some(registry) = registry.self_arc() else {
        return;
    };
    if !registry.start_finalizing(namespace) {
        return;
    }
    let namespace = namespace.to_string();
    let mut shutdown = registry.shutdown.clone();
    tokio::spawn(async move {
        loop {
            match finalize_round(&registry, &namespace).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(s) => tracing::warn!(%namespace, error = %s.message, "namespace cleanup"),
            }
            tokio::select! {
                _ = tokio::time::sleep(FINALIZE_POLL) => {}
                _ = shutdown.wait_for(|stopped| *stopped) => break,
            }
        }
        registry.done_finalizing(&namespace);
    });
}

/// `spec.finalizers` of a Namespace (`kubernetes` until its contents are gone).
pub fn spec_finalizers(ns: &Value) -> Vec<String> {
    ns.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Resumes the cleanup of namespaces that were terminating when the server
/// last stopped.
pub async fn resume_terminating(registry: &Registry) -> Result<(), Status> {
    let page = registry
        .store
        .list(&NAMESPACES.storage_prefix(), &ListOptions::default())
        .await
        .map_err(plain_store_error)?;
    for kv in &page.items {
        let ns = decode(kv)?;
        if value::is_being_deleted(&ns) {
            spawn_finalizer(registry, value::name_of(&ns));
        }
    }
    Ok(())
}

/// One pass: delete what is left in the namespace; once nothing is, remove
/// the namespace itself. True when done (or the namespace is gone).
async fn finalize_round(registry: &Arc<Registry>, namespace: &str) -> Result<bool, Status> {
    let Some(ns) = registry.try_get(&NAMESPACES, None, namespace).await? else {
        return Ok(true);
    };
    let mut remaining = 0usize;
    for rt in RESOURCES.iter().copied().filter(|r| r.namespaced) {
        let page = registry
            .store
            .list(
                &rt.storage_namespace_prefix(Some(namespace)),
                &ListOptions::default(),
            )
            .await
            .map_err(plain_store_error)?;
        for kv in &page.items {
            remaining += 1;
            let object = decode(kv)?;
            if value::is_being_deleted(&object) {
                continue;
            }
            let name = value::name_of(&object).to_string();
            match registry
                .delete(rt, Some(namespace), &name, &DeleteOptions::default())
                .await
            {
                Ok(_) => {}
                Err(s) if s.is_not_found() => {}
                Err(s) => return Err(s),
            }
        }
    }
    if remaining > 0 {
        return Ok(false);
    }
    let key = NAMESPACES.storage_key(None, namespace);
    let mut revision = ns.revision;
    if !spec_finalizers(&ns.object).is_empty() {
        // The contents are gone: the `kubernetes` finalizer is done.
        let mut next = ns.object.clone();
        if let Some(spec) = next.get_mut("spec").and_then(|s| s.as_object_mut()) {
            spec.insert("finalizers".into(), json!([]));
        }
        match registry
            .write(&NAMESPACES, &key, namespace, next, revision)
            .await
        {
            Ok(written) => {
                revision = crate::value::meta_str(&written, "resourceVersion")
                    .and_then(|rv| rv.parse().ok())
                    .unwrap_or(revision)
            }
            Err(s) if s.is_conflict() => return Ok(false),
            Err(s) => return Err(s),
        }
    }
    if !value::finalizers_of(&ns.object).is_empty() {
        // The update that removes the last finalizer deletes it.
        return Ok(true);
    }
    match registry.store.delete(&key, Some(revision)).await {
        Ok(_) => {
            tracing::info!(%namespace, "namespace deleted");
            Ok(true)
        }
        Err(skiff_store::StoreError::NotFound) => Ok(true),
        Err(skiff_store::StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(plain_store_error(e)),
    }
}
