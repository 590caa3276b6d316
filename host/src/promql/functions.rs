//! PromQL function calls: dispatch by name, argument evaluation, the instant-vector
//! functions (math, trigonometry, `clamp*`, `round`, date functions, `label_*`, `sort*`,
//! `absent`, `timestamp`, `vector`, `scalar`, `histogram_quantile`, …) and the plumbing of
//! range-vector functions (implemented in [`super::over_time`]).
//!
//! Results drop `__name__` except for `sort*`, `label_*`, `last_over_time` and
//! `first_over_time`, as Prometheus; every vector result is checked for duplicate label sets.

use super::EvalError;
use super::eval::{Evaluator, Val, Vector, check_unique};
use super::labels::{drop_name, valid_label_name};
use super::over_time::{
    double_exponential_smoothing, extrapolated_rate, instant_value, linear_regression, nan_first,
    quantile, quantile_warning, reduce,
};
use super::select::anchored_regex;
use crate::store::Labels;
use chrono::{Datelike, Timelike};
use promql_parser::label::{METRIC_NAME, MatchOp};
use promql_parser::parser::{Call, Expr};
use std::cmp::Ordering;
use std::collections::HashSet;

/// Functions that only make sense on native histograms, and others not supported.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("histogram_avg", "native histograms"),
    ("histogram_count", "native histograms"),
    ("histogram_fraction", "native histograms"),
    ("histogram_quantiles", "native histograms"),
    ("histogram_stddev", "native histograms"),
    ("histogram_stdvar", "native histograms"),
    ("histogram_sum", "native histograms"),
    ("info", "info() needs target_info metadata"),
    ("integral", "not a Prometheus function"),
    ("start_timestamp", "created timestamps are not stored"),
];

/// Why function `name` is not supported, if it is not.
pub(crate) fn unsupported(name: &str) -> Option<&'static str> {
    UNSUPPORTED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

fn arg<'e>(args: &'e [Box<Expr>], i: usize, name: &str) -> Result<&'e Expr, EvalError> {
    args.get(i)
        .map(|b| b.as_ref())
        .ok_or_else(|| EvalError::Eval(format!("missing argument {} of {name}()", i + 1)))
}

fn scalar(
    ev: &mut Evaluator,
    args: &[Box<Expr>],
    i: usize,
    name: &str,
    t: i64,
) -> Result<f64, EvalError> {
    ev.eval(arg(args, i, name)?, t)?.into_scalar()
}

fn string(
    ev: &mut Evaluator,
    args: &[Box<Expr>],
    i: usize,
    name: &str,
    t: i64,
) -> Result<String, EvalError> {
    ev.eval(arg(args, i, name)?, t)?.into_string()
}

fn vector(
    ev: &mut Evaluator,
    args: &[Box<Expr>],
    i: usize,
    name: &str,
    t: i64,
) -> Result<Vector, EvalError> {
    ev.eval(arg(args, i, name)?, t)?.into_vector()
}

/// Go's `math.Min`/`math.Max`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Evaluate a function call at `t`.
pub(crate) fn eval(ev: &mut Evaluator, call: &Call, t: i64) -> Result<Val, EvalError> {
    let name = call.func.name;
    let args: &[Box<Expr>] = &call.args.args;
    if let Some(why) = unsupported(name) {
        return Err(EvalError::Unsupported(format!("{name}(): {why}")));
    }
    let secs = |ms: i64| ms as f64 / 1000.0;
    let out: Vector = match name {
        "time" => return Ok(Val::Scalar(secs(t))),
        "pi" => return Ok(Val::Scalar(std::f64::consts::PI)),
        "step" => return Ok(Val::Scalar(secs(ev.step))),
        "range" => return Ok(Val::Scalar(secs(ev.end - ev.start))),
        "start" => return Ok(Val::Scalar(secs(ev.start))),
        "end" => return Ok(Val::Scalar(secs(ev.end))),
        "min_of" | "max_of" => {
            let a = scalar(ev, args, 0, name, t)?;
            let b = scalar(ev, args, 1, name, t)?;
            return Ok(Val::Scalar(if name == "min_of" {
                go_min(a, b)
            } else {
                go_max(a, b)
            }));
        }
        "scalar" => {
            let v = vector(ev, args, 0, name, t)?;
            return Ok(Val::Scalar(if v.len() == 1 { v[0].1 } else { f64::NAN }));
        }
        "vector" => vec![(Labels::default(), scalar(ev, args, 0, name, t)?)],
        "timestamp" => timestamp(ev, args, t)?,
        "absent" => {
            let e = arg(args, 0, name)?;
            if vector(ev, args, 0, name, t)?.is_empty() {
                vec![(absent_labels(e), 1.0)]
            } else {
                Vec::new()
            }
        }
        "label_replace" => label_replace(ev, args, t)?,
        "label_join" => label_join(ev, args, t)?,
        "sort" | "sort_desc" => {
            let mut v = vector(ev, args, 0, name, t)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if desc => nan_first(b.1, a.1),
                _ => nan_first(a.1, b.1),
            });
            v
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = vector(ev, args, 0, name, t)?;
            let mut names = Vec::new();
            for i in 1..args.len() {
                names.push(string(ev, args, i, name, t)?);
            }
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                let o = by_labels(&a.0, &b.0, &names);
                if desc { o.reverse() } else { o }
            });
            v
        }
        "histogram_quantile" => {
            let q = scalar(ev, args, 0, name, t)?;
            let v = vector(ev, args, 1, name, t)?;
            super::histogram::histogram_quantile(q, v, &mut ev.annotations)
        }
        "round" => {
            let v = vector(ev, args, 0, name, t)?;
            let to_nearest = if args.len() > 1 {
                scalar(ev, args, 1, name, t)?
            } else {
                1.0
            };
            let inverse = 1.0 / to_nearest;
            map(v, |x| (x * inverse + 0.5).floor() / inverse)
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let v = vector(ev, args, 0, name, t)?;
            let (min, max) = match name {
                "clamp" => (scalar(ev, args, 1, name, t)?, scalar(ev, args, 2, name, t)?),
                "clamp_min" => (scalar(ev, args, 1, name, t)?, f64::INFINITY),
                _ => (f64::NEG_INFINITY, scalar(ev, args, 1, name, t)?),
            };
            if max < min {
                Vec::new()
            } else {
                map(v, |x| go_max(min, go_min(max, x)))
            }
        }
        "year" | "month" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
        | "hour" | "minute" => {
            let f = date_function(name);
            if args.is_empty() {
                vec![(Labels::default(), f(t / 1000))]
            } else {
                let v = vector(ev, args, 0, name, t)?;
                v.into_iter()
                    .map(|(l, x)| {
                        let y = if x.is_finite() { f(x as i64) } else { f64::NAN };
                        (drop_name(&l), y)
                    })
                    .collect()
            }
        }
        _ => match simple(name) {
            Some(f) => map(vector(ev, args, 0, name, t)?, f),
            None => over_time(ev, name, args, t)?,
        },
    };
    check_unique(&out)?;
    Ok(Val::Vector(out))
}

/// Apply `f` to every value, dropping the metric name.
fn map(v: Vector, f: impl Fn(f64) -> f64) -> Vector {
    v.into_iter().map(|(l, x)| (drop_name(&l), f(x))).collect()
}

/// The element-wise functions.
fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => f64::to_radians,
        "deg" => f64::to_degrees,
        "sgn" => |x| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        },
        _ => return None,
    })
}

/// The date functions, on seconds since the epoch (UTC).
fn date_function(name: &str) -> fn(i64) -> f64 {
    fn at(secs: i64) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp(secs, 0)
    }
    fn days_in_month(secs: i64) -> Option<f64> {
        let d = at(secs)?;
        let (y, m) = if d.month() == 12 {
            (d.year() + 1, 1)
        } else {
            (d.year(), d.month() + 1)
        };
        let first_next = chrono::NaiveDate::from_ymd_opt(y, m, 1)?;
        Some(f64::from(first_next.pred_opt()?.day()))
    }
    match name {
        "year" => |s| at(s).map_or(f64::NAN, |d| f64::from(d.year())),
        "month" => |s| at(s).map_or(f64::NAN, |d| f64::from(d.month())),
        "day_of_month" => |s| at(s).map_or(f64::NAN, |d| f64::from(d.day())),
        "day_of_week" => {
            |s| at(s).map_or(f64::NAN, |d| f64::from(d.weekday().num_days_from_sunday()))
        }
        "day_of_year" => |s| at(s).map_or(f64::NAN, |d| f64::from(d.ordinal())),
        "days_in_month" => |s| days_in_month(s).unwrap_or(f64::NAN),
        "hour" => |s| at(s).map_or(f64::NAN, |d| f64::from(d.hour())),
        _ => |s| at(s).map_or(f64::NAN, |d| f64::from(d.minute())),
    }
}

/// `timestamp(v)`: the sample's own time when `v` is a selector, else the evaluation time.
fn timestamp(ev: &mut Evaluator, args: &[Box<Expr>], t: i64) -> Result<Vector, EvalError> {
    let mut e = arg(args, 0, "timestamp")?;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    if let Expr::VectorSelector(vs) = e {
        let v = ev.vector_selector(vs, t)?;
        return Ok(v
            .into_iter()
            .map(|(l, _, ts)| (drop_name(&l), ts as f64 / 1000.0))
            .collect());
    }
    let v = ev.eval(e, t)?.into_vector()?;
    Ok(v.into_iter()
        .map(|(l, _)| (drop_name(&l), t as f64 / 1000.0))
        .collect())
}

/// Labels `absent(…)` can infer from a selector's equality matchers (a label matched twice
/// or by a non-equality matcher is left out, as Prometheus).
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(m) => &m.vs,
        _ => return Labels::default(),
    };
    if !vs.matchers.or_matchers.is_empty() {
        return Labels::default();
    }
    let mut has = HashSet::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !has.contains(&m.name) {
            pairs.push((m.name.clone(), m.value.clone()));
            has.insert(m.name.clone());
        } else {
            pairs.retain(|(k, _)| *k != m.name);
        }
    }
    Labels::from_vec(pairs)
}

fn label_replace(ev: &mut Evaluator, args: &[Box<Expr>], t: i64) -> Result<Vector, EvalError> {
    let name = "label_replace";
    let dst = string(ev, args, 1, name, t)?;
    let repl = string(ev, args, 2, name, t)?;
    let src = string(ev, args, 3, name, t)?;
    let pattern = string(ev, args, 4, name, t)?;
    let re = anchored_regex(&pattern).map_err(|_| {
        EvalError::Eval(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(EvalError::Eval(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let v = vector(ev, args, 0, name, t)?;
    Ok(v.into_iter()
        .map(|(l, x)| {
            let value = l.get(&src).unwrap_or("");
            match re.captures(value) {
                Some(caps) => {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    (l.with(&dst, &res), x)
                }
                None => (l, x),
            }
        })
        .collect())
}

fn label_join(ev: &mut Evaluator, args: &[Box<Expr>], t: i64) -> Result<Vector, EvalError> {
    let name = "label_join";
    let dst = string(ev, args, 1, name, t)?;
    let sep = string(ev, args, 2, name, t)?;
    let mut srcs = Vec::new();
    for i in 3..args.len() {
        let src = string(ev, args, i, name, t)?;
        if !valid_label_name(&src) {
            return Err(EvalError::Eval(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
        srcs.push(src);
    }
    if !valid_label_name(&dst) {
        return Err(EvalError::Eval(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let v = vector(ev, args, 0, name, t)?;
    Ok(v.into_iter()
        .map(|(l, x)| {
            let joined: Vec<&str> = srcs.iter().map(|s| l.get(s).unwrap_or("")).collect();
            let joined = joined.join(&sep);
            (l.with(&dst, &joined), x)
        })
        .collect())
}

/// `sort_by_label` order: the named labels in natural order, then the whole label set.
fn by_labels(a: &Labels, b: &Labels, names: &[String]) -> Ordering {
    for n in names {
        let (x, y) = (a.get(n).unwrap_or(""), b.get(n).unwrap_or(""));
        if x == y {
            continue;
        }
        return if natural_less(x, y) {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    a.cmp(b)
}

/// Runs of ASCII digits and of everything else.
fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut digit: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        if digit.is_some_and(|prev| prev != d) {
            out.push(&s[start..i]);
            start = i;
        }
        digit = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// The natural-order comparison Prometheus uses (facette/natsort): digit runs compare as
/// integers, other runs as strings.
fn natural_less(a: &str, b: &str) -> bool {
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else {
            return false;
        };
        let equal = match (x.parse::<i64>(), y.parse::<i64>()) {
            (Ok(p), Ok(q)) if p != q => return p < q,
            (Ok(_), Ok(_)) => true,
            _ if x == y => true,
            _ => return x < y,
        };
        if equal {
            if i == ca.len() - 1 {
                return true;
            }
            if i == cb.len() - 1 {
                return false;
            }
        }
    }
    false
}

/// Functions whose (main) argument is a range vector.
const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "predict_linear",
    "double_exponential_smoothing",
    "quantile_over_time",
    "absent_over_time",
    "present_over_time",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "last_over_time",
    "first_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "mad_over_time",
    "changes",
    "resets",
];

/// Functions over range vectors.
fn over_time(
    ev: &mut Evaluator,
    name: &str,
    args: &[Box<Expr>],
    t: i64,
) -> Result<Vector, EvalError> {
    if !RANGE_FUNCTIONS.contains(&name) {
        return Err(EvalError::Unsupported(format!("function {name}()")));
    }
    let (matrix_index, params): (usize, &[usize]) = match name {
        "quantile_over_time" => (1, &[0]),
        "predict_linear" => (0, &[1]),
        "double_exponential_smoothing" => (0, &[1, 2]),
        _ => (0, &[]),
    };
    let mut p = Vec::new();
    for &i in params {
        p.push(scalar(ev, args, i, name, t)?);
    }
    let matrix_expr = arg(args, matrix_index, name)?;
    let rv = ev.eval(matrix_expr, t)?.into_matrix()?;
    if name == "absent_over_time" {
        return Ok(if rv.series.is_empty() {
            vec![(absent_labels(matrix_expr), 1.0)]
        } else {
            Vec::new()
        });
    }
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    if name == "quantile_over_time"
        && !rv.series.is_empty()
        && let Some(w) = quantile_warning(p[0])
    {
        ev.annotations.warn(w);
    }
    let mut out = Vec::with_capacity(rv.series.len());
    for (labels, s) in &rv.series {
        let value = match name {
            "rate" => extrapolated_rate(s, rv.end, rv.range, true, true),
            "increase" => extrapolated_rate(s, rv.end, rv.range, true, false),
            "delta" => extrapolated_rate(s, rv.end, rv.range, false, false),
            "irate" => instant_value(s, true),
            "idelta" => instant_value(s, false),
            "deriv" => (s.len() >= 2).then(|| linear_regression(s, s[0].t).0),
            "predict_linear" => (s.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(s, t);
                slope * p[0] + intercept
            }),
            "double_exponential_smoothing" => double_exponential_smoothing(s, p[0], p[1])?,
            "quantile_over_time" => {
                let mut values: Vec<f64> = s.iter().map(|x| x.v).collect();
                Some(quantile(p[0], &mut values))
            }
            _ => reduce(name, s),
        };
        let Some(value) = value else {
            continue;
        };
        if matches!(name, "rate" | "increase") {
            let metric = labels.name();
            if !metric.is_empty()
                && !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|x| metric.ends_with(x))
            {
                ev.annotations.info(format!(
                    "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                    super::labels::go_quote(metric)
                ));
            }
        }
        let labels = if keeps_name {
            labels.clone()
        } else {
            drop_name(labels)
        };
        out.push((labels, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["10", "2", "1", "100", "21", "3"];
        v.sort_by(|a, b| {
            if natural_less(a, b) {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        });
        assert_eq!(v, ["1", "2", "3", "10", "21", "100"]);
        assert!(natural_less("4m5", "4m600") && natural_less("4m600", "4m1000"));
        assert!(natural_less("1.2.3", "1.11.3") && natural_less("1.11.3", "1.111.3"));
    }

    #[test]
    fn absent_infers_only_unambiguous_equalities() {
        let e = promql_parser::parser::parse(r#"x{job="a",job="b",foo="bar",m=~"y"}"#).unwrap();
        assert_eq!(absent_labels(&e).to_string(), r#"{foo="bar"}"#);
        let e = promql_parser::parser::parse("sum(x)").unwrap();
        assert!(absent_labels(&e).is_empty());
    }

    #[test]
    fn dates_are_utc() {
        let f = |n: &str, s: i64| date_function(n)(s);
        assert_eq!(f("year", 1136239445), 2006.0);
        assert_eq!(f("day_of_week", 0), 4.0);
        assert_eq!(f("hour", 1136239445), 22.0);
        assert_eq!(f("days_in_month", 1454284800), 29.0);
        assert_eq!(f("days_in_month", 1485907200), 28.0);
        assert_eq!(f("day_of_year", 1483191420), 366.0);
    }

    #[test]
    fn go_min_max_propagate_nan() {
        assert!(go_min(f64::NAN, 1.0).is_nan() && go_max(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(-25.0, go_min(75.0, 100.0)), 75.0);
    }
}
