//! Server-rendered SVG charts for the status page: a sparkline per probe (latency line and
//! one outcome cell per run) and a larger latency chart over time on a probe's page.
//!
//! Pure: points in, SVG text out. They need no JavaScript (tooltips are SVG `<title>`s)
//! and take their colours from the page's CSS classes, so they follow the light/dark theme.

use super::text::{Esc, compact};
use crate::record::Outcome;
use crate::units::format_duration;
use std::fmt::{self, Write};
use std::time::Duration;

/// One run on a chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When it ended (ms since the epoch).
    pub t: i64,
    /// How long it took.
    pub seconds: f64,
    /// How it went.
    pub outcome: Outcome,
}

/// CSS class of an outcome's colour.
pub fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "o-success",
        Outcome::Degraded => "o-degraded",
        Outcome::Failure => "o-failure",
    }
}

/// Counts and latency figures of a run of points.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    /// Runs.
    pub runs: usize,
    /// Successful runs.
    pub success: usize,
    /// Degraded runs.
    pub degraded: usize,
    /// Failed runs.
    pub failure: usize,
    /// Median duration (seconds).
    pub p50: f64,
    /// 95th percentile duration (seconds, nearest rank).
    pub p95: f64,
    /// Longest duration (seconds).
    pub max: f64,
}

impl Stats {
    /// Figures of `points`.
    pub fn of(points: &[Point]) -> Stats {
        let mut s = Stats {
            runs: points.len(),
            ..Stats::default()
        };
        for p in points {
            match p.outcome {
                Outcome::Success => s.success += 1,
                Outcome::Degraded => s.degraded += 1,
                Outcome::Failure => s.failure += 1,
            }
        }
        let mut d: Vec<f64> = points
            .iter()
            .map(|p| p.seconds)
            .filter(|v| v.is_finite())
            .collect();
        if !d.is_empty() {
            d.sort_by(f64::total_cmp);
            let rank = |q: f64| d[((q * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1];
            s.p50 = rank(0.5);
            s.p95 = rank(0.95);
            s.max = d[d.len() - 1];
        }
        s
    }

    /// Share of runs that worked (success or degraded), when there were runs.
    pub fn ok_ratio(&self) -> Option<f64> {
        (self.runs > 0).then(|| (self.success + self.degraded) as f64 / self.runs as f64)
    }
}

fn secs(v: f64) -> String {
    format_duration(Duration::from_secs_f64(v.max(0.0)))
}

/// An axis label: as [`secs`] without a trailing `.0` (`15ms`, not `15.0ms`).
fn axis_secs(v: f64) -> String {
    secs(v).replacen(".0ms", "ms", 1).replacen(".00s", "s", 1)
}

/// A 160×34 sparkline of the given runs (oldest first): latency as a line over a light
/// area, and under it one cell per run coloured by outcome.
pub fn sparkline(points: &[Point]) -> String {
    let mut out = String::new();
    sparkline_into(&mut out, points).expect("writing to a String cannot fail");
    out
}

fn sparkline_into(out: &mut String, points: &[Point]) -> fmt::Result {
    const W: f64 = 160.0;
    const H: f64 = 34.0;
    const STRIP: f64 = 6.0;
    const TOP: f64 = 2.0;
    let plot_bottom = H - STRIP - 3.0;
    let n = points.len();
    let st = Stats::of(points);
    let label = format!(
        "Last {n} runs: {} ok, {} degraded, {} failed; median {}, max {}",
        st.success,
        st.degraded,
        st.failure,
        secs(st.p50),
        secs(st.max)
    );
    write!(
        out,
        r#"<svg class="spark" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}"><title>{}</title>"#,
        Esc(&label),
        Esc(&label)
    )?;
    if n == 0 {
        return out.write_str("</svg>");
    }
    let max = st.max.max(1e-6);
    let x = |i: usize| {
        if n == 1 {
            W / 2.0
        } else {
            i as f64 * W / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + (plot_bottom - TOP) * (1.0 - (v / max).clamp(0.0, 1.0));
    let mut line = String::new();
    for (i, p) in points.iter().enumerate() {
        write!(
            line,
            "{}{:.1} {:.1}",
            if i == 0 { "M" } else { " L" },
            x(i),
            y(p.seconds)
        )?;
    }
    if n > 1 {
        write!(
            out,
            r#"<path class="area" d="{line} L{:.1} {plot_bottom:.1} L0 {plot_bottom:.1} Z"/>"#,
            x(n - 1)
        )?;
        write!(out, r#"<path class="lat" d="{line}"/>"#)?;
    }
    let last = points[n - 1];
    write!(
        out,
        r#"<circle class="{}" cx="{:.1}" cy="{:.1}" r="2.5"/>"#,
        outcome_class(last.outcome),
        x(n - 1).clamp(2.5, W - 2.5),
        y(last.seconds)
    )?;
    let cell = W / n as f64;
    let gap = if cell > 3.0 { 1.0 } else { 0.0 };
    for (i, p) in points.iter().enumerate() {
        write!(
            out,
            r#"<rect class="{}" x="{:.2}" y="{:.1}" width="{:.2}" height="{STRIP}" rx="1"/>"#,
            outcome_class(p.outcome),
            i as f64 * cell,
            H - STRIP,
            (cell - gap).max(0.5)
        )?;
    }
    out.write_str("</svg>")
}

/// A bucket of runs for the large chart: the slowest duration and the worst outcome, so a
/// spike or a failure is never averaged away.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    t0: i64,
    t1: i64,
    max: f64,
    worst: Outcome,
    runs: usize,
}

fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o| match o {
        Outcome::Success => 0,
        Outcome::Degraded => 1,
        Outcome::Failure => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Group time-ordered points into at most `max_buckets` consecutive buckets.
fn bucket(points: &[Point], max_buckets: usize) -> Vec<Bucket> {
    let per = points.len().div_ceil(max_buckets.max(1)).max(1);
    points
        .chunks(per)
        .map(|c| Bucket {
            t0: c[0].t,
            t1: c[c.len() - 1].t,
            max: c.iter().map(|p| p.seconds).fold(0.0, f64::max),
            worst: c.iter().map(|p| p.outcome).fold(Outcome::Success, worse),
            runs: c.len(),
        })
        .collect()
}

/// Round steps (1, 2, 5 × 10ⁿ) giving about four gridlines up to `max`.
fn nice_ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    let n = (top / step).round() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// The latency chart of a probe page: duration of each run over time (time-ordered
/// points, ending at `now_ms`), failures and degraded runs marked, and an outcome strip.
pub fn latency_chart(points: &[Point], now_ms: i64) -> String {
    let mut out = String::new();
    latency_chart_into(&mut out, points, now_ms).expect("writing to a String cannot fail");
    out
}

fn latency_chart_into(out: &mut String, points: &[Point], now_ms: i64) -> fmt::Result {
    const W: f64 = 1000.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 12.0;
    const STRIP: f64 = 10.0;
    let plot_bottom = H - 44.0;
    let plot_w = W - LEFT - RIGHT;
    let st = Stats::of(points);
    let label = format!(
        "Latency of the last {} runs: median {}, p95 {}, max {}; {} failed, {} degraded",
        st.runs,
        secs(st.p50),
        secs(st.p95),
        secs(st.max),
        st.failure,
        st.degraded
    );
    write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}"><title>{}</title>"#,
        Esc(&label),
        Esc(&label)
    )?;
    let t1 = now_ms.max(points.last().map_or(now_ms, |p| p.t));
    let t0 = points.first().map_or(t1 - 60_000, |p| p.t).min(t1 - 60_000);
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| LEFT + plot_w * ((t - t0) as f64 / span);
    let ticks = nice_ticks(st.max * 1.1);
    let top = *ticks.last().unwrap_or(&1.0);
    let y = |v: f64| TOP + (plot_bottom - TOP) * (1.0 - (v / top).clamp(0.0, 1.0));
    for v in &ticks {
        let yy = y(*v);
        write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 8.0,
            yy + 4.0,
            if *v == 0.0 { "0".into() } else { axis_secs(*v) }
        )?;
    }
    // Time axis: "now" on the right, four earlier marks as "-5m" and the like.
    for i in 0..=4 {
        let t = t0 + ((t1 - t0) as f64 * i as f64 / 4.0) as i64;
        let ago = Duration::from_millis((t1 - t).max(0) as u64);
        let text = if i == 4 {
            "now".to_string()
        } else {
            format!("-{}", compact(Duration::from_secs(ago.as_secs())))
        };
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{H}" dy="-4" text-anchor="{anchor}">{text}</text>"#,
            x(t)
        )?;
    }
    if points.is_empty() {
        write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">no runs in the retention window yet</text></svg>"#,
            LEFT + plot_w / 2.0,
            (TOP + plot_bottom) / 2.0
        )?;
        return Ok(());
    }
    let buckets = bucket(points, 300);
    // Break the line where runs are missing (vigil was down, the probe was added later):
    // a gap wider than four typical intervals.
    let mut gaps: Vec<i64> = buckets.windows(2).map(|w| w[1].t1 - w[0].t1).collect();
    gaps.sort_unstable();
    let typical = gaps.get(gaps.len() / 2).copied().unwrap_or(0).max(1);
    let mut line = String::new();
    let mut area = String::new();
    let mut seg_start: Option<f64> = None;
    let mut prev: Option<(i64, f64)> = None;
    for b in &buckets {
        let (xx, yy) = (x(b.t1), y(b.max));
        let broken = prev.is_some_and(|(t, _)| b.t1 - t > 4 * typical);
        if broken && let (Some(s), Some((pt, _))) = (seg_start, prev) {
            write!(
                area,
                " L{:.1} {plot_bottom:.1} L{s:.1} {plot_bottom:.1} Z",
                x(pt)
            )?;
            seg_start = None;
        }
        if seg_start.is_none() {
            write!(line, "M{xx:.1} {yy:.1}")?;
            write!(area, "M{xx:.1} {yy:.1}")?;
            seg_start = Some(xx);
        } else {
            write!(line, " L{xx:.1} {yy:.1}")?;
            write!(area, " L{xx:.1} {yy:.1}")?;
        }
        prev = Some((b.t1, yy));
    }
    if let (Some(s), Some((pt, _))) = (seg_start, prev) {
        write!(
            area,
            " L{:.1} {plot_bottom:.1} L{s:.1} {plot_bottom:.1} Z",
            x(pt)
        )?;
    }
    write!(out, r#"<path class="area" d="{area}"/>"#)?;
    write!(out, r#"<path class="lat" d="{line}"/>"#)?;
    let dots = buckets.len() <= 120;
    let strip_y = plot_bottom + 6.0;
    for (i, b) in buckets.iter().enumerate() {
        let xx = x(b.t1);
        let when = super::text::iso(super::text::from_millis(b.t1));
        let tip = if b.runs == 1 {
            format!("{when}: {} in {}", b.worst.as_str(), secs(b.max))
        } else {
            format!(
                "{} runs to {when}: worst {}, slowest {}",
                b.runs,
                b.worst.as_str(),
                secs(b.max)
            )
        };
        if dots || b.worst != Outcome::Success {
            write!(
                out,
                r#"<circle class="pt {}" cx="{xx:.1}" cy="{:.1}" r="{}"><title>{}</title></circle>"#,
                outcome_class(b.worst),
                y(b.max),
                if b.worst == Outcome::Success {
                    2.5
                } else {
                    4.0
                },
                Esc(&tip)
            )?;
        }
        // Each cell spans from the previous run to this one.
        let x_prev = if i == 0 {
            (xx - 3.0).max(LEFT)
        } else {
            x(buckets[i - 1].t1)
        };
        write!(
            out,
            r#"<rect class="{}" x="{x_prev:.1}" y="{strip_y:.1}" width="{:.1}" height="{STRIP}"><title>{}</title></rect>"#,
            outcome_class(b.worst),
            (xx - x_prev).max(1.5),
            Esc(&tip)
        )?;
    }
    out.write_str("</svg>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(f64, Outcome)]) -> Vec<Point> {
        v.iter()
            .enumerate()
            .map(|(i, (s, o))| Point {
                t: 1_000_000 + i as i64 * 1000,
                seconds: *s,
                outcome: *o,
            })
            .collect()
    }

    #[test]
    fn stats_count_outcomes_and_rank_latencies() {
        use Outcome::*;
        let s = Stats::of(&pts(&[
            (0.1, Success),
            (0.3, Failure),
            (0.2, Degraded),
            (0.4, Success),
        ]));
        assert_eq!((s.runs, s.success, s.degraded, s.failure), (4, 2, 1, 1));
        assert_eq!((s.p50, s.p95, s.max), (0.2, 0.4, 0.4));
        assert_eq!(s.ok_ratio(), Some(0.75));
        assert_eq!(Stats::of(&[]).ok_ratio(), None);
    }

    #[test]
    fn a_sparkline_has_one_cell_per_run_coloured_by_outcome() {
        use Outcome::*;
        let svg = sparkline(&pts(&[(0.1, Success), (0.2, Failure), (0.1, Degraded)]));
        assert!(svg.starts_with("<svg class=\"spark\""), "{svg}");
        assert_eq!(svg.matches("<rect class=\"o-").count(), 3);
        assert_eq!(svg.matches("o-failure").count(), 1);
        assert!(svg.contains("Last 3 runs: 1 ok, 1 degraded, 1 failed"));
        assert!(svg.ends_with("</svg>"));
        // No runs: an empty frame, still valid SVG.
        assert!(sparkline(&[]).contains("Last 0 runs"));
    }

    #[test]
    fn the_latency_chart_marks_failures_and_breaks_at_gaps() {
        use Outcome::*;
        let mut p = pts(&[(0.1, Success), (0.2, Success), (0.15, Failure)]);
        // A run long after the others: the line must not bridge the gap.
        p.push(Point {
            t: p[2].t + 600_000,
            seconds: 0.1,
            outcome: Success,
        });
        let svg = latency_chart(&p, p[3].t + 1000);
        let line = svg.split("class=\"lat\" d=\"").nth(1).unwrap();
        let line = &line[..line.find('"').unwrap()];
        assert_eq!(line.matches('M').count(), 2, "{line}");
        assert!(svg.contains("pt o-failure"));
        assert!(svg.contains(">now</text>"));
        assert!(latency_chart(&[], 0).contains("no runs"));
    }

    #[test]
    fn buckets_keep_the_worst_of_each_group() {
        use Outcome::*;
        let p = pts(&[
            (0.1, Success),
            (0.9, Success),
            (0.1, Failure),
            (0.1, Success),
        ]);
        let b = bucket(&p, 2);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].max, b[0].worst), (0.9, Success));
        assert_eq!((b[1].max, b[1].worst), (0.1, Failure));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.9), vec![0.0, 0.5, 1.0]);
        assert_eq!(nice_ticks(4.0), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(nice_ticks(0.0), vec![0.0, 0.5, 1.0]);
        assert_eq!(nice_ticks(0.035), vec![0.0, 0.01, 0.02, 0.03, 0.04]);
    }
}
