//! `skiff describe`: a person-readable account of objects, kind by kind,
//! with the events that concern them, laid out like kubectl's.

mod containers;
mod deployment;
mod events;
mod generic;
mod node;
mod pod;
mod service;
mod writer;

use clap::Args;
use serde_json::Value;
use skiff_api::ResourceType;
use skiff_client::{DynamicApi, ListParams};

use crate::context::Ctx;
use crate::errors::{CliError, CliResult, describe_client_error};
use crate::{kinds, output};

pub use writer::Describer;

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// `KIND [NAME...]` or `KIND/NAME...`; a name may be a prefix.
    #[arg(value_name = "KIND [NAME...]")]
    pub args: Vec<String>,
    /// Describe the objects matching this label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// With a kind only: in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Show the events of each object.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value = "true", default_missing_value = "true")]
    pub show_events: String,
}

pub async fn run(ctx: &Ctx, args: DescribeArgs) -> CliResult {
    if args.args.is_empty() {
        return Err(CliError::msg(
            "You must specify the type of resource to describe. Use \"skiff get all\" to list the common kinds.",
        ));
    }
    let show_events = !matches!(args.show_events.as_str(), "false" | "0" | "f");
    let selections = kinds::parse_targets(&args.args)?;
    let mut errors = Vec::new();
    let mut objects: Vec<(&'static ResourceType, Value)> = Vec::new();
    let mut listed = false;
    for sel in &selections {
        let api = if args.all_namespaces && sel.rt.namespaced {
            DynamicApi::all(ctx.client.clone(), sel.rt)
        } else {
            DynamicApi::namespaced(ctx.client.clone(), sel.rt, &ctx.namespace)
        };
        if sel.names.is_empty() {
            listed = true;
            let lp = ListParams {
                label_selector: args.selector.clone(),
                ..Default::default()
            };
            match api.list_all(&lp).await {
                Ok(list) => objects.extend(
                    list.get("items")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|o| (sel.rt, o.clone())),
                ),
                Err(e) => errors.push(describe_client_error(&e, None)),
            }
            continue;
        }
        for name in &sel.names {
            match api.get(name).await {
                Ok(o) => objects.push((sel.rt, o)),
                Err(e) if e.is_not_found() => {
                    // kubectl falls back to objects whose names start with the given one.
                    match by_prefix(&api, name).await {
                        found if !found.is_empty() => {
                            objects.extend(found.into_iter().map(|o| (sel.rt, o)))
                        }
                        _ => errors.push(describe_client_error(&e, None)),
                    }
                }
                Err(e) => errors.push(describe_client_error(&e, None)),
            }
        }
    }
    let mut texts = Vec::new();
    for (rt, obj) in &objects {
        texts.push(describe_object(ctx, rt, obj, show_events).await);
    }
    if !texts.is_empty() {
        output::print(&texts.join("\n\n"));
    } else if listed && errors.is_empty() {
        let ns = (!args.all_namespaces).then_some(ctx.namespace.as_str());
        output::eprint_line(&crate::cmd::get::no_resources(&selections, ns));
    }
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors {
        output::eprint_line(&e);
    }
    Err(CliError::Reported)
}

async fn by_prefix(api: &DynamicApi, prefix: &str) -> Vec<Value> {
    let Ok(list) = api.list_all(&ListParams::default()).await else {
        return Vec::new();
    };
    list.get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|o| writer::text(o, "/metadata/name").starts_with(prefix))
        .cloned()
        .collect()
}

/// The whole description of one object, events included.
pub async fn describe_object(
    ctx: &Ctx,
    rt: &'static ResourceType,
    obj: &Value,
    show_events: bool,
) -> String {
    let mut d = Describer::new();
    match (rt.group, rt.kind) {
        ("apps", "Deployment") => deployment::describe(ctx, obj, &mut d).await,
        ("", "Pod") => pod::describe(obj, &mut d),
        ("", "Service") => service::describe(ctx, obj, &mut d).await,
        ("", "Node") => node::describe(ctx, obj, &mut d).await,
        _ => generic::describe(rt, obj, &mut d),
    }
    if show_events {
        events::describe(ctx, rt, obj, &mut d).await;
    }
    d.finish()
}

/// Name, Namespace (namespaced kinds), CreationTimestamp, Labels, Annotations.
pub fn header(rt_namespaced: bool, obj: &Value, d: &mut Describer) {
    d.field(0, "Name", writer::text(obj, "/metadata/name"));
    if rt_namespaced {
        d.field(0, "Namespace", writer::text(obj, "/metadata/namespace"));
    }
    d.field(
        0,
        "CreationTimestamp",
        &writer::time(obj, "/metadata/creationTimestamp"),
    );
    d.labels(0, "Labels", obj.pointer("/metadata/labels"));
    d.annotations(0, "Annotations", obj.pointer("/metadata/annotations"));
}
