//! Required node affinity (`spec.affinity.nodeAffinity.
//! requiredDuringSchedulingIgnoredDuringExecution`): node selector terms,
//! any of which must match the node's labels (or its name, for
//! `matchFields` on `metadata.name`). The pod's `affinity` is kept as raw
//! JSON in the API types, so it is read once per decision here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Term {
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
    #[serde(default)]
    pub match_fields: Vec<Requirement>,
}

/// The terms a node must match one of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequiredNodeAffinity {
    pub terms: Vec<Term>,
}

fn matches_value(r: &Requirement, value: Option<&str>) -> bool {
    let number = |s: &str| s.parse::<i64>().ok();
    match (r.operator.as_str(), value) {
        ("In", Some(v)) => r.values.iter().any(|x| x == v),
        ("In", None) => false,
        ("NotIn", Some(v)) => !r.values.iter().any(|x| x == v),
        ("NotIn", None) => true,
        ("Exists", v) => v.is_some(),
        ("DoesNotExist", v) => v.is_none(),
        ("Gt" | "Lt", Some(v)) => {
            let (Some(have), Some(want)) = (number(v), r.values.first().and_then(|w| number(w)))
            else {
                return false;
            };
            if r.operator == "Gt" {
                have > want
            } else {
                have < want
            }
        }
        _ => false,
    }
}

impl Term {
    /// A term with no requirements matches nothing, as in Kubernetes.
    fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        self.match_expressions
            .iter()
            .all(|r| matches_value(r, labels.get(&r.key).map(String::as_str)))
            && self.match_fields.iter().all(|r| {
                r.key == "metadata.name"
                    && matches!(r.operator.as_str(), "In" | "NotIn")
                    && matches_value(r, Some(name))
            })
    }
}

impl RequiredNodeAffinity {
    /// The required node affinity in a pod's `spec.affinity`, if any.
    pub fn of(affinity: Option<&Value>) -> Option<RequiredNodeAffinity> {
        let required =
            affinity?.pointer("/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution")?;
        let terms = required
            .get("nodeSelectorTerms")
            .cloned()
            .unwrap_or(Value::Null);
        let terms: Vec<Term> = serde_json::from_value(terms).unwrap_or_default();
        Some(RequiredNodeAffinity { terms })
    }

    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.terms.iter().any(|t| t.matches(name, labels))
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

    fn affinity(terms: Value) -> RequiredNodeAffinity {
        RequiredNodeAffinity::of(Some(&json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }})))
        .unwrap()
    }

    #[test]
    fn terms_are_ored_and_requirements_anded() {
        let a = affinity(json!([
            {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]},
                {"key": "cores", "operator": "Gt", "values": ["8"]}]},
            {"matchExpressions": [{"key": "special", "operator": "Exists"}]}
        ]));
        assert!(a.matches("n", &labels(&[("zone", "a"), ("cores", "16")])));
        assert!(!a.matches("n", &labels(&[("zone", "a"), ("cores", "4")])));
        assert!(!a.matches("n", &labels(&[("zone", "c"), ("cores", "16")])));
        assert!(a.matches("n", &labels(&[("special", "")])));
    }

    #[test]
    fn operators_and_fields() {
        let a = affinity(json!([{"matchExpressions": [
            {"key": "zone", "operator": "NotIn", "values": ["a"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "cores", "operator": "Lt", "values": ["8"]}]}]));
        assert!(a.matches("n", &labels(&[("zone", "b"), ("cores", "4")])));
        assert!(!a.matches("n", &labels(&[("cores", "4"), ("legacy", "y")])));
        assert!(!a.matches("n", &labels(&[("cores", "x")])));
        let by_name = affinity(json!([{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]));
        assert!(by_name.matches("n1", &labels(&[])));
        assert!(!by_name.matches("n2", &labels(&[])));
        // An empty term matches no node.
        assert!(!affinity(json!([{}])).matches("n1", &labels(&[])));
        // No required affinity at all: no restriction.
        assert!(RequiredNodeAffinity::of(Some(&json!({"nodeAffinity": {}}))).is_none());
        assert!(RequiredNodeAffinity::of(None).is_none());
    }
}
