//! Shared checks of Secret and ConfigMap data: keys, base64 values, total
//! size, and the `immutable` flag.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::validation::{FieldError, is_config_map_key, key};

/// The most bytes a Secret's or ConfigMap's data may hold: 1 MiB.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

pub const IMMUTABLE_DETAIL: &str = "field is immutable when `immutable` is set";

/// What a secret value is shown as in error messages.
pub const REDACTED: &str = "<secret contents redacted>";

pub fn validate_keys<'a>(keys: impl Iterator<Item = &'a String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for k in keys {
        for msg in is_config_map_key(k) {
            errs.push(FieldError::invalid(key(path, k), k, msg));
        }
    }
    errs
}

/// Decodes every value; a value that is not base64 is reported (redacted
/// when `redact`, since it may be a secret).
pub fn decode_base64_values(
    data: &BTreeMap<String, String>,
    path: &str,
    redact: bool,
) -> (usize, Vec<FieldError>) {
    let mut size = 0;
    let mut errs = Vec::new();
    for (k, v) in data {
        match STANDARD.decode(v) {
            Ok(bytes) => size += bytes.len(),
            Err(e) => {
                let shown = if redact { REDACTED } else { v.as_str() };
                errs.push(FieldError::invalid(key(path, k), shown, e.to_string()));
            }
        }
    }
    (size, errs)
}

/// With `immutable: true` stored, neither the data nor the flag may change.
pub fn validate_immutable(
    old_immutable: Option<bool>,
    new_immutable: Option<bool>,
    data_changed: &[(&str, bool)],
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old_immutable != Some(true) {
        return errs;
    }
    for (field, changed) in data_changed {
        if *changed {
            errs.push(FieldError::forbidden(*field, IMMUTABLE_DETAIL));
        }
    }
    if new_immutable != Some(true) {
        errs.push(FieldError::forbidden("immutable", IMMUTABLE_DETAIL));
    }
    errs
}

pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
