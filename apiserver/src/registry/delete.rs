//! DELETE: preconditions, finalizers (the object stays, marked with
//! `deletionTimestamp`, until its finalizers are removed), propagation
//! policy, graceful pod deletion and namespaces (which empty themselves in
//! the background first).

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use skiff_api::core::{NAMESPACES, PODS};
use skiff_api::{ResourceType, Status};

use super::{CONFLICT_RETRIES, Registry, Stored};
use crate::errors::store_error;
use crate::kinds;
use crate::query::Query;
use crate::value;

/// `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// The DeleteOptions body and query parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteOptionsBody {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    orphan_dependents: Option<bool>,
    preconditions: Option<Preconditions>,
    #[serde(default)]
    dry_run: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

impl DeleteOptions {
    /// From a (possibly empty) JSON body and the query; the body wins.
    pub fn parse(body: &[u8], q: &Query) -> Result<DeleteOptions, Status> {
        let parsed: DeleteOptionsBody = if body.iter().all(u8::is_ascii_whitespace) {
            DeleteOptionsBody::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| Status::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        let policy = parsed
            .propagation_policy
            .or_else(|| q.get("propagationPolicy").map(str::to_string));
        let propagation = match policy.as_deref() {
            None | Some("") => match parsed
                .orphan_dependents
                .or(q.flag("orphanDependents").ok().filter(|b| *b))
            {
                Some(true) => Propagation::Orphan,
                _ => Propagation::Background,
            },
            Some("Background") => Propagation::Background,
            Some("Foreground") => Propagation::Foreground,
            Some("Orphan") => Propagation::Orphan,
            Some(other) => {
                return Err(Status::bad_request(format!(
                    "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                )));
            }
        };
        let grace_period_seconds = match parsed.grace_period_seconds {
            Some(g) => Some(g),
            None => q.int("gracePeriodSeconds")?,
        };
        let pre = parsed.preconditions.unwrap_or_default();
        for v in &parsed.dry_run {
            if v != "All" {
                return Err(Status::bad_request(format!(
                    "Invalid dryRun value {v:?}: supported values are \"All\""
                )));
            }
        }
        Ok(DeleteOptions {
            grace_period_seconds,
            propagation,
            precondition_uid: pre.uid.filter(|s| !s.is_empty()),
            precondition_resource_version: pre.resource_version.filter(|s| !s.is_empty()),
            dry_run: !parsed.dry_run.is_empty() || q.dry_run()?,
        })
    }
}

/// What a DELETE did.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// Gone; the last state, `resourceVersion` = the deletion revision.
    Deleted(Value),
    /// Still there, marked for deletion (finalizers, grace period, namespace
    /// contents).
    Pending(Value),
}

/// Namespaces kube-apiserver refuses to delete.
const PROTECTED_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

impl Registry {
    pub async fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, Status> {
        let namespace = super::scope(rt, namespace);
        if kinds::is(rt, &NAMESPACES) && PROTECTED_NAMESPACES.contains(&name) {
            let mut s = Status::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            ));
            s.details = Some(skiff_api::status::StatusDetails {
                name: name.into(),
                kind: "namespaces".into(),
                ..Default::default()
            });
            return Err(s);
        }
        let mut attempt = 0;
        loop {
            let current = self.get(rt, namespace, name).await?;
            check_preconditions(rt, name, &current, opts)?;
            match self.delete_once(rt, namespace, name, &current, opts).await {
                Err(s) if s.is_conflict() && attempt < CONFLICT_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }

    async fn delete_once(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        current: &Stored,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, Status> {
        let key = rt.storage_key(namespace, name);
        let object = &current.object;

        if kinds::is(rt, &NAMESPACES) {
            if value::is_being_deleted(object) {
                return Ok(DeleteOutcome::Pending(object.clone()));
            }
            let mut next = object.clone();
            mark_deleted(&mut next, 0);
            value::object_mut(
                value::object_mut(&mut next)
                    .entry("status")
                    .or_insert_with(|| json!({})),
            )
            .insert("phase".into(), json!("Terminating"));
            if opts.dry_run {
                return Ok(DeleteOutcome::Pending(next));
            }
            let next = self.write(rt, &key, name, next, current.revision).await?;
            crate::namespaces::spawn_finalizer(self, name);
            return Ok(DeleteOutcome::Pending(next));
        }

        let mut finalizers = value::finalizers_of(object);
        if self.garbage_collector && !value::is_being_deleted(object) {
            let extra = match opts.propagation {
                Propagation::Orphan => Some("orphan"),
                Propagation::Foreground => Some("foregroundDeletion"),
                Propagation::Background => None,
            };
            if let Some(f) = extra
                && !finalizers.iter().any(|x| x == f)
            {
                finalizers.push(f.to_string());
            }
        }

        if kinds::is(rt, &PODS)
            && let Some(grace) = pod_grace_period(object, opts)
        {
            let existing = object
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if value::is_being_deleted(object) && existing.is_some_and(|e| e <= grace) {
                return Ok(DeleteOutcome::Pending(object.clone()));
            }
            let mut next = object.clone();
            mark_deleted(&mut next, grace);
            value::set_meta(&mut next, "finalizers", json!(finalizers));
            if finalizers.is_empty() {
                value::remove_meta(&mut next, "finalizers");
            }
            if opts.dry_run {
                return Ok(DeleteOutcome::Pending(next));
            }
            let next = self.write(rt, &key, name, next, current.revision).await?;
            return Ok(DeleteOutcome::Pending(next));
        }

        if !finalizers.is_empty() {
            let already = value::is_being_deleted(object)
                && finalizers == value::finalizers_of(object)
                && object
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    == Some(0);
            if already {
                return Ok(DeleteOutcome::Pending(object.clone()));
            }
            let mut next = object.clone();
            if !value::is_being_deleted(object) {
                mark_deleted(&mut next, 0);
            } else {
                value::set_meta(&mut next, "deletionGracePeriodSeconds", json!(0));
            }
            value::set_meta(&mut next, "finalizers", json!(finalizers));
            if opts.dry_run {
                return Ok(DeleteOutcome::Pending(next));
            }
            let next = self.write(rt, &key, name, next, current.revision).await?;
            return Ok(DeleteOutcome::Pending(next));
        }

        if opts.dry_run {
            return Ok(DeleteOutcome::Deleted(object.clone()));
        }
        let (revision, last) = self
            .store
            .delete(&key, Some(current.revision))
            .await
            .map_err(|e| store_error(e, rt, name))?;
        let last = super::decode_at(&last.value, revision, &key)?;
        Ok(DeleteOutcome::Deleted(last))
    }
}

/// Sets `deletionTimestamp` (now + grace) and `deletionGracePeriodSeconds`,
/// and bumps `generation` as kube-apiserver does.
fn mark_deleted(object: &mut Value, grace: i64) {
    let at = Utc::now() + chrono::Duration::seconds(grace);
    value::set_meta(object, "deletionTimestamp", json!(value::rfc3339(at)));
    value::set_meta(object, "deletionGracePeriodSeconds", json!(grace));
    let generation = value::generation_of(object);
    if generation > 0 {
        value::set_meta(object, "generation", json!(generation + 1));
    }
}

/// The grace period of a graceful pod deletion, or `None` when the pod goes
/// at once: force (0), never scheduled, or already finished.
fn pod_grace_period(pod: &Value, opts: &DeleteOptions) -> Option<i64> {
    let default = pod
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    let grace = match opts.grace_period_seconds {
        Some(g) if g < 0 => 1,
        Some(g) => g,
        None => default,
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let immediate = grace == 0 || node.is_empty() || phase == "Succeeded" || phase == "Failed";
    (!immediate).then_some(grace)
}

fn check_preconditions(
    rt: &ResourceType,
    name: &str,
    current: &Stored,
    opts: &DeleteOptions,
) -> Result<(), Status> {
    if let Some(uid) = &opts.precondition_uid {
        let have = value::uid_of(&current.object);
        if uid != have {
            return Err(Status::conflict_message(
                rt,
                name,
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_resource_version
        && *rv != current.revision.to_string()
    {
        return Err(Status::conflict_message(
            rt,
            name,
            format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.revision
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_body_and_query() {
        let o = DeleteOptions::parse(
            br#"{"propagationPolicy":"Foreground","gracePeriodSeconds":0}"#,
            &Query::default(),
        )
        .unwrap();
        assert_eq!(o.propagation, Propagation::Foreground);
        assert_eq!(o.grace_period_seconds, Some(0));
        let o = DeleteOptions::parse(
            b"",
            &Query::parse(Some("gracePeriodSeconds=5&propagationPolicy=Orphan")),
        )
        .unwrap();
        assert_eq!(
            (o.grace_period_seconds, o.propagation),
            (Some(5), Propagation::Orphan)
        );
        let o = DeleteOptions::parse(
            br#"{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"u"}}"#,
            &Query::default(),
        )
        .unwrap();
        assert_eq!(o.precondition_uid.as_deref(), Some("u"));
        assert_eq!(
            DeleteOptions::parse(br#"{"propagationPolicy":"Later"}"#, &Query::default())
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            DeleteOptions::parse(b"{", &Query::default())
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn pod_grace_rules() {
        let bound = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10}, "status": {"phase": "Running"}});
        let opts = |g| DeleteOptions {
            grace_period_seconds: g,
            ..Default::default()
        };
        assert_eq!(pod_grace_period(&bound, &opts(None)), Some(10));
        assert_eq!(pod_grace_period(&bound, &opts(Some(3))), Some(3));
        assert_eq!(pod_grace_period(&bound, &opts(Some(0))), None);
        assert_eq!(pod_grace_period(&bound, &opts(Some(-5))), Some(1));
        let unbound = json!({"spec": {}});
        assert_eq!(pod_grace_period(&unbound, &opts(None)), None);
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(pod_grace_period(&done, &opts(None)), None);
    }
}
