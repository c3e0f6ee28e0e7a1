//! Deployments: replicas, strategy, the pod template, conditions and the
//! ReplicaSets the deployment owns (old and new).

use serde_json::Value;
use skiff_client::{DynamicApi, ListParams};

use super::writer::{Describer, array, int, pairs, selector_text, text, text_or};
use super::{containers, header};
use crate::context::Ctx;

const TEMPLATE_HASH: &str = "pod-template-hash";

/// The label selector as a query (`a=b,c in (d)`), from `spec.selector`.
fn selector_query(obj: &Value) -> String {
    let s = selector_text(obj.pointer("/spec/selector"));
    if s == "<none>" { String::new() } else { s }
}

/// A pod template without the label that tells ReplicaSets apart.
fn template_without_hash(t: Option<&Value>) -> Value {
    let mut t = t.cloned().unwrap_or(Value::Null);
    if let Some(Value::Object(labels)) = t.pointer_mut("/metadata/labels") {
        labels.remove(TEMPLATE_HASH);
    }
    t
}

async fn replica_sets(ctx: &Ctx, obj: &Value) -> (Vec<Value>, Option<Value>) {
    let ns = text(obj, "/metadata/namespace");
    let uid = text(obj, "/metadata/uid");
    let api = DynamicApi::namespaced(ctx.client.clone(), &skiff_api::apps::REPLICASETS, ns);
    let lp = ListParams::default().labels(&selector_query(obj));
    let Ok(list) = api.list_all(&lp).await else {
        return (Vec::new(), None);
    };
    let owned: Vec<Value> = array(&list, "/items")
        .iter()
        .filter(|rs| {
            array(rs, "/metadata/ownerReferences")
                .iter()
                .any(|r| text(r, "/uid") == uid && r.get("controller") == Some(&Value::Bool(true)))
        })
        .cloned()
        .collect();
    let template = template_without_hash(obj.pointer("/spec/template"));
    let mut new = None;
    let mut old = Vec::new();
    for rs in owned {
        if new.is_none() && template_without_hash(rs.pointer("/spec/template")) == template {
            new = Some(rs);
        } else {
            old.push(rs);
        }
    }
    (old, new)
}

fn rs_summary(rs: &Value) -> String {
    format!(
        "{} ({}/{} replicas created)",
        text(rs, "/metadata/name"),
        int(rs, "/status/replicas"),
        int(rs, "/spec/replicas")
    )
}

pub async fn describe(ctx: &Ctx, obj: &Value, d: &mut Describer) {
    header(true, obj, d);
    d.field(0, "Selector", &selector_text(obj.pointer("/spec/selector")));
    d.field(
        0,
        "Replicas",
        &format!(
            "{} desired | {} updated | {} total | {} available | {} unavailable",
            obj.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            int(obj, "/status/updatedReplicas"),
            int(obj, "/status/replicas"),
            int(obj, "/status/availableReplicas"),
            int(obj, "/status/unavailableReplicas")
        ),
    );
    let strategy = text_or(obj, "/spec/strategy/type", "RollingUpdate");
    d.field(0, "StrategyType", &strategy);
    d.field(
        0,
        "MinReadySeconds",
        &int(obj, "/spec/minReadySeconds").to_string(),
    );
    if strategy == "RollingUpdate" {
        d.field(
            0,
            "RollingUpdateStrategy",
            &format!(
                "{} max unavailable, {} max surge",
                text_or(obj, "/spec/strategy/rollingUpdate/maxUnavailable", "25%"),
                text_or(obj, "/spec/strategy/rollingUpdate/maxSurge", "25%")
            ),
        );
    }
    d.line(0, "Pod Template:");
    let template = obj
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    d.labels(1, "Labels", template.pointer("/metadata/labels"));
    if !pairs(template.pointer("/metadata/annotations"), "=").is_empty() {
        d.annotations(1, "Annotations", template.pointer("/metadata/annotations"));
    }
    if !text(&template, "/spec/serviceAccountName").is_empty() {
        d.field(
            1,
            "Service Account",
            text(&template, "/spec/serviceAccountName"),
        );
    }
    let init = array(&template, "/spec/initContainers");
    if !init.is_empty() {
        containers::describe(d, "Init Containers", init, &[], true);
    }
    containers::describe(
        d,
        "Containers",
        array(&template, "/spec/containers"),
        &[],
        true,
    );
    containers::volumes(d, 1, array(&template, "/spec/volumes"));
    let conditions = array(obj, "/status/conditions");
    if !conditions.is_empty() {
        d.line(0, "Conditions:");
        d.line(1, "Type\tStatus\tReason");
        d.line(1, "----\t------\t------");
        for c in conditions {
            d.line(
                1,
                &format!(
                    "{}\t{}\t{}",
                    text(c, "/type"),
                    text(c, "/status"),
                    text(c, "/reason")
                ),
            );
        }
    }
    let (old, new) = replica_sets(ctx, obj).await;
    let old_text = if old.is_empty() {
        "<none>".to_string()
    } else {
        old.iter().map(rs_summary).collect::<Vec<_>>().join(", ")
    };
    d.field(0, "OldReplicaSets", &old_text);
    d.field(
        0,
        "NewReplicaSet",
        &new.as_ref()
            .map(rs_summary)
            .unwrap_or_else(|| "<none>".into()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_template_hash_does_not_count() {
        let a =
            json!({"metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}}, "spec": {}});
        let b = json!({"metadata": {"labels": {"app": "x"}}, "spec": {}});
        assert_eq!(
            template_without_hash(Some(&a)),
            template_without_hash(Some(&b))
        );
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "x"}}}});
        assert_eq!(selector_query(&d), "app=x");
    }
}
