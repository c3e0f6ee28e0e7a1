//! `skiff exec POD [-c C] [-i] [-t] -- CMD...`: the `pods/exec`
//! subresource over WebSocket (`v5.channel.k8s.io`), as kubectl 1.30+
//! speaks it: stdin out on channel 0 (and its end as `[255, 0]`), stdout
//! and stderr back on 1 and 2, the exit status on 3. Exits with the
//! command's exit code.

use std::io::Write;

use clap::Args;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use skiff_agent::server::channel;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use super::pod_container;
use super::terminal::{self, RawMode};
use crate::context::Ctx;
use crate::errors::{CliError, CliResult};
use crate::output;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The pod (`NAME` or `pod/NAME`).
    #[arg(value_name = "POD")]
    pub pod: String,
    /// The container (default: the pod's only or first one).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Run the command on a terminal (with -i, when stdin is one).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: ExecArgs) -> CliResult {
    let target = pod_container::resolve(ctx, &args.pod, args.container.as_deref()).await?;
    if let Some(phase @ ("Succeeded" | "Failed")) =
        target.pod.pointer("/status/phase").and_then(Value::as_str)
    {
        return Err(CliError::msg(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    let tty = args.tty && args.stdin && terminal::stdin_is_tty();
    if args.tty && !tty {
        output::eprint_line(
            "Unable to use a TTY - input is not a terminal or the right kind of file",
        );
    }
    let url = exec_url(ctx, &target, &args, tty)?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| CliError::msg(format!("exec URL {url}: {e}")))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(channel::V5),
    );
    let socket = match super::ws_connect::connect(&ctx.client, request).await {
        Ok(socket) => socket,
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_deref().unwrap_or_default();
            let status = skiff_client::client::status_from_response(resp.status(), body);
            return Err(CliError::Raw(crate::errors::describe_status(&status, None)));
        }
        Err(e) => {
            return Err(CliError::msg(format!(
                "unable to upgrade connection to {}: {e}",
                ctx.client.authority()
            )));
        }
    };
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    let code = session(socket, args.stdin, tty).await;
    drop(raw);
    match code {
        Ok(0) => Ok(()),
        Ok(code) => {
            output::eprint_line(&format!("command terminated with exit code {code}"));
            let _ = std::io::stdout().flush();
            std::process::exit(code.clamp(1, 255));
        }
        Err(message) => Err(CliError::msg(message)),
    }
}

/// `ws[s]://server/api/v1/namespaces/NS/pods/NAME/exec?command=..&container=..&...`.
fn exec_url(
    ctx: &Ctx,
    target: &pod_container::PodContainer,
    args: &ExecArgs,
    tty: bool,
) -> CliResult<String> {
    let server = ctx.client.server();
    let Some(base) = super::ws_connect::websocket_base(server) else {
        return Err(CliError::msg(format!("unsupported server URL {server}")));
    };
    let mut query: Vec<(String, String)> = args
        .command
        .iter()
        .map(|c| ("command".to_string(), c.clone()))
        .collect();
    query.push(("container".into(), target.container.clone()));
    if args.stdin {
        query.push(("stdin".into(), "true".into()));
    }
    query.push(("stdout".into(), "true".into()));
    if tty {
        query.push(("tty".into(), "true".into()));
    } else {
        query.push(("stderr".into(), "true".into()));
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    Ok(format!(
        "{base}{}?{}",
        target.path(ctx, "exec"),
        encoded.join("&")
    ))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

use super::ws_connect::Socket;

/// Relays the streams; the exit code from channel 3, or why there is none.
async fn session(socket: Socket, stdin: bool, tty: bool) -> Result<i32, String> {
    let (mut sink, mut incoming) = socket.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    let mut tasks = Vec::new();
    if stdin {
        tasks.push(tokio::spawn(send_stdin(out_tx.clone())));
    }
    if tty {
        tasks.push(tokio::spawn(send_sizes(out_tx.clone())));
    }
    let mut status = None;
    while let Some(message) = incoming.next().await {
        let data = match message {
            Ok(Message::Binary(data)) => data,
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => return Err(format!("the exec connection broke: {e}")),
        };
        let Some((&ch, payload)) = data.split_first() else {
            continue;
        };
        match ch {
            channel::STDOUT => write_all(&mut std::io::stdout(), payload),
            channel::STDERR => write_all(&mut std::io::stderr(), payload),
            channel::ERROR => status = Some(channel::parse_status(payload)),
            _ => {}
        }
    }
    for t in tasks {
        t.abort();
    }
    drop(out_tx);
    writer.abort();
    status.unwrap_or_else(|| Err("the exec ended without an exit status".into()))
}

fn write_all(w: &mut impl Write, data: &[u8]) {
    let _ = w.write_all(data).and_then(|_| w.flush());
}

/// Local stdin to channel 0, then `[255, 0]` at its end.
async fn send_stdin(out: tokio::sync::mpsc::Sender<Message>) {
    let mut input = tokio::io::stdin();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match input.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let frame = channel::frame(channel::STDIN, &buf[..n]);
                if out.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = out
        .send(Message::Binary(vec![channel::CLOSE, channel::STDIN].into()))
        .await;
}

/// The terminal's size now and after each SIGWINCH, on channel 4.
async fn send_sizes(out: tokio::sync::mpsc::Sender<Message>) {
    let mut changes =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    loop {
        if let Some((width, height)) = terminal::size() {
            let size = serde_json::json!({"Width": width, "Height": height}).to_string();
            let frame = channel::frame(channel::RESIZE, size.as_bytes());
            if out.send(Message::Binary(frame.into())).await.is_err() {
                return;
            }
        }
        match changes.as_mut() {
            Some(s) => {
                if s.recv().await.is_none() {
                    return;
                }
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_percent_encoded() {
        assert_eq!(encode("sh"), "sh");
        assert_eq!(encode("echo a&b /"), "echo%20a%26b%20%2F");
    }
}
