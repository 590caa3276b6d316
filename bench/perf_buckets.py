#!/usr/bin/env python3
"""Sort `perf` samples of a vigil run into cost buckets (docs/BENCHMARKS.md, "Where the time goes").

    perf record -e cpu-clock -F 2000 --call-graph dwarf,16384 -o perf.data <command>
    perf script -i perf.data -F comm,tid,time,ip,sym --no-demangle > perf.txt
    bench/perf_buckets.py perf.txt [-v]

Each sample goes to the first bucket (in the order below) that any frame of its stack
matches; what is left is split into idle/wake, tokio, context switches, JIT code
(wasmtime-compiled guest code has no symbols, so page faults taken while the guest runs
land there) and "other" (-v lists its leaf frames). A `cpu-clock` software event is enough:
hardware counters are not needed (they are unavailable in most VMs).
"""
import collections
import re
import sys

R = re.compile
BUCKETS = [
    ("compile (cranelift, one-off at load)", R(r"cranelift|regalloc")),
    ("egress: TCP connect + HTTP/1 exchange (hyper, tokio net, kernel TCP)",
     R(r"egress4send|outgoing_handler\.\.Host\$u20\$for|TcpStream|hyper|tokio3net|tcp_|inet_|__sys_connect|sock_")),
    ("CPU meter: clock_gettime(CLOCK_THREAD_CPUTIME_ID) around each poll", R(r"thread_cpu_ns")),
    ("teardown: Store drop -> pooling allocator reset (madvise, TLB flush)",
     R(r"deallocate_|DecommitQueue|decommit_pages|merge_or_flush")),
    ("teardown: rest of Store drop (WasiCtx, table, recorder)",
     R(r"drop_in_place\$LT\$wasmtime\.\.runtime\.\.store|drop_in_place.*RunState|drop<wasmtime::runtime::store")),
    ("instantiate (pooling allocate, memory/table init)",
     R(r"allocate_module|allocate_memory|allocate_table|allocate_fiber|instantiate|InstancePre|initialize_memories")),
    ("setup: WasiCtx / RunState build", R(r"WasiCtxBuilder|Runtime5state|WasiRandomCtx|thread_rng")),
    ("setup: Store::new", R(r"store\.\.Store\$LT\$T\$GT\$3new|Store.*3new17")),
    ("guest->host calls (wasi:http types, wasi:io, resources, vigil host)",
     R(r"HostFn|StaticHost|HostResource|wasmtime_wasi_http|wasmtime_wasi|host_impl|vigil7runtime8recorder|ResourceTable")),
    ("lazy table init (page faults on tables)", R(r"get_table_with_lazy_init")),
    ("record finish / redact", R(r"Recorder|recorder|redact")),
    ("call run / fiber switch", R(r"call_run|TypedFunc|on_fiber|wasmtime_internal_fiber|wasmtime_fiber")),
]
IDLE = R(r"sys_epoll_wait|sys_futex|sys_sched_yield|sys_nanosleep|sys_clock_nanosleep")


def classify(comm, frames, others):
    if comm.startswith("vigil-epoch"):
        return "epoch ticker thread"
    for name, rx in BUCKETS:
        if any(rx.search(f) for f in frames):
            return name
    user = [f for f in frames if not f.startswith("k:")]
    kern = [f for f in frames if f.startswith("k:")]
    if any(IDLE.search(k) for k in kern):
        return "idle/wake: epoll_wait, futex, sleeps (tokio park/unpark)"
    leaf = next((u for u in user if u != "[unknown]"), "")
    if "tokio" in leaf and not kern:
        return "tokio runtime code (scheduler, timers, task polls)"
    if kern and any("schedule" in k or "finish_task_switch" in k for k in kern):
        return "kernel context switches"
    if not leaf:
        return "JIT guest code / unresolved (incl. page faults taken there)"
    others[leaf[:100]] += 1
    return "other"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    counts, others, total = collections.Counter(), collections.Counter(), 0
    comm, frames = None, []

    def flush():
        nonlocal total
        if comm is not None:
            total += 1
            counts[classify(comm, frames, others)] += 1

    with open(sys.argv[1], errors="replace") as f:
        for line in f:
            if not line.strip():
                flush()
                comm, frames = None, []
            elif not line[0].isspace():
                comm = line.split()[0]
            else:
                parts = line.strip().split(None, 1)
                sym = parts[1] if len(parts) > 1 else "[unknown]"
                frames.append(("k:" + sym) if parts[0].startswith("ffffffff") else sym)
    flush()
    for name, n in counts.most_common():
        print(f"{100 * n / total:6.1f}%  {name}")
    print(f"({total} samples)")
    if "-v" in sys.argv:
        print("\n'other', by leaf frame:")
        for name, n in others.most_common(15):
            print(f"{100 * n / total:6.1f}%  {name}")


if __name__ == "__main__":
    main()
