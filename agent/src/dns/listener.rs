//! The server's sockets: UDP and TCP on one address, bound with
//! IP_FREEBIND so the node's DNS can listen on the pod network's gateway
//! before the CNI plugin has created the bridge that carries it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use super::respond::{Reply, Responder};
use super::upstream;

/// A TCP client that sends nothing for this long is dropped.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// TCP clients served at once (each is one task).
const MAX_TCP_CLIENTS: usize = 256;

/// Where names outside the cluster go.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub servers: Vec<SocketAddr>,
    pub timeout: Duration,
}

/// UDP and TCP sockets on `addr`; port 0 picks one port free for both.
pub fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    if addr.port() != 0 {
        return Ok((bind_udp(addr)?, bind_tcp(addr)?));
    }
    let mut last = None;
    for _ in 0..16 {
        let tcp = bind_tcp(addr)?;
        let port = tcp.local_addr()?.port();
        match bind_udp(SocketAddr::new(addr.ip(), port)) {
            Ok(udp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

fn socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    if addr.is_ipv4() {
        socket.set_freebind_v4(true)?;
    } else {
        socket.set_only_v6(true)?;
        socket.set_freebind_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    // No SO_REUSEADDR: for UDP it would let a second server share the port.
    let socket = socket(addr, Type::DGRAM, Protocol::UDP)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Answers datagrams until the task is aborted. Cluster names are answered
/// inline (a cache read); forwarded ones get a task each.
pub async fn serve_udp(socket: UdpSocket, responder: Arc<Responder>, upstreams: Arc<Upstreams>) {
    let socket = Arc::new(socket);
    let mut forwards = JoinSet::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors of earlier replies surface here; keep serving.
                    tracing::debug!(error = %e, "DNS UDP receive failed");
                    continue;
                }
            },
            Some(_) = forwards.join_next(), if !forwards.is_empty() => continue,
        };
        let packet = buf[..n].to_vec();
        match responder.respond(&packet, true) {
            Reply::Answer(answer) => {
                let _ = socket.send_to(&answer, peer).await;
            }
            Reply::Forward { fallback } => {
                let socket = socket.clone();
                let upstreams = upstreams.clone();
                forwards.spawn(async move {
                    let answer =
                        upstream::forward(&packet, &upstreams.servers, upstreams.timeout, false)
                            .await;
                    let _ = socket.send_to(&answer.unwrap_or(fallback), peer).await;
                });
            }
            Reply::Drop => {}
        }
    }
}

/// Accepts TCP clients until the task is aborted (which ends their tasks too).
pub async fn serve_tcp(
    listener: TcpListener,
    responder: Arc<Responder>,
    upstreams: Arc<Upstreams>,
) {
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if clients.len() < MAX_TCP_CLIENTS => {
                    clients.spawn(serve_tcp_client(stream, responder.clone(), upstreams.clone()));
                }
                Ok(_) => {} // too many: dropping the stream closes it
                Err(e) => {
                    tracing::warn!(error = %e, "DNS TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
}

/// Length-prefixed messages, answered in order, until EOF or idleness.
async fn serve_tcp_client(
    mut stream: TcpStream,
    responder: Arc<Responder>,
    upstreams: Arc<Upstreams>,
) {
    loop {
        let Ok(Ok(len)) = tokio::time::timeout(TCP_IDLE, stream.read_u16()).await else {
            return;
        };
        let mut packet = vec![0u8; usize::from(len)];
        if !matches!(
            tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let answer = match responder.respond(&packet, false) {
            Reply::Answer(answer) => answer,
            Reply::Forward { fallback } => {
                upstream::forward(&packet, &upstreams.servers, upstreams.timeout, true)
                    .await
                    .unwrap_or(fallback)
            }
            Reply::Drop => return,
        };
        let Ok(len) = u16::try_from(answer.len()) else {
            return;
        };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&answer);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
