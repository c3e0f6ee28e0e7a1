//! The hidden subcommands the `skiff` binary dispatches to before anything
//! else starts (no async runtime, no threads: the monitor and the exec
//! helper fork and join namespaces, which needs a single-threaded process).
//!
//! ```text
//! skiff container-monitor STATE_DIR
//! skiff container-exec STATE_DIR [--tty] [--stdin] -- CMD [ARG...]
//! ```

use std::path::Path;

pub const MONITOR_COMMAND: &str = "container-monitor";
pub const EXEC_COMMAND: &str = "container-exec";

/// Runs a hidden subcommand if `args` (the whole argv) names one and
/// returns its exit code; `None` for every other command line.
pub fn dispatch(args: &[String]) -> Option<i32> {
    let command = args.get(1)?;
    let rest = &args[2..];
    let parsed = match command.as_str() {
        MONITOR_COMMAND => parse_monitor(rest).map(Invocation::Monitor),
        EXEC_COMMAND => parse_exec(rest).map(Invocation::Exec),
        _ => return None,
    };
    Some(match parsed {
        Ok(Invocation::Monitor(dir)) => crate::monitor::run(Path::new(dir)),
        Ok(Invocation::Exec(exec)) => {
            crate::exec::run(Path::new(exec.dir), exec.tty, exec.stdin, &exec.command)
        }
        Err(message) => {
            eprintln!("skiff {command}: {message}");
            2
        }
    })
}

#[derive(Debug, PartialEq)]
enum Invocation<'a> {
    Monitor(&'a str),
    Exec(ExecArgs<'a>),
}

#[derive(Debug, PartialEq)]
struct ExecArgs<'a> {
    dir: &'a str,
    tty: bool,
    stdin: bool,
    command: Vec<String>,
}

fn parse_monitor(args: &[String]) -> Result<&str, String> {
    match args {
        [dir] if !dir.starts_with('-') => Ok(dir),
        _ => Err(format!(
            "usage: skiff {MONITOR_COMMAND} STATE_DIR (got {args:?})"
        )),
    }
}

fn parse_exec(args: &[String]) -> Result<ExecArgs<'_>, String> {
    let usage = || {
        format!(
            "usage: skiff {EXEC_COMMAND} STATE_DIR [--tty] [--stdin] -- CMD [ARG...] (got {args:?})"
        )
    };
    let (dir, rest) = args.split_first().ok_or_else(usage)?;
    if dir.starts_with('-') {
        return Err(usage());
    }
    let (mut tty, mut stdin) = (false, false);
    let mut iter = rest.iter();
    for arg in iter.by_ref() {
        match arg.as_str() {
            "--tty" => tty = true,
            "--stdin" => stdin = true,
            "--" => break,
            other => return Err(format!("unknown option {other:?}; {}", usage())),
        }
    }
    let command: Vec<String> = iter.cloned().collect();
    if command.is_empty() {
        return Err(format!("no command after --; {}", usage()));
    }
    Ok(ExecArgs {
        dir,
        tty,
        stdin,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn other_commands_are_not_ours() {
        assert_eq!(dispatch(&strings(&["skiff", "get", "pods"])), None);
        assert_eq!(dispatch(&strings(&["skiff"])), None);
    }

    #[test]
    fn parses_exec_flags_and_command() {
        let args = strings(&["/s", "--tty", "--stdin", "--", "sh", "-c", "echo --tty"]);
        assert_eq!(
            parse_exec(&args).unwrap(),
            ExecArgs {
                dir: "/s",
                tty: true,
                stdin: true,
                command: strings(&["sh", "-c", "echo --tty"]),
            }
        );
        let plain = strings(&["/s", "--", "true"]);
        let parsed = parse_exec(&plain).unwrap();
        assert!(!parsed.tty && !parsed.stdin);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert!(
            parse_exec(&strings(&["/s", "--",]))
                .unwrap_err()
                .contains("no command")
        );
        assert!(
            parse_exec(&strings(&["/s", "--bogus", "--", "true"]))
                .unwrap_err()
                .contains("--bogus")
        );
        assert!(parse_exec(&strings(&[])).unwrap_err().contains("usage"));
        assert!(
            parse_monitor(&strings(&[]))
                .unwrap_err()
                .contains("STATE_DIR")
        );
        assert!(parse_monitor(&strings(&["a", "b"])).is_err());
        assert_eq!(dispatch(&strings(&["skiff", "container-monitor"])), Some(2));
    }
}
