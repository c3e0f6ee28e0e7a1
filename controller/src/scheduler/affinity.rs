//! Required node affinity (`spec.affinity.nodeAffinity.
//! requiredDuringSchedulingIgnoredDuringExecution`): node selector terms,
//! any of which must match the node's labels (or its name, for
//! `matchFields` on `metadata.name`). The pod's `affinity` is kept as raw
//! JSON in the API types, so it is read once per decision here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use skiff_api::selector::{Operator, Requirement};

/// A node selector requirement as written in the pod.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequirement {
    #[serde(default)]
    key: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

impl RawRequirement {
    /// As a label requirement (same semantics); `None` for an operator
    /// node affinity does not have.
    fn into_requirement(self) -> Option<Requirement> {
        let operator = match self.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::GreaterThan,
            "Lt" => Operator::LessThan,
            _ => return None,
        };
        Some(Requirement {
            key: self.key,
            operator,
            values: self.values,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTerm {
    #[serde(default)]
    match_expressions: Vec<RawRequirement>,
    #[serde(default)]
    match_fields: Vec<RawRequirement>,
}

/// One node selector term. `None`: a requirement had an unknown operator,
/// so the term matches no node.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    requirements: Option<(Vec<Requirement>, Vec<Requirement>)>,
}

impl From<RawTerm> for Term {
    fn from(raw: RawTerm) -> Term {
        let convert = |rs: Vec<RawRequirement>| {
            rs.into_iter()
                .map(RawRequirement::into_requirement)
                .collect::<Option<Vec<_>>>()
        };
        let requirements = convert(raw.match_expressions).zip(convert(raw.match_fields));
        Term { requirements }
    }
}

/// The terms a node must match one of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequiredNodeAffinity {
    pub terms: Vec<Term>,
}

impl Term {
    /// A term with no requirements matches nothing, as in Kubernetes.
    fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        let Some((expressions, fields)) = &self.requirements else {
            return false;
        };
        if expressions.is_empty() && fields.is_empty() {
            return false;
        }
        expressions.iter().all(|r| r.matches(labels))
            && fields.iter().all(|r| {
                r.key == "metadata.name"
                    && matches!(r.operator, Operator::In | Operator::NotIn)
                    && r.matches_value(Some(name))
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
        let terms: Vec<RawTerm> = serde_json::from_value(terms).unwrap_or_default();
        Some(RequiredNodeAffinity {
            terms: terms.into_iter().map(Term::from).collect(),
        })
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

    #[test]
    fn an_unknown_operator_or_field_spoils_only_its_term() {
        let a = affinity(json!([
            {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "zone", "operator": "Equals", "values": ["a"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "Exists"}]},
            {"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["n2"]}]},
            {"matchExpressions": [{"key": "special", "operator": "Exists"}]}
        ]));
        assert!(!a.matches("n1", &labels(&[("zone", "a")])));
        assert!(!a.matches("n2", &labels(&[])));
        assert!(a.matches("n1", &labels(&[("zone", "a"), ("special", "")])));
    }
}
