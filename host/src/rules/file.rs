//! Prometheus rule files (`groups:` of alerting and recording rules), parsed strictly and
//! validated like `promtool check rules`: every problem with file, line and column.

use super::template;
use crate::config::{ConfigError, ConfigErrors, Location};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Spanned<String>,
    interval: Option<PromDuration>,
    #[serde(default)]
    limit: usize,
    query_offset: Option<PromDuration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    record: Option<Spanned<String>>,
    alert: Option<Spanned<String>>,
    expr: Option<Spanned<ExprText>>,
    #[serde(rename = "for")]
    hold: Option<PromDuration>,
    keep_firing_for: Option<PromDuration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// `expr:` may be a number in YAML (`expr: 1`).
#[derive(Debug, Clone)]
struct ExprText(String);

impl<'de> Deserialize<'de> for ExprText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ExprText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a PromQL expression")
            }
            fn visit_str<E>(self, v: &str) -> Result<ExprText, E> {
                Ok(ExprText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<ExprText, E> {
                Ok(ExprText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<ExprText, E> {
                Ok(ExprText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<ExprText, E> {
                Ok(ExprText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A Prometheus duration (`30s`, `5m`, `1h30m`, `1d`), checked while parsing.
#[derive(Debug, Clone, Copy)]
struct PromDuration(Duration);

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_prom_duration(&s).map(PromDuration).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} (expected e.g. 30s, 5m, 1h30m, 1d)"
            ))
        })
    }
}

/// Parse a Prometheus duration: integer + unit (`ms s m h d w y`), concatenated.
pub fn parse_prom_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_millis(total))
}

/// How far back an expression reads, per metric name: the longest `[range]` over each
/// selector plus its `offset` and the ranges of enclosing subqueries (the 5m lookback is
/// the caller's to add). `None` names a selector without a metric name. Sizes the store's
/// retention so a 30-day SLO keeps 30 days of what it reads, and nothing else.
pub fn lookbacks(expr: &promql_parser::parser::Expr) -> Vec<(Option<String>, Duration)> {
    use promql_parser::parser::{Expr, Offset, VectorSelector};
    fn offset(o: &Option<Offset>) -> Duration {
        match o {
            Some(Offset::Pos(d)) => *d,
            _ => Duration::ZERO,
        }
    }
    fn name(vs: &VectorSelector) -> Option<String> {
        vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| {
                    m.name == "__name__" && matches!(m.op, promql_parser::label::MatchOp::Equal)
                })
                .map(|m| m.value.clone())
        })
    }
    fn walk(e: &Expr, extra: Duration, out: &mut Vec<(Option<String>, Duration)>) {
        match e {
            Expr::VectorSelector(vs) => out.push((name(vs), extra + offset(&vs.offset))),
            Expr::MatrixSelector(ms) => {
                out.push((name(&ms.vs), extra + ms.range + offset(&ms.vs.offset)))
            }
            Expr::Subquery(sq) => walk(&sq.expr, extra + sq.range + offset(&sq.offset), out),
            Expr::Aggregate(a) => {
                walk(&a.expr, extra, out);
                if let Some(p) = &a.param {
                    walk(p, extra, out);
                }
            }
            Expr::Unary(u) => walk(&u.expr, extra, out),
            Expr::Binary(b) => {
                walk(&b.lhs, extra, out);
                walk(&b.rhs, extra, out);
            }
            Expr::Paren(p) => walk(&p.expr, extra, out),
            Expr::Call(c) => {
                for a in &c.args.args {
                    walk(a, extra, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(expr, Duration::ZERO, &mut out);
    out
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// `alert:`
    Alert {
        /// `for:`
        hold: Duration,
        /// `keep_firing_for:`
        keep_firing_for: Duration,
        /// `annotations:`
        annotations: BTreeMap<String, String>,
    },
    /// `record:`
    Record,
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// Alert name or recorded metric name.
    pub name: String,
    /// Alerting or recording.
    pub kind: RuleKind,
    /// The expression as written.
    pub expr: String,
    /// The parsed expression.
    pub parsed: promql_parser::parser::Expr,
    /// `labels:` (group labels merged in).
    pub labels: BTreeMap<String, String>,
    /// Where the rule is.
    pub location: Location,
}

/// One validated group.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// The file it is in.
    pub file: PathBuf,
    /// Unique within the file.
    pub name: String,
    /// Evaluation interval (`None` = the global default).
    pub interval: Option<Duration>,
    /// Most alerts / series a rule may produce (0 = no limit).
    pub limit: usize,
    /// Evaluate at `now - query_offset`.
    pub query_offset: Duration,
    /// Rules in order.
    pub rules: Vec<RuleSpec>,
}

/// Parse and validate one rule file. Warnings (duplicate rules) come back beside the
/// groups; errors fail the file.
pub fn load(path: &Path) -> Result<(Vec<GroupSpec>, Vec<String>), ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            location: None,
            message: format!("cannot read rule file {}: {e}", path.display()),
        }])
    })?;
    parse(path, &text)
}

/// Validate rule file text.
pub fn parse(path: &Path, text: &str) -> Result<(Vec<GroupSpec>, Vec<String>), ConfigErrors> {
    let raw: RawFile = if text.trim().is_empty() {
        RawFile { groups: vec![] }
    } else {
        // The config module already turns saphyr errors into positioned ones.
        crate::config::parse_yaml(path, text)?
    };
    let loc = |l: &serde_saphyr::Location| Location {
        file: path.to_path_buf(),
        line: l.line(),
        column: l.column(),
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut groups = Vec::new();
    let mut group_names: HashMap<String, u64> = HashMap::new();
    let mut seen_rules: HashMap<(String, BTreeMap<String, String>), Location> = HashMap::new();
    for g in raw.groups {
        let gat = loc(&g.name.referenced);
        let mut err = |at: &Location, message: String| {
            errors.push(ConfigError {
                location: Some(at.clone()),
                message,
            })
        };
        if g.name.value.trim().is_empty() {
            err(&gat, "group name must not be empty".into());
        }
        if let Some(first) = group_names.get(&g.name.value) {
            err(
                &gat,
                format!(
                    "group name {:?} is repeated in the same file (first at line {first})",
                    g.name.value
                ),
            );
        }
        group_names.insert(g.name.value.clone(), gat.line);
        let mut rules = Vec::new();
        for (i, r) in g.rules.into_iter().enumerate() {
            let (name, kind_at, is_alert) = match (&r.record, &r.alert) {
                (Some(rec), None) => (rec.value.clone(), loc(&rec.referenced), false),
                (None, Some(al)) => (al.value.clone(), loc(&al.referenced), true),
                (Some(rec), Some(_)) => {
                    err(
                        &loc(&rec.referenced),
                        format!(
                            "group {:?}, rule {}: only one of 'record' and 'alert' may be set",
                            g.name.value,
                            i + 1
                        ),
                    );
                    continue;
                }
                (None, None) => {
                    let at = r
                        .expr
                        .as_ref()
                        .map(|e| loc(&e.referenced))
                        .unwrap_or(gat.clone());
                    err(
                        &at,
                        format!(
                            "group {:?}, rule {}: one of 'record' or 'alert' must be set",
                            g.name.value,
                            i + 1
                        ),
                    );
                    continue;
                }
            };
            let what = format!("group {:?}, rule {}, {name:?}", g.name.value, i + 1);
            let Some(expr) = r.expr else {
                err(
                    &kind_at,
                    format!("{what}: field 'expr' must be set in rule"),
                );
                continue;
            };
            let expr_at = loc(&expr.referenced);
            let parsed = match crate::promql::parse(&expr.value.0) {
                Ok(p) => p,
                Err(e) => {
                    err(&expr_at, format!("{what}: could not parse expression: {e}"));
                    continue;
                }
            };
            if !is_alert && !crate::runtime::valid_metric_name(&name) {
                err(
                    &kind_at,
                    format!("{what}: invalid recording rule name {name:?}"),
                );
            }
            if is_alert && name.trim().is_empty() {
                err(&kind_at, format!("{what}: alert name must not be empty"));
            }
            if !is_alert {
                if r.hold.is_some() {
                    err(
                        &kind_at,
                        format!("{what}: invalid field 'for' in recording rule"),
                    );
                }
                if r.keep_firing_for.is_some() {
                    err(
                        &kind_at,
                        format!("{what}: invalid field 'keep_firing_for' in recording rule"),
                    );
                }
                if !r.annotations.is_empty() {
                    err(
                        &kind_at,
                        format!("{what}: invalid field 'annotations' in recording rule"),
                    );
                }
            }
            for k in r.labels.keys().chain(r.annotations.keys()) {
                if !crate::runtime::valid_label_name(k) {
                    err(&kind_at, format!("{what}: invalid label name {k:?}"));
                }
            }
            for (k, v) in r.labels.iter().chain(r.annotations.iter()) {
                if let Err(e) = template::check(v) {
                    err(&kind_at, format!("{what}: template of {k:?}: {e}"));
                }
            }
            let mut labels = g.labels.clone();
            labels.extend(r.labels);
            let key = (name.clone(), labels.clone());
            if let Some(first) = seen_rules.get(&key) {
                warnings.push(format!(
                    "{kind_at}: duplicate rule {name:?} (also at line {} of {})",
                    first.line,
                    first.file.display()
                ));
            } else {
                seen_rules.insert(key, kind_at.clone());
            }
            rules.push(RuleSpec {
                name,
                kind: if is_alert {
                    RuleKind::Alert {
                        hold: r.hold.map(|d| d.0).unwrap_or_default(),
                        keep_firing_for: r.keep_firing_for.map(|d| d.0).unwrap_or_default(),
                        annotations: r.annotations,
                    }
                } else {
                    RuleKind::Record
                },
                expr: expr.value.0,
                parsed,
                labels,
                location: kind_at,
            });
        }
        groups.push(GroupSpec {
            file: path.to_path_buf(),
            name: g.name.value,
            interval: g.interval.map(|d| d.0),
            limit: g.limit,
            query_offset: g.query_offset.map(|d| d.0).unwrap_or_default(),
            rules,
        });
    }
    if errors.is_empty() {
        Ok((groups, warnings))
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conformance(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/promtool")
            .join(name)
    }

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse_prom_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(
            parse_prom_duration("1h30m"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(parse_prom_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(
            parse_prom_duration("500ms"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_prom_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_prom_duration("5"), None);
        assert_eq!(parse_prom_duration("m"), None);
        assert_eq!(parse_prom_duration("1.5h"), None);
    }

    #[test]
    fn lookback_covers_ranges_subqueries_and_offsets() {
        let l = |e: &str| lookbacks(&promql_parser::parser::parse(e).unwrap());
        let d = |s: u64| Duration::from_secs(s);
        assert_eq!(l("up"), [(Some("up".into()), Duration::ZERO)]);
        assert_eq!(
            l("rate(x[5m]) / sum(y offset 1h)"),
            [(Some("x".into()), d(300)), (Some("y".into()), d(3600))]
        );
        assert_eq!(
            l("max_over_time((a + rate(b[1m]))[3d:5m])"),
            [
                (Some("a".into()), d(3 * 86400)),
                (Some("b".into()), d(3 * 86400 + 60)),
            ]
        );
        assert_eq!(
            l(r#"{__name__="z", job="j"}[10m]"#),
            [(Some("z".into()), d(600))]
        );
        assert_eq!(l(r#"{job="j"}[10m]"#), [(None, d(600))]);
    }

    #[test]
    fn promtool_fixture_rules_parse() {
        let (groups, warnings) = load(&conformance("rules.yml")).unwrap();
        assert_eq!(groups.len(), 2);
        assert!(warnings.is_empty());
        let alert = &groups[0].rules[0];
        assert_eq!(alert.name, "InstanceDown");
        assert!(
            matches!(alert.kind, RuleKind::Alert { hold, .. } if hold == Duration::from_secs(300))
        );
        assert_eq!(alert.labels["severity"], "page");
        assert_eq!(groups[1].rules[1].expr, "1");
    }

    #[test]
    fn duplicates_are_warnings_like_promtool() {
        let (_, warnings) = load(&conformance("rules_duplicates.yml")).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("duplicate rule \"job:test:count_over_time1m\""));
    }

    #[test]
    fn bad_promql_is_reported_at_the_expression() {
        let err = load(&conformance("bad-rules-syntax.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad-rules-syntax.yml:7:15: group \"bad-syntax\", rule 1, \"x\": could not parse expression"), "{err}");
    }

    #[test]
    fn structural_problems_are_all_reported() {
        let text = r#"groups:
  - name: g
    rules:
      - record: "not a metric"
        expr: up
        for: 5m
      - alert: A
        expr: up == 0
        annotations:
          summary: "{{ $labels.x "
      - expr: up
  - name: g
    rules: []
"#;
        let err = parse(Path::new("r.yml"), text).unwrap_err().to_string();
        for want in [
            "r.yml:4:17: group \"g\", rule 1, \"not a metric\": invalid recording rule name",
            "invalid field 'for' in recording rule",
            "r.yml:7:16: group \"g\", rule 2, \"A\": template of \"summary\": unclosed action",
            "r.yml:11:15: group \"g\", rule 3: one of 'record' or 'alert' must be set",
            "r.yml:12:11: group name \"g\" is repeated in the same file (first at line 2)",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse(Path::new("r.yml"), "groups:\n  - name: g\n    rulez: []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("r.yml:3:5: unknown field `rulez`"), "{err}");
    }
}
