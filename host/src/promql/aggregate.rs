//! Aggregation operators: `sum avg min max count group stddev stdvar quantile count_values`
//! (one value per group) and `topk bottomk limitk limit_ratio` (a subset of the input
//! series, labels kept), with `by` / `without` grouping.
//!
//! Groups are emitted in order of first appearance. `topk`/`bottomk` order each group's
//! series by value (NaN last), `limitk` keeps a group's first `k` series in input order
//! (selectors return series sorted by labels, so this is deterministic) and `limit_ratio`
//! keeps a series when its label hash falls in the ratio's slice of the hash space, exactly
//! as Prometheus (so `limit_ratio(r, x)` and `limit_ratio(-(1 - r), x)` are complements).

use super::EvalError;
use super::eval::{Evaluator, Val, Vector};
use super::labels::{hash, keep, valid_label_name, without};
use super::over_time::{Mean, go_g, kahan_sum_inc, nan_first, quantile, quantile_warning};
use crate::store::Labels;
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK, TokenId,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Evaluate an aggregation at `t`.
pub(crate) fn eval(ev: &mut Evaluator, a: &AggregateExpr, t: i64) -> Result<Val, EvalError> {
    let op = a.op.id();
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, t)?),
        None => None,
    };
    let input = ev.eval(&a.expr, t)?.into_vector()?;
    let (by, names) = match &a.modifier {
        Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
        Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
        None => (true, Vec::new()),
    };
    let group_key = |l: &Labels| {
        if by {
            keep(l, &names)
        } else {
            without(l, &names)
        }
    };
    let out = match op {
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
            let param = param.ok_or_else(|| missing(op))?.into_scalar()?;
            subset(ev, op, param, input, group_key)?
        }
        T_COUNT_VALUES => {
            let label = param.ok_or_else(|| missing(op))?.into_string()?;
            count_values(&label, input, by, &names)?
        }
        T_QUANTILE => {
            let q = param.ok_or_else(|| missing(op))?.into_scalar()?;
            if let Some(w) = quantile_warning(q) {
                ev.annotations.warn(w);
            }
            let mut groups: Vec<(Labels, Vec<f64>)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for (l, v) in input {
                let key = group_key(&l);
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(v);
            }
            groups
                .into_iter()
                .map(|(l, mut vs)| (l, quantile(q, &mut vs)))
                .collect()
        }
        _ => {
            let mut groups: Vec<(Labels, Acc)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for (l, v) in input {
                let key = group_key(&l);
                match index.get(&key) {
                    Some(&i) => groups[i].1.add(op, v),
                    None => {
                        index.insert(key.clone(), groups.len());
                        groups.push((key, Acc::new(op, v)));
                    }
                }
            }
            groups
                .into_iter()
                .map(|(l, acc)| (l, acc.value(op)))
                .collect()
        }
    };
    ev.count(out.len())?;
    Ok(Val::Vector(out))
}

fn missing(op: TokenId) -> EvalError {
    EvalError::Eval(format!("aggregation {op} needs a parameter"))
}

/// Running state of one group of a simple aggregation.
struct Acc {
    count: f64,
    value: f64,
    c: f64,
    mean: f64,
    avg: Option<Mean>,
}

impl Acc {
    fn new(op: TokenId, v: f64) -> Acc {
        let value = match op {
            T_STDDEV | T_STDVAR if v.is_nan() || v.is_infinite() => f64::NAN,
            T_STDDEV | T_STDVAR => 0.0,
            _ => v,
        };
        Acc {
            count: 1.0,
            value,
            c: 0.0,
            mean: v,
            avg: (op == T_AVG).then(|| Mean::new(v)),
        }
    }

    fn add(&mut self, op: TokenId, v: f64) {
        self.count += 1.0;
        match op {
            T_SUM => (self.value, self.c) = kahan_sum_inc(v, self.value, self.c),
            T_AVG => {
                if let Some(m) = &mut self.avg {
                    m.add(v);
                }
            }
            T_MAX if self.value < v || self.value.is_nan() => self.value = v,
            T_MIN if self.value > v || self.value.is_nan() => self.value = v,
            T_STDDEV | T_STDVAR => {
                let delta = v - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (v - self.mean);
            }
            _ => {}
        }
    }

    fn value(&self, op: TokenId) -> f64 {
        match op {
            T_SUM => self.value + self.c,
            T_AVG => self.avg.as_ref().map_or(f64::NAN, Mean::value),
            T_COUNT => self.count,
            T_GROUP => 1.0,
            T_STDVAR => self.value / self.count,
            T_STDDEV => (self.value / self.count).sqrt(),
            _ => self.value,
        }
    }
}

/// `k` as Prometheus converts it (truncated, saturating); NaN is an error.
fn k_param(v: f64) -> Result<i64, EvalError> {
    if v.is_nan() {
        return Err(EvalError::Eval("Parameter value is NaN".into()));
    }
    Ok(v as i64)
}

/// Descending for `topk`, ascending for `bottomk`; NaN always last.
fn order(top: bool, a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if top => nan_first(b, a),
        _ => nan_first(a, b),
    }
}

/// Whether `limit_ratio(ratio)` keeps a series with this label hash.
fn ratio_keeps(ratio: f64, h: u64) -> bool {
    let offset = h as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}

fn subset(
    ev: &mut Evaluator,
    op: TokenId,
    param: f64,
    input: Vector,
    group_key: impl Fn(&Labels) -> Labels,
) -> Result<Vector, EvalError> {
    let mut ratio = 0.0;
    let mut k = 0i64;
    if op == T_LIMIT_RATIO {
        if param.is_nan() {
            return Err(EvalError::Eval("Ratio value is NaN".into()));
        }
        ratio = param.clamp(-1.0, 1.0);
        if ratio != param {
            ev.annotations.warn(format!(
                "ratio value should be between -1 and 1, got {}, capping to {}",
                go_g(param),
                go_g(ratio)
            ));
        }
        if ratio == 0.0 {
            return Ok(Vec::new());
        }
    } else {
        k = k_param(param)?;
        if k < 1 {
            return Ok(Vec::new());
        }
    }
    let mut groups: Vec<Vector> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (l, v) in input {
        let key = group_key(&l);
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push((l, v));
    }
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for mut group in groups {
        match op {
            T_TOPK | T_BOTTOMK => {
                let top = op == T_TOPK;
                group.sort_by(|a, b| order(top, a.1, b.1));
                group.truncate(k);
            }
            T_LIMITK => group.truncate(k),
            _ => group.retain(|(l, _)| ratio_keeps(ratio, hash(l))),
        }
        out.extend(group);
    }
    Ok(out)
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: how Prometheus prints a sample value in
/// labels (`count_values`), templates and the HTTP API.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn count_values(
    label: &str,
    input: Vector,
    by: bool,
    names: &[String],
) -> Result<Vector, EvalError> {
    if !valid_label_name(label) {
        return Err(EvalError::Eval(format!(
            "invalid label name {}",
            super::labels::go_quote(label)
        )));
    }
    let mut groups: Vec<(Labels, f64)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (l, v) in input {
        let with_value = l.with(label, &format_value(v));
        let key = if by {
            let mut names = names.to_vec();
            names.push(label.to_string());
            keep(&with_value, &names)
        } else {
            without(&with_value, names)
        };
        match index.get(&key) {
            Some(&i) => groups[i].1 += 1.0,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, 1.0));
            }
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_and_bottomk_put_nan_last() {
        let mut v = [f64::NAN, 1.0, 3.0, 2.0];
        v.sort_by(|a, b| order(true, *a, *b));
        assert_eq!(&v[..3], &[3.0, 2.0, 1.0]);
        assert!(v[3].is_nan());
        v.sort_by(|a, b| order(false, *a, *b));
        assert_eq!(&v[..3], &[1.0, 2.0, 3.0]);
        assert!(v[3].is_nan());
    }

    #[test]
    fn limit_ratio_halves_are_complements() {
        for h in [0, 1 << 20, u64::MAX / 3, u64::MAX / 2, u64::MAX - 5] {
            assert_ne!(ratio_keeps(0.3, h), ratio_keeps(-0.7, h), "hash {h}");
        }
        assert!(ratio_keeps(1.0, u64::MAX / 4 * 3) && ratio_keeps(-1.0, 0));
    }

    #[test]
    fn stddev_of_equal_values_is_exactly_zero_and_nan_on_inf() {
        let mut acc = Acc::new(T_STDDEV, 13.3);
        acc.add(T_STDDEV, 13.3);
        acc.add(T_STDDEV, 13.3);
        assert_eq!(acc.value(T_STDDEV), 0.0);
        assert!(Acc::new(T_STDVAR, f64::INFINITY).value(T_STDVAR).is_nan());
    }

    #[test]
    fn count_values_formats_like_go() {
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert!(count_values("", vec![], true, &[]).is_err());
    }
}
