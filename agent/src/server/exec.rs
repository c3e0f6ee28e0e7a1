//! `GET /exec/{namespace}/{pod}/{container}?command=..&stdin=&stdout=&stderr=&tty=`:
//! a WebSocket (`v5.channel.k8s.io`, or `v4`) carrying the process's
//! streams (see [`channel`](super::channel)). A malformed request is
//! refused before the upgrade; a container that cannot be found or run
//! is reported after it, on the error channel, as the kubelet does.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use skiff_api::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::channel::{self, CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT};
use super::locate::{Instance, locate};
use super::query::Query;
use super::{ServerState, runtime_status, status_response};
use crate::runtime::{ExecRequest, ExecSession, TerminalSize};

/// What the query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecParams {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecParams {
    pub fn from_query(query: &Query) -> Result<ExecParams, Status> {
        let params = ExecParams {
            command: query.all("command"),
            stdin: query.flag("stdin")?,
            stdout: query.flag("stdout")?,
            stderr: query.flag("stderr")?,
            tty: query.flag("tty")?,
        };
        if params.command.is_empty() {
            return Err(Status::bad_request("you must specify at least 1 command"));
        }
        if !(params.stdin || params.stdout || params.stderr) {
            return Err(Status::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        if params.tty && params.stderr {
            return Err(Status::bad_request(
                "stderr cannot be requested with a tty: the terminal carries both outputs",
            ));
        }
        Ok(params)
    }
}

pub async fn exec(
    State(state): State<Arc<ServerState>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let params = match ExecParams::from_query(&Query::parse(raw.as_deref())) {
        Ok(p) => p,
        Err(status) => return status_response(status),
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(_) => {
            return status_response(Status::bad_request(format!(
                "exec needs a WebSocket upgrade (GET with Upgrade: websocket and subprotocol {} or {}); SPDY is not supported",
                channel::V5,
                channel::V4
            )));
        }
    };
    let upgrade = upgrade.protocols(channel::PROTOCOLS);
    let Some(protocol) = upgrade.selected_protocol().cloned() else {
        return status_response(Status::bad_request(format!(
            "exec needs the WebSocket subprotocol {} or {}",
            channel::V5,
            channel::V4
        )));
    };
    let v5 = protocol.as_bytes() == channel::V5.as_bytes();
    upgrade.on_upgrade(move |socket| async move {
        let stopped = state.stopped();
        tokio::select! {
            () = run(&state, socket, &namespace, &pod, &container, params, v5) => {}
            () = stopped => {}
        }
    })
}

/// Starts the process and relays its streams until it exits.
async fn run(
    state: &ServerState,
    socket: WebSocket,
    namespace: &str,
    pod: &str,
    container: &str,
    params: ExecParams,
    v5: bool,
) {
    let (mut sink, mut incoming) = socket.split();
    let session = match start(state, namespace, pod, container, &params).await {
        Ok(s) => s,
        Err(status) => {
            let _ = sink
                .send(binary(
                    ERROR,
                    channel::failure_status(&status.message)
                        .to_string()
                        .as_bytes(),
                ))
                .await;
            let _ = sink.send(close()).await;
            let drain = async {
                while let Some(Ok(m)) = incoming.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(CLIENT_CLOSE_GRACE, drain).await;
            return;
        }
    };
    let ExecSession {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        sink
    });
    let input = tokio::spawn(relay_input(incoming, stdin, resize, v5));
    let copy_out = copy_output(stdout, STDOUT, params.stdout || params.tty, out_tx.clone());
    let copy_err = copy_output(stderr, STDERR, params.stderr, out_tx.clone());
    tokio::join!(copy_out, copy_err);
    let status = match exit.await {
        Ok(code) => channel::exit_status(code),
        Err(e) => channel::failure_status(&e.to_string()),
    };
    let _ = out_tx
        .send(binary(ERROR, status.to_string().as_bytes()))
        .await;
    drop(out_tx);
    if let Ok(mut sink) = writer.await {
        let _ = sink.send(close()).await;
    }
    // The closing handshake: the client's input is read until its close.
    // Dropping the socket with input unread would reset the connection
    // and lose the frames still on their way to the client.
    let input_abort = input.abort_handle();
    if tokio::time::timeout(CLIENT_CLOSE_GRACE, input)
        .await
        .is_err()
    {
        input_abort.abort();
    }
}

/// How long a client gets to answer our close.
const CLIENT_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

async fn start(
    state: &ServerState,
    namespace: &str,
    pod: &str,
    container: &str,
    params: &ExecParams,
) -> Result<ExecSession, Status> {
    let engine = state.engine()?;
    let found = locate(&engine, namespace, pod, container, Instance::Current).await?;
    if !found.container.state.is_running() {
        return Err(Status::bad_request(format!(
            "container \"{container}\" in pod \"{pod}\" is not running"
        )));
    }
    let request = ExecRequest {
        command: params.command.clone(),
        stdin: params.stdin,
        tty: params.tty,
    };
    found
        .runtime
        .exec(&found.container.id, request)
        .await
        .map_err(|e| runtime_status(&e, container, pod))
}

/// Copies one output of the process to its channel (or drains it when the
/// client did not ask for it, so the process never blocks on it).
async fn copy_output(
    output: Option<std::pin::Pin<Box<dyn AsyncRead + Send>>>,
    channel: u8,
    wanted: bool,
    out: mpsc::Sender<Message>,
) {
    let Some(mut output) = output else { return };
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match output.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) if wanted => {
                if out.send(binary(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
        }
    }
}

/// Client to process: stdin data, stdin's end (v5), terminal sizes. A
/// closed connection closes stdin.
async fn relay_input(
    mut incoming: SplitStream<WebSocket>,
    mut stdin: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    resize: Option<mpsc::UnboundedSender<TerminalSize>>,
    v5: bool,
) {
    while let Some(Ok(message)) = incoming.next().await {
        let data = match message {
            Message::Binary(data) => data,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&channel, payload)) = data.split_first() else {
            continue;
        };
        match channel {
            STDIN => {
                if let Some(w) = stdin.as_mut()
                    && (w.write_all(payload).await.is_err() || w.flush().await.is_err())
                {
                    stdin = None;
                }
            }
            CLOSE if v5 && payload.first() == Some(&STDIN) => {
                if let Some(mut w) = stdin.take() {
                    let _ = w.shutdown().await;
                }
            }
            RESIZE => {
                if let (Some(tx), Some((width, height))) =
                    (resize.as_ref(), channel::parse_resize(payload))
                {
                    let _ = tx.send(TerminalSize { width, height });
                }
            }
            _ => {}
        }
    }
    if let Some(mut w) = stdin.take() {
        let _ = w.shutdown().await;
    }
}

fn binary(channel: u8, data: &[u8]) -> Message {
    Message::Binary(channel::frame(channel, data).into())
}

fn close() -> Message {
    Message::Close(Some(CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked() {
        let p = |q: &str| ExecParams::from_query(&Query::parse(Some(q)));
        let ok = p("command=ls&command=%2F&stdout=true&stderr=true").unwrap();
        assert_eq!(ok.command, ["ls", "/"]);
        assert!(ok.stdout && ok.stderr && !ok.stdin && !ok.tty);
        assert!(
            p("stdout=true")
                .unwrap_err()
                .message
                .contains("at least 1 command")
        );
        assert!(
            p("command=ls")
                .unwrap_err()
                .message
                .contains("stdin, stdout, stderr")
        );
        assert!(
            p("command=sh&tty=true&stdout=true&stderr=true")
                .unwrap_err()
                .message
                .contains("tty")
        );
    }
}
