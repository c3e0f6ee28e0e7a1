//! The pod and container `logs` and `exec` talk to, chosen as kubectl
//! does: `-c`, else the pod's only container, else its first one (saying
//! so on stderr).

use serde_json::Value;
use skiff_client::Request;

use crate::context::Ctx;
use crate::errors::{CliError, CliResult};
use crate::output;

/// A pod, read from the API server, and the container chosen in it.
pub struct PodContainer {
    pub name: String,
    pub container: String,
    pub pod: Value,
}

impl PodContainer {
    /// `/api/v1/namespaces/{ns}/pods/{name}/{sub}`.
    pub fn path(&self, ctx: &Ctx, sub: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/pods/{}/{sub}",
            ctx.namespace, self.name
        )
    }
}

/// `NAME`, `pod/NAME` or `pods/NAME`.
pub fn pod_name(arg: &str) -> CliResult<&str> {
    let name = match arg.split_once('/') {
        None => arg,
        Some(("pod" | "pods" | "po", name)) => name,
        Some((kind, _)) => {
            return Err(CliError::msg(format!(
                "only pods are supported here, not {kind:?} (use POD or pod/POD)"
            )));
        }
    };
    if name.is_empty() {
        return Err(CliError::msg("a pod name is required"));
    }
    Ok(name)
}

/// Reads the pod and picks the container.
pub async fn resolve(ctx: &Ctx, arg: &str, container: Option<&str>) -> CliResult<PodContainer> {
    let name = pod_name(arg)?;
    let pod = ctx
        .client
        .json(Request::get(format!(
            "/api/v1/namespaces/{}/pods/{name}",
            ctx.namespace
        )))
        .await?;
    let names: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let container = match (container, names.as_slice()) {
        (Some(c), _) => c.to_string(),
        (None, [only]) => only.clone(),
        (None, [first, ..]) => {
            output::eprint_line(&format!(
                "Defaulted container \"{first}\" out of: {}",
                names.join(", ")
            ));
            first.clone()
        }
        (None, []) => {
            return Err(CliError::msg(format!("pod {name} has no containers")));
        }
    };
    Ok(PodContainer {
        name: name.to_string(),
        container,
        pod,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names() {
        assert_eq!(pod_name("web").unwrap(), "web");
        assert_eq!(pod_name("pod/web").unwrap(), "web");
        assert_eq!(pod_name("pods/web").unwrap(), "web");
        assert!(pod_name("deploy/web").is_err());
        assert!(pod_name("pod/").is_err());
    }
}
