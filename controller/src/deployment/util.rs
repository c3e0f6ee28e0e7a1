//! Pure helpers of the Deployment controller: annotations, revisions,
//! surge/unavailability arithmetic, replica counts over ReplicaSets, and
//! template matching. Nothing here talks to the API server.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use skiff_api::apps::{
    DEFAULT_MAX_SURGE, DEFAULT_MAX_UNAVAILABLE, Deployment, DeploymentStatus, ReplicaSet,
};
use skiff_api::core::PodTemplateSpec;
use skiff_api::intstr::IntOrString;

/// The revision of a ReplicaSet (and of the Deployment: that of its new ReplicaSet).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions of a ReplicaSet that was rolled back to.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas + maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Added to the template, the selector and the pods of each ReplicaSet.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";

/// Opt-in: roll back by itself when the progress deadline passes.
pub const AUTO_ROLLBACK: &str = "skiff.dev/auto-rollback";
/// On the Deployment: the revision an automatic rollback left (never again from it).
pub const AUTO_ROLLBACK_FROM: &str = "skiff.dev/auto-rollback-from";
/// On a ReplicaSet: it was once fully rolled out (a target for automatic rollback).
pub const ROLLOUT_COMPLETE: &str = "skiff.dev/rollout-complete";

/// Annotations of the Deployment that are not copied to its ReplicaSets
/// (and that a rollback keeps from the Deployment rather than taking from
/// the ReplicaSet).
pub const NOT_COPIED: [&str; 8] = [
    LAST_APPLIED,
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    ROLLBACK_TO,
    AUTO_ROLLBACK_FROM,
    ROLLOUT_COMPLETE,
];

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec.strategy.type_.as_deref() != Some("Recreate")
}

pub fn is_paused(d: &Deployment) -> bool {
    d.spec.paused == Some(true)
}

/// Replicas of a ReplicaSet as asked for (`spec.replicas`).
pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(0)
}

fn status_of(rs: &ReplicaSet, f: impl Fn(&skiff_api::apps::ReplicaSetStatus) -> i32) -> i32 {
    rs.status.as_ref().map(f).unwrap_or(0)
}

/// Active pods the ReplicaSet reports.
pub fn actual_replicas(rs: &ReplicaSet) -> i32 {
    status_of(rs, |s| s.replicas)
}

pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    status_of(rs, |s| s.ready_replicas.unwrap_or(0))
}

pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    status_of(rs, |s| s.available_replicas.unwrap_or(0))
}

/// Available pods the ReplicaSet will keep: once it has deleted down to
/// `spec.replicas` (deleting unavailable pods first), at most that many.
/// Using this rather than a status not yet updated after a scale-down
/// keeps a rolling update from deleting below its availability floor.
pub fn kept_available(rs: &ReplicaSet) -> i32 {
    available_replicas(rs).min(spec_replicas(rs))
}

/// Pods the ReplicaSet has or will have: more than `spec.replicas` while
/// a scale-down is still deleting.
pub fn pod_count(rs: &ReplicaSet) -> i32 {
    spec_replicas(rs).max(actual_replicas(rs))
}

pub fn sum<'a>(
    rss: impl IntoIterator<Item = &'a ReplicaSet>,
    f: impl Fn(&ReplicaSet) -> i32,
) -> i32 {
    rss.into_iter().map(f).sum()
}

/// `maxSurge` (rounded up) and `maxUnavailable` (rounded down) of `d` at
/// its replica count; never both zero.
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    let desired = d.spec.replicas();
    let ru = d.spec.strategy.rolling_update.as_ref();
    let surge = ru
        .and_then(|r| r.max_surge.clone())
        .unwrap_or_else(|| IntOrString::from(DEFAULT_MAX_SURGE));
    let unavailable = ru
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or_else(|| IntOrString::from(DEFAULT_MAX_UNAVAILABLE));
    let surge = surge.scaled_value(desired, true).unwrap_or(0).max(0);
    let unavailable = unavailable.scaled_value(desired, false).unwrap_or(0).max(0);
    if surge == 0 && unavailable == 0 {
        // Validation forbids it; a percentage of a small count can still round to it.
        return (0, 1);
    }
    (surge, unavailable)
}

/// Pods above `spec.replicas` a rollout may create (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if is_rolling(d) { fenceposts(d).0 } else { 0 }
}

/// Pods below `spec.replicas` a rollout may leave unavailable (0 for Recreate).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = d.spec.replicas();
    if !is_rolling(d) || replicas == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas)
}

/// A ReplicaSet's revision; 0 without one.
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter().map(revision).max().unwrap_or(0)
}

fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.get(key)?.parse().ok()
}

pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    int_annotation(rs, DESIRED_REPLICAS)
}

pub fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    int_annotation(rs, MAX_REPLICAS)
}

/// Sets the desired/max replicas annotations; true when they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = &mut rs.metadata.annotations;
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if a.get(key) != Some(&value) {
            a.insert(key.into(), value);
            changed = true;
        }
    }
    changed
}

/// Copies the Deployment's annotations (but [`NOT_COPIED`]) to the ReplicaSet.
fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    for (k, v) in &d.metadata.annotations {
        if NOT_COPIED.contains(&k.as_str()) || rs.metadata.annotations.get(k) == Some(v) {
            continue;
        }
        rs.metadata.annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Brings the new ReplicaSet's annotations up to date: the Deployment's
/// own, the revision (raised to `new_revision`, the old one kept in the
/// revision history when a rollback brings a ReplicaSet back), and for a
/// ReplicaSet about to be created (`!exists`) the replica annotations.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let old = rs.metadata.annotations.get(REVISION).cloned();
    let old_revision = match old.as_deref() {
        None => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            // A revision that is not a number is left alone.
            Err(_) => return changed,
        },
    };
    if old_revision < new_revision {
        rs.metadata
            .annotations
            .insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = rs
                .metadata
                .annotations
                .entry(REVISION_HISTORY.into())
                .or_default();
            if history.is_empty() {
                *history = old;
            } else {
                history.push(',');
                history.push_str(&old);
            }
        }
    }
    if !exists {
        let replicas = d.spec.replicas();
        changed |= set_replicas_annotations(rs, replicas, replicas + max_surge(d));
    }
    changed
}

/// The template without the `pod-template-hash` label.
pub fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    t.metadata.labels.remove(POD_TEMPLATE_HASH);
    t
}

/// Equal but for the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    if !a.metadata.labels.contains_key(POD_TEMPLATE_HASH)
        && !b.metadata.labels.contains_key(POD_TEMPLATE_HASH)
    {
        return a == b;
    }
    without_hash(a) == without_hash(b)
}

/// Oldest first; same second: by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    a.metadata
        .creation_timestamp
        .cmp(&b.metadata.creation_timestamp)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Lowest revision first; same revision: oldest first.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// The index of the Deployment's new ReplicaSet in `rss`: the oldest
/// whose template is the Deployment's.
pub fn find_new(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let mut candidates: Vec<usize> = (0..rss.len())
        .filter(|&i| equal_ignore_hash(&rss[i].spec.template, &d.spec.template))
        .collect();
    candidates.sort_by(|&a, &b| by_creation(&rss[a], &rss[b]));
    candidates.first().copied()
}

/// Replicas the new ReplicaSet should have now: for a rolling update, as
/// many more as the surge allows (counting pods still being deleted);
/// for Recreate, all of them.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let replicas = d.spec.replicas();
    if !is_rolling(d) {
        return replicas;
    }
    let current = spec_replicas(new_rs);
    let pods = sum(all.iter().copied(), pod_count);
    let max_total = replicas + max_surge(d);
    if pods >= max_total {
        return current;
    }
    let up = (max_total - pods).min(replicas - current);
    current + up.max(0)
}

/// The new ReplicaSet has every replica asked for, all available, under
/// the current replica count.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let replicas = d.spec.replicas();
    desired_replicas_annotation(rs) == Some(replicas)
        && spec_replicas(rs) == replicas
        && available_replicas(rs) == replicas
}

/// The one ReplicaSet with replicas; with none, the new one or the newest
/// old one; `None` when several have replicas.
pub fn active_or_latest<'a>(
    new_rs: Option<&'a ReplicaSet>,
    old: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut active = old.iter().chain(new_rs).filter(|rs| spec_replicas(rs) > 0);
    match (active.next(), active.next()) {
        (Some(one), None) => Some(one),
        (Some(_), Some(_)) => None,
        (None, _) => new_rs.or_else(|| old.iter().max_by(|a, b| by_creation(a, b))),
    }
}

/// Kubernetes' `math.Round`: halves away from zero.
fn round(x: f64) -> i32 {
    x.round() as i32
}

/// Replicas to add to (or, negative, take from) `rs` when the Deployment's
/// replica count changes by `to_add` in the middle of a rollout, in
/// proportion to its share of the size it was last scaled for.
fn proportion(d: &Deployment, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    let size = spec_replicas(rs);
    if size == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if d.spec.replicas() == 0 {
        -size
    } else {
        let max_now = d.spec.replicas() + max_surge(d);
        let before = max_replicas_annotation(rs)
            .filter(|m| *m != 0)
            .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
        if before == 0 {
            0
        } else {
            round(f64::from(size) * f64::from(max_now) / f64::from(before)) - size
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// New sizes for the ReplicaSets with replicas (`active`) when the
/// Deployment was scaled during a rollout: the change is shared out in
/// proportion to their sizes, what rounding leaves goes to the largest
/// (the first after sorting). Returns the sizes in the order of `active`
/// after it is sorted (larger first; same size: newer first when
/// scaling up, older first when scaling down), and "up", "down" or "".
pub fn proportional_sizes(d: &Deployment, active: &mut [ReplicaSet]) -> (Vec<i32>, &'static str) {
    let replicas = d.spec.replicas();
    let allowed = if replicas > 0 {
        replicas + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - sum(active.iter(), spec_replicas);
    let operation = match to_add.cmp(&0) {
        Ordering::Greater => {
            active.sort_by(|a, b| {
                spec_replicas(b)
                    .cmp(&spec_replicas(a))
                    .then_with(|| by_creation(b, a))
            });
            "up"
        }
        Ordering::Less => {
            active.sort_by(|a, b| {
                spec_replicas(b)
                    .cmp(&spec_replicas(a))
                    .then_with(|| by_creation(a, b))
            });
            "down"
        }
        Ordering::Equal => "",
    };
    let mut added = 0;
    let mut sizes: Vec<i32> = active
        .iter()
        .map(|rs| {
            let p = proportion(d, rs, to_add, added);
            added += p;
            spec_replicas(rs) + p
        })
        .collect();
    if to_add != 0 && !sizes.is_empty() {
        sizes[0] = (sizes[0] + to_add - added).max(0);
    }
    (sizes, operation)
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Every replica updated and available, at the current generation.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = d.spec.replicas();
    count(status.updated_replicas) == replicas
        && count(status.replicas) == replicas
        && count(status.available_replicas) == replicas
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Did anything move since the stored status: more updated, ready or
/// available replicas, or fewer old ones?
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_olds = count(old.replicas) - count(old.updated_replicas);
    let new_olds = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_olds < old_olds
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// Has the rollout made no progress for `progressDeadlineSeconds`?
pub fn deployment_timed_out(d: &Deployment, new: &DeploymentStatus, now: DateTime<Utc>) -> bool {
    let Some(deadline) = d.spec.progress_deadline_seconds.filter(|s| *s != i32::MAX) else {
        return false;
    };
    let Some(cond) = super::conditions::get(new, super::conditions::PROGRESSING) else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(super::conditions::NEW_RS_AVAILABLE) => false,
        Some(super::conditions::TIMED_OUT) => true,
        _ => cond
            .last_update_time
            .is_some_and(|from| from.0 + chrono::Duration::seconds(i64::from(deadline)) < now),
    }
}

#[cfg(test)]
mod tests;
