//! What a hollow container "does", read from its environment so that plain
//! manifests can script it (a Job whose pods finish, a crash loop):
//!
//! | variable | effect |
//! |---|---|
//! | `HOLLOW_EXIT_CODE=N` | exits with code N (after `HOLLOW_RUN_FOR`, default at once) |
//! | `HOLLOW_RUN_FOR=2s` | runs this long, then exits (code 0 unless `HOLLOW_EXIT_CODE`) |
//! | `HOLLOW_READY_AFTER=500ms` | ready this long after starting (default: the runtime's readiness delay) |
//! | `HOLLOW_NEVER_READY=true` | runs but never reports ready |
//! | `HOLLOW_IGNORE_SIGTERM=true` | a stop takes the whole grace period, then SIGKILL (exit 137) |
//!
//! Durations: `250ms`, `2s`, `1.5s`, `3m`, `1h`, or a plain number of seconds.

use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    /// Exit on its own after this long, with `exit_code`.
    pub run_for: Option<Duration>,
    pub exit_code: i32,
    /// Overrides the runtime's readiness delay.
    pub ready_after: Option<Duration>,
    pub never_ready: bool,
    pub ignore_sigterm: bool,
}

impl Program {
    /// The program the environment describes; unknown or malformed values
    /// are ignored (a hollow container never fails to start over them).
    pub fn from_env(env: &[(String, String)]) -> Program {
        let get = |k: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim())
        };
        let exit_code = get("HOLLOW_EXIT_CODE").and_then(|v| v.parse::<i32>().ok());
        let run_for = get("HOLLOW_RUN_FOR").and_then(parse_duration);
        Program {
            run_for: match (run_for, exit_code) {
                (Some(d), _) => Some(d),
                (None, Some(_)) => Some(Duration::ZERO),
                (None, None) => None,
            },
            exit_code: exit_code.unwrap_or(0),
            ready_after: get("HOLLOW_READY_AFTER").and_then(parse_duration),
            never_ready: get("HOLLOW_NEVER_READY").is_some_and(is_true),
            ignore_sigterm: get("HOLLOW_IGNORE_SIGTERM").is_some_and(is_true),
        }
    }
}

fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// `250ms`, `2s`, `1.5s`, `3m`, `1h`, `7` (seconds).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn an_exit_code_alone_exits_at_once() {
        let p = Program::from_env(&env(&[("HOLLOW_EXIT_CODE", "3")]));
        assert_eq!(p.run_for, Some(Duration::ZERO));
        assert_eq!(p.exit_code, 3);
        let p = Program::from_env(&env(&[("HOLLOW_RUN_FOR", "2s")]));
        assert_eq!((p.run_for, p.exit_code), (Some(Duration::from_secs(2)), 0));
    }

    #[test]
    fn plain_containers_run_for_ever() {
        let p = Program::from_env(&env(&[("PATH", "/bin"), ("HOLLOW_EXIT_CODE", "x")]));
        assert_eq!(p, Program::default());
    }

    #[test]
    fn flags_and_the_last_value_win() {
        let p = Program::from_env(&env(&[
            ("HOLLOW_NEVER_READY", "true"),
            ("HOLLOW_IGNORE_SIGTERM", "1"),
            ("HOLLOW_READY_AFTER", "1s"),
            ("HOLLOW_READY_AFTER", "2s"),
        ]));
        assert!(p.never_ready && p.ignore_sigterm);
        assert_eq!(p.ready_after, Some(Duration::from_secs(2)));
    }
}
