//! Label sets: the identity of a series, `__name__` included, sorted by label name.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A sorted set of label pairs. Empty values are dropped: in Prometheus an empty label
/// is the same as an absent one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Labels(Vec<(String, String)>);

/// The label that holds the metric name.
pub const NAME: &str = "__name__";

impl Labels {
    /// Build from a metric name and other pairs.
    pub fn from_pairs<'a, I>(name: &str, pairs: I) -> Labels
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut v: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.push((NAME.to_string(), name.to_string()));
        Labels::from_vec(v)
    }

    /// Build from owned pairs (any order; later duplicates win).
    pub fn from_vec(mut v: Vec<(String, String)>) -> Labels {
        v.retain(|(_, val)| !val.is_empty());
        // Stable sort keeps insertion order among equal names, so dedup keeps the last.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        Labels(out)
    }

    /// The metric name (`__name__`), empty when there is none.
    pub fn name(&self) -> &str {
        self.get(NAME).unwrap_or("")
    }

    /// The value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// All pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy with `name` set (or removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v = self.0.clone();
        v.push((name.to_string(), value.to_string()));
        if value.is_empty() {
            v.retain(|(k, _)| k != name);
        }
        Labels::from_vec(v)
    }

    /// A copy without `__name__`.
    pub fn without_name(&self) -> Labels {
        Labels(self.0.iter().filter(|(k, _)| k != NAME).cloned().collect())
    }

    /// The pairs, for callers that rebuild label sets.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

/// Escape a label value for the text exposition format.
pub fn escape_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl fmt::Display for Labels {
    /// `name{a="1",b="2"}`, as in the exposition format and PromQL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let rest: Vec<_> = self.0.iter().filter(|(k, _)| k != NAME).collect();
        if rest.is_empty() && !self.name().is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let mut escaped = String::new();
            escape_value(v, &mut escaped);
            write!(f, "{k}=\"{escaped}\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_empty_values_dropped() {
        let l = Labels::from_vec(vec![
            ("b".into(), "2".into()),
            ("a".into(), "1".into()),
            ("b".into(), "3".into()),
            ("c".into(), String::new()),
        ]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "3")]);
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn display_matches_promql() {
        let l = Labels::from_pairs("probe_success", [("probe", "check\"out"), ("team", "a")]);
        assert_eq!(
            l.to_string(),
            r#"probe_success{probe="check\"out", team="a"}"#
        );
        assert_eq!(Labels::from_pairs("up", []).to_string(), "up");
        assert_eq!(
            l.without_name().to_string(),
            r#"{probe="check\"out", team="a"}"#
        );
        assert_eq!(l.with("team", "").get("team"), None);
    }
}
