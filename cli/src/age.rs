//! Ages and timestamps the way kubectl prints them.

use chrono::{DateTime, Utc};
use serde_json::Value;
// kubectl's `HumanDuration` (`45s`, `3m20s`, `2d3h`): the same formatting as the server's tables.
use skiff_api::table::human_duration;

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
