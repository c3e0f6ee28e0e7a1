//! Turns a container's raw output into CRI records and rotates the file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::cri::{Stream, format_record};
use crate::spec::LogSpec;

/// Longest text in one record; longer lines are split into `P` records
/// (the kubelet's limit).
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

pub struct LogWriter {
    spec: LogSpec,
    file: File,
    size: u64,
    /// Output of each stream not yet ended by a newline.
    pending_stdout: Vec<u8>,
    pending_stderr: Vec<u8>,
}

impl LogWriter {
    /// Opens (appending) or creates the current file.
    pub fn open(spec: &LogSpec) -> io::Result<LogWriter> {
        let file = open_append(&spec.path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            spec: spec.clone(),
            file,
            size,
            pending_stdout: Vec::new(),
            pending_stderr: Vec::new(),
        })
    }

    /// Records `data` read from `stream`: every complete line as one `F`
    /// record (split into `P` records past [`MAX_RECORD_BYTES`]); an
    /// unterminated rest waits for more output or [`Self::flush_partial`].
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let mut pending = std::mem::take(self.pending(stream));
        pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(newline) = pending[start..].iter().position(|b| *b == b'\n') {
            let line = &pending[start..start + newline];
            self.write_line(stream, line, true)?;
            start += newline + 1;
        }
        let mut rest = &pending[start..];
        while rest.len() > MAX_RECORD_BYTES {
            self.write_record(stream, false, &rest[..MAX_RECORD_BYTES])?;
            rest = &rest[MAX_RECORD_BYTES..];
        }
        let rest = rest.to_vec();
        *self.pending(stream) = rest;
        Ok(())
    }

    /// True if some stream holds an unterminated line.
    pub fn has_partial(&self) -> bool {
        !self.pending_stdout.is_empty() || !self.pending_stderr.is_empty()
    }

    /// Writes unterminated lines out as `P` records (output that has waited
    /// long enough for its newline).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let pending = std::mem::take(self.pending(stream));
            if !pending.is_empty() {
                self.write_record(stream, false, &pending)?;
            }
        }
        Ok(())
    }

    /// At the end of the output: an unterminated last line ends as `F`
    /// (what containerd does). Like the kubelet's, logs are not fsynced.
    pub fn finish(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let pending = std::mem::take(self.pending(stream));
            if !pending.is_empty() {
                self.write_record(stream, true, &pending)?;
            }
        }
        Ok(())
    }

    fn pending(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.pending_stdout,
            Stream::Stderr => &mut self.pending_stderr,
        }
    }

    fn write_line(&mut self, stream: Stream, mut line: &[u8], full: bool) -> io::Result<()> {
        while line.len() > MAX_RECORD_BYTES {
            self.write_record(stream, false, &line[..MAX_RECORD_BYTES])?;
            line = &line[MAX_RECORD_BYTES..];
        }
        self.write_record(stream, full, line)
    }

    fn write_record(&mut self, stream: Stream, full: bool, text: &[u8]) -> io::Result<()> {
        let record = format_record(&Utc::now(), stream, full, text);
        let max = self.spec.max_size_bytes;
        if max > 0 && self.size > 0 && self.size + record.len() as u64 > max {
            self.rotate()?;
        }
        self.file.write_all(&record)?;
        self.size += record.len() as u64;
        Ok(())
    }

    /// `PATH.N-1` -> `PATH.N` ... `PATH` -> `PATH.1`, then a fresh `PATH`.
    fn rotate(&mut self) -> io::Result<()> {
        let path = &self.spec.path;
        let kept = self.spec.max_files;
        if kept == 0 {
            fs::remove_file(path)?;
        } else {
            for n in (1..kept).rev() {
                rename_if_present(&rotated(path, n), &rotated(path, n + 1))?;
            }
            fs::rename(path, rotated(path, 1))?;
        }
        self.file = open_append(path)?;
        self.size = 0;
        Ok(())
    }
}

/// `PATH.n`.
pub(super) fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening log {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::super::cri::parse_record;
    use super::*;

    fn records(path: &Path) -> Vec<(Stream, bool, Vec<u8>)> {
        fs::read(path)
            .unwrap()
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let r = parse_record(l).unwrap();
                (r.stream, r.full, r.text.to_vec())
            })
            .collect()
    }

    #[test]
    fn splits_lines_and_keeps_streams_apart() {
        let dir = tempfile::tempdir().unwrap();
        let spec = LogSpec::at(dir.path().join("0.log"));
        let mut writer = LogWriter::open(&spec).unwrap();
        writer.write(Stream::Stdout, b"one\ntw").unwrap();
        writer.write(Stream::Stderr, b"err\n").unwrap();
        writer.write(Stream::Stdout, b"o\nthree").unwrap();
        assert!(writer.has_partial());
        writer.finish().unwrap();
        assert_eq!(
            records(&spec.path),
            vec![
                (Stream::Stdout, true, b"one".to_vec()),
                (Stream::Stderr, true, b"err".to_vec()),
                (Stream::Stdout, true, b"two".to_vec()),
                (Stream::Stdout, true, b"three".to_vec()),
            ]
        );
    }

    #[test]
    fn long_lines_become_partial_records() {
        let dir = tempfile::tempdir().unwrap();
        let spec = LogSpec::at(dir.path().join("0.log"));
        let mut writer = LogWriter::open(&spec).unwrap();
        let long = vec![b'x'; MAX_RECORD_BYTES * 2 + 10];
        writer.write(Stream::Stdout, &long).unwrap();
        writer.write(Stream::Stdout, b"\n").unwrap();
        writer.write(Stream::Stdout, b"prompt> ").unwrap();
        writer.flush_partial().unwrap();
        let got = records(&spec.path);
        let tags: Vec<(bool, usize)> = got.iter().map(|(_, f, t)| (*f, t.len())).collect();
        assert_eq!(
            tags,
            vec![
                (false, MAX_RECORD_BYTES),
                (false, MAX_RECORD_BYTES),
                (true, 10),
                (false, 8)
            ]
        );
    }

    #[test]
    fn rotates_keeping_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let spec = LogSpec {
            path: dir.path().join("0.log"),
            max_size_bytes: 200,
            max_files: 2,
        };
        let mut writer = LogWriter::open(&spec).unwrap();
        for i in 0..40 {
            writer
                .write(Stream::Stdout, format!("line {i:03}\n").as_bytes())
                .unwrap();
        }
        writer.finish().unwrap();
        assert!(rotated(&spec.path, 1).exists());
        assert!(rotated(&spec.path, 2).exists());
        assert!(!rotated(&spec.path, 3).exists());
        for path in [spec.path.clone(), rotated(&spec.path, 1)] {
            assert!(fs::metadata(&path).unwrap().len() <= 200);
        }
        let last = records(&spec.path);
        assert_eq!(last.last().unwrap().2, b"line 039");
    }
}
