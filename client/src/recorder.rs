//! Recording core/v1 Events about objects (what `describe` shows under
//! `Events:`), as controllers, the scheduler and node agents do. Repeats of
//! the same event on the same object bump `count` and `lastTimestamp`
//! instead of creating a new Event. Recording is best effort: a failure is
//! logged, never returned, so it cannot stall a reconcile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::json;
use skiff_api::Object;
use skiff_api::core::{Event, EventSource, ObjectReference};
use skiff_api::meta::{ObjectMeta, Time};

use crate::{Api, Client, Patch};

/// `Normal` or `Warning`, as `describe` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Identifies "the same event again" for de-duplication.
#[derive(Hash, PartialEq, Eq, Clone)]
struct Fingerprint {
    uid: String,
    event_type: EventType,
    reason: String,
    message: String,
}

#[derive(Clone)]
struct Recorded {
    namespace: String,
    name: String,
    count: i32,
}

/// Records Events as `component` (and `host` for node agents).
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    component: String,
    host: Option<String>,
    seen: Arc<Mutex<HashMap<Fingerprint, Recorded>>>,
}

/// Past this many remembered events the oldest memory is dropped (a repeat
/// then starts a new Event, which is harmless).
const MAX_REMEMBERED: usize = 4096;

impl EventRecorder {
    pub fn new(client: Client, component: &str, host: Option<&str>) -> EventRecorder {
        EventRecorder {
            client,
            component: component.into(),
            host: host.map(str::to_string),
            seen: Arc::default(),
        }
    }

    /// Records an event about `object` in the background.
    pub fn publish<T: Object>(
        &self,
        object: &T,
        event_type: EventType,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.publish_for(reference(object, None), event_type, reason, message.into());
    }

    /// Records an event about one part of `object` (`spec.containers{nginx}`).
    pub fn publish_field<T: Object>(
        &self,
        object: &T,
        field_path: &str,
        event_type: EventType,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.publish_for(
            reference(object, Some(field_path)),
            event_type,
            reason,
            message.into(),
        );
    }

    fn publish_for(
        &self,
        involved: ObjectReference,
        event_type: EventType,
        reason: &str,
        message: String,
    ) {
        let recorder = self.clone();
        let reason = reason.to_string();
        tokio::spawn(async move {
            recorder
                .record(involved, event_type, &reason, message)
                .await;
        });
    }

    /// Records an event and waits for the write.
    pub async fn record(
        &self,
        involved: ObjectReference,
        event_type: EventType,
        reason: &str,
        message: String,
    ) {
        let fingerprint = Fingerprint {
            uid: involved.uid.clone().unwrap_or_default(),
            event_type,
            reason: reason.into(),
            message: message.clone(),
        };
        let namespace = involved
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let now = Time(Utc::now());
        let previous = self
            .seen
            .lock()
            .expect("recorder lock")
            .get(&fingerprint)
            .cloned();
        if let Some(prev) = previous {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &prev.namespace);
            let count = prev.count + 1;
            let patch = Patch::Merge(json!({"count": count, "lastTimestamp": now}));
            if api.patch(&prev.name, &patch).await.is_ok() {
                self.remember(fingerprint, Recorded { count, ..prev });
                return;
            }
        }
        let name = format!(
            "{}.{:x}",
            involved.name.clone().unwrap_or_default(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.into()),
            message: Some(message),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            first_timestamp: Some(now),
            last_timestamp: Some(now),
            count: Some(1),
            type_: Some(event_type.as_str().into()),
            reporting_component: Some(self.component.clone()),
            reporting_instance: self.host.clone(),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        match api.create(&event).await {
            Ok(_) => self.remember(
                fingerprint,
                Recorded {
                    namespace,
                    name,
                    count: 1,
                },
            ),
            Err(e) => tracing::debug!(error = %e, reason, "could not record event"),
        }
    }

    fn remember(&self, fingerprint: Fingerprint, recorded: Recorded) {
        let mut seen = self.seen.lock().expect("recorder lock");
        if seen.len() >= MAX_REMEMBERED && !seen.contains_key(&fingerprint) {
            seen.clear();
        }
        seen.insert(fingerprint, recorded);
    }
}

/// An `ObjectReference` to `object` (what `involvedObject` holds).
pub fn reference<T: Object>(object: &T, field_path: Option<&str>) -> ObjectReference {
    let meta = object.metadata();
    ObjectReference {
        kind: Some(T::RESOURCE.kind.into()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        api_version: Some(T::RESOURCE.api_version()),
        resource_version: meta.resource_version.clone(),
        field_path: field_path.map(str::to_string),
    }
}
