//! Ownership, as Kubernetes' controller-ref manager does it: a controller
//! adopts the orphans its selector matches (adds itself as the controlling
//! owner reference) and releases what it controls but no longer matches
//! (removes its owner reference). Both are patches pinned to the object's
//! `resourceVersion` and `uid`, so a concurrent change makes them fail
//! (409) rather than overwrite it. The ReplicaSet controller claims pods;
//! the Deployment controller claims ReplicaSets.

use serde_json::{Value, json};
use skiff_api::Object;
use skiff_api::meta::{LabelSelector, OwnerReference};
use skiff_client::{Api, Patch};

/// What to do with each candidate: keep it, adopt it, release it, or leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by the owner and still matching.
    Keep,
    /// An orphan that matches: make it the owner's.
    Adopt,
    /// Controlled by the owner but no longer matching: let it go.
    Release,
    /// Someone else's, not matching, or being deleted.
    Ignore,
}

/// How `owner` (uid `owner_uid`, being deleted or not) should treat `object`.
pub fn decide<T: Object>(
    object: &T,
    owner_uid: &str,
    owner_deleting: bool,
    selector: &LabelSelector,
) -> Claim {
    let meta = object.metadata();
    let matches = selector.matches(&meta.labels);
    match meta.controller_ref() {
        Some(r) if r.uid == owner_uid => {
            if matches {
                Claim::Keep
            } else if owner_deleting || meta.deletion_timestamp.is_some() {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if matches && !owner_deleting && meta.deletion_timestamp.is_none() => Claim::Adopt,
        None => Claim::Ignore,
    }
}

/// The patch body that sets `owner_references` on `object`, pinned to its
/// current version.
fn owner_refs_patch<T: Object>(object: &T, refs: &[OwnerReference]) -> Patch {
    let meta = object.metadata();
    let refs = if refs.is_empty() {
        Value::Null
    } else {
        json!(refs)
    };
    Patch::Merge(json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": meta.resource_version,
        "uid": meta.uid,
    }}))
}

/// Makes `owner` the controller of `object`.
pub async fn adopt<T: Object>(
    api: &Api<T>,
    object: &T,
    owner: OwnerReference,
) -> skiff_client::Result<T> {
    let mut refs = object.metadata().owner_references.clone();
    refs.retain(|r| r.uid != owner.uid);
    refs.push(owner);
    api.patch(
        object.metadata().name_str(),
        &owner_refs_patch(object, &refs),
    )
    .await
}

/// Removes the owner reference to `owner_uid` from `object`.
pub async fn release<T: Object>(
    api: &Api<T>,
    object: &T,
    owner_uid: &str,
) -> skiff_client::Result<T> {
    let mut refs = object.metadata().owner_references.clone();
    refs.retain(|r| r.uid != owner_uid);
    api.patch(
        object.metadata().name_str(),
        &owner_refs_patch(object, &refs),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::Pod;
    use skiff_api::meta::{ObjectMeta, Time};

    fn pod(labels: &[(&str, &str)], controller: Option<&str>, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                owner_references: controller
                    .map(|uid| OwnerReference {
                        uid: uid.into(),
                        controller: Some(true),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                deletion_timestamp: deleting.then(Time::now),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn claims_follow_the_controller_ref_manager() {
        let mut sel = LabelSelector::default();
        sel.match_labels.insert("app".into(), "web".into());
        let web = [("app", "web")];
        let db = [("app", "db")];
        assert_eq!(
            decide(&pod(&web, Some("me"), false), "me", false, &sel),
            Claim::Keep
        );
        assert_eq!(
            decide(&pod(&db, Some("me"), false), "me", false, &sel),
            Claim::Release
        );
        // Nothing is released by an owner being deleted, or when the pod is going anyway.
        assert_eq!(
            decide(&pod(&db, Some("me"), false), "me", true, &sel),
            Claim::Ignore
        );
        assert_eq!(
            decide(&pod(&db, Some("me"), true), "me", false, &sel),
            Claim::Ignore
        );
        assert_eq!(
            decide(&pod(&web, None, false), "me", false, &sel),
            Claim::Adopt
        );
        assert_eq!(
            decide(&pod(&web, None, false), "me", true, &sel),
            Claim::Ignore
        );
        assert_eq!(
            decide(&pod(&web, None, true), "me", false, &sel),
            Claim::Ignore
        );
        assert_eq!(
            decide(&pod(&db, None, false), "me", false, &sel),
            Claim::Ignore
        );
        assert_eq!(
            decide(&pod(&web, Some("other"), false), "me", false, &sel),
            Claim::Ignore
        );
    }

    #[test]
    fn patches_pin_the_version_and_clear_empty_refs() {
        let mut p = pod(&[], Some("me"), false);
        p.metadata.resource_version = Some("42".into());
        p.metadata.uid = Some("pod-uid".into());
        let Patch::Merge(body) = owner_refs_patch(&p, &[]) else {
            panic!("merge patch expected")
        };
        assert_eq!(
            body,
            json!({"metadata": {"ownerReferences": null, "resourceVersion": "42", "uid": "pod-uid"}})
        );
    }
}
