//! Prometheus's own PromQL test suite (`promql/promqltest/testdata/*.test`, copied unchanged
//! into `tests/fixtures/promqltest/`) run against vigil's evaluator.
//!
//! The harness reads the `promqltest` format: `load <step>` (and `load_with_nhcb`), `clear`,
//! `eval instant at <t> <expr>`, `eval range from <a> to <b> step <s> <expr>`, the legacy
//! `eval_fail` / `eval_ordered` / `eval_warn` / `eval_info` forms, `expect fail|warn|info|
//! no_warn|no_info|ordered|string` lines with `msg:` / `regex:` matchers, and expected series
//! or scalars (`a+bxN`, `_`, `stale` notation). Comparisons use Prometheus's tolerance (relative
//! 1e-6, NaN equals NaN).
//!
//! A case is *skipped* only when it needs native histograms or when the evaluator answers
//! [`EvalError::Unsupported`] (the features listed under "Not supported" in
//! `host/src/promql/mod.rs`). Needing native histograms means: a `{{…}}` value in the expected
//! output, or a query that selects native-histogram samples (the store holds floats only, so
//! the harness records which loaded series had histogram samples) and whose answer differs
//! from Prometheus's. Prometheus ignores histograms in many places (`clamp`, `sort`, `exp`,
//! comparisons): where vigil's answer is exactly the expected one, the case passes. Every skipped case must be listed in
//! `tests/fixtures/promqltest/SKIPPED.md`; the test fails when the list and the run disagree
//! (regenerate with `PROMQLTEST_WRITE_SKIPPED=1`).
//!
//! Annotation messages are compared without their trailing `(line:col)`: the parser's AST has
//! no positions, so vigil's warnings carry none.

/// Print past libtest's capture (which only intercepts the `print!` family), so the
/// per-file conformance lines show in every `cargo test` run, CI included.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use promql_parser::label::Matchers;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vigil::promql::{self, Annotations, EvalError, Limits, Storage, Value};
use vigil::store::{Labels, STALE_NAN, Sample, SeriesSet};

/// The samples loaded so far, and which series also hold native-histogram samples.
#[derive(Default)]
struct TestStorage {
    set: SeriesSet,
    histograms: Vec<(Labels, Vec<i64>)>,
    touched: Cell<bool>,
}

fn matches(matchers: &Matchers, labels: &Labels) -> bool {
    let one = |m: &promql_parser::label::Matcher| m.is_match(labels.get(&m.name).unwrap_or(""));
    matchers.matchers.iter().all(one)
        && (matchers.or_matchers.is_empty()
            || matchers.or_matchers.iter().any(|g| g.iter().all(one)))
}

impl Storage for TestStorage {
    fn select(
        &self,
        matchers: &Matchers,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<(Labels, Vec<Sample>)> {
        for (labels, times) in &self.histograms {
            if matches(matchers, labels) && times.iter().any(|t| (start_ms..=end_ms).contains(t)) {
                self.touched.set(true);
            }
        }
        self.set.select(matchers, start_ms, end_ms)
    }
}

/// One value of a series description.
#[derive(Debug, Clone, Copy)]
enum Point {
    Omitted,
    Float(f64),
    Stale,
    Histogram,
}

#[derive(Debug, Clone)]
enum Text {
    Exact(String),
    Regex(String),
}

/// What the `expect` lines say about warnings or infos.
#[derive(Debug, Clone, Default)]
struct AnnotationExpectation {
    some: bool,
    none: bool,
    texts: Vec<Text>,
}

#[derive(Debug, Clone)]
enum When {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

#[derive(Debug, Clone)]
struct Case {
    line: usize,
    expr: String,
    when: When,
    fail: bool,
    fail_text: Option<Text>,
    ordered: bool,
    string: Option<String>,
    warn: AnnotationExpectation,
    info: AnnotationExpectation,
    /// `None` labels: a scalar.
    expected: Vec<(Option<Labels>, Vec<Point>)>,
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// `1m30s`, `10s53ms`, `0`, `100` (seconds) → milliseconds.
fn duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1000.0).round() as i64);
    }
    vigil::rules::file::parse_prom_duration(s)
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| format!("bad duration {s}"))
}

/// Go's `strconv.ParseFloat` for the literals the files use.
fn number(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().trim_start_matches('+') {
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Unquote a Go string literal inside a series description.
fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(c) => out.push(c),
            None => {}
        }
    }
    out
}

/// `name{a="b", …}` at the start of `line` → (labels, rest).
fn metric(line: &str) -> Result<(Labels, &str), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let mut pairs = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".to_string(), name.to_string()));
    }
    let mut rest = &line[name_end..];
    if rest.starts_with('{') {
        let b = rest.as_bytes();
        let mut i = 1;
        loop {
            while i < b.len() && (b[i] == b' ' || b[i] == b',') {
                i += 1;
            }
            if i >= b.len() {
                return Err(format!("unterminated labels in {line}"));
            }
            if b[i] == b'}' {
                i += 1;
                break;
            }
            let (key, after) = if b[i] == b'"' {
                let end = closing_quote(b, i)?;
                (unquote(&rest[i + 1..end]), end + 1)
            } else {
                let end = rest[i..]
                    .find('=')
                    .map(|e| i + e)
                    .ok_or(format!("bad label in {line}"))?;
                (rest[i..end].trim().to_string(), end)
            };
            i = after;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if b.get(i) != Some(&b'=') {
                return Err(format!("expected = in {line}"));
            }
            i += 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if b.get(i) != Some(&b'"') {
                return Err(format!("expected quoted value in {line}"));
            }
            let end = closing_quote(b, i)?;
            let value = unquote(&rest[i + 1..end]);
            if key == "__name__" {
                pairs.retain(|(k, _)| k != "__name__");
            }
            pairs.push((key, value));
            i = end + 1;
        }
        rest = &rest[i..];
    }
    Ok((Labels::from_vec(pairs), rest.trim()))
}

fn closing_quote(b: &[u8], open: usize) -> Result<usize, String> {
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i),
            _ => i += 1,
        }
    }
    Err("unterminated string".into())
}

/// Split a value list into tokens, keeping `{{…}}` histograms (with spaces) whole.
fn value_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            depth += 1;
            cur.push_str("{{");
            i += 2;
            continue;
        }
        if c == '}' && chars.get(i + 1) == Some(&'}') {
            depth -= 1;
            cur.push_str("}}");
            i += 2;
            continue;
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Expand one token of the series notation.
fn expand(token: &str) -> Result<Vec<Point>, String> {
    if token.starts_with("{{") {
        let times = match token.rfind("}}x") {
            Some(i) => {
                token[i + 3..]
                    .parse::<usize>()
                    .map_err(|_| format!("bad {token}"))?
                    + 1
            }
            None => 1,
        };
        return Ok(vec![Point::Histogram; times]);
    }
    if token == "_" {
        return Ok(vec![Point::Omitted]);
    }
    if let Some(n) = token.strip_prefix("_x") {
        return Ok(vec![
            Point::Omitted;
            n.parse().map_err(|_| format!("bad {token}"))?
        ]);
    }
    if token == "stale" {
        return Ok(vec![Point::Stale]);
    }
    if let Some(v) = number(token) {
        return Ok(vec![Point::Float(v)]);
    }
    let x = token.rfind('x').ok_or(format!("bad value {token}"))?;
    let n: usize = token[x + 1..]
        .parse()
        .map_err(|_| format!("bad count in {token}"))?;
    let body = &token[..x];
    let b = body.as_bytes();
    let split = (1..b.len())
        .rev()
        .find(|&i| (b[i] == b'+' || b[i] == b'-') && !matches!(b[i - 1], b'e' | b'E'));
    let (start, step) = match split {
        Some(i) => (
            number(&body[..i]).ok_or(format!("bad start in {token}"))?,
            number(&body[i..]).ok_or(format!("bad step in {token}"))?,
        ),
        None => (number(body).ok_or(format!("bad value in {token}"))?, 0.0),
    };
    let mut out = Vec::with_capacity(n + 1);
    let mut v = start;
    for _ in 0..=n {
        out.push(Point::Float(v));
        v += step;
    }
    Ok(out)
}

fn series_values(s: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for t in value_tokens(s) {
        out.extend(expand(&t)?);
    }
    Ok(out)
}

fn text(s: &str) -> Option<Text> {
    let s = s.trim();
    if let Some(m) = s.strip_prefix("msg:") {
        Some(Text::Exact(m.trim().to_string()))
    } else {
        s.strip_prefix("regex:")
            .map(|r| Text::Regex(r.trim().to_string()))
    }
}

/// Drop a trailing ` (12:34)` position from an expected annotation.
fn without_position(s: &str) -> String {
    let s = s.trim_end();
    if let Some(open) = s.rfind(" (")
        && s.ends_with(')')
        && s[open + 2..s.len() - 1]
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return s[..open].to_string();
    }
    s.strip_suffix(r" \([0-9]+:[0-9]+\)")
        .unwrap_or(s)
        .to_string()
}

fn text_matches(expected: &Text, got: &str) -> bool {
    match expected {
        Text::Exact(e) => without_position(e) == got || e == got,
        Text::Regex(r) => {
            let r = without_position(r);
            regex::Regex::new(&format!("^(?:{r})$")).is_ok_and(|re| re.is_match(got))
        }
    }
}

enum Command {
    Load {
        step: i64,
        series: Vec<(Labels, Vec<Point>)>,
        nhcb: bool,
    },
    Clear,
    Eval(Box<Case>),
}

fn parse_file(content: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<String> = content
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let lineno = i + 1;
        i += 1;
        if line.is_empty() {
            continue;
        }
        let block_end = lines[i..]
            .iter()
            .position(|l| l.is_empty())
            .map_or(lines.len(), |p| i + p);
        let block = &lines[i..block_end];
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match word {
            "clear" => cmds.push(Command::Clear),
            "load" | "load_with_nhcb" => {
                let step = duration_ms(rest.trim())?;
                let mut series = Vec::new();
                for l in block {
                    let (labels, values) = metric(l)?;
                    series.push((labels, series_values(values)?));
                }
                cmds.push(Command::Load {
                    step,
                    series,
                    nhcb: word == "load_with_nhcb",
                });
                i = block_end;
            }
            w if w.starts_with("eval") => {
                let mut case =
                    parse_eval(w, rest, lineno).map_err(|e| format!("line {lineno}: {e}"))?;
                for l in block {
                    if let Some(e) = l.strip_prefix("expect ") {
                        let (kind, arg) = e.split_once(char::is_whitespace).unwrap_or((e, ""));
                        match kind {
                            "fail" => {
                                case.fail = true;
                                case.fail_text = text(arg);
                            }
                            "ordered" => case.ordered = true,
                            "warn" => {
                                case.warn.some = true;
                                case.warn.texts.extend(text(arg));
                            }
                            "info" => {
                                case.info.some = true;
                                case.info.texts.extend(text(arg));
                            }
                            "no_warn" => case.warn.none = true,
                            "no_info" => case.info.none = true,
                            "string" => {
                                let s = arg.trim();
                                case.string =
                                    Some(unquote(&s[1..s.len().saturating_sub(1).max(1)]));
                            }
                            other => return Err(format!("line {lineno}: unknown expect {other}")),
                        }
                    } else if let Some(v) = number(l) {
                        case.expected.push((None, vec![Point::Float(v)]));
                    } else {
                        let (labels, values) = metric(l)?;
                        case.expected.push((Some(labels), series_values(values)?));
                    }
                }
                cmds.push(Command::Eval(Box::new(case)));
                i = block_end;
            }
            other => return Err(format!("line {lineno}: unknown command {other}")),
        }
    }
    Ok(cmds)
}

fn parse_eval(word: &str, rest: &str, line: usize) -> Result<Case, String> {
    let mut case = Case {
        line,
        expr: String::new(),
        when: When::Instant(0),
        fail: false,
        fail_text: None,
        ordered: false,
        string: None,
        warn: AnnotationExpectation::default(),
        info: AnnotationExpectation::default(),
        expected: Vec::new(),
    };
    match word {
        "eval" => {}
        "eval_fail" => case.fail = true,
        "eval_ordered" => case.ordered = true,
        "eval_warn" => case.warn.some = true,
        "eval_info" => case.info.some = true,
        other => return Err(format!("unknown command {other}")),
    }
    let mut words = rest.split_whitespace();
    let take = |words: &mut std::str::SplitWhitespace, w: &str| -> Result<(), String> {
        (words.next() == Some(w))
            .then_some(())
            .ok_or(format!("expected {w}"))
    };
    match words.next() {
        Some("instant") => {
            take(&mut words, "at")?;
            let t = duration_ms(words.next().ok_or("missing time")?)?;
            case.when = When::Instant(t);
        }
        Some("range") => {
            take(&mut words, "from")?;
            let start = duration_ms(words.next().ok_or("missing start")?)?;
            take(&mut words, "to")?;
            let end = duration_ms(words.next().ok_or("missing end")?)?;
            take(&mut words, "step")?;
            let step = duration_ms(words.next().ok_or("missing step")?)?;
            case.when = When::Range { start, end, step };
        }
        _ => return Err("expected instant or range".into()),
    }
    case.expr = words.collect::<Vec<_>>().join(" ");
    Ok(case)
}

/// Load series: samples every `step` from 0; histogram samples only recorded as such.
fn load(storage: &mut TestStorage, step: i64, series: &[(Labels, Vec<Point>)], nhcb: bool) {
    let mut nhcb_groups: BTreeMap<Labels, Vec<i64>> = BTreeMap::new();
    for (labels, points) in series {
        let mut hist_times = Vec::new();
        for (i, p) in points.iter().enumerate() {
            let t = i as i64 * step;
            let v = match p {
                Point::Float(v) => *v,
                Point::Stale => f64::from_bits(STALE_NAN),
                Point::Histogram => {
                    hist_times.push(t);
                    continue;
                }
                Point::Omitted => continue,
            };
            if storage.set.append(labels, Sample { t, v }).is_err() {
                panic!("out-of-order sample for {labels}");
            }
            if nhcb && labels.name().ends_with("_bucket") && labels.get("le").is_some() {
                let base = labels.name().trim_end_matches("_bucket");
                let key = labels.with("le", "").with("__name__", base);
                nhcb_groups.entry(key).or_default().push(t);
            }
        }
        if !hist_times.is_empty() {
            storage.histograms.push((labels.clone(), hist_times));
        }
    }
    for (labels, mut times) in nhcb_groups {
        times.sort_unstable();
        times.dedup();
        storage.histograms.push((labels, times));
    }
}

fn almost_equal(exp: f64, got: f64) -> bool {
    const EPS: f64 = 1e-6;
    if exp.is_nan() && got.is_nan() {
        return true;
    }
    if exp == got {
        return true;
    }
    let abs_sum = exp.abs() + got.abs();
    let diff = (exp - got).abs();
    if exp == 0.0 || got == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPS * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPS
}

fn show_points(points: &[(i64, f64)]) -> String {
    points
        .iter()
        .map(|(t, v)| format!("{v}@{}", *t as f64 / 1000.0))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Scalar(x) => format!("scalar {x}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Vector(v) => v.iter().map(|(l, x)| format!("\n      {l} {x}")).collect(),
        Value::Matrix(m) => m
            .iter()
            .map(|(l, s)| {
                format!(
                    "\n      {l} {}",
                    show_points(&s.iter().map(|p| (p.t, p.v)).collect::<Vec<_>>())
                )
            })
            .collect(),
    }
}

fn show_expected(case: &Case) -> String {
    if let Some(s) = &case.string {
        return format!("string {s:?}");
    }
    let mut out = String::new();
    for (l, points) in &case.expected {
        let values: Vec<String> = points
            .iter()
            .map(|p| match p {
                Point::Float(v) => v.to_string(),
                Point::Omitted => "_".into(),
                Point::Stale => "stale".into(),
                Point::Histogram => "{{…}}".into(),
            })
            .collect();
        match l {
            Some(l) => out.push_str(&format!("\n      {l} {}", values.join(" "))),
            None => out.push_str(&format!("\n      scalar {}", values.join(" "))),
        }
    }
    if out.is_empty() {
        "(nothing)".into()
    } else {
        out
    }
}

fn check_annotations(
    kind: &str,
    exp: &AnnotationExpectation,
    got: &[String],
) -> Result<(), String> {
    if exp.none && !got.is_empty() {
        return Err(format!("expected no {kind}s, got {got:?}"));
    }
    if exp.some && got.is_empty() {
        return Err(format!("expected a {kind}, got none"));
    }
    for t in &exp.texts {
        if !got.iter().any(|g| text_matches(t, g)) {
            return Err(format!("expected {kind} {t:?}, got {got:?}"));
        }
    }
    Ok(())
}

fn compare(case: &Case, value: &Value) -> Result<(), String> {
    if let Some(s) = &case.string {
        return match value {
            Value::String(got) if got == s => Ok(()),
            _ => Err("string mismatch".into()),
        };
    }
    match (value, &case.when) {
        (Value::Scalar(got), When::Instant(_)) => match case.expected.as_slice() {
            [(None, p)] if matches!(p.as_slice(), [Point::Float(e)] if almost_equal(*e, *got)) => {
                Ok(())
            }
            _ => Err("scalar mismatch".into()),
        },
        (Value::Vector(got), When::Instant(_)) => {
            if case.expected.len() != got.len() {
                return Err(format!(
                    "expected {} elements, got {}",
                    case.expected.len(),
                    got.len()
                ));
            }
            for (pos, (labels, points)) in case.expected.iter().enumerate() {
                let Some(labels) = labels else {
                    return Err("expected a scalar, got a vector".into());
                };
                let Some(i) = got.iter().position(|(l, _)| l == labels) else {
                    return Err(format!("missing {labels}"));
                };
                if case.ordered && i != pos {
                    return Err(format!("{labels} at position {i}, expected {pos}"));
                }
                match points.as_slice() {
                    [Point::Float(e)] if almost_equal(*e, got[i].1) => {}
                    _ => return Err(format!("value mismatch for {labels}")),
                }
            }
            Ok(())
        }
        (Value::Matrix(got), When::Range { start, step, .. }) => {
            let mut expected: Vec<(&Labels, Vec<(i64, f64)>)> = Vec::new();
            for (labels, points) in &case.expected {
                let Some(labels) = labels else {
                    return Err("expected a scalar in a range query".into());
                };
                let pts: Vec<(i64, f64)> = points
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| match p {
                        Point::Float(v) => Some((start + i as i64 * step, *v)),
                        _ => None,
                    })
                    .collect();
                if !pts.is_empty() {
                    expected.push((labels, pts));
                }
            }
            if expected.len() != got.len() {
                return Err(format!(
                    "expected {} series, got {}",
                    expected.len(),
                    got.len()
                ));
            }
            for (labels, pts) in expected {
                let Some((_, samples)) = got.iter().find(|(l, _)| l == labels) else {
                    return Err(format!("missing {labels}"));
                };
                let ok = samples.len() == pts.len()
                    && samples
                        .iter()
                        .zip(&pts)
                        .all(|(s, (t, v))| s.t == *t && almost_equal(*v, s.v));
                if !ok {
                    return Err(format!("points differ for {labels}"));
                }
            }
            Ok(())
        }
        _ => Err("unexpected result type".into()),
    }
}

fn run_case(storage: &TestStorage, case: &Case) -> Outcome {
    if case
        .expected
        .iter()
        .any(|(_, p)| p.iter().any(|p| matches!(p, Point::Histogram)))
    {
        return Outcome::Skip("expects native histogram samples".into());
    }
    storage.touched.set(false);
    let outcome = evaluate(storage, case);
    match outcome {
        // Prometheus ignores native histograms in many places (`clamp`, `sort`, …); where
        // vigil's float-only answer is exactly Prometheus's, the case passes.
        Outcome::Fail(_) if storage.touched.get() => {
            Outcome::Skip("selects native histogram samples".into())
        }
        other => other,
    }
}

fn evaluate(storage: &TestStorage, case: &Case) -> Outcome {
    let expected_error = |e: &EvalError| match &case.fail_text {
        Some(t) if !text_matches(t, &e.to_string()) => {
            Outcome::Fail(format!("expected error {t:?}, got {e}"))
        }
        _ => Outcome::Pass,
    };
    let expr = match promql::parse(&case.expr) {
        Ok(e) => e,
        Err(EvalError::Unsupported(why)) => return Outcome::Skip(format!("unsupported: {why}")),
        Err(e) if case.fail => return expected_error(&e),
        Err(e) => return Outcome::Fail(format!("parse error: {e}")),
    };
    let limits = Limits::default();
    let result: Result<(Value, Annotations), EvalError> = match case.when {
        When::Instant(t) => promql::instant_with_annotations(storage, &expr, t, &limits),
        When::Range { start, end, step } => {
            promql::range_with_annotations(storage, &expr, start, end, step, &limits)
        }
    };
    let (value, annotations) = match result {
        Err(EvalError::Unsupported(why)) => return Outcome::Skip(format!("unsupported: {why}")),
        Err(e) if case.fail => return expected_error(&e),
        Err(e) => {
            return Outcome::Fail(format!("error: {e}\n    expected:{}", show_expected(case)));
        }
        Ok(r) => r,
    };
    if case.fail {
        return Outcome::Fail(format!("expected an error, got:{}", show_value(&value)));
    }
    let checks = compare(case, &value)
        .and_then(|()| check_annotations("warning", &case.warn, &annotations.warnings))
        .and_then(|()| check_annotations("info", &case.info, &annotations.infos));
    match checks {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(format!(
            "{why}\n    expected:{}\n    got:{}",
            show_expected(case),
            show_value(&value)
        )),
    }
}

#[derive(Default)]
struct FileResult {
    passed: usize,
    /// Passed although the query selected series that also hold native histograms.
    passed_touching: usize,
    failed: Vec<String>,
    skipped: Vec<(usize, String, String)>,
}

fn run_file(path: &Path) -> Result<FileResult, String> {
    let content = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cmds = parse_file(&content).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut storage = TestStorage::default();
    let mut result = FileResult::default();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    for cmd in cmds {
        match cmd {
            Command::Clear => storage = TestStorage::default(),
            Command::Load { step, series, nhcb } => load(&mut storage, step, &series, nhcb),
            Command::Eval(case) => match run_case(&storage, &case) {
                Outcome::Pass => {
                    result.passed += 1;
                    result.passed_touching += usize::from(storage.touched.get());
                }
                Outcome::Skip(why) => result.skipped.push((case.line, why, case.expr.clone())),
                Outcome::Fail(why) => result
                    .failed
                    .push(format!("{file}:{} {}\n    {why}", case.line, case.expr)),
            },
        }
    }
    Ok(result)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/promqltest")
}

/// The `- `file:line` reason: expr` lines of SKIPPED.md.
fn skipped_doc_entries(doc: &str) -> Vec<String> {
    doc.lines()
        .filter(|l| l.starts_with("- `"))
        .map(|l| l.split('`').nth(1).unwrap_or("").to_string())
        .collect()
}

const SKIPPED_HEADER: &str = "# PromQL conformance: skipped cases

Cases of Prometheus's `promqltest` files (in this folder) that `tests/promqltest.rs` counts
as skipped, with the reason. A case is skipped only when

- it needs native histograms: its expected output holds `{{…}}` histogram samples
  (\"expects native histogram samples\"), or its query selects a series that holds
  native-histogram samples, which vigil's float-only store cannot represent, and vigil's
  answer differs from Prometheus's (\"selects native histogram samples\"; where Prometheus
  ignores the histograms and vigil's answer is exactly the expected one, the case passes);
- or the evaluator answers \"not supported\" for a feature listed under \"Not supported\" in
  `host/src/promql/mod.rs` (\"unsupported\"): here, string literals with `\\xNN` byte
  escapes above 0x7f, which Go keeps as raw (invalid UTF-8) bytes and `promql-parser`
  decodes as code points.

The test fails when this list and the actual run disagree; regenerate it with
`PROMQLTEST_WRITE_SKIPPED=1 cargo test -p vigil --test promqltest`.

";

#[test]
fn promqltest_conformance() {
    let dir = fixtures();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let mut failures = Vec::new();
    let mut skipped_doc = String::from(SKIPPED_HEADER);
    let mut skipped_ids = Vec::new();
    let mut totals = (0, 0, 0, 0);
    for path in &files {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let r = match run_file(path) {
            Ok(r) => r,
            Err(e) => {
                say!("promqltest {file}: cannot run: {e}");
                failures.push(e);
                continue;
            }
        };
        say!(
            "promqltest {file}: {} passed, {} failed, {} skipped",
            r.passed,
            r.failed.len(),
            r.skipped.len()
        );
        totals.0 += r.passed;
        totals.1 += r.failed.len();
        totals.2 += r.skipped.len();
        totals.3 += r.passed_touching;
        if !r.skipped.is_empty() {
            skipped_doc.push_str(&format!("## {file} ({} skipped)\n\n", r.skipped.len()));
            for (line, why, expr) in &r.skipped {
                let id = format!("{file}:{line}");
                skipped_doc.push_str(&format!("- `{id}` {why}: `{expr}`\n"));
                skipped_ids.push(id);
            }
            skipped_doc.push('\n');
        }
        failures.extend(r.failed);
    }
    say!(
        "promqltest total: {} passed, {} failed, {} skipped ({} of the passed cases select \
         series that also hold native histograms, which Prometheus ignores there)",
        totals.0,
        totals.1,
        totals.2,
        totals.3
    );
    for f in failures.iter().take(15) {
        say!("FAILED {f}");
    }

    let doc_path = dir.join("SKIPPED.md");
    if std::env::var_os("PROMQLTEST_WRITE_SKIPPED").is_some() {
        std::fs::write(&doc_path, skipped_doc.trim_end().to_string() + "\n")
            .unwrap_or_else(|e| panic!("{}: {e}", doc_path.display()));
    }
    let listed = skipped_doc_entries(&std::fs::read_to_string(&doc_path).unwrap_or_default());
    let unlisted: Vec<&String> = skipped_ids
        .iter()
        .filter(|id| !listed.contains(id))
        .collect();
    let stale: Vec<&String> = listed
        .iter()
        .filter(|id| !skipped_ids.contains(id))
        .collect();

    assert!(
        failures.is_empty(),
        "{} promqltest cases failed",
        failures.len()
    );
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "SKIPPED.md disagrees with the run: skipped but not listed {unlisted:?}, listed but not skipped {stale:?}"
    );
}

#[test]
fn harness_reads_the_series_notation() {
    let v = series_values("0+10x2 _ stale 1e+100 _x2 5-1x1 {{schema:0 sum:1 count:1}}x1").unwrap();
    let f: Vec<String> = v.iter().map(|p| format!("{p:?}")).collect();
    assert_eq!(
        f,
        [
            "Float(0.0)",
            "Float(10.0)",
            "Float(20.0)",
            "Omitted",
            "Stale",
            "Float(1e100)",
            "Omitted",
            "Omitted",
            "Float(5.0)",
            "Float(4.0)",
            "Histogram",
            "Histogram"
        ]
    );
    let (l, rest) = metric(r#"data{test="two samples", point="a"} 0 1"#).unwrap();
    assert_eq!(l.to_string(), r#"data{point="a", test="two samples"}"#);
    assert_eq!(rest, "0 1");
    assert_eq!(duration_ms("10s53ms").unwrap(), 10_053);
    assert_eq!(duration_ms("1m30s").unwrap(), 90_000);
    assert_eq!(
        without_position("PromQL warning: x (1:19)"),
        "PromQL warning: x"
    );
}

#[test]
fn harness_reports_wrong_answers_as_failures() {
    let file = r#"
load 1m
  m{a="1"} 1 2 3
  m{a="2"} 5 6 7

eval instant at 2m m
  m{a="1"} 3
  m{a="2"} 8

eval instant at 2m m
  m{a="1"} 3

eval instant at 2m m{a="1"}
  m{a="1"} 3
  m{a="2"} 7

eval instant at 2m sort_desc(m)
  expect ordered
  m{a="1"} 3
  m{a="2"} 7

eval instant at 2m m
  expect fail

eval instant at 2m m + 1
  m{a="1"} 4
  m{a="2"} 8

eval range from 0 to 2m step 1m m{a="1"}
  m{a="1"} 1 2 4

eval range from 0 to 2m step 1m m{a="1"}
  m{a="1"} 1 _ 3

eval instant at 2m quantile(0.5, m)
  expect warn
  {} 5

eval instant at 2m 1 + 1
  3

eval instant at 2m m
  expect info msg: PromQL info: something
  m{a="1"} 3
  m{a="2"} 7
"#;
    let cmds = parse_file(file).expect("parses");
    let mut storage = TestStorage::default();
    let mut outcomes = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Load { step, series, nhcb } => load(&mut storage, step, &series, nhcb),
            Command::Clear => storage = TestStorage::default(),
            Command::Eval(case) => outcomes.push((case.line, run_case(&storage, &case))),
        }
    }
    assert_eq!(outcomes.len(), 11);
    for (line, outcome) in outcomes {
        assert!(
            matches!(outcome, Outcome::Fail(_)),
            "case at line {line} should fail"
        );
    }
}
