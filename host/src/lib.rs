//! vigil: a synthetic-monitoring sidecar. It runs user-written probes as sandboxed
//! WebAssembly components, records every run, and (in later stages) turns runs into
//! Prometheus samples, evaluates alerting rules and delivers alerts.
//!
//! # Layout
//!
//! - [`runtime`]: wasmtime engine, component cache, sandbox (limits, allow list, captured
//!   stdio), the `vigil:probe/host` interface, timed wasi:http. In: component bytes and a
//!   [`runtime::RunSpec`]; out: a [`record::ProbeRun`].
//! - [`config`]: `vigil.yaml` parsed strictly into typed, validated values, with
//!   file:line:col errors.
//! - [`rules`]: Prometheus rule files, the alert state machine, templates (pure).
//! - [`promql`]: PromQL evaluation over the store (pure): parse with `promql-parser`,
//!   evaluate instant and range queries against a [`promql::Storage`], bounded by
//!   [`promql::Limits`].
//! - [`record`]: the [`record::ProbeRun`] value every later stage consumes.
//! - [`builtin`]: the probes bundled in the binary (`builtin:http`, `builtin:tcp`).
//! - [`report`]: the human-readable report of a run for the terminal.
//! - [`schedule`]: cron and `@every` schedules with a stable per-probe offset (pure).
//! - [`store`]: samples in per-series ring buffers, persisted to SQLite; recent runs.
//! - [`units`]: durations and byte sizes as people write them.
//! - [`daemon`]: the running service: active config, one scheduler task per probe, runs
//!   with retries under a concurrency limit, reloads that succeed whole or change nothing.
//! - [`server`]: `/metrics`, `/healthz`, `/readyz`, the JSON API, `/-/reload`.
//! - [`telemetry`]: vigil's own metrics and the exposition formats.
//! - [`watch`]: reload when the config, rule or probe files change.
//! - [`cli`]: the `vigil` command line.

pub mod alert;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod promql;
pub mod record;
pub mod report;
pub mod rules;
pub mod runtime;
pub mod scaffold;
pub mod schedule;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod units;
pub mod watch;
