//! `Status`: the object every error (and a few successes) travels as, exactly
//! as the real API server words it (kubectl builds its messages from these fields).

use serde::{Deserialize, Serialize};

use crate::resource::ResourceType;

/// The metav1 `Status` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default = "status_kind")]
    pub kind: String,
    #[serde(default = "v1")]
    pub api_version: String,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `Success` or `Failure`.
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    #[serde(default)]
    pub code: u16,
}

fn status_kind() -> String {
    "Status".into()
}
fn v1() -> String {
    "v1".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i64>,
}

/// One reason a request was invalid, with the field it concerns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl StatusCause {
    /// `field: message`, or the bare message when no field is named.
    pub fn summary(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Status {}

impl Status {
    fn failure(code: u16, reason: &str, message: String) -> Status {
        Status {
            kind: status_kind(),
            api_version: v1(),
            metadata: Default::default(),
            status: "Failure".into(),
            message,
            reason: reason.into(),
            details: None,
            code,
        }
    }

    fn with_details(mut self, rt: &ResourceType, name: &str) -> Status {
        self.details = Some(StatusDetails {
            name: name.into(),
            group: rt.group.into(),
            kind: rt.plural.into(),
            ..Default::default()
        });
        self
    }

    /// `Success`, as the real server answers an immediate DELETE.
    pub fn success(rt: &ResourceType, name: &str, uid: &str) -> Status {
        let mut s = Status::failure(200, "", String::new()).with_details(rt, name);
        s.status = "Success".into();
        if let Some(d) = s.details.as_mut() {
            d.uid = uid.into();
        }
        s
    }

    /// 404 `pods "x" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> Status {
        Status::failure(
            404,
            "NotFound",
            format!("{} \"{}\" not found", rt.qualified_plural(), name),
        )
        .with_details(rt, name)
    }

    /// 404 for a namespace that does not exist.
    pub fn namespace_not_found(namespace: &str) -> Status {
        Status::not_found(&crate::core::NAMESPACES, namespace)
    }

    /// 404 for a path that names nothing skiff serves.
    pub fn path_not_found() -> Status {
        Status::failure(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        )
    }

    /// 409 `deployments.apps "x" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Status {
        Status::failure(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", rt.qualified_plural(), name),
        )
        .with_details(rt, name)
    }

    /// 409 on a stale `resourceVersion`.
    pub fn conflict(rt: &ResourceType, name: &str) -> Status {
        Status::failure(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                rt.qualified_plural(),
                name
            ),
        )
        .with_details(rt, name)
    }

    /// 409 with a message of the caller's (e.g. a namespace being terminated).
    pub fn conflict_message(rt: &ResourceType, name: &str, message: String) -> Status {
        Status::failure(409, "Conflict", message).with_details(rt, name)
    }

    /// 422 `Deployment.apps "bad" is invalid: spec.replicas: Invalid value: -1: ...`.
    /// `details.kind` is the Kind here (that is what kubectl prints).
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<StatusCause>) -> Status {
        let qualified_kind = if rt.group.is_empty() {
            rt.kind.to_string()
        } else {
            format!("{}.{}", rt.kind, rt.group)
        };
        let summary = causes.iter().map(StatusCause::summary).collect::<Vec<_>>();
        let message = match summary.len() {
            0 => format!("{qualified_kind} \"{name}\" is invalid"),
            1 => format!("{qualified_kind} \"{name}\" is invalid: {}", summary[0]),
            _ => format!(
                "{qualified_kind} \"{name}\" is invalid: [{}]",
                summary.join(", ")
            ),
        };
        let mut s = Status::failure(422, "Invalid", message);
        s.details = Some(StatusDetails {
            name: name.into(),
            group: rt.group.into(),
            kind: rt.kind.into(),
            causes,
            ..Default::default()
        });
        s
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Status {
        Status::failure(400, "BadRequest", message.into())
    }

    /// 410 Gone (`Expired`), as a watch from a compacted revision gets.
    pub fn gone(message: impl Into<String>) -> Status {
        Status::failure(410, "Expired", message.into())
    }

    pub fn unauthorized(message: impl Into<String>) -> Status {
        Status::failure(401, "Unauthorized", message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Status {
        Status::failure(403, "Forbidden", message.into())
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Status {
        Status::failure(405, "MethodNotAllowed", message.into())
    }

    pub fn not_acceptable(message: impl Into<String>) -> Status {
        Status::failure(406, "NotAcceptable", message.into())
    }

    pub fn request_entity_too_large(message: impl Into<String>) -> Status {
        Status::failure(413, "RequestEntityTooLarge", message.into())
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Status {
        Status::failure(415, "UnsupportedMediaType", message.into())
    }

    pub fn too_many_requests(message: impl Into<String>) -> Status {
        Status::failure(429, "TooManyRequests", message.into())
    }

    pub fn internal(message: impl Into<String>) -> Status {
        Status::failure(500, "InternalError", message.into())
    }

    pub fn service_unavailable(message: impl Into<String>) -> Status {
        Status::failure(503, "ServiceUnavailable", message.into())
    }

    pub fn timeout(message: impl Into<String>) -> Status {
        Status::failure(504, "Timeout", message.into())
    }

    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    pub fn is_conflict(&self) -> bool {
        self.code == 409 && self.reason == "Conflict"
    }

    pub fn is_already_exists(&self) -> bool {
        self.code == 409 && self.reason == "AlreadyExists"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::DEPLOYMENTS;

    #[test]
    fn not_found_reads_like_kubernetes() {
        let s = serde_json::to_value(Status::not_found(&DEPLOYMENTS, "nginx-deployment")).unwrap();
        assert_eq!(
            s,
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"deployments.apps \"nginx-deployment\" not found","reason":"NotFound",
            "details":{"name":"nginx-deployment","group":"apps","kind":"deployments"},"code":404})
        );
    }

    #[test]
    fn invalid_names_the_kind_and_the_fields() {
        let s = Status::invalid(
            &DEPLOYMENTS,
            "bad",
            vec![StatusCause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: -1: must be greater than or equal to 0".into(),
                field: "spec.replicas".into(),
            }],
        );
        assert_eq!(
            s.message,
            "Deployment.apps \"bad\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(s.details.unwrap().kind, "Deployment");
        assert_eq!(s.code, 422);
    }
}
