//! `skiff rollout status|undo`: follow a Deployment's rollout as kubectl
//! does (the same status fields, the same messages), or roll it back to an
//! earlier revision.

use clap::{Args, Subcommand};
use futures::StreamExt;
use skiff_api::ResourceType;
use skiff_api::apps::{DEPLOYMENTS, Deployment};
use skiff_client::runtime::{Event, watcher};
use skiff_client::{Api, ListParams};

use crate::cmd::wait::parse_duration;
use crate::context::Ctx;
use crate::errors::{CliError, CliResult, describe_client_error};
use crate::kinds::parse_targets;

#[derive(Args, Debug)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Subcommand, Debug)]
pub enum RolloutCommand {
    /// Watch a Deployment's rollout until it finishes (or fails its progress deadline).
    Status(StatusArgs),
    /// Roll a Deployment back to its previous (or a given) revision.
    Undo(UndoArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// `deployment/NAME`, or `deployment NAME`.
    #[arg(required = true, num_args = 1..=2)]
    pub target: Vec<String>,
    /// Give up after this long (`0`: wait for ever).
    #[arg(long, default_value = "0")]
    pub timeout: String,
    /// Keep watching until the rollout ends (false: report once).
    #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub watch: bool,
}

#[derive(Args, Debug)]
pub struct UndoArgs {
    /// `deployment/NAME`, or `deployment NAME`.
    #[arg(required = true, num_args = 1..=2)]
    pub target: Vec<String>,
    /// The revision to roll back to (0: the previous one).
    #[arg(long, default_value_t = 0)]
    pub to_revision: i64,
}

pub async fn run(ctx: &Ctx, args: RolloutArgs) -> CliResult {
    match args.command {
        RolloutCommand::Status(a) => status(ctx, a).await,
        RolloutCommand::Undo(a) => undo(ctx, a).await,
    }
}

/// The Deployment name in `deploy/x` or `deploy x`.
fn deployment_name(target: &[String]) -> CliResult<String> {
    let selections = parse_targets(target)?;
    // Rows are compared by name: each use of a `const` row may have its own address.
    let is_deployment =
        |rt: &ResourceType| rt.group == DEPLOYMENTS.group && rt.plural == DEPLOYMENTS.plural;
    match selections.as_slice() {
        [one] if is_deployment(one.rt) && one.names.len() == 1 => Ok(one.names[0].clone()),
        [one] if !is_deployment(one.rt) => Err(CliError::msg(format!(
            "no status viewer has been implemented for {}",
            one.rt.kind
        ))),
        _ => Err(CliError::msg(
            "required resource not specified: expected deployment/NAME",
        )),
    }
}

/// What `kubectl rollout status` says of a Deployment (kubectl-wire.md §9.6):
/// `Ok(Some(line))` still rolling, `Ok(None)` done, `Err` deadline exceeded.
pub fn rollout_state(d: &Deployment) -> Result<Option<String>, String> {
    let name = d.metadata.name_str();
    let status = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if status.observed_generation.is_none_or(|o| generation > o) {
        return Ok(Some(
            "Waiting for deployment spec update to be observed...".into(),
        ));
    }
    let deadline_exceeded = status.conditions.iter().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return Err(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let wanted = d.spec.replicas();
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        return Ok(Some(format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {wanted} new replicas have been updated..."
        )));
    }
    if replicas > updated {
        return Ok(Some(format!(
            "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        )));
    }
    if available < updated {
        return Ok(Some(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        )));
    }
    Ok(None)
}

async fn status(ctx: &Ctx, args: StatusArgs) -> CliResult {
    let name = deployment_name(&args.target)?;
    let timeout = parse_duration(&args.timeout).map_err(CliError::msg)?;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    // Fail early, with kubectl's message, when the Deployment does not exist.
    api.get(&name)
        .await
        .map_err(|e| CliError::Raw(describe_client_error(&e, None)))?;
    let follow = async {
        let params = ListParams::default().fields(&format!("metadata.name={name}"));
        let mut events = std::pin::pin!(watcher(api.clone(), params));
        let mut last_line = String::new();
        while let Some(item) = events.next().await {
            let Ok(event) = item else { continue };
            let Some(d) = (match event {
                Event::Restarted(mut all) => all.pop(),
                Event::Applied(d) => Some(d),
                Event::Deleted(_) => {
                    return Err(CliError::msg(format!(
                        "deployment {name:?} was deleted while waiting for its rollout"
                    )));
                }
            }) else {
                continue;
            };
            match rollout_state(&d) {
                Ok(Some(line)) => {
                    if line != last_line {
                        println!("{line}");
                        last_line = line;
                    }
                    if !args.watch {
                        return Ok(());
                    }
                }
                Ok(None) => {
                    println!("deployment {name:?} successfully rolled out");
                    return Ok(());
                }
                Err(message) => return Err(CliError::msg(message)),
            }
        }
        Ok(())
    };
    if timeout.is_zero() {
        follow.await
    } else {
        match tokio::time::timeout(timeout, follow).await {
            Ok(result) => result,
            Err(_) => Err(CliError::msg("timed out waiting for the condition")),
        }
    }
}

async fn undo(ctx: &Ctx, args: UndoArgs) -> CliResult {
    let name = deployment_name(&args.target)?;
    let to = (args.to_revision > 0).then_some(args.to_revision);
    match skiff_controller::deployment::rollback(&ctx.client, &ctx.namespace, &name, to).await {
        Ok(outcome) => {
            println!("deployment.apps/{name} {outcome}");
            Ok(())
        }
        Err(skiff_controller::deployment::RollbackError::Api(e)) => {
            Err(CliError::Raw(describe_client_error(&e, None)))
        }
        Err(e) => Err(CliError::msg(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::apps::DeploymentCondition;
    use skiff_api::apps::{DeploymentSpec, DeploymentStatus};
    use skiff_api::meta::ObjectMeta;

    fn deployment(generation: i64, spec_replicas: i32, status: DeploymentStatus) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                generation: Some(generation),
                ..Default::default()
            },
            spec: DeploymentSpec {
                replicas: Some(spec_replicas),
                ..Default::default()
            },
            status: Some(status),
            ..Default::default()
        }
    }

    #[test]
    fn messages_follow_kubectl_order() {
        let s = |og, r, u, a| DeploymentStatus {
            observed_generation: Some(og),
            replicas: Some(r),
            updated_replicas: Some(u),
            available_replicas: Some(a),
            ..Default::default()
        };
        assert_eq!(
            rollout_state(&deployment(2, 3, s(1, 3, 3, 3)))
                .unwrap()
                .unwrap(),
            "Waiting for deployment spec update to be observed..."
        );
        assert_eq!(
            rollout_state(&deployment(2, 3, s(2, 3, 1, 1)))
                .unwrap()
                .unwrap(),
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated..."
        );
        assert_eq!(
            rollout_state(&deployment(2, 3, s(2, 5, 3, 3)))
                .unwrap()
                .unwrap(),
            "Waiting for deployment \"web\" rollout to finish: 2 old replicas are pending termination..."
        );
        assert_eq!(
            rollout_state(&deployment(2, 3, s(2, 3, 3, 1)))
                .unwrap()
                .unwrap(),
            "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available..."
        );
        assert_eq!(
            rollout_state(&deployment(2, 3, s(2, 3, 3, 3))).unwrap(),
            None
        );
    }

    #[test]
    fn deadline_exceeded_is_an_error() {
        let mut st = DeploymentStatus {
            observed_generation: Some(1),
            ..Default::default()
        };
        st.conditions.push(DeploymentCondition {
            type_: "Progressing".into(),
            status: "False".into(),
            reason: Some("ProgressDeadlineExceeded".into()),
            ..Default::default()
        });
        assert_eq!(
            rollout_state(&deployment(1, 2, st)).unwrap_err(),
            "deployment \"web\" exceeded its progress deadline"
        );
    }
}

#[cfg(test)]
mod target_tests {
    use super::*;

    #[test]
    fn deployment_targets_in_both_forms() {
        let t = |v: &[&str]| deployment_name(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(t(&["deploy/web"]).unwrap(), "web");
        assert_eq!(t(&["deployment", "web"]).unwrap(), "web");
        assert!(t(&["rs/web"]).is_err());
    }
}
