//! SPDY/3.1 frames, as much of them as a remote-command server needs.
//!
//! ```text
//! control: |1| version (15) | type (16) | flags (8) | length (24) | data
//! data:    |0| stream id (31)           | flags (8) | length (24) | data
//! ```

use tokio::io::{AsyncRead, AsyncReadExt};

pub const VERSION: u16 = 3;
pub const FLAG_FIN: u8 = 0x01;

pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;

/// The largest frame accepted from a peer (kubectl's are a few KiB).
const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Control {
        kind: u16,
        flags: u8,
        payload: Vec<u8>,
    },
    Data {
        stream: u32,
        flags: u8,
        payload: Vec<u8>,
    },
}

/// Reads one frame; `None` at a clean end of the connection.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!("SPDY frame of {len} bytes")));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    Ok(Some(if first & 0x8000_0000 != 0 {
        let version = (first >> 16) as u16 & 0x7fff;
        if version != VERSION {
            return Err(std::io::Error::other(format!("SPDY version {version}")));
        }
        Frame::Control {
            kind: first as u16,
            flags,
            payload,
        }
    } else {
        Frame::Data {
            stream: first,
            flags,
            payload,
        }
    }))
}

pub fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

/// The 31-bit stream id a SYN_STREAM, SYN_REPLY or RST_STREAM starts with.
pub fn stream_id(payload: &[u8]) -> Option<u32> {
    let b = payload.get(..4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let mut wire = control(PING, 0, &7u32.to_be_bytes());
        wire.extend(data(3, FLAG_FIN, b"hi"));
        let mut r = &wire[..];
        assert_eq!(
            read(&mut r).await.unwrap(),
            Some(Frame::Control {
                kind: PING,
                flags: 0,
                payload: vec![0, 0, 0, 7]
            })
        );
        assert_eq!(
            read(&mut r).await.unwrap(),
            Some(Frame::Data {
                stream: 3,
                flags: FLAG_FIN,
                payload: b"hi".to_vec()
            })
        );
        assert_eq!(read(&mut r).await.unwrap(), None);
        assert_eq!(stream_id(&[0x80, 0, 0, 5]), Some(5));
        let mut v2 = control(PING, 0, &[]);
        v2[1] = 2;
        assert!(read(&mut &v2[..]).await.is_err());
    }
}
