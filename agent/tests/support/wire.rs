//! Clients of the agent's HTTP API for tests: plain GETs and exec over
//! WebSocket, as the API server and kubectl speak them.

#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use skiff_agent::server::channel;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `GET url`: status and body.
pub async fn get(url: &str) -> (u16, String) {
    let resp = http().get(url).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap())
}

/// What an exec session produced.
#[derive(Debug, Default)]
pub struct ExecResult {
    pub protocol: String,
    pub stdout: String,
    pub stderr: String,
    /// The decoded channel-3 status.
    pub status: Option<Result<i32, String>>,
    /// A close frame came after the status.
    pub closed: bool,
}

/// Opens `url` offering `protocols`, sends `stdin` (then, with v5, the
/// end-of-stdin signal) and reads until the server closes.
pub async fn exec(url: &str, protocols: &str, stdin: Option<&[u8]>) -> Result<ExecResult, String> {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocols).unwrap(),
    );
    let (mut socket, resp) = match tokio_tungstenite::connect_async(request).await {
        Ok(ok) => ok,
        Err(tungstenite::Error::Http(resp)) => {
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
            return Err(format!("{} {body}", resp.status().as_u16()));
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut out = ExecResult {
        protocol: resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        ..Default::default()
    };
    if let Some(data) = stdin {
        socket
            .send(Message::Binary(channel::frame(channel::STDIN, data).into()))
            .await
            .unwrap();
        if out.protocol == channel::V5 {
            socket
                .send(Message::Binary(vec![channel::CLOSE, channel::STDIN].into()))
                .await
                .unwrap();
        }
    }
    let read = async {
        while let Some(m) = socket.next().await {
            match m {
                Ok(Message::Binary(data)) => {
                    let (ch, payload) = data.split_first().unwrap();
                    let text = String::from_utf8_lossy(payload).into_owned();
                    match *ch {
                        channel::STDOUT => out.stdout.push_str(&text),
                        channel::STDERR => out.stderr.push_str(&text),
                        channel::ERROR => out.status = Some(channel::parse_status(payload)),
                        other => panic!("unexpected channel {other}"),
                    }
                }
                Ok(Message::Close(_)) => {
                    out.closed = out.status.is_some();
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("exec socket error: {e}"),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .map_err(|_| "the exec session did not end".to_string())?;
    Ok(out)
}
