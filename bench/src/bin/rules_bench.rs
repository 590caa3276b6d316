//! Rule-evaluation benchmark: 1,000 alerting rules over 10,000 series, in vigil and in
//! Prometheus, on the same rules and the same data (see `bench/rules_vs_prometheus.sh` and
//! docs/BENCHMARKS.md, section 4).
//!
//! ```text
//! rules_bench rules      OUT.yml [--no-templates]    write the rule file (10 groups x 100 rules)
//! rules_bench vigil      RULES.yml [--warmup N] [--rounds N]
//! rules_bench prometheus --port P [--warmup S] [--seconds S]
//! rules_bench compare    VIGIL.txt PROMETHEUS.txt [VIGIL_AGAIN.txt]
//! rules_bench templates  [--n N]                     cost of one annotation expansion in vigil
//! ```
//!
//! **Data.** 2,500 probes x 4 metrics = 10,000 series: `probe_success`,
//! `probe_duration_seconds`, `probe_http_status_code` (gauges) and `probe_failures_total`
//! (a counter), each with `job`, `probe="p0".."p2499"`, `team="t0".."t19"` and
//! `region="r0".."r2"`, one sample every 15 s. Values are a pure function of (probe, step):
//! 1 % of the probes are down, 4 % flaky (20 % of their runs fail), 2.5 % slow, the rest fail
//! one run in 500. Both systems get the same 70 minutes of history (280 steps) and then one
//! new step every 15 s while they evaluate, so `[5m]`..`[1h]` windows are always full.
//!
//! **Rules.** Ten groups, one kind of rule each, 100 rules per group with different teams,
//! probes and thresholds, all `for: 1m`, with label and annotation templates.
//!
//! - `vigil`: loads the data into `Store::in_memory`, parses the rule file with
//!   `vigil::rules::file::parse`, then evaluates every group (in order, one thread) once per
//!   step: `--warmup` unmeasured rounds (default 8, i.e. 2 minutes of `for:`), then
//!   `--rounds` measured rounds (default 20). Group time is `RuleGroup::eval_duration`;
//!   CPU is `getrusage(RUSAGE_SELF)` around the measured rounds (the process does nothing
//!   else then).
//! - `prometheus`: feeds a running Prometheus (started with
//!   `--web.enable-remote-write-receiver` and the rule file) over remote write on
//!   127.0.0.1:PORT: the history first, then the live step every 15 s. After `--warmup`
//!   seconds it polls Prometheus's own `/metrics` every second for `--seconds` seconds and
//!   records every new `prometheus_rule_group_last_duration_seconds` of every group, the
//!   alert count (`prometheus_rule_group_last_evaluation_samples` / 2) and
//!   `process_cpu_seconds_total`.
//!
//! Both print `key=value` lines that `compare` turns into the table. Only 127.0.0.1 is ever
//! contacted; every loop is bounded in time.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use vigil::promql::Limits;
use vigil::rules::group::RuleGroup;
use vigil::store::{Labels, Sample, Store};

const STEP_MS: i64 = 15_000;
const PROBES: usize = 2_500;
const METRICS: [&str; 4] = [
    "probe_success",
    "probe_duration_seconds",
    "probe_http_status_code",
    "probe_failures_total",
];
/// 70 minutes: the longest range in the rules is 1h.
const HISTORY_STEPS: usize = 280;
const GROUPS: usize = 10;
const RULES_PER_GROUP: usize = 100;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: u64| -> anyhow::Result<u64> {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .ok_or_else(|| anyhow!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name}")),
            None => Ok(default),
        }
    };
    match args.first().map(String::as_str) {
        Some("rules") => {
            let out = args.get(1).ok_or_else(|| anyhow!("rules OUT.yml"))?;
            let templates = !args.iter().any(|a| a == "--no-templates");
            std::fs::write(out, rule_file(templates))?;
            Ok(())
        }
        Some("templates") => templates_micro(opt("--n", 20_000)? as usize),
        Some("vigil") => {
            let rules = args.get(1).ok_or_else(|| anyhow!("vigil RULES.yml"))?;
            run_vigil(
                Path::new(rules),
                opt("--warmup", 8)? as usize,
                opt("--rounds", 20)? as usize,
            )
        }
        Some("prometheus") => {
            let port = opt("--port", 0)?;
            if port == 0 || port > 65535 {
                bail!("prometheus --port P (Prometheus on 127.0.0.1:P)");
            }
            run_prometheus(
                port as u16,
                Duration::from_secs(opt("--warmup", 120)?),
                Duration::from_secs(opt("--seconds", 180)?),
            )
        }
        Some("compare") => {
            let (Some(v), Some(p)) = (args.get(1), args.get(2)) else {
                bail!("compare VIGIL.txt PROMETHEUS.txt [VIGIL_AGAIN.txt]");
            };
            let read = |f: &String| std::fs::read_to_string(f).with_context(|| f.clone());
            compare(
                &read(v)?,
                &read(p)?,
                args.get(3).map(read).transpose()?.as_deref(),
            )
        }
        _ => bail!(
            "usage: rules_bench rules OUT.yml [--no-templates] | templates [--n N] | vigil RULES.yml [--warmup N] [--rounds N] | \
             prometheus --port P [--warmup S] [--seconds S] | compare VIGIL.txt PROM.txt [VIGIL_AGAIN.txt]"
        ),
    }
}

// -- data ------------------------------------------------------------------------------------

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from (probe, step, salt).
fn unit(i: usize, r: usize, salt: u64) -> f64 {
    let h = mix(mix(i as u64 ^ (salt << 40)) ^ (r as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Down,
    Flaky,
    Slow,
    Normal,
}

struct Probe {
    name: String,
    team: String,
    region: String,
    class: Class,
}

/// The 10,000 series and their values, step by step.
struct Data {
    probes: Vec<Probe>,
    failures: Vec<f64>,
    next_step: usize,
}

impl Data {
    fn new() -> Data {
        let probes = (0..PROBES)
            .map(|i| {
                let c = mix(i as u64 ^ 0xc1a5) % 1000;
                Probe {
                    name: format!("p{i}"),
                    team: format!("t{}", mix(i as u64 ^ 0x7ea) % 20),
                    region: format!("r{}", mix(i as u64 ^ 0x5e9) % 3),
                    class: match c {
                        0..10 => Class::Down,
                        10..50 => Class::Flaky,
                        50..75 => Class::Slow,
                        _ => Class::Normal,
                    },
                }
            })
            .collect();
        let failures = (0..PROBES)
            .map(|i| (mix(i as u64 ^ 0xfa11) % 500) as f64)
            .collect();
        Data {
            probes,
            failures,
            next_step: 0,
        }
    }

    /// Label pairs of series (probe `i`, metric `m`), sorted by name.
    fn labels(&self, i: usize, m: usize) -> [(&'static str, &str); 5] {
        let p = &self.probes[i];
        [
            ("__name__", METRICS[m]),
            ("job", "vigil"),
            ("probe", &p.name),
            ("region", &p.region),
            ("team", &p.team),
        ]
    }

    /// The values of the next step, `[probe][metric]`.
    fn step(&mut self) -> Vec<[f64; 4]> {
        let r = self.next_step;
        self.next_step += 1;
        (0..PROBES)
            .map(|i| {
                let class = self.probes[i].class;
                let (u0, u1, u2) = (unit(i, r, 1), unit(i, r, 2), unit(i, r, 3));
                let ok = match class {
                    Class::Down => false,
                    Class::Flaky => u0 >= 0.2,
                    _ => u0 >= 0.002,
                };
                let base = match class {
                    Class::Slow => 1.6,
                    _ => 0.05 + (i % 37) as f64 * 0.01,
                };
                let duration = if !ok {
                    if class == Class::Down {
                        10.0
                    } else {
                        2.0 + 3.0 * u1
                    }
                } else if class == Class::Slow && u2 < 0.15 {
                    2.0 * base * (0.8 + 0.8 * u1)
                } else {
                    base * (0.8 + 0.8 * u1)
                };
                let status = if ok {
                    200.0
                } else {
                    [500.0, 502.0, 503.0][i % 3]
                };
                if !ok {
                    self.failures[i] += 1.0;
                }
                [
                    if ok { 1.0 } else { 0.0 },
                    duration,
                    status,
                    self.failures[i],
                ]
            })
            .collect()
    }
}

// -- rules -----------------------------------------------------------------------------------

/// (group name, alert name, expression of rule k in 0..100, severity of rule k).
fn rule(g: usize, k: usize) -> (&'static str, &'static str, String) {
    let team = format!("t{}", k % 20);
    let rep = k / 20; // 0..4: thresholds and filters vary with it
    match g {
        0 => {
            let filter = match rep {
                0 => String::new(),
                1..=3 => format!(", region=\"r{}\"", rep - 1),
                _ => ", region!=\"r0\"".into(),
            };
            (
                "probe-down",
                "ProbeDown",
                format!("probe_success{{team=\"{team}\"{filter}}} == 0"),
            )
        }
        1 => {
            let digit = k % 9 + 1;
            let window = if (k / 9) % 2 == 0 { "5m" } else { "10m" };
            let threshold = 0.95 - 0.05 * (k / 18) as f64;
            (
                "probe-flaky-regex",
                "ProbeFlaky",
                format!(
                    "avg_over_time(probe_success{{probe=~\"p{digit}.*\"}}[{window}]) < {threshold:.2}"
                ),
            )
        }
        2 => (
            "probe-slow-max",
            "ProbeSlow",
            format!(
                "max_over_time(probe_duration_seconds{{team=\"{team}\"}}[10m]) > {}",
                2.0 + 0.5 * rep as f64
            ),
        ),
        3 => (
            "team-failure-rate",
            "TeamFailureRate",
            format!(
                "sum by (team) (rate(probe_failures_total{{team=\"{team}\"}}[5m])) > {:.2}",
                0.02 * (rep + 1) as f64
            ),
        ),
        4 => {
            let x = 14.4 * [0.001, 0.005, 0.01, 0.02, 0.05][rep];
            (
                "team-slo-burn",
                "TeamSLOBurn",
                format!(
                    "(1 - avg by (team) (avg_over_time(probe_success{{team=\"{team}\"}}[1h]))) > {x:.4} \
                     and (1 - avg by (team) (avg_over_time(probe_success{{team=\"{team}\"}}[5m]))) > {x:.4}"
                ),
            )
        }
        5 => (
            "probe-latency-p95",
            "ProbeLatencyP95",
            format!(
                "quantile_over_time(0.95, probe_duration_seconds{{team=\"{team}\"}}[10m]) > {}",
                1.0 + 0.5 * rep as f64
            ),
        ),
        6 => {
            let cmp = [">= 500", "== 503", "== 502", "!= 200", "== 500"][rep];
            (
                "probe-http-5xx",
                "ProbeHTTP5xx",
                format!("probe_http_status_code{{team=\"{team}\"}} {cmp}"),
            )
        }
        7 => (
            "probe-failures-increase",
            "ProbeFailuresIncreasing",
            format!(
                "increase(probe_failures_total{{team=\"{team}\"}}[10m]) > {}",
                rep + 1
            ),
        ),
        8 => (
            "probe-down-and-5xx",
            "ProbeDownWith5xx",
            format!(
                "probe_success{{team=\"{team}\"}} == 0 and on(probe) probe_http_status_code >= {}",
                500 + rep
            ),
        ),
        _ => (
            "single-probe-down",
            "SingleProbeDown",
            format!("probe_success{{probe=\"p{}\"}} == 0", k * 25 + 3),
        ),
    }
}

/// The rule file: 10 groups x 100 alerting rules. Without `templates`, the annotations
/// are the same text with every `{{ ... }}` action replaced by `X` (to measure what
/// template expansion costs).
fn rule_file(templates: bool) -> String {
    let mut out = String::from(
        "# Generated by `rules_bench rules` (bench/src/bin/rules_bench.rs).\ngroups:\n",
    );
    for g in 0..GROUPS {
        let (group, ..) = rule(g, 0);
        out.push_str(&format!("  - name: {group}\n    rules:\n"));
        for k in 0..RULES_PER_GROUP {
            let (_, alert, expr) = rule(g, k);
            let severity = if k / 20 < 2 { "page" } else { "warning" };
            let who = match (templates, matches!(g, 3 | 4)) {
                (true, true) => "team {{ $labels.team }}",
                (true, false) => {
                    "probe {{ $labels.probe }} ({{ $labels.team }}, {{ $labels.region }})"
                }
                (false, true) => "team X",
                (false, false) => "probe X (X, X)",
            };
            let value = if templates {
                "{{ $value | humanize }}"
            } else {
                "X"
            };
            out.push_str(&format!(
                "      - alert: {alert}\n\
                 \x20       expr: '{expr}'\n\
                 \x20       for: 1m\n\
                 \x20       labels:\n\
                 \x20         severity: {severity}\n\
                 \x20         variant: \"{k}\"\n\
                 \x20       annotations:\n\
                 \x20         summary: \"{alert} for {who}\"\n\
                 \x20         description: \"Value {value} for {who}, rule {group}/{k}.\"\n\
                 \x20         runbook_url: \"https://runbooks.example.invalid/{group}\"\n"
            ));
        }
    }
    out
}

// -- vigil -----------------------------------------------------------------------------------

/// User + system CPU of this whole process: the evaluating thread, plus the short-lived
/// threads the template engine (gtmpl's lexer) spawns for every template it parses.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Timestamp of step 0, chosen so that the last history step is the current aligned 15 s.
fn first_step_ms() -> i64 {
    let aligned = now_ms() / STEP_MS * STEP_MS;
    aligned - (HISTORY_STEPS as i64 - 1) * STEP_MS
}

fn run_vigil(rules: &Path, warmup: usize, rounds: usize) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(rules).with_context(|| rules.display().to_string())?;
    let (specs, warnings) =
        vigil::rules::file::parse(rules, &text).map_err(|e| anyhow!("rule file: {e}"))?;
    if !warnings.is_empty() {
        eprintln!("rule file warnings: {}", warnings.len());
    }
    let mut groups: Vec<RuleGroup> = specs
        .into_iter()
        .map(|s| RuleGroup::new(s, Duration::from_secs(15)))
        .collect();
    let n_rules: usize = groups.iter().map(|g| g.rules.len()).sum();

    let store = Store::in_memory(Duration::from_secs(3 * 3600));
    let mut data = Data::new();
    let labels: Vec<[Labels; 4]> = (0..PROBES)
        .map(|i| {
            std::array::from_fn(|m| {
                let l = data.labels(i, m);
                Labels::from_pairs(l[0].1, l[1..].iter().copied())
            })
        })
        .collect();
    let t0 = first_step_ms();
    let push = |data: &mut Data| {
        let t = t0 + data.next_step as i64 * STEP_MS;
        for (i, values) in data.step().into_iter().enumerate() {
            for (m, v) in values.into_iter().enumerate() {
                store.append(&labels[i][m], Sample { t, v });
            }
        }
        t
    };
    let load = Instant::now();
    for _ in 0..HISTORY_STEPS {
        push(&mut data);
    }
    eprintln!(
        "vigil: {} series x {} samples loaded in {:.1} s; {} groups, {n_rules} rules",
        store.read().len(),
        HISTORY_STEPS,
        load.elapsed().as_secs_f64(),
        groups.len()
    );

    let ext = BTreeMap::new();
    let limits = Limits::default();
    let mut per_group: Vec<Vec<f64>> = vec![Vec::new(); groups.len()];
    let mut alerts_sum: Vec<usize> = vec![0; groups.len()];
    let mut rounds_ms = Vec::new();
    let mut failures = 0usize;
    let mut cpu_start = process_cpu();
    let mut wall_start = Instant::now();
    for round in 0..warmup + rounds {
        if round == warmup {
            cpu_start = process_cpu();
            wall_start = Instant::now();
        }
        // The new step arrives, then the groups evaluate half a step later.
        let t = push(&mut data);
        let ts = t + STEP_MS / 2;
        let mut round_ms = 0.0;
        for (gi, g) in groups.iter_mut().enumerate() {
            let out = g.eval(ts, &store, &ext, &limits);
            if !out.failures.is_empty() {
                if failures == 0 {
                    eprintln!(
                        "vigil: rule failures in {}: {:?}",
                        g.spec.name,
                        &out.failures[..1]
                    );
                }
                failures += out.failures.len();
            }
            let ms = g.eval_duration.as_secs_f64() * 1e3;
            round_ms += ms;
            if round >= warmup {
                per_group[gi].push(ms);
                alerts_sum[gi] += g
                    .alerts()
                    .filter(|a| a.state != vigil::rules::alerting::AlertState::Inactive)
                    .count();
            }
        }
        if round >= warmup {
            rounds_ms.push(round_ms);
        }
    }
    let cpu = process_cpu() - cpu_start;
    let wall = wall_start.elapsed();
    for (gi, g) in groups.iter().enumerate() {
        let alerts = alerts_sum[gi] as f64 / rounds.max(1) as f64;
        let firing = g
            .alerts()
            .filter(|a| a.state == vigil::rules::alerting::AlertState::Firing)
            .count();
        let s = stats(&mut per_group[gi]);
        println!(
            "system=vigil group={} rules={} evals={} p50_ms={:.3} p90_ms={:.3} min_ms={:.3} mean_ms={:.3} alerts={alerts:.0} firing={firing}",
            g.spec.name,
            g.rules.len(),
            s.n,
            s.p50,
            s.p90,
            s.min,
            s.mean
        );
    }
    let s = stats(&mut rounds_ms);
    println!(
        "system=vigil total rules={n_rules} rounds={} round_p50_ms={:.3} round_mean_ms={:.3} per_rule_us={:.2} cpu_ms_per_round={:.3} wall_s={:.3} failures={failures}",
        s.n,
        s.p50,
        s.mean,
        s.p50 * 1e3 / n_rules as f64,
        cpu.as_secs_f64() * 1e3 / rounds.max(1) as f64,
        wall.as_secs_f64()
    );
    Ok(())
}

struct Stats {
    n: usize,
    p50: f64,
    p90: f64,
    min: f64,
    mean: f64,
}

fn stats(v: &mut [f64]) -> Stats {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if v.is_empty() {
            f64::NAN
        } else {
            v[((v.len() - 1) as f64 * p).round() as usize]
        }
    };
    Stats {
        n: v.len(),
        p50: q(0.5),
        p90: q(0.9),
        min: q(0.0),
        mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
    }
}

/// What one annotation expansion costs in vigil, next to what a thread spawn + channel
/// hand-off costs (gtmpl's lexer runs on a thread of its own for every parse).
fn templates_micro(n: usize) -> anyhow::Result<()> {
    use vigil::rules::template::{TemplateData, expand};
    let labels: BTreeMap<String, String> = [
        ("job", "vigil"),
        ("probe", "p123"),
        ("region", "r1"),
        ("team", "t7"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let ext = BTreeMap::new();
    let data = TemplateData {
        labels: &labels,
        external_labels: &ext,
        value: 0.25,
        external_url: "",
    };
    let text = "Value {{ $value | humanize }} for probe {{ $labels.probe }} ({{ $labels.team }}, {{ $labels.region }}), rule probe-down/0.";
    let time = |f: &mut dyn FnMut()| {
        for _ in 0..n / 10 {
            f();
        }
        let (c, t) = (process_cpu(), Instant::now());
        for _ in 0..n {
            f();
        }
        (
            t.elapsed().as_secs_f64() * 1e6 / n as f64,
            (process_cpu() - c).as_secs_f64() * 1e6 / n as f64,
        )
    };
    let (w, c) = time(&mut || {
        std::hint::black_box(expand("a", std::hint::black_box(text), &data));
    });
    println!("template expand (description annotation): {w:.1} µs wall, {c:.1} µs CPU per call");
    let (w, c) = time(&mut || {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(1u8);
        });
        std::hint::black_box(rx.recv().ok());
    });
    println!("thread spawn + channel hand-off:           {w:.1} µs wall, {c:.1} µs CPU per call");
    Ok(())
}

// -- Prometheus: remote write, /metrics ------------------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited protobuf field.
fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A `prometheus.WriteRequest` with the given steps of every series.
fn write_request(data: &Data, t0: i64, steps: &[(usize, Vec<[f64; 4]>)]) -> Vec<u8> {
    let mut req = Vec::with_capacity(PROBES * 4 * (120 + 20 * steps.len()));
    let mut ts = Vec::new();
    let mut buf = Vec::new();
    for i in 0..PROBES {
        for m in 0..4 {
            ts.clear();
            for (name, value) in data.labels(i, m) {
                buf.clear();
                field_bytes(&mut buf, 1, name.as_bytes());
                field_bytes(&mut buf, 2, value.as_bytes());
                field_bytes(&mut ts, 1, &buf);
            }
            for (r, values) in steps {
                buf.clear();
                buf.push(1 << 3 | 1); // double value = 1
                buf.extend_from_slice(&values[i][m].to_le_bytes());
                buf.push(2 << 3); // int64 timestamp = 2
                varint(&mut buf, (t0 + *r as i64 * STEP_MS) as u64);
                field_bytes(&mut ts, 2, &buf);
            }
            field_bytes(&mut req, 1, &ts);
        }
    }
    req
}

/// Snappy block format made only of literals (valid, uncompressed; Prometheus decodes it).
fn snappy_literals(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65536 * 3 + 16);
    varint(&mut out, data.len() as u64);
    for chunk in data.chunks(65536) {
        let n = chunk.len() - 1;
        if n < 60 {
            out.push((n as u8) << 2);
        } else if n < 256 {
            out.push(60 << 2);
            out.push(n as u8);
        } else {
            out.push(61 << 2);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// One HTTP/1.1 exchange with 127.0.0.1:port (Connection: close). Returns status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("bad HTTP response"))?;
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line: {head}"))?;
    let mut body = resp[end + 4..].to_vec();
    if head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    }) {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("bad chunk"))?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).ok_or_else(|| anyhow!("short chunk"))?);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
}

fn remote_write(
    port: u16,
    data: &Data,
    t0: i64,
    steps: &[(usize, Vec<[f64; 4]>)],
) -> anyhow::Result<()> {
    let body = snappy_literals(&write_request(data, t0, steps));
    let (status, resp) = http(
        port,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        &body,
    )?;
    if !(200..300).contains(&status) {
        bail!(
            "remote write: HTTP {status}: {}",
            String::from_utf8_lossy(&resp).trim()
        );
    }
    Ok(())
}

/// What one scrape of Prometheus's /metrics says about the rule groups.
#[derive(Default)]
struct PromSnapshot {
    /// group → (last evaluation timestamp, last duration s, last samples, failures total)
    groups: BTreeMap<String, (f64, f64, f64, f64)>,
    cpu_s: f64,
    rule_eval_p50_s: f64,
    group_eval_p50_s: f64,
    head_series: f64,
}

fn scrape(port: u16) -> anyhow::Result<PromSnapshot> {
    let (status, body) = http(port, "GET", "/metrics", &[], &[])?;
    if status != 200 {
        bail!("/metrics: HTTP {status}");
    }
    let text = String::from_utf8(body)?;
    let mut snap = PromSnapshot::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let group = labels
            .split_once("rule_group=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(g, _)| g.rsplit_once(';').map_or(g, |(_, name)| name).to_string());
        match (name, group) {
            ("prometheus_rule_group_last_evaluation_timestamp_seconds", Some(g)) => {
                snap.groups.entry(g).or_default().0 = value
            }
            ("prometheus_rule_group_last_duration_seconds", Some(g)) => {
                snap.groups.entry(g).or_default().1 = value
            }
            ("prometheus_rule_group_last_evaluation_samples", Some(g)) => {
                snap.groups.entry(g).or_default().2 = value
            }
            ("prometheus_rule_evaluation_failures_total", Some(g)) => {
                snap.groups.entry(g).or_default().3 = value
            }
            ("process_cpu_seconds_total", _) => snap.cpu_s = value,
            ("prometheus_tsdb_head_series", _) => snap.head_series = value,
            ("prometheus_rule_evaluation_duration_seconds", _)
                if labels.contains("quantile=\"0.5\"") =>
            {
                snap.rule_eval_p50_s = value
            }
            ("prometheus_rule_group_duration_seconds", _)
                if labels.contains("quantile=\"0.5\"") =>
            {
                snap.group_eval_p50_s = value
            }
            _ => {}
        }
    }
    Ok(snap)
}

fn run_prometheus(port: u16, warmup: Duration, seconds: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    // Ready? (bounded)
    loop {
        if let Ok((200, _)) = http(port, "GET", "/-/ready", &[], &[]) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("Prometheus on 127.0.0.1:{port} not ready after 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut data = Data::new();
    let t0 = first_step_ms();
    // History, oldest first, 10 steps per request (so the head never sees a sample more
    // than an hour older than its newest one).
    let load = Instant::now();
    while data.next_step < HISTORY_STEPS {
        let mut steps = Vec::new();
        while data.next_step < HISTORY_STEPS && steps.len() < 10 {
            let r = data.next_step;
            steps.push((r, data.step()));
        }
        remote_write(port, &data, t0, &steps)?;
    }
    eprintln!(
        "prometheus: {} series x {HISTORY_STEPS} samples written in {:.1} s",
        PROBES * 4,
        load.elapsed().as_secs_f64()
    );
    let measure_from = Instant::now() + warmup;
    let end = measure_from + seconds;
    let mut first: Option<PromSnapshot> = None;
    let mut last_seen: HashMap<String, f64> = HashMap::new();
    let mut per_group: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut alerts: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut next_poll = measure_from;
    let mut last: Option<PromSnapshot> = None;
    while Instant::now() < end {
        // The live step, 200 ms after its timestamp.
        let due = t0 + data.next_step as i64 * STEP_MS + 200;
        if now_ms() >= due {
            let r = data.next_step;
            let steps = [(r, data.step())];
            remote_write(port, &data, t0, &steps)?;
        }
        if Instant::now() >= next_poll {
            next_poll += Duration::from_secs(1);
            let snap = scrape(port)?;
            for (g, (ts, dur, samples, _)) in &snap.groups {
                let prev = last_seen.insert(g.clone(), *ts);
                // Only evaluations that happened after the first poll of the window.
                if first.is_some() && prev.is_some_and(|p| p != *ts) && *ts > 0.0 {
                    per_group.entry(g.clone()).or_default().push(dur * 1e3);
                    // ALERTS and ALERTS_FOR_STATE: two samples per pending or firing alert.
                    alerts.entry(g.clone()).or_default().push(samples / 2.0);
                }
            }
            if first.is_none() {
                first = Some(snap);
            } else {
                last = Some(snap);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (Some(first), Some(last)) = (first, last) else {
        bail!("no /metrics snapshots taken");
    };
    let mut evals = 0;
    let mut failures = 0.0;
    let mut sum_p50 = 0.0;
    for (g, v) in per_group.iter_mut() {
        let s = stats(v);
        evals += s.n;
        sum_p50 += s.p50;
        let f = last.groups.get(g).map_or(0.0, |x| x.3) - first.groups.get(g).map_or(0.0, |x| x.3);
        failures += f;
        println!(
            "system=prometheus group={g} rules={RULES_PER_GROUP} evals={} p50_ms={:.3} p90_ms={:.3} min_ms={:.3} mean_ms={:.3} alerts={:.0} failures={f}",
            s.n,
            s.p50,
            s.p90,
            s.min,
            s.mean,
            alerts
                .get(g)
                .map_or(0.0, |a| a.iter().sum::<f64>() / a.len().max(1) as f64)
        );
    }
    let n_rules = GROUPS * RULES_PER_GROUP;
    let rounds = evals as f64 / GROUPS as f64;
    let cpu = last.cpu_s - first.cpu_s;
    println!(
        "system=prometheus total rules={n_rules} rounds={rounds:.1} round_p50_ms={sum_p50:.3} per_rule_us={:.2} cpu_ms_per_round={:.3} window_s={:.1} cpu_s={cpu:.2} failures={failures} rule_eval_summary_p50_us={:.2} group_eval_summary_p50_ms={:.3} head_series={}",
        sum_p50 * 1e3 / n_rules as f64,
        cpu * 1e3 / rounds.max(1.0),
        seconds.as_secs_f64(),
        last.rule_eval_p50_s * 1e6,
        last.group_eval_p50_s * 1e3,
        last.head_series
    );
    Ok(())
}

// -- compare ---------------------------------------------------------------------------------

fn parse_lines(
    text: &str,
) -> (
    BTreeMap<String, HashMap<String, String>>,
    HashMap<String, String>,
) {
    let mut groups = BTreeMap::new();
    let mut total = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("system=")) {
        let kv: HashMap<String, String> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if line.contains(" total ") {
            total = kv;
        } else if let Some(g) = kv.get("group").cloned() {
            groups.insert(g, kv);
        }
    }
    (groups, total)
}

fn compare(vigil: &str, prom: &str, vigil_again: Option<&str>) -> anyhow::Result<()> {
    let (vg, vt) = parse_lines(vigil);
    let (pg, pt) = parse_lines(prom);
    let f = |m: &HashMap<String, String>, k: &str| -> f64 {
        m.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
    };
    println!(
        "{:<24} | {:>12} | {:>12} | {:>11} | {:>6} | {:>7} | {:>7}",
        "group (100 rules each)",
        "vigil p50 ms",
        "prom p50 ms",
        "prom/vigil",
        "evals",
        "alerts",
        "alerts"
    );
    println!(
        "{:<24} | {:>12} | {:>12} | {:>11} | {:>6} | {:>7} | {:>7}",
        "", "", "", "", "v / p", "vigil", "prom"
    );
    // Group order as in the rule file.
    let mut order: Vec<&String> = vg.keys().collect();
    order.sort_by_key(|g| (0..GROUPS).position(|i| rule(i, 0).0 == g.as_str()));
    for g in order {
        let v = &vg[g];
        let empty = HashMap::new();
        let p = pg.get(g).unwrap_or(&empty);
        println!(
            "{:<24} | {:>12.3} | {:>12.3} | {:>10.2}x | {:>3}/{:<3} | {:>7} | {:>7}",
            g,
            f(v, "p50_ms"),
            f(p, "p50_ms"),
            f(p, "p50_ms") / f(v, "p50_ms"),
            f(v, "evals"),
            f(p, "evals"),
            v.get("alerts").map_or("-", String::as_str),
            p.get("alerts").map_or("-", |s| s.trim_end_matches(".0")),
        );
    }
    let (vr, pr) = (f(&vt, "round_p50_ms"), f(&pt, "round_p50_ms"));
    println!(
        "{:<24} | {:>12.3} | {:>12.3} | {:>10.2}x |",
        "all 1,000 rules (ms)",
        vr,
        pr,
        pr / vr
    );
    let (vu, pu) = (f(&vt, "per_rule_us"), f(&pt, "per_rule_us"));
    println!(
        "{:<24} | {:>12.2} | {:>12.2} | {:>10.2}x |",
        "per rule (µs)",
        vu,
        pu,
        pu / vu
    );
    let (vc, pc) = (f(&vt, "cpu_ms_per_round"), f(&pt, "cpu_ms_per_round"));
    println!(
        "{:<24} | {:>12.3} | {:>12.3} | {:>10.2}x |",
        "CPU ms per 1,000 rules",
        vc,
        pc,
        pc / vc
    );
    if let Some(again) = vigil_again {
        let (_, at) = parse_lines(again);
        println!(
            "{:<24} | {:>12.3} | {:>12} | {:>10.2}x | (vigil run again after Prometheus; CPU {:.3} ms)",
            "vigil again: all rules",
            f(&at, "round_p50_ms"),
            "",
            pr / f(&at, "round_p50_ms"),
            f(&at, "cpu_ms_per_round"),
        );
    }
    println!(
        "(prometheus: per-rule summary p50 {} µs, rule failures {}; vigil rule failures {})",
        pt.get("rule_eval_summary_p50_us")
            .map_or("?", String::as_str),
        pt.get("failures").map_or("?", String::as_str),
        vt.get("failures").map_or("?", String::as_str),
    );
    Ok(())
}
