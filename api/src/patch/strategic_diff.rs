//! Computing a strategic merge patch from two versions of an object, as
//! kubectl's `diffMaps` does: changed and added fields, `null` for removed
//! map keys, `{"$patch":"delete", key}` for removed merge-list elements,
//! `$deleteFromPrimitiveList/` for removed set values, `$setElementOrder/`
//! for merge lists in the patch, `$retainKeys` for retain-keys fields.

use serde_json::{Map, Value};

use super::merge_keys::{FieldStrategy, ListStrategy, Node};
use super::values::{
    DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, RETAIN_KEYS, SET_ELEMENT_ORDER, json_eq, key_of,
    position, same_type,
};

/// Which parts of the difference to keep.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DiffOptions {
    /// Leave out fields added or changed in `modified`.
    pub ignore_changes_and_additions: bool,
    /// Leave out fields removed in `modified`.
    pub ignore_deletions: bool,
}

/// The patch that takes `original` to `modified` (both objects at `node`);
/// `retain_keys` adds `$retainKeys` when the patch is not empty.
pub(crate) fn diff_maps(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    node: Node,
    retain_keys: bool,
    opts: DiffOptions,
    path: &str,
) -> Result<Map<String, Value>, String> {
    let mut patch = Map::new();
    for (key, new) in modified {
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let Some(old) = original.get(key) else {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), new.clone());
            }
            continue;
        };
        if key == DIRECTIVE {
            continue;
        }
        if !same_type(old, new) {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), new.clone());
            }
            continue;
        }
        let field = node.field(key);
        match (old, new) {
            (Value::Object(o), Value::Object(m)) => {
                let sub = diff_maps(o, m, field.node, field.retain_keys, opts, &child_path)?;
                if !sub.is_empty() {
                    patch.insert(key.clone(), Value::Object(sub));
                }
            }
            (Value::Array(o), Value::Array(m)) => match field.list {
                ListStrategy::Replace => {
                    if !opts.ignore_changes_and_additions && !json_eq(old, new) {
                        patch.insert(key.clone(), new.clone());
                    }
                }
                _ => diff_list(key, o, m, field, opts, &child_path, &mut patch)?,
            },
            _ => {
                if !opts.ignore_changes_and_additions && !json_eq(old, new) {
                    patch.insert(key.clone(), new.clone());
                }
            }
        }
    }
    if !opts.ignore_deletions {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    if retain_keys && !patch.is_empty() {
        let mut keys: Vec<&String> = modified
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        let keys = keys.into_iter().map(|k| Value::String(k.clone())).collect();
        patch.insert(RETAIN_KEYS.to_string(), Value::Array(keys));
    }
    Ok(patch)
}

/// Whether the elements both lists have appear in the same relative order.
/// (Elements only one side has do not count: server-added elements alone
/// should not make a patch.)
fn same_relative_order(original: &[Value], modified: &[Value], merge_key: Option<&str>) -> bool {
    let common: Vec<usize> = modified
        .iter()
        .filter_map(|m| key_of(m, merge_key).and_then(|id| position(original, id, merge_key)))
        .collect();
    common.windows(2).all(|w| w[0] < w[1])
}

/// Diffs a merge list (by key, or a set of scalars) into `patch[key]`,
/// `$deleteFromPrimitiveList/key` and `$setElementOrder/key`.
fn diff_list(
    key: &str,
    original: &[Value],
    modified: &[Value],
    field: FieldStrategy,
    opts: DiffOptions,
    path: &str,
    patch: &mut Map<String, Value>,
) -> Result<(), String> {
    if original.is_empty() {
        if !modified.is_empty() && !opts.ignore_changes_and_additions {
            patch.insert(key.to_string(), Value::Array(modified.to_vec()));
        }
        return Ok(());
    }
    let any_object = original.iter().chain(modified).any(Value::is_object);
    let (list, deleted, order) = match (field.list, any_object) {
        (ListStrategy::MergeByKey(merge_key), true) => {
            let (list, order) = diff_keyed(original, modified, merge_key, field, opts, path)?;
            (list, Vec::new(), order)
        }
        (_, false) => diff_scalars(original, modified, opts),
        (_, true) => {
            return Err(format!(
                "{path}: a list of objects needs a merge key to be diffed element by element"
            ));
        }
    };
    if !list.is_empty() {
        patch.insert(key.to_string(), Value::Array(list));
    }
    if !deleted.is_empty() {
        patch.insert(
            format!("{DELETE_FROM_PRIMITIVE_LIST}{key}"),
            Value::Array(deleted),
        );
    }
    if let Some(order) = order.filter(|o| !o.is_empty()) {
        patch.insert(format!("{SET_ELEMENT_ORDER}{key}"), Value::Array(order));
    }
    Ok(())
}

/// Lists merged by `merge_key`: changed elements (only their changed fields
/// plus the key), added elements whole, removed ones as delete directives.
fn diff_keyed(
    original: &[Value],
    modified: &[Value],
    merge_key: &str,
    field: FieldStrategy,
    opts: DiffOptions,
    path: &str,
) -> Result<(Vec<Value>, Option<Vec<Value>>), String> {
    let id = |e: &Value| -> Result<Value, String> {
        key_of(e, Some(merge_key)).cloned().ok_or_else(|| {
            format!("{path}: map {e} does not contain declared merge key: {merge_key}")
        })
    };
    let mut list = Vec::new();
    for m in modified {
        let m_id = id(m)?;
        match position(original, &m_id, Some(merge_key)) {
            Some(i) => {
                let (Some(o), Some(mm)) = (original[i].as_object(), m.as_object()) else {
                    return Err(format!("{path}: list elements must be objects"));
                };
                let mut sub = diff_maps(o, mm, field.node, field.retain_keys, opts, path)?;
                if !sub.is_empty() {
                    sub.insert(merge_key.to_string(), m_id);
                    list.push(Value::Object(sub));
                }
            }
            None => {
                if !opts.ignore_changes_and_additions {
                    list.push(m.clone());
                }
            }
        }
    }
    if !opts.ignore_deletions {
        for o in original {
            let o_id = id(o)?;
            if position(modified, &o_id, Some(merge_key)).is_none() {
                let mut directive = Map::new();
                directive.insert(DIRECTIVE.into(), Value::String("delete".into()));
                directive.insert(merge_key.to_string(), o_id);
                list.push(Value::Object(directive));
            }
        }
    }
    let reordered = !opts.ignore_changes_and_additions
        && !same_relative_order(original, modified, Some(merge_key));
    let order = (!list.is_empty() || reordered).then(|| {
        modified
            .iter()
            .filter_map(|m| {
                let mut only_key = Map::new();
                only_key.insert(merge_key.to_string(), key_of(m, Some(merge_key))?.clone());
                Some(Value::Object(only_key))
            })
            .collect()
    });
    Ok((list, order))
}

/// Sets of scalars: added values, removed values, and the new order when
/// anything changed.
fn diff_scalars(
    original: &[Value],
    modified: &[Value],
    opts: DiffOptions,
) -> (Vec<Value>, Vec<Value>, Option<Vec<Value>>) {
    let mut added: Vec<Value> = Vec::new();
    if !opts.ignore_changes_and_additions {
        for m in modified {
            if position(original, m, None).is_none() && position(&added, m, None).is_none() {
                added.push(m.clone());
            }
        }
    }
    let mut deleted: Vec<Value> = Vec::new();
    if !opts.ignore_deletions {
        for o in original {
            if position(modified, o, None).is_none() && position(&deleted, o, None).is_none() {
                deleted.push(o.clone());
            }
        }
    }
    let reordered =
        !opts.ignore_changes_and_additions && !same_relative_order(original, modified, None);
    let changed = !added.is_empty() || !deleted.is_empty() || reordered;
    (added, deleted, changed.then(|| modified.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::by_kind;
    use serde_json::json;

    fn diff(original: Value, modified: Value, opts: DiffOptions) -> Value {
        let node = Node::root(by_kind("apps/v1", "Deployment").unwrap());
        Value::Object(
            diff_maps(
                original.as_object().unwrap(),
                modified.as_object().unwrap(),
                node,
                false,
                opts,
                "",
            )
            .unwrap(),
        )
    }

    fn full() -> DiffOptions {
        DiffOptions::default()
    }

    #[test]
    fn scalars_maps_and_removed_keys() {
        let p = diff(
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}}),
            json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"replicas": 2}}),
            full(),
        );
        assert_eq!(
            p,
            json!({"metadata": {"labels": {"b": null, "c": "3"}}, "spec": {"replicas": 2}})
        );
    }

    #[test]
    fn keyed_lists() {
        let p = diff(
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "x2"}, {"name": "c", "image": "z"}]}}}}),
            full(),
        );
        assert_eq!(
            p,
            json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
            "containers": [{"name": "a", "image": "x2"}, {"name": "c", "image": "z"},
                           {"$patch": "delete", "name": "b"}]}}}})
        );
    }

    #[test]
    fn reorder_only_emits_the_order() {
        let p = diff(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b"}, {"name": "a"}]}}}}),
            full(),
        );
        assert_eq!(
            p,
            json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}})
        );
    }

    #[test]
    fn primitive_sets() {
        let p = diff(
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
            full(),
        );
        assert_eq!(
            p,
            json!({"metadata": {
            "finalizers": ["c"],
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "$setElementOrder/finalizers": ["b", "c"]}})
        );
    }

    #[test]
    fn retain_keys_for_strategy() {
        let p = diff(
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
            DiffOptions {
                ignore_deletions: true,
                ..full()
            },
        );
        assert_eq!(
            p,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
        );
    }

    #[test]
    fn options_filter_the_diff() {
        let o = json!({"spec": {"replicas": 1, "paused": true}});
        let m = json!({"spec": {"replicas": 2, "minReadySeconds": 5}});
        assert_eq!(
            diff(
                o.clone(),
                m.clone(),
                DiffOptions {
                    ignore_deletions: true,
                    ..full()
                }
            ),
            json!({"spec": {"replicas": 2, "minReadySeconds": 5}})
        );
        assert_eq!(
            diff(
                o,
                m,
                DiffOptions {
                    ignore_changes_and_additions: true,
                    ..full()
                }
            ),
            json!({"spec": {"paused": null}})
        );
    }

    #[test]
    fn replace_lists_compare_whole() {
        let p = diff(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["1", "2"]}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["1"]}]}}}}),
            full(),
        );
        assert_eq!(
            p,
            json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "a", "args": ["1"]}]}}}})
        );
    }

    #[test]
    fn missing_merge_key_is_an_error() {
        let node = Node::root(by_kind("apps/v1", "Deployment").unwrap());
        let o = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        let m = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}});
        let err = diff_maps(
            o.as_object().unwrap(),
            m.as_object().unwrap(),
            node,
            false,
            full(),
            "",
        )
        .unwrap_err();
        assert!(err.contains("merge key: name"), "{err}");
    }
}
