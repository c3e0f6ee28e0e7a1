//! `skiff delete`: by manifest (`-f`), by name, by label selector or
//! `--all`; sends DeleteOptions like kubectl and waits for the objects to go.

use clap::Args;
use serde_json::Value;
use skiff_api::ResourceType;
use skiff_client::{DeleteOutcome, DeleteParams, DynamicApi, ListParams, PropagationPolicy};

use crate::cmd::apply::target_of;
use crate::cmd::wait::{self, Deleted};
use crate::context::Ctx;
use crate::errors::{CliError, CliResult, Source, describe_client_error};
use crate::{kinds, manifest, output};

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// `KIND NAME...`, `KIND/NAME...`, or `KIND` with -l / --all.
    #[arg(value_name = "KIND [NAME...]")]
    pub args: Vec<String>,
    /// Delete the objects in these manifests (file, directory or `-`).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Also read the directories inside directories given with -f.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Delete the objects matching this label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Delete the objects matching this field selector.
    #[arg(long, value_name = "SELECTOR")]
    pub field_selector: Option<String>,
    /// Delete every object of the kind in the namespace.
    #[arg(long)]
    pub all: bool,
    /// With -l or --all: in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// What happens to dependents: background, foreground or orphan.
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_value = "background", default_missing_value = "background")]
    pub cascade: String,
    /// Seconds the object gets to stop; -1 uses the object's default.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true, value_name = "SECONDS")]
    pub grace_period: i64,
    /// With --grace-period=0: remove at once, without waiting for the containers to stop.
    #[arg(long)]
    pub force: bool,
    /// Shorthand for --grace-period=1.
    #[arg(long)]
    pub now: bool,
    /// Wait for the objects to be gone.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value = "true", default_missing_value = "true")]
    pub wait: String,
    /// How long to wait (`30s`, `2m`); 0 waits for as long as it takes.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub timeout: String,
    /// A missing object is not an error.
    #[arg(long)]
    pub ignore_not_found: bool,
}

fn delete_params(args: &DeleteArgs) -> CliResult<DeleteParams> {
    let policy = match args.cascade.to_ascii_lowercase().as_str() {
        "background" | "true" => PropagationPolicy::Background,
        "foreground" => PropagationPolicy::Foreground,
        "orphan" | "false" => PropagationPolicy::Orphan,
        other => {
            return Err(CliError::msg(format!(
                "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\"."
            )));
        }
    };
    let mut grace = args.grace_period;
    if args.now {
        if grace != -1 {
            return Err(CliError::msg(
                "--now and --grace-period cannot be specified together",
            ));
        }
        grace = 1;
    }
    // kubectl turns --grace-period=0 into 1 unless --force says immediate is meant.
    if grace == 0 && !args.force {
        grace = 1;
    }
    if args.force && grace < 0 {
        grace = 0;
    }
    Ok(DeleteParams {
        propagation_policy: Some(policy),
        grace_period_seconds: (grace >= 0).then_some(grace),
        ..Default::default()
    })
}

fn parse_bool(flag: &str, value: &str) -> CliResult<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" => Ok(true),
        "false" | "0" | "f" => Ok(false),
        _ => Err(CliError::msg(format!(
            "invalid argument \"{value}\" for \"--{flag}\" flag: strconv.ParseBool: parsing \"{value}\": invalid syntax"
        ))),
    }
}

/// One object to delete, and the file it came from.
struct Item {
    rt: &'static ResourceType,
    namespace: Option<String>,
    name: String,
    source: Option<String>,
}

const NO_TARGET: &str = "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'";

pub async fn run(ctx: &Ctx, args: DeleteArgs) -> CliResult {
    let params = delete_params(&args)?;
    let wait = parse_bool("wait", &args.wait)?;
    let timeout = wait::parse_duration(&args.timeout).map_err(CliError::Message)?;
    let mut errors: Vec<String> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut listed_nothing = false;

    if !args.filenames.is_empty() {
        if !args.args.is_empty() {
            return Err(CliError::msg(
                "cannot specify both a resource type/name and --filename",
            ));
        }
        let read = manifest::read_all(&args.filenames, args.recursive, &mut std::io::stdin());
        errors.extend(read.errors.iter().map(|e| format!("error: {e}")));
        for doc in &read.documents {
            match target_of(ctx, doc, "deleting") {
                Ok(t) => items.push(Item {
                    rt: t.rt,
                    namespace: t.namespace,
                    name: t.name,
                    source: Some(doc.source.clone()),
                }),
                Err(e) => errors.push(e),
            }
        }
    } else if args.args.is_empty() {
        return Err(CliError::msg(NO_TARGET));
    } else {
        for sel in kinds::parse_targets(&args.args)? {
            if !sel.names.is_empty() {
                if args.all || args.selector.is_some() {
                    return Err(CliError::msg(
                        "name cannot be provided when a selector is specified",
                    ));
                }
                items.extend(sel.names.iter().map(|n| Item {
                    rt: sel.rt,
                    namespace: sel.rt.namespaced.then(|| ctx.namespace.clone()),
                    name: n.clone(),
                    source: None,
                }));
                continue;
            }
            if !args.all && args.selector.is_none() && args.field_selector.is_none() {
                return Err(CliError::msg(
                    "resource(s) were provided, but no name was specified",
                ));
            }
            let api = if args.all_namespaces && sel.rt.namespaced {
                DynamicApi::all(ctx.client.clone(), sel.rt)
            } else {
                DynamicApi::namespaced(ctx.client.clone(), sel.rt, &ctx.namespace)
            };
            let lp = ListParams {
                label_selector: args.selector.clone(),
                field_selector: args.field_selector.clone(),
                ..Default::default()
            };
            let list = api.list_all(&lp.limit(500)).await?;
            let found = list
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for o in found {
                let meta = |k: &str| {
                    o.pointer(&format!("/metadata/{k}"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let namespace = match meta("namespace") {
                    _ if !sel.rt.namespaced => None,
                    ns if ns.is_empty() => Some(ctx.namespace.clone()),
                    ns => Some(ns),
                };
                items.push(Item {
                    rt: sel.rt,
                    namespace,
                    name: meta("name"),
                    source: None,
                });
            }
        }
        listed_nothing = items.is_empty();
    }

    let force_now = args.force && params.grace_period_seconds == Some(0);
    if force_now {
        output::eprint_line(
            "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.",
        );
    }
    let mut pending = Vec::new();
    for item in &items {
        let api = DynamicApi::namespaced(
            ctx.client.clone(),
            item.rt,
            item.namespace.as_deref().unwrap_or_default(),
        );
        match api.delete(&item.name, &params).await {
            Ok(outcome) => {
                let verb = if force_now {
                    "force deleted"
                } else {
                    "deleted"
                };
                output::print_line(&format!(
                    "{} \"{}\" {verb}",
                    kinds::kind_group(item.rt),
                    item.name
                ));
                let uid = match &outcome {
                    DeleteOutcome::Object(o) => o.pointer("/metadata/uid"),
                    DeleteOutcome::Gone(_) => None,
                }
                .and_then(Value::as_str)
                .map(str::to_string);
                pending.push(Deleted {
                    rt: item.rt,
                    namespace: item.namespace.clone(),
                    name: item.name.clone(),
                    uid,
                });
            }
            Err(e) if e.is_not_found() && args.ignore_not_found => {}
            Err(e) => {
                let src = item.source.as_deref().map(|file| Source {
                    verb: "deleting",
                    file,
                });
                errors.push(describe_client_error(&e, src));
            }
        }
    }
    if listed_nothing && errors.is_empty() {
        output::eprint_line("No resources found");
    }
    if wait
        && !pending.is_empty()
        && let Err(e) = wait::wait_all(&ctx.client, &pending, timeout).await
    {
        errors.extend(e.render());
    }
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors {
        output::eprint_line(&e);
    }
    Err(CliError::Reported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        d: DeleteArgs,
    }

    fn params(argv: &[&str]) -> CliResult<DeleteParams> {
        let mut full = vec!["t"];
        full.extend_from_slice(argv);
        delete_params(&T::parse_from(full).d)
    }

    #[test]
    fn bodies_like_kubectl() {
        let body = |a: &[&str]| params(a).unwrap().body().to_string();
        assert_eq!(body(&[]), r#"{"propagationPolicy":"Background"}"#);
        assert_eq!(
            body(&["--grace-period=0", "--force"]),
            r#"{"gracePeriodSeconds":0,"propagationPolicy":"Background"}"#
        );
        assert_eq!(
            body(&["--force"]),
            r#"{"gracePeriodSeconds":0,"propagationPolicy":"Background"}"#
        );
        assert_eq!(
            body(&["--now"]),
            r#"{"gracePeriodSeconds":1,"propagationPolicy":"Background"}"#
        );
        assert_eq!(
            body(&["--grace-period=0"]),
            r#"{"gracePeriodSeconds":1,"propagationPolicy":"Background"}"#
        );
        assert_eq!(
            body(&["--cascade=orphan"]),
            r#"{"propagationPolicy":"Orphan"}"#
        );
        assert_eq!(
            body(&["--cascade=foreground"]),
            r#"{"propagationPolicy":"Foreground"}"#
        );
        assert!(params(&["--cascade=maybe"]).is_err());
        assert!(params(&["--now", "--grace-period=5"]).is_err());
    }
}
