//! Field selectors (`?fieldSelector=metadata.name=x,spec.nodeName!=y`):
//! equality tests on a few fields of an object, each kind allowing its own.

use std::fmt;

use serde_json::Value;

use crate::resource::ResourceType;
use crate::status::Status;

/// `=`/`==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One `field=value` / `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A conjunction of field requirements; empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
    /// The kind the selector was parsed for (some labels are aliases).
    kind: &'static str,
}

/// Labels every kind accepts.
const COMMON_FIELDS: [&str; 2] = ["metadata.name", "metadata.namespace"];

impl FieldSelector {
    /// Parses the query value and checks every field label against what
    /// `rt` supports (`metadata.name`, `metadata.namespace` and
    /// `rt.field_selectors`). Backslash escapes `\,`, `\=`, `\\` in values.
    pub fn parse(s: &str, rt: &ResourceType) -> Result<FieldSelector, Status> {
        let mut requirements = Vec::new();
        for term in split_unescaped(s, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let req = parse_term(&term).ok_or_else(|| {
                Status::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ))
            })?;
            if !COMMON_FIELDS.contains(&req.field.as_str())
                && !rt.field_selectors.contains(&req.field.as_str())
            {
                return Err(Status::bad_request(format!(
                    "field label not supported: {}",
                    req.field
                )));
            }
            requirements.push(req);
        }
        Ok(FieldSelector {
            requirements,
            kind: rt.kind,
        })
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// True when every requirement holds for `object`. A field missing from
    /// the object reads as `""` (or `"false"` for the boolean fields
    /// Kubernetes prints that way); numbers and booleans compare as text.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let have = field_value(self.kind, object, &r.field);
            match r.operator {
                FieldOperator::Equals => have == r.value,
                FieldOperator::NotEquals => have != r.value,
            }
        })
    }

    /// The name this selector pins (`metadata.name=x`), so a server can do a
    /// point lookup instead of a scan.
    pub fn required_name(&self) -> Option<&str> {
        self.required("metadata.name")
    }

    /// The namespace this selector pins (`metadata.namespace=x`).
    pub fn required_namespace(&self) -> Option<&str> {
        self.required("metadata.namespace")
    }

    fn required(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

/// Splits on `sep` not preceded by a backslash, keeping escapes in place.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    parts.push(cur);
    parts
}

/// `field!=value`, `field==value` or `field=value` (checked in that order,
/// at the first unescaped operator).
fn parse_term(term: &str) -> Option<FieldRequirement> {
    let chars: Vec<char> = term.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '!' if chars.get(i + 1) == Some(&'=') => {
                return requirement(&chars[..i], FieldOperator::NotEquals, &chars[i + 2..]);
            }
            '=' => {
                let skip = if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                return requirement(&chars[..i], FieldOperator::Equals, &chars[i + skip..]);
            }
            _ => i += 1,
        }
    }
    None
}

fn requirement(
    field: &[char],
    operator: FieldOperator,
    value: &[char],
) -> Option<FieldRequirement> {
    let field: String = field.iter().collect::<String>().trim().to_string();
    if field.is_empty() {
        return None;
    }
    Some(FieldRequirement {
        field,
        operator,
        value: unescape(&value.iter().collect::<String>()),
    })
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where a selectable field lives when its label is not its JSON path.
fn json_path(kind: &str, field: &str) -> String {
    match (kind, field) {
        ("Event", "source") => "source.component".into(),
        ("Job", "status.successful") => "status.succeeded".into(),
        _ => field.to_string(),
    }
}

/// Boolean fields Kubernetes renders with `fmt.Sprint`, so absent reads `false`.
fn missing_default(field: &str) -> &'static str {
    match field {
        "spec.unschedulable" | "spec.hostNetwork" => "false",
        _ => "",
    }
}

/// The text a field selector compares for `field` in `object` (of `kind`).
fn field_value(kind: &str, object: &Value, field: &str) -> String {
    let path = json_path(kind, field);
    let mut cur = object;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return missing_default(field).to_string(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => missing_default(field).to_string(),
        other => other.to_string(),
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{}{}", r.field, op, escape(&r.value))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt(kind: &'static str, fields: &'static [&'static str]) -> ResourceType {
        let any = crate::resource::RESOURCES[0];
        ResourceType {
            group: "",
            version: "v1",
            kind,
            plural: "things",
            singular: "thing",
            short_names: &[],
            namespaced: true,
            categories: &[],
            subresources: &[],
            field_selectors: fields,
            codec: any.codec,
        }
    }

    #[test]
    fn parses_and_matches() {
        let pods = rt("Pod", &["spec.nodeName", "status.phase"]);
        let s = FieldSelector::parse("metadata.name=web,spec.nodeName!=node-2", &pods).unwrap();
        let pod = json!({"kind":"Pod","metadata":{"name":"web"},"spec":{"nodeName":"node-1"}});
        assert!(s.matches(&pod));
        let other = json!({"kind":"Pod","metadata":{"name":"web"},"spec":{"nodeName":"node-2"}});
        assert!(!s.matches(&other));
        assert_eq!(s.required_name(), Some("web"));
        assert_eq!(s.required_namespace(), None);
        assert_eq!(s.to_string(), "metadata.name=web,spec.nodeName!=node-2");
    }

    #[test]
    fn double_equals_and_missing_fields() {
        let pods = rt("Pod", &["spec.nodeName"]);
        let s = FieldSelector::parse("spec.nodeName==", &pods).unwrap();
        assert!(s.matches(&json!({"kind":"Pod","spec":{}})));
        assert!(!s.matches(&json!({"kind":"Pod","spec":{"nodeName":"n"}})));
        assert!(FieldSelector::parse("", &pods).unwrap().is_empty());
        assert!(FieldSelector::parse("", &pods).unwrap().matches(&json!({})));
    }

    #[test]
    fn booleans_and_numbers_compare_as_text() {
        let nodes = rt("Node", &["spec.unschedulable"]);
        let s = FieldSelector::parse("spec.unschedulable=true", &nodes).unwrap();
        assert!(s.matches(&json!({"spec":{"unschedulable":true}})));
        assert!(!s.matches(&json!({"spec":{}})));
        let f = FieldSelector::parse("spec.unschedulable=false", &nodes).unwrap();
        assert!(f.matches(&json!({"spec":{}})));
        let rs = rt("ReplicaSet", &["status.replicas"]);
        assert!(
            FieldSelector::parse("status.replicas=3", &rs)
                .unwrap()
                .matches(&json!({"status":{"replicas":3}}))
        );
    }

    #[test]
    fn unsupported_labels_are_rejected_like_kubernetes() {
        let pods = rt("Pod", &["spec.nodeName"]);
        let err = FieldSelector::parse("spec.foo=x", &pods).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(err.message, "field label not supported: spec.foo");
        assert!(FieldSelector::parse("metadata.namespace=default", &pods).is_ok());
        let err = FieldSelector::parse("justaword", &pods).unwrap_err();
        assert_eq!(
            err.message,
            "invalid selector: 'justaword'; can't understand 'justaword'"
        );
    }

    #[test]
    fn escapes_and_aliases() {
        let events = rt("Event", &["involvedObject.name", "source"]);
        let s = FieldSelector::parse(r"involvedObject.name=a\,b,source=kubelet", &events).unwrap();
        assert_eq!(s.requirements()[0].value, "a,b");
        let ev = json!({"involvedObject":{"name":"a,b"},"source":{"component":"kubelet"}});
        assert!(s.matches(&ev));
        assert_eq!(s.to_string(), r"involvedObject.name=a\,b,source=kubelet");
        let jobs = rt("Job", &["status.successful"]);
        let j = FieldSelector::parse("status.successful=1", &jobs).unwrap();
        assert!(j.matches(&json!({"status":{"succeeded":1}})));
    }
}
