//! Alert label and annotation templates, as Prometheus expands them: Go `text/template`
//! syntax with `$labels`, `$value` and `$externalLabels`, and the template functions that
//! matter in alerts (`humanize`, `humanize1024`, `humanizeDuration`,
//! `humanizePercentage`, `humanizeTimestamp`, `printf`, `title`, `toUpper`, `toLower`,
//! `match`, `reReplaceAll`, `stripPort`).
//!
//! A template that fails to expand renders a placeholder naming the error; it never breaks
//! the rule (as Prometheus does).

use gtmpl::{Context, Func, FuncError, Template};
use gtmpl_value::Value;
use std::collections::{BTreeMap, HashMap};

/// What a template can see.
pub struct TemplateData<'a> {
    /// The alert's labels.
    pub labels: &'a BTreeMap<String, String>,
    /// `global.external_labels`.
    pub external_labels: &'a BTreeMap<String, String>,
    /// The sample value that triggered the alert.
    pub value: f64,
    /// Where vigil is reachable (`global.external_url`), for links in annotations.
    pub external_url: &'a str,
}

/// Prometheus's preamble: make `$labels`, `$externalLabels` and `$value` available.
const PREAMBLE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}\
     {{$externalURL := .ExternalURL}}{{$value := .Value}}";

fn template() -> Template {
    let mut t = Template::default();
    let funcs: [(&str, Func); 13] = [
        ("humanize", humanize),
        ("humanize1024", humanize1024),
        ("humanizeDuration", humanize_duration),
        ("humanizePercentage", humanize_percentage),
        ("humanizeTimestamp", humanize_timestamp),
        ("title", title),
        ("toUpper", to_upper),
        ("toLower", to_lower),
        ("match", matches),
        ("reReplaceAll", re_replace_all),
        ("stripPort", strip_port),
        ("safeHtml", identity),
        ("toTime", identity),
    ];
    for (name, f) in funcs {
        t.add_func(name, f);
    }
    t
}

/// gtmpl's lexer loops forever on an action left open at the end of the text
/// (`{{ $labels.x `), so such templates are refused before it sees them.
fn unclosed_action(text: &str) -> bool {
    text.rfind("{{")
        .is_some_and(|i| !text[i + 2..].contains("}}"))
}

/// Check that a template parses (for `vigil check rules`).
pub fn check(text: &str) -> Result<(), String> {
    if !text.contains("{{") {
        return Ok(());
    }
    if unclosed_action(text) {
        return Err("unclosed action: a `{{` without its `}}`".into());
    }
    template()
        .parse(format!("{PREAMBLE}{text}"))
        .map_err(|e| e.to_string())
}

/// Expand a template; on any error the result is a placeholder naming the error.
pub fn expand(name: &str, text: &str, data: &TemplateData<'_>) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    if unclosed_action(text) {
        return format!("<error expanding template {name}: unclosed action>");
    }
    let to_map = |m: &BTreeMap<String, String>| -> Value {
        let map: HashMap<String, Value> = m
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        Value::from(map)
    };
    let mut root = HashMap::new();
    root.insert("Labels".to_string(), to_map(data.labels));
    root.insert("ExternalLabels".to_string(), to_map(data.external_labels));
    root.insert("Value".to_string(), Value::from(data.value));
    root.insert("ExternalURL".to_string(), Value::from(data.external_url));
    let mut t = template();
    let result = t
        .parse(format!("{PREAMBLE}{text}"))
        .map_err(|e| e.to_string())
        .and_then(|_| {
            t.render(&Context::from(Value::from(root)))
                .map_err(|e| e.to_string())
        });
    match result {
        Ok(s) => s,
        Err(e) => format!("<error expanding template {name}: {e}>"),
    }
}

fn arg_f64(args: &[Value]) -> Result<f64, FuncError> {
    match args.first() {
        Some(Value::Number(n)) => n
            .as_f64()
            .or_else(|| n.as_i64().map(|i| i as f64))
            .or_else(|| n.as_u64().map(|u| u as f64))
            .ok_or_else(|| FuncError::Generic("not a number".into())),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| FuncError::Generic(format!("{s:?} is not a number"))),
        _ => Err(FuncError::AtLeastXArgs("function".into(), 1)),
    }
}

fn arg_str(args: &[Value], i: usize) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Ok(v.to_string()),
        None => Err(FuncError::AtLeastXArgs("function".into(), i + 1)),
    }
}

fn identity(args: &[Value]) -> Result<Value, FuncError> {
    args.first()
        .cloned()
        .ok_or_else(|| FuncError::AtLeastXArgs("function".into(), 1))
}

/// Go's `%.4g`: four significant digits, no trailing zeros.
fn g4(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return crate::promql::format_value(v);
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..4).contains(&exp) {
        let mant = v / 10f64.powi(exp);
        let m = trim_zeros(format!("{mant:.3}"));
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (3 - exp).max(0) as usize;
    trim_zeros(format!("{v:.decimals$}"))
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn humanize_with(v: f64, base: f64, big: &[&str], small: &[&str]) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    if v.abs() >= 1.0 {
        let mut v = v;
        let mut prefix = "";
        for p in big {
            if v.abs() < base {
                break;
            }
            prefix = p;
            v /= base;
        }
        return format!("{}{prefix}", g4(v));
    }
    let mut v = v;
    let mut prefix = "";
    for p in small {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", g4(v))
}

fn humanize(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg_f64(args)?;
    Ok(Value::from(humanize_with(
        v,
        1000.0,
        &["k", "M", "G", "T", "P", "E", "Z", "Y"],
        &["m", "u", "n", "p", "f", "a", "z", "y"],
    )))
}

fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg_f64(args)?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return Ok(Value::from(g4(v)));
    }
    Ok(Value::from(humanize_with(
        v,
        1024.0,
        &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"],
        &[],
    )))
}

fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg_f64(args)?;
    if !v.is_finite() {
        return Ok(Value::from(crate::promql::format_value(v)));
    }
    if v.abs() < 1.0 {
        if v == 0.0 {
            return Ok(Value::from("0s"));
        }
        let ms = v * 1000.0;
        if ms.abs() >= 1.0 {
            return Ok(Value::from(format!("{}ms", g4(ms))));
        }
        let us = ms * 1000.0;
        if us.abs() >= 1.0 {
            return Ok(Value::from(format!("{}us", g4(us))));
        }
        return Ok(Value::from(format!("{}ns", g4(us * 1000.0))));
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let secs = v.abs();
    let whole = secs.trunc() as u64;
    let (d, h, m) = (whole / 86400, whole / 3600 % 24, whole / 60 % 60);
    let s = whole % 60;
    let frac = secs - secs.trunc();
    let mut out = String::from(sign);
    if d > 0 {
        out.push_str(&format!("{d}d "));
    }
    if h > 0 || d > 0 {
        out.push_str(&format!("{h}h "));
    }
    if m > 0 || h > 0 || d > 0 {
        out.push_str(&format!("{m}m "));
    }
    out.push_str(&format!("{}s", g4(s as f64 + frac)));
    Ok(Value::from(out))
}

fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg_f64(args)?;
    Ok(Value::from(format!("{}%", g4(v * 100.0))))
}

fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg_f64(args)?;
    if !v.is_finite() || v < 0.0 {
        return Ok(Value::from(crate::promql::format_value(v)));
    }
    // Prometheus goes through model.Time: millisecond precision, truncated.
    let ms = (v * 1e9) as u64 / 1_000_000;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    Ok(Value::from(
        dt.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string(),
    ))
}

fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    Ok(Value::from(out))
}

fn to_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(arg_str(args, 0)?.to_uppercase()))
}

fn to_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(arg_str(args, 0)?.to_lowercase()))
}

fn regex(pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).map_err(|e| FuncError::Generic(e.to_string()))
}

fn matches(args: &[Value]) -> Result<Value, FuncError> {
    let re = regex(&arg_str(args, 0)?)?;
    Ok(Value::from(re.is_match(&arg_str(args, 1)?)))
}

fn re_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    let re = regex(&arg_str(args, 0)?)?;
    let replacement = arg_str(args, 1)?;
    let text = arg_str(args, 2)?;
    Ok(Value::from(
        re.replace_all(&text, replacement.as_str()).into_owned(),
    ))
}

fn strip_port(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let host = if let Some(rest) = s.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest).to_string()
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h.into(),
            _ => s,
        }
    };
    Ok(Value::from(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, value: f64) -> String {
        let labels = BTreeMap::from([
            ("instance".to_string(), "web-1:9100".to_string()),
            ("probe".to_string(), "checkout".to_string()),
        ]);
        let ext = BTreeMap::from([("cluster".to_string(), "eu-1".to_string())]);
        expand(
            "test",
            text,
            &TemplateData {
                labels: &labels,
                external_labels: &ext,
                value,
                external_url: "http://vigil.example:9464",
            },
        )
    }

    #[test]
    fn labels_value_and_external_labels() {
        assert_eq!(
            render(
                "{{ $labels.probe }} failed in {{ $externalLabels.cluster }}: {{ $value }}",
                0.0
            ),
            "checkout failed in eu-1: 0"
        );
        assert_eq!(render("no template here", 1.0), "no template here");
        assert_eq!(render("{{ $labels.nope }}", 1.0), "<no value>");
    }

    #[test]
    fn humanize_family_matches_prometheus() {
        assert_eq!(render("{{ humanize $value }}", 1234567.0), "1.235M");
        assert_eq!(render("{{ $value | humanize }}", 0.00123), "1.23m");
        assert_eq!(render("{{ humanize1024 $value }}", 1048576.0), "1Mi");
        assert_eq!(render("{{ humanizePercentage $value }}", 0.1234), "12.34%");
        assert_eq!(
            render("{{ humanizeDuration $value }}", 3723.5),
            "1h 2m 3.5s"
        );
        assert_eq!(render("{{ humanizeDuration $value }}", 0.25), "250ms");
        assert_eq!(
            render("{{ humanizeDuration $value }}", 90061.0),
            "1d 1h 1m 1s"
        );
        assert_eq!(
            render("{{ humanizeTimestamp $value }}", 1_435_065_584.128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(render("{{ printf \"%.1f\" $value }}", 99.456), "99.5");
    }

    #[test]
    fn external_url_is_available() {
        assert_eq!(
            render("{{ $externalURL }}/api/v1/alerts", 0.0),
            "http://vigil.example:9464/api/v1/alerts"
        );
    }

    #[test]
    fn string_functions() {
        assert_eq!(render("{{ $labels.probe | toUpper }}", 0.0), "CHECKOUT");
        assert_eq!(render("{{ title \"hello world\" }}", 0.0), "Hello World");
        assert_eq!(render("{{ stripPort $labels.instance }}", 0.0), "web-1");
        assert_eq!(
            render(
                "{{ reReplaceAll \"-(\\\\d)\" \"#$1\" $labels.instance }}",
                0.0
            ),
            "web#1:9100"
        );
    }

    #[test]
    fn errors_render_a_placeholder_and_check_reports_them() {
        let out = render("{{ .Nope.x }}", 0.0);
        assert!(out.starts_with("<error expanding template test:"), "{out}");
        // These used to hang gtmpl's lexer.
        assert!(check("{{ $labels.x ").is_err());
        assert!(check("{{ .X ").is_err());
        assert!(render("{{ $labels.x ", 0.0).contains("unclosed action"));
        assert!(check("{{ $labels.x }} {{ humanize $value }}").is_ok());
    }
}
