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
//! | `HOLLOW_EXEC_EXIT_CODE=N` | `exec_sync` (exec probes) exits with N instead of 0 |
//! | `HOLLOW_EXEC_SUCCEED_AFTER=2s` | `exec_sync` fails until the container has run this long |
//! | `HOLLOW_EXEC_FAIL_AFTER=3s` | `exec_sync` fails once the container has run this long |
//!
//! A failing `exec_sync` exits with `HOLLOW_EXEC_EXIT_CODE` if that is not
//! 0, else 1; outside its failing windows it exits 0.
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
    /// `exec_sync` exits with this when it fails (and always, without windows).
    pub exec_exit_code: Option<i32>,
    /// `exec_sync` fails before the container has run this long.
    pub exec_succeed_after: Option<Duration>,
    /// `exec_sync` fails once the container has run this long.
    pub exec_fail_after: Option<Duration>,
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
            exec_exit_code: get("HOLLOW_EXEC_EXIT_CODE").and_then(|v| v.parse::<i32>().ok()),
            exec_succeed_after: get("HOLLOW_EXEC_SUCCEED_AFTER").and_then(parse_duration),
            exec_fail_after: get("HOLLOW_EXEC_FAIL_AFTER").and_then(parse_duration),
        }
    }

    /// The exit code of an `exec_sync` in a container that has run `running_for`.
    pub fn exec_exit_code(&self, running_for: Duration) -> i32 {
        let windows = self.exec_succeed_after.is_some() || self.exec_fail_after.is_some();
        if !windows {
            return self.exec_exit_code.unwrap_or(0);
        }
        let failing = self.exec_succeed_after.is_some_and(|d| running_for < d)
            || self.exec_fail_after.is_some_and(|d| running_for >= d);
        match (failing, self.exec_exit_code) {
            (false, _) => 0,
            (true, Some(code)) if code != 0 => code,
            (true, _) => 1,
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

    #[test]
    fn exec_results_follow_their_windows() {
        let secs = Duration::from_secs;
        assert_eq!(Program::default().exec_exit_code(secs(100)), 0);
        let always = Program::from_env(&env(&[("HOLLOW_EXEC_EXIT_CODE", "7")]));
        assert_eq!(always.exec_exit_code(Duration::ZERO), 7);
        let late = Program::from_env(&env(&[("HOLLOW_EXEC_FAIL_AFTER", "3s")]));
        assert_eq!(late.exec_exit_code(secs(2)), 0);
        assert_eq!(late.exec_exit_code(secs(3)), 1);
        let slow = Program::from_env(&env(&[
            ("HOLLOW_EXEC_SUCCEED_AFTER", "2s"),
            ("HOLLOW_EXEC_FAIL_AFTER", "5s"),
            ("HOLLOW_EXEC_EXIT_CODE", "4"),
        ]));
        assert_eq!(slow.exec_exit_code(secs(1)), 4);
        assert_eq!(slow.exec_exit_code(secs(2)), 0);
        assert_eq!(slow.exec_exit_code(secs(6)), 4);
    }
}
