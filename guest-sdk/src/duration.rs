//! Durations as people write them in config (`500ms`, `2s`, `1m30s`) and read them in
//! messages.
//!
//! The syntax is Prometheus's: one or more `<number><unit>` terms, units `ns`, `us`/`µs`,
//! `ms`, `s`, `m`, `h`, `d`, `w`; a number may have a fraction (`1.5s`).

use std::time::Duration;

use crate::{Error, Result};

/// Parse a duration such as `500ms`, `2s`, `1.5s` or `1m30s`.
///
/// ```
/// use std::time::Duration;
/// use vigil_guest::parse_duration;
///
/// assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
/// assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(
///     parse_duration("500").unwrap_err().to_string(),
///     "invalid duration `500`: missing unit (write e.g. 500ms, 2s or 1m)",
/// );
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    let input = text.trim();
    let invalid = |why: &str| Error::msg(format!("invalid duration `{text}`: {why}"));
    if input.is_empty() {
        return Err(invalid("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = input;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(invalid("expected a number"));
        }
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3_600e9,
            "d" => 86_400e9,
            "w" => 604_800e9,
            "" => return Err(invalid("missing unit (write e.g. 500ms, 2s or 1m)")),
            other => {
                return Err(invalid(&format!(
                    "unknown unit `{other}` (use ns, us, ms, s, m, h, d or w)"
                )));
            }
        };
        let value: f64 = number
            .parse()
            .map_err(|_| invalid(&format!("`{number}` is not a number")))?;
        let nanos = value * nanos_per_unit;
        if !nanos.is_finite() || nanos > u64::MAX as f64 {
            return Err(invalid("too large"));
        }
        total = total
            .checked_add(Duration::from_nanos(nanos.round() as u64))
            .ok_or_else(|| invalid("too large"))?;
        rest = after;
    }
    Ok(total)
}

/// Format a duration for humans: `812ms`, `1.5s`, `1m30s`, `250µs`.
///
/// Below a second the unit is `ms` (whole milliseconds) or smaller; below a minute,
/// seconds with up to three decimals; above, `h`/`m`/`s` terms in whole seconds. The
/// output is accepted by [`parse_duration`].
///
/// ```
/// use std::time::Duration;
/// use vigil_guest::format_duration;
///
/// assert_eq!(format_duration(Duration::from_micros(812_400)), "812ms");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
/// ```
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{}µs", nanos / 1_000)
    } else if nanos < 1_000_000_000 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos < 60_000_000_000 {
        let millis = duration.as_millis();
        let (secs, frac) = (millis / 1000, millis % 1000);
        if frac == 0 {
            format!("{secs}s")
        } else {
            let frac = format!("{frac:03}");
            format!("{secs}.{}s", frac.trim_end_matches('0'))
        }
    } else {
        let secs = duration.as_secs();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 {
            out.push_str(&format!("{s}s"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            (" 1.5s ", Duration::from_millis(1500)),
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("10ns", Duration::from_nanos(10)),
            ("1d", Duration::from_secs(86_400)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn rejects_nonsense_with_reasons() {
        for (text, why) in [
            ("", "empty"),
            ("ms", "expected a number"),
            ("5 s", "unknown unit ` s`"),
            ("5sec", "unknown unit `sec`"),
            ("1.2.3s", "`1.2.3` is not a number"),
        ] {
            let err = parse_duration(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::from_nanos(5),
            Duration::from_micros(7),
            Duration::from_millis(812),
            Duration::from_millis(2_050),
            Duration::from_secs(59),
            Duration::from_secs(3_725),
        ] {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text).unwrap(), d, "{text}");
        }
        assert_eq!(format_duration(Duration::from_millis(2_050)), "2.05s");
        assert_eq!(format_duration(Duration::from_secs(3_725)), "1h2m5s");
    }
}
