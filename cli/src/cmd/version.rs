//! `skiff version`: this binary's version and the server's `/version`.

use clap::Args;
use serde_json::{Value, json};

use crate::context::{Ctx, GlobalArgs};
use crate::errors::{CliError, CliResult, describe_client_error};
use crate::output;
use crate::printer::objects;

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Only the client version (no server needed).
    #[arg(long)]
    pub client: bool,
    /// `json` or `yaml` instead of text.
    #[arg(short = 'o', long, value_name = "FORMAT")]
    pub output: Option<String>,
}

pub const CLIENT_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

fn client_info() -> Value {
    json!({
        "gitVersion": CLIENT_VERSION,
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

/// The architecture as Go (and so kubectl) names it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub async fn run(global: &GlobalArgs, args: VersionArgs) -> CliResult {
    let format = args.output.as_deref().unwrap_or_default();
    if !matches!(format, "" | "json" | "yaml") {
        return Err(CliError::msg(format!(
            "--output must be 'yaml' or 'json', got {format:?}"
        )));
    }
    let server = if args.client {
        None
    } else {
        let ctx = Ctx::new(global)?;
        Some(ctx.client.version().await)
    };
    let server_value = match &server {
        Some(Ok(v)) => Some(v.clone()),
        _ => None,
    };
    match format {
        "" => {
            output::print_line(&format!("Client Version: {CLIENT_VERSION}"));
            if let Some(v) = &server_value {
                let git = v
                    .get("gitVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("<unknown>");
                output::print_line(&format!("Server Version: {git}"));
            }
        }
        _ => {
            let mut doc = json!({ "clientVersion": client_info() });
            if let Some(v) = server_value {
                doc["serverVersion"] = v;
            }
            output::print(&if format == "json" {
                objects::to_json(&doc)
            } else {
                objects::to_yaml(&doc)
            });
        }
    }
    match server {
        Some(Err(e)) => Err(CliError::Raw(describe_client_error(&e, None))),
        _ => Ok(()),
    }
}
