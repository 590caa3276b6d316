//! Selecting series: label matchers against [`Labels`], the [`SeriesSet`] implementation of
//! [`super::Storage`], and the pieces of parsing the parser leaves to us (where a lexical
//! error is, byte escapes it cannot represent).
//!
//! Regular-expression matchers are fully anchored and `.` matches a newline, as in
//! Prometheus (`^(?s:…)$`); `promql-parser` compiles them without `(?s)`, so selectors are
//! re-compiled once per query by [`dotall`].

use super::Position;
use crate::store::{Labels, Sample, Series, SeriesSet};
use promql_parser::label::{METRIC_NAME, MatchOp, Matcher, Matchers};
use regex::Regex;

/// Whether `labels` satisfy `matchers` (a missing label matches as the empty string).
pub(crate) fn labels_match(matchers: &Matchers, labels: &Labels) -> bool {
    let one = |m: &Matcher| m.is_match(labels.get(&m.name).unwrap_or(""));
    matchers.matchers.iter().all(one)
        && (matchers.or_matchers.is_empty()
            || matchers
                .or_matchers
                .iter()
                .any(|group| group.iter().all(one)))
}

/// [`super::Storage::select`] for the store's series set.
pub(crate) fn select_from_set(
    set: &SeriesSet,
    matchers: &Matchers,
    start_ms: i64,
    end_ms: i64,
) -> Vec<(Labels, Vec<Sample>)> {
    // Read the name's postings, or another equality matcher's when that list is much
    // shorter (`probe_success{probe="checkout"}`: a handful of series instead of every
    // probe's). Only "much": label lists hold every metric with that label (rule outputs
    // such as ALERTS too) and measured slower than the name's list when merely a few times
    // shorter. `x=""` matches series without the label, so it has no list.
    let count = |m: &Matcher| set.count_with(&m.name, &m.value);
    let equal = || {
        matchers
            .matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal && !m.value.is_empty())
    };
    let by_name = equal().find(|m| m.name == METRIC_NAME);
    let by_label = equal()
        .filter(|m| m.name != METRIC_NAME)
        .map(|m| (count(m), m))
        .min_by_key(|(n, _)| *n);
    let shortest = match (by_name, by_label) {
        (Some(n), Some((len, l))) if len.saturating_mul(8) < count(n) => Some(l),
        (Some(n), _) => Some(n),
        (None, Some((_, l))) => Some(l),
        (None, None) => None,
    };
    let candidates: Box<dyn Iterator<Item = &Series>> = match shortest {
        Some(m) if m.name == METRIC_NAME => Box::new(set.named(&m.value)),
        Some(m) => Box::new(set.with_label(&m.name, &m.value)),
        None => Box::new(set.iter()),
    };
    let mut out: Vec<(Labels, Vec<Sample>)> = candidates
        .filter(|s| labels_match(matchers, &s.labels))
        .filter_map(|s| {
            let samples: Vec<Sample> = s.range(start_ms, end_ms).copied().collect();
            (!samples.is_empty()).then(|| (s.labels.clone(), samples))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A copy of `matchers` whose regular expressions let `.` match a newline, as Prometheus's.
pub(crate) fn dotall(matchers: &Matchers) -> Matchers {
    let fix = |m: &Matcher| -> Matcher {
        let op = match &m.op {
            MatchOp::Re(re) => reanchor(re).map(MatchOp::Re),
            MatchOp::NotRe(re) => reanchor(re).map(MatchOp::NotRe),
            _ => None,
        };
        match op {
            Some(op) => Matcher::new(op, &m.name, &m.value),
            None => m.clone(),
        }
    };
    Matchers {
        matchers: matchers.matchers.iter().map(fix).collect(),
        or_matchers: matchers
            .or_matchers
            .iter()
            .map(|g| g.iter().map(fix).collect())
            .collect(),
    }
}

/// `^(?:x)$` (how `promql-parser` anchors, after its Go-compatibility escaping) → `^(?s:x)$`.
fn reanchor(re: &Regex) -> Option<Regex> {
    let inner = re.as_str().strip_prefix("^(?:")?.strip_suffix(")$")?;
    Regex::new(&format!("^(?s:{inner})$")).ok()
}

/// The matchers a vector selector stands for: its label matchers plus `__name__="name"`.
pub(crate) fn selector_matchers(name: Option<&str>, matchers: &Matchers) -> Matchers {
    let mut all = dotall(matchers);
    if let Some(name) = name {
        let m = Matcher::new(MatchOp::Equal, METRIC_NAME, name);
        if all.or_matchers.is_empty() {
            all.matchers.insert(0, m);
        } else {
            for group in &mut all.or_matchers {
                group.insert(0, m.clone());
            }
        }
    }
    all
}

/// Compile a user regular expression the way Prometheus does for `label_replace`:
/// anchored, `.` matching newlines; a `{` that does not start a repetition is a literal
/// (Go accepts `a{b}`, Rust's parser does not).
pub(crate) fn anchored_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{pattern})$"))
        .or_else(|_| Regex::new(&format!("^(?s:{})$", escape_literal_braces(pattern))))
}

/// Escape every `{` that does not open a valid repetition (`{n}`, `{n,}`, `{n,m}`).
fn escape_literal_braces(re: &str) -> String {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            out.push(c);
            if let Some(n) = chars.get(i + 1) {
                out.push(*n);
            }
            i += 2;
            continue;
        }
        if c == '{' {
            let rest: String = chars[i + 1..].iter().collect();
            let close = rest.find('}');
            let repeat = close.is_some_and(|end| {
                let body = &rest[..end];
                let mut parts = body.splitn(2, ',');
                let first = parts.next().unwrap_or("");
                let second = parts.next();
                !first.is_empty()
                    && first.chars().all(|d| d.is_ascii_digit())
                    && second.is_none_or(|s| s.chars().all(|d| d.is_ascii_digit()))
            });
            if !repeat {
                out.push('\\');
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Line and column (1-based, in characters) of byte offset `at` in `text`.
pub(crate) fn position_of(text: &str, at: usize) -> Position {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Position { line, column }
}

/// Where a lexical error is: the character at which the lexer first reports `message`
/// when it reads the text one character further at a time. `None` for grammar errors.
pub(crate) fn lex_error_position(text: &str, message: &str) -> Option<Position> {
    match promql_parser::parser::lex::lexer(text) {
        Err(e) if e == message => {}
        _ => return None,
    }
    let ends = text
        .char_indices()
        .map(|(i, c)| (i, i + c.len_utf8()))
        .collect::<Vec<_>>();
    ends.iter()
        .find(|(_, end)| matches!(promql_parser::parser::lex::lexer(&text[..*end]), Err(e) if e == message))
        .map(|(start, _)| position_of(text, *start))
}

/// The position of a `\xNN` (NN ≥ 80) or octal `\NNN` (≥ 0o200) escape in a quoted string
/// literal: Go reads these as raw bytes, `promql-parser` as code points.
pub(crate) fn high_byte_escape(text: &str) -> Option<Position> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            None => match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'#' => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => {}
            },
            Some(q) if c == q => quote = None,
            Some(b'`') => {}
            Some(_) if c == b'\\' && i + 1 < b.len() => {
                let esc = &b[i + 1..];
                let high = match esc[0] {
                    b'x' if esc.len() >= 3 => std::str::from_utf8(&esc[1..3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .is_some_and(|v| v >= 0x80),
                    b'0'..=b'7' if esc.len() >= 3 => std::str::from_utf8(&esc[..3])
                        .ok()
                        .and_then(|o| u16::from_str_radix(o, 8).ok())
                        .is_some_and(|v| v >= 0o200),
                    _ => false,
                };
                if high {
                    return Some(position_of(text, i));
                }
                i += 1;
            }
            Some(_) => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(q: &str) -> Matchers {
        match promql_parser::parser::parse(q) {
            Ok(promql_parser::parser::Expr::VectorSelector(vs)) => {
                selector_matchers(vs.name.as_deref(), &vs.matchers)
            }
            other => panic!("not a selector: {other:?}"),
        }
    }

    #[test]
    fn postings_pick_the_same_series_as_a_scan() {
        let mut set = SeriesSet::new();
        for i in 0..100 {
            let p = format!("p{i}");
            let team = format!("t{}", i % 4);
            for name in ["probe_success", "probe_duration_seconds"] {
                let l = Labels::from_pairs(name, [("probe", p.as_str()), ("team", team.as_str())]);
                set.append(&l, Sample { t: 10, v: 1.0 }).unwrap();
            }
        }
        let names = |q: &str| -> Vec<String> {
            select_from_set(&set, &dotall(&sel(q)), 0, 20)
                .into_iter()
                .map(|(l, _)| l.to_string())
                .collect()
        };
        // probe="p7" (2 series) is far shorter than the name's list (100): postings.
        assert_eq!(
            names(r#"probe_success{probe="p7"}"#),
            [r#"probe_success{probe="p7", team="t3"}"#]
        );
        // team="t1" (50) is not: the name's list, same answer.
        assert_eq!(names(r#"probe_success{team="t1"}"#).len(), 25);
        // No name: the label's list.
        assert_eq!(names(r#"{probe="p7"}"#).len(), 2);
        // Unknown value: nothing, without a scan.
        assert!(names(r#"probe_success{probe="nope"}"#).is_empty());
        // x="" matches series without the label: not a postings lookup.
        assert_eq!(names(r#"probe_success{region=""}"#).len(), 100);
    }

    #[test]
    fn regex_matchers_are_anchored_and_dot_matches_newline() {
        let l = Labels::from_pairs("m", [("a", "x\ny")]);
        assert!(labels_match(&sel(r#"m{a=~"x.y"}"#), &l));
        assert!(!labels_match(&sel(r#"m{a=~"x"}"#), &l));
        assert!(labels_match(&sel(r#"m{a!~"x"}"#), &l));
        assert!(
            labels_match(&sel(r#"m{b=""}"#), &l),
            "missing label matches empty"
        );
        assert!(
            !labels_match(&sel(r#"n{a=~".+"}"#), &l),
            "name is a matcher"
        );
    }

    #[test]
    fn set_select_uses_window_and_sorts() {
        let mut set = SeriesSet::new();
        for (probe, t) in [("b", 1000), ("a", 2000), ("c", 9000)] {
            let l = Labels::from_pairs("up", [("probe", probe)]);
            set.append(&l, Sample { t, v: 1.0 }).unwrap();
        }
        let got = select_from_set(&set, &sel("up"), 0, 5000);
        let probes: Vec<_> = got.iter().map(|(l, _)| l.get("probe").unwrap()).collect();
        assert_eq!(probes, ["a", "b"]);
    }

    #[test]
    fn lexical_errors_have_positions() {
        let text = "sum(rate(x[5m])) $ 2";
        let err = promql_parser::parser::parse(text).unwrap_err();
        assert_eq!(
            lex_error_position(text, &err),
            Some(Position {
                line: 1,
                column: 18
            })
        );
        assert_eq!(position_of("a\nbc", 3), Position { line: 2, column: 2 });
    }

    #[test]
    fn user_regexes_are_anchored_and_accept_go_braces() {
        let re = anchored_regex("source-(.*)").unwrap();
        assert!(re.is_match("source-1\nx"));
        assert!(!re.is_match("xsource-1"));
        assert!(anchored_regex("a{b}").unwrap().is_match("a{b}"));
        assert!(anchored_regex("a{2}").unwrap().is_match("aa"));
        assert!(anchored_regex("(.*").is_err());
    }

    #[test]
    fn high_byte_escapes_are_found_only_in_strings() {
        assert!(high_byte_escape(r#"label_replace(x, "\xff", "", "", "")"#).is_some());
        assert!(high_byte_escape(r#"count_values("a\305z", x)"#).is_some());
        assert!(high_byte_escape(r#"x{a="\x41"}"#).is_none());
        assert!(high_byte_escape("x # \"\\xff\"").is_none());
        assert!(high_byte_escape(r"x{a=`\xff`}").is_none());
    }
}
