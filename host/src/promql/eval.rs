//! The evaluator: walks the AST at one timestamp at a time, selects samples through a
//! per-query cache, resolves `@` and `offset`, runs subqueries, and enforces [`Limits`].
//!
//! Invariants: a vector never holds two elements with the same labels (checked where
//! Prometheus checks: after functions, operators and unary minus); stale markers never leave
//! this file (selectors drop them); every materialised sample is counted against
//! [`Limits::max_samples`].

use super::labels::drop_name;
use super::select::selector_matchers;
use super::{
    Annotations, EvalError, LOOKBACK_MS, Limits, Storage, Value, aggregate, binary, functions,
};
use crate::store::{Labels, Sample, is_stale};
use promql_parser::label::Matchers;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

/// An instant vector: one value per label set.
pub(crate) type Vector = Vec<(Labels, f64)>;

/// A range vector with the window its samples come from: `(end - range, end]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct RangeVector {
    /// Series with at least one sample, samples in time order.
    pub series: Vec<(Labels, Vec<Sample>)>,
    /// Inclusive end of the window, in ms.
    pub end: i64,
    /// Length of the window, in ms.
    pub range: i64,
}

/// An intermediate value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(f64),
    Vector(Vector),
    Matrix(RangeVector),
    String(String),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
            Val::String(_) => "string",
        }
    }

    pub(crate) fn into_vector(self) -> Result<Vector, EvalError> {
        match self {
            Val::Vector(v) => Ok(v),
            other => Err(EvalError::Eval(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    pub(crate) fn into_scalar(self) -> Result<f64, EvalError> {
        match self {
            Val::Scalar(v) => Ok(v),
            other => Err(EvalError::Eval(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    pub(crate) fn into_string(self) -> Result<String, EvalError> {
        match self {
            Val::String(v) => Ok(v),
            other => Err(EvalError::Eval(format!(
                "expected string, got {}",
                other.type_name()
            ))),
        }
    }

    pub(crate) fn into_matrix(self) -> Result<RangeVector, EvalError> {
        match self {
            Val::Matrix(v) => Ok(v),
            other => Err(EvalError::Eval(format!(
                "expected range vector, got {}",
                other.type_name()
            ))),
        }
    }
}

/// Samples of one selector, fetched for `[lo, hi]` (inclusive).
struct Cached {
    matchers: Matchers,
    lo: i64,
    hi: i64,
    series: Vec<(Labels, Vec<Sample>)>,
    samples: usize,
}

/// One query's evaluation state.
pub(crate) struct Evaluator<'a> {
    storage: &'a dyn Storage,
    limits: &'a Limits,
    /// Query start (ms); `@ start()` and `start()`.
    pub start: i64,
    /// Query end (ms); `@ end()` and `end()`.
    pub end: i64,
    /// Query step (ms), 0 for an instant query; `step()`.
    pub step: i64,
    cache: HashMap<usize, Cached>,
    cached_samples: usize,
    step_samples: usize,
    output_samples: usize,
    /// Warnings and infos so far.
    pub annotations: Annotations,
}

/// Milliseconds of a duration.
pub(crate) fn ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(o: Option<&Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => ms(d),
        Some(Offset::Neg(d)) => -ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => ms(&d),
        Err(e) => -ms(&e.duration()),
    }
}

/// Fails with Prometheus's message when two elements share a label set.
pub(crate) fn check_unique(v: &Vector) -> Result<(), EvalError> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(v.len());
    if v.iter().all(|(l, _)| seen.insert(l)) {
        Ok(())
    } else {
        Err(EvalError::Eval(
            "vector cannot contain metrics with the same labelset".into(),
        ))
    }
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(
        storage: &'a dyn Storage,
        limits: &'a Limits,
        start: i64,
        end: i64,
        step: i64,
    ) -> Self {
        Evaluator {
            storage,
            limits,
            start,
            end,
            step,
            cache: HashMap::new(),
            cached_samples: 0,
            step_samples: 0,
            output_samples: 0,
            annotations: Annotations::default(),
        }
    }

    /// Evaluate at the query's single timestamp.
    pub(crate) fn instant(&mut self, expr: &Expr) -> Result<Value, EvalError> {
        Ok(match self.eval(expr, self.start)? {
            Val::Scalar(v) => Value::Scalar(v),
            Val::Vector(v) => Value::Vector(v),
            Val::Matrix(m) => Value::Matrix(m.series),
            Val::String(s) => Value::String(s),
        })
    }

    /// Evaluate at every step and collect one series per label set.
    pub(crate) fn range(&mut self, expr: &Expr) -> Result<Value, EvalError> {
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(EvalError::Eval(format!(
                    "invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let mut out: Vec<(Labels, Vec<Sample>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut t = self.start;
        while t <= self.end {
            self.step_samples = 0;
            let vector = match self.eval(expr, t)? {
                Val::Scalar(v) => vec![(Labels::default(), v)],
                Val::Vector(v) => v,
                other => {
                    return Err(EvalError::Eval(format!(
                        "invalid expression type \"{}\" for range query",
                        other.type_name()
                    )));
                }
            };
            self.output_samples += vector.len();
            for (labels, v) in vector {
                let i = *index.entry(labels.clone()).or_insert_with(|| {
                    out.push((labels, Vec::new()));
                    out.len() - 1
                });
                let points = &mut out[i].1;
                if points.last().is_some_and(|p| p.t == t) {
                    return Err(EvalError::Eval(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                points.push(Sample { t, v });
            }
            self.step_samples = 0;
            self.check()?;
            t = match t.checked_add(self.step) {
                Some(next) => next,
                None => break,
            };
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Value::Matrix(out))
    }

    /// Fail when the deadline passed or too many samples are held.
    pub(crate) fn check(&self) -> Result<(), EvalError> {
        if self.limits.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(EvalError::Timeout);
        }
        if self.cached_samples + self.step_samples + self.output_samples > self.limits.max_samples {
            return Err(EvalError::MaxSamples(self.limits.max_samples));
        }
        Ok(())
    }

    /// Count `n` materialised samples of the current step.
    pub(crate) fn count(&mut self, n: usize) -> Result<(), EvalError> {
        self.step_samples += n;
        self.check()
    }

    /// Evaluate `expr` at `t` (ms).
    pub(crate) fn eval(&mut self, expr: &Expr, t: i64) -> Result<Val, EvalError> {
        self.check()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => self.negate(&u.expr, t),
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Call(c) => functions::eval(self, c, t),
            Expr::VectorSelector(vs) => {
                let v = self.vector_selector(vs, t)?;
                Ok(Val::Vector(v.into_iter().map(|(l, v, _)| (l, v)).collect()))
            }
            Expr::MatrixSelector(m) => self.matrix_selector(m, t).map(Val::Matrix),
            Expr::Subquery(s) => self.subquery(s, t).map(Val::Matrix),
            Expr::Extension(_) => Err(EvalError::Unsupported("extension expressions".into())),
        }
    }

    fn negate(&mut self, inner: &Expr, t: i64) -> Result<Val, EvalError> {
        match self.eval(inner, t)? {
            Val::Scalar(v) => Ok(Val::Scalar(-v)),
            Val::Vector(v) => {
                let out: Vector = v.into_iter().map(|(l, x)| (drop_name(&l), -x)).collect();
                check_unique(&out)?;
                Ok(Val::Vector(out))
            }
            other => Err(EvalError::Eval(format!(
                "unary expression only allowed on expressions of type scalar or vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// The time a selector or subquery looks at: `@` (or `t`) minus `offset`.
    fn at_time(&self, at: Option<&AtModifier>, offset: Option<&Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base.saturating_sub(offset_ms(offset))
    }

    /// Make sure the cache holds `vs`'s samples in `(lo_excl, hi]`; returns the cache key.
    fn ensure(&mut self, vs: &VectorSelector, lo_excl: i64, hi: i64) -> Result<usize, EvalError> {
        let key = vs as *const VectorSelector as usize;
        let lo = lo_excl.saturating_add(1);
        if let Some(c) = self.cache.get(&key)
            && c.lo <= lo
            && hi <= c.hi
        {
            return Ok(key);
        }
        // Fetch up to the last time any step of this query can ask for, so a range query
        // reads the storage once per selector.
        let horizon = if vs.at.is_none() {
            self.end.saturating_sub(offset_ms(vs.offset.as_ref()))
        } else {
            hi
        };
        let (matchers, lo, hi) = match self.cache.remove(&key) {
            Some(old) => {
                self.cached_samples -= old.samples;
                (old.matchers, lo.min(old.lo), hi.max(old.hi).max(horizon))
            }
            None => (
                selector_matchers(vs.name.as_deref(), &vs.matchers),
                lo,
                hi.max(horizon),
            ),
        };
        let series = self.storage.select(&matchers, lo, hi);
        let samples = series.iter().map(|(_, s)| s.len()).sum();
        self.cached_samples += samples;
        self.cache.insert(
            key,
            Cached {
                matchers,
                lo,
                hi,
                series,
                samples,
            },
        );
        self.check()?;
        Ok(key)
    }

    /// An instant vector selector at `t`: each series' latest sample in the lookback window,
    /// unless it is a staleness marker. Also returns the sample's own timestamp.
    pub(crate) fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        t: i64,
    ) -> Result<Vec<(Labels, f64, i64)>, EvalError> {
        let e = self.at_time(vs.at.as_ref(), vs.offset.as_ref(), t);
        let from = e.saturating_sub(LOOKBACK_MS);
        let key = self.ensure(vs, from, e)?;
        let mut out = Vec::new();
        if let Some(cached) = self.cache.get(&key) {
            for (labels, samples) in &cached.series {
                let idx = samples.partition_point(|s| s.t <= e);
                let Some(s) = idx.checked_sub(1).map(|i| samples[i]) else {
                    continue;
                };
                if s.t > from && !is_stale(s.v) {
                    out.push((labels.clone(), s.v, s.t));
                }
            }
        }
        self.count(out.len())?;
        Ok(out)
    }

    /// A range vector selector at `t`: samples in `(e - range, e]`, stale markers dropped.
    fn matrix_selector(&mut self, m: &MatrixSelector, t: i64) -> Result<RangeVector, EvalError> {
        let vs = &m.vs;
        let range = ms(&m.range);
        let e = self.at_time(vs.at.as_ref(), vs.offset.as_ref(), t);
        let from = e.saturating_sub(range);
        let key = self.ensure(vs, from, e)?;
        let mut series = Vec::new();
        let mut total = 0;
        if let Some(cached) = self.cache.get(&key) {
            for (labels, samples) in &cached.series {
                let a = samples.partition_point(|s| s.t <= from);
                let b = samples.partition_point(|s| s.t <= e);
                let points: Vec<Sample> = samples[a..b.max(a)]
                    .iter()
                    .filter(|s| !is_stale(s.v))
                    .copied()
                    .collect();
                if !points.is_empty() {
                    total += points.len();
                    series.push((labels.clone(), points));
                }
            }
        }
        self.count(total)?;
        Ok(RangeVector {
            series,
            end: e,
            range,
        })
    }

    /// A subquery at `t`: the inner expression at every multiple of the step in
    /// `(e - range, e]`.
    fn subquery(&mut self, sq: &SubqueryExpr, t: i64) -> Result<RangeVector, EvalError> {
        let e = self.at_time(sq.at.as_ref(), sq.offset.as_ref(), t);
        let range = ms(&sq.range);
        let step = sq.step.as_ref().map_or(self.limits.subquery_step_ms, ms);
        if step <= 0 {
            return Err(EvalError::Eval("subquery step must be positive".into()));
        }
        let from = e.saturating_sub(range);
        let mut ti = from
            .div_euclid(step)
            .saturating_mul(step)
            .saturating_add(step);
        let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        while ti <= e {
            let vector = match self.eval(&sq.expr, ti)? {
                Val::Vector(v) => v,
                Val::Scalar(v) => vec![(Labels::default(), v)],
                other => {
                    return Err(EvalError::Eval(format!(
                        "subquery is only allowed on instant vector, got {}",
                        other.type_name()
                    )));
                }
            };
            // The points were counted by the inner selectors and stay counted until the
            // enclosing top-level step is done.
            for (labels, v) in vector {
                let i = *index.entry(labels.clone()).or_insert_with(|| {
                    series.push((labels, Vec::new()));
                    series.len() - 1
                });
                series[i].1.push(Sample { t: ti, v });
            }
            self.check()?;
            ti = match ti.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        Ok(RangeVector {
            series,
            end: e,
            range,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::promql::{Limits, Value, instant, parse};
    use crate::store::{Labels, STALE_NAN, Sample, SeriesSet};

    fn set(series: &[(&str, &[(i64, f64)])]) -> SeriesSet {
        let mut set = SeriesSet::new();
        for (name, samples) in series {
            let l = Labels::from_pairs(name, []);
            for (t, v) in *samples {
                set.append(&l, Sample { t: *t, v: *v }).unwrap();
            }
        }
        set
    }

    fn at(set: &SeriesSet, q: &str, t: i64) -> Value {
        instant(set, &parse(q).unwrap(), t, &Limits::default()).unwrap()
    }

    fn values(v: Value) -> Vec<f64> {
        match v {
            Value::Vector(v) => v.into_iter().map(|(_, x)| x).collect(),
            Value::Scalar(x) => vec![x],
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn staleness_marker_ends_series_and_lookback_is_five_minutes() {
        let stale = f64::from_bits(STALE_NAN);
        let s = set(&[(
            "m",
            &[(0, 0.0), (10_000, 1.0), (20_000, stale), (30_000, 2.0)],
        )]);
        assert_eq!(values(at(&s, "m", 10_000)), [1.0]);
        assert!(
            values(at(&s, "m", 20_000)).is_empty(),
            "stale marker hides the series"
        );
        assert_eq!(values(at(&s, "m", 329_000)), [2.0]);
        assert!(
            values(at(&s, "m", 330_000)).is_empty(),
            "lookback window is left-open"
        );
        // Range selectors skip stale markers and are left-open too.
        assert_eq!(values(at(&s, "count_over_time(m[1m])", 30_000)), [3.0]);
        assert_eq!(values(at(&s, "count_over_time(m[20s])", 20_000)), [1.0]);
    }

    #[test]
    fn at_modifier_and_offset_compose() {
        let points: Vec<(i64, f64)> = (0..=100).map(|i| (i * 10_000, i as f64)).collect();
        let s = set(&[("m", &points)]);
        assert_eq!(values(at(&s, "m @ 100", 10_000)), [10.0]);
        assert_eq!(values(at(&s, "m @ 100 offset 50s", 10_000)), [5.0]);
        assert_eq!(values(at(&s, "m offset -50s @ 0", 10_000)), [5.0]);
        assert_eq!(values(at(&s, "m @ end() offset 10s", 500_000)), [49.0]);
        assert_eq!(
            values(at(&s, "sum_over_time(m[100s] @ 100)", 25_000)),
            [55.0]
        );
        assert_eq!(values(at(&s, "timestamp(m @ 19)", 0)), [10.0]);
    }

    #[test]
    fn subquery_steps_are_aligned_to_multiples_of_the_step() {
        let points: Vec<(i64, f64)> = (0..=100).map(|i| (i * 10_000, i as f64)).collect();
        let s = set(&[("m", &points)]);
        // (970, 1000] at 10s steps: 980 990 1000.
        assert_eq!(
            values(at(&s, "sum_over_time(m[30s:10s])", 1_000_000)),
            [297.0]
        );
        // Offset 3s: window (967, 997], steps 970 980 990 → values 97 98 99.
        assert_eq!(
            values(at(&s, "sum_over_time(m[30s:10s] offset 3s)", 1_000_000)),
            [294.0]
        );
        // A step larger than the range can select nothing.
        assert!(values(at(&s, "min_over_time(m[1m:5m])", 720_000)).is_empty());
    }

    #[test]
    fn duplicate_label_sets_after_dropping_the_name_fail() {
        let s = set(&[("a", &[(0, 1.0)]), ("b", &[(0, 2.0)])]);
        let err = instant(
            &s,
            &parse("-{__name__=~\"a|b\"}").unwrap(),
            0,
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "vector cannot contain metrics with the same labelset"
        );
        assert_eq!(values(at(&s, "sum({__name__=~\"a|b\"})", 0)), [3.0]);
    }

    #[test]
    fn range_query_reads_each_selector_once() {
        use crate::promql::{Storage, range};
        use promql_parser::label::Matchers;
        use std::cell::Cell;

        struct Counting(SeriesSet, Cell<usize>);
        impl Storage for Counting {
            fn select(&self, m: &Matchers, start: i64, end: i64) -> Vec<(Labels, Vec<Sample>)> {
                self.1.set(self.1.get() + 1);
                self.0.select(m, start, end)
            }
        }
        let points: Vec<(i64, f64)> = (0..=720).map(|i| (i * 15_000, i as f64)).collect();
        let s = Counting(set(&[("m", &points)]), Cell::new(0));
        let expr = parse("rate(m[5m]) + max_over_time(m[1m:15s]) - m offset 1m").unwrap();
        let v = range(&s, &expr, 600_000, 10_800_000, 60_000, &Limits::default()).unwrap();
        let Value::Matrix(m) = v else { panic!() };
        assert_eq!(m[0].1.len(), 171);
        // One read per selector node (`m[5m]`, `m` in the subquery, `m offset 1m`).
        assert_eq!(s.1.get(), 3);
    }
}
