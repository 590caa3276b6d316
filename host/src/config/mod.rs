//! `vigil.yaml`: parsed strictly, validated once, turned into typed values.
//!
//! Nothing downstream re-checks strings: a [`Config`] holds parsed schedules, allow lists,
//! resolved secrets and absolute paths. Every problem is reported with the file, line and
//! column and what was expected, and all problems are reported at once, so a user fixes a
//! broken file in one pass. Paths in the file are relative to the file.

mod raw;

use crate::builtin::Builtin;
use crate::runtime::{AllowList, Limits, Secret};
use crate::schedule::Schedule;
use raw::{RawConfig, RawNotifier, RawProbe};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A position in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where, when known.
    pub location: Option<Location>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Where a probe's component comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeSource {
    /// A probe bundled in the binary.
    Builtin(&'static Builtin),
    /// A `.wasm` file (absolute path).
    File(PathBuf),
}

impl fmt::Display for ProbeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeSource::Builtin(b) => write!(f, "builtin:{}", b.name),
            ProbeSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One validated probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// Unique name, `[A-Za-z0-9_.-]+`.
    pub name: String,
    /// The component.
    pub source: ProbeSource,
    /// Where `wasm:` is written, to point load errors at.
    pub source_location: Location,
    /// When it runs (offset already applied).
    pub schedule: Schedule,
    /// Extra attempts within one tick when a run fails.
    pub retries: u32,
    /// Labels added to every sample of this probe.
    pub labels: BTreeMap<String, String>,
    /// The probe's `config:` map.
    pub config: BTreeMap<String, String>,
    /// Resolved secrets.
    pub secrets: BTreeMap<String, Secret>,
    /// Where it may connect.
    pub allow: AllowList,
    /// Caps, `timeout` included.
    pub limits: Limits,
}

/// `global:`, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// Address of the HTTP server (`/metrics`, API, status page).
    pub listen: SocketAddr,
    /// Where history, alert state and the outbox live.
    pub state_dir: PathBuf,
    /// Default interval of rule groups.
    pub evaluation_interval: Duration,
    /// Labels added to alerts sent out (as Prometheus's `external_labels`).
    pub external_labels: BTreeMap<String, String>,
    /// Most probe runs in flight at once.
    pub concurrency: usize,
    /// How long samples are kept; `None` = derived from the rules.
    pub retention: Option<Duration>,
    /// Recent run records kept per probe.
    pub runs_kept: usize,
    /// How long in-flight runs may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// A rule's query past this is stopped (that rule fails, the others go on).
    pub rule_query_timeout: Duration,
    /// A rule's query loading more samples than this fails.
    pub rule_max_samples: usize,
    /// Where people reach this vigil (links in alerts: `$externalURL`, `generatorURL`).
    pub external_url: String,
    /// Firing alerts are re-sent to Alertmanager this often (Prometheus's
    /// `--rules.alert.resend-delay`).
    pub resend_delay: Duration,
}

/// An SLO from `slos:` (checked further by the rule engine).
#[derive(Debug, Clone, PartialEq)]
pub struct SloConfig {
    /// Name, used in generated rule and alert names.
    pub name: String,
    /// Target in percent, e.g. 99.9.
    pub objective: f64,
    /// A success-ratio expression, or a probe name.
    pub sli: String,
    /// The SLO window.
    pub window: Duration,
    /// Labels on generated alerts.
    pub labels: BTreeMap<String, String>,
    /// Where it is defined.
    pub location: Location,
}

/// Where PagerDuty's Events API v2 takes events when a `pagerduty` notifier sets no `url`.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The kind of a notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifierKind {
    /// Alertmanager API v2.
    Alertmanager,
    /// Alertmanager-compatible webhook.
    Webhook,
    /// Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// One line per notification on standard output (demos, debugging).
    Console,
}

impl NotifierKind {
    /// Lowercase name, as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Alertmanager => "alertmanager",
            NotifierKind::Webhook => "webhook",
            NotifierKind::Slack => "slack",
            NotifierKind::Pagerduty => "pagerduty",
            NotifierKind::Console => "console",
        }
    }
}

/// A notifier from `notifiers:`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// Kind.
    pub kind: NotifierKind,
    /// Name (default: kind and position).
    pub name: String,
    /// Receiver URLs (several for an Alertmanager cluster).
    pub urls: Vec<String>,
    /// Only alerts whose labels equal all of these go here.
    pub matchers: BTreeMap<String, String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Re-notify still-firing alerts this often (webhook, Slack).
    pub repeat_interval: Duration,
    /// `Authorization: Bearer` value, resolved.
    pub bearer_token: Option<Secret>,
    /// Basic auth, password resolved.
    pub basic_auth: Option<(String, Secret)>,
    /// PagerDuty routing key, resolved.
    pub routing_key: Option<Secret>,
    /// Slack channel override.
    pub channel: Option<String>,
    /// Where it is defined.
    pub location: Location,
}

/// A whole validated config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Global settings.
    pub global: Global,
    /// Probes, in file order.
    pub probes: Vec<ProbeConfig>,
    /// Rule files, globs expanded, sorted.
    pub rule_files: Vec<PathBuf>,
    /// SLOs.
    pub slos: Vec<SloConfig>,
    /// Notifiers.
    pub notifiers: Vec<NotifierConfig>,
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                location: None,
                message: format!("cannot read {}: {e}", path.display()),
            }])
        })?;
        Config::parse(path, &text)
    }

    /// Validate config text; `path` names the file in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = parse_yaml(path, if text.trim().is_empty() { "{}" } else { text })?;
        Validator::new(path).validate(raw)
    }

    /// The probe named `name`.
    pub fn probe(&self, name: &str) -> Option<&ProbeConfig> {
        self.probes.iter().find(|p| p.name == name)
    }
}

/// Deserialize YAML strictly into `T`, turning errors into positioned [`ConfigErrors`].
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigErrors> {
    serde_saphyr::from_str(text).map_err(|e| ConfigErrors(vec![yaml_error(path, &e)]))
}

fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> ConfigError {
    // Library advice ("set DuplicateKeyPolicy in Options") means nothing to a user.
    let text = e
        .without_snippet()
        .to_string()
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    let location = e.location().map(|l| Location {
        file: path.to_path_buf(),
        line: l.line(),
        column: l.column(),
    });
    // The message ends with " at line L, column C"; we print the position in front.
    let message = match (&location, text.rfind(" at line ")) {
        (Some(_), Some(cut)) => text[..cut].to_string(),
        _ => text,
    };
    ConfigError { location, message }
}

struct Validator<'a> {
    path: &'a Path,
    dir: PathBuf,
    errors: Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    fn new(path: &'a Path) -> Self {
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        Validator {
            path,
            dir,
            errors: Vec::new(),
        }
    }

    fn loc(&self, l: &serde_saphyr::Location) -> Location {
        Location {
            file: self.path.to_path_buf(),
            line: l.line(),
            column: l.column(),
        }
    }

    fn error(&mut self, at: Option<Location>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            location: at,
            message: message.into(),
        });
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn validate(mut self, raw: RawConfig) -> Result<Config, ConfigErrors> {
        let global = self.global(raw.global);
        let mut probes = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        for p in raw.probes {
            let at = self.loc(&p.name.referenced);
            if let Some(first) = seen.get(&p.name.value) {
                self.error(
                    Some(at),
                    format!(
                        "duplicate probe name {:?} (first defined at line {first}); \
                         probe names must be unique",
                        p.name.value
                    ),
                );
                continue;
            }
            seen.insert(p.name.value.clone(), p.name.referenced.line());
            if let Some(probe) = self.probe(p) {
                probes.push(probe);
            }
        }
        let rule_files = self.rule_files(&raw.rule_files);
        let slos = raw.slos.into_iter().filter_map(|s| self.slo(s)).collect();
        let notifiers = raw
            .notifiers
            .into_iter()
            .enumerate()
            .filter_map(|(i, n)| self.notifier(i, n))
            .collect();
        if !self.errors.is_empty() {
            return Err(ConfigErrors(self.errors));
        }
        Ok(Config {
            path: self.path.to_path_buf(),
            global,
            probes,
            rule_files,
            slos,
            notifiers,
        })
    }

    fn global(&mut self, g: raw::RawGlobal) -> Global {
        let listen = match &g.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 9464)),
            Some(l) => {
                let text = l.value.trim();
                let text = if text.starts_with(':') {
                    format!("0.0.0.0{text}")
                } else {
                    text.replace("localhost:", "127.0.0.1:")
                };
                match text.parse() {
                    Ok(a) => a,
                    Err(_) => {
                        let at = self.loc(&l.referenced);
                        self.error(
                            Some(at),
                            format!(
                                "invalid listen address {:?}: expected IP:PORT such as \
                                 127.0.0.1:9464, or :9464 for all interfaces",
                                l.value
                            ),
                        );
                        SocketAddr::from(([127, 0, 0, 1], 9464))
                    }
                }
            }
        };
        let mut external_labels = BTreeMap::new();
        for (k, v) in g.external_labels {
            if !crate::runtime::valid_label_name(&k.value) {
                let at = self.loc(&k.referenced);
                self.error(Some(at), format!("invalid label name {:?}", k.value));
            }
            external_labels.insert(k.value, v);
        }
        Global {
            listen,
            state_dir: self.resolve(g.state_dir.as_deref().unwrap_or("state")),
            evaluation_interval: g
                .evaluation_interval
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(15)),
            external_labels,
            concurrency: g.concurrency.unwrap_or(64).max(1) as usize,
            retention: g.retention.map(|d| d.0),
            runs_kept: g.runs_kept.unwrap_or(50).max(1) as usize,
            shutdown_grace: g
                .shutdown_grace
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(10)),
            rule_query_timeout: g
                .rule_query_timeout
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(10)),
            rule_max_samples: g.rule_max_samples.unwrap_or(50_000_000),
            external_url: g
                .external_url
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("http://{listen}")),
            resend_delay: g
                .resend_delay
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(60))
                .max(Duration::from_millis(100)),
        }
    }

    fn probe(&mut self, p: RawProbe) -> Option<ProbeConfig> {
        let before = self.errors.len();
        let name_at = self.loc(&p.name.referenced);
        let name = p.name.value;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            self.error(
                Some(name_at.clone()),
                format!(
                    "invalid probe name {name:?}: use letters, digits, '_', '-' and '.' \
                     (it appears in URLs and labels)"
                ),
            );
        }
        let source_location = self.loc(&p.wasm.referenced);
        let source = if let Some(b) = p.wasm.value.strip_prefix("builtin:") {
            match crate::builtin::find(b) {
                Some(b) => Some(ProbeSource::Builtin(b)),
                None => {
                    self.error(
                        Some(source_location.clone()),
                        format!(
                            "unknown bundled probe {:?}; bundled probes are: {}",
                            p.wasm.value,
                            crate::builtin::names()
                        ),
                    );
                    None
                }
            }
        } else {
            let file = self.resolve(&p.wasm.value);
            if file.is_file() {
                Some(ProbeSource::File(file))
            } else {
                self.error(
                    Some(source_location.clone()),
                    format!(
                        "wasm file {} not found (paths are relative to {})",
                        file.display(),
                        self.dir.display()
                    ),
                );
                None
            }
        };
        let mut labels = BTreeMap::new();
        for (k, v) in p.labels {
            if !crate::runtime::valid_label_name(&k.value) || k.value == "probe" {
                let at = self.loc(&k.referenced);
                self.error(
                    Some(at),
                    format!(
                        "invalid label name {:?}: expected [a-zA-Z_][a-zA-Z0-9_]*, not \
                         starting with __ and not `probe` (vigil sets that one)",
                        k.value
                    ),
                );
            }
            labels.insert(k.value, v);
        }
        let mut secrets = BTreeMap::new();
        for (k, v) in p.secrets {
            if let Some(s) = self.secret(&v) {
                secrets.insert(k, s);
            }
        }
        let mut allow_entries = Vec::new();
        for a in &p.allow {
            match AllowList::parse(&[&a.value]) {
                Ok(_) => allow_entries.push(a.value.clone()),
                Err(e) => {
                    let at = self.loc(&a.referenced);
                    self.error(Some(at), e.to_string());
                }
            }
        }
        let allow = AllowList::parse(&allow_entries).unwrap_or_default();
        let defaults = Limits::default();
        let limits = Limits {
            timeout: p.timeout.map(|d| d.0).unwrap_or(defaults.timeout),
            cpu: p.limits.cpu.map(|d| d.0).unwrap_or(defaults.cpu),
            memory: p.limits.memory.map(|s| s.0).unwrap_or(defaults.memory),
            log_bytes: p
                .limits
                .log_bytes
                .map(|s| s.0 as usize)
                .unwrap_or(defaults.log_bytes),
            requests: p.limits.requests.unwrap_or(defaults.requests),
            response_body: p
                .limits
                .response_body
                .map(|s| s.0)
                .unwrap_or(defaults.response_body),
        };
        if limits.timeout.is_zero() {
            self.error(Some(name_at.clone()), "timeout must be more than 0s");
        }
        if self.errors.len() > before {
            return None;
        }
        Some(ProbeConfig {
            schedule: p.schedule.value.0.spread(&name),
            name,
            source: source?,
            source_location,
            retries: p.retries,
            labels,
            config: p.config.into_iter().map(|(k, v)| (k, v.0)).collect(),
            secrets,
            allow,
            limits,
        })
    }

    /// Resolve `env:NAME` or `file:PATH`.
    fn secret(&mut self, v: &Spanned<String>) -> Option<Secret> {
        let at = self.loc(&v.referenced);
        if let Some(var) = v.value.strip_prefix("env:") {
            match std::env::var(var) {
                Ok(val) => Some(Secret::new(val)),
                Err(_) => {
                    self.error(
                        Some(at),
                        format!("secret from env:{var}: environment variable {var} is not set"),
                    );
                    None
                }
            }
        } else if let Some(file) = v.value.strip_prefix("file:") {
            let path = self.resolve(file);
            match std::fs::read_to_string(&path) {
                Ok(val) => Some(Secret::new(val.trim_end_matches(['\n', '\r']))),
                Err(e) => {
                    self.error(
                        Some(at),
                        format!(
                            "secret from file:{file}: cannot read {}: {e}",
                            path.display()
                        ),
                    );
                    None
                }
            }
        } else {
            self.error(
                Some(at),
                "a secret must be env:VARIABLE or file:PATH (never the value itself, so \
                 it stays out of the config file)",
            );
            None
        }
    }

    fn rule_files(&mut self, globs: &[Spanned<String>]) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for g in globs {
            let pattern = self.resolve(&g.value);
            match glob::glob(&pattern.to_string_lossy()) {
                Ok(paths) => files.extend(paths.filter_map(Result::ok)),
                Err(e) => {
                    let at = self.loc(&g.referenced);
                    self.error(Some(at), format!("invalid glob {:?}: {e}", g.value));
                }
            }
        }
        files.sort();
        files.dedup();
        files
    }

    fn slo(&mut self, s: raw::RawSlo) -> Option<SloConfig> {
        let at = self.loc(&s.name.referenced);
        if !(s.objective > 0.0 && s.objective < 100.0) {
            self.error(
                Some(at.clone()),
                format!(
                    "SLO objective {} is not a percentage between 0 and 100 (e.g. 99.9)",
                    s.objective
                ),
            );
            return None;
        }
        if s.sli.value.trim().is_empty() {
            let sli_at = self.loc(&s.sli.referenced);
            self.error(
                Some(sli_at),
                "SLO sli must be a probe name or an expression",
            );
            return None;
        }
        Some(SloConfig {
            name: s.name.value,
            objective: s.objective,
            sli: s.sli.value,
            window: s
                .window
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(30 * 24 * 3600)),
            labels: s.labels,
            location: at,
        })
    }

    fn notifier(&mut self, index: usize, n: Spanned<RawNotifier>) -> Option<NotifierConfig> {
        let at = self.loc(&n.referenced);
        let (kind, c) = match n.value {
            RawNotifier::Alertmanager(c) => (NotifierKind::Alertmanager, c),
            RawNotifier::Webhook(c) => (NotifierKind::Webhook, c),
            RawNotifier::Slack(c) => (NotifierKind::Slack, c),
            RawNotifier::Pagerduty(c) => (NotifierKind::Pagerduty, c),
            RawNotifier::Console(c) => (NotifierKind::Console, c),
        };
        let mut urls = c.urls;
        urls.extend(c.url);
        let kind_name = kind.as_str();
        if kind == NotifierKind::Console && !urls.is_empty() {
            self.error(
                Some(at.clone()),
                "console notifier takes no `url`: it prints to standard output",
            );
            return None;
        }
        if urls.is_empty() && !matches!(kind, NotifierKind::Pagerduty | NotifierKind::Console) {
            self.error(
                Some(at.clone()),
                format!("{kind_name} notifier needs `url` (or `urls`)"),
            );
            return None;
        }
        // A URL can be a secret itself (Slack's webhook URLs are): env:NAME or file:PATH.
        for u in &mut urls {
            if u.starts_with("env:") || u.starts_with("file:") {
                let spanned = Spanned::new(
                    u.clone(),
                    serde_saphyr::Location::UNKNOWN,
                    serde_saphyr::Location::UNKNOWN,
                );
                let before = self.errors.len();
                let resolved = self.secret(&spanned);
                for e in &mut self.errors[before..] {
                    e.location = Some(at.clone());
                }
                *u = resolved?.expose().trim().to_string();
            }
        }
        for u in &urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                self.error(
                    Some(at.clone()),
                    format!("notifier url {u:?} must start with http:// or https://"),
                );
                return None;
            }
        }
        let mut resolve = |v: Option<String>| -> Option<Option<Secret>> {
            match v {
                None => Some(None),
                Some(v) => {
                    let spanned = Spanned::new(
                        v,
                        serde_saphyr::Location::UNKNOWN,
                        serde_saphyr::Location::UNKNOWN,
                    );
                    let before = self.errors.len();
                    let s = self.secret(&spanned);
                    for e in &mut self.errors[before..] {
                        e.location = Some(at.clone());
                    }
                    s.map(Some)
                }
            }
        };
        let bearer_token = resolve(c.bearer_token)?;
        let routing_key = resolve(c.routing_key)?;
        let basic_auth = match c.basic_auth {
            None => None,
            Some(b) => Some((b.username, resolve(Some(b.password))??)),
        };
        if kind == NotifierKind::Pagerduty && routing_key.is_none() {
            self.error(
                Some(at.clone()),
                "pagerduty notifier needs `routing_key` (env:NAME or file:PATH)",
            );
            return None;
        }
        if kind == NotifierKind::Pagerduty && urls.is_empty() {
            urls.push(PAGERDUTY_EVENTS_URL.to_string());
        }
        Some(NotifierConfig {
            kind,
            name: c
                .name
                .unwrap_or_else(|| format!("{kind_name}-{}", index + 1)),
            urls,
            matchers: c.matchers,
            timeout: c.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(10)),
            repeat_interval: c
                .repeat_interval
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(4 * 3600)),
            bearer_token,
            basic_auth,
            routing_key,
            channel: c.channel,
            location: at,
        })
    }
}

#[cfg(test)]
mod tests;
