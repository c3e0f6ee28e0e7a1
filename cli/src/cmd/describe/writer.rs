//! The text builder every describer writes through: indentation levels of
//! two spaces, `key:\tvalue` cells aligned like kubectl's tab writer, and
//! small accessors for reading JSON objects.

use serde_json::Value;

use crate::age;
use crate::tabwriter::{self, TabWriter};

pub struct Describer {
    tw: TabWriter,
}

impl Describer {
    pub fn new() -> Describer {
        Describer {
            tw: tabwriter::for_descriptions(),
        }
    }

    /// One line at `level` (text may contain `\t` cell breaks).
    pub fn line(&mut self, level: usize, text: &str) {
        for _ in 0..level {
            self.tw.push("  ");
        }
        self.tw.push(text);
        self.tw.push("\n");
    }

    /// `key:\tvalue` at `level`.
    pub fn field(&mut self, level: usize, key: &str, value: &str) {
        self.line(level, &format!("{key}:\t{value}"));
    }

    /// `Labels:\ta=b` then `\tc=d` for the rest, `<none>` when empty.
    pub fn labels(&mut self, level: usize, title: &str, map: Option<&Value>) {
        self.multiline(level, title, &pairs(map, "="));
    }

    /// Like [`Describer::labels`] with `key: value`, hiding the apply bookkeeping.
    pub fn annotations(&mut self, level: usize, title: &str, map: Option<&Value>) {
        let shown: Vec<String> = pairs(map, ": ")
            .into_iter()
            .filter(|p| !p.starts_with("kubectl.kubernetes.io/last-applied-configuration:"))
            .map(|p| shorten(&p, 200))
            .collect();
        self.multiline(level, title, &shown);
    }

    fn multiline(&mut self, level: usize, title: &str, items: &[String]) {
        match items.split_first() {
            None => self.field(level, title, "<none>"),
            Some((first, rest)) => {
                self.field(level, title, first);
                for item in rest {
                    self.line(level, &format!("\t{item}"));
                }
            }
        }
    }

    pub fn finish(self) -> String {
        self.tw.finish()
    }
}

/// `k=v` (or `k: v`) for every entry of a string map, sorted by key.
pub fn pairs(map: Option<&Value>, sep: &str) -> Vec<String> {
    let Some(Value::Object(m)) = map else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| format!("{k}{sep}{}", scalar(&m[k])))
        .collect()
}

fn shorten(s: &str, max: usize) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max).collect();
    format!("{cut}...")
}

/// A scalar as text (strings without quotes).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// The string at a JSON pointer, or `""`.
pub fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The text at a pointer, or `dflt` when missing or empty.
pub fn text_or(v: &Value, pointer: &str, dflt: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::Null) | None => dflt.to_string(),
        Some(Value::String(s)) if s.is_empty() => dflt.to_string(),
        Some(other) => scalar(other),
    }
}

/// The integer at a pointer, or 0.
pub fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at a pointer, or an empty one.
pub fn array<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A timestamp at a pointer as describe prints it (`<unknown>` if absent).
pub fn time(v: &Value, pointer: &str) -> String {
    age::rfc1123z(v.pointer(pointer)).unwrap_or_else(|| "<unknown>".into())
}

/// A label selector (`matchLabels` + `matchExpressions`) as text.
pub fn selector_text(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return "<none>".into();
    };
    let mut parts = pairs(sel.get("matchLabels"), "=");
    for e in array(sel, "/matchExpressions") {
        let key = text(e, "/key");
        let values: Vec<String> = array(e, "/values").iter().map(scalar).collect();
        parts.push(match text(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            op => format!("{key} {op} ({})", values.join(",")),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_continue_on_aligned_lines() {
        let mut d = Describer::new();
        d.field(0, "Name", "x");
        d.labels(0, "Labels", Some(&json!({"b": "2", "a": "1"})));
        d.annotations(0, "Annotations", None);
        assert_eq!(
            d.finish(),
            "Name:         x\nLabels:       a=1\n              b=2\nAnnotations:  <none>\n"
        );
    }

    #[test]
    fn selectors() {
        let s = json!({"matchLabels": {"app": "nginx"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                  {"key": "old", "operator": "DoesNotExist"}]});
        assert_eq!(selector_text(Some(&s)), "app=nginx,tier in (a,b),!old");
        assert_eq!(selector_text(None), "<none>");
    }
}
