//! Tables as `kubectl get` prints them: upper-case headers, priority > 0
//! columns only with `-o wide`, a NAMESPACE column with `-A`, LABELS with
//! `--show-labels`, `kind.group/` name prefixes when several kinds are shown.
//! A server that answers with plain objects gets the NAME / AGE fallback.

use serde_json::Value;

use crate::age;

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub priority: i64,
    pub is_name: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<String>,
    pub namespace: String,
    /// `a=b,c=d` (sorted), or empty.
    pub labels: String,
}

/// A Table (or what we could make of a non-Table answer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableData {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub resource_version: String,
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

fn labels_text(meta: Option<&Value>) -> String {
    let Some(Value::Object(labels)) = meta.and_then(|m| m.get("labels")) else {
        return String::new();
    };
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.join(",")
}

impl TableData {
    /// From a server answer: a `Table`, a list, or one object.
    pub fn from_value(v: &Value) -> TableData {
        if v.get("kind").and_then(Value::as_str) == Some("Table") {
            return TableData::from_table(v);
        }
        let items: Vec<&Value> = match v.get("items").and_then(Value::as_array) {
            Some(items) => items.iter().collect(),
            None if v.get("metadata").is_some() => vec![v],
            None => Vec::new(),
        };
        TableData {
            columns: vec![
                Column {
                    name: "Name".into(),
                    priority: 0,
                    is_name: true,
                },
                Column {
                    name: "Age".into(),
                    priority: 0,
                    is_name: false,
                },
            ],
            rows: items.into_iter().map(fallback_row).collect(),
            resource_version: resource_version(v),
        }
    }

    fn from_table(v: &Value) -> TableData {
        let defs = v
            .get("columnDefinitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut columns: Vec<Column> = defs
            .iter()
            .map(|d| Column {
                name: d
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                priority: d.get("priority").and_then(Value::as_i64).unwrap_or(0),
                is_name: d.get("format").and_then(Value::as_str) == Some("name"),
            })
            .collect();
        if !columns.iter().any(|c| c.is_name)
            && let Some(first) = columns
                .iter_mut()
                .find(|c| c.name.eq_ignore_ascii_case("name"))
        {
            first.is_name = true;
        }
        let rows = v
            .get("rows")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        let meta = r.pointer("/object/metadata");
                        Row {
                            cells: r
                                .get("cells")
                                .and_then(Value::as_array)
                                .map(|c| c.iter().map(cell_text).collect())
                                .unwrap_or_default(),
                            namespace: meta
                                .and_then(|m| m.get("namespace"))
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            labels: labels_text(meta),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        TableData {
            columns,
            rows,
            resource_version: resource_version(v),
        }
    }
}

fn resource_version(v: &Value) -> String {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The NAME / AGE row kubectl shows for an object when no Table came back.
fn fallback_row(o: &Value) -> Row {
    let meta = o.get("metadata");
    let field = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Row {
        cells: vec![
            field("name"),
            age::age_of(meta.and_then(|m| m.get("creationTimestamp"))),
        ],
        namespace: field("namespace"),
        labels: labels_text(meta),
    }
}

/// How to lay a table out.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    pub wide: bool,
    pub namespace_column: bool,
    pub show_labels: bool,
    /// `deployment.apps`: names print as `deployment.apps/x`.
    pub kind_prefix: Option<String>,
}

impl TableOptions {
    fn visible(&self, c: &Column) -> bool {
        c.priority == 0 || self.wide
    }

    pub fn header(&self, t: &TableData) -> Vec<String> {
        let mut out = Vec::new();
        if self.namespace_column {
            out.push("NAMESPACE".to_string());
        }
        out.extend(
            t.columns
                .iter()
                .filter(|c| self.visible(c))
                .map(|c| c.name.to_uppercase()),
        );
        if self.show_labels {
            out.push("LABELS".into());
        }
        out
    }

    pub fn row(&self, t: &TableData, r: &Row) -> Vec<String> {
        let mut out = Vec::new();
        if self.namespace_column {
            out.push(r.namespace.clone());
        }
        for (i, c) in t.columns.iter().enumerate() {
            if !self.visible(c) {
                continue;
            }
            let cell = r.cells.get(i).cloned().unwrap_or_default();
            match (&self.kind_prefix, c.is_name) {
                (Some(p), true) => out.push(format!("{p}/{cell}")),
                _ => out.push(cell),
            }
        }
        if self.show_labels {
            out.push(if r.labels.is_empty() {
                "<none>".into()
            } else {
                r.labels.clone()
            });
        }
        out
    }
}

/// Lays out lines of cells like kubectl's tab writer (min width 6, padding
/// 3, last column unpadded). Column widths only grow, so the rows of a
/// watch line up with the table printed before them.
#[derive(Debug, Default)]
pub struct Layout {
    widths: Vec<usize>,
}

impl Layout {
    /// Widens the columns for `lines` (call before [`Layout::render`]).
    pub fn fit(&mut self, lines: &[Vec<String>]) {
        for line in lines {
            for (i, cell) in line.iter().enumerate() {
                if i + 1 == line.len() {
                    break;
                }
                let w = (cell.chars().count() + 3).max(6);
                if self.widths.len() <= i {
                    self.widths.resize(i + 1, 0);
                }
                self.widths[i] = self.widths[i].max(w);
            }
        }
    }

    pub fn render(&self, lines: &[Vec<String>]) -> String {
        let mut out = String::new();
        for line in lines {
            for (i, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < line.len() {
                    let width = self.widths.get(i).copied().unwrap_or(0);
                    let pad = width.saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployments() -> Value {
        json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"7"},
            "columnDefinitions":[
                {"name":"Name","type":"string","format":"name","priority":0},
                {"name":"Ready","type":"string","format":"","priority":0},
                {"name":"Up-to-date","type":"integer","format":"","priority":0},
                {"name":"Age","type":"string","format":"","priority":0},
                {"name":"Images","type":"string","format":"","priority":1}],
            "rows":[{"cells":["nginx-deployment","2/2",2,"5s","nginx:latest"],
                "object":{"metadata":{"name":"nginx-deployment","namespace":"default","labels":{"b":"2","a":"1"}}}}]})
    }

    fn render(t: &TableData, o: &TableOptions) -> String {
        let mut lines = vec![o.header(t)];
        lines.extend(t.rows.iter().map(|r| o.row(t, r)));
        let mut l = Layout::default();
        l.fit(&lines);
        l.render(&lines)
    }

    #[test]
    fn plain_wide_and_all_namespaces() {
        let t = TableData::from_value(&deployments());
        assert_eq!(t.resource_version, "7");
        assert_eq!(
            render(&t, &TableOptions::default()),
            "NAME               READY   UP-TO-DATE   AGE\nnginx-deployment   2/2     2            5s\n"
        );
        let wide = render(
            &t,
            &TableOptions {
                wide: true,
                namespace_column: true,
                show_labels: true,
                kind_prefix: Some("deployment.apps".into()),
            },
        );
        assert_eq!(
            wide,
            "NAMESPACE   NAME                               READY   UP-TO-DATE   AGE   IMAGES         LABELS\n\
             default     deployment.apps/nginx-deployment   2/2     2            5s    nginx:latest   a=1,b=2\n"
        );
    }

    #[test]
    fn objects_without_a_table_get_name_and_age() {
        let t = TableData::from_value(&json!({"kind":"PodList","metadata":{"resourceVersion":"3"},
            "items":[{"metadata":{"name":"p","namespace":"ns"}}]}));
        assert_eq!(
            t.rows[0].cells,
            vec!["p".to_string(), "<unknown>".to_string()]
        );
        assert_eq!(t.rows[0].namespace, "ns");
    }
}
