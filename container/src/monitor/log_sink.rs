//! The container's log as the monitor sees it: a [`LogWriter`], or nothing
//! once writing failed.

use std::io;

use crate::logs::{LogWriter, Stream};
use crate::spec::LogSpec;

/// The log file, or nothing once it failed: a full disk must not keep the
/// container's exit from being recorded (its output is then dropped).
pub struct LogSink {
    writer: Option<LogWriter>,
}

impl LogSink {
    pub fn open(spec: &LogSpec, log_error: &dyn Fn(&str)) -> LogSink {
        let writer = LogWriter::open(spec)
            .map_err(|e| log_error(&format!("{e}; the container's output is dropped")))
            .ok();
        LogSink { writer }
    }

    pub fn has_partial(&self) -> bool {
        self.writer.as_ref().is_some_and(LogWriter::has_partial)
    }

    pub fn write(&mut self, stream: Stream, data: &[u8], log_error: &dyn Fn(&str)) {
        self.apply(log_error, |w| w.write(stream, data));
    }

    pub fn flush_partial(&mut self, log_error: &dyn Fn(&str)) {
        self.apply(log_error, LogWriter::flush_partial);
    }

    pub fn finish(&mut self, log_error: &dyn Fn(&str)) {
        self.apply(log_error, LogWriter::finish);
    }

    fn apply(
        &mut self,
        log_error: &dyn Fn(&str),
        op: impl FnOnce(&mut LogWriter) -> io::Result<()>,
    ) {
        if let Some(writer) = &mut self.writer
            && let Err(e) = op(writer)
        {
            log_error(&format!(
                "writing the log: {e}; the container's further output is dropped"
            ));
            self.writer = None;
        }
    }
}
