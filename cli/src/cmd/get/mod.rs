//! `skiff get`: Tables from the server laid out like kubectl's, or the
//! objects as YAML, JSON or names; `-w` keeps printing changes.

mod watch;

use clap::Args;
use serde_json::Value;
use skiff_client::{DynamicApi, ListParams};

use crate::context::Ctx;
use crate::errors::{CliError, CliResult, describe_client_error};
use crate::kinds::{self, Selection};
use crate::output;
use crate::printer::Output;
use crate::printer::objects;
use crate::printer::table::{Layout, TableData, TableOptions};

/// kubectl lists in pages of 500.
pub const PAGE: u32 = 500;

#[derive(Args, Debug, Clone)]
pub struct GetArgs {
    /// `KIND[,KIND...] [NAME...]` or `KIND/NAME...` (`all` for every common kind).
    #[arg(value_name = "KIND [NAME...]")]
    pub args: Vec<String>,
    /// Output format: wide, yaml, json or name.
    #[arg(short = 'o', long, value_name = "FORMAT")]
    pub output: Option<String>,
    /// Label selector (`app=nginx,tier!=db`).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Field selector (`metadata.name=x`, `spec.nodeName=n1`).
    #[arg(long, value_name = "SELECTOR")]
    pub field_selector: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// After listing, keep printing changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Print only the changes, not the current objects.
    #[arg(long)]
    pub watch_only: bool,
    /// Add a LABELS column.
    #[arg(long)]
    pub show_labels: bool,
    /// Leave out the header line.
    #[arg(long)]
    pub no_headers: bool,
    /// A missing named object is not an error.
    #[arg(long)]
    pub ignore_not_found: bool,
}

impl GetArgs {
    fn list_params(&self) -> ListParams {
        ListParams {
            label_selector: self.selector.clone(),
            field_selector: self.field_selector.clone(),
            ..Default::default()
        }
    }

    /// The namespace to list in: `None` with `-A`.
    fn list_namespace<'a>(&self, ctx: &'a Ctx) -> Option<&'a str> {
        (!self.all_namespaces).then_some(ctx.namespace.as_str())
    }
}

fn api_for(ctx: &Ctx, sel: &Selection, all_namespaces: bool) -> DynamicApi {
    if all_namespaces && sel.rt.namespaced {
        DynamicApi::all(ctx.client.clone(), sel.rt)
    } else {
        DynamicApi::namespaced(ctx.client.clone(), sel.rt, &ctx.namespace)
    }
}

/// `No resources found in default namespace.` (or without the namespace).
pub fn no_resources(selections: &[Selection], namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if selections.iter().any(|s| s.rt.namespaced) => {
            format!("No resources found in {ns} namespace.")
        }
        _ => "No resources found".to_string(),
    }
}

pub async fn run(ctx: &Ctx, args: GetArgs) -> CliResult {
    let out = Output::parse(args.output.as_deref()).map_err(CliError::Message)?;
    if args.args.is_empty() {
        return Err(CliError::Raw(
            "You must specify the type of resource to get. Use \"skiff get all\" to list the common kinds.\n\nerror: Required resource not specified."
                .into(),
        ));
    }
    let selections = kinds::parse_targets(&args.args)?;
    let named = selections.iter().any(|s| !s.names.is_empty());
    if named && args.selector.is_some() {
        return Err(CliError::msg(
            "name cannot be provided when a selector is specified",
        ));
    }
    if named && args.all_namespaces {
        return Err(CliError::msg(
            "a resource cannot be retrieved by name across all namespaces",
        ));
    }
    if args.watch || args.watch_only {
        return watch::run(ctx, &args, out, &selections).await;
    }
    let mut errors = Vec::new();
    if out.is_table() {
        print_tables(ctx, &args, out, &selections, &mut errors).await;
    } else {
        print_objects(ctx, &args, out, &selections, &mut errors).await;
    }
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors {
        output::eprint_line(&e);
    }
    Err(CliError::Reported)
}

/// Fetches the Table(s) of one selection: the list, or each named object.
async fn fetch_table(
    ctx: &Ctx,
    args: &GetArgs,
    sel: &Selection,
    errors: &mut Vec<String>,
) -> Option<TableData> {
    let api = api_for(ctx, sel, args.all_namespaces);
    if sel.names.is_empty() {
        return match api.list_table(&args.list_params().limit(PAGE)).await {
            Ok(v) => Some(TableData::from_value(&v)),
            Err(e) => {
                errors.push(describe_client_error(&e, None));
                None
            }
        };
    }
    let mut merged: Option<TableData> = None;
    for name in &sel.names {
        match api.get_table(name).await {
            Ok(v) => {
                let t = TableData::from_value(&v);
                match merged.as_mut() {
                    None => merged = Some(t),
                    Some(m) => m.rows.extend(t.rows),
                }
            }
            Err(e) if e.is_not_found() && args.ignore_not_found => {}
            Err(e) => errors.push(describe_client_error(&e, None)),
        }
    }
    merged
}

async fn print_tables(
    ctx: &Ctx,
    args: &GetArgs,
    out: Output,
    selections: &[Selection],
    errors: &mut Vec<String>,
) {
    let several = selections.len() > 1;
    let mut sections = Vec::new();
    for sel in selections {
        let Some(table) = fetch_table(ctx, args, sel, errors).await else {
            continue;
        };
        if table.rows.is_empty() {
            continue;
        }
        let opts = TableOptions {
            wide: out == Output::Wide,
            namespace_column: args.all_namespaces && sel.rt.namespaced,
            show_labels: args.show_labels,
            kind_prefix: several.then(|| kinds::kind_group(sel.rt)),
        };
        let mut lines = Vec::new();
        if !args.no_headers {
            lines.push(opts.header(&table));
        }
        lines.extend(table.rows.iter().map(|r| opts.row(&table, r)));
        let mut layout = Layout::default();
        layout.fit(&lines);
        sections.push(layout.render(&lines));
    }
    if !sections.is_empty() {
        output::print(&sections.join("\n"));
    } else if errors.is_empty() && selections.iter().all(|s| s.names.is_empty()) {
        output::eprint_line(&no_resources(selections, args.list_namespace(ctx)));
    }
}

/// The objects of every selection, ready to print.
async fn fetch_objects(
    ctx: &Ctx,
    args: &GetArgs,
    selections: &[Selection],
    errors: &mut Vec<String>,
) -> Vec<(&'static skiff_api::ResourceType, Value)> {
    let mut items = Vec::new();
    for sel in selections {
        let api = api_for(ctx, sel, args.all_namespaces);
        if sel.names.is_empty() {
            match api.list_all(&args.list_params().limit(PAGE)).await {
                Ok(list) => {
                    if let Some(Value::Array(a)) = list.get("items") {
                        items.extend(
                            a.iter()
                                .map(|o| (sel.rt, objects::prepare(o.clone(), sel.rt))),
                        );
                    }
                }
                Err(e) => errors.push(describe_client_error(&e, None)),
            }
            continue;
        }
        for name in &sel.names {
            match api.get(name).await {
                Ok(o) => items.push((sel.rt, objects::prepare(o, sel.rt))),
                Err(e) if e.is_not_found() && args.ignore_not_found => {}
                Err(e) => errors.push(describe_client_error(&e, None)),
            }
        }
    }
    items
}

async fn print_objects(
    ctx: &Ctx,
    args: &GetArgs,
    out: Output,
    selections: &[Selection],
    errors: &mut Vec<String>,
) {
    let items = fetch_objects(ctx, args, selections, errors).await;
    let single = selections.len() == 1 && selections[0].names.len() == 1;
    match out {
        Output::Name => {
            if items.is_empty() && errors.is_empty() && !single {
                output::eprint_line(&no_resources(selections, args.list_namespace(ctx)));
            }
            for (rt, o) in &items {
                output::print_line(&objects::name_line(rt, o));
            }
        }
        Output::Yaml | Output::Json => {
            let value = if single {
                match items.into_iter().next() {
                    Some((_, o)) => o,
                    None => return,
                }
            } else {
                objects::list(items.into_iter().map(|(_, o)| o).collect())
            };
            output::print(&if out == Output::Yaml {
                objects::to_yaml(&value)
            } else {
                objects::to_json(&value)
            });
        }
        Output::Table | Output::Wide => {}
    }
}
