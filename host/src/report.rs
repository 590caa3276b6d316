//! The terminal report of a [`ProbeRun`]: outcome first, then steps, HTTP timings,
//! metrics and logs, in the order an on-call person reads them.

use crate::record::{Outcome, ProbeRun};
use crate::units::{format_duration, format_size};
use std::fmt::Write;
use std::time::Duration;

/// Render a run as plain text (no colours: the report is often pasted into tickets).
pub fn render(run: &ProbeRun) -> String {
    let mut out = String::new();
    let verdict = match run.outcome {
        Outcome::Success => "SUCCESS",
        Outcome::Degraded => "DEGRADED",
        Outcome::Failure => "FAILURE",
    };
    let _ = writeln!(
        out,
        "probe    {}\noutcome  {verdict} in {}",
        run.probe,
        format_duration(run.duration)
    );
    if let Some(reason) = run.reason {
        let _ = writeln!(
            out,
            "reason   {}: {}",
            reason.as_str(),
            run.message.as_deref().unwrap_or("")
        );
    }
    if !run.steps.is_empty() {
        let width = run.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let _ = writeln!(out, "\nsteps");
        for s in &run.steps {
            let mark = if s.success { "ok  " } else { "FAIL" };
            let _ = write!(
                out,
                "  {mark} {:width$}  {:>9}",
                s.name,
                format_duration(s.duration)
            );
            if !s.detail.is_empty() {
                let _ = write!(out, "  {}", s.detail);
            }
            out.push('\n');
        }
    }
    if !run.http.is_empty() {
        let _ = writeln!(out, "\nhttp");
        for h in &run.http {
            let status = h
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "---".into());
            let _ = writeln!(out, "  {} {} -> {status}", h.method, h.url);
            let phase = |name: &str, d: Option<Duration>| {
                d.map(|d| format!("{name} {}", format_duration(d)))
            };
            let phases: Vec<String> = [
                phase("dns", h.dns),
                phase("connect", h.connect),
                phase("tls", h.tls),
                phase("first byte", h.first_byte),
                phase("total", h.total),
            ]
            .into_iter()
            .flatten()
            .collect();
            let mut line = phases.join(" | ");
            if h.status.is_some() {
                let _ = write!(line, " | {}", format_size(h.body_bytes));
            }
            if let Some(step) = &h.step {
                let _ = write!(line, " | step {step}");
            }
            let _ = writeln!(out, "       {line}");
            if let Some(e) = &h.error {
                let _ = writeln!(out, "       error: {e}");
            }
        }
    }
    if !run.metrics.is_empty() {
        let _ = writeln!(out, "\nmetrics");
        for m in &run.metrics {
            let labels = if m.labels.is_empty() {
                String::new()
            } else {
                let inner: Vec<String> =
                    m.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                format!("{{{}}}", inner.join(","))
            };
            let _ = writeln!(out, "  {}{labels} {}", m.name, m.value);
        }
    }
    if !run.logs.is_empty() {
        let _ = writeln!(out, "\nlogs");
        for l in &run.logs {
            let source = match l.source {
                crate::record::LogSource::Log => "",
                crate::record::LogSource::Stdout => "stdout: ",
                crate::record::LogSource::Stderr => "stderr: ",
                crate::record::LogSource::Host => "vigil: ",
            };
            let _ = writeln!(
                out,
                "  {:>9} {:5} {source}{}",
                format!("+{}", format_duration(l.at)),
                l.level.as_str(),
                l.message
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{HttpExchange, Reason, Step};
    use std::time::SystemTime;

    #[test]
    fn failure_report_leads_with_outcome_and_reason() {
        let run = ProbeRun {
            probe: "checkout".into(),
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(42),
            outcome: Outcome::Failure,
            reason: Some(Reason::GuestError),
            message: Some("login: expected status 200, got 401".into()),
            steps: vec![Step {
                name: "login".into(),
                success: false,
                duration: Duration::from_millis(40),
                detail: "expected status 200, got 401".into(),
            }],
            metrics: vec![],
            logs: vec![],
            http: vec![HttpExchange {
                method: "POST".into(),
                url: "http://127.0.0.1:1/login".into(),
                status: Some(401),
                connect: Some(Duration::from_micros(200)),
                total: Some(Duration::from_millis(2)),
                ..Default::default()
            }],
            attempts: vec![],
        };
        let text = render(&run);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("probe    checkout"));
        assert_eq!(lines.next(), Some("outcome  FAILURE in 42.0ms"));
        assert_eq!(
            lines.next(),
            Some("reason   guest_error: login: expected status 200, got 401")
        );
        assert!(
            text.contains("  FAIL login     40.0ms  expected status 200, got 401"),
            "{text}"
        );
        assert!(
            text.contains("POST http://127.0.0.1:1/login -> 401"),
            "{text}"
        );
        assert!(text.contains("connect 200µs | total 2.0ms | 0 B"), "{text}");
    }
}
