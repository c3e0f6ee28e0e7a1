//! Ages and timestamps the way kubectl prints them.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// kubectl's `HumanDuration`: `45s`, `3m20s`, `5h`, `2d3h`, `4y`.
pub fn human_duration(d: chrono::Duration) -> String {
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
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

pub fn parse_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Age of a timestamp field, `<unknown>` when absent.
pub fn age_of(v: Option<&Value>) -> String {
    match parse_time(v) {
        Some(t) => human_duration(Utc::now() - t),
        None => "<unknown>".into(),
    }
}

/// `Thu, 27 Nov 2026 06:35:16 +0000` (Go's RFC1123Z), as describe prints times.
pub fn rfc1123z(v: Option<&Value>) -> Option<String> {
    parse_time(v).map(|t| t.format("%a, %d %b %Y %H:%M:%S %z").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn durations_like_kubectl() {
        let cases = [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 5, "3h5m"),
            (30 * 3600, "30h"),
            (50 * 3600, "2d2h"),
            (10 * 24 * 3600, "10d"),
            (3 * 365 * 24 * 3600, "3y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::seconds(secs)), want, "{secs}");
        }
        assert_eq!(human_duration(Duration::seconds(-5)), "<invalid>");
    }

    #[test]
    fn describe_timestamps() {
        let v = serde_json::json!("2026-11-27T06:35:16Z");
        assert_eq!(
            rfc1123z(Some(&v)).unwrap(),
            "Fri, 27 Nov 2026 06:35:16 +0000"
        );
        assert_eq!(age_of(None), "<unknown>");
    }
}
