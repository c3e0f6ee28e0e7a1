//! Reading printer inputs out of object JSON: absent and mistyped fields
//! read as empty, like zero values of the Go structs the real printers use.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::selector::LabelSelector;

/// The value at a JSON pointer (`/spec/replicas`).
pub(crate) fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    v.pointer(pointer).filter(|v| !v.is_null())
}

/// The string at `pointer`, `""` when absent.
pub(crate) fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    at(v, pointer).and_then(Value::as_str).unwrap_or_default()
}

/// The string at `pointer`, or `fallback` when absent or empty.
pub(crate) fn text_or(v: &Value, pointer: &str, fallback: &str) -> String {
    match text(v, pointer) {
        "" => fallback.to_string(),
        s => s.to_string(),
    }
}

pub(crate) fn int(v: &Value, pointer: &str) -> Option<i64> {
    at(v, pointer).and_then(Value::as_i64)
}

/// The integer at `pointer`, 0 when absent.
pub(crate) fn int0(v: &Value, pointer: &str) -> i64 {
    int(v, pointer).unwrap_or(0)
}

/// The list at `pointer`, empty when absent.
pub(crate) fn list<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    at(v, pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Number of entries of the map at `pointer`.
pub(crate) fn map_len(v: &Value, pointer: &str) -> usize {
    at(v, pointer)
        .and_then(Value::as_object)
        .map(|m| m.len())
        .unwrap_or(0)
}

/// A string map (labels, selectors), sorted by key.
pub(crate) fn string_map(v: &Value, pointer: &str) -> BTreeMap<String, String> {
    at(v, pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `labels.FormatLabels`: `a=b,c=d` sorted by key, `<none>` when empty.
pub(crate) fn format_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "<none>".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.FormatLabelSelector`: the canonical selector string, `<none>`
/// for an empty (or absent) selector, `<error>` for an invalid one.
pub(crate) fn format_label_selector(selector: Option<&Value>) -> String {
    match LabelSelector::from_json_opt(selector) {
        Ok(s) => match s.to_string() {
            e if e.is_empty() => "<none>".into(),
            s => s,
        },
        Err(_) => "<error>".into(),
    }
}

/// The names and images of a container list, comma-joined
/// (`layoutContainerCells`).
pub(crate) fn containers_and_images(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// The status (`True`/`False`/...) of the first condition of `kind` in the
/// list at `pointer`.
pub(crate) fn condition_status<'a>(v: &'a Value, pointer: &str, kind: &str) -> Option<&'a str> {
    list(v, pointer)
        .iter()
        .find(|c| text(c, "/type") == kind)
        .map(|c| text(c, "/status"))
}

/// `True` of the first condition of `kind` (`hasJobCondition`).
pub(crate) fn condition_true(v: &Value, pointer: &str, kind: &str) -> bool {
    condition_status(v, pointer, kind) == Some("True")
}
