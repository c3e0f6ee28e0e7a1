//! One look at one object (by uid): finish its orphan or foreground
//! deletion, or collect it when its owners are gone.

use std::sync::Arc;

use serde_json::Value;
use skiff_client::runtime::Action;
use skiff_client::{DynamicApi, Error, PropagationPolicy};

use super::graph::{Item, Kind};
use super::{Collector, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, WAITING_RECHECK, writes};
use crate::context::Context;

/// What an owner reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Exists (and is not waiting for its dependents).
    Solid,
    /// Gone (or never existed).
    Dangling,
    /// Being deleted in the foreground: its dependents must go first.
    Waiting,
}

pub(super) async fn reconcile(ctx: &Context, gc: &Collector, uid: &str) -> Result<Action, Error> {
    let Some(item) = gc.graph().get(uid) else {
        return Ok(Action::Done);
    };
    if item.being_deleted {
        if item.has_finalizer(ORPHAN_FINALIZER) {
            return orphan_dependents(ctx, gc, &item).await;
        }
        if item.has_finalizer(FOREGROUND_FINALIZER) {
            return delete_dependents_first(ctx, gc, &item).await;
        }
        return Ok(Action::Done);
    }
    if item.owners.is_empty() {
        return Ok(Action::Done);
    }
    collect_if_orphaned(ctx, gc, &item).await
}

/// Orphan: every dependent forgets this owner, then the finalizer goes.
async fn orphan_dependents(ctx: &Context, gc: &Collector, owner: &Item) -> Result<Action, Error> {
    let mut dependents: Vec<Arc<Item>> = gc.graph().dependents(&owner.uid);
    for listed in writes::list_dependents(ctx, owner).await? {
        if !dependents.iter().any(|d| d.uid == listed.uid) {
            dependents.push(Arc::new(listed));
        }
    }
    for dependent in &dependents {
        writes::strip_owner_refs(ctx, dependent, &[owner.uid.as_str()]).await?;
    }
    tracing::debug!(owner = %owner.describe(), dependents = dependents.len(), "dependents orphaned");
    writes::remove_finalizer(ctx, owner, ORPHAN_FINALIZER).await?;
    Ok(Action::Done)
}

/// Foreground: dependents are deleted (through their own look, which finds
/// this owner waiting); the finalizer goes once none blocks.
async fn delete_dependents_first(
    ctx: &Context,
    gc: &Collector,
    owner: &Item,
) -> Result<Action, Error> {
    let dependents = gc.graph().dependents(&owner.uid);
    let blocking = dependents.iter().filter(|d| blocks(d, &owner.uid)).count();
    if blocking == 0 {
        // None as far as the informers know; the API server must agree (a
        // dependent not delivered yet arrives with an event that brings
        // this owner back).
        let listed = writes::list_dependents(ctx, owner).await?;
        if listed.iter().any(|d| blocks(d, &owner.uid)) {
            return Ok(Action::RequeueAfter(WAITING_RECHECK));
        }
        writes::remove_finalizer(ctx, owner, FOREGROUND_FINALIZER).await?;
        return Ok(Action::Done);
    }
    for dependent in dependents.iter().filter(|d| !d.being_deleted) {
        gc.queue.add(dependent.uid.clone());
    }
    Ok(Action::RequeueAfter(WAITING_RECHECK))
}

/// Does `dependent` hold up the foreground deletion of `owner_uid`?
fn blocks(dependent: &Item, owner_uid: &str) -> bool {
    dependent
        .owners
        .iter()
        .any(|r| r.uid == owner_uid && r.block_owner_deletion == Some(true))
}

/// Deletes `item` when no owner of it is left standing; drops its
/// references to gone or waiting owners when some still stand.
async fn collect_if_orphaned(
    ctx: &Context,
    gc: &Collector,
    item: &Arc<Item>,
) -> Result<Action, Error> {
    let mut solid = 0;
    let mut gone: Vec<&str> = Vec::new();
    let mut waiting = false;
    for owner in &item.owners {
        match owner_state(ctx, gc, item, owner).await? {
            Owner::Solid => solid += 1,
            Owner::Dangling => gone.push(&owner.uid),
            Owner::Waiting => {
                waiting = true;
                gone.push(&owner.uid);
            }
        }
    }
    if gone.is_empty() {
        return Ok(Action::Done);
    }
    if solid > 0 {
        writes::strip_owner_refs(ctx, item, &gone).await?;
        return Ok(Action::Done);
    }
    // An owner waits on this object: if it in turn has blocking
    // dependents (the API server says; the graph may lag), they go first,
    // so that the owner waits for them too.
    let policy = if waiting && has_blocking_dependents(ctx, gc, item).await? {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    tracing::debug!(object = %item.describe(), ?policy, "collecting: its owners are gone");
    writes::delete(ctx, item, policy).await?;
    Ok(Action::Done)
}

async fn has_blocking_dependents(
    ctx: &Context,
    gc: &Collector,
    item: &Item,
) -> Result<bool, Error> {
    let known = gc.graph().dependents(&item.uid);
    if known.iter().any(|d| blocks(d, &item.uid)) {
        return Ok(true);
    }
    let listed = writes::list_dependents(ctx, item).await?;
    Ok(listed.iter().any(|d| blocks(d, &item.uid)))
}

/// The state of one owner: from the graph, else from a GET (the graph may
/// simply not have seen it yet: informers of different kinds lag apart).
async fn owner_state(
    ctx: &Context,
    gc: &Collector,
    item: &Item,
    owner: &skiff_api::meta::OwnerReference,
) -> Result<Owner, Error> {
    if let Some(o) = gc.graph().get(&owner.uid) {
        return Ok(state_of(
            o.being_deleted,
            o.has_finalizer(FOREGROUND_FINALIZER),
        ));
    }
    if gc.is_known_absent(&owner.uid) {
        return Ok(Owner::Dangling);
    }
    let Some(kind) = Kind::of_reference(owner) else {
        // A kind skiff does not serve: it cannot be checked, so it stands.
        return Ok(Owner::Solid);
    };
    if kind.0.namespaced && item.namespace.is_none() {
        // A cluster-scoped object cannot be owned by a namespaced one.
        return Ok(Owner::Dangling);
    }
    let api = DynamicApi::namespaced(
        ctx.client.clone(),
        kind.0,
        item.namespace.as_deref().unwrap_or_default(),
    );
    match api.get_opt(&owner.name).await? {
        Some(o) if o.pointer("/metadata/uid").and_then(Value::as_str) == Some(&owner.uid) => {
            let being_deleted = o.pointer("/metadata/deletionTimestamp").is_some();
            let foreground = o
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| f.iter().any(|f| f.as_str() == Some(FOREGROUND_FINALIZER)));
            Ok(state_of(being_deleted, foreground))
        }
        _ => {
            gc.remember_absent(&owner.uid);
            Ok(Owner::Dangling)
        }
    }
}

fn state_of(being_deleted: bool, foreground: bool) -> Owner {
    if being_deleted && foreground {
        Owner::Waiting
    } else {
        Owner::Solid
    }
}
