//! Standard 5-field cron schedules (`*/5 * * * 1-5`, `@daily`), parsed as
//! Kubernetes' CronJob controller parses them (robfig/cron's standard
//! parser), and the next time a schedule fires.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// `*` (or `?`) in day-of-month: days then match on day-of-week alone
    /// combined with AND, as in cron.
    dom_star: bool,
    dow_star: bool,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// How far ahead `next_after` looks before deciding a schedule never fires
/// (`0 0 30 2 *`).
const SEARCH_YEARS: i32 = 5;

impl CronSchedule {
    /// Parses a standard schedule or one of the descriptors `@yearly`,
    /// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
    pub fn parse(spec: &str) -> Result<CronSchedule, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("empty spec string".into());
        }
        if let Some(descriptor) = spec.strip_prefix('@') {
            let expanded = match descriptor.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => return Err(format!("unrecognized descriptor: {spec}")),
            };
            return CronSchedule::parse(expanded);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            ));
        }
        let (minutes, _) = parse_field(fields[0], &MINUTES)?;
        let (hours, _) = parse_field(fields[1], &HOURS)?;
        let (days_of_month, dom_star) = parse_field(fields[2], &DAYS_OF_MONTH)?;
        let (months, _) = parse_field(fields[3], &MONTHS)?;
        let (days_of_week, dow_star) = parse_field(fields[4], &DAYS_OF_WEEK)?;
        Ok(CronSchedule {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            dom_star,
            dow_star,
        })
    }

    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let dom = has(self.days_of_month, t.day());
        let dow = has(self.days_of_week, t.weekday().num_days_from_sunday());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first whole minute strictly after `after` that the schedule
    /// fires at (UTC), or `None` when it never fires (`0 0 31 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_second(0)?.with_nanosecond(0)?;
        let mut t = start + Duration::minutes(1);
        let limit_year = t.year() + SEARCH_YEARS;
        while t.year() <= limit_year {
            if !has(self.months, t.month()) {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                continue;
            }
            if !self.day_matches(&t) {
                t = Utc
                    .with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0)
                    .single()?
                    + Duration::days(1);
                continue;
            }
            if !has(self.hours, t.hour()) {
                t = t.with_minute(0)? + Duration::hours(1);
                continue;
            }
            if !has(self.minutes, t.minute()) {
                t += Duration::minutes(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn has(bits: u64, v: u32) -> bool {
    bits & (1u64 << v) != 0
}

/// A comma-separated list of ranges; returns the bits and whether the field
/// was a bare `*`/`?` (possibly with step 1).
fn parse_field(field: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let mut bits = 0;
    let mut star = false;
    for part in field.split(',') {
        let (part_bits, part_star) = parse_range(part, b)?;
        bits |= part_bits;
        star |= part_star;
    }
    Ok((bits, star))
}

/// `*`, `?`, `N`, `N-M`, each with an optional `/step`; `N/step` runs to
/// the field's maximum.
fn parse_range(expr: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let mut slash = expr.split('/');
    let range = slash.next().unwrap_or_default();
    let step_part = slash.next();
    if slash.next().is_some() {
        return Err(format!("too many slashes: {expr}"));
    }
    let mut hyphen = range.split('-');
    let low_part = hyphen.next().unwrap_or_default();
    let high_part = hyphen.next();
    if hyphen.next().is_some() {
        return Err(format!("too many hyphens: {expr}"));
    }
    let (start, mut end, mut star) = if low_part == "*" || low_part == "?" {
        if high_part.is_some() {
            return Err(format!("too many hyphens: {expr}"));
        }
        (b.min, b.max, true)
    } else {
        let start = parse_value(low_part, b)?;
        let end = match high_part {
            Some(h) => parse_value(h, b)?,
            None => start,
        };
        (start, end, false)
    };
    let step = match step_part {
        None => 1,
        Some(s) => {
            let step: u32 = s
                .parse()
                .map_err(|_| format!("failed to parse int from {s}: invalid syntax"))?;
            if step == 0 {
                return Err(format!("step of range should be a positive number: {expr}"));
            }
            // `N/step` means N through the maximum.
            if high_part.is_none() && !star {
                end = b.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({})",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!("end of range ({end}) above maximum ({})", b.max));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end})"
        ));
    }
    let mut bits = 0;
    let mut v = start;
    while v <= end {
        bits |= 1u64 << v;
        v += step;
    }
    Ok((bits, star))
}

/// A number or (for months and weekdays) a three-letter name.
fn parse_value(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + b.min);
    }
    s.parse::<u32>()
        .map_err(|_| format!("failed to parse int from {s}: invalid syntax"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(spec: &str, after: &str) -> String {
        CronSchedule::parse(spec)
            .unwrap()
            .next_after(at(after))
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn parses_standard_forms() {
        for good in [
            "* * * * *",
            "*/5 * * * *",
            "0 0 * * 0",
            "15,45 8-18/2 * jan-jun MON-FRI",
            "0 12 1 */3 ?",
            "5/15 * * * *",
            "@hourly",
            "@daily",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "  0 0 * * *  ",
        ] {
            assert!(CronSchedule::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_bad_schedules() {
        let cases = [
            ("bad", "expected exactly 5 fields, found 1: [bad]"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("60 * * * *", "end of range (60) above maximum (59)"),
            ("* 24 * * *", "end of range (24) above maximum (23)"),
            ("* * 0 * *", "beginning of range (0) below minimum (1)"),
            ("* * * 13 *", "end of range (13) above maximum (12)"),
            ("* * * * 7", "end of range (7) above maximum (6)"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1)",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("*/2/3 * * * *", "too many slashes: */2/3"),
            ("x * * * *", "failed to parse int from x: invalid syntax"),
            ("@every 1h", "unrecognized descriptor: @every 1h"),
            ("", "empty spec string"),
        ];
        for (spec, msg) in cases {
            assert_eq!(CronSchedule::parse(spec), Err(msg.to_string()), "{spec}");
        }
    }

    #[test]
    fn next_times() {
        assert_eq!(
            next("* * * * *", "2026-11-27T06:35:16Z"),
            "2026-11-27T06:36:00Z"
        );
        assert_eq!(
            next("* * * * *", "2026-11-27T06:35:00Z"),
            "2026-11-27T06:36:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-11-27T06:35:16Z"),
            "2026-11-27T06:45:00Z"
        );
        assert_eq!(
            next("0 * * * *", "2026-11-27T23:59:00Z"),
            "2026-11-28T00:00:00Z"
        );
        assert_eq!(
            next("@daily", "2026-12-31T12:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        // 2026-11-27 is a Friday; the next Monday is the 30th.
        assert_eq!(
            next("30 9 * * mon", "2026-11-27T10:00:00Z"),
            "2026-11-30T09:30:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("5/20 * * * *", "2026-11-27T06:46:00Z"),
            "2026-11-27T07:05:00Z"
        );
        // Day-of-month OR day-of-week when both are restricted.
        assert_eq!(
            next("0 0 1 * sun", "2026-11-27T00:00:00Z"),
            "2026-11-29T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1 * sun", "2026-11-29T00:00:00Z"),
            "2026-12-01T00:00:00Z"
        );
        // AND when one is `*`.
        assert_eq!(
            next("0 0 * 12 sun", "2026-11-27T00:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
    }

    #[test]
    fn impossible_schedules_never_fire() {
        let s = CronSchedule::parse("0 0 30 2 *").unwrap();
        assert_eq!(s.next_after(at("2026-01-01T00:00:00Z")), None);
    }
}
