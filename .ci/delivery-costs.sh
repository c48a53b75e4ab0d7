#!/usr/bin/env bash
# What one delivery costs the server (make delivery-costs): troupe runs on
# CPU 0 and ../shared/bench/wsbench on CPU 1, 100 rooms × 100 members with
# 100 publishers at RATE msg/s (every delivery is its own frame at this rate);
# after WARMUP, perf counts the server's syscalls and context switches for
# WINDOW while its /metrics gives the deliveries, frames written and Go heap
# allocations of the same window. It prints each per delivery.
# Settings (environment):
#   STORE=sqlite (or memory)  RATE=500  WARMUP=8s  WINDOW=10  (seconds)
#   HARNESS=../shared/bench   PROFILE=FILE: also save a CPU profile of the window
# Needs go, perf (as root, or perf_event_paranoid <= 1), taskset, curl, awk.
# Only 127.0.0.0/8 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
harness=${HARNESS:-$repo/../shared/bench}
STORE=${STORE:-sqlite} RATE=${RATE:-500} WARMUP=${WARMUP:-8s} WINDOW=${WINDOW:-10}
for tool in go perf taskset curl awk; do command -v "$tool" >/dev/null || { echo "delivery-costs: $tool is needed" >&2; exit 1; }; done
[ -d "$harness/wsbench" ] || { echo "delivery-costs: no harness at $harness/wsbench (set HARNESS)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/troupe-costs.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

go build -o "$tmp/troupe" ./cmd/troupe
(cd "$harness/wsbench" && go build -o "$tmp/wsbench" .)
case "$STORE" in
  sqlite) store="sqlite://$tmp/costs.db" ;;
  memory) store="memory:" ;;
  *) echo "delivery-costs: STORE is sqlite or memory" >&2; exit 2 ;;
esac
port=18380
taskset -c 0 "$tmp/troupe" serve --addr "127.0.0.1:$port" --pprof-addr "127.0.0.1:$((port + 1))" --rate-limit 0 --log-level warn --store "$store" >"$tmp/server.log" 2>&1 &
srv=$!
pids+=("$srv")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && break; sleep 0.1; done

# One long step: the window sits inside its measured part.
measure=$((WINDOW + 6))s
taskset -c 1 "$tmp/wsbench" -target troupe -url "ws://127.0.0.1:$port/ws" -scenario fanout -rooms 100 -members 100 \
  -publishers 100 -rates "$RATE" -warmup "$WARMUP" -measure "$measure" -pid "$srv" -label costs >"$tmp/wsbench.out" 2>&1 &
gen=$!
pids+=("$gen")
until grep -q joined "$tmp/wsbench.out"; do kill -0 "$gen" 2>/dev/null || { cat "$tmp/wsbench.out"; exit 1; }; sleep 0.2; done
sleep "${WARMUP%s}"; sleep 2

metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f", s }'; }
d0=$(metric troupe_deliveries_total) f0=$(metric troupe_frames_out_total) a0=$(metric go_memstats_mallocs_total)
[ -z "${PROFILE:-}" ] || curl -sf -o "$PROFILE" "http://127.0.0.1:$((port + 1))/debug/pprof/profile?seconds=$WINDOW" &
perf stat -x, -p "$srv" -e raw_syscalls:sys_enter,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_read,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,context-switches,task-clock \
  -o "$tmp/perf.csv" -- sleep "$WINDOW"
d1=$(metric troupe_deliveries_total) f1=$(metric troupe_frames_out_total) a1=$(metric go_memstats_mallocs_total)
wait "$gen" || true
deliveries=$((d1 - d0))
[ "$deliveries" -gt 0 ] || { echo "delivery-costs: no deliveries in the window" >&2; cat "$tmp/wsbench.out" >&2; exit 1; }
grep "rate " "$tmp/wsbench.out" || true
echo "delivery-costs: store $STORE, $RATE msg/s, ${WINDOW}s window: $deliveries deliveries, $((f1 - f0)) frames written"
awk -F, -v d="$deliveries" -v a="$((a1 - a0))" '
  $1 ~ /^[0-9.]+$/ { name = $3; sub(/^syscalls:sys_enter_/, "", name); sub(/^raw_syscalls:sys_enter$/, "all syscalls", name)
    if (name == "task-clock") printf "  %-18s %10.2f µs of CPU per delivery\n", "cpu", $1 * 1000 / d
    else printf "  %-18s %10.3f per delivery (%d)\n", name, $1 / d, $1 }
  END { printf "  %-18s %10.2f per delivery (%d)\n", "heap allocations", a / d, a }' "$tmp/perf.csv"
