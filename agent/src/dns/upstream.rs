//! Forwarding names outside the cluster to the configured upstream
//! servers, each tried in turn, all within one short deadline.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

/// The first answer an upstream gives to `query`, over UDP (`tcp` false)
/// or TCP; `None` when none answered within `within`.
pub async fn forward(
    query: &[u8],
    upstreams: &[SocketAddr],
    within: Duration,
    tcp: bool,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let share = within / u32::try_from(upstreams.len().max(1)).unwrap_or(1);
    for upstream in upstreams {
        // Each server gets its share, the last one whatever is left.
        let until = (Instant::now() + share).min(deadline);
        let attempt = if tcp {
            timeout_at(until, over_tcp(query, *upstream)).await
        } else {
            timeout_at(until, over_udp(query, *upstream)).await
        };
        match attempt {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(e)) => tracing::debug!(%upstream, error = %e, "DNS upstream failed"),
            Err(_) => tracing::debug!(%upstream, "DNS upstream timed out"),
        }
    }
    None
}

async fn over_udp(query: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        // Only the answer to this query (same id) counts.
        if n >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn over_tcp(query: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(query.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let answer_len = stream.read_u16().await?;
    let mut answer = vec![0u8; usize::from(answer_len)];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
}
