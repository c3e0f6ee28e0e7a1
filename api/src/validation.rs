//! Field errors, worded exactly as the Kubernetes API server words them
//! (kubectl prints these messages as they are), plus the shared checks:
//! names, labels, selectors and object metadata.

mod meta;
mod names;

use crate::status::StatusCause;

pub use meta::{
    validate_annotations, validate_label_selector, validate_labels, validate_object_meta,
    validate_object_meta_update,
};
pub use names::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_env_var_name,
    is_ip, is_label_value, is_qualified_name, is_valid_port_name, is_valid_port_num,
    port_range_error,
};

/// What is wrong with a field (Go's `field.ErrorType` plus its bad value).
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// The bad value, already rendered as Go's `%v` would (see [`GoValue`]).
    Invalid(String),
    Required,
    /// The bad value and the supported values (unquoted).
    NotSupported(String, Vec<String>),
    /// The duplicated value, rendered.
    Duplicate(String),
    Forbidden,
    /// The limit in bytes.
    TooLong(usize),
    /// The actual count and the limit.
    TooMany(usize, usize),
    /// The value that names nothing, rendered.
    NotFound(String),
}

/// One validation failure at a field path (`spec.template.spec.containers[0].image`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub kind: ErrorKind,
    pub detail: String,
}

/// A value as Go's `%v`/`%q` renders it in field errors: numbers and
/// booleans bare, strings quoted, anything else pre-rendered.
pub trait GoValue {
    fn go(&self) -> String;
}

impl GoValue for str {
    fn go(&self) -> String {
        go_quote(self)
    }
}
impl GoValue for String {
    fn go(&self) -> String {
        go_quote(self)
    }
}
impl GoValue for &str {
    fn go(&self) -> String {
        go_quote(self)
    }
}
macro_rules! bare {
    ($($t:ty),*) => {$(
        impl GoValue for $t {
            fn go(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
bare!(i32, i64, u16, u32, u64, usize, bool, f64);

/// A value rendered by hand (Go's `%#v` of maps and structs).
pub struct Rendered(pub String);

impl GoValue for Rendered {
    fn go(&self) -> String {
        self.0.clone()
    }
}

impl FieldError {
    pub fn invalid(
        field: impl Into<String>,
        value: &(impl GoValue + ?Sized),
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Invalid(value.go()),
            detail: detail.into(),
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Required,
            detail: detail.into(),
        }
    }

    pub fn not_supported(
        field: impl Into<String>,
        value: &(impl GoValue + ?Sized),
        supported: &[&str],
    ) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::NotSupported(
                value.go(),
                supported.iter().map(|s| s.to_string()).collect(),
            ),
            detail: String::new(),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: &(impl GoValue + ?Sized)) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Duplicate(value.go()),
            detail: String::new(),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Forbidden,
            detail: detail.into(),
        }
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::TooLong(max),
            detail: String::new(),
        }
    }

    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::TooMany(actual, max),
            detail: String::new(),
        }
    }

    pub fn not_found(field: impl Into<String>, value: &(impl GoValue + ?Sized)) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorKind::NotFound(value.go()),
            detail: String::new(),
        }
    }

    /// `FieldValueInvalid`, `FieldValueRequired`, ... as in `details.causes[].reason`.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            ErrorKind::Invalid(_) => "FieldValueInvalid",
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::NotSupported(..) => "FieldValueNotSupported",
            ErrorKind::Duplicate(_) => "FieldValueDuplicate",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooLong(_) => "FieldValueTooLong",
            ErrorKind::TooMany(..) => "FieldValueTooMany",
            ErrorKind::NotFound(_) => "FieldValueNotFound",
        }
    }

    /// The message body without the field: `Invalid value: -1: must be ...`.
    pub fn message(&self) -> String {
        let mut s = match &self.kind {
            ErrorKind::Invalid(v) => format!("Invalid value: {v}"),
            ErrorKind::Required => "Required value".to_string(),
            ErrorKind::NotSupported(v, supported) => {
                let list = supported
                    .iter()
                    .map(|s| go_quote(s))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("Unsupported value: {v}: supported values: {list}")
            }
            ErrorKind::Duplicate(v) => format!("Duplicate value: {v}"),
            ErrorKind::Forbidden => "Forbidden".to_string(),
            ErrorKind::TooLong(max) => format!("Too long: must have at most {max} bytes"),
            ErrorKind::TooMany(actual, max) => {
                format!("Too many: {actual}: must have at most {max} items")
            }
            ErrorKind::NotFound(v) => format!("Not found: {v}"),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    pub fn into_cause(self) -> StatusCause {
        StatusCause {
            reason: self.reason().to_string(),
            message: self.message(),
            field: self.field,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// Go's `%q`: double quotes, backslash escapes for quotes, backslashes and
/// control characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%#v` of a `map[string]string`: `map[string]string{"app":"x", "tier":"y"}`.
pub fn go_string_map(map: &std::collections::BTreeMap<String, String>) -> Rendered {
    let body = map
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
        .collect::<Vec<_>>()
        .join(", ");
    Rendered(format!("map[string]string{{{body}}}"))
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
pub fn go_string_slice(items: &[String]) -> Rendered {
    let body = items
        .iter()
        .map(|s| go_quote(s))
        .collect::<Vec<_>>()
        .join(", ");
    Rendered(format!("[]string{{{body}}}"))
}

/// Go's `%#v` of a `map[string]string`, nil when empty (as a template
/// without labels is).
pub fn go_string_map_or_nil(map: &std::collections::BTreeMap<String, String>) -> Rendered {
    if map.is_empty() {
        Rendered("map[string]string(nil)".into())
    } else {
        go_string_map(map)
    }
}

/// Go's `%#v` of a `metav1.LabelSelector`, as immutable-selector errors print it.
pub fn go_label_selector(sel: Option<&crate::meta::LabelSelector>) -> Rendered {
    let Some(sel) = sel else {
        return Rendered("null".into());
    };
    let labels = go_string_map_or_nil(&sel.match_labels).0;
    let exprs = if sel.match_expressions.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_string()
    } else {
        let items = sel
            .match_expressions
            .iter()
            .map(|r| {
                let values = if r.values.is_empty() {
                    "[]string(nil)".to_string()
                } else {
                    go_string_slice(&r.values).0
                };
                format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                    go_quote(&r.key),
                    go_quote(&r.operator),
                    values
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("[]v1.LabelSelectorRequirement{{{items}}}")
    };
    Rendered(format!(
        "v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}"
    ))
}

/// Appends `.child` to a field path.
pub fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Appends `[i]` to a field path.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Appends `[key]` to a field path (map entries, as Go's `fldPath.Key`).
pub fn key(path: &str, k: &str) -> String {
    format!("{path}[{k}]")
}

/// `must be greater than or equal to 0` for a negative number.
pub fn nonnegative(field: &str, value: i64) -> Vec<FieldError> {
    if value < 0 {
        vec![FieldError::invalid(field, &value, IS_NEGATIVE)]
    } else {
        Vec::new()
    }
}

/// Same as [`nonnegative`] for an optional field.
pub fn nonnegative_opt(field: &str, value: Option<impl Into<i64> + Copy>) -> Vec<FieldError> {
    value
        .map(|v| nonnegative(field, v.into()))
        .unwrap_or_default()
}

/// `must be greater than 0` for zero or less.
pub fn positive(field: &str, value: i64) -> Vec<FieldError> {
    if value <= 0 {
        vec![FieldError::invalid(field, &value, "must be greater than 0")]
    } else {
        Vec::new()
    }
}

pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";
pub const FIELD_IMMUTABLE: &str = "field is immutable";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_kubernetes() {
        let e = FieldError::invalid("spec.replicas", &-1i64, IS_NEGATIVE);
        let c = e.into_cause();
        assert_eq!(c.reason, "FieldValueInvalid");
        assert_eq!(
            c.message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(c.field, "spec.replicas");

        let e = FieldError::required("spec.template.spec.containers[0].image", "");
        assert_eq!(e.message(), "Required value");
        assert_eq!(e.reason(), "FieldValueRequired");
        let e = FieldError::required("metadata.name", "name or generateName is required");
        assert_eq!(
            e.message(),
            "Required value: name or generateName is required"
        );

        let e = FieldError::not_supported("spec.type", "Foo", &["ClusterIP", "NodePort"]);
        assert_eq!(
            e.message(),
            "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"NodePort\""
        );
        assert_eq!(e.reason(), "FieldValueNotSupported");

        let e = FieldError::duplicate("spec.containers[1].name", "web");
        assert_eq!(e.message(), "Duplicate value: \"web\"");
        let e = FieldError::forbidden("spec", "pod updates may not change fields");
        assert_eq!(e.message(), "Forbidden: pod updates may not change fields");
        assert_eq!(e.reason(), "FieldValueForbidden");
        assert_eq!(
            FieldError::too_long("metadata.annotations", 262144).message(),
            "Too long: must have at most 262144 bytes"
        );
        assert_eq!(
            FieldError::not_found("spec.containers[0].volumeMounts[0].name", "data").message(),
            "Not found: \"data\""
        );
    }

    #[test]
    fn go_rendering() {
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        let mut m = std::collections::BTreeMap::new();
        m.insert("tier".to_string(), "y".to_string());
        m.insert("app".to_string(), "x".to_string());
        assert_eq!(
            go_string_map(&m).0,
            r#"map[string]string{"app":"x", "tier":"y"}"#
        );
        assert_eq!(
            go_string_slice(&["10.0.0.1".into()]).0,
            r#"[]string{"10.0.0.1"}"#
        );
        assert_eq!(true.go(), "true");
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(index("spec.ports", 2), "spec.ports[2]");
    }

    #[test]
    fn number_checks() {
        assert!(nonnegative("x", 0).is_empty());
        assert_eq!(
            nonnegative("x", -3)[0].message(),
            "Invalid value: -3: must be greater than or equal to 0"
        );
        assert!(positive("x", 1).is_empty());
        assert_eq!(
            positive("x", 0)[0].message(),
            "Invalid value: 0: must be greater than 0"
        );
        assert!(nonnegative_opt("x", None::<i32>).is_empty());
        assert_eq!(nonnegative_opt("x", Some(-1i32)).len(), 1);
    }
}
