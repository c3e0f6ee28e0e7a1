//! Secret: small confidential data, base64 in `data`; `stringData` is a
//! write-only convenience merged into `data`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::data_validation::{
    MAX_DATA_SIZE, decode_base64_values, encode, validate_immutable, validate_keys,
};
use crate::meta::ObjectMeta;
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{FIELD_IMMUTABLE, FieldError, key};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Values are base64.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values, merged into `data` (and dropped) on write.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// `Opaque` (default), `kubernetes.io/tls`, `kubernetes.io/dockerconfigjson`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl Secret {
    /// The decoded value of `key`, if present and valid base64.
    pub fn decoded(&self, k: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        let v = self.data.get(k)?;
        base64::engine::general_purpose::STANDARD.decode(v).ok()
    }

    fn type_str(&self) -> &str {
        self.type_.as_deref().unwrap_or("Opaque")
    }
}

/// Keys each well-known type needs (any one of them, for basic-auth).
fn required_keys(type_: &str) -> (&'static [&'static str], bool) {
    match type_ {
        "kubernetes.io/tls" => (&["tls.crt", "tls.key"], true),
        "kubernetes.io/dockerconfigjson" => (&[".dockerconfigjson"], true),
        "kubernetes.io/dockercfg" => (&[".dockercfg"], true),
        "kubernetes.io/ssh-auth" => (&["ssh-privatekey"], true),
        "kubernetes.io/basic-auth" => (&["username", "password"], false),
        _ => (&[], true),
    }
}

impl Object for Secret {
    const RESOURCE: &'static ResourceType = &super::SECRETS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn set_defaults(&mut self) {
        if self.type_.as_deref().unwrap_or_default().is_empty() {
            self.type_ = Some("Opaque".into());
        }
        for (k, v) in std::mem::take(&mut self.string_data) {
            self.data.insert(k, encode(v.as_bytes()));
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_keys(self.data.keys(), "data");
        errs.extend(validate_keys(self.string_data.keys(), "stringData"));
        let (size, decode_errs) = decode_base64_values(&self.data, "data", true);
        errs.extend(decode_errs);
        if size > MAX_DATA_SIZE {
            errs.push(FieldError::too_long("data", MAX_DATA_SIZE));
        }
        let (keys, all_needed) = required_keys(self.type_str());
        if all_needed {
            for k in keys.iter().filter(|k| !self.data.contains_key(**k)) {
                errs.push(FieldError::required(key("data", k), ""));
            }
        } else if !keys.iter().any(|k| self.data.contains_key(*k)) {
            errs.push(FieldError::required(
                key("data", keys[0]),
                format!("either {} or {} must be provided", keys[0], keys[1]),
            ));
        }
        if self.type_str() == "kubernetes.io/dockerconfigjson"
            && let Some(bytes) = self.decoded(".dockerconfigjson")
            && let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            errs.push(FieldError::invalid(
                key("data", ".dockerconfigjson"),
                super::data_validation::REDACTED,
                e.to_string(),
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.type_str() != old.type_str() {
            errs.push(FieldError::invalid(
                "type",
                self.type_str(),
                FIELD_IMMUTABLE,
            ));
        }
        errs.extend(validate_immutable(
            old.immutable,
            self.immutable,
            &[("data", self.data != old.data)],
        ));
        errs
    }
}
