//! Rollback, as `kubectl rollout undo` does it (client side): find the
//! ReplicaSet of the wanted revision (by default the one before the
//! current), and patch the Deployment's template back to that
//! ReplicaSet's, less the `pod-template-hash` label, with its annotations.
//! The controller then rolls out that template like any other (the
//! ReplicaSet, found again, gets a new revision). Shared by `skiff rollout
//! undo` and the automatic rollback.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use skiff_api::apps::{Deployment, ReplicaSet};
use skiff_client::{Api, Client, ListParams, Patch};

use super::util::{
    AUTO_ROLLBACK, NOT_COPIED, equal_ignore_hash, is_paused, revision, without_hash,
};

/// Why a rollback did not happen; the texts are kubectl's.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error(transparent)]
    Api(#[from] skiff_client::Error),
    #[error("no rollout history found for deployment {0:?}")]
    NoHistory(String),
    #[error("unable to find specified revision {0} in history")]
    RevisionNotFound(i64),
    #[error(
        "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
    )]
    Paused,
    #[error("failed restoring revision {revision}: {source}")]
    Restore {
        revision: i64,
        source: skiff_client::Error,
    },
}

/// The ReplicaSet to go back to: revision `to_revision`, or with 0 the
/// second newest revision, as kubectl picks it.
pub fn revision_to_restore<'a>(
    d: &Deployment,
    rss: &'a [ReplicaSet],
    to_revision: i64,
) -> Result<&'a ReplicaSet, RollbackError> {
    if to_revision > 0 {
        return rss
            .iter()
            .find(|rs| revision(rs) == to_revision)
            .ok_or(RollbackError::RevisionNotFound(to_revision));
    }
    let mut latest: Option<(i64, &ReplicaSet)> = None;
    let mut previous: Option<(i64, &ReplicaSet)> = None;
    for rs in rss {
        let v = revision(rs);
        if latest.is_none_or(|(l, _)| l < v) {
            previous = latest;
            latest = Some((v, rs));
        } else if previous.is_none_or(|(p, _)| p < v) {
            previous = Some((v, rs));
        }
    }
    previous
        .map(|(_, rs)| rs)
        .ok_or_else(|| RollbackError::NoHistory(d.metadata.name_str().to_string()))
}

/// The annotations a rollback leaves on the Deployment: its own
/// bookkeeping ones (and its auto-rollback setting) kept, the rest taken
/// from the ReplicaSet, plus `extra`.
fn rolled_back_annotations(
    d: &Deployment,
    target: &ReplicaSet,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let kept = |k: &str| NOT_COPIED.contains(&k) || k == AUTO_ROLLBACK;
    let mut annotations: BTreeMap<String, String> = d
        .metadata
        .annotations
        .iter()
        .filter(|(k, _)| kept(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &target.metadata.annotations {
        if !kept(k) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    annotations.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    annotations
}

/// A JSON patch putting `target`'s template and annotations on `d`; pinned
/// to `d`'s version when `pinned`.
pub fn rollback_patch(
    d: &Deployment,
    target: &ReplicaSet,
    extra: &BTreeMap<String, String>,
    pinned: bool,
) -> Patch {
    let mut ops = vec![
        json!({"op": "replace", "path": "/spec/template", "value": without_hash(&target.spec.template)}),
        json!({"op": "add", "path": "/metadata/annotations", "value": rolled_back_annotations(d, target, extra)}),
    ];
    if let (true, Some(rv)) = (pinned, &d.metadata.resource_version) {
        ops.push(json!({"op": "replace", "path": "/metadata/resourceVersion", "value": rv}));
    }
    Patch::Json(Value::Array(ops))
}

/// `kubectl rollout undo deployment/NAME [--to-revision=N]`: returns what
/// kubectl prints after the name ("rolled back", or why it was skipped).
pub async fn rollback(
    client: &Client,
    namespace: &str,
    name: &str,
    to_revision: Option<i64>,
) -> Result<String, RollbackError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let d = deployments.get(name).await?;
    if is_paused(&d) {
        return Err(RollbackError::Paused);
    }
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let owned: Vec<ReplicaSet> = replicasets
        .list_all(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .controller_ref()
                .is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref())
        })
        .collect();
    let target = revision_to_restore(&d, &owned, to_revision.unwrap_or(0))?;
    let target_revision = revision(target);
    if equal_ignore_hash(&target.spec.template, &d.spec.template) {
        return Ok(format!(
            "skipped rollback (current template already matches revision {target_revision})"
        ));
    }
    deployments
        .patch(name, &rollback_patch(&d, target, &BTreeMap::new(), false))
        .await
        .map_err(|source| RollbackError::Restore {
            revision: target_revision,
            source,
        })?;
    Ok("rolled back".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::util::{POD_TEMPLATE_HASH, REVISION};

    fn rs(name: &str, rev: Option<&str>, image: &str) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some(name.into());
        if let Some(r) = rev {
            rs.metadata.annotations.insert(REVISION.into(), r.into());
        }
        rs.metadata.annotations.insert("team".into(), image.into());
        rs.spec
            .template
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH.into(), format!("h-{name}"));
        rs.spec
            .template
            .metadata
            .annotations
            .insert("image".into(), image.into());
        rs
    }

    fn named(rs: Result<&ReplicaSet, RollbackError>) -> String {
        rs.map(|r| r.metadata.name_str().to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn picks_the_previous_or_the_asked_revision() {
        let mut d = Deployment::default();
        d.metadata.name = Some("web".into());
        let rss = vec![
            rs("a", Some("1"), "v1"),
            rs("c", Some("3"), "v3"),
            rs("b", Some("2"), "v2"),
        ];
        assert_eq!(named(revision_to_restore(&d, &rss, 0)), "b");
        assert_eq!(named(revision_to_restore(&d, &rss, 1)), "a");
        assert_eq!(
            named(revision_to_restore(&d, &rss, 9)),
            "unable to find specified revision 9 in history"
        );
        assert_eq!(
            named(revision_to_restore(&d, &rss[..1], 0)),
            "no rollout history found for deployment \"web\""
        );
        // Descending order works too.
        let rss = vec![
            rs("c", Some("3"), "v3"),
            rs("b", Some("2"), "v2"),
            rs("a", Some("1"), "v1"),
        ];
        assert_eq!(named(revision_to_restore(&d, &rss, 0)), "b");
    }

    #[test]
    fn the_patch_restores_template_and_annotations() {
        let mut d = Deployment::default();
        d.metadata.resource_version = Some("17".into());
        d.metadata.annotations.insert(REVISION.into(), "3".into());
        d.metadata
            .annotations
            .insert(AUTO_ROLLBACK.into(), "true".into());
        d.metadata.annotations.insert("team".into(), "v3".into());
        let target = rs("a", Some("1"), "v1");
        let extra = BTreeMap::from([("skiff.dev/auto-rollback-from".to_string(), "3".to_string())]);
        let Patch::Json(ops) = rollback_patch(&d, &target, &extra, true) else {
            panic!("json patch expected")
        };
        let template = &ops[0]["value"];
        assert_eq!(template["metadata"]["annotations"]["image"], "v1");
        assert!(
            template["metadata"].get("labels").is_none(),
            "hash label removed: {template}"
        );
        assert_eq!(
            ops[1]["value"],
            json!({REVISION: "3", AUTO_ROLLBACK: "true", "team": "v1", "skiff.dev/auto-rollback-from": "3"})
        );
        assert_eq!(
            ops[2],
            json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "17"})
        );
        let Patch::Json(unpinned) = rollback_patch(&d, &target, &BTreeMap::new(), false) else {
            panic!("json patch expected")
        };
        assert_eq!(unpinned.as_array().map(Vec::len), Some(2));
    }
}
