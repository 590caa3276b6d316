use super::*;

/// A scratch directory with a probe file, so `wasm:` paths can exist.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("probes")).unwrap();
    std::fs::write(dir.join("probes/checkout.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.join("password.txt"), "s3cret\n").unwrap();
    dir
}

fn parse(dir: &Path, text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(&dir.join("vigil.yaml"), text)
}

fn errors(dir: &Path, text: &str) -> Vec<String> {
    parse(dir, text)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_design_example_parses_with_paths_relative_to_the_file() {
    let dir = scratch("design");
    // SAFETY: tests in this module use distinct variable names.
    unsafe { std::env::set_var("VIGIL_TEST_SHOP_PASSWORD", "hunter2") };
    let cfg = parse(
        &dir,
        r#"
global: { evaluation_interval: 15s, state_dir: ./state, listen: 127.0.0.1:9464 }
probes:
  - name: checkout
    wasm: probes/checkout.wasm
    schedule: "*/30 * * * * *"
    timeout: 10s
    retries: 1
    labels: { service: shop, team: payments }
    config: { base_url: "http://127.0.0.1:8080", port: 8080, tls: false }
    secrets: { password: env:VIGIL_TEST_SHOP_PASSWORD, other: file:password.txt }
    allow: ["127.0.0.1:8080", "api.example.com:443"]
    limits: { memory: 64MiB, cpu: 2s }
  - name: home
    wasm: builtin:http
    schedule: "@every 1m"
rule_files: [rules/*.yaml]
slos:
  - name: checkout-availability
    objective: 99.9
    sli: checkout
notifiers:
  - alertmanager: { url: http://127.0.0.1:9093 }
  - webhook: { url: https://hooks.example.com/vigil }
"#,
    )
    .unwrap();
    let dir = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(cfg.global.state_dir, dir.join("./state"));
    assert_eq!(cfg.global.evaluation_interval, Duration::from_secs(15));
    let p = cfg.probe("checkout").unwrap();
    assert_eq!(
        p.source,
        ProbeSource::File(dir.join("probes/checkout.wasm"))
    );
    assert_eq!(p.retries, 1);
    assert_eq!(p.limits.memory, 64 << 20);
    assert_eq!(p.limits.timeout, Duration::from_secs(10));
    assert_eq!(p.config["port"], "8080");
    assert_eq!(p.config["tls"], "false");
    assert_eq!(p.secrets["password"].expose(), "hunter2");
    assert_eq!(p.secrets["other"].expose(), "s3cret");
    assert!(p.allow.allows_name("api.example.com", 443));
    assert_eq!(p.schedule.expr(), "*/30 * * * * *");
    assert!(p.schedule.offset() < Duration::from_secs(30));
    let home = cfg.probe("home").unwrap();
    assert!(matches!(home.source, ProbeSource::Builtin(b) if b.name == "http"));
    assert_eq!(home.limits, Limits::default());
    assert_eq!(cfg.slos[0].objective, 99.9);
    assert_eq!(cfg.notifiers[0].kind, NotifierKind::Alertmanager);
    assert_eq!(cfg.notifiers[1].urls, ["https://hooks.example.com/vigil"]);
}

#[test]
fn an_empty_file_is_a_valid_config_with_defaults() {
    let dir = scratch("empty");
    let cfg = parse(&dir, "").unwrap();
    assert!(cfg.probes.is_empty());
    assert_eq!(cfg.global.listen.to_string(), "127.0.0.1:9464");
    assert_eq!(cfg.global.concurrency, 64);
}

#[test]
fn unknown_keys_are_refused_with_position_and_expected_keys() {
    let dir = scratch("unknown");
    let errs = errors(
        &dir,
        "probes:\n  - name: a\n    wasm: builtin:http\n    schedule: '@every 10s'\n    retry: 2\n",
    );
    assert_eq!(errs.len(), 1);
    let e = &errs[0];
    assert!(
        e.contains("vigil.yaml:5:5: unknown field `retry`, expected one of"),
        "{e}"
    );
    assert!(e.contains("retries"), "{e}");
}

#[test]
fn bad_duration_size_and_cron_point_at_the_value() {
    let dir = scratch("values");
    let e = errors(
        &dir,
        "probes:\n  - name: a\n    wasm: builtin:http\n    schedule: '@every 10s'\n    timeout: 10 parsecs\n",
    );
    assert!(
        e[0].contains("vigil.yaml:5:14: invalid duration \"10 parsecs\""),
        "{e:?}"
    );
    assert!(e[0].contains("expected e.g. 500ms"), "{e:?}");

    let e = errors(
        &dir,
        "probes:\n  - name: a\n    wasm: builtin:http\n    schedule: '@every 10s'\n    limits: { memory: lots }\n",
    );
    assert!(
        e[0].contains("vigil.yaml:5:23: invalid size \"lots\""),
        "{e:?}"
    );

    let e = errors(
        &dir,
        "probes:\n  - name: a\n    wasm: builtin:http\n    schedule: '61 * * * * *'\n",
    );
    assert!(
        e[0].contains("vigil.yaml:4:15: invalid schedule \"61 * * * * *\""),
        "{e:?}"
    );
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let dir = scratch("semantic");
    let errs = errors(
        &dir,
        r#"probes:
  - name: a
    wasm: probes/missing.wasm
    schedule: "@every 10s"
  - name: b
    wasm: builtin:nope
    schedule: "@every 10s"
    allow: ["example.com"]
  - name: a
    wasm: builtin:http
    schedule: "@every 10s"
  - name: "bad name!"
    wasm: builtin:http
    schedule: "@every 10s"
    labels: { __reserved: x }
    secrets: { pw: hunter2 }
"#,
    );
    let all = errs.join("\n");
    assert!(all.contains("vigil.yaml:3:11: wasm file"), "{all}");
    assert!(all.contains("probes/missing.wasm not found"), "{all}");
    assert!(
        all.contains("vigil.yaml:6:11: unknown bundled probe \"builtin:nope\""),
        "{all}"
    );
    assert!(
        all.contains("vigil.yaml:8:13: invalid allow entry \"example.com\""),
        "{all}"
    );
    assert!(
        all.contains("vigil.yaml:9:11: duplicate probe name \"a\" (first defined at line 2)"),
        "{all}"
    );
    assert!(
        all.contains("vigil.yaml:12:11: invalid probe name \"bad name!\""),
        "{all}"
    );
    assert!(
        all.contains("vigil.yaml:15:15: invalid label name \"__reserved\""),
        "{all}"
    );
    assert!(
        all.contains("vigil.yaml:16:20: a secret must be env:VARIABLE or file:PATH"),
        "{all}"
    );
    assert_eq!(errs.len(), 7, "{all}");
}

#[test]
fn missing_secret_sources_are_named() {
    let dir = scratch("secrets");
    let errs = errors(
        &dir,
        "probes:\n  - name: a\n    wasm: builtin:http\n    schedule: '@every 10s'\n    secrets: { a: env:VIGIL_TEST_SURELY_UNSET, b: file:nope.txt }\n",
    );
    let all = errs.join("\n");
    assert!(
        all.contains("environment variable VIGIL_TEST_SURELY_UNSET is not set"),
        "{all}"
    );
    assert!(
        all.contains("secret from file:nope.txt: cannot read"),
        "{all}"
    );
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let dir = scratch("syntax");
    let errs = errors(&dir, "probes:\n  - name: [a\n");
    assert!(
        errs[0].starts_with(&format!("{}:", dir.join("vigil.yaml").display())),
        "{errs:?}"
    );
}

#[test]
fn rule_file_globs_are_expanded_relative_to_the_config() {
    let dir = scratch("globs");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/b.yaml"), "groups: []").unwrap();
    std::fs::write(dir.join("rules/a.yaml"), "groups: []").unwrap();
    let cfg = parse(&dir, "rule_files: [rules/*.yaml]\n").unwrap();
    let names: Vec<_> = cfg
        .rule_files
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["a.yaml", "b.yaml"]);
}

#[test]
fn notifiers_need_what_they_send_to() {
    let dir = scratch("notifiers");
    let errs = errors(
        &dir,
        "notifiers:\n  - webhook: {}\n  - pagerduty: {}\n  - slack: { url: ftp://x }\n",
    );
    let all = errs.join("\n");
    assert!(
        all.contains("vigil.yaml:2:5: webhook notifier needs `url`"),
        "{all}"
    );
    assert!(
        all.contains("pagerduty notifier needs `routing_key`"),
        "{all}"
    );
    assert!(all.contains("must start with http:// or https://"), "{all}");
}

#[test]
fn console_pagerduty_defaults_and_secret_urls() {
    let dir = scratch("notifier-kinds");
    std::fs::write(
        dir.join("slack-url"),
        "https://hooks.slack.test/T0/B0/xyz\n",
    )
    .unwrap();
    std::fs::write(dir.join("pd-key"), "R0UT1NG\n").unwrap();
    let path = dir.join("vigil.yaml");
    std::fs::write(
        &path,
        format!(
            "notifiers:\n  - console: {{}}\n  - pagerduty: {{ routing_key: \"file:{0}/pd-key\" }}\n  - slack: {{ url: \"file:{0}/slack-url\" }}\n",
            dir.display()
        ),
    )
    .unwrap();
    let cfg = Config::load(&path).unwrap();
    let kinds: Vec<&str> = cfg.notifiers.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["console", "pagerduty", "slack"]);
    assert_eq!(cfg.notifiers[0].name, "console-1");
    assert!(cfg.notifiers[0].urls.is_empty());
    assert_eq!(cfg.notifiers[1].urls, [PAGERDUTY_EVENTS_URL]);
    assert_eq!(
        cfg.notifiers[2].urls,
        ["https://hooks.slack.test/T0/B0/xyz"]
    );
    assert_eq!(cfg.global.resend_delay, Duration::from_secs(60));
    let errs = errors(
        &dir,
        "notifiers:\n  - console: { url: http://x }\n  - slack: { url: env:VIGIL_TEST_UNSET_URL }\n",
    );
    let all = errs.join("\n");
    assert!(
        all.contains("vigil.yaml:2:5: console notifier takes no `url`"),
        "{all}"
    );
    assert!(
        all.contains("vigil.yaml:3:5: secret from env:VIGIL_TEST_UNSET_URL"),
        "{all}"
    );
}
