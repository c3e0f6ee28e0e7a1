//! Label selectors: a conjunction of requirements on an object's labels.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::SelectorError;
use super::label_validate::{check_key, check_value};

/// How one requirement compares a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key=value` / `key==value` / `matchLabels`.
    Equals,
    /// `key!=value`: also true when the label is absent.
    NotEquals,
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)`: also true when the label is absent.
    NotIn,
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key>5` (both sides integers).
    GreaterThan,
    /// `key<5` (both sides integers).
    LessThan,
}

/// One term of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted and de-duplicated; one value for `=`/`!=`/`>`/`<`, none for
    /// `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

impl Requirement {
    /// Checks the key, the values and their count for the operator, as
    /// Kubernetes' `NewRequirement` does.
    pub fn new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        check_key(key).map_err(SelectorError::new)?;
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(SelectorError::new(format!(
                    "for 'in', 'notin' operators, values set can't be empty (key \"{key}\")"
                )));
            }
            Operator::Equals | Operator::NotEquals if values.len() != 1 => {
                return Err(SelectorError::new(format!(
                    "exact-match compatibility requires one single value (key \"{key}\")"
                )));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(SelectorError::new(format!(
                    "values set must be empty for exists and does not exist (key \"{key}\")"
                )));
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(SelectorError::new(format!(
                        "for 'Gt', 'Lt' operators, exactly one value is required (key \"{key}\")"
                    )));
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(SelectorError::new(format!(
                        "for 'Gt', 'Lt' operators, the value must be an integer (key \"{key}\", value \"{}\")",
                        values[0]
                    )));
                }
            }
            _ => {}
        }
        if !matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for v in &values {
                check_value(v).map_err(SelectorError::new)?;
            }
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.key).map(String::as_str))
    }

    /// Does the requirement hold for this value of its key (`None`: the
    /// key is absent)? Node affinity asks it of a node's name too.
    pub fn matches_value(&self, label: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::In => label.is_some_and(has),
            Operator::NotEquals | Operator::NotIn => !label.is_some_and(has),
            Operator::Exists => label.is_some(),
            Operator::DoesNotExist => label.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (
                    label.and_then(|l| l.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or_default();
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, first),
            Operator::NotEquals => write!(f, "{}!={}", self.key, first),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, first),
            Operator::LessThan => write!(f, "{}<{}", self.key, first),
        }
    }
}

/// A label selector. All requirements must hold. An empty selector matches
/// everything; [`LabelSelector::nothing`] (what a `null` metav1
/// LabelSelector means) matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    matches_nothing: bool,
}

impl LabelSelector {
    /// Matches every object (the empty selector).
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// Matches no object (a `null` metav1 LabelSelector).
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            matches_nothing: true,
        }
    }

    /// Builds a selector from requirements, sorted by key like Kubernetes.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> LabelSelector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            matches_nothing: false,
        }
    }

    /// `key=value` for every entry (a Service's `spec.selector`, `matchLabels`).
    pub fn from_map(labels: &BTreeMap<String, String>) -> Result<LabelSelector, SelectorError> {
        let reqs = labels
            .iter()
            .map(|(k, v)| Requirement::new(k, Operator::Equals, vec![v.clone()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LabelSelector::from_requirements(reqs))
    }

    /// Parses the string form of `?labelSelector=`: `a=b`, `a==b`, `a!=b`,
    /// `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`, comma-joined.
    /// The empty string selects everything.
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        super::label_parse::parse(s).map(LabelSelector::from_requirements)
    }

    /// Converts a metav1 LabelSelector JSON
    /// (`{"matchLabels":{..},"matchExpressions":[{"key","operator","values"}]}`).
    /// `null` selects nothing, `{}` selects everything (Kubernetes'
    /// `LabelSelectorAsSelector`).
    pub fn from_json(value: &Value) -> Result<LabelSelector, SelectorError> {
        let obj = match value {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => {
                return Err(SelectorError::new(format!(
                    "a label selector must be an object, got {other}"
                )));
            }
        };
        let mut reqs = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let Some(v) = v.as_str() else {
                        return Err(SelectorError::new(format!(
                            "matchLabels[{k}]: the value must be a string, got {v}"
                        )));
                    };
                    reqs.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
                }
            }
            Some(other) => {
                return Err(SelectorError::new(format!(
                    "matchLabels must be an object, got {other}"
                )));
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    reqs.push(expression(expr)?);
                }
            }
            Some(other) => {
                return Err(SelectorError::new(format!(
                    "matchExpressions must be a list, got {other}"
                )));
            }
        }
        Ok(LabelSelector::from_requirements(reqs))
    }

    /// Converts the typed metav1 selector of a spec (`crate::meta::LabelSelector`).
    pub fn from_meta(
        selector: &crate::meta::LabelSelector,
    ) -> Result<LabelSelector, SelectorError> {
        let mut reqs = selector
            .match_labels
            .iter()
            .map(|(k, v)| Requirement::new(k, Operator::Equals, vec![v.clone()]))
            .collect::<Result<Vec<_>, _>>()?;
        for e in &selector.match_expressions {
            let expr =
                serde_json::json!({"key": e.key, "operator": e.operator, "values": e.values});
            reqs.push(expression(&expr)?);
        }
        Ok(LabelSelector::from_requirements(reqs))
    }

    /// Like [`LabelSelector::from_json`], with an absent field meaning `null`
    /// (selects nothing).
    pub fn from_json_opt(value: Option<&Value>) -> Result<LabelSelector, SelectorError> {
        match value {
            None => Ok(LabelSelector::nothing()),
            Some(v) => LabelSelector::from_json(v),
        }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.matches_nothing
    }

    /// True for the selector that matches nothing.
    pub fn is_nothing(&self) -> bool {
        self.matches_nothing
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matches_nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches an object's `metadata.labels` (absent labels = no labels).
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches(&labels_of(object))
    }
}

/// The `metadata.labels` of an object as a map; non-string values are skipped.
pub(crate) fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn expression(expr: &Value) -> Result<Requirement, SelectorError> {
    let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
    let op_name = expr
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operator = match op_name {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(SelectorError::new(format!(
                "\"{other}\" is not a valid label selector operator"
            )));
        }
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vs)) => vs
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    SelectorError::new(format!("matchExpressions values must be strings, got {v}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(SelectorError::new(format!(
                "matchExpressions values must be a list, got {other}"
            )));
        }
    };
    Requirement::new(key, operator, values)
}

impl fmt::Display for LabelSelector {
    /// The canonical string: requirements sorted by key, comma-joined
    /// (`app=nginx,tier in (a,b)`); empty for everything and nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabelSelector::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let s = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "nginx"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "canary", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert_eq!(s.to_string(), "app=nginx,!canary,tier in (api,web)");
        assert!(s.matches(&labels(&[("app", "nginx"), ("tier", "web")])));
        assert!(!s.matches(&labels(&[("app", "nginx"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[
            ("app", "nginx"),
            ("tier", "web"),
            ("canary", "1")
        ])));
        assert!(!s.matches(&labels(&[("tier", "web")])));
    }

    #[test]
    fn display_sorts_by_key() {
        let s = LabelSelector::from_json(&json!({"matchLabels": {"tier": "a", "app": "nginx"}}))
            .unwrap();
        assert_eq!(s.to_string(), "app=nginx,tier=a");
    }

    #[test]
    fn null_selects_nothing_and_empty_everything() {
        let nothing = LabelSelector::from_json(&Value::Null).unwrap();
        assert!(nothing.is_nothing());
        assert!(!nothing.matches(&BTreeMap::new()));
        assert!(
            !LabelSelector::from_json_opt(None)
                .unwrap()
                .matches(&labels(&[("a", "b")]))
        );
        let everything = LabelSelector::from_json(&json!({})).unwrap();
        assert!(everything.is_empty());
        assert!(everything.matches(&BTreeMap::new()));
        assert!(everything.matches(&labels(&[("a", "b")])));
        assert_eq!(everything.to_string(), "");
    }

    #[test]
    fn expression_operators_are_validated() {
        let err = |v: Value| LabelSelector::from_json(&v).unwrap_err().message;
        assert!(
            err(json!({"matchExpressions":[{"key":"a","operator":"In"}]}))
                .contains("can't be empty")
        );
        assert!(
            err(json!({"matchExpressions":[{"key":"a","operator":"NotIn","values":[]}]}))
                .contains("can't be empty")
        );
        assert!(
            err(json!({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]}))
                .contains("must be empty")
        );
        assert!(
            err(json!({"matchExpressions":[{"key":"a","operator":"DoesNotExist","values":["x"]}]}))
                .contains("must be empty")
        );
        assert_eq!(
            err(json!({"matchExpressions":[{"key":"a","operator":"Equals","values":["x"]}]})),
            "\"Equals\" is not a valid label selector operator"
        );
        assert!(err(json!({"matchLabels":{"a b":"x"}})).contains("invalid label key"));
        assert!(err(json!({"matchLabels":{"a":"x y"}})).contains("invalid label value"));
    }

    #[test]
    fn not_equals_and_notin_match_absent_labels() {
        let s = LabelSelector::parse("env!=prod,tier notin (db)").unwrap();
        assert!(s.matches(&BTreeMap::new()));
        assert!(s.matches(&labels(&[("env", "dev")])));
        assert!(!s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[("tier", "db")])));
    }

    #[test]
    fn numeric_comparisons() {
        let s = LabelSelector::parse("gen>2,size<10").unwrap();
        assert!(s.matches(&labels(&[("gen", "3"), ("size", "9")])));
        assert!(!s.matches(&labels(&[("gen", "2"), ("size", "9")])));
        assert!(!s.matches(&labels(&[("gen", "x"), ("size", "9")])));
        assert!(!s.matches(&labels(&[("size", "9")])));
        assert_eq!(s.to_string(), "gen>2,size<10");
    }

    #[test]
    fn matches_object_metadata_labels() {
        let s = LabelSelector::parse("app=nginx").unwrap();
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "nginx"}}})));
        assert!(!s.matches_object(&json!({"metadata": {"name": "x"}})));
        assert!(LabelSelector::everything().matches_object(&json!({})));
    }

    #[test]
    fn from_the_typed_selector() {
        let typed: crate::meta::LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "nginx"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
        }))
        .unwrap();
        let s = LabelSelector::from_meta(&typed).unwrap();
        assert_eq!(s.to_string(), "app=nginx,tier notin (db)");
        let bad: crate::meta::LabelSelector = serde_json::from_value(json!({
            "matchExpressions": [{"key": "tier", "operator": "In"}]
        }))
        .unwrap();
        assert!(LabelSelector::from_meta(&bad).is_err());
    }

    #[test]
    fn from_map_renders_like_service_selectors() {
        let s = LabelSelector::from_map(&labels(&[("app", "nginx"), ("a", "b")])).unwrap();
        assert_eq!(s.to_string(), "a=b,app=nginx");
    }
}
