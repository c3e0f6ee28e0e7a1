//! Relays one exec session between kubectl's WebSocket (axum) and the
//! agent's (tokio-tungstenite), frame by frame. It ends when the agent
//! closes (after its exit status), when kubectl goes away (the agent is
//! told, and given a moment to close), or when the server stops.

use std::time::Duration;

use axum::extract::ws::{self, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

use super::AgentTarget;

/// How long the agent gets to close after kubectl has gone.
const AGENT_CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long kubectl gets to answer our close.
const CLIENT_CLOSE_GRACE: Duration = Duration::from_secs(2);

pub async fn run(
    client: WebSocket,
    url: &str,
    protocol: &str,
    target: &AgentTarget,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut to_client, mut from_client) = client.split();
    let agent = match connect(url, protocol, target.credential.as_ref()).await {
        Ok(agent) => agent,
        Err(e) => {
            // kubectl prints the error channel's message.
            let status = target.dial_failed(url, e);
            let body = json!({"metadata": {}, "status": "Failure", "message": status.message,
                              "reason": status.reason, "code": status.code});
            let mut frame = vec![3u8];
            frame.extend_from_slice(body.to_string().as_bytes());
            let _ = to_client.send(ws::Message::Binary(frame.into())).await;
            finish(to_client, from_client).await;
            return;
        }
    };
    let (mut to_agent, mut from_agent) = agent.split();
    // Until the agent closes (after the exit status), the server stops, or
    // kubectl has gone and the agent had its moment to close.
    let mut client_gone: Option<tokio::time::Instant> = None;
    let mut stop = std::pin::pin!(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    loop {
        tokio::select! {
            m = from_agent.next() => {
                let Some(Ok(m)) = m else { break };
                // The agent's close becomes ours, in `finish`.
                if m.is_close() {
                    break;
                }
                let Some(m) = to_axum(m) else { continue };
                if to_client.send(m).await.is_err() {
                    break;
                }
            }
            m = from_client.next(), if client_gone.is_none() => {
                let m = match m {
                    Some(Ok(m)) => to_tungstenite(m),
                    _ => Some(tungstenite::Message::Close(None)),
                };
                let Some(m) = m else { continue };
                let close = m.is_close();
                if to_agent.send(m).await.is_err() || close {
                    client_gone = Some(tokio::time::Instant::now() + AGENT_CLOSE_GRACE);
                }
            }
            () = sleep_until(client_gone) => break,
            () = &mut stop => break,
        }
    }
    finish(to_client, from_client).await;
}

/// Sleeps until `deadline`, forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The closing handshake with kubectl: our close (normal closure, so
/// kubectl reads the error channel to its end), then whatever kubectl
/// still sends until its close. Dropping the socket with its input
/// unread would reset the connection and lose the frames in flight.
async fn finish(
    mut to_client: futures::stream::SplitSink<WebSocket, ws::Message>,
    mut from_client: futures::stream::SplitStream<WebSocket>,
) {
    let _ = to_client
        .send(ws::Message::Close(Some(normal_closure())))
        .await;
    let drain = async {
        while let Some(Ok(m)) = from_client.next().await {
            if matches!(m, ws::Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLIENT_CLOSE_GRACE, drain).await;
}

fn normal_closure() -> ws::CloseFrame {
    ws::CloseFrame {
        code: 1000,
        reason: "".into(),
    }
}

pub(super) type AgentSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn connect(
    url: &str,
    protocol: &str,
    credential: Option<&super::AgentCredential>,
) -> Result<AgentSocket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let value = HeaderValue::from_str(protocol).map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", value);
    if let Some(credential) = credential {
        let value = HeaderValue::from_str(&credential.authorization())
            .map_err(|e| format!("the proxy token is not a valid header value: {e}"))?;
        request.headers_mut().insert("Authorization", value);
    }
    match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Err(_) => Err("timed out connecting".into()),
        Ok(Err(tungstenite::Error::Http(resp))) if resp.status().as_u16() == 401 => {
            Err(super::CREDENTIAL_REFUSED.into())
        }
        Ok(Err(tungstenite::Error::Http(resp))) => {
            // The agent refused: its Status says why.
            let body = resp.body().as_deref().unwrap_or_default();
            Err(super::logs::agent_status(resp.status().as_u16(), body).message)
        }
        Ok(Err(e)) => Err(super::error_chain(&e)),
        Ok(Ok((socket, _))) => Ok(socket),
    }
}

/// kubectl -> agent. Pings and pongs stay on their own hop.
fn to_tungstenite(m: ws::Message) -> Option<tungstenite::Message> {
    Some(match m {
        ws::Message::Binary(b) => tungstenite::Message::Binary(b),
        ws::Message::Text(t) => tungstenite::Message::Text(t.as_str().into()),
        ws::Message::Close(frame) => {
            tungstenite::Message::Close(frame.map(|f| tungstenite::protocol::CloseFrame {
                code: f.code.into(),
                reason: f.reason.as_str().into(),
            }))
        }
        ws::Message::Ping(_) | ws::Message::Pong(_) => return None,
    })
}

/// agent -> kubectl.
fn to_axum(m: tungstenite::Message) -> Option<ws::Message> {
    Some(match m {
        tungstenite::Message::Binary(b) => ws::Message::Binary(b),
        tungstenite::Message::Text(t) => ws::Message::Text(t.as_str().into()),
        tungstenite::Message::Close(frame) => ws::Message::Close(frame.map(|f| ws::CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().into(),
        })),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_bytes_and_close_codes() {
        let b = to_tungstenite(ws::Message::Binary(vec![0, 1, 2].into())).unwrap();
        assert_eq!(b, tungstenite::Message::Binary(vec![0, 1, 2].into()));
        let back = to_axum(b).unwrap();
        assert_eq!(back, ws::Message::Binary(vec![0, 1, 2].into()));
        let close = to_axum(tungstenite::Message::Close(Some(
            tungstenite::protocol::CloseFrame {
                code: 1000.into(),
                reason: "done".into(),
            },
        )))
        .unwrap();
        assert_eq!(
            close,
            ws::Message::Close(Some(ws::CloseFrame {
                code: 1000,
                reason: "done".into()
            }))
        );
        assert!(to_tungstenite(ws::Message::Ping(vec![1].into())).is_none());
    }
}
