#!/usr/bin/env bash
# Scale: N probes (default 10,000) of builtin:http, each every 10 s, against one local target,
# run by one `vigil run`. Reports schedule lag p50/p99, CPU, RSS and runs/s sustained.
# Results: docs/BENCHMARKS.md.
#
#   bench/scale.sh
#
# Environment:
#   SCALE_PROBES=10000   probes
#   SCALE_EVERY=10s      schedule of each probe
#   SCALE_WARMUP=30      seconds before measuring (every probe has run at least twice)
#   SCALE_SECONDS=60     measured seconds
#   SCALE_CONCURRENCY=64 global.concurrency
#   BENCH_BUILD=1        0 = use the release binaries as they are
#
# Everything listens on 127.0.0.1 only; the target server and vigil stop on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${SCALE_PROBES:-10000}
EVERY=${SCALE_EVERY:-10s}
WARMUP=${SCALE_WARMUP:-30}
SECS=${SCALE_SECONDS:-60}
CONC=${SCALE_CONCURRENCY:-64}

if [[ ${BENCH_BUILD:-1} != 0 ]]; then
    echo "== building (release)" >&2
    cargo build --release -p vigil -p vigil-bench >&2
fi
BIN=target/release
WORK=$(mktemp -d /tmp/vigil-scale.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/target-server" 0 --max-seconds $((WARMUP + SECS + 600)) > "$WORK/target.out" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/target.out" 2>/dev/null && break; sleep 0.1; done
TARGET=$(sed -n 's/.*listening on //p' "$WORK/target.out")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

python3 - "$WORK/vigil.yaml" "$N" "$EVERY" "$TARGET" "$PORT" "$CONC" <<'EOF'
import sys
path, n, every, target, port, conc = sys.argv[1:]
with open(path, "w") as f:
    f.write(f"global: {{ listen: 127.0.0.1:{port}, state_dir: state, concurrency: {conc} }}\nprobes:\n")
    for i in range(int(n)):
        f.write(f"  - {{ name: p{i}, wasm: builtin:http, schedule: '@every {every}', "
                f"config: {{ url: 'http://{target}/' }}, allow: ['{target}'] }}\n")
EOF

"$BIN/vigil" run -c "$WORK/vigil.yaml" 2> "$WORK/vigil.log" &
VPID=$!
PIDS+=($VPID)
for _ in $(seq 600); do
    curl -sf "127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && break
    kill -0 $VPID 2>/dev/null || { cat "$WORK/vigil.log" >&2; exit 1; }
    sleep 0.1
done
echo "== $N probes every $EVERY against $TARGET; warming up ${WARMUP}s" >&2
sleep "$WARMUP"

snapshot() { # file
    curl -s "127.0.0.1:$PORT/metrics" > "$1"
    awk '{print $14 + $15}' /proc/$VPID/stat >> "$1.cpu"
}
snapshot "$WORK/m0"
T0=$(date +%s.%N)
sleep "$SECS"
snapshot "$WORK/m1"
T1=$(date +%s.%N)
RSS=$(awk '/VmRSS/ {print $2}' /proc/$VPID/status)
HWM=$(awk '/VmHWM/ {print $2}' /proc/$VPID/status)

python3 - "$WORK" "$T0" "$T1" "$RSS" "$HWM" "$N" "$EVERY" <<'EOF'
import os, re, sys
work, t0, t1, rss, hwm, n, every = sys.argv[1:]
wall = float(t1) - float(t0)
tck = os.sysconf("SC_CLK_TCK")
cpu0, cpu1 = [int(open(f"{work}/m{i}.cpu").read().split()[0]) for i in (0, 1)]
def parse(path):
    buckets, runs, ok = {}, 0.0, 0.0
    for line in open(path):
        m = re.match(r'vigil_schedule_lag_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets[float("inf") if m[1] == "+Inf" else float(m[1])] = float(m[2])
        m = re.match(r'vigil_probe_runs_total\{outcome="(\w+)",probe="[^"]+"\} (\S+)', line)
        if m:
            runs += float(m[2])
            if m[1] == "success":
                ok += float(m[2])
    return buckets, runs, ok
b0, r0, s0 = parse(f"{work}/m0")
b1, r1, s1 = parse(f"{work}/m1")
bounds = sorted(b1)
counts = [b1[b] - b0.get(b, 0) for b in bounds]
total = counts[-1]
def quantile(q):
    # Linear interpolation within the bucket, as histogram_quantile does.
    rank = q * total
    prev_b, prev_c = 0.0, 0.0
    for b, c in zip(bounds, counts):
        if c >= rank:
            if b == float("inf"):
                return prev_b
            return prev_b + (b - prev_b) * ((rank - prev_c) / max(c - prev_c, 1e-9))
        prev_b, prev_c = b, c
    return bounds[-2]
runs = r1 - r0
cpu = (cpu1 - cpu0) / tck
print(f"probes                 {n} every {every}")
print(f"measured               {wall:.1f} s")
print(f"runs/s sustained       {runs / wall:.1f} (expected {int(n) / float(every.rstrip('s')):.1f}); successful {100 * (s1 - s0) / max(runs, 1):.2f} %")
print(f"schedule lag p50       {quantile(0.5) * 1000:.2f} ms")
print(f"schedule lag p99       {quantile(0.99) * 1000:.2f} ms")
print(f"CPU                    {cpu / wall * 100:.1f} % of one core ({cpu / wall:.3f} cores)")
print(f"RSS                    {int(rss) / 1024:.0f} MiB (peak {int(hwm) / 1024:.0f} MiB)")
EOF
