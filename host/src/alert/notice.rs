//! What a notifier is told about one alert: [`Notice`], with Alertmanager's fingerprint and
//! Prometheus's `generatorURL`, so receivers can deduplicate and link back.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a notice says an alert fires or has resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The alert is firing.
    Firing,
    /// The alert has resolved.
    Resolved,
}

impl Status {
    /// `firing` or `resolved`, as in Alertmanager payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One alert as sent out. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Alertmanager's fingerprint of the labels (16 hex digits).
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: Status,
    /// Labels, external labels included.
    pub labels: BTreeMap<String, String>,
    /// Annotations, templates expanded.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: i64,
    /// When it resolved, or until when a firing alert is valid (Alertmanager resolves it
    /// then unless re-sent).
    pub ends_at: i64,
    /// Link to the rule's expression.
    pub generator_url: String,
    /// The value of the series that triggered it.
    pub value: f64,
}

impl Notice {
    /// `alertname`, or "" for a malformed alert.
    pub fn alertname(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// Alertmanager's fingerprint of a label set: FNV-1a 64 over the sorted names and values,
/// each followed by 0xff, as `model.LabelSet.Fingerprint` computes it, so the ids vigil
/// shows match the ones Alertmanager shows.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

/// `application/x-www-form-urlencoded` escaping of a query value.
pub fn query_escape(value: &str) -> String {
    let mut q = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                q.push(b as char)
            }
            b' ' => q.push('+'),
            _ => q.push_str(&format!("%{b:02X}")),
        }
    }
    q
}

/// Prometheus's link to an expression in its graph page, relative to `external_url`
/// (vigil answers `/graph` by evaluating the expression, so the link works against vigil
/// as it does against Prometheus).
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{external_url}/graph?g0.expr={}&g0.tab=1",
        query_escape(expr)
    )
}

/// RFC 3339 with milliseconds, UTC, as Alertmanager writes times.
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_alertmanager() {
        // The empty set hashes to FNV's offset basis, as in Prometheus's common/model; the
        // end-to-end Alertmanager test compares a real one with what Alertmanager reports.
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
        let ls = BTreeMap::from([
            ("alertname".to_string(), "ProbeDown".to_string()),
            ("probe".to_string(), "shop".to_string()),
        ]);
        let fp = fingerprint(&ls);
        assert_eq!(fp.len(), 16);
        // Order-independent by construction (BTreeMap), and sensitive to every byte.
        let mut other = ls.clone();
        other.insert("probe".into(), "shoq".into());
        assert_ne!(fingerprint(&other), fp);
    }

    #[test]
    fn generator_url_encodes_the_expression() {
        assert_eq!(
            generator_url("http://vigil:9464", "probe_success{probe=\"a b\"} == 0"),
            "http://vigil:9464/graph?g0.expr=probe_success%7Bprobe%3D%22a+b%22%7D+%3D%3D+0&g0.tab=1"
        );
    }
}
