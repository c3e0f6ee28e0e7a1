//! `skiff logs POD [-c C] [-f] [--tail N] [--timestamps] [--previous]`:
//! the `pods/log` subresource, printed as it arrives.

use clap::Args;
use futures::StreamExt;
use skiff_client::Request;

use super::pod_container;
use crate::context::Ctx;
use crate::errors::CliResult;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The pod (`NAME` or `pod/NAME`).
    #[arg(value_name = "POD")]
    pub pod: String,
    /// The container (default: the pod's only or first one).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Keep streaming until the container exits.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
    /// Prefix each line with its RFC 3339 timestamp.
    #[arg(long)]
    pub timestamps: bool,
    /// The previous instance of the container (before its last restart).
    #[arg(short = 'p', long)]
    pub previous: bool,
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> CliResult {
    let target = pod_container::resolve(ctx, &args.pod, args.container.as_deref()).await?;
    let mut req = Request::get(target.path(ctx, "log")).query("container", &target.container);
    if args.follow {
        req = req.query("follow", "true");
    }
    if let Some(n) = args.tail {
        req = req.query("tailLines", n.to_string());
    }
    if args.timestamps {
        req = req.query("timestamps", "true");
    }
    if args.previous {
        req = req.query("previous", "true");
    }
    let mut stream = ctx.client.stream(req).await?;
    while let Some(chunk) = stream.next().await {
        write_out(&chunk?);
    }
    Ok(())
}

/// Raw bytes to stdout, flushed (a chunk may end inside a UTF-8 character);
/// a closed stdout (`| head`) ends the process quietly.
fn write_out(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out.write_all(bytes).and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}
