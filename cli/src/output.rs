//! Writing to stdout and stderr without panicking when the reader goes away
//! (`skiff get pods | head`): a closed stdout ends the process quietly.

use std::io::Write;

/// Writes `text` to stdout as is, flushed (watch rows must show at once).
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Writes `text` and a newline to stdout.
pub fn print_line(text: &str) {
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    print(&s);
}

/// Writes `text` and a newline to stderr.
pub fn eprint_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
