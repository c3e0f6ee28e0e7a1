//! One exec session over SPDY (kubectl 1.29 and older, and 1.30+ when its
//! WebSocket attempt fails), relayed to the agent's WebSocket exec.
//!
//! kubectl opens one stream per channel (`streamtype` header: `error`,
//! `stdin`, `stdout`, `stderr`, `resize`); each gets an empty SYN_REPLY.
//! Once the streams the query asked for are open, the agent is dialled
//! (`v5.channel.k8s.io`) and data moves: stdin and resize data out, stdout
//! and stderr data back; at the end stdout and stderr are finished, the
//! exit `Status` goes on the error stream, then every stream is finished
//! and kubectl closes the connection.

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::frame::{self, FLAG_FIN, Frame};
use super::headers::{self, Deflater, Inflater};
use crate::proxy::AgentTarget;

/// How long kubectl gets to open its streams.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long kubectl gets to close after the exit status.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The streams the query asks for (as the kubelet expects them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Expected {
    fn types(&self) -> Vec<&'static str> {
        let mut t = vec!["error"];
        for (on, name) in [
            (self.stdin, "stdin"),
            (self.stdout, "stdout"),
            (self.stderr && !self.tty, "stderr"),
            (self.tty, "resize"),
        ] {
            if on {
                t.push(name);
            }
        }
        t
    }
}

/// Our side of the connection: frames out, stream ids by type.
struct Session {
    out: mpsc::UnboundedSender<Vec<u8>>,
    deflater: Deflater,
    inflater: Inflater,
    streams: HashMap<String, u32>,
}

impl Session {
    fn send(&self, frame: Vec<u8>) {
        // The writer is gone only when the connection is: nothing to do.
        let _ = self.out.send(frame);
    }

    fn id(&self, kind: &str) -> Option<u32> {
        self.streams.get(kind).copied()
    }

    /// Answers the control frames every phase answers the same way. A
    /// stream opened already finished gives the (empty, final) data frame
    /// that stands for its end.
    fn control(&mut self, kind: u16, flags: u8, payload: &[u8]) -> Result<Option<Frame>, String> {
        match kind {
            frame::SYN_STREAM => {
                let id = frame::stream_id(payload).ok_or("short SYN_STREAM")?;
                // id, associated id, priority and slot, then the headers.
                let block = self
                    .inflater
                    .inflate(payload.get(10..).unwrap_or_default())?;
                let headers = headers::decode(&block)?;
                let kind = headers
                    .iter()
                    .find(|(k, _)| k == "streamtype")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let mut reply = id.to_be_bytes().to_vec();
                reply.extend(self.deflater.compress(&headers::encode(&[])));
                self.send(frame::control(frame::SYN_REPLY, 0, &reply));
                self.streams.insert(kind, id);
                if flags & FLAG_FIN != 0 {
                    return Ok(Some(Frame::Data {
                        stream: id,
                        flags: FLAG_FIN,
                        payload: Vec::new(),
                    }));
                }
            }
            frame::PING => self.send(frame::control(frame::PING, 0, payload)),
            _ => {}
        }
        Ok(None)
    }

    /// Finishes our half of every stream, the exit status on `error`.
    fn finish(&self, status: &[u8]) {
        for kind in ["stdout", "stderr"] {
            if let Some(id) = self.id(kind) {
                self.send(frame::data(id, FLAG_FIN, &[]));
            }
        }
        if let Some(id) = self.id("error") {
            self.send(frame::data(id, 0, status));
            self.send(frame::data(id, FLAG_FIN, &[]));
        }
        for kind in ["stdin", "resize"] {
            if let Some(id) = self.id(kind) {
                self.send(frame::data(id, FLAG_FIN, &[]));
            }
        }
    }
}

fn failure(message: &str) -> Vec<u8> {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
        .to_string()
        .into_bytes()
}

pub async fn serve<IO>(
    io: IO,
    expected: Expected,
    url: String,
    target: AgentTarget,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    let (out, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writing = tokio::spawn(async move {
        while let Some(f) = out_rx.recv().await {
            if writer.write_all(&f).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    // Frames arrive through a channel: receiving from it is cancel-safe.
    let (frames_tx, mut frames) = mpsc::channel::<Frame>(64);
    let reading = tokio::spawn(async move {
        while let Ok(Some(f)) = frame::read(&mut reader).await {
            if frames_tx.send(f).await.is_err() {
                break;
            }
        }
    });
    let mut session = Session {
        out,
        deflater: Deflater::default(),
        inflater: Inflater::default(),
        streams: HashMap::new(),
    };

    // 1. kubectl opens its streams; early data waits.
    let mut early = Vec::new();
    let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
    let wanted = expected.types();
    while !wanted.iter().all(|t| session.streams.contains_key(*t)) {
        let f = match tokio::time::timeout_at(deadline, frames.recv()).await {
            Ok(Some(f)) => f,
            // Gone, or too slow: nothing to run.
            _ => {
                reading.abort();
                return;
            }
        };
        match f {
            Frame::Control {
                kind,
                flags,
                payload,
            } => {
                if kind == frame::GOAWAY {
                    reading.abort();
                    return;
                }
                match session.control(kind, flags, &payload) {
                    Ok(ended) => early.extend(ended),
                    Err(e) => {
                        tracing::debug!(error = %e, "SPDY exec: bad frame");
                        reading.abort();
                        return;
                    }
                }
            }
            data => early.push(data),
        }
    }

    // 2. The agent.
    let credential = target.credential.as_ref();
    let agent = match super::super::relay::connect(&url, "v5.channel.k8s.io", credential).await {
        Ok(a) => a,
        Err(e) => {
            session.finish(&failure(&target.dial_failed(&url, e).message));
            close(&mut frames).await;
            drop(session);
            let _ = writing.await;
            reading.abort();
            return;
        }
    };
    let (mut to_agent, mut from_agent) = agent.split();
    let mut stdin_open = true;
    let mut status: Option<Vec<u8>> = None;
    let mut pending: std::collections::VecDeque<Frame> = early.into();
    let mut stop = std::pin::pin!(async move {
        let _ = shutdown.wait_for(|s| *s).await;
    });

    // 3. Relay until the agent is done (or kubectl or the server goes).
    loop {
        let client_frame = match pending.pop_front() {
            Some(f) => Some(f),
            None => tokio::select! {
                f = frames.recv() => f,
                m = from_agent.next() => {
                    match m {
                        Some(Ok(Message::Binary(data))) => {
                            if let Some((&ch, payload)) = data.split_first() {
                                let kind = match ch { 1 => "stdout", 2 => "stderr", _ => "" };
                                if ch == 3 {
                                    status = Some(payload.to_vec());
                                } else if let Some(id) = session.id(kind) {
                                    session.send(frame::data(id, 0, payload));
                                }
                            }
                            continue;
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => continue,
                    }
                }
                () = &mut stop => break,
            },
        };
        let Some(f) = client_frame else {
            // kubectl went away.
            let _ = to_agent.send(Message::Close(None)).await;
            break;
        };
        match f {
            Frame::Control {
                kind: frame::GOAWAY,
                ..
            } => {
                let _ = to_agent.send(Message::Close(None)).await;
                break;
            }
            Frame::Control {
                kind: frame::RST_STREAM,
                payload,
                ..
            } => {
                if stdin_open && frame::stream_id(&payload) == session.id("stdin") {
                    stdin_open = false;
                    let _ = to_agent.send(Message::Binary(vec![255, 0].into())).await;
                }
            }
            Frame::Control {
                kind,
                flags,
                payload,
            } => match session.control(kind, flags, &payload) {
                Ok(ended) => pending.extend(ended),
                Err(_) => break,
            },
            Frame::Data {
                stream,
                flags,
                payload,
            } => {
                if Some(stream) == session.id("stdin") && stdin_open {
                    if !payload.is_empty() {
                        let mut m = vec![0u8];
                        m.extend_from_slice(&payload);
                        let _ = to_agent.send(Message::Binary(m.into())).await;
                    }
                    if flags & FLAG_FIN != 0 {
                        stdin_open = false;
                        let _ = to_agent.send(Message::Binary(vec![255, 0].into())).await;
                    }
                } else if Some(stream) == session.id("resize") {
                    // One JSON object per line.
                    for line in payload.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        let mut m = vec![4u8];
                        m.extend_from_slice(line);
                        let _ = to_agent.send(Message::Binary(m.into())).await;
                    }
                }
            }
        }
    }
    let status = status.unwrap_or_else(|| failure("the exec ended without an exit status"));
    session.finish(&status);
    close(&mut frames).await;
    drop(session);
    let _ = writing.await;
    reading.abort();
}

/// Waits (a little) for kubectl to close after it has its status: the
/// connection must not be cut while our last frames are on their way.
async fn close(frames: &mut mpsc::Receiver<Frame>) {
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(f) = frames.recv().await {
            if matches!(
                f,
                Frame::Control {
                    kind: frame::GOAWAY,
                    ..
                }
            ) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_streams_follow_the_query() {
        let e = Expected {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        assert_eq!(e.types(), ["error", "stdin", "stdout", "stderr"]);
        let t = Expected {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: true,
        };
        assert_eq!(t.types(), ["error", "stdin", "stdout", "resize"]);
    }
}
