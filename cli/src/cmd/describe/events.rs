//! The `Events:` table at the end of every description.

use serde_json::Value;
use skiff_api::ResourceType;
use skiff_client::{ListParams, Request};

use super::writer::{Describer, int, text};
use crate::age;
use crate::context::Ctx;

/// Events about `obj`: asked for with kubectl's field selector, and
/// filtered here too (a server that ignores the selector still gives the
/// right answer; one that rejects it gets a plain list).
async fn events_for(ctx: &Ctx, rt: &ResourceType, obj: &Value) -> Vec<Value> {
    let name = text(obj, "/metadata/name");
    let ns = text(obj, "/metadata/namespace");
    let uid = text(obj, "/metadata/uid");
    let path = if rt.namespaced && !ns.is_empty() {
        format!("/api/v1/namespaces/{ns}/events")
    } else {
        "/api/v1/events".to_string()
    };
    let mut selector = format!("involvedObject.name={name}");
    if rt.namespaced {
        selector.push_str(&format!(
            ",involvedObject.namespace={ns},involvedObject.uid={uid}"
        ));
    } else {
        selector.push_str(&format!(",involvedObject.kind={}", rt.kind));
    }
    let lp = ListParams::default().fields(&selector).limit(500);
    let list = match ctx
        .client
        .json(Request::get(path.clone()).queries(lp.list_query()))
        .await
    {
        Ok(l) => l,
        Err(_) => match ctx.client.json(Request::get(path)).await {
            Ok(l) => l,
            Err(_) => return Vec::new(),
        },
    };
    let mut items: Vec<Value> = list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            text(e, "/involvedObject/name") == name
                && (!rt.namespaced || text(e, "/involvedObject/namespace") == ns)
                && (uid.is_empty()
                    || !rt.namespaced
                    || text(e, "/involvedObject/uid").is_empty()
                    || text(e, "/involvedObject/uid") == uid)
                && (text(e, "/involvedObject/kind").is_empty()
                    || text(e, "/involvedObject/kind") == rt.kind)
        })
        .cloned()
        .collect();
    items.sort_by_key(|e| age::parse_time(last_seen(e)));
    items
}

fn last_seen(e: &Value) -> Option<&Value> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/series/lastObservedTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| {
        e.pointer(p)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    })
}

fn first_seen(e: &Value) -> Option<&Value> {
    [
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| {
        e.pointer(p)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    })
}

/// kubectl's Age column: `10s`, or `2m (x3 over 5m)` for repeated events.
fn interval(e: &Value) -> String {
    let first = age::age_of(first_seen(e));
    let series = int(e, "/series/count");
    if series > 0 {
        return format!(
            "{} (x{series} over {first})",
            age::age_of(e.pointer("/series/lastObservedTime"))
        );
    }
    let count = int(e, "/count");
    if count > 1 {
        return format!("{} (x{count} over {first})", age::age_of(last_seen(e)));
    }
    first
}

pub async fn describe(ctx: &Ctx, rt: &ResourceType, obj: &Value, d: &mut Describer) {
    let events = events_for(ctx, rt, obj).await;
    if events.is_empty() {
        d.field(0, "Events", "<none>");
        return;
    }
    d.line(0, "Events:");
    d.line(1, "Type\tReason\tAge\tFrom\tMessage");
    d.line(1, "----\t------\t----\t----\t-------");
    for e in &events {
        let mut from = text(e, "/source/component");
        if from.is_empty() {
            from = text(e, "/reportingController");
        }
        d.line(
            1,
            &format!(
                "{}\t{}\t{}\t{}\t{}",
                text(e, "/type"),
                text(e, "/reason"),
                interval(e),
                from,
                text(e, "/message").trim()
            ),
        );
    }
}
