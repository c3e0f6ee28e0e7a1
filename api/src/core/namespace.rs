//! Namespace: a scope for names, with the `kubernetes` finalizer that
//! holds it in `Terminating` until its contents are gone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{Condition, ObjectMeta};
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{FieldError, child, index, is_qualified_name};

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The finalizer the namespace controller removes once a namespace is empty.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<NamespaceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NamespaceStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// `Active` or `Terminating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Namespace {
    pub fn phase(&self) -> &str {
        self.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Active")
    }
}

const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

impl Object for Namespace {
    const RESOURCE: &'static ResourceType = &super::NAMESPACES;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// A new namespace (no `spec` written) gets the `kubernetes` finalizer;
    /// a stored one keeps what it has, so that finalizing sticks. The phase
    /// starts `Active`; the name label always matches the name.
    fn set_defaults(&mut self) {
        if self.spec.is_none() {
            self.spec = Some(NamespaceSpec {
                finalizers: vec![NAMESPACE_FINALIZER.to_string()],
            });
        }
        let status = self.status.get_or_insert_with(NamespaceStatus::default);
        if status.phase.as_deref().unwrap_or_default().is_empty() {
            status.phase = Some("Active".into());
        }
        if let Some(name) = self.metadata.name.clone().filter(|n| !n.is_empty()) {
            self.metadata
                .labels
                .insert(NAMESPACE_NAME_LABEL.into(), name);
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let path = child("spec", "finalizers");
        for (i, f) in self
            .spec
            .iter()
            .flat_map(|s| s.finalizers.iter())
            .enumerate()
        {
            let msgs = is_qualified_name(f);
            for msg in &msgs {
                errs.push(FieldError::invalid(index(&path, i), f, msg.clone()));
            }
            if msgs.is_empty() && !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()) {
                errs.push(FieldError::invalid(
                    index(&path, i),
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
        if let Some(p) = self.status.as_ref().and_then(|s| s.phase.as_deref())
            && !["Active", "Terminating"].contains(&p)
        {
            errs.push(FieldError::not_supported(
                "status.phase",
                p,
                &["Active", "Terminating"],
            ));
        }
        errs
    }
}
