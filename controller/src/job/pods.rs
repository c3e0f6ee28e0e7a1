//! The pods a Job makes from its template, and the writes on them.

use serde_json::json;
use skiff_api::batch::{
    CONTROLLER_UID_LABEL, JOB_NAME_LABEL, Job, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
};
use skiff_api::core::Pod;
use skiff_api::meta::{ObjectMeta, OwnerReference};
use skiff_client::{Api, DeleteParams, Error, Patch};

use super::tracking::TRACKING_FINALIZER;
use crate::context::Context;

/// A new pod for `job`: its template, the job labels (the API server also
/// puts them in the template; a Job stored without them still gets them),
/// the Job as controller, and the tracking finalizer.
pub fn pod_for(job: &Job) -> Pod {
    let template = &job.spec.template;
    let name = job.metadata.name_str();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let mut labels = template.metadata.labels.clone();
    for key in [JOB_NAME_LABEL, LEGACY_JOB_NAME_LABEL] {
        labels.entry(key.into()).or_insert_with(|| name.to_string());
    }
    for key in [CONTROLLER_UID_LABEL, LEGACY_CONTROLLER_UID_LABEL] {
        labels.entry(key.into()).or_insert_with(|| uid.clone());
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: job.metadata.namespace.clone(),
            labels,
            annotations: template.metadata.annotations.clone(),
            owner_references: vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name: name.to_string(),
                uid,
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            finalizers: vec![TRACKING_FINALIZER.into()],
            ..Default::default()
        },
        spec: Some(template.spec.clone()),
        ..Default::default()
    }
}

fn api(ctx: &Context, pod: &Pod) -> Api<Pod> {
    Api::namespaced(ctx.client.clone(), pod.metadata.namespace_str())
}

/// Deletes `pod` (that very one); already gone is fine.
pub async fn delete(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    let params = DeleteParams {
        precondition_uid: pod.metadata.uid.clone(),
        ..DeleteParams::background()
    };
    match api(ctx, pod).delete(pod.metadata.name_str(), &params).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Takes the tracking finalizer off `pod` (written against its
/// `resourceVersion`; on a conflict, against a fresh read).
pub async fn release(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    let api = api(ctx, pod);
    let name = pod.metadata.name_str();
    let mut current = pod.clone();
    let mut last_conflict = None;
    for _ in 0..5 {
        if current.metadata.uid != pod.metadata.uid
            || !current
                .metadata
                .finalizers
                .iter()
                .any(|f| f == TRACKING_FINALIZER)
        {
            return Ok(());
        }
        let kept: Vec<&String> = current
            .metadata
            .finalizers
            .iter()
            .filter(|f| *f != TRACKING_FINALIZER)
            .collect();
        let patch = Patch::Merge(json!({"metadata": {
            "resourceVersion": current.metadata.resource_version,
            "finalizers": if kept.is_empty() { json!(null) } else { json!(kept) },
        }}));
        match api.patch(name, &patch).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) if e.is_conflict() => {
                last_conflict = Some(e);
                match api.get_opt(name).await? {
                    Some(fresh) => current = fresh,
                    None => return Ok(()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_conflict.expect("only conflicts repeat the loop"))
}
