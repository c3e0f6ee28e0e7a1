//! `skiff get -w`: list, then print one line (or object) per change from
//! the list's resourceVersion on, until the user interrupts (or the server
//! goes away).

use futures::StreamExt;
use serde_json::Value;
use skiff_client::{DynamicApi, ListParams, WatchEvent};

use super::{GetArgs, PAGE, api_for, no_resources};
use crate::context::Ctx;
use crate::errors::{CliError, CliResult, describe_status};
use crate::kinds::Selection;
use crate::output;
use crate::printer::Output;
use crate::printer::objects;
use crate::printer::table::{Layout, TableData, TableOptions};

/// What the watch prints with.
struct Printer {
    out: Output,
    rt: &'static skiff_api::ResourceType,
    opts: TableOptions,
    layout: Layout,
    /// Column definitions of the first Table seen (later events may omit them).
    columns: Vec<crate::printer::table::Column>,
    header_printed: bool,
    no_headers: bool,
}

impl Printer {
    fn table(&mut self, mut t: TableData) {
        if t.columns.is_empty() {
            t.columns = self.columns.clone();
        } else if self.columns.is_empty() {
            self.columns = t.columns.clone();
        }
        if t.rows.is_empty() {
            return;
        }
        let mut lines = Vec::new();
        if !self.header_printed && !self.no_headers {
            lines.push(self.opts.header(&t));
        }
        self.header_printed = true;
        lines.extend(t.rows.iter().map(|r| self.opts.row(&t, r)));
        self.layout.fit(&lines);
        output::print(&self.layout.render(&lines));
    }

    fn object(&mut self, o: Value) {
        let o = objects::prepare(o, self.rt);
        match self.out {
            Output::Name => output::print_line(&objects::name_line(self.rt, &o)),
            Output::Json => output::print(&objects::to_json(&o)),
            _ => output::print(&format!("---\n{}", objects::to_yaml(&o))),
        }
    }

    fn event_object(&mut self, o: Value) {
        if self.out.is_table() {
            self.table(TableData::from_value(&o));
        } else {
            self.object(o);
        }
    }
}

/// The resourceVersion an event object carries (a Table's is on its row).
fn resource_version_of(o: &Value) -> Option<String> {
    o.pointer("/rows/0/object/metadata/resourceVersion")
        .or_else(|| o.pointer("/metadata/resourceVersion"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Lists (printing unless `print` is false) and returns the list's resourceVersion.
async fn list(
    api: &DynamicApi,
    lp: &ListParams,
    p: &mut Printer,
    print: bool,
) -> CliResult<String> {
    if p.out.is_table() {
        let v = api.list_table(&lp.clone().limit(PAGE)).await?;
        let t = TableData::from_value(&v);
        let rv = t.resource_version.clone();
        if print {
            p.table(t);
        } else if p.columns.is_empty() {
            p.columns = t.columns;
        }
        Ok(rv)
    } else {
        let v = api.list_all(&lp.clone().limit(PAGE)).await?;
        if print && let Some(Value::Array(items)) = v.get("items") {
            for o in items {
                p.object(o.clone());
            }
        }
        Ok(v.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }
}

pub async fn run(ctx: &Ctx, args: &GetArgs, out: Output, selections: &[Selection]) -> CliResult {
    let [sel] = selections else {
        return Err(CliError::msg("you may only specify a single resource type"));
    };
    if sel.names.len() > 1 {
        return Err(CliError::msg(format!(
            "watch is only supported on individual resources and resource collections, but {} resources were found",
            sel.names.len()
        )));
    }
    let mut lp = args.list_params();
    if let Some(name) = sel.names.first() {
        let by_name = format!("metadata.name={name}");
        lp.field_selector = Some(match lp.field_selector.take().filter(|s| !s.is_empty()) {
            Some(f) => format!("{by_name},{f}"),
            None => by_name,
        });
    }
    let api = api_for(ctx, sel, args.all_namespaces);
    let mut p = Printer {
        out,
        rt: sel.rt,
        opts: TableOptions {
            wide: out == Output::Wide,
            namespace_column: args.all_namespaces && sel.rt.namespaced,
            show_labels: args.show_labels,
            kind_prefix: None,
        },
        layout: Layout::default(),
        columns: Vec::new(),
        header_printed: false,
        no_headers: args.no_headers,
    };
    let mut rv = list(&api, &lp, &mut p, !args.watch_only).await?;
    if !args.watch_only && !p.header_printed && out.is_table() && sel.names.is_empty() {
        output::eprint_line(&no_resources(selections, args.list_namespace(ctx)));
    }
    loop {
        let mut stream = if out.is_table() {
            api.watch_table(&lp, &rv).await?
        } else {
            api.watch(&lp, &rv).await?
        };
        let mut expired = false;
        while let Some(event) = stream.next().await {
            match event? {
                WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                    if let Some(v) = resource_version_of(&o) {
                        rv = v;
                    }
                    p.event_object(o);
                }
                WatchEvent::Bookmark { resource_version } => rv = resource_version,
                WatchEvent::Error(status) if status.code == 410 => {
                    expired = true;
                    break;
                }
                WatchEvent::Error(status) => {
                    return Err(CliError::Raw(describe_status(&status, None)));
                }
            }
        }
        if expired {
            // History was compacted past our resourceVersion: start again from now.
            rv = list(&api, &lp, &mut p, false).await?;
        }
        // Otherwise the server ended the stream (a timeout): go on from where it stopped.
    }
}
