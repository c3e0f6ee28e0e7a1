//! JSON the way Go's encoding/json writes it, which is what kubectl prints
//! and what it stores in the last-applied annotation: keys sorted at every
//! level, `<`, `>`, `&`, U+2028 and U+2029 escaped.

use serde_json::{Map, Value};

/// A copy of `v` with every object's keys in sorted order.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Go's HTML-safe escaping. These characters can only occur inside JSON
/// strings, so replacing them in the encoded text is exact.
fn go_escape(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `json.Marshal`: compact, sorted, escaped.
pub fn compact(v: &Value) -> String {
    go_escape(sorted(v).to_string())
}

/// kubectl `-o json`: sorted, escaped, four-space indent.
pub fn pretty(v: &Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing a Value into memory cannot fail.
    let _ = sorted(v).serialize(&mut ser);
    go_escape(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_everywhere() {
        let v = json!({"b": 1, "a": {"z": [{"y": 1, "x": 2}], "c": "<&>"}});
        assert_eq!(
            compact(&v),
            r#"{"a":{"c":"\u003c\u0026\u003e","z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn pretty_uses_four_spaces() {
        assert_eq!(
            pretty(&json!({"b": [1], "a": 2})),
            "{\n    \"a\": 2,\n    \"b\": [\n        1\n    ]\n}"
        );
    }
}
