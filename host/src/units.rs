//! Parsing and printing of the human units used in config and on the command line:
//! durations (`500ms`, `10s`, `1h30m`) and byte sizes (`64MiB`, `512KiB`, `1GB`).

use std::time::Duration;

/// A value that is not a valid duration or size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("invalid duration {input:?}: {why} (expected e.g. 500ms, 10s, 1m30s, 2h)")]
    Duration {
        /// What was given.
        input: String,
        /// What the parser said.
        why: String,
    },
    /// Not a size.
    #[error("invalid size {0:?} (expected e.g. 64MiB, 512KiB, 1GiB, 10MB or a byte count)")]
    Size(String),
}

/// Parse a duration such as `500ms`, `10s`, `1m30s`, `2h`, `1d`.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let trimmed = input.trim();
    humantime::parse_duration(trimmed).map_err(|e| UnitError::Duration {
        input: input.to_string(),
        why: e.to_string(),
    })
}

/// Parse a byte size: a number with an optional unit (`B`, `KB`, `MB`, `GB` are powers of
/// 1000; `KiB`, `MiB`, `GiB` and the Kubernetes-style `Ki`, `Mi`, `Gi` are powers of 1024).
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().map_err(|_| UnitError::Size(input.into()))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        _ => return Err(UnitError::Size(input.into())),
    };
    let bytes = num * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(UnitError::Size(input.into()));
    }
    Ok(bytes as u64)
}

/// Print a byte count with a binary unit, as in messages ("64 KiB", "1.5 MiB").
pub fn format_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Print a duration for humans: `850µs`, `12.3ms`, `1.20s`, `2m05s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 0.001 {
        format!("{}µs", d.as_micros())
    } else if secs < 1.0 {
        format!("{:.1}ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.2}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration(" 2h ").unwrap(), Duration::from_secs(7200));
        let err = parse_duration("10 parsecs").unwrap_err().to_string();
        assert!(err.contains("expected e.g. 500ms"), "{err}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("64Mi").unwrap(), 64 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12XB").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_size(64 << 10), "64 KiB");
        assert_eq!(format_size(1536 << 10), "1.5 MiB");
        assert_eq!(format_size(10), "10 B");
        assert_eq!(format_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(format_duration(Duration::from_micros(12_340)), "12.3ms");
        assert_eq!(format_duration(Duration::from_millis(1200)), "1.20s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
