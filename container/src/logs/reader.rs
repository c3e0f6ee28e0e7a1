//! Reads CRI log files back as kubectl shows them, and follows them.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::cri::{Record, Stream, format_time, parse_record};
use super::writer::rotated;

/// `kubectl logs` options (`--tail`, `--since`/`--since-time`,
/// `--timestamps`, `--limit-bytes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Only the last N lines already written (follow then goes on).
    pub tail_lines: Option<usize>,
    /// Only records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Prefix each line with its RFC 3339 time and a space.
    pub timestamps: bool,
    /// Stop after this many bytes of output in all.
    pub limit_bytes: Option<usize>,
}

/// A cursor over a container's log: the first [`LogReader::read_available`]
/// returns what is there (rotated files first), later calls what was
/// written since; rotation is followed.
pub struct LogReader {
    path: PathBuf,
    opts: ReadOptions,
    /// The file being read and its identity (device, inode).
    current: Option<(File, (u64, u64))>,
    /// Bytes of the current file after its last complete line.
    unparsed: Vec<u8>,
    /// Output produced by `open` not yet handed out.
    ready: Vec<u8>,
    remaining: Option<usize>,
    at_line_start_stdout: bool,
    at_line_start_stderr: bool,
}

/// Rotated files looked for beyond the configured count, in case the
/// setting changed.
const MAX_ROTATED: u32 = 1000;

impl LogReader {
    /// Opens the log at `path` (the current file; `PATH.1`.. are its rotated
    /// predecessors). A log not written yet reads as empty.
    pub fn open(path: &Path, opts: &ReadOptions) -> io::Result<LogReader> {
        let mut reader = LogReader {
            path: path.to_path_buf(),
            opts: opts.clone(),
            current: None,
            unparsed: Vec::new(),
            ready: Vec::new(),
            remaining: opts.limit_bytes,
            at_line_start_stdout: true,
            at_line_start_stderr: true,
        };
        reader.read_existing()?;
        Ok(reader)
    }

    /// Everything new since the last call, formatted.
    pub fn read_available(&mut self) -> io::Result<Vec<u8>> {
        let mut out = std::mem::take(&mut self.ready);
        if self.limit_reached() {
            return Ok(out);
        }
        if self.current.is_none() {
            self.current = open_with_identity(&self.path)?;
        }
        let on_disk = identity_of(&self.path)?;
        self.read_current_to_end(&mut out)?;
        let rotated_away =
            matches!((&self.current, on_disk), (Some((_, ours)), Some(now)) if *ours != now);
        if rotated_away {
            // The old file is complete: continue with the new one.
            self.unparsed.clear();
            self.current = open_with_identity(&self.path)?;
            self.read_current_to_end(&mut out)?;
        }
        Ok(out)
    }

    /// True once `limit_bytes` bytes have been returned.
    pub fn limit_reached(&self) -> bool {
        self.remaining == Some(0)
    }

    fn read_existing(&mut self) -> io::Result<()> {
        self.current = open_with_identity(&self.path)?;
        let mut newest_first: Vec<Vec<u8>> = Vec::new();
        if let Some((file, _)) = &mut self.current {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            self.unparsed = bytes.split_off(complete);
            newest_first.push(bytes);
        }
        let mut full_lines = count_full(newest_first.iter());
        for n in 1..=MAX_ROTATED {
            if self.opts.tail_lines.is_some_and(|tail| full_lines > tail) {
                break; // older files cannot hold any of the last lines
            }
            match fs::read(rotated(&self.path, n)) {
                Ok(bytes) => {
                    full_lines += count_full(std::iter::once(&bytes));
                    newest_first.push(bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        let all: Vec<u8> = newest_first.into_iter().rev().flatten().collect();
        let records: Vec<Record> = lines(&all).filter_map(parse_record).collect();
        let start = match self.opts.tail_lines {
            Some(tail) => tail_start(&records, tail),
            None => 0,
        };
        let mut out = Vec::new();
        for record in &records[start..] {
            self.emit(record, &mut out);
        }
        self.ready = out;
        Ok(())
    }

    fn read_current_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let Some((file, _)) = &mut self.current else {
            return Ok(());
        };
        let mut bytes = std::mem::take(&mut self.unparsed);
        file.read_to_end(&mut bytes)?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.unparsed = bytes.split_off(complete);
        for record in lines(&bytes).filter_map(parse_record) {
            self.emit(&record, out);
        }
        Ok(())
    }

    fn emit(&mut self, record: &Record, out: &mut Vec<u8>) {
        if self.opts.since.is_some_and(|since| record.time < since) || self.limit_reached() {
            return;
        }
        let at_line_start = match record.stream {
            Stream::Stdout => &mut self.at_line_start_stdout,
            Stream::Stderr => &mut self.at_line_start_stderr,
        };
        let mut text = Vec::with_capacity(record.text.len() + 40);
        if self.opts.timestamps && *at_line_start {
            text.extend_from_slice(format_time(&record.time).as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(record.text);
        if record.full {
            text.push(b'\n');
        }
        *at_line_start = record.full;
        if let Some(remaining) = &mut self.remaining {
            text.truncate(*remaining);
            *remaining -= text.len();
        }
        out.extend_from_slice(&text);
    }
}

/// Index of the first record of the last `tail` lines (a line is `P`
/// records ended by an `F` one).
fn tail_start(records: &[Record], tail: usize) -> usize {
    if tail == 0 {
        return records.len();
    }
    let mut seen = 0;
    for (i, record) in records.iter().enumerate().rev() {
        if record.full {
            if seen == tail {
                return i + 1;
            }
            seen += 1;
        }
    }
    0
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| *b == b'\n').filter(|line| !line.is_empty())
}

fn count_full<'a>(files: impl Iterator<Item = &'a Vec<u8>>) -> usize {
    files
        .map(|bytes| {
            lines(bytes)
                .filter_map(parse_record)
                .filter(|r| r.full)
                .count()
        })
        .sum()
}

fn identity_of(path: &Path) -> io::Result<Option<(u64, u64)>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some((meta.dev(), meta.ino()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("reading log {}: {e}", path.display()),
        )),
    }
}

fn open_with_identity(path: &Path) -> io::Result<Option<(File, (u64, u64))>> {
    match File::open(path) {
        Ok(file) => {
            let meta = file.metadata()?;
            Ok(Some((file, (meta.dev(), meta.ino()))))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("opening log {}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
