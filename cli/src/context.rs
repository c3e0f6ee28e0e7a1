//! The global flags every client command shares, and the client and
//! namespace they resolve to.

use std::path::PathBuf;

use clap::Args;
use skiff_client::Client;

use crate::errors::{CliError, CliResult};

#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (else $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of the current one.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace for this request (default: the context's, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// The API server address, overriding the kubeconfig's.
    #[arg(short = 's', long, global = true, value_name = "URL")]
    pub server: Option<String>,
}

/// What a client command works with.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// `-n` was given (apply then rejects objects of other namespaces).
    pub namespace_explicit: bool,
}

impl Ctx {
    pub fn new(global: &GlobalArgs) -> CliResult<Ctx> {
        let mut config =
            skiff_client::load_config(global.kubeconfig.as_deref(), global.context.as_deref())
                .map_err(|e| CliError::msg(e.to_string()))?;
        if let Some(server) = &global.server {
            config.server = if server.contains("://") {
                server.trim_end_matches('/').to_string()
            } else {
                format!("http://{}", server.trim_end_matches('/'))
            };
        }
        let context_namespace = config.namespace.clone();
        let client = Client::new(config)
            .map_err(|e| CliError::msg(e.to_string()))?
            .with_warning_handler(|w| crate::output::eprint_line(&format!("Warning: {w}")));
        let namespace_explicit = global.namespace.as_deref().is_some_and(|n| !n.is_empty());
        let namespace = global
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .or(context_namespace)
            .unwrap_or_else(|| "default".into());
        Ok(Ctx {
            client,
            namespace,
            namespace_explicit,
        })
    }
}
