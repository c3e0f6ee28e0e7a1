//! `skiff scale`: sets `spec.replicas` through the `/scale` subresource, as
//! kubectl does (a merge patch, or a guarded PUT with --current-replicas).

use clap::Args;
use serde_json::{Value, json};
use skiff_api::resource::Subresource;
use skiff_client::{DynamicApi, ListParams, Patch};

use crate::context::Ctx;
use crate::errors::{CliError, CliResult, describe_client_error};
use crate::{kinds, output};

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// `KIND NAME...` or `KIND/NAME...` (or `KIND` with -l / --all).
    #[arg(value_name = "KIND [NAME...]")]
    pub args: Vec<String>,
    /// The number of replicas wanted.
    #[arg(long, value_name = "N")]
    pub replicas: Option<i64>,
    /// Only scale if the current number of replicas is this.
    #[arg(long, value_name = "N")]
    pub current_replicas: Option<i64>,
    /// Scale the objects matching this label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Scale every object of the kind in the namespace.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(ctx: &Ctx, args: ScaleArgs) -> CliResult {
    let Some(replicas) = args.replicas else {
        return Err(CliError::msg("required flag(s) \"replicas\" not set"));
    };
    if replicas < 0 {
        return Err(CliError::msg(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0",
        ));
    }
    if args.args.is_empty() {
        return Err(CliError::msg(
            "You must provide one or more resources by argument or filename.",
        ));
    }
    let mut targets = Vec::new();
    for sel in kinds::parse_targets(&args.args)? {
        if !sel.rt.has_subresource(Subresource::Scale) {
            return Err(CliError::msg(format!(
                "could not find proper group-version for scale subresource of {}, Resource={}",
                sel.rt.api_version(),
                sel.rt.plural
            )));
        }
        let api = DynamicApi::namespaced(ctx.client.clone(), sel.rt, &ctx.namespace);
        if sel.names.is_empty() {
            if !args.all && args.selector.is_none() {
                return Err(CliError::msg(
                    "resource(s) were provided, but no name was specified",
                ));
            }
            let lp = ListParams {
                label_selector: args.selector.clone(),
                ..Default::default()
            };
            let list = api.list_all(&lp).await?;
            for o in list
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = o.pointer("/metadata/name").and_then(Value::as_str) {
                    targets.push((api.clone(), n.to_string()));
                }
            }
        } else {
            targets.extend(sel.names.iter().map(|n| (api.clone(), n.clone())));
        }
    }
    if targets.is_empty() {
        return Err(CliError::msg("no objects passed to scale"));
    }
    let mut errors = Vec::new();
    for (api, name) in targets {
        match scale_one(&api, &name, replicas, args.current_replicas).await {
            Ok(()) => output::print_line(&format!(
                "{} scaled",
                kinds::object_name(api.resource(), &name)
            )),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors {
        output::eprint_line(&e);
    }
    Err(CliError::Reported)
}

async fn scale_one(
    api: &DynamicApi,
    name: &str,
    replicas: i64,
    current: Option<i64>,
) -> Result<(), String> {
    let err = |e: skiff_client::Error| describe_client_error(&e, None);
    // kubectl reads the object first: a missing one reports NotFound for the kind itself.
    api.get(name).await.map_err(err)?;
    let Some(current) = current else {
        let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
        api.patch_subresource(name, Subresource::Scale, &patch)
            .await
            .map_err(err)?;
        return Ok(());
    };
    let mut scale = api
        .get_subresource(name, Subresource::Scale)
        .await
        .map_err(err)?;
    let actual = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if actual != current {
        return Err(format!(
            "error: Expected replicas to be {current}, was {actual}"
        ));
    }
    if let Some(spec) = scale.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(replicas));
    } else if let Some(m) = scale.as_object_mut() {
        m.insert("spec".into(), json!({"replicas": replicas}));
    }
    // The Scale keeps its resourceVersion: a change in between gets 409.
    api.replace_subresource(name, Subresource::Scale, &scale)
        .await
        .map_err(err)?;
    Ok(())
}
