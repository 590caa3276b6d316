//! Functions over range vectors (`rate`, `increase`, `delta`, `irate`, `idelta`, `deriv`,
//! `predict_linear`, `changes`, `resets`, the `*_over_time` family,
//! `double_exponential_smoothing`) and the numerics they share with aggregations: Kahan
//! (Neumaier) summation, the overflow-safe mean, `quantile` interpolation, linear regression.
//!
//! Each function sees one series' samples in its window `(end - range, end]` and returns
//! `None` when Prometheus would drop the series (too few samples).

use super::EvalError;
use crate::store::Sample;
use std::cmp::Ordering;

/// One Neumaier-compensated addition: `(sum + inc, compensation)`.
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Mean of a stream of values, as Prometheus computes `avg` and `avg_over_time`: a
/// compensated sum divided at the end, switching to an incremental mean only when the sum
/// would overflow.
#[derive(Debug, Clone)]
pub(crate) struct Mean {
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl Mean {
    pub(crate) fn new(first: f64) -> Mean {
        Mean {
            count: 1.0,
            sum: first,
            c: 0.0,
            mean: 0.0,
            incremental: false,
        }
    }

    pub(crate) fn add(&mut self, v: f64) {
        self.count += 1.0;
        if !self.incremental {
            let (sum, c) = kahan_sum_inc(v, self.sum, self.c);
            if !sum.is_infinite() {
                self.sum = sum;
                self.c = c;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        let (mean, c) = kahan_sum_inc(v / self.count, q * self.mean, q * self.c);
        self.mean = mean;
        self.c = c;
    }

    pub(crate) fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
}

/// Ascending with NaN first: the order Prometheus's `quantile` sorts by.
pub(crate) fn nan_first(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The φ-quantile of `values` with linear interpolation between closest ranks (NaN counts as
/// the smallest value); ±Inf for φ outside [0, 1], NaN for NaN or no values.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| nan_first(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Go's `%g` with the shortest representation, for messages.
pub(crate) fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let exp = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    if (-4..21).contains(&exp) {
        format!("{v}")
    } else {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    }
}

/// The warning Prometheus gives for a quantile outside [0, 1].
pub(crate) fn quantile_warning(q: f64) -> Option<String> {
    (q.is_nan() || !(0.0..=1.0).contains(&q))
        .then(|| format!("quantile value should be between 0 and 1, got {}", go_g(q)))
}

/// Least-squares fit of `v` over `(t - intercept_t)` seconds: `(slope, intercept)`.
pub(crate) fn linear_regression(samples: &[Sample], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].v;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `rate`, `increase`, `delta`: the change over the window, extrapolated to its edges as
/// Prometheus does (at most half an average sample interval past the first/last sample, and
/// for counters never below zero), per second for `rate`.
pub(crate) fn extrapolated_rate(
    s: &[Sample],
    end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let range_start = end - range;
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for p in &s[1..] {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_between = sampled / (s.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples.
pub(crate) fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (prev, last) = (s[s.len() - 2], s[s.len() - 1]);
    let mut v = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// `stdvar_over_time` (or its square root): Welford with compensated sums.
pub(crate) fn variance(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in s {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `double_exponential_smoothing(v, sf, tf)` (formerly `holt_winters`).
pub(crate) fn double_exponential_smoothing(
    s: &[Sample],
    sf: f64,
    tf: f64,
) -> Result<Option<f64>, EvalError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(EvalError::Eval(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(EvalError::Eval(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if s.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, s[0].v);
    let mut b = s[1].v - s[0].v;
    for (i, p) in s.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

/// The simple `*_over_time` reductions and the counting functions, by name.
pub(crate) fn reduce(name: &str, s: &[Sample]) -> Option<f64> {
    let first = s.first()?;
    Some(match name {
        "avg_over_time" => {
            let mut m = Mean::new(first.v);
            s[1..].iter().for_each(|p| m.add(p.v));
            m.value()
        }
        "sum_over_time" => {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in s {
                (sum, c) = kahan_sum_inc(p.v, sum, c);
            }
            if sum.is_infinite() { sum } else { sum + c }
        }
        "count_over_time" => s.len() as f64,
        "present_over_time" => 1.0,
        "min_over_time" => extreme(s, |cur, best| cur < best).v,
        "max_over_time" => extreme(s, |cur, best| cur > best).v,
        "ts_of_min_over_time" => extreme(s, |cur, best| cur <= best).t as f64 / 1000.0,
        "ts_of_max_over_time" => extreme(s, |cur, best| cur >= best).t as f64 / 1000.0,
        "last_over_time" => s[s.len() - 1].v,
        "first_over_time" => first.v,
        "ts_of_last_over_time" => s[s.len() - 1].t as f64 / 1000.0,
        "ts_of_first_over_time" => first.t as f64 / 1000.0,
        "stdvar_over_time" => variance(s),
        "stddev_over_time" => variance(s).sqrt(),
        "mad_over_time" => {
            if s.iter().any(|p| p.v.is_nan()) {
                return Some(f64::NAN);
            }
            let mut values: Vec<f64> = s.iter().map(|p| p.v).collect();
            let median = quantile(0.5, &mut values);
            let mut dev: Vec<f64> = s.iter().map(|p| (p.v - median).abs()).collect();
            quantile(0.5, &mut dev)
        }
        "changes" => {
            let mut n = 0;
            for w in s.windows(2) {
                let (prev, cur) = (w[0].v, w[1].v);
                if cur != prev && !(cur.is_nan() && prev.is_nan()) {
                    n += 1;
                }
            }
            f64::from(n)
        }
        "resets" => s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64,
        _ => return None,
    })
}

/// The sample `better(candidate, best)` prefers; NaN is replaced by any later value.
fn extreme(s: &[Sample], better: impl Fn(f64, f64) -> bool) -> Sample {
    let mut best = s[0];
    for p in s {
        if better(p.v, best.v) || best.v.is_nan() {
            best = *p;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(step_s: i64, values: &[f64]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                t: i as i64 * step_s * 1000,
                v: *v,
            })
            .collect()
    }

    #[test]
    fn rate_extrapolates_to_window_edges_but_not_below_zero() {
        // 0+10x10 every 5m, rate over [50m] at 50m: samples 5m..50m, extrapolated by 2.5m
        // on the left only as far as the zero point.
        let s: Vec<Sample> = (1..=10)
            .map(|i| Sample {
                t: i * 300_000,
                v: (i * 10) as f64,
            })
            .collect();
        let inc = extrapolated_rate(&s, 3_000_000, 3_000_000, true, false).unwrap();
        assert!((inc - 100.0).abs() < 1e-9, "{inc}");
        // Counter reset in the middle: 0 27 54 81 108 0 27 … is 27 per 5m throughout.
        let vals: Vec<f64> = [
            0.0, 27.0, 54.0, 81.0, 108.0, 0.0, 27.0, 54.0, 81.0, 108.0, 135.0,
        ]
        .to_vec();
        let s = samples(300, &vals);
        let r = extrapolated_rate(&s[1..], 3_000_000, 3_000_000, true, true).unwrap();
        assert!((r - 0.08).abs() < 1e-12, "{r}");
        assert_eq!(extrapolated_rate(&s[..1], 0, 60_000, true, true), None);
    }

    #[test]
    fn irate_handles_counter_reset() {
        let s = samples(10, &[5.0, 10.0, 2.0]);
        assert_eq!(instant_value(&s, true), Some(0.2));
        assert_eq!(instant_value(&s, false), Some(-8.0));
    }

    #[test]
    fn quantile_interpolates_and_sorts_nan_first() {
        assert!((quantile(0.8, &mut [0.0, 1.0, 4.0]) - 2.8).abs() < 1e-12);
        assert!((quantile(0.8, &mut [1.0, f64::NAN, 0.0]) - 0.6).abs() < 1e-12);
        assert!(quantile(0.2, &mut [1.0, f64::NAN, 0.0]).is_nan());
        assert_eq!(quantile(-1.0, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
    }

    #[test]
    fn mean_survives_overflow_and_kahan_keeps_small_terms() {
        // The value of Prometheus's own test (written as text: clippy finds it too precise).
        let big: f64 = "9.988465674311579e307".parse().unwrap();
        let mut m = Mean::new(big);
        (0..3).for_each(|_| m.add(big));
        assert!((m.value() - big).abs() / big < 1e-12);
        let mut m = Mean::new(-big);
        [-big, big, big].iter().for_each(|v| m.add(*v));
        assert_eq!(m.value(), 0.0);
        let s = samples(10, &[1.0, 1e100, 1.0, -1e100]);
        assert_eq!(reduce("sum_over_time", &s), Some(2.0));
    }

    #[test]
    fn deriv_and_predict_linear() {
        let s = samples(
            300,
            &[
                0.0, 10.0, 20.0, 30.0, 40.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0,
            ],
        );
        let (slope, _) = linear_regression(&s, s[0].t);
        assert!((slope - 0.010606060606060607).abs() < 1e-12, "{slope}");
        let flat = samples(10, &[f64::INFINITY, f64::INFINITY]);
        assert!(linear_regression(&flat, 0).0.is_nan());
    }

    #[test]
    fn go_g_formats_like_go() {
        assert_eq!(go_g(1.1), "1.1");
        assert_eq!(go_g(f64::NAN), "NaN");
        assert_eq!(go_g(-1.0), "-1");
        assert_eq!(go_g(1e21), "1e+21");
        assert_eq!(go_g(1e-5), "1e-05");
    }
}
