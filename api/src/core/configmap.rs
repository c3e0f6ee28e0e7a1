//! ConfigMap: configuration as text (`data`) or base64 bytes (`binaryData`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::data_validation::{
    MAX_DATA_SIZE, decode_base64_values, validate_immutable, validate_keys,
};
use crate::meta::ObjectMeta;
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{FieldError, key};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Values are base64.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl Object for ConfigMap {
    const RESOURCE: &'static ResourceType = &super::CONFIGMAPS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_keys(self.data.keys(), "data");
        errs.extend(validate_keys(self.binary_data.keys(), "binaryData"));
        for k in self
            .binary_data
            .keys()
            .filter(|k| self.data.contains_key(*k))
        {
            errs.push(FieldError::invalid(
                key("binaryData", k),
                k,
                "duplicate of key present in data",
            ));
        }
        let (binary_size, decode_errs) =
            decode_base64_values(&self.binary_data, "binaryData", false);
        errs.extend(decode_errs);
        let text_size: usize = self.data.iter().map(|(k, v)| k.len() + v.len()).sum();
        if text_size + binary_size > MAX_DATA_SIZE {
            errs.push(FieldError::too_long("", MAX_DATA_SIZE));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        validate_immutable(
            old.immutable,
            self.immutable,
            &[
                ("data", self.data != old.data),
                ("binaryData", self.binary_data != old.binary_data),
            ],
        )
    }
}
