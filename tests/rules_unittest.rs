//! `vigil test rules` on promtool's own test fixtures (`tests/fixtures/promtool/`): the same
//! verdict as `promtool test rules`, and output a promtool user recognises.

use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/promtool")
        .join(name)
}

/// Run one fixture: (passed, output).
fn run(name: &str) -> (bool, String) {
    let mut out = Vec::new();
    let passed = vigil::rules::unittest::run_files(&[fixture(name)], &mut out);
    (passed, String::from_utf8(out).unwrap())
}

fn assert_contains(output: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(output.contains(w), "missing {w:?} in:\n{output}");
    }
}

#[test]
fn unittest_yml_passes() {
    let (passed, out) = run("unittest.yml");
    assert!(passed, "{out}");
    assert!(out.starts_with("Unit Testing:  "), "{out}");
    assert!(out.ends_with("unittest.yml\n  SUCCESS\n\n"), "{out}");
}

#[test]
fn the_fixtures_promtool_passes_pass() {
    for name in [
        "at-modifier-test.yml",
        "negative-offset-test.yml",
        "long-period.yml",
    ] {
        let (passed, out) = run(name);
        assert!(passed, "{name}:\n{out}");
        assert!(out.contains("  SUCCESS\n"), "{out}");
    }
}

#[test]
fn failing_yml_fails_showing_expected_and_got() {
    let (passed, out) = run("failing.yml");
    assert!(!passed, "{out}");
    assert_contains(
        &out,
        &[
            "  FAILED:\n",
            // The expression test of the first group: 0 where 1 was expected.
            "    expr: \"test\", time: 0s,\n        exp: {__name__=\"test\"} 1E+00\n        got: {__name__=\"test\"} 0E+00\n",
            // Its alert test: an alert expected, none firing (no rule named Test).
            "    name: Failing test,\n    alertname: Test, time: 0s, \n        exp:[\n            0:\n              Labels:{alertname=\"Test\"}\n              Annotations:{}\n            ], \n        got:[]\n",
            // Second group: alerts firing where none were expected.
            "    name: Failing alert test,\n    alertname: InstanceDown, time: 5m, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"InstanceDown\", job=\"test\", severity=\"page\"}",
            "    alertname: AlwaysFiring, time: 5m, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"AlwaysFiring\"}\n              Annotations:{}\n            ]\n",
        ],
    );
    assert_eq!(out.matches("    alertname: ").count(), 3, "{out}");
    assert_eq!(out.matches("    expr: ").count(), 1, "{out}");
    // Each failure is followed by a blank line, the file by another.
    assert!(out.ends_with("            ]\n\n\n"), "{out}");
}

#[test]
fn bad_input_series_fails_naming_the_series() {
    let (passed, out) = run("bad-input-series.yml");
    assert!(!passed, "{out}");
    assert_contains(
        &out,
        &[
            "  FAILED:\n",
            "bad-input-series.yml:3:17: tests[0].input_series[0]: invalid series \"up{job=\\\"prometheus\\\", instance=\\\"localhost:9090\\\"\": unexpected end of input inside braces",
        ],
    );
}

#[test]
fn bad_promql_fails_with_the_query_error() {
    let (passed, out) = run("bad-promql.yml");
    assert!(!passed, "{out}");
    assert_contains(
        &out,
        &[
            "  FAILED:\n",
            "    expr: \"join_1 + on(a) join_2\", time: 0s, err: ",
            "many-to-many matching not allowed",
        ],
    );
}

#[test]
fn a_rule_that_cannot_be_evaluated_fails_the_test() {
    let (passed, out) = run("bad-rules-error-test.yml");
    assert!(!passed, "{out}");
    assert_contains(
        &out,
        &[
            "  FAILED:\n",
            "    rule: joined, time: 0s, err: ",
            "many-to-many matching not allowed",
        ],
    );
}

#[test]
fn a_rule_file_that_does_not_parse_fails_the_test() {
    let (passed, out) = run("bad-rules-syntax-test.yml");
    assert!(!passed, "{out}");
    assert_contains(
        &out,
        &[
            "  FAILED:\n",
            "bad-rules-syntax.yml:7:15: group \"bad-syntax\", rule 1, \"x\": could not parse expression",
        ],
    );
}

#[test]
fn several_files_report_each_and_fail_if_one_fails() {
    let mut out = Vec::new();
    let passed = vigil::rules::unittest::run_files(
        &[fixture("unittest.yml"), fixture("failing.yml")],
        &mut out,
    );
    let out = String::from_utf8(out).unwrap();
    assert!(!passed);
    assert_eq!(out.matches("Unit Testing:  ").count(), 2, "{out}");
    assert_contains(&out, &["  SUCCESS\n", "  FAILED:\n"]);
}

#[test]
fn group_eval_order_external_labels_and_fuzzy_compare() {
    let dir = std::env::temp_dir().join(format!("vigil-unittest-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/a.yml"),
        r#"groups:
  - name: late
    rules:
      - record: doubled
        expr: base * 2
  - name: early
    rules:
      - record: base
        expr: probe_success + 0.1
      - alert: Down
        expr: probe_success == 0
        for: 2m
        labels: { severity: page }
        annotations:
          summary: "{{ $labels.probe }} down in {{ $externalLabels.cluster }} ({{ $value }})"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("test.yml"),
        r#"rule_files: [rules/*.yml]
evaluation_interval: 30s
group_eval_order: [early, late]
fuzzy_compare: true
tests:
  - interval: 1m
    external_labels: { cluster: eu-1 }
    input_series:
      - series: probe_success{probe="shop"}
        values: 1 1 0x5
      - series: probe_success{probe="blog"}
        values: 1x7
    alert_rule_test:
      - eval_time: 3m
        alertname: Down
        exp_alerts: []
      - eval_time: 4m30s
        alertname: Down
        exp_alerts:
          - exp_labels: { probe: shop, severity: page }
            exp_annotations: { summary: "shop down in eu-1 (0)" }
    promql_expr_test:
      # Evaluated in group_eval_order, `doubled` sees the `base` of the same evaluation.
      - expr: doubled
        eval_time: 1m
        exp_samples:
          - labels: 'doubled{probe="blog"}'
            value: 2.2
          - labels: 'doubled{probe="shop"}'
            value: 2.2
      - expr: base{probe="shop"} + 0.2
        eval_time: 2m
        exp_samples:
          - labels: '{probe="shop"}'
            value: 0.3
"#,
    )
    .unwrap();
    let mut out = Vec::new();
    let passed = vigil::rules::unittest::run_files(&[dir.join("test.yml")], &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(passed, "{out}");

    // Without fuzzy_compare, 0.1 + 0.2 is not 0.3.
    let text = std::fs::read_to_string(dir.join("test.yml")).unwrap();
    std::fs::write(
        dir.join("exact.yml"),
        text.replace("fuzzy_compare: true", "fuzzy_compare: false"),
    )
    .unwrap();
    let mut out = Vec::new();
    let passed = vigil::rules::unittest::run_files(&[dir.join("exact.yml")], &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(!passed, "{out}");
    assert_contains(
        &out,
        &[
            "    expr: \"base{probe=\\\"shop\\\"} + 0.2\", time: 2m,\n        exp: {probe=\"shop\"} 3E-01\n        got: {probe=\"shop\"} 3.0000000000000004E-01\n",
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mistakes_in_a_test_file_are_reported_clearly() {
    let dir = std::env::temp_dir().join(format!("vigil-unittest-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "tests:\n  - interval: 1m\n    start_timestamp: 0\n",
            "t.yml:3:5: unknown field `start_timestamp`",
        ),
        (
            "tests:\n  - name: g\n    alert_rule_test:\n      - eval_time: 5m\n",
            "an item under alert_rule_test misses required attribute alertname at eval_time 5m (in TestGroup g)",
        ),
        (
            "tests:\n  - promql_expr_test:\n      - expr: '1'\n        exp_samples:\n          - labels: 'x{'\n",
            "    expr: \"1\", time: 0s, err: labels \"x{\": unexpected end of input inside braces",
        ),
        (
            "tests:\n  - input_series:\n      - series: up\n        values: 1 2+x3\n",
            "t.yml:4:17: tests[0].input_series[0]: invalid values of up: \"2+x3\": \"+\" is not a number",
        ),
        (
            "tests:\n  - promql_expr_test:\n      - expr: 'sum('\n",
            "    expr: \"sum(\", time: 0s, err: ",
        ),
        (
            "tests:\n  - promql_expr_test:\n      - expr: up\n        eval_time: 60\n",
            "t.yml:4:20: invalid duration \"60\"",
        ),
        (
            "group_eval_order: [a, a]\ntests: [{}]\n",
            "group name repeated in evaluation order: a",
        ),
    ];
    for (text, want) in cases {
        let path = dir.join("t.yml");
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        let passed = vigil::rules::unittest::run_files(&[path], &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(!passed, "{text}\n{out}");
        assert_contains(&out, &["  FAILED:\n", want]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_rule_files_warn_like_promtool() {
    let dir = std::env::temp_dir().join(format!("vigil-unittest-glob-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.yml");
    std::fs::write(
        &path,
        "rule_files: [nope/*.yml]\ntests:\n  - promql_expr_test:\n      - expr: vector(1)\n        exp_samples: [{value: 1}]\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let passed = vigil::rules::unittest::run_files(std::slice::from_ref(&path), &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(passed, "{out}");
    assert_contains(
        &out,
        &[
            "  WARNING: no file match pattern ",
            "nope/*.yml\n  SUCCESS\n",
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
