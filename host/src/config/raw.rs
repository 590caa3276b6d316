//! The YAML shape of `vigil.yaml`, as written by users. Strict: unknown keys are refused,
//! and values with their own syntax (durations, sizes, schedules) are checked while
//! parsing so their errors carry the file position.

use crate::schedule::Schedule;
use serde::{Deserialize, Deserializer, de::Error as _};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::time::Duration;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub probes: Vec<RawProbe>,
    #[serde(default)]
    pub rule_files: Vec<Spanned<String>>,
    #[serde(default)]
    pub slos: Vec<RawSlo>,
    #[serde(default)]
    pub notifiers: Vec<Spanned<RawNotifier>>,
}

/// `global:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobal {
    pub listen: Option<Spanned<String>>,
    pub state_dir: Option<String>,
    pub evaluation_interval: Option<Dur>,
    #[serde(default)]
    pub external_labels: std::collections::HashMap<Spanned<String>, String>,
    pub concurrency: Option<u32>,
    pub retention: Option<Dur>,
    pub runs_kept: Option<u32>,
    pub shutdown_grace: Option<Dur>,
    pub rule_query_timeout: Option<Dur>,
    pub rule_max_samples: Option<usize>,
    pub external_url: Option<String>,
    pub resend_delay: Option<Dur>,
}

/// One entry of `probes:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProbe {
    pub name: Spanned<String>,
    pub wasm: Spanned<String>,
    pub schedule: Spanned<Cron>,
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub labels: std::collections::HashMap<Spanned<String>, String>,
    #[serde(default)]
    pub config: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    #[serde(default)]
    pub limits: RawLimits,
}

/// `limits:` of a probe.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub memory: Option<Size>,
    pub cpu: Option<Dur>,
    pub log_bytes: Option<Size>,
    pub requests: Option<usize>,
    pub response_body: Option<Size>,
}

/// One entry of `slos:` (turned into rules by the rule engine).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlo {
    pub name: Spanned<String>,
    pub objective: f64,
    pub sli: Spanned<String>,
    pub window: Option<Dur>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One entry of `notifiers:`: a single key naming the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum RawNotifier {
    Alertmanager(RawNotifierCommon),
    Webhook(RawNotifierCommon),
    Slack(RawNotifierCommon),
    Pagerduty(RawNotifierCommon),
    Console(RawNotifierCommon),
}

/// Settings shared by every notifier kind. Kind-specific checks happen in `alert`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifierCommon {
    pub name: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default, rename = "match")]
    pub matchers: BTreeMap<String, String>,
    pub timeout: Option<Dur>,
    pub repeat_interval: Option<Dur>,
    pub bearer_token: Option<String>,
    pub basic_auth: Option<RawBasicAuth>,
    pub routing_key: Option<String>,
    pub channel: Option<String>,
}

/// `basic_auth:` of a notifier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub username: String,
    pub password: String,
}

/// A duration such as `10s`, checked while parsing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?.0;
        crate::units::parse_duration(&s)
            .map(Dur)
            .map_err(D::Error::custom)
    }
}

/// A byte size such as `64MiB`, checked while parsing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?.0;
        crate::units::parse_size(&s)
            .map(Size)
            .map_err(D::Error::custom)
    }
}

/// A schedule, checked while parsing.
#[derive(Debug, Clone)]
pub(crate) struct Cron(pub Schedule);

impl<'de> Deserialize<'de> for Cron {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Schedule::parse(&s).map(Cron).map_err(D::Error::custom)
    }
}

/// Any YAML scalar, kept as text: config values like `port: 8080` or `tls: true` are
/// handed to probes as strings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
