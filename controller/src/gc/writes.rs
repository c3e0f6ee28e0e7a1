//! The collector's writes. Each reads the object fresh and writes with its
//! `resourceVersion` (a merge patch carrying it is refused on a change in
//! between), so a lagging cache can neither undo nor repeat a change, and
//! an object re-created under the same name (another uid) is left alone.

use serde_json::{Value, json};
use skiff_api::meta::ObjectMeta;
use skiff_client::{DeleteParams, DynamicApi, Error, ListParams, Patch, PropagationPolicy};

use super::WATCHED;
use super::graph::{Item, Kind};
use crate::context::Context;

/// Tries at a read-modify-write before giving up (and requeueing).
const ATTEMPTS: usize = 5;

fn api_for(ctx: &Context, item: &Item) -> DynamicApi {
    DynamicApi::namespaced(
        ctx.client.clone(),
        item.kind.0,
        item.namespace.as_deref().unwrap_or_default(),
    )
}

fn uid_of(object: &Value) -> &str {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Changes `item`'s metadata list `field` with `change` (None: no change
/// needed). Gone, or replaced by another object of the same name: done.
async fn modify_list(
    ctx: &Context,
    item: &Item,
    field: &str,
    change: impl Fn(&[Value]) -> Option<Vec<Value>>,
) -> Result<(), Error> {
    let api = api_for(ctx, item);
    let mut last_conflict = None;
    for _ in 0..ATTEMPTS {
        let Some(fresh) = api.get_opt(&item.name).await? else {
            return Ok(());
        };
        if uid_of(&fresh) != item.uid {
            return Ok(());
        }
        let current = fresh
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(next) = change(&current) else {
            return Ok(());
        };
        let next = if next.is_empty() {
            Value::Null
        } else {
            json!(next)
        };
        let rv = fresh.pointer("/metadata/resourceVersion").cloned();
        let patch = Patch::Merge(json!({"metadata": {"resourceVersion": rv, field: next}}));
        match api.patch(&item.name, &patch).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) if e.is_conflict() => last_conflict = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_conflict.expect("a conflict ended the attempts"))
}

/// Removes from `item` its references to the owners `owner_uids`.
pub async fn strip_owner_refs(
    ctx: &Context,
    item: &Item,
    owner_uids: &[&str],
) -> Result<(), Error> {
    modify_list(ctx, item, "ownerReferences", |refs| {
        let kept: Vec<Value> = refs
            .iter()
            .filter(|r| {
                let uid = r.get("uid").and_then(Value::as_str).unwrap_or_default();
                !owner_uids.contains(&uid)
            })
            .cloned()
            .collect();
        (kept.len() != refs.len()).then_some(kept)
    })
    .await
}

/// Removes `finalizer` from `item` (the API server deletes an object being
/// deleted once its last finalizer is gone).
pub async fn remove_finalizer(ctx: &Context, item: &Item, finalizer: &str) -> Result<(), Error> {
    modify_list(ctx, item, "finalizers", |list| {
        let kept: Vec<Value> = list
            .iter()
            .filter(|f| f.as_str() != Some(finalizer))
            .cloned()
            .collect();
        (kept.len() != list.len()).then_some(kept)
    })
    .await
}

/// Deletes `item` with `policy`: only that object (a uid precondition), and
/// only as the graph saw it (a resourceVersion precondition). The graph
/// may lag: an owner's deletion can arrive before the change that let its
/// dependent go (an orphaning), and a decision made on the old owner
/// references must not delete the object.
pub async fn delete(ctx: &Context, item: &Item, policy: PropagationPolicy) -> Result<(), Error> {
    let params = DeleteParams {
        propagation_policy: Some(policy),
        precondition_uid: Some(item.uid.clone()),
        precondition_resource_version: Some(item.resource_version.clone())
            .filter(|v| !v.is_empty()),
        ..Default::default()
    };
    match api_for(ctx, item).delete(&item.name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        // A precondition failed: a new object has the name (ours is gone),
        // or ours changed since the graph saw it (decide again).
        Err(e) if e.is_conflict() => match api_for(ctx, item).get_opt(&item.name).await? {
            Some(v) if uid_of(&v) == item.uid => Err(e),
            _ => Ok(()),
        },
        Err(e) => Err(e),
    }
}

/// The dependents of `owner` as the API server has them now. The graph
/// only knows what the informers delivered, and a dependent created just
/// before its owner's deletion may not have arrived yet: before an owner
/// is let go, this makes sure none is left behind.
pub async fn list_dependents(ctx: &Context, owner: &Item) -> Result<Vec<Item>, Error> {
    let mut found = Vec::new();
    for rt in WATCHED {
        let api = match &owner.namespace {
            Some(ns) => DynamicApi::namespaced(ctx.client.clone(), rt, ns),
            None => DynamicApi::all(ctx.client.clone(), rt),
        };
        let list = api.list_all(&ListParams::default()).await?;
        let items = list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for object in items {
            let names_owner = object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(&owner.uid))
                });
            if !names_owner {
                continue;
            }
            let meta: ObjectMeta =
                serde_json::from_value(object["metadata"].clone()).map_err(|e| {
                    Error::Decode(format!("decoding the metadata of a {}: {e}", rt.kind))
                })?;
            found.push(Item::of_meta(Kind(rt), &meta));
        }
    }
    Ok(found)
}
