//! `vigil test rules`: rule unit tests in promtool's format, with promtool's verdicts and
//! output (`cmd/promtool/unittest.go`).
//!
//! A test file names rule files (relative to the test file, globs allowed) and holds test
//! groups. Each group starts from an empty in-memory store: its `input_series` (promtool's
//! expanding notation, one value per `interval` from time 0) are loaded up to each
//! evaluation time, and every rule group is evaluated at `0, evaluation_interval, …` up to
//! the largest `eval_time` of the group's tests (rule groups in `group_eval_order`). An
//! `alert_rule_test` compares the alerts *firing* after the last evaluation at or before its
//! `eval_time`; a `promql_expr_test` queries the store once all evaluations are done. Both
//! comparisons ignore order; sample values compare exactly (NaN never equals NaN), or within
//! one unit in the last place with `fuzzy_compare: true`, as promtool does.
//!
//! A rule that fails to evaluate ends its test group with the rule's error, as promtool
//! does. Pure apart from reading the test and rule files: time is the test's own clock.
//!
//! Not supported: native histograms (`{{…}}` values, `histogram:` samples) and
//! `start_timestamp` are refused with an error saying so. `external_url` is `$externalURL`
//! in templates.

use super::file::{self, GroupSpec, parse_prom_duration};
use super::group::RuleGroup;
use crate::config::ConfigError;
use crate::promql::{self, Limits, Value};
use crate::store::{Labels, STALE_NAN, Sample, Store};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `evaluation_interval` when the file does not set one.
const DEFAULT_EVALUATION_INTERVAL_MS: i64 = 60_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestFile {
    #[serde(default, deserialize_with = "nullable")]
    rule_files: Vec<String>,
    evaluation_interval: Option<Dur>,
    #[serde(default, deserialize_with = "nullable")]
    group_eval_order: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    tests: Vec<RawTestGroup>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestGroup {
    interval: Option<Dur>,
    #[serde(default, deserialize_with = "nullable")]
    input_series: Vec<RawSeries>,
    #[serde(default, deserialize_with = "nullable")]
    alert_rule_test: Vec<RawAlertTest>,
    #[serde(default, deserialize_with = "nullable")]
    promql_expr_test: Vec<RawExprTest>,
    #[serde(default, deserialize_with = "nullable")]
    external_labels: BTreeMap<String, String>,
    /// Read so promtool's files load; nothing uses it yet, because rule templates cannot
    /// refer to `$externalURL` (see the module documentation).
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    series: Option<Spanned<Text>>,
    values: Option<Spanned<Text>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertTest {
    #[serde(default)]
    eval_time: Dur,
    #[serde(default)]
    alertname: String,
    #[serde(default, deserialize_with = "nullable")]
    exp_alerts: Vec<RawAlert>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    #[serde(default, deserialize_with = "nullable")]
    exp_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExprTest {
    #[serde(default)]
    expr: Text,
    #[serde(default)]
    eval_time: Dur,
    #[serde(default, deserialize_with = "nullable")]
    exp_samples: Vec<RawSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSample {
    #[serde(default)]
    labels: Text,
    #[serde(default)]
    value: f64,
    /// Native histograms are not supported; the field is read to say so.
    histogram: Option<Text>,
}

/// A missing value and an explicit `null` both mean "empty", as in Go's YAML decoder.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A scalar read as the text it was written as (`values: 0x10` is `"0x10"`, not 16).
#[derive(Debug, Clone, Default)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text)
    }
}

/// A Prometheus duration (`eval_time: 5m`, `eval_time: 0`), in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Dur(i64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_prom_duration(&s)
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .map(Dur)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {s:?} (expected e.g. 30s, 5m, 1h30m, 1d)"
                ))
            })
    }
}

/// Run every test file; write promtool-style output to `out`; true when all passed.
///
/// Per file: `Unit Testing:  FILE`, then `  SUCCESS`, or `  FAILED:` followed by one block
/// per failure (the expected and the got alerts or samples, or the error), as promtool
/// prints them.
pub fn run_files(files: &[PathBuf], out: &mut dyn Write) -> bool {
    let mut passed = true;
    for f in files {
        match report_file(f, out) {
            Ok(ok) => passed &= ok,
            Err(e) => {
                tracing::error!(file = %f.display(), error = %e, "cannot write the test report");
                return false;
            }
        }
    }
    passed
}

fn report_file(path: &Path, out: &mut dyn Write) -> io::Result<bool> {
    writeln!(out, "Unit Testing:  {}", path.display())?;
    let mut warnings = Vec::new();
    let failures = test_file(path, &mut warnings);
    for w in &warnings {
        writeln!(out, "  WARNING: {w}")?;
    }
    if failures.is_empty() {
        writeln!(out, "  SUCCESS")?;
    } else {
        writeln!(out, "  FAILED:")?;
        for f in &failures {
            writeln!(out, "{f}")?;
            writeln!(out)?;
        }
    }
    writeln!(out)?;
    Ok(failures.is_empty())
}

/// What every test group of a file shares.
struct FileContext {
    /// The test file.
    path: PathBuf,
    eval_interval_ms: i64,
    /// `group_eval_order`: group name → position.
    order: HashMap<String, usize>,
    groups: Vec<GroupSpec>,
    fuzzy_compare: bool,
}

/// Run one test file; the failures, each a block of promtool's output.
fn test_file(path: &Path, warnings: &mut Vec<String>) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot read {}: {e}", path.display())],
    };
    let raw: RawTestFile = if text.trim().is_empty() {
        RawTestFile::default()
    } else {
        match crate::config::parse_yaml(path, &text) {
            Ok(raw) => raw,
            Err(errors) => return errors.0.iter().map(ConfigError::to_string).collect(),
        }
    };
    let eval_interval_ms = match raw.evaluation_interval {
        Some(Dur(ms)) if ms > 0 => ms,
        _ => DEFAULT_EVALUATION_INTERVAL_MS,
    };
    let mut order = HashMap::new();
    for (i, name) in raw.group_eval_order.iter().enumerate() {
        if order.insert(name.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {name}")];
        }
    }
    let base = path.parent().unwrap_or(Path::new(""));
    let mut rule_files = Vec::new();
    for pattern in &raw.rule_files {
        match glob_rule_files(base, pattern) {
            Ok(found) if found.is_empty() => warnings.push(format!(
                "no file match pattern {}",
                base.join(pattern).display()
            )),
            Ok(found) => rule_files.extend(found),
            Err(e) => return vec![e],
        }
    }
    let mut groups = Vec::new();
    let mut rule_errors = Vec::new();
    for f in &rule_files {
        match file::load(f) {
            Ok((g, _duplicates)) => groups.extend(g),
            Err(errors) => rule_errors.extend(errors.0.iter().map(ConfigError::to_string)),
        }
    }
    // promtool loads the rules for each test group, so a file without tests never sees
    // its broken rule files.
    if raw.tests.is_empty() {
        return Vec::new();
    }
    if !rule_errors.is_empty() {
        return rule_errors;
    }
    let ctx = FileContext {
        path: path.to_path_buf(),
        eval_interval_ms,
        order,
        groups,
        fuzzy_compare: raw.fuzzy_compare,
    };
    raw.tests
        .iter()
        .enumerate()
        .flat_map(|(i, tg)| run_group(&ctx, i, tg))
        .collect()
}

/// `rule_files:` entry → matching paths (relative to the test file, sorted).
fn glob_rule_files(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    if pattern.is_empty() {
        return Ok(Vec::new());
    }
    let full = if Path::new(pattern).is_absolute() || base.as_os_str().is_empty() {
        pattern.to_string()
    } else {
        let dir = glob::Pattern::escape(&base.to_string_lossy());
        format!("{dir}/{pattern}")
    };
    let paths =
        glob::glob(&full).map_err(|e| format!("rule_files: bad pattern {pattern:?}: {e}"))?;
    let mut found = Vec::new();
    for p in paths {
        found.push(p.map_err(|e| format!("rule_files: {pattern:?}: {e}"))?);
    }
    Ok(found)
}

/// One input series, expanded: its labels and its samples in time order.
type InputSeries = (Labels, Vec<Sample>);

/// An alert as the comparison sees it: labels and annotations.
type AlertView = (BTreeMap<String, String>, BTreeMap<String, String>);

/// Run one test group; its failures.
fn run_group(ctx: &FileContext, index: usize, tg: &RawTestGroup) -> Vec<String> {
    let interval_ms = match tg.interval {
        Some(Dur(ms)) if ms > 0 => ms,
        _ => ctx.eval_interval_ms,
    };
    let inputs = match input_series(&ctx.path, index, tg, interval_ms) {
        Ok(i) => i,
        Err(errors) => return errors,
    };

    // Groups in `group_eval_order`; the others keep file order around them (promtool
    // gives unlisted groups position 0).
    let mut specs: Vec<&GroupSpec> = ctx.groups.iter().collect();
    specs.sort_by_key(|g| ctx.order.get(&g.name).copied().unwrap_or(0));
    let mut groups: Vec<RuleGroup> = specs
        .into_iter()
        .map(|g| {
            let mut group = RuleGroup::new(g.clone(), Duration::from_millis(interval_ms as u64));
            group.external_url.clone_from(&tg.external_url);
            group
        })
        .collect();

    let name_note = if tg.name.is_empty() {
        String::new()
    } else {
        format!(" (in TestGroup {})", tg.name)
    };
    let mut alert_times: Vec<i64> = Vec::new();
    for a in &tg.alert_rule_test {
        if a.alertname.is_empty() {
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{name_note}",
                prom_duration(a.eval_time.0)
            )];
        }
        alert_times.push(a.eval_time.0);
    }
    alert_times.sort_unstable();
    alert_times.dedup();
    let max_t = tg
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.0)
        .chain(tg.promql_expr_test.iter().map(|p| p.eval_time.0))
        .max()
        .unwrap_or(0);

    let store = Store::in_memory(Duration::MAX);
    let limits = Limits {
        subquery_step_ms: ctx.eval_interval_ms,
        ..Limits::default()
    };
    let mut loaded = vec![0usize; inputs.len()];
    let mut errors = Vec::new();
    let mut next_alert_time = 0;
    let mut ts: i64 = 0;
    while ts <= max_t {
        for ((labels, samples), next) in inputs.iter().zip(loaded.iter_mut()) {
            while let Some(s) = samples.get(*next).filter(|s| s.t <= ts) {
                store.append(labels, *s);
                *next += 1;
            }
        }
        let mut eval_errors = Vec::new();
        for g in &mut groups {
            let outcome = g.eval(ts, &store, &tg.external_labels, &limits);
            for (rule, e) in outcome.failures {
                eval_errors.push(format!(
                    "    rule: {rule}, time: {}, err: {e}",
                    go_duration(ts)
                ));
            }
        }
        if !eval_errors.is_empty() {
            errors.extend(eval_errors);
            return errors;
        }
        // Alerts asked for at `eval_time` are those of the last evaluation at or before it.
        while let Some(&t) = alert_times.get(next_alert_time) {
            if !(ts <= t && t < ts.saturating_add(ctx.eval_interval_ms)) {
                break;
            }
            check_alerts(tg, &groups, t, &mut errors);
            next_alert_time += 1;
        }
        match ts.checked_add(ctx.eval_interval_ms) {
            Some(next) => ts = next,
            None => break,
        }
    }

    for case in &tg.promql_expr_test {
        if let Some(failure) = check_expr(ctx, case, &store, &limits) {
            errors.push(failure);
        }
    }
    errors
}

/// Parse and expand a group's `input_series`; errors name the file, line and column.
fn input_series(
    path: &Path,
    group: usize,
    tg: &RawTestGroup,
    interval_ms: i64,
) -> Result<Vec<InputSeries>, Vec<String>> {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for (i, s) in tg.input_series.iter().enumerate() {
        let what = format!("tests[{group}].input_series[{i}]");
        let at =
            |l: &serde_saphyr::Location| format!("{}:{}:{}", path.display(), l.line(), l.column());
        let Some(series) = &s.series else {
            errors.push(format!(
                "{}: {what}: field 'series' must be set",
                path.display()
            ));
            continue;
        };
        let labels = match parse_metric(&series.value.0) {
            Ok(l) if l.is_empty() => Err("a series needs a metric name or labels".to_string()),
            other => other,
        };
        let labels = match labels {
            Ok(l) => l,
            Err(e) => {
                errors.push(format!(
                    "{}: {what}: invalid series {:?}: {e}",
                    at(&series.referenced),
                    series.value.0
                ));
                continue;
            }
        };
        let (text, text_at) = match &s.values {
            Some(v) => (v.value.0.as_str(), at(&v.referenced)),
            None => ("", at(&series.referenced)),
        };
        let values = match expand_values(text) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!(
                    "{text_at}: {what}: invalid values of {}: {e}",
                    series.value.0
                ));
                continue;
            }
        };
        let mut samples = Vec::with_capacity(values.len());
        for (k, v) in values.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let Some(t) = (k as i64).checked_mul(interval_ms) else {
                errors.push(format!(
                    "{text_at}: {what}: {} values at an interval of {} run past the end of time",
                    k + 1,
                    prom_duration(interval_ms)
                ));
                break;
            };
            samples.push(Sample { t, v });
        }
        inputs.push((labels, samples));
    }
    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(errors)
    }
}

/// Compare the alerts firing at `t` with every `alert_rule_test` at `t`.
fn check_alerts(tg: &RawTestGroup, groups: &[RuleGroup], t: i64, errors: &mut Vec<String>) {
    let cases: Vec<&RawAlertTest> = tg
        .alert_rule_test
        .iter()
        .filter(|a| a.eval_time.0 == t)
        .collect();
    // The same alert name may be used by several rules, in several groups: collect all.
    let mut got: HashMap<&str, Vec<AlertView>> = HashMap::new();
    for g in groups {
        for rule in &g.rules {
            let Some(alerting) = &rule.alerting else {
                continue;
            };
            let Some(case) = cases.iter().find(|c| c.alertname == alerting.name) else {
                continue;
            };
            let entry = got.entry(case.alertname.as_str()).or_default();
            entry.extend(
                alerting
                    .alerts()
                    .filter(|a| a.state == super::alerting::AlertState::Firing)
                    .map(|a| (a.labels.clone(), a.annotations.clone())),
            );
        }
    }
    for case in cases {
        let mut got_alerts = got
            .get(case.alertname.as_str())
            .cloned()
            .unwrap_or_default();
        let mut exp_alerts: Vec<AlertView> = case
            .exp_alerts
            .iter()
            .map(|a| {
                let mut labels = a.exp_labels.clone();
                labels.insert("alertname".into(), case.alertname.clone());
                (labels, a.exp_annotations.clone())
            })
            .collect();
        got_alerts.sort();
        exp_alerts.sort();
        if exp_alerts != got_alerts {
            let name = if tg.name.is_empty() {
                String::new()
            } else {
                format!("    name: {},\n", tg.name)
            };
            let indent = "            ";
            errors.push(format!(
                "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                case.alertname,
                prom_duration(case.eval_time.0),
                indent_lines(&alerts_string(&exp_alerts), indent),
                indent_lines(&alerts_string(&got_alerts), indent),
            ));
        }
    }
}

/// Run one `promql_expr_test`; the failure, if any.
fn check_expr(
    ctx: &FileContext,
    case: &RawExprTest,
    store: &Store,
    limits: &Limits,
) -> Option<String> {
    let head = format!(
        "    expr: {:?}, time: {}",
        case.expr.0,
        prom_duration(case.eval_time.0)
    );
    let mut got = match query(store, &case.expr.0, case.eval_time.0, limits) {
        Ok(v) => v,
        Err(e) => return Some(format!("{head}, err: {e}")),
    };
    let mut exp = Vec::with_capacity(case.exp_samples.len());
    for s in &case.exp_samples {
        if s.histogram.is_some() {
            return Some(format!(
                "{head}, err: native histogram samples are not supported"
            ));
        }
        match parse_metric(&s.labels.0) {
            Ok(l) => exp.push((l, s.value)),
            Err(e) => return Some(format!("{head}, err: labels {:?}: {e}", s.labels.0)),
        }
    }
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let same = exp.len() == got.len()
        && exp
            .iter()
            .zip(&got)
            .all(|(e, g)| e.0 == g.0 && floats_equal(e.1, g.1, ctx.fuzzy_compare));
    (!same).then(|| {
        format!(
            "{head},\n        exp: {}\n        got: {}",
            samples_string(&exp),
            samples_string(&got)
        )
    })
}

/// An instant query as promtool runs it: a scalar is one sample without labels.
fn query(store: &Store, expr: &str, t: i64, limits: &Limits) -> Result<Vec<(Labels, f64)>, String> {
    let parsed = promql::parse(expr).map_err(|e| e.to_string())?;
    let value = promql::instant(&*store.read(), &parsed, t, limits).map_err(|e| e.to_string())?;
    match value {
        Value::Vector(v) => Ok(v),
        Value::Scalar(s) => Ok(vec![(Labels::default(), s)]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

/// Exact (NaN never equals), or within one unit in the last place when fuzzy.
fn floats_equal(x: f64, y: f64, fuzzy: bool) -> bool {
    x == y || (fuzzy && (x.next_down() == y || x.next_up() == y))
}

// ---------------------------------------------------------------------------------------
// promtool's notations: series label sets and expanding values.
// ---------------------------------------------------------------------------------------

/// Parse a label set in series notation, `name{label="value", ...}` (either part may be
/// left out; `{"utf-8.name", label="value"}` names the metric inside the braces), as
/// promtool's `parser.ParseMetric`. The empty string is the empty label set.
fn parse_metric(text: &str) -> Result<Labels, String> {
    let mut c = Cursor { text, pos: 0 };
    let mut name: Option<String> = None;
    let mut pairs: Vec<(String, String)> = Vec::new();
    c.skip_space();
    if c.peek()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
    {
        name = Some(c.identifier(true).to_string());
        c.skip_space();
    }
    if c.peek() == Some('{') {
        c.bump();
        loop {
            c.skip_space();
            let key = match c.peek() {
                Some('}') => {
                    c.bump();
                    break;
                }
                Some('"' | '\'' | '`') => Key::Quoted(c.string()?),
                Some(ch) if ch.is_ascii_alphabetic() || ch == '_' => {
                    Key::Plain(c.identifier(false).to_string())
                }
                Some(ch) => {
                    return Err(format!(
                        "unexpected {ch:?} at column {}, expected a label name",
                        c.column()
                    ));
                }
                None => return Err("unexpected end of input inside braces".into()),
            };
            c.skip_space();
            match (c.peek(), key) {
                (Some('='), key) => {
                    c.bump();
                    c.skip_space();
                    if !matches!(c.peek(), Some('"' | '\'' | '`')) {
                        return Err(format!(
                            "expected a quoted label value at column {}",
                            c.column()
                        ));
                    }
                    let value = c.string()?;
                    let key = match key {
                        Key::Plain(k) | Key::Quoted(k) => k,
                    };
                    if key == crate::store::labels::NAME {
                        if name.is_some() {
                            return Err("the metric name is given twice".into());
                        }
                        name = Some(value);
                    } else if pairs.iter().any(|(k, _)| *k == key) {
                        return Err(format!("label {key:?} is given twice"));
                    } else {
                        pairs.push((key, value));
                    }
                }
                (Some(',' | '}'), Key::Quoted(metric)) => {
                    if name.is_some() {
                        return Err("the metric name is given twice".into());
                    }
                    name = Some(metric);
                }
                (Some(ch), _) => {
                    return Err(format!(
                        "unexpected {ch:?} at column {}, expected '='",
                        c.column()
                    ));
                }
                (None, _) => return Err("unexpected end of input inside braces".into()),
            }
            c.skip_space();
            match c.peek() {
                Some(',') => c.bump(),
                Some('}') => {
                    c.bump();
                    break;
                }
                Some(ch) => {
                    return Err(format!(
                        "unexpected {ch:?} at column {}, expected ',' or '}}'",
                        c.column()
                    ));
                }
                None => return Err("unexpected end of input inside braces".into()),
            }
        }
    }
    c.skip_space();
    if let Some(ch) = c.peek() {
        return Err(format!("unexpected {ch:?} at column {}", c.column()));
    }
    if let Some(n) = name {
        pairs.push((crate::store::labels::NAME.into(), n));
    }
    Ok(Labels::from_vec(pairs))
}

enum Key {
    Plain(String),
    Quoted(String),
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    /// 1-based, in characters.
    fn column(&self) -> usize {
        self.text[..self.pos].chars().count() + 1
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn identifier(&mut self, colons: bool) -> &str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
        {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    /// A Go string literal: `"…"` or `'…'` with escapes, or a raw `` `…` ``.
    fn string(&mut self) -> Result<String, String> {
        let start_col = self.column();
        let quote = self.peek().ok_or("expected a string")?;
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!(
                    "unterminated string starting at column {start_col}"
                ));
            };
            self.bump();
            if c == quote {
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                out.push(self.escape()?);
            } else if c == '\n' && quote != '`' {
                return Err(format!(
                    "unterminated string starting at column {start_col}"
                ));
            } else {
                out.push(c);
            }
        }
    }

    fn escape(&mut self) -> Result<char, String> {
        let col = self.column();
        let c = self.peek().ok_or("unterminated escape sequence")?;
        self.bump();
        let hex = |cur: &mut Self, n: usize| -> Result<char, String> {
            let start = cur.pos;
            for _ in 0..n {
                if !cur.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("invalid escape sequence at column {col}"));
                }
                cur.bump();
            }
            u32::from_str_radix(&cur.text[start..cur.pos], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("invalid escape sequence at column {col}"))
        };
        Ok(match c {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' | '"' | '\'' | '`' => c,
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => return Err(format!("invalid escape sequence at column {col}")),
                    }
                }
                char::from_u32(v)
                    .ok_or_else(|| format!("invalid escape sequence at column {col}"))?
            }
            _ => return Err(format!("unknown escape sequence \\{c} at column {col}")),
        })
    }
}

/// Expand promtool's series values: space-separated items, each `a` (a number, `Inf` or
/// `NaN`, optionally signed), `axn` (`a` repeated, n+1 values), `a+bxn` / `a-bxn` (`a`, then
/// n more values stepping by `b`), `_` (no sample), `_xn` (n times no sample) or `stale`
/// (a staleness marker). `None` is a step without a sample.
fn expand_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        expand_item(item, &mut out).map_err(|e| format!("{item:?}: {e}"))?;
    }
    Ok(out)
}

fn expand_item(item: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    if item.starts_with("{{") {
        return Err("native histogram values are not supported".into());
    }
    if item == "stale" {
        out.push(Some(f64::from_bits(STALE_NAN)));
        return Ok(());
    }
    let (base, times) = match item.split_once('x') {
        Some((base, n)) => {
            let count = match n.parse::<usize>() {
                Ok(count) if n.bytes().all(|b| b.is_ascii_digit()) => count,
                _ => return Err(format!("{n:?} is not a repeat count (a whole number)")),
            };
            (base, Some(count))
        }
        None => (item, None),
    };
    if base == "_" {
        // `_xn` is n missing samples (not n+1, unlike `axn`).
        out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
        return Ok(());
    }
    // An increment: a `+` or `-` past the first character that is not an exponent's sign.
    let bytes = base.as_bytes();
    let op = (1..bytes.len())
        .find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    match (op, times) {
        (Some(i), Some(n)) => {
            let mut v = number(&base[..i])?;
            let step = number(&base[i..])?;
            for _ in 0..=n {
                out.push(Some(v));
                v += step;
            }
        }
        (Some(_), None) => {
            return Err("an increment needs a repeat count, as in 1+2x3".into());
        }
        (None, Some(n)) => {
            let v = number(base)?;
            out.extend(std::iter::repeat_n(Some(v), n + 1));
        }
        (None, None) => out.push(Some(number(base)?)),
    }
    Ok(())
}

/// A number as the series notation writes it: decimal, exponent, `Inf`, `NaN`, signed.
fn number(s: &str) -> Result<f64, String> {
    let unsigned = s.trim_start_matches(['+', '-']);
    let valid = s.len() - unsigned.len() <= 1
        && (unsigned.eq_ignore_ascii_case("inf")
            || unsigned.eq_ignore_ascii_case("nan")
            || unsigned
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '.'));
    match s.parse::<f64>() {
        Ok(v) if valid => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number (expected e.g. 1, -2.5, 1e3, Inf, NaN, stale or _)"
        )),
    }
}

// ---------------------------------------------------------------------------------------
// promtool's output formats.
// ---------------------------------------------------------------------------------------

/// Prefix every line but the first with `indent`.
fn indent_lines(lines: &str, indent: &str) -> String {
    lines.replace('\n', &format!("\n{indent}"))
}

/// promtool's listing of alerts (`labelsAndAnnotations.String()`).
fn alerts_string(alerts: &[AlertView]) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (labels, annotations)) in alerts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let one = format!(
            "\nLabels:{}\nAnnotations:{}",
            go_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            go_labels(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        );
        s.push_str(&format!("\n{i}:{}", indent_lines(&one, "  ")));
    }
    s.push_str("\n]");
    s
}

/// promtool's listing of samples: `{__name__="x", a="b"} 1E+00, …`, or `nil`.
fn samples_string(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    samples
        .iter()
        .map(|(l, v)| format!("{} {}", go_labels(l.iter()), go_float(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `labels.Labels.String()`: `{a="1", b="2"}`, names quoted when not plain.
fn go_labels<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let plain = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let items: Vec<String> = pairs
        .map(|(k, v)| {
            if plain(k) {
                format!("{k}={v:?}")
            } else {
                format!("{k:?}={v:?}")
            }
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `1E+00`, `6.5E-01`, `NaN`, `+Inf`.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:E}");
    let (mantissa, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}E{sign}{:02}", exp.unsigned_abs())
}

/// Prometheus's `model.Duration.String()` (`eval_time` as promtool prints it): `5m`,
/// `1d`, `2m59s999ms`, `0s`; years and weeks only when exact.
fn prom_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    const DAY: i64 = 86_400_000;
    for (unit, mult, exact) in [
        ("y", 365 * DAY, true),
        ("w", 7 * DAY, true),
        ("d", DAY, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && rest % mult != 0 {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            rest -= v * mult;
        }
    }
    out
}

/// Go's `time.Duration.String()` for a whole number of milliseconds (the evaluation time
/// of a failing rule as promtool prints it): `0s`, `500ms`, `1m0s`, `1h2m3.5s`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}").trim_end_matches('0').to_string()
    };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Option<f64>> {
        expand_values(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn some(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().copied().map(Some).collect()
    }

    #[test]
    fn expanding_notation_like_promtool() {
        assert_eq!(values("1+1x2"), some(&[1.0, 2.0, 3.0]));
        assert_eq!(values("-2+4x3"), some(&[-2.0, 2.0, 6.0, 10.0]));
        assert_eq!(values(" 1-2x4"), some(&[1.0, -1.0, -3.0, -5.0, -7.0]));
        assert_eq!(values("1x2"), some(&[1.0, 1.0, 1.0]));
        assert_eq!(values("0+0x3"), some(&[0.0; 4]));
        assert_eq!(values("1"), some(&[1.0]));
        assert_eq!(values("0 0"), some(&[0.0, 0.0]));
        assert_eq!(values("1.5e3 -0.5 +2"), some(&[1500.0, -0.5, 2.0]));
        assert_eq!(values("1e-3+1e-3x1"), some(&[0.001, 0.002]));
        assert_eq!(values("-1-1x2"), some(&[-1.0, -2.0, -3.0]));
        assert_eq!(values(""), []);
    }

    #[test]
    fn hex_is_not_a_number_in_series_values() {
        // YAML would read `0x10` as 16; promtool reads it as 0 repeated 10 more times.
        assert_eq!(values("0x10"), some(&[0.0; 11]));
    }

    #[test]
    fn gaps_stale_markers_and_special_values() {
        assert_eq!(values("0 _ _ 1"), vec![Some(0.0), None, None, Some(1.0)]);
        assert_eq!(values("_x3 1"), vec![None, None, None, Some(1.0)]);
        let v = values("0 stale");
        assert_eq!(v[1].map(f64::to_bits), Some(STALE_NAN));
        let v = values("Inf -Inf NaN +inf");
        assert_eq!(v[0], Some(f64::INFINITY));
        assert_eq!(v[1], Some(f64::NEG_INFINITY));
        assert!(v[2].unwrap().is_nan());
        assert_eq!(v[3], Some(f64::INFINITY));
    }

    #[test]
    fn increments_accumulate_like_go() {
        // Each step adds to the previous value, as promtool's parser does.
        let v = values("0+0.1x3");
        let mut want = 0.0;
        for got in v {
            assert_eq!(got, Some(want));
            want += 0.1;
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_item() {
        for (text, want) in [
            ("1+1", "needs a repeat count"),
            ("1x", "not a repeat count"),
            ("1x2.5", "not a repeat count"),
            ("abc", "\"abc\" is not a number"),
            ("stalex2", "not a number"),
            ("1 two", "\"two\""),
            ("{{schema:1}}", "native histogram"),
            ("--1x2", "\"-\" is not a number"),
        ] {
            let err = expand_values(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn series_label_sets() {
        let l = parse_metric(r#"up{job="prometheus", instance="localhost:9090"}"#).unwrap();
        assert_eq!(
            l.to_string(),
            r#"up{instance="localhost:9090", job="prometheus"}"#
        );
        assert_eq!(parse_metric("test").unwrap().to_string(), "test");
        assert_eq!(parse_metric("requests{}").unwrap().to_string(), "requests");
        assert_eq!(
            parse_metric("job:test:count_over_time1m{job='test',}")
                .unwrap()
                .to_string(),
            r#"job:test:count_over_time1m{job="test"}"#
        );
        assert_eq!(
            parse_metric(r#"{alertname="A",alertstate="firing"}"#)
                .unwrap()
                .to_string(),
            r#"{alertname="A", alertstate="firing"}"#
        );
        assert_eq!(
            parse_metric(r#"{__name__="x", a="1\n\"2\""}"#)
                .unwrap()
                .get("a"),
            Some("1\n\"2\"")
        );
        assert_eq!(
            parse_metric(r#"{"my.metric", "a.b"="c"}"#)
                .unwrap()
                .to_string(),
            r#"my.metric{a.b="c"}"#
        );
        assert!(parse_metric("").unwrap().is_empty());
    }

    #[test]
    fn bad_label_sets_say_what_is_wrong() {
        for (text, want) in [
            (
                r#"up{job="prometheus", instance="localhost:9090""#,
                "unexpected end of input inside braces",
            ),
            (r#"up{job=prometheus}"#, "expected a quoted label value"),
            (r#"up{job="a", job="b"}"#, "given twice"),
            (r#"up{job!="a"}"#, "expected '='"),
            (r#"up{job="a} "#, "unterminated string"),
            (r#"up offset 5m"#, "unexpected 'o'"),
        ] {
            let err = parse_metric(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn go_formats() {
        assert_eq!(go_float(1.0), "1E+00");
        assert_eq!(go_float(0.0), "0E+00");
        assert_eq!(go_float(60.0), "6E+01");
        assert_eq!(go_float(9_218_880_000.0), "9.21888E+09");
        assert_eq!(go_float(0.25), "2.5E-01");
        assert_eq!(go_float(1e100), "1E+100");
        assert_eq!(go_float(f64::NAN), "NaN");
        assert_eq!(go_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(prom_duration(0), "0s");
        assert_eq!(prom_duration(300_000), "5m");
        assert_eq!(prom_duration(86_400_000), "1d");
        assert_eq!(prom_duration(179_999), "2m59s999ms");
        assert_eq!(prom_duration(14 * 86_400_000), "2w");
        assert_eq!(prom_duration(100 * 86_400_000), "100d");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(3_723_500), "1h2m3.5s");
        assert_eq!(go_duration(500), "500ms");
        assert_eq!(
            go_labels([("__name__", "x"), ("a.b", "c\"d")].into_iter()),
            r#"{__name__="x", "a.b"="c\"d"}"#
        );
    }

    #[test]
    fn alert_listing_like_promtool() {
        let a: AlertView = (
            BTreeMap::from([("alertname".to_string(), "A".to_string())]),
            BTreeMap::new(),
        );
        let b: AlertView = (
            BTreeMap::from([
                ("alertname".to_string(), "A".to_string()),
                ("x".to_string(), "1".to_string()),
            ]),
            BTreeMap::from([("summary".to_string(), "s".to_string())]),
        );
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            alerts_string(&[a, b]),
            "[\n0:\n  Labels:{alertname=\"A\"}\n  Annotations:{},\n1:\n  Labels:{alertname=\"A\", x=\"1\"}\n  Annotations:{summary=\"s\"}\n]"
        );
    }

    #[test]
    fn fuzzy_compare_allows_one_ulp() {
        let x = 0.1 + 0.2;
        assert!(!floats_equal(x, 0.3, false));
        assert!(floats_equal(x, 0.3, true));
        assert!(!floats_equal(f64::NAN, f64::NAN, true));
        assert!(!floats_equal(1.0, 1.0 + 4.0 * f64::EPSILON, true));
    }

    #[test]
    fn yaml_scalars_are_read_as_written() {
        let raw: RawTestGroup = serde_saphyr::from_str(
            "input_series:\n  - series: test\n    values: 0x10\n  - series: t\n    values: 1\nalert_rule_test:\n  - eval_time: 0\n    alertname: A\n    exp_alerts:\n",
        )
        .unwrap();
        assert_eq!(raw.input_series[0].values.as_ref().unwrap().value.0, "0x10");
        assert_eq!(raw.input_series[1].values.as_ref().unwrap().value.0, "1");
        assert_eq!(raw.alert_rule_test[0].eval_time.0, 0);
        assert!(raw.alert_rule_test[0].exp_alerts.is_empty());
    }
}
