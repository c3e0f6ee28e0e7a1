//! Which scheduled time is due: the most recent one since the last run
//! (older ones are skipped, as Kubernetes does), and how many were missed.

use chrono::{DateTime, Duration, Utc};
use skiff_api::batch::CronSchedule;

/// Past this many missed times Kubernetes warns (`TooManyMissedTimes`).
pub const TOO_MANY_MISSED: usize = 100;

/// The scheduled times in `(earliest, now]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The most recent one.
    pub time: Option<DateTime<Utc>>,
    /// How many there were (counting stops past [`TOO_MANY_MISSED`]).
    pub missed: usize,
}

/// The most recent time `schedule` fired after `earliest` and by `now`.
pub fn most_recent(schedule: &CronSchedule, earliest: DateTime<Utc>, now: DateTime<Utc>) -> Due {
    let mut due = Due {
        time: None,
        missed: 0,
    };
    let mut t = earliest;
    while let Some(next) = schedule.next_after(t) {
        if next > now {
            return due;
        }
        due.time = Some(next);
        due.missed += 1;
        t = next;
        if due.missed > TOO_MANY_MISSED {
            break;
        }
    }
    if due.missed <= TOO_MANY_MISSED {
        return due; // the schedule never fires again
    }
    // Too many to walk one by one: walk only the last stretch before now,
    // the shortest one in which the schedule fires.
    let windows = [
        Duration::minutes(2),
        Duration::hours(1),
        Duration::days(1),
        Duration::days(32),
        Duration::days(367),
        Duration::days(5 * 366),
    ];
    for window in windows {
        let from = (now - window).max(t);
        let Some(first) = schedule.next_after(from).filter(|f| *f <= now) else {
            continue;
        };
        let mut last = first;
        while let Some(n) = schedule.next_after(last).filter(|n| *n <= now) {
            last = n;
        }
        due.time = Some(last);
        return due;
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, h, m, s).unwrap()
    }

    #[test]
    fn most_recent_of_the_missed_times() {
        let every_minute = CronSchedule::parse("*/1 * * * *").unwrap();
        let d = most_recent(&every_minute, at(0, 0, 30), at(0, 0, 59));
        assert_eq!(
            d,
            Due {
                time: None,
                missed: 0
            }
        );
        let d = most_recent(&every_minute, at(0, 0, 30), at(0, 3, 10));
        assert_eq!(
            d,
            Due {
                time: Some(at(0, 3, 0)),
                missed: 3
            }
        );
        // The last run itself is not due again.
        let d = most_recent(&every_minute, at(0, 3, 0), at(0, 3, 10));
        assert_eq!(d.time, None);
    }

    #[test]
    fn many_missed_times_are_not_walked_one_by_one() {
        let every_minute = CronSchedule::parse("* * * * *").unwrap();
        let start = at(0, 0, 0);
        let now = start + Duration::days(400) + Duration::seconds(30);
        let d = most_recent(&every_minute, start, now);
        assert_eq!(d.time, Some(now - Duration::seconds(30)));
        assert!(d.missed > TOO_MANY_MISSED);
        let hourly = CronSchedule::parse("0 * * * *").unwrap();
        let d = most_recent(&hourly, start, at(23, 59, 0) + Duration::days(30));
        assert_eq!(d.time, Some(at(23, 0, 0) + Duration::days(30)));
    }
}
