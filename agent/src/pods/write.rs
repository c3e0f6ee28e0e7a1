//! The agent's writes about pods: status through `pods/{name}/status` (a
//! JSON merge patch of the fields the agent owns, so no resourceVersion and
//! no conflicts) and the final delete of a pod it has stopped.

use serde_json::{Value, json};
use skiff_api::Subresource;
use skiff_api::core::{Pod, PodStatus};
use skiff_client::{Api, DeleteParams, Patch};

use super::record::PodRecord;
use crate::engine::Engine;

/// Status fields the agent owns: absent ones are cleared in the patch.
const OWNED_FIELDS: [&str; 12] = [
    "phase",
    "conditions",
    "message",
    "reason",
    "hostIP",
    "hostIPs",
    "podIP",
    "podIPs",
    "startTime",
    "initContainerStatuses",
    "containerStatuses",
    "qosClass",
];

fn resource_version(rv: Option<&str>) -> Option<u64> {
    rv?.parse().ok()
}

/// A fingerprint of a status, kept instead of the status itself (a pod
/// costs a few bytes of memory, not a second copy of its status).
pub fn fingerprint(status: &PodStatus) -> u64 {
    let bytes = serde_json::to_vec(status).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Writes `status` unless the API server has it already or our own write
/// of it is still on its way back through the watch.
pub async fn status_if_changed(
    engine: &Engine,
    pod: &Pod,
    record: &mut PodRecord,
    status: PodStatus,
) -> anyhow::Result<()> {
    let seen_rv = resource_version(pod.metadata.resource_version.as_deref());
    if pod.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let print = fingerprint(&status);
    if let Some((written, written_rv)) = record.written {
        let someone_else_wrote = match (seen_rv, written_rv) {
            (Some(seen), Some(ours)) => seen > ours,
            _ => true,
        };
        if written == print && !someone_else_wrote {
            return Ok(());
        }
    }
    let body = patch_body(&status)?;
    let api = Api::<Pod>::namespaced(engine.client.clone(), pod.metadata.namespace_str());
    let result = {
        let _permit = engine.writes.acquire().await?;
        // The answer is only read for its resourceVersion: not decoded as a Pod.
        api.dynamic()
            .patch_subresource(
                pod.metadata.name_str(),
                Subresource::Status,
                &Patch::Merge(body),
            )
            .await
    };
    match result {
        Ok(updated) => {
            let rv = updated
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str);
            record.written = Some((print, resource_version(rv)));
            Ok(())
        }
        // Deleted meanwhile: its DELETED event follows.
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "writing the status of pod {}/{}",
            pod.metadata.namespace_str(),
            pod.metadata.name_str()
        ))),
    }
}

/// `{"status": {...}}` with every owned field, `null` for those to clear.
pub fn patch_body(status: &PodStatus) -> anyhow::Result<Value> {
    let mut v = serde_json::to_value(status)?;
    let Value::Object(map) = &mut v else {
        anyhow::bail!("a pod status did not serialize to an object");
    };
    // The scheduler's field.
    map.remove("nominatedNodeName");
    for field in OWNED_FIELDS {
        map.entry(field).or_insert(Value::Null);
    }
    Ok(json!({ "status": v }))
}

/// Removes a pod whose containers are stopped: grace period 0, and only
/// this incarnation (uid precondition). Gone already is fine.
pub async fn delete_pod(engine: &Engine, pod: &Pod) -> anyhow::Result<()> {
    let api = Api::<Pod>::namespaced(engine.client.clone(), pod.metadata.namespace_str());
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        precondition_uid: pod.metadata.uid.clone(),
        ..DeleteParams::default()
    };
    let result = {
        let _permit = engine.writes.acquire().await?;
        api.delete(pod.metadata.name_str(), &params).await
    };
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        // A failed uid precondition (a new pod of that name: ours is gone)
        // is a 409, and so is a write that lost a race: look which.
        Err(e) if e.is_conflict() => match api.get_opt(pod.metadata.name_str()).await? {
            Some(p) if p.metadata.uid == pod.metadata.uid => {
                Err(anyhow::Error::new(e).context(format!(
                    "deleting pod {}/{}",
                    pod.metadata.namespace_str(),
                    pod.metadata.name_str()
                )))
            }
            _ => Ok(()),
        },
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "deleting pod {}/{}",
            pod.metadata.namespace_str(),
            pod.metadata.name_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_clear_what_is_not_reported() {
        let status = PodStatus {
            phase: Some("Running".into()),
            nominated_node_name: Some("n2".into()),
            ..Default::default()
        };
        let body = patch_body(&status).unwrap();
        let s = &body["status"];
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["reason"], Value::Null);
        assert_eq!(s["podIP"], Value::Null);
        assert!(s.get("nominatedNodeName").is_none());
        assert_eq!(s.as_object().unwrap().len(), OWNED_FIELDS.len());
    }

    #[test]
    fn fingerprints_tell_statuses_apart() {
        let a = PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        };
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.phase = Some("Failed".into());
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
