//! Event: something that happened to an object, for people to read
//! (`kubectl describe`, `kubectl get events`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::reference::ObjectReference;
use crate::meta::{MicroTime, ObjectMeta, Time};
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{FieldError, child, nonnegative_opt};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub involved_object: ObjectReference,
    /// Short CamelCase: `Scheduled`, `Pulled`, `BackOff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EventSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<MicroTime>,
    /// Kept as written (`count`, `lastObservedTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Object for Event {
    const RESOURCE: &'static ResourceType = &super::EVENTS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// An event lives in its object's namespace; count is never negative;
    /// type is `Normal` or `Warning`.
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let event_ns = self.metadata.namespace.as_deref().unwrap_or_default();
        let object_ns = self
            .involved_object
            .namespace
            .as_deref()
            .unwrap_or_default();
        if !object_ns.is_empty() && !event_ns.is_empty() && object_ns != event_ns {
            errs.push(FieldError::invalid(
                child("involvedObject", "namespace"),
                object_ns,
                "does not match event.namespace",
            ));
        }
        errs.extend(nonnegative_opt("count", self.count));
        if let Some(t) = self.type_.as_deref().filter(|t| !t.is_empty())
            && !["Normal", "Warning"].contains(&t)
        {
            errs.push(FieldError::not_supported("type", t, &["Normal", "Warning"]));
        }
        errs
    }
}
