//! `histogram_quantile` over classic histograms: series with an `le` label, grouped by
//! their other labels (`__name__` included, dropped from the result), as Prometheus's
//! `BucketQuantile`: buckets sorted and coalesced, counts forced monotonic (with an info),
//! differences below 1e-12 relative ignored, linear interpolation inside the bucket.

use super::Annotations;
use super::eval::Vector;
use super::labels::drop_name;
use super::over_time::quantile_warning;
use crate::store::Labels;
use std::collections::HashMap;

/// Smallest positive normal f64, as Go's `minNormal` in the comparison helper.
const MIN_NORMAL: f64 = f64::MIN_POSITIVE;

/// Prometheus's `almost.Equal`: NaNs are equal, otherwise relative difference below `eps`.
pub(crate) fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// `histogram_quantile(q, buckets)` for every group of classic buckets in `input`.
pub(crate) fn histogram_quantile(q: f64, input: Vector, annotations: &mut Annotations) -> Vector {
    if let Some(w) = quantile_warning(q) {
        annotations.warn(w);
    }
    let mut groups: Vec<(Labels, String, Vec<Bucket>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (labels, count) in input {
        let le = labels.get("le").unwrap_or("");
        let Some(upper) = parse_go_float(le) else {
            annotations.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {} for metric name {}",
                super::labels::go_quote(le),
                super::labels::go_quote(labels.name())
            ));
            continue;
        };
        let key = labels.with("le", "");
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((drop_name(&key), key.name().to_string(), Vec::new()));
            groups.len() - 1
        });
        groups[i].2.push(Bucket { upper, count });
    }
    let mut out = Vec::with_capacity(groups.len());
    for (labels, name, buckets) in groups {
        let (v, forced) = bucket_quantile(q, buckets);
        if forced {
            annotations.info(format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {}",
                super::labels::go_quote(&name)
            ));
        }
        out.push((labels, v));
    }
    out
}

/// Go's `strconv.ParseFloat` for bucket bounds (`+Inf`, `1e3`, …).
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        _ if s.is_empty() => None,
        _ => s.parse().ok(),
    }
}

/// The quantile and whether the counts had to be made monotonic.
fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if !buckets.last().is_some_and(|b| b.upper == f64::INFINITY) {
        return (f64::NAN, false);
    }
    let mut buckets = coalesce(buckets);
    let forced = ensure_monotonic(&mut buckets, 1e-12);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|x| x.count < rank);
    if b == buckets.len() - 1 {
        return (buckets[buckets.len() - 2].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Merge buckets with the same upper bound (summing counts).
fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(b),
        }
    }
    out
}

/// Replace decreases (and insignificant differences) by the previous count.
fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> bool {
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, tolerance) {
            b.count = prev;
            continue;
        }
        if cur < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    forced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(buckets: &[(&str, f64)]) -> Vector {
        buckets
            .iter()
            .map(|(le, c)| {
                (
                    Labels::from_pairs("req_bucket", [("le", *le), ("job", "a")]),
                    *c,
                )
            })
            .collect()
    }

    #[test]
    fn interpolates_inside_the_bucket() {
        let mut a = Annotations::default();
        let out = histogram_quantile(
            0.5,
            hist(&[("0.1", 50.0), ("0.2", 100.0), ("+Inf", 100.0)]),
            &mut a,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0.to_string(), r#"{job="a"}"#);
        assert!((out[0].1 - 0.1).abs() < 1e-12);
        let out = histogram_quantile(
            0.75,
            hist(&[("0.1", 50.0), ("0.2", 100.0), ("+Inf", 100.0)]),
            &mut a,
        );
        assert!((out[0].1 - 0.15).abs() < 1e-12);
        assert!(a.warnings.is_empty() && a.infos.is_empty());
    }

    #[test]
    fn highest_finite_bucket_and_missing_inf() {
        let mut a = Annotations::default();
        let out = histogram_quantile(
            0.99,
            hist(&[("1", 1.0), ("2", 2.0), ("+Inf", 10.0)]),
            &mut a,
        );
        assert_eq!(out[0].1, 2.0);
        let out = histogram_quantile(0.5, hist(&[("1", 1.0), ("2", 2.0)]), &mut a);
        assert!(out[0].1.is_nan());
        let out = histogram_quantile(0.5, hist(&[("+Inf", 0.0), ("1", 0.0)]), &mut a);
        assert!(out[0].1.is_nan(), "no observations");
    }

    #[test]
    fn non_monotonic_buckets_are_fixed_with_an_info() {
        let mut a = Annotations::default();
        let out = histogram_quantile(
            0.5,
            hist(&[("1", 10.0), ("2", 5.0), ("3", 15.0), ("+Inf", 20.0)]),
            &mut a,
        );
        // Counts become 10 10 15 20; rank 10 falls in the first bucket.
        assert!((out[0].1 - 1.0).abs() < 1e-12, "{}", out[0].1);
        assert_eq!(a.infos.len(), 1);
        assert!(a.infos[0].contains("monotonicity"));
    }

    #[test]
    fn bad_le_warns_and_out_of_range_quantile() {
        let mut a = Annotations::default();
        let out = histogram_quantile(0.5, hist(&[("x", 1.0)]), &mut a);
        assert!(out.is_empty());
        assert!(a.warnings[0].contains("bucket label \"le\""));
        let out = histogram_quantile(1.5, hist(&[("1", 1.0), ("+Inf", 1.0)]), &mut a);
        assert_eq!(out[0].1, f64::INFINITY);
        assert!(a.warnings.iter().any(|w| w.contains("got 1.5")));
    }

    #[test]
    fn classic_buckets_through_the_evaluator() {
        use crate::promql::{Limits, Value, instant, parse};
        use crate::store::{Sample, SeriesSet};
        // Prometheus's histograms.test: two histograms, one with negative buckets.
        let mut set = SeriesSet::new();
        let buckets = [
            ("0.1", "positive", 5.0),
            (".2", "positive", 7.0),
            ("1e0", "positive", 11.0),
            ("+Inf", "positive", 12.0),
            ("-.2", "negative", 1.0),
            ("-0.1", "negative", 2.0),
            ("0.3", "negative", 2.0),
            ("+Inf", "negative", 3.0),
        ];
        for (le, start, step) in buckets {
            let l = Labels::from_pairs("testhistogram_bucket", [("le", le), ("start", start)]);
            for i in 0..=10 {
                let s = Sample {
                    t: i * 300_000,
                    v: step * i as f64,
                };
                set.append(&l, s).unwrap();
            }
        }
        let q = |q: &str| -> Vec<(String, f64)> {
            let expr = parse(&format!("histogram_quantile({q}, testhistogram_bucket)")).unwrap();
            match instant(&set, &expr, 3_000_000, &Limits::default()).unwrap() {
                Value::Vector(v) => {
                    let mut v: Vec<_> = v.into_iter().map(|(l, x)| (l.to_string(), x)).collect();
                    v.sort_by(|a, b| a.0.cmp(&b.0));
                    v
                }
                other => panic!("{other:?}"),
            }
        };
        let close = |got: Vec<(String, f64)>, neg: f64, pos: f64| {
            assert_eq!(got.len(), 2);
            assert!((got[0].1 - neg).abs() < 1e-9, "{got:?}");
            assert!((got[1].1 - pos).abs() < 1e-9, "{got:?}");
        };
        assert_eq!(q("0.2")[0].0, r#"{start="negative"}"#);
        close(q("0"), -0.2, 0.0);
        close(q("0.2"), -0.2, 0.048);
        close(q("0.5"), -0.15, 0.15);
        close(q("0.8"), 0.3, 0.72);
        close(q("1"), 0.3, 1.0);
        assert!(q("-0.1").iter().all(|(_, x)| *x == f64::NEG_INFINITY));
        assert!(q("NaN").iter().all(|(_, x)| x.is_nan()));
    }
}
