#!/usr/bin/env bash
# HTTP probes per CPU-second: vigil's builtin:http next to Prometheus's blackbox_exporter,
# against the same local target, in the same run. Results: docs/BENCHMARKS.md.
#
#   bench/http_vs_blackbox.sh
#
# Environment:
#   BENCH_SECONDS=10          measured seconds per (prober, concurrency)
#   BENCH_WARMUP=2            unmeasured warm-up seconds before each measurement
#   BENCH_CONCURRENCY="1 64"  concurrency levels
#   BENCH_THREADS=$(nproc)    vigil's tokio worker threads and blackbox_exporter's GOMAXPROCS
#   BLACKBOX_EXPORTER=/usr/bin/prometheus-blackbox-exporter
#   BENCH_BUILD=1             0 = use the already-built target/release binaries as they are
#
# It installs nothing. It starts a target server and a blackbox_exporter of its own, both
# on 127.0.0.1 only, and stops them on exit. Nothing else is ever contacted.
set -euo pipefail
cd "$(dirname "$0")/.."

BB=${BLACKBOX_EXPORTER:-/usr/bin/prometheus-blackbox-exporter}
SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
LEVELS=${BENCH_CONCURRENCY:-"1 64"}
THREADS=${BENCH_THREADS:-$(nproc)}

if [[ ! -x $BB ]]; then
    echo "blackbox_exporter not found at $BB." >&2
    echo "Install the Debian package:  sudo apt-get install -y prometheus-blackbox-exporter" >&2
    echo "(then stop the service it may start: sudo systemctl disable --now prometheus-blackbox-exporter)," >&2
    echo "or point BLACKBOX_EXPORTER at a blackbox_exporter binary." >&2
    exit 2
fi

if [[ ${BENCH_BUILD:-1} != 0 ]]; then
    echo "== building (release)" >&2
    cargo build --release -p vigil-bench >&2
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN=${TARGET_DIR:-target}/release

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait (at most 10 s) until FILE has a line matching REGEX; fail if PID dies first.
wait_for_line() {
    local file=$1 regex=$2 pid=$3
    for _ in $(seq 100); do
        grep -Eq "$regex" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# -- target ---------------------------------------------------------------------------------
"$BIN/target-server" 0 --threads 2 --max-seconds 3600 >"$WORK/target.out" 2>&1 &
PIDS+=($!)
TARGET_PID=$!
wait_for_line "$WORK/target.out" '^listening on 127\.0\.0\.1:[0-9]+$' "$TARGET_PID" ||
    { echo "target-server did not start:" >&2; cat "$WORK/target.out" >&2; exit 1; }
TPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/target.out")
TARGET="http://127.0.0.1:$TPORT/"

# -- blackbox_exporter ----------------------------------------------------------------------
cat >"$WORK/blackbox.yml" <<'EOF'
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
EOF
BBPORT=
for _ in $(seq 20); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" && continue
    GOMAXPROCS=$THREADS "$BB" --config.file="$WORK/blackbox.yml" --web.listen-address="127.0.0.1:$p" \
        --log.level=warn >"$WORK/blackbox.log" 2>&1 &
    bbpid=$!
    # Ready = the port accepts connections (and the process is still ours).
    for _ in $(seq 100); do
        if kill -0 "$bbpid" 2>/dev/null && port_in_use "$p"; then BBPORT=$p; break; fi
        kill -0 "$bbpid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -n $BBPORT ]]; then PIDS+=("$bbpid"); BB_PID=$bbpid; break; fi
    kill "$bbpid" 2>/dev/null || true
    wait "$bbpid" 2>/dev/null || true
done
[[ -n $BBPORT ]] || { echo "blackbox_exporter did not start:" >&2; cat "$WORK/blackbox.log" >&2; exit 1; }

echo "== target $TARGET (pid $TARGET_PID), blackbox_exporter 127.0.0.1:$BBPORT (pid $BB_PID)" >&2
echo "== $("$BB" --version 2>&1 | head -1)" >&2
echo "== ${SECS}s measured + ${WARMUP}s warm-up per prober and concurrency; $(nproc) CPUs;" \
    "vigil tokio workers = blackbox GOMAXPROCS = $THREADS" >&2

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

ROWS=()
for c in $LEVELS; do
    echo "-- concurrency $c: vigil" >&2
    v=$("$BIN/load" vigil --target "$TARGET" --concurrency "$c" --seconds "$SECS" \
        --warmup "$WARMUP" --threads "$THREADS" | grep '^RESULT')
    echo "   $v" >&2
    echo "-- concurrency $c: blackbox_exporter" >&2
    b=$("$BIN/load" blackbox --target "$TARGET" --exporter "127.0.0.1:$BBPORT" --pid "$BB_PID" \
        --concurrency "$c" --seconds "$SECS" --warmup "$WARMUP" --threads "$THREADS" | grep '^RESULT')
    echo "   $b" >&2
    ROWS+=("$c $(field per_cpu_s "$v") $(field per_cpu_s "$b") $(field per_wall_s "$v") $(field per_wall_s "$b") $(field p50_ms "$v") $(field p50_ms "$b")")
done

echo
printf '%-11s | %18s | %21s | %6s | %16s | %19s | %12s | %15s\n' \
    concurrency "vigil probes/CPU-s" "blackbox probes/CPU-s" ratio "vigil probes/s" "blackbox probes/s" "vigil p50 ms" "blackbox p50 ms"
printf '%s\n' "------------|--------------------|-----------------------|--------|------------------|---------------------|--------------|----------------"
for row in "${ROWS[@]}"; do
    read -r c vc bc vw bw vp bp <<<"$row"
    ratio=$(awk -v a="$vc" -v b="$bc" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
    printf '%-11s | %18s | %21s | %6s | %16s | %19s | %12s | %15s\n' "$c" "$vc" "$bc" "$ratio" "$vw" "$bw" "$vp" "$bp"
done
