//! Text for the status page: HTML escaping, which links may be followed, and times,
//! durations and ratios written for people.
//!
//! Everything user-controlled (probe names and labels, logs, messages, annotations, URLs)
//! reaches the page only through [`Esc`]; nothing here reads a clock.

use std::fmt::{self, Display};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Text escaped for HTML element content and double-quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut last = 0;
        for (i, c) in s.char_indices() {
            let replacement = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                // A NUL is a parse error in HTML; show what a browser would.
                '\0' => "\u{FFFD}",
                _ => continue,
            };
            f.write_str(&s[last..i])?;
            f.write_str(replacement)?;
            last = i + c.len_utf8();
        }
        f.write_str(&s[last..])
    }
}

/// The URL if a link to it is safe to render: `http(s)://` or a path on this server.
/// Anything else (`javascript:`, `data:`, protocol-relative `//host`) is shown as text.
pub fn safe_href(url: &str) -> Option<&str> {
    let u = url.trim();
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    let ok = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (u.starts_with('/') && !u.starts_with("//") && !u.starts_with("/\\"));
    (ok && !u.chars().any(char::is_control)).then_some(u)
}

/// A time given as milliseconds since the epoch.
pub fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// RFC 3339 in UTC, to the second (`datetime` attributes and tooltips).
pub fn iso(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A span in at most two units: `850ms`, `4s`, `3m 12s`, `2h 5m`, `3d 4h`.
pub fn compact(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (d_, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d_, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) if sec == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) if m == 0 => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        _ if h == 0 => format!("{d_}d"),
        _ => format!("{d_}d {h}h"),
    }
}

/// `4s ago`, `in 12s`, `just now`, relative to `now`, to the second.
pub fn relative(now: SystemTime, t: SystemTime) -> String {
    match now.duration_since(t) {
        Ok(past) if past.as_secs() == 0 => "just now".into(),
        Ok(past) => format!("{} ago", compact(Duration::from_secs(past.as_secs()))),
        Err(e) => {
            let ahead = e.duration();
            if ahead.as_secs() == 0 {
                "now".into()
            } else {
                format!("in {}", compact(Duration::from_secs(ahead.as_secs())))
            }
        }
    }
}

/// A ratio as a percentage with the precision people read SLOs in: `100%`, `99.95%`,
/// `87.3%`, `-412%`.
pub fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "–".into();
    }
    let v = ratio * 100.0;
    if (v - v.round()).abs() < 0.005 {
        format!("{:.0}%", v.round())
    } else if v.abs() < 100.0 && v.abs() >= 99.0 {
        let s = format!("{v:.3}");
        format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{v:.1}%")
    }
}

/// An objective such as `99.9` (percent) without float noise.
pub fn objective(pct: f64) -> String {
    let s = format!("{pct:.4}");
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_in_text_and_attributes() {
        let s = Esc(r#"<script>alert("x")</script> & 'q' ünï"#).to_string();
        assert_eq!(
            s,
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; ünï"
        );
        assert_eq!(Esc("plain").to_string(), "plain");
        assert_eq!(Esc("a\0b").to_string(), "a\u{FFFD}b");
    }

    #[test]
    fn only_web_and_local_links_are_followed() {
        assert_eq!(
            safe_href("https://runbooks.example/x"),
            Some("https://runbooks.example/x")
        );
        assert_eq!(safe_href(" HTTP://a/b "), Some("HTTP://a/b"));
        assert_eq!(safe_href("/probes/shop"), Some("/probes/shop"));
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href("JaVaScRiPt:alert(1)"), None);
        assert_eq!(safe_href("data:text/html,hi"), None);
        assert_eq!(safe_href("//evil.example/"), None);
        assert_eq!(safe_href("https://a/\nb"), None);
    }

    #[test]
    fn spans_read_in_two_units_at_most() {
        assert_eq!(compact(Duration::from_millis(850)), "850ms");
        assert_eq!(compact(Duration::from_secs(4)), "4s");
        assert_eq!(compact(Duration::from_secs(192)), "3m 12s");
        assert_eq!(compact(Duration::from_secs(180)), "3m");
        assert_eq!(compact(Duration::from_secs(7500)), "2h 5m");
        assert_eq!(compact(Duration::from_secs(30 * 86400)), "30d");
        assert_eq!(
            compact(Duration::from_secs(3 * 86400 + 4 * 3600 + 5)),
            "3d 4h"
        );
    }

    #[test]
    fn relative_times_point_the_right_way() {
        let now = from_millis(1_000_000);
        assert_eq!(relative(now, from_millis(1_000_000)), "just now");
        assert_eq!(relative(now, from_millis(996_000)), "4s ago");
        assert_eq!(relative(now, from_millis(1_012_000)), "in 12s");
    }

    #[test]
    fn percentages_keep_the_digits_that_matter() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.9995), "99.95%");
        assert_eq!(percent(0.873), "87.3%");
        assert_eq!(percent(-4.12), "-412%");
        assert_eq!(percent(f64::NAN), "–");
        assert_eq!(objective(99.9), "99.9%");
        assert_eq!(objective(99.0), "99%");
    }
}
