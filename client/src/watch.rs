//! Watch events and the decoder that turns a chunked body of
//! newline-delimited JSON into them, whatever the chunk boundaries are.

use std::collections::VecDeque;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use skiff_api::Status;

use crate::error::{Error, Result};

/// One event of a watch.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<T> {
    Added(T),
    Modified(T),
    /// The object's last state.
    Deleted(T),
    /// Progress marker: everything up to this resourceVersion has been sent.
    Bookmark {
        resource_version: String,
    },
    /// The watch failed (410 Expired: re-list and watch again).
    Error(Box<Status>),
}

impl<T> WatchEvent<T> {
    /// `ADDED`, `MODIFIED`, ...: the wire name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark { .. } => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        }
    }

    /// The object of an ADDED, MODIFIED or DELETED event.
    pub fn object(&self) -> Option<&T> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
            _ => None,
        }
    }

    pub fn into_object(self) -> Option<T> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
            _ => None,
        }
    }
}

impl<T: DeserializeOwned> WatchEvent<T> {
    /// Decodes one `{"type": ..., "object": ...}` line.
    pub fn from_json(line: &[u8]) -> Result<WatchEvent<T>> {
        let raw: Value =
            serde_json::from_slice(line).map_err(|e| Error::decode("a watch event", e))?;
        let kind = raw.get("type").and_then(Value::as_str).unwrap_or_default();
        let object = raw.get("object").cloned().unwrap_or(Value::Null);
        let typed = |o: Value| -> Result<T> {
            serde_json::from_value(o).map_err(|e| Error::decode("a watch event's object", e))
        };
        Ok(match kind {
            "ADDED" => WatchEvent::Added(typed(object)?),
            "MODIFIED" => WatchEvent::Modified(typed(object)?),
            "DELETED" => WatchEvent::Deleted(typed(object)?),
            "BOOKMARK" => WatchEvent::Bookmark {
                resource_version: object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            },
            "ERROR" => WatchEvent::Error(Box::new(
                serde_json::from_value(object)
                    .map_err(|e| Error::decode("a watch ERROR event", e))?,
            )),
            other => {
                return Err(Error::Decode(format!("unknown watch event type {other:?}")));
            }
        })
    }
}

/// A stream of decoded watch events (`Send + Sync`, like [`crate::client::ByteStream`]).
pub type WatchStream<T> = Pin<Box<dyn Stream<Item = Result<WatchEvent<T>>> + Send + Sync>>;

/// Splits bytes into `\n`-terminated lines, keeping partial lines between pushes.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// Adds `chunk`; returns every line it completed (without the `\n`,
    /// blank lines dropped).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in chunk {
            if b == b'\n' {
                let line = std::mem::take(&mut self.buf);
                if !line.iter().all(u8::is_ascii_whitespace) {
                    out.push(line);
                }
            } else {
                self.buf.push(b);
            }
        }
        out
    }

    /// What is left when the body ends (a last line without `\n`).
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let line = std::mem::take(&mut self.buf);
        (!line.iter().all(u8::is_ascii_whitespace)).then_some(line)
    }
}

/// Decodes a body of newline-delimited events. A line that does not decode
/// yields an error item and the stream goes on; transport errors end it.
pub fn decode_events<T, S>(body: S) -> WatchStream<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
    S: Stream<Item = Result<Bytes>> + Send + Sync + 'static,
{
    struct State<S> {
        body: Pin<Box<S>>,
        lines: LineBuffer,
        ready: VecDeque<Vec<u8>>,
        done: bool,
    }
    let state = State {
        body: Box::pin(body),
        lines: LineBuffer::default(),
        ready: VecDeque::new(),
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.ready.pop_front() {
                return Some((WatchEvent::from_json(&line), st));
            }
            if st.done {
                return None;
            }
            match st.body.next().await {
                Some(Ok(chunk)) => st.ready.extend(st.lines.push(&chunk)),
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    st.ready.extend(st.lines.finish());
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Watch streams can be held across `.await` by tasks that borrow their owner.
    #[test]
    fn watch_streams_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<WatchStream<Value>>();
        send_sync::<crate::client::ByteStream>();
    }

    #[test]
    fn lines_survive_any_chunking() {
        let body = b"{\"a\":1}\n\n{\"b\":2}\n{\"c\":3}";
        for split in 1..body.len() {
            let mut lb = LineBuffer::default();
            let mut lines = Vec::new();
            for chunk in body.chunks(split) {
                lines.extend(lb.push(chunk));
            }
            lines.extend(lb.finish());
            assert_eq!(
                lines,
                vec![
                    b"{\"a\":1}".to_vec(),
                    b"{\"b\":2}".to_vec(),
                    b"{\"c\":3}".to_vec()
                ],
                "split {split}"
            );
        }
    }

    #[tokio::test]
    async fn decodes_every_event_type() {
        let text = concat!(
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n",
            "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n",
            "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n",
            "not json\n",
            "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n",
            "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410,\"message\":\"too old\"}}\n",
        );
        // Three-byte chunks: every event straddles a boundary.
        let chunks: Vec<Result<Bytes>> = text
            .as_bytes()
            .chunks(3)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let events: Vec<Result<WatchEvent<Value>>> =
            decode_events(futures::stream::iter(chunks)).collect().await;
        assert_eq!(events.len(), 6);
        assert_eq!(events[0].as_ref().unwrap().type_name(), "ADDED");
        assert_eq!(events[1].as_ref().unwrap().type_name(), "MODIFIED");
        assert_eq!(
            events[2].as_ref().unwrap(),
            &WatchEvent::Bookmark {
                resource_version: "9".into()
            }
        );
        assert!(matches!(events[3], Err(Error::Decode(_))));
        assert_eq!(events[4].as_ref().unwrap().type_name(), "DELETED");
        match events[5].as_ref().unwrap() {
            WatchEvent::Error(s) => assert_eq!(s.code, 410),
            other => panic!("expected an ERROR event, got {other:?}"),
        }
    }
}
