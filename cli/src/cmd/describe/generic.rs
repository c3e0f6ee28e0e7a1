//! Every other kind: the common header, then the object's own fields as
//! nested `Title Case:` lines, like kubectl's generic describer. Secret
//! values are never printed, only their sizes.

use base64::Engine;
use serde_json::{Map, Value};
use skiff_api::ResourceType;

use super::header;
use super::writer::{Describer, scalar};

/// `resourceVersion` -> `Resource Version`, `podIP` -> `Pod IP`.
pub fn smart_label(field: &str) -> String {
    if field.chars().any(|c| !c.is_alphabetic() && c != '-') {
        return field.to_string();
    }
    let chars: Vec<char> = field.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
        .into_iter()
        .map(|w| {
            let upper = w.to_uppercase();
            if ["API", "URL", "UID", "OSB", "GUID", "IP", "CIDR"].contains(&upper.as_str()) {
                upper
            } else {
                let mut cs = w.chars();
                match cs.next() {
                    Some(f) => f.to_uppercase().chain(cs).collect(),
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn content(d: &mut Describer, level: usize, map: &Map<String, Value>, path: &str) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        let here = format!("{path}.{k}");
        if SKIP.contains(&here.as_str()) {
            continue;
        }
        match &map[k] {
            Value::Object(m)
                if m.keys()
                    .all(|c| SKIP.contains(&format!("{here}.{c}").as_str())) => {}
            Value::Object(m) => {
                d.line(level, &format!("{}:", smart_label(k)));
                content(d, level + 1, m, &here);
            }
            Value::Array(items) => {
                d.line(level, &format!("{}:", smart_label(k)));
                for item in items {
                    match item {
                        Value::Object(m) => content(d, level + 1, m, &here),
                        other => d.line(level + 1, &scalar(other)),
                    }
                }
            }
            v => d.field(level, &smart_label(k), &scalar(v)),
        }
    }
}

/// Printed by the header already, or noise.
const SKIP: &[&str] = &[
    ".apiVersion",
    ".kind",
    ".metadata.name",
    ".metadata.namespace",
    ".metadata.labels",
    ".metadata.annotations",
    ".metadata.managedFields",
    ".metadata.creationTimestamp",
];

pub fn describe(rt: &ResourceType, obj: &Value, d: &mut Describer) {
    header(rt.namespaced, obj, d);
    d.field(0, "API Version", &rt.api_version());
    d.field(0, "Kind", rt.kind);
    let Some(map) = obj.as_object() else {
        return;
    };
    if rt.kind == "Secret" && rt.group.is_empty() {
        let mut shown = map.clone();
        let data = shown.remove("data");
        shown.remove("stringData");
        content(d, 0, &shown, "");
        secret_sizes(d, data.as_ref());
        return;
    }
    content(d, 0, map, "");
}

fn secret_sizes(d: &mut Describer, data: Option<&Value>) {
    let Some(Value::Object(m)) = data else {
        return;
    };
    d.line(0, "Data");
    d.line(0, "====");
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        let len = m[k]
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .map(|b| b.len())
            .unwrap_or(0);
        d.field(0, k, &format!("{len} bytes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_for_fields() {
        assert_eq!(smart_label("resourceVersion"), "Resource Version");
        assert_eq!(smart_label("uid"), "UID");
        assert_eq!(smart_label("podIP"), "Pod IP");
        assert_eq!(smart_label("apiVersion"), "API Version");
        assert_eq!(smart_label("x.y"), "x.y");
        assert_eq!(smart_label("data"), "Data");
    }

    #[test]
    fn secrets_show_sizes_only() {
        let rt = skiff_api::resource::by_kind("v1", "Secret").unwrap();
        let obj = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"default"},
            "type":"Opaque","data":{"password":"aHVudGVyMg=="}});
        let mut d = Describer::new();
        describe(rt, &obj, &mut d);
        let text = d.finish();
        assert!(text.contains("password:  7 bytes"), "{text}");
        assert!(!text.contains("Metadata:"), "{text}");
        assert!(!text.contains("aHVudGVyMg"), "{text}");
        assert!(text.contains("Type:"), "{text}");
    }
}
