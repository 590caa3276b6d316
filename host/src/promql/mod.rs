//! PromQL evaluation over the sample store: parse with `promql-parser`, evaluate here.
//!
//! Pure: no I/O, no tokio, no clock except checking [`Limits::deadline`]. The caller passes
//! a [`Storage`] (the store's [`SeriesSet`], or anything else that can answer "series matching
//! these matchers, samples in this window") and explicit evaluation timestamps.
//!
//! Semantics follow current Prometheus (3.x): float samples, a 5 minute lookback delta
//! ([`LOOKBACK_MS`]), staleness markers end a series, range selectors and subqueries select
//! the left-open window `(t - range, t]`, subquery steps are aligned to multiples of the step,
//! `@` and `offset`, vector matching, every aggregation, and the functions listed below. The
//! conformance harness (`tests/promqltest.rs`) runs Prometheus's own `promqltest` files.
//!
//! # Functions
//!
//! Over range vectors: `rate irate increase delta idelta deriv predict_linear changes resets
//! double_exponential_smoothing absent_over_time present_over_time`, `avg sum count min max
//! last first stddev stdvar quantile mad _over_time` and `ts_of_{min,max,first,last}_over_time`.
//! Over instant vectors: `abs ceil floor round exp ln log2 log10 sqrt sgn clamp clamp_min
//! clamp_max`, the trigonometric functions (`sin cos tan asin acos atan sinh cosh tanh asinh
//! acosh atanh rad deg`), `label_replace label_join sort sort_desc sort_by_label
//! sort_by_label_desc absent timestamp scalar histogram_quantile` (classic buckets) and the
//! date functions (`year month day_of_month day_of_week day_of_year days_in_month hour
//! minute`, UTC). Scalars: `time vector pi step range start end min_of max_of`.
//!
//! An instant query is evaluated at one timestamp; a range query is evaluated step by step
//! at `start, start + step, …, end`, which is how Prometheus defines it. Selections go
//! through a per-query cache, so a range query reads each selector's samples from the
//! storage once, not once per step.
//!
//! # Labels of results
//!
//! Results carry [`Labels`] exactly as Prometheus would print them: `__name__` is kept where
//! Prometheus keeps it (selectors, `last_over_time`, `first_over_time`, comparisons without
//! `bool`, `sort*`, `label_*`, `topk`/`bottomk`/`limitk`/`limit_ratio`) and dropped
//! everywhere else; empty label values never appear.
//!
//! # Not supported
//!
//! Each of these gives [`EvalError::Unsupported`], never a wrong answer:
//!
//! - **Native histograms.** The store holds float samples only, so there is nothing to
//!   evaluate them on; the native-histogram functions `histogram_count`, `histogram_sum`,
//!   `histogram_avg`, `histogram_stddev`, `histogram_stdvar`, `histogram_fraction` and
//!   `histogram_quantiles` are refused. `histogram_quantile` works on classic (`le`)
//!   buckets.
//! - **`info()`** (experimental in Prometheus): it needs the `target_info` join metadata that
//!   vigil does not have.
//! - **`fill`, `fill_left`, `fill_right`** binary-operator modifiers (experimental in
//!   Prometheus, parsed by `promql-parser`).
//! - **`start_timestamp()`** (created timestamps are not stored) and **`integral()`** (known to
//!   `promql-parser`, not a Prometheus function).
//! - **Byte escapes above `\x7f` in string literals** (`"\xff"`): Go keeps them as raw bytes
//!   (an invalid UTF-8 label name, an error in Prometheus); `promql-parser` decodes them as
//!   the code point U+00FF, so the evaluator cannot tell and [`parse`] refuses them.
//!
//! Differences that do not change results: warnings and infos ([`Annotations`]) carry no
//! `(line:col)` position, because the parser's AST has no positions; [`Limits::max_samples`]
//! counts the samples held at once (selected samples, the current step's intermediate
//! values and the result so far), like Prometheus's `query.max-samples`.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod histogram;
mod labels;
mod over_time;
mod select;

pub use aggregate::format_value;
pub use promql_parser::parser::Expr;

use crate::store::{Labels, Sample, SeriesSet};
use promql_parser::label::Matchers;
use std::time::Instant;

/// How far back an instant vector selector looks for a sample (Prometheus's default 5m).
pub const LOOKBACK_MS: i64 = 300_000;

/// The step of a subquery written without one (`x[1h:]`): Prometheus uses the global
/// evaluation interval; this is its default, and the default of [`Limits::subquery_step_ms`].
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// Where the samples come from.
pub trait Storage {
    /// Series whose labels satisfy all matchers, with samples in [start_ms, end_ms]
    /// (inclusive), in time order. Staleness markers are returned as they are stored. Series
    /// without samples in the window may be left out.
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64)
    -> Vec<(Labels, Vec<Sample>)>;
}

impl Storage for SeriesSet {
    /// Reads the postings of the most selective `label="value"` matcher; results are sorted by labels
    /// (as Prometheus's storage returns them, which fixes the order of `limitk` and ties).
    fn select(
        &self,
        matchers: &Matchers,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<(Labels, Vec<Sample>)> {
        select::select_from_set(self, matchers, start_ms, end_ms)
    }
}

/// A query result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number (`1 + 1`, `scalar(x)`, `time()`).
    Scalar(f64),
    /// An instant vector: one value per series at the evaluation time.
    Vector(Vec<(Labels, f64)>),
    /// A range vector (`x[5m]`, a subquery) or the result of a range query.
    Matrix(Vec<(Labels, Vec<Sample>)>),
    /// A string literal.
    String(String),
}

/// Bounds on one query, so a runaway rule fails alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most samples a query may hold at once (selected, intermediate and result).
    pub max_samples: usize,
    /// When the query must give up with [`EvalError::Timeout`].
    pub deadline: Option<Instant>,
    /// Step of subqueries written without one (`x[1h:]`); Prometheus uses the evaluation
    /// interval of the rule group.
    pub subquery_step_ms: i64,
}

impl Default for Limits {
    /// 50 million samples, no deadline, 1m subquery step.
    fn default() -> Self {
        Limits {
            max_samples: 50_000_000,
            deadline: None,
            subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS,
        }
    }
}

/// Where in the query text a parse error is (1-based, in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Why a query could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The text is not valid PromQL. `position` is known for lexical errors (a bad character,
    /// an unterminated string); `promql-parser` does not report where a grammar error is.
    #[error("{}parse error: {message}", .position.map(|p| format!("{}:{}: ", p.line, p.column)).unwrap_or_default())]
    Parse {
        /// What is wrong, as the parser says it.
        message: String,
        /// Where, when known.
        position: Option<Position>,
    },
    /// More samples than [`Limits::max_samples`] would be held at once.
    #[error(
        "query processing would load too many samples into memory in query execution (limit {0})"
    )]
    MaxSamples(usize),
    /// [`Limits::deadline`] passed.
    #[error("query timed out")]
    Timeout,
    /// A feature listed under "Not supported" in the module documentation.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The query is valid but cannot be evaluated on this data (many-to-many matching,
    /// duplicate label sets, a bad regular expression, …); the message is Prometheus's.
    #[error("{0}")]
    Eval(String),
}

/// Warnings and infos collected while evaluating, as Prometheus's annotations (deduplicated,
/// in order of first occurrence, without positions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `PromQL warning: …` messages: the result is probably not what was meant.
    pub warnings: Vec<String>,
    /// `PromQL info: …` messages: hints, the result is fine.
    pub infos: Vec<String>,
}

impl Annotations {
    pub(crate) fn warn(&mut self, msg: String) {
        let msg = format!("PromQL warning: {msg}");
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    pub(crate) fn info(&mut self, msg: String) {
        let msg = format!("PromQL info: {msg}");
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }
}

/// Parse a PromQL expression, with the position of lexical errors.
pub fn parse(expr: &str) -> Result<Expr, EvalError> {
    if let Some(position) = select::high_byte_escape(expr) {
        return Err(EvalError::Unsupported(format!(
            "{}:{}: byte escapes above \\x7f in string literals (write the UTF-8 character instead)",
            position.line, position.column
        )));
    }
    let parsed = promql_parser::parser::parse(expr).map_err(|message| {
        let position = select::lex_error_position(expr, &message);
        EvalError::Parse { message, position }
    })?;
    check_supported(&parsed)?;
    Ok(parsed)
}

/// Refuse, when the query is parsed, what evaluation would refuse (see "Not supported").
fn check_supported(expr: &Expr) -> Result<(), EvalError> {
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                check_supported(p)?;
            }
            check_supported(&a.expr)
        }
        Expr::Unary(u) => check_supported(&u.expr),
        Expr::Binary(b) => {
            if b.modifier
                .as_ref()
                .is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err(EvalError::Unsupported(
                    "fill modifiers of binary operators".into(),
                ));
            }
            check_supported(&b.lhs)?;
            check_supported(&b.rhs)
        }
        Expr::Paren(p) => check_supported(&p.expr),
        Expr::Subquery(s) => check_supported(&s.expr),
        Expr::Call(c) => {
            if let Some(why) = functions::unsupported(c.func.name) {
                return Err(EvalError::Unsupported(format!("{}(): {why}", c.func.name)));
            }
            c.args.args.iter().try_for_each(|a| check_supported(a))
        }
        Expr::Extension(_) => Err(EvalError::Unsupported("extension expressions".into())),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_) => Ok(()),
    }
}

/// Evaluate `expr` at `t_ms`.
pub fn instant(
    storage: &dyn Storage,
    expr: &Expr,
    t_ms: i64,
    limits: &Limits,
) -> Result<Value, EvalError> {
    instant_with_annotations(storage, expr, t_ms, limits).map(|(v, _)| v)
}

/// [`instant`], with the warnings and infos Prometheus would attach.
pub fn instant_with_annotations(
    storage: &dyn Storage,
    expr: &Expr,
    t_ms: i64,
    limits: &Limits,
) -> Result<(Value, Annotations), EvalError> {
    let mut ev = eval::Evaluator::new(storage, limits, t_ms, t_ms, 0);
    let value = ev.instant(expr)?;
    Ok((value, ev.annotations))
}

/// Evaluate `expr` at `start_ms, start_ms + step_ms, …, end_ms`; the result is a
/// [`Value::Matrix`] sorted by labels (a scalar expression gives one series with no labels).
pub fn range(
    storage: &dyn Storage,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    limits: &Limits,
) -> Result<Value, EvalError> {
    range_with_annotations(storage, expr, start_ms, end_ms, step_ms, limits).map(|(v, _)| v)
}

/// [`range`], with the warnings and infos Prometheus would attach.
pub fn range_with_annotations(
    storage: &dyn Storage,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    limits: &Limits,
) -> Result<(Value, Annotations), EvalError> {
    if step_ms <= 0 {
        return Err(EvalError::Eval(
            "zero or negative query resolution step widths are not accepted".into(),
        ));
    }
    if end_ms < start_ms {
        return Err(EvalError::Eval(
            "end timestamp must not be before start time".into(),
        ));
    }
    let mut ev = eval::Evaluator::new(storage, limits, start_ms, end_ms, step_ms);
    let value = ev.range(expr)?;
    Ok((value, ev.annotations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SeriesSet {
        let mut set = SeriesSet::new();
        for (probe, v) in [("a", 1.0), ("b", 0.0)] {
            let l = Labels::from_pairs("probe_success", [("probe", probe)]);
            for i in 0..10 {
                set.append(&l, Sample { t: i * 15_000, v }).unwrap();
            }
        }
        set
    }

    #[test]
    fn instant_query_on_the_store() {
        let set = store();
        let expr = parse("sum by (probe) (avg_over_time(probe_success[1m])) < 1").unwrap();
        let v = instant(&set, &expr, 135_000, &Limits::default()).unwrap();
        assert_eq!(
            v,
            Value::Vector(vec![(Labels::from_pairs("", [("probe", "b")]), 0.0)])
        );
    }

    #[test]
    fn range_query_collects_series_per_step() {
        let set = store();
        let expr = parse("probe_success{probe=\"a\"} * 2").unwrap();
        let v = range(&set, &expr, 0, 30_000, 15_000, &Limits::default()).unwrap();
        let Value::Matrix(m) = v else { panic!("{v:?}") };
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].1.iter().map(|s| (s.t, s.v)).collect::<Vec<_>>(),
            [(0, 2.0), (15_000, 2.0), (30_000, 2.0)]
        );
        let err = range(
            &set,
            &parse("probe_success[1m]").unwrap(),
            0,
            1,
            1,
            &Limits::default(),
        );
        assert!(err.is_err());
    }

    #[test]
    fn limits_make_a_query_fail_alone() {
        let set = store();
        let expr = parse("count_over_time(probe_success[5m])").unwrap();
        let limits = Limits {
            max_samples: 5,
            ..Limits::default()
        };
        assert_eq!(
            instant(&set, &expr, 135_000, &limits),
            Err(EvalError::MaxSamples(5))
        );
        let limits = Limits {
            deadline: Some(Instant::now()),
            ..Limits::default()
        };
        assert_eq!(
            instant(&set, &expr, 135_000, &limits),
            Err(EvalError::Timeout)
        );
    }

    #[test]
    fn parse_errors_say_where_when_they_can() {
        match parse("rate(x[5m]) $") {
            Err(EvalError::Parse {
                position: Some(p), ..
            }) => assert_eq!((p.line, p.column), (1, 13)),
            other => panic!("{other:?}"),
        }
        match parse("sum(") {
            Err(EvalError::Parse {
                position: Some(p), ..
            }) => assert_eq!((p.line, p.column), (1, 4)),
            other => panic!("{other:?}"),
        }
        let err = parse("foo bar").unwrap_err();
        assert!(
            err.to_string().starts_with("parse error: "),
            "grammar errors have no position: {err}"
        );
        assert!(matches!(
            parse(r#"label_replace(x, "\xff", "", "", "")"#),
            Err(EvalError::Unsupported(_))
        ));
    }

    #[test]
    fn native_histogram_functions_are_refused() {
        let err = parse("sum(histogram_count(rate(x[5m])))").unwrap_err();
        assert!(matches!(err, EvalError::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains("native histograms"), "{err}");
        assert!(matches!(
            parse("a + fill(0) b"),
            Err(EvalError::Unsupported(_))
        ));
        // Also when the AST does not come from `parse`.
        let set = store();
        let expr = promql_parser::parser::parse("histogram_count(probe_success)").unwrap();
        assert!(matches!(
            instant(&set, &expr, 0, &Limits::default()),
            Err(EvalError::Unsupported(_))
        ));
    }

    #[test]
    fn annotations_are_returned() {
        let set = store();
        let expr = parse("rate(probe_success[1m])").unwrap();
        let (_, a) = instant_with_annotations(&set, &expr, 135_000, &Limits::default()).unwrap();
        assert_eq!(a.infos.len(), 1, "{a:?}");
        assert!(a.infos[0].starts_with("PromQL info: metric might not be a counter"));
    }
}
