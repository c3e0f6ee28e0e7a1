//! `IntOrString`: a field that holds a number or a string (ports by number
//! or name, `maxSurge: 1` or `"25%"`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

impl Default for IntOrString {
    fn default() -> IntOrString {
        IntOrString::Int(0)
    }
}

impl From<i32> for IntOrString {
    fn from(v: i32) -> IntOrString {
        IntOrString::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> IntOrString {
        IntOrString::String(v.to_string())
    }
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl crate::validation::GoValue for IntOrString {
    fn go(&self) -> String {
        match self {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => crate::validation::go_quote(s),
        }
    }
}

impl IntOrString {
    /// The percentage of a `"25%"` value; `None` for ints and other strings.
    pub fn percent(&self) -> Option<Result<i32, String>> {
        match self {
            IntOrString::String(s) => s.strip_suffix('%').map(|p| {
                if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                    p.parse::<i32>()
                        .map_err(|e| format!("invalid value {s:?}: {e}"))
                } else {
                    Err(format!(
                        "invalid value for IntOrString: invalid value {s:?}"
                    ))
                }
            }),
            IntOrString::Int(_) => None,
        }
    }

    /// An int as it is, or a percentage of `total`, rounded up or down (as
    /// `maxSurge` rounds up and `maxUnavailable` down).
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, String> {
        match self {
            IntOrString::Int(i) => Ok(*i),
            IntOrString::String(s) => {
                let Some(percent) = self.percent() else {
                    return Err(format!("invalid type: string is not a percentage: {s:?}"));
                };
                let scaled = i64::from(percent?) * i64::from(total);
                let v = if round_up {
                    (scaled + 99).div_euclid(100)
                } else {
                    scaled.div_euclid(100)
                };
                i32::try_from(v).map_err(|_| format!("{s:?} of {total} overflows"))
            }
        }
    }
}

impl JsonSchema for IntOrString {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "IntOrString".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_forms() {
        let v: Vec<IntOrString> = serde_json::from_str(r#"[80, "http", "25%"]"#).unwrap();
        assert_eq!(v, vec![80.into(), "http".into(), "25%".into()]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"[80,"http","25%"]"#);
    }

    #[test]
    fn percentages_scale() {
        let p = IntOrString::from("25%");
        assert_eq!(p.scaled_value(10, true), Ok(3));
        assert_eq!(p.scaled_value(10, false), Ok(2));
        assert_eq!(p.scaled_value(4, true), Ok(1));
        assert_eq!(p.scaled_value(1, false), Ok(0));
        assert_eq!(IntOrString::from("100%").scaled_value(7, false), Ok(7));
        assert_eq!(IntOrString::Int(2).scaled_value(10, true), Ok(2));
        assert!(IntOrString::from("abc").scaled_value(10, true).is_err());
        assert!(IntOrString::from("x%").scaled_value(10, true).is_err());
        assert_eq!(IntOrString::from("abc").percent(), None);
        assert_eq!(IntOrString::Int(1).percent(), None);
    }
}
