//! A WebSocket to the API server with the client's settings: TLS verified
//! with the kubeconfig's CA for `wss://`, and its bearer token.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A plain or TLS connection.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Socket = WebSocketStream<Box<dyn Io>>;

fn io_error(message: String) -> Error {
    Error::Io(std::io::Error::other(message))
}

/// Connects `request` (a `ws://` or `wss://` URL) as `client` would.
pub async fn connect(client: &skiff_client::Client, mut request: Request) -> Result<Socket, Error> {
    let uri = request.uri().clone();
    let tls = uri.scheme_str() == Some("wss");
    let host = uri
        .host()
        .ok_or_else(|| io_error(format!("no host in {uri}")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if tls {
        let config = client
            .rustls_config()
            .map_err(|e| io_error(e.to_string()))?
            .ok_or_else(|| io_error(format!("{} is not an https server", client.server())))?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| io_error(format!("server name {host:?}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        Box::new(connector.connect(name, tcp).await?)
    } else {
        Box::new(tcp)
    };
    if let Some(token) = client.token() {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| io_error("the token contains invalid characters".into()))?;
        request.headers_mut().insert("Authorization", value);
    }
    let (socket, _) = tokio_tungstenite::client_async(request, stream).await?;
    Ok(socket)
}

/// `http[s]://` to `ws[s]://`.
pub fn websocket_base(server: &str) -> Option<String> {
    if let Some(rest) = server.strip_prefix("http://") {
        Some(format!("ws://{rest}"))
    } else {
        server
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(websocket_base("http://h:1").as_deref(), Some("ws://h:1"));
        assert_eq!(websocket_base("https://h:1").as_deref(), Some("wss://h:1"));
        assert_eq!(websocket_base("ftp://h"), None);
    }
}
