//! The `vigil:probe/host` interface as plain Rust functions: steps, config, secrets,
//! metrics and the degraded flag. (Logging lives in [`crate::log`].)
//!
//! Every call records into the current run and returns at once; none of them fail.

use crate::bindings::vigil::probe::host as raw;
use crate::{Error, Result};

/// Run `body` as the named step of the scenario and return what it returns.
///
/// vigil times the step from start to end and records
/// `probe_step_success{step="NAME"}` / `probe_step_duration_seconds{step="NAME"}`;
/// HTTP requests made inside are attributed to it. When `body` fails, the step is
/// ended as failed with the error message as its detail, and the error is returned
/// with the step name in front (`"login: ..."`), so the run's failure says where it
/// happened. Steps nest: an error from an inner step reads `"checkout: payment: ..."`.
///
/// ```no_run
/// use vigil_guest::{http, step};
///
/// fn run() -> vigil_guest::Result<()> {
///     let body = step("fetch", || {
///         let resp = http::get("http://127.0.0.1:8080/").send()?;
///         resp.expect_status(200)?;
///         Ok(resp.text())
///     })?;
///     vigil_guest::info!("got {} bytes", body.len());
///     Ok(())
/// }
/// vigil_guest::probe!(run);
/// ```
pub fn step<T>(name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    raw::step_start(name);
    let result = body();
    match &result {
        Ok(_) => raw::step_end(true, ""),
        Err(e) => raw::step_end(false, e.message()),
    }
    result.map_err(|e| e.context(name))
}

/// The value of `key` in the probe's `config:` map, or `None` when it is not set.
pub fn config(key: &str) -> Option<String> {
    raw::config(key)
}

/// The value of `key` in the probe's `config:` map, or `default` when it is not set.
pub fn config_or(key: &str, default: &str) -> String {
    raw::config(key).unwrap_or_else(|| default.to_owned())
}

/// The value of `key` in the probe's `config:` map; an error naming the key when it is
/// missing or empty.
///
/// The error reads ``missing config key `url`: set it under the probe's `config:` in
/// vigil.yaml (or `--set url=...`)``.
pub fn require_config(key: &str) -> Result<String> {
    match raw::config(key) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(Error::msg(format!(
            "config key `{key}` is empty: give it a value under the probe's `config:` in \
             vigil.yaml (or `--set {key}=...`)"
        ))),
        None => Err(Error::msg(format!(
            "missing config key `{key}`: set it under the probe's `config:` in vigil.yaml \
             (or `--set {key}=...`)"
        ))),
    }
}

/// The secret called `name`, or `None` when this probe was given no such secret.
///
/// Secrets are only those listed under the probe's `secrets:` in vigil.yaml; vigil keeps
/// them out of logs, records and the API. Do not log them yourself.
pub fn secret(name: &str) -> Option<String> {
    raw::secret(name)
}

/// The secret called `name`; an error naming it when this probe was given no such
/// secret.
pub fn require_secret(name: &str) -> Result<String> {
    raw::secret(name).ok_or_else(|| {
        Error::msg(format!(
            "missing secret `{name}`: give it to this probe under `secrets:` in vigil.yaml \
             (or `--secret {name}=...`)"
        ))
    })
}

/// Record a custom sample, e.g. `metric("cart_items", 3.0, &[("shop", "eu")])`.
///
/// `name` must be a valid Prometheus metric name and label names valid label names;
/// vigil drops invalid ones with a warning in the run's log. The sample also gets the
/// probe's own labels. Recording the same name and labels twice keeps the last value.
pub fn metric(name: &str, value: f64, labels: &[(&str, &str)]) {
    let labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    raw::metric(name, value, &labels);
}

/// Mark this run as degraded: the scenario worked, but not well.
///
/// If `run` then returns `Ok`, the outcome is `degraded` instead of `success`, with
/// `reason` as the explanation (the last call wins); `probe_success` stays 1 and
/// `probe_degraded` becomes 1. If `run` fails, the failure wins.
pub fn degraded(reason: impl AsRef<str>) {
    raw::degraded(reason.as_ref());
}
