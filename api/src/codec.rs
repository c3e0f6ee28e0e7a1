//! From request body to stored object: typed decode (noting unknown fields
//! for `fieldValidation`), defaulting, validation, and back to JSON.
//!
//! The API server keeps objects as JSON; each kind's typed struct is the
//! filter that decides what a valid object of that kind is.

use serde_json::Value;

use crate::object::Object;
use crate::status::Status;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Unknown or duplicate fields -> 400 BadRequest.
    Strict,
    /// Unknown fields are dropped and reported as warnings.
    Warn,
    /// Unknown fields are dropped silently.
    #[default]
    Ignore,
}

impl FieldValidation {
    pub fn parse(value: &str) -> Result<FieldValidation, Status> {
        match value {
            "Strict" | "strict" => Ok(FieldValidation::Strict),
            "Warn" | "warn" => Ok(FieldValidation::Warn),
            "Ignore" | "ignore" | "" => Ok(FieldValidation::Ignore),
            other => Err(Status::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got \"{other}\""
            ))),
        }
    }
}

/// A decoded, defaulted, validated object, and the warnings to send back
/// (`Warning:` headers).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// A kind's entry points, reachable from its [`ResourceType`](crate::resource::ResourceType) row.
#[derive(Clone, Copy)]
pub struct Codec {
    /// Decode + default + validate a whole object.
    pub normalize: fn(Value, FieldValidation) -> Result<Normalized, Status>,
    /// Extra checks of an update against the stored object (immutable fields).
    /// Both values are already normalized.
    pub validate_update: fn(&Value, &Value) -> Result<(), Status>,
    /// The kind's JSON schema (for `/openapi/v3`).
    pub schema: fn() -> schemars::Schema,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codec")
    }
}

impl Codec {
    pub const fn of<T: Object>() -> Codec {
        Codec {
            normalize: normalize::<T>,
            validate_update: validate_update::<T>,
            schema: schema::<T>,
        }
    }
}

fn schema<T: Object>() -> schemars::Schema {
    schemars::schema_for!(T)
}

/// Decodes `body` as `T`, collecting the paths of fields `T` does not know.
pub fn decode<T: Object>(mut body: Value) -> Result<(T, Vec<String>), Status> {
    drop_nulls(&mut body);
    let mut unknown = Vec::new();
    let typed: T =
        serde_ignored::deserialize(body, |path| unknown.push(crate::codec_path::render(&path)))
            .map_err(|e| {
                let rt = T::RESOURCE;
                Status::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: {}",
                    rt.kind, rt.version, rt.kind, e
                ))
            })?;
    Ok((typed, unknown))
}

/// Kubernetes reads an explicit `null` member as an absent one (Go clients
/// send `"labels": null`, `"creationTimestamp": null`); drop them so every
/// optional list and map decodes the same way.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

pub fn normalize<T: Object>(body: Value, mode: FieldValidation) -> Result<Normalized, Status> {
    let rt = T::RESOURCE;
    check_type_meta(rt, &body)?;
    let (mut typed, unknown) = decode::<T>(body)?;
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        match mode {
            FieldValidation::Strict => {
                let list = unknown
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Status::bad_request(format!(
                    "strict decoding error: {list}"
                )));
            }
            FieldValidation::Warn => {
                warnings.extend(unknown.iter().map(|p| format!("unknown field \"{p}\"")));
            }
            FieldValidation::Ignore => {}
        }
    }
    typed.set_defaults();
    let mut errors = crate::validation::validate_object_meta(rt, typed.metadata(), "metadata");
    errors.extend(typed.validate());
    if !errors.is_empty() {
        let name = typed.metadata().name.clone().unwrap_or_default();
        return Err(Status::invalid(
            rt,
            &name,
            errors.into_iter().map(|e| e.into_cause()).collect(),
        ));
    }
    let mut object = serde_json::to_value(&typed)
        .map_err(|e| Status::internal(format!("encoding {}: {e}", rt.kind)))?;
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(rt.api_version()));
        map.insert("kind".into(), Value::String(rt.kind.into()));
    }
    Ok(Normalized { object, warnings })
}

fn validate_update<T: Object>(new: &Value, old: &Value) -> Result<(), Status> {
    let rt = T::RESOURCE;
    let (new_t, _) = decode::<T>(new.clone())?;
    let (old_t, _) = decode::<T>(old.clone())?;
    let errors = new_t.validate_update(&old_t);
    if errors.is_empty() {
        Ok(())
    } else {
        let name = new_t.metadata().name.clone().unwrap_or_default();
        Err(Status::invalid(
            rt,
            &name,
            errors.into_iter().map(|e| e.into_cause()).collect(),
        ))
    }
}

/// `apiVersion`/`kind`, when given, must be this kind's.
fn check_type_meta(rt: &crate::resource::ResourceType, body: &Value) -> Result<(), Status> {
    let Some(map) = body.as_object() else {
        return Err(Status::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: the body is not a JSON object",
            rt.kind, rt.version, rt.kind
        )));
    };
    if let Some(kind) = map.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != rt.kind
    {
        return Err(Status::bad_request(format!(
            "the kind \"{kind}\" does not match the resource {} (kind {})",
            rt.qualified_plural(),
            rt.kind
        )));
    }
    if let Some(av) = map.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
        && av != rt.api_version()
    {
        return Err(Status::bad_request(format!(
            "the API version \"{av}\" does not match the expected API version \"{}\"",
            rt.api_version()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::Deployment;

    #[test]
    fn null_members_read_as_absent() {
        let body = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": null, "creationTimestamp": null},
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "i", "ports": null, "env": null}]}}}
        });
        let out = normalize::<Deployment>(body, FieldValidation::Strict).unwrap();
        assert!(out.object["metadata"].get("labels").is_none());
        assert!(
            out.object["spec"]["template"]["spec"]["containers"][0]
                .get("ports")
                .is_none()
        );
    }
}
