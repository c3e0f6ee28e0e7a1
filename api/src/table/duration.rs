//! Ages and durations as `kubectl get` prints them (apimachinery's
//! `duration.HumanDuration`): about two significant figures.

use chrono::{DateTime, Duration, Utc};

/// `0s`..`119s`, `5m3s` (< 10m), `45m` (< 3h), `3h5m` (< 8h), `25h` (< 2d),
/// `3d4h` (< 8d), `45d` (< 2y), `2y10d` (< 8y), `8y`; a zero remainder is
/// left out (`5m`, `3h`, `3d`, `2y`). Up to one second in the future
/// reads `0s` (clock skew); further is `<invalid>`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_remainder(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

/// Parses an RFC 3339 timestamp (`metav1.Time` / `MicroTime`).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The age of a timestamp field (`<unknown>` when absent or unparsable).
pub(crate) fn age(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    match timestamp.and_then(parse_time) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: i64) -> String {
        human_duration(Duration::seconds(secs))
    }

    const M: i64 = 60;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    const Y: i64 = 365 * D;

    #[test]
    fn thresholds() {
        assert_eq!(s(-5), "<invalid>");
        assert_eq!(s(-2), "<invalid>");
        assert_eq!(human_duration(Duration::milliseconds(-1500)), "0s");
        assert_eq!(s(-1), "0s");
        assert_eq!(s(0), "0s");
        assert_eq!(s(59), "59s");
        assert_eq!(s(119), "119s");
        assert_eq!(s(120), "2m");
        assert_eq!(s(5 * M + 3), "5m3s");
        assert_eq!(s(10 * M - 1), "9m59s");
        assert_eq!(s(10 * M), "10m");
        assert_eq!(s(10 * M + 59), "10m");
        assert_eq!(s(45 * M), "45m");
        assert_eq!(s(3 * H - 1), "179m");
        assert_eq!(s(3 * H), "3h");
        assert_eq!(s(3 * H + 5 * M), "3h5m");
        assert_eq!(s(8 * H - 1), "7h59m");
        assert_eq!(s(8 * H), "8h");
        assert_eq!(s(25 * H), "25h");
        assert_eq!(s(48 * H - 1), "47h");
        assert_eq!(s(2 * D), "2d");
        assert_eq!(s(3 * D + 4 * H), "3d4h");
        assert_eq!(s(8 * D - 1), "7d23h");
        assert_eq!(s(8 * D), "8d");
        assert_eq!(s(45 * D), "45d");
        assert_eq!(s(2 * Y - 1), "729d");
        assert_eq!(s(2 * Y), "2y");
        assert_eq!(s(2 * Y + 10 * D), "2y10d");
        assert_eq!(s(8 * Y - 1), "7y364d");
        assert_eq!(s(8 * Y), "8y");
        assert_eq!(s(20 * Y + 100 * D), "20y");
    }

    #[test]
    fn ages() {
        let now = parse_time("2026-11-27T06:35:18Z").unwrap();
        assert_eq!(age(Some("2026-11-27T06:35:16Z"), now), "2s");
        assert_eq!(age(Some("2026-11-27T06:35:16.123456Z"), now), "1s");
        assert_eq!(age(Some("2026-11-27T07:35:16+01:00"), now), "2s");
        assert_eq!(age(None, now), "<unknown>");
        assert_eq!(age(Some("yesterday"), now), "<unknown>");
    }
}
