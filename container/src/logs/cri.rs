//! One CRI log record: formatting and parsing.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn parse(text: &[u8]) -> Option<Stream> {
        match text {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: DateTime<Utc>,
    pub stream: Stream,
    /// `F`: this text ends a line; `P`: more of the line follows.
    pub full: bool,
    /// Without the line's newline.
    pub text: &'a [u8],
}

/// RFC 3339 with nanoseconds, UTC (`time.RFC3339Nano` with nine digits).
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// One record with its trailing newline.
pub fn format_record(time: &DateTime<Utc>, stream: Stream, full: bool, text: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(text.len() + 48);
    line.extend_from_slice(format_time(time).as_bytes());
    line.push(b' ');
    line.extend_from_slice(stream.as_str().as_bytes());
    line.extend_from_slice(if full { b" F " } else { b" P " });
    line.extend_from_slice(text);
    line.push(b'\n');
    line
}

/// Parses one line (without its newline); `None` for anything malformed.
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let time = DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc);
    let stream = Stream::parse(parts.next()?)?;
    let full = match parts.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    let text = parts.next().unwrap_or(b"");
    Some(Record {
        time,
        stream,
        full,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let time = Utc::now();
        let line = format_record(&time, Stream::Stderr, false, b"a b  c");
        assert!(line.ends_with(b"\n"));
        let record = parse_record(&line[..line.len() - 1]).unwrap();
        assert_eq!(record.time, time);
        assert_eq!(record.stream, Stream::Stderr);
        assert!(!record.full);
        assert_eq!(record.text, b"a b  c");
    }

    #[test]
    fn accepts_trimmed_fractions_and_empty_text() {
        let record = parse_record(b"2026-11-27T11:00:00.5Z stdout F").unwrap();
        assert_eq!(record.text, b"");
        assert!(record.full);
        assert_eq!(format_time(&record.time), "2026-11-27T11:00:00.500000000Z");
    }

    #[test]
    fn refuses_malformed_lines() {
        assert!(parse_record(b"garbage").is_none());
        assert!(parse_record(b"2026-11-27T11:00:00Z stdin F x").is_none());
        assert!(parse_record(b"2026-11-27T11:00:00Z stdout X x").is_none());
    }
}
