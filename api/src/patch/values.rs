//! JSON helpers shared by the strategic merge apply and diff code: the
//! directive names, comparisons that treat `80` and `80.0` alike, and
//! list re-ordering.

use serde_json::{Map, Value};

/// `{"$patch": "delete" | "replace" | "merge"}`.
pub(crate) const DIRECTIVE: &str = "$patch";
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
pub(crate) const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
pub(crate) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Same JSON type (object, array, string, number, bool, null).
pub(crate) fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Deep equality, with numbers compared by value.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The merge-key value of a list element, if it is an object that has it.
pub(crate) fn key_of<'a>(element: &'a Value, merge_key: Option<&str>) -> Option<&'a Value> {
    match merge_key {
        Some(k) => element.as_object().and_then(|m| m.get(k)),
        None => Some(element),
    }
}

/// Index of the first element of `list` whose identity (merge-key value,
/// or the scalar itself) equals `id`.
pub(crate) fn position(list: &[Value], id: &Value, merge_key: Option<&str>) -> Option<usize> {
    list.iter()
        .position(|e| key_of(e, merge_key).is_some_and(|k| json_eq(k, id)))
}

/// Orders a merged list the way Kubernetes does after a strategic merge:
/// the elements named in `order` come in that order, and the others (only
/// in the live list) keep their place relative to the elements they sat
/// next to in `server` (the list before the merge).
pub(crate) fn normalize_order(
    merged: Vec<Value>,
    order: &[Value],
    server: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let order_ids: Vec<&Value> = order.iter().filter_map(|e| key_of(e, merge_key)).collect();
    let rank =
        |e: &Value| key_of(e, merge_key).and_then(|k| order_ids.iter().position(|o| json_eq(o, k)));
    let (mut named, server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|e| rank(e).is_some());
    named.sort_by_key(|e| rank(e).unwrap_or(usize::MAX));

    let server_index =
        |e: &Value| key_of(e, merge_key).and_then(|k| position(server, k, merge_key));
    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut named = named.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        match (server_only.peek(), named.peek()) {
            (Some(left), Some(right)) => {
                let left_first = matches!(
                    (server_index(left), server_index(right)),
                    (Some(l), Some(r)) if l < r
                );
                let next = if left_first {
                    server_only.next()
                } else {
                    named.next()
                };
                out.extend(next);
            }
            (Some(_), None) => out.extend(server_only.next()),
            (None, Some(_)) => out.extend(named.next()),
            (None, None) => return out,
        }
    }
}

/// Drops `null` map entries and directive-bearing list elements, for values
/// stored as they are (lists with the replace strategy).
pub(crate) fn clean(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|e| e.get(DIRECTIVE).is_none())
                .map(clean)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `$patch`, `$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`.
pub(crate) fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(v: Value) -> Vec<Value> {
        v.as_array().unwrap().clone()
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(80), &json!(80.0)));
        assert!(json_eq(&json!({"a":[1,2]}), &json!({"a":[1.0,2]})));
        assert!(!json_eq(&json!(80), &json!("80")));
        assert!(!json_eq(&json!({"a":1}), &json!({"a":1,"b":2})));
    }

    #[test]
    fn new_items_come_first_without_an_order_like_kubernetes() {
        let server = list(json!([{"name":"a"},{"name":"b"}]));
        let merged = list(json!([{"name":"a"},{"name":"b"},{"name":"c"}]));
        let order = list(json!([{"name":"c"}]));
        let out = normalize_order(merged, &order, &server, Some("name"));
        assert_eq!(
            Value::Array(out),
            json!([{"name":"c"},{"name":"a"},{"name":"b"}])
        );
    }

    #[test]
    fn server_only_items_keep_their_place() {
        let server = list(json!(["a", "x", "b"]));
        let merged = list(json!(["a", "x", "b", "c"]));
        let order = list(json!(["a", "b", "c"]));
        let out = normalize_order(merged, &order, &server, None);
        assert_eq!(Value::Array(out), json!(["a", "x", "b", "c"]));
    }

    #[test]
    fn clean_drops_nulls_and_directives() {
        let v = json!([{"a":null,"b":1,"$retainKeys":["b"]},{"$patch":"delete","name":"x"}]);
        assert_eq!(clean(&v), json!([{"b":1}]));
    }
}
