//! When probes run: cron expressions and `@every` intervals, with a deterministic
//! per-probe offset that spreads probes sharing a schedule.
//!
//! Accepted forms:
//! - 5-field crontab lines (`*/5 * * * *`): minute hour day-of-month month day-of-week, run
//!   at second 0. Day-of-week follows crontab (0 or 7 = Sunday, 1 = Monday).
//! - 6/7-field lines with seconds (and a year) as the `cron` crate reads them
//!   (`*/30 * * * * *`). Day-of-week there is Quartz-style (1 = Sunday): prefer names
//!   (`MON-FRI`), which mean the same in both.
//! - `@every 30s` (any duration), and `@yearly @annually @monthly @weekly @daily @midnight
//!   @hourly`.
//!
//! Pure: every function takes the time it works from; nothing here sleeps or reads a clock.

use chrono::{DateTime, TimeZone, Utc};
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// A schedule that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule {expr:?}: {why}")]
pub struct ScheduleError {
    /// The expression as written.
    pub expr: String,
    /// What is wrong.
    pub why: String,
}

#[derive(Debug, Clone)]
enum Kind {
    Every(Duration),
    Cron(Box<cron::Schedule>),
}

/// A parsed schedule plus the probe's offset within its period.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    kind: Kind,
    offset: Duration,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr && self.offset == other.offset
    }
}

/// The longest offset given to a cron schedule: a daily 09:00 job should run close to
/// 09:00, not hours later.
const MAX_CRON_SPREAD: Duration = Duration::from_secs(60);

impl Schedule {
    /// Parse an expression (see the module docs for the forms).
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let err = |why: String| ScheduleError {
            expr: expr.to_string(),
            why,
        };
        let trimmed = expr.trim();
        let kind = if let Some(every) = trimmed.strip_prefix("@every") {
            let d = crate::units::parse_duration(every.trim()).map_err(|e| err(e.to_string()))?;
            if d < Duration::from_millis(100) {
                return Err(err("@every needs at least 100ms".into()));
            }
            Kind::Every(d)
        } else {
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            let normalized = match fields.len() {
                1 if trimmed.starts_with('@') => match trimmed {
                    "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
                    | "@hourly" => trimmed.replace("@midnight", "@daily"),
                    _ => {
                        return Err(err(
                            "unknown shorthand; use @every DURATION, @hourly, @daily, \
                             @weekly, @monthly or @yearly"
                                .into(),
                        ));
                    }
                },
                5 => {
                    let dow = crontab_day_of_week(fields[4]).map_err(err)?;
                    format!(
                        "0 {} {} {} {} {dow}",
                        fields[0], fields[1], fields[2], fields[3]
                    )
                }
                6 | 7 => trimmed.to_string(),
                n => {
                    return Err(err(format!(
                        "expected 5 fields (crontab), 6-7 fields (with seconds) or \
                         @every DURATION, found {n} field(s)"
                    )));
                }
            };
            let schedule = cron::Schedule::from_str(&normalized).map_err(|e| {
                let text = e.to_string();
                let last = text.lines().last().unwrap_or("").trim().to_string();
                err(if last.is_empty() { text } else { last })
            })?;
            if schedule.upcoming(Utc).next().is_none() {
                return Err(err("it never fires again".into()));
            }
            Kind::Cron(Box::new(schedule))
        };
        Ok(Schedule {
            expr: trimmed.to_string(),
            kind,
            offset: Duration::ZERO,
        })
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Give this schedule a stable offset derived from `key` (the probe name), so probes
    /// sharing a schedule do not all fire in the same instant. For `@every D` the offset
    /// is within `D`; for cron within the gap between two fires, at most one minute.
    pub fn spread(mut self, key: &str) -> Schedule {
        let period = match &self.kind {
            Kind::Every(d) => *d,
            Kind::Cron(s) => {
                let mut it = s.upcoming(Utc);
                match (it.next(), it.next()) {
                    (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
                    _ => Duration::ZERO,
                }
                .min(MAX_CRON_SPREAD)
            }
        };
        let ms = period.as_millis() as u64;
        self.offset = if ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(stable_hash(key) % ms)
        };
        self
    }

    /// The offset in use.
    pub fn offset(&self) -> Duration {
        self.offset
    }

    /// The first fire time strictly after `after`, offset included.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        match &self.kind {
            Kind::Every(period) => {
                // Fires at epoch + offset + k * period: aligned to the wall clock, so a
                // restart keeps the same phase.
                let since = after.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                let p = period.as_nanos();
                let base = since.as_nanos().checked_sub(self.offset.as_nanos());
                let k = match base {
                    Some(b) => b / p + 1,
                    None => 0,
                };
                let t = k * p + self.offset.as_nanos();
                let t = Duration::new((t / 1_000_000_000) as u64, (t % 1_000_000_000) as u32);
                Some(SystemTime::UNIX_EPOCH + t)
            }
            Kind::Cron(s) => {
                // Shift the search back by the offset so "after" is judged on the
                // un-offset grid, then shift the result forward again.
                let base = after.checked_sub(self.offset)?;
                let dt: DateTime<Utc> = base.into();
                let next = s.after(&dt).next()?;
                let next: SystemTime = Utc
                    .timestamp_opt(next.timestamp(), next.timestamp_subsec_nanos())
                    .single()?
                    .into();
                Some(next + self.offset)
            }
        }
    }
}

/// Rewrite a crontab day-of-week field (0/7 = Sunday) into day names, which the `cron`
/// crate reads with the same meaning.
fn crontab_day_of_week(field: &str) -> Result<String, String> {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let day = |s: &str| -> Result<u32, String> {
        if let Ok(n) = s.parse::<u32>() {
            return if n <= 7 {
                Ok(n % 7)
            } else {
                Err(format!("day of week {n} is out of range 0-7"))
            };
        }
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| i as u32)
            .ok_or_else(|| format!("{s:?} is not a day of week (0-7 or SUN-SAT)"))
    };
    let mut days = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let (start, end) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = day(a)?;
            // `7` as a range end means Sunday at the end of the week (`5-7` = FRI-SUN).
            let b = if b == "7" { 7 } else { day(b)? };
            if b < a {
                return Err(format!("day-of-week range {range:?} goes backwards"));
            }
            (a, b)
        } else {
            let d = day(range)?;
            (d, if step > 1 { 6 } else { d })
        };
        let mut d = start;
        while d <= end {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    Ok(days
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .map(|(i, _)| NAMES[i])
        .collect::<Vec<_>>()
        .join(","))
}

/// FNV-1a: stable across runs and Rust versions, unlike `DefaultHasher`.
fn stable_hash(key: &str) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= *b as u64;
                self.0 = self.0.wrapping_mul(0x100000001b3);
            }
        }
    }
    let mut h = Fnv(0xcbf29ce484222325);
    key.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn at(s: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
            .into()
    }

    fn show(t: SystemTime) -> String {
        DateTime::<Utc>::from(t).to_rfc3339()
    }

    #[test]
    fn five_field_crontab_runs_at_second_zero() {
        let s = Schedule::parse("*/5 * * * *").unwrap();
        let next = s.next_after(at("2026-11-25T10:02:30Z")).unwrap();
        assert_eq!(show(next), "2026-11-25T10:05:00+00:00");
    }

    #[test]
    fn crontab_weekdays_mean_monday_to_friday() {
        // 2026-11-27 is a Friday; the next weekday 09:00 after Friday 10:00 is Monday.
        let s = Schedule::parse("0 9 * * 1-5").unwrap();
        let next = s.next_after(at("2026-11-27T10:00:00Z")).unwrap();
        assert_eq!(show(next), "2026-11-30T09:00:00+00:00");
        assert_eq!(DateTime::<Utc>::from(next).weekday(), chrono::Weekday::Mon);
        for (expr, want) in [
            ("0 9 * * 0", chrono::Weekday::Sun),
            ("0 9 * * 7", chrono::Weekday::Sun),
            ("0 9 * * 6", chrono::Weekday::Sat),
        ] {
            let next = Schedule::parse(expr)
                .unwrap()
                .next_after(at("2026-11-25T10:00:00Z"));
            assert_eq!(
                DateTime::<Utc>::from(next.unwrap()).weekday(),
                want,
                "{expr}"
            );
        }
    }

    #[test]
    fn day_of_week_rewrite_handles_lists_ranges_and_steps() {
        assert_eq!(crontab_day_of_week("1-5").unwrap(), "MON,TUE,WED,THU,FRI");
        assert_eq!(crontab_day_of_week("5-7").unwrap(), "SUN,FRI,SAT");
        assert_eq!(crontab_day_of_week("*/2").unwrap(), "SUN,TUE,THU,SAT");
        assert_eq!(crontab_day_of_week("mon,wed").unwrap(), "MON,WED");
        assert_eq!(crontab_day_of_week("1/3").unwrap(), "MON,THU");
        assert!(crontab_day_of_week("8").is_err());
        assert!(crontab_day_of_week("5-1").is_err());
    }

    #[test]
    fn six_field_lines_have_seconds() {
        let s = Schedule::parse("*/30 * * * * *").unwrap();
        let next = s.next_after(at("2026-11-25T10:00:10Z")).unwrap();
        assert_eq!(show(next), "2026-11-25T10:00:30+00:00");
    }

    #[test]
    fn shorthands() {
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(
            show(hourly.next_after(at("2026-11-25T10:20:00Z")).unwrap()),
            "2026-11-25T11:00:00+00:00"
        );
        let every = Schedule::parse("@every 30s").unwrap();
        assert_eq!(
            show(every.next_after(at("2026-11-25T10:00:10Z")).unwrap()),
            "2026-11-25T10:00:30+00:00"
        );
        assert!(Schedule::parse("@midnight").is_ok());
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (expr, why) in [
            ("* * *", "found 3 field(s)"),
            ("61 * * * * *", "Seconds"),
            ("@sometimes", "unknown shorthand"),
            ("@every soon", "invalid duration"),
            ("@every 1ms", "at least 100ms"),
            ("0 9 * * 9", "out of range"),
        ] {
            let e = Schedule::parse(expr).unwrap_err().to_string();
            assert!(e.contains(why), "{expr}: {e}");
        }
    }

    #[test]
    fn spread_is_stable_and_within_the_period() {
        let a = Schedule::parse("@every 10s").unwrap().spread("checkout");
        let b = Schedule::parse("@every 10s").unwrap().spread("checkout");
        let c = Schedule::parse("@every 10s").unwrap().spread("login");
        assert_eq!(a.offset(), b.offset());
        assert_ne!(a.offset(), c.offset());
        assert!(a.offset() < Duration::from_secs(10));
        let t0 = at("2026-11-25T10:00:00Z");
        let n1 = a.next_after(t0).unwrap();
        let n2 = a.next_after(n1).unwrap();
        assert_eq!(n2.duration_since(n1).unwrap(), Duration::from_secs(10));
        let since = n1.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since.as_millis() % 10_000, a.offset().as_millis());

        let daily = Schedule::parse("0 9 * * *").unwrap().spread("report");
        assert!(daily.offset() < MAX_CRON_SPREAD);
        let next = daily.next_after(at("2026-11-25T08:00:00Z")).unwrap();
        assert_eq!(next, at("2026-11-25T09:00:00Z") + daily.offset());
    }

    #[test]
    fn many_probes_on_one_schedule_are_spread_out() {
        let mut offsets: Vec<u128> = (0..100)
            .map(|i| {
                Schedule::parse("@every 10s")
                    .unwrap()
                    .spread(&format!("probe-{i}"))
                    .offset()
                    .as_millis()
            })
            .collect();
        offsets.sort();
        offsets.dedup();
        assert!(offsets.len() > 90, "offsets collide: {}", offsets.len());
        assert!(offsets.iter().any(|o| *o < 2000) && offsets.iter().any(|o| *o > 8000));
    }
}
