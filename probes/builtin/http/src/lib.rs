//! `builtin:http` — the probe vigil bundles for "is this URL answering properly?".
//!
//! One request inside one step named `http`, configured entirely from the probe's
//! `config:` map:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `url` | the URL to request (required) | |
//! | `method` | HTTP method | `GET` |
//! | `headers` | `Name: value` lines, or a JSON object `{"Name": "value"}` | none |
//! | `body` | request body (text) | none |
//! | `expect_status` | accepted statuses: `200`, `2xx`, `200,204`, `200-299` (combinable) | any 2xx |
//! | `body_contains` | text the response body must contain | |
//! | `max_latency` | slower than this (`500ms`, `2s`) marks the run degraded, not failed | |
//!
//! It records the metric `http_body_bytes` (size of the response body) and logs one line
//! per run. A wrong status or a missing text fails the run with a message naming the
//! request, what was expected and the start of the body.

use std::fmt;

use vigil_guest::http::{self, Method};
use vigil_guest::serde_json::Value;
use vigil_guest::{Context, Error, Result, config, step};

fn run() -> Result<()> {
    step("http", check)
}

vigil_guest::probe!(run);

/// Read the config, make the request, judge the response.
fn check() -> Result<()> {
    let url = vigil_guest::require_config("url")?;
    let method: Method = vigil_guest::config_or("method", "GET")
        .parse()
        .context("config `method`")?;
    let headers = match config("headers") {
        Some(text) => parse_headers(&text).context("config `headers`")?,
        None => Vec::new(),
    };
    let expect_status = match config("expect_status") {
        Some(text) => StatusSet::parse(&text).context("config `expect_status`")?,
        None => StatusSet::any_2xx(),
    };
    let max_latency = match config("max_latency") {
        Some(text) => Some((
            text.trim().to_owned(),
            vigil_guest::parse_duration(&text).context("config `max_latency`")?,
        )),
        None => None,
    };
    let body_contains = config("body_contains");

    let mut request = http::request(method, &url).headers(headers);
    if let Some(body) = config("body") {
        request = request.body(body);
    }
    let resp = request.send()?;

    let latency = resp.elapsed();
    vigil_guest::metric("http_body_bytes", resp.body().len() as f64, &[]);
    vigil_guest::info!(
        "{} {} -> {} in {}ms ({} bytes)",
        resp.method(),
        resp.url(),
        resp.status(),
        latency.as_millis(),
        resp.body().len()
    );

    if !expect_status.contains(resp.status()) {
        return Err(resp.fail(format!(
            "expected status {expect_status}, got {}",
            resp.status()
        )));
    }
    if let Some(needle) = body_contains {
        resp.expect_body_contains(&needle)?;
    }
    if let Some((text, max)) = max_latency
        && latency > max
    {
        vigil_guest::degraded(format!(
            "latency {}ms over max_latency {text}",
            latency.as_millis()
        ));
    }
    Ok(())
}

/// Parse `headers`: a JSON object (`{"Accept": "text/html"}`; a list value sends the
/// header once per item) or `Name: value` lines (blank lines and `#` comments skipped).
fn parse_headers(text: &str) -> Result<Vec<(String, String)>> {
    let text = text.trim();
    if text.starts_with('{') {
        let object: vigil_guest::serde_json::Map<String, Value> =
            vigil_guest::serde_json::from_str(text)
                .map_err(|e| Error::msg(format!("not a valid JSON object: {e}")))?;
        let mut headers = Vec::new();
        for (name, value) in object {
            match value {
                Value::String(s) => headers.push((name, s)),
                Value::Number(n) => headers.push((name, n.to_string())),
                Value::Bool(b) => headers.push((name, b.to_string())),
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::String(s) => headers.push((name.clone(), s)),
                            other => {
                                return Err(Error::msg(format!(
                                    "header `{name}`: list items must be strings, got {other}"
                                )));
                            }
                        }
                    }
                }
                other => {
                    return Err(Error::msg(format!(
                        "header `{name}`: value must be a string, got {other}"
                    )));
                }
            }
        }
        return Ok(headers);
    }
    let mut headers = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Error::msg(format!(
                "line {}: `{line}` is not `Name: value`",
                index + 1
            )));
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::msg(format!(
                "line {}: `{name}` is not a header name",
                index + 1
            )));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}

/// The statuses that count as success, as the user wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatusSet {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl StatusSet {
    /// 200–299, shown as `2xx`.
    fn any_2xx() -> StatusSet {
        StatusSet {
            ranges: vec![(200, 299)],
            text: "2xx".to_owned(),
        }
    }

    /// `200`, `2xx`, `200-299`, or a comma-separated list of those.
    fn parse(text: &str) -> Result<StatusSet> {
        let mut ranges = Vec::new();
        let mut shown = Vec::new();
        for item in text.split(',').map(str::trim) {
            let invalid = || {
                Error::msg(format!(
                    "`{item}` is not a status (write e.g. 200, 2xx, 200,204 or 200-299)"
                ))
            };
            let code = |s: &str| {
                s.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(invalid)
            };
            let range =
                if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX")) {
                    let class = class.parse::<u16>().ok().filter(|c| (1..=5).contains(c));
                    let class = class.ok_or_else(invalid)?;
                    (class * 100, class * 100 + 99)
                } else if let Some((low, high)) = item.split_once('-') {
                    let (low, high) = (code(low)?, code(high)?);
                    if low > high {
                        return Err(Error::msg(format!("`{item}`: {low} is above {high}")));
                    }
                    (low, high)
                } else {
                    let c = code(item)?;
                    (c, c)
                };
            ranges.push(range);
            shown.push(item.to_owned());
        }
        Ok(StatusSet {
            ranges,
            text: shown.join(","),
        })
    }

    fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&status))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets() {
        let set = StatusSet::parse("200, 204").unwrap();
        assert!(set.contains(204) && !set.contains(201));
        assert_eq!(set.to_string(), "200,204");

        let set = StatusSet::parse("2xx,301-302").unwrap();
        assert!(set.contains(299) && set.contains(302) && !set.contains(303));

        assert!(StatusSet::any_2xx().contains(200));
        assert_eq!(StatusSet::any_2xx().to_string(), "2xx");

        for bad in ["", "abc", "6xx", "700", "299-200", "2x"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            StatusSet::parse("20O").unwrap_err().to_string(),
            "`20O` is not a status (write e.g. 200, 2xx, 200,204 or 200-299)"
        );
    }

    #[test]
    fn header_lines_and_json() {
        let lines = parse_headers("Accept: text/html\r\n\n# comment\nX-Token: a:b\n").unwrap();
        assert_eq!(
            lines,
            vec![
                ("Accept".to_owned(), "text/html".to_owned()),
                ("X-Token".to_owned(), "a:b".to_owned()),
            ]
        );
        let json =
            parse_headers(r#"{"Accept": "text/html", "X-N": 3, "X-M": ["a", "b"]}"#).unwrap();
        assert_eq!(json.len(), 4);
        assert!(json.contains(&("X-N".to_owned(), "3".to_owned())));

        assert_eq!(
            parse_headers("Accept text/html").unwrap_err().to_string(),
            "line 1: `Accept text/html` is not `Name: value`"
        );
        assert!(parse_headers(r#"{"A": {"b": 1}}"#).is_err());
    }
}
