#!/usr/bin/env bash
# Rule evaluation: 1,000 alerting rules over 10,000 series, vigil next to Prometheus, on the
# same rule file and the same data. Results: docs/BENCHMARKS.md, section 4.
#
#   bench/rules_vs_prometheus.sh
#
# Environment:
#   PROMETHEUS=/usr/bin/prometheus   the Prometheus binary
#   BENCH_VIGIL_WARMUP=8             vigil: unmeasured evaluation rounds (one per 15 s step)
#   BENCH_ROUNDS=20                  vigil: measured rounds (each = all 10 groups)
#   BENCH_WARMUP=120                 Prometheus: seconds of evaluation before measuring
#   BENCH_SECONDS=180                Prometheus: measured seconds (~12 evaluations per group)
#   BENCH_TEMPLATES=1                0 = annotations without {{ }} actions (PromQL + alert
#                                    state only, no template expansion), in both systems
#   BENCH_BUILD=1                    0 = use the already-built target/release/rules_bench
#
# It installs nothing. It starts one Prometheus of its own on 127.0.0.1 (a free port, a
# fresh data directory in a temporary directory), feeds it over remote write, and stops it
# on exit. Nothing but 127.0.0.1 is contacted. Takes about 7 minutes: vigil, then
# Prometheus, then vigil again (the table uses the first vigil run; the last line shows the
# second, so a change in machine speed during the run shows).
set -euo pipefail
cd "$(dirname "$0")/.."

PROM=${PROMETHEUS:-/usr/bin/prometheus}
VWARM=${BENCH_VIGIL_WARMUP:-8}
ROUNDS=${BENCH_ROUNDS:-20}
WARMUP=${BENCH_WARMUP:-120}
SECS=${BENCH_SECONDS:-180}

if [[ ! -x $PROM ]]; then
    echo "Prometheus not found at $PROM." >&2
    echo "Install the Debian package:  sudo apt-get install -y prometheus" >&2
    echo "(then stop the service it may start: sudo systemctl disable --now prometheus)," >&2
    echo "or point PROMETHEUS at a prometheus binary." >&2
    exit 2
fi

if [[ ${BENCH_BUILD:-1} != 0 ]]; then
    echo "== building (release)" >&2
    cargo build --release -p vigil-bench --bin rules_bench >&2
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BENCH=${TARGET_DIR:-target}/release/rules_bench

WORK=$(mktemp -d)
PROM_PID=
cleanup() {
    if [[ -n $PROM_PID ]]; then
        kill "$PROM_PID" 2>/dev/null || true
        wait "$PROM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "== $("$PROM" --version 2>&1 | head -1)" >&2

if [[ ${BENCH_TEMPLATES:-1} != 0 ]]; then
    "$BENCH" rules "$WORK/rules.yml"
else
    echo "== annotations without templates" >&2
    "$BENCH" rules "$WORK/rules.yml" --no-templates
fi

# -- vigil ------------------------------------------------------------------------------------
echo "== vigil: $VWARM warm-up + $ROUNDS measured rounds" >&2
"$BENCH" vigil "$WORK/rules.yml" --warmup "$VWARM" --rounds "$ROUNDS" | tee "$WORK/vigil.txt"

# -- Prometheus -------------------------------------------------------------------------------
PORT=
for p in $(seq 19090 19190); do
    if ! port_in_use "$p"; then PORT=$p; break; fi
done
[[ -n $PORT ]] || { echo "no free port in 19090-19190" >&2; exit 1; }
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 15s
  evaluation_interval: 15s
rule_files:
  - $WORK/rules.yml
EOF
"$PROM" --config.file="$WORK/prometheus.yml" \
    --storage.tsdb.path="$WORK/data" \
    --storage.tsdb.retention.time=1d \
    --web.listen-address="127.0.0.1:$PORT" \
    --web.enable-remote-write-receiver \
    --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
echo "== Prometheus (pid $PROM_PID) on 127.0.0.1:$PORT: ${WARMUP}s warm-up + ${SECS}s measured" >&2
if ! timeout $((WARMUP + SECS + 180)) "$BENCH" prometheus --port "$PORT" --warmup "$WARMUP" --seconds "$SECS" \
    | tee "$WORK/prometheus.txt"; then
    echo "Prometheus run failed; its log:" >&2
    tail -20 "$WORK/prometheus.log" >&2
    exit 1
fi
kill "$PROM_PID" 2>/dev/null || true
wait "$PROM_PID" 2>/dev/null || true
PROM_PID=

# vigil once more, so that a change in machine speed during the run shows.
echo "== vigil again: $VWARM warm-up + $ROUNDS measured rounds" >&2
"$BENCH" vigil "$WORK/rules.yml" --warmup "$VWARM" --rounds "$ROUNDS" | tee "$WORK/vigil-again.txt"

echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo
"$BENCH" compare "$WORK/vigil.txt" "$WORK/prometheus.txt" "$WORK/vigil-again.txt"
