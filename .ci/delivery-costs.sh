#!/usr/bin/env bash
# What one delivery costs the server (make delivery-costs): the server runs
# on CPU 0 and ../shared/bench/wsbench on CPU 1, 100 rooms × 100 members with
# 100 publishers at RATE msg/s (every delivery is its own frame at this rate);
# after the warmup, perf counts the server's syscalls and context switches
# for WINDOW seconds, and /proc gives its user and kernel CPU of the same
# window. It prints each per delivery, for every server of SERVERS in turn:
#   troupe-sqlite   troupe on its default store (SQLite, every message fsynced)
#   troupe-memory   troupe on memory:
#   centrifugo      Centrifugo (memory engine; ../shared/bench/build-peers.sh)
# troupe's deliveries, frames and Go heap allocations come from its
# /metrics; Centrifugo's deliveries are the harness's delivery rate times
# the window.
# Settings (environment):
#   SERVERS="troupe-sqlite troupe-memory centrifugo"  RATE=500  WARMUP=8  WINDOW=10 (seconds)
#   HARNESS=../shared/bench   PEERS=~/.cache/troupe-bars/peers
#   PROFILE=DIR: also save a CPU profile of each troupe window there
# Needs go, perf (as root, or perf_event_paranoid <= 1), taskset, curl, awk.
# Only 127.0.0.0/8 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
harness=${HARNESS:-$repo/../shared/bench}
PEERS=${PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/troupe-bars/peers}
SERVERS=${SERVERS:-troupe-sqlite troupe-memory centrifugo}
RATE=${RATE:-500} WARMUP=${WARMUP:-8} WINDOW=${WINDOW:-10}
for tool in go perf taskset curl awk; do command -v "$tool" >/dev/null || { echo "delivery-costs: $tool is needed" >&2; exit 1; }; done
[ -d "$harness/wsbench" ] || { echo "delivery-costs: no harness at $harness/wsbench (set HARNESS)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/troupe-costs.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
go build -o "$tmp/troupe" ./cmd/troupe
(cd "$harness/wsbench" && go build -o "$tmp/wsbench" .)
tick=$(getconf CLK_TCK)

port=18380
# cpu_ticks PID: the process's user and kernel CPU so far, in clock ticks.
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
# bucket_q FILE0 FILE1 SERIES Q: the upper bound of the histogram bucket of
# troupe metrics SERIES (a prefix of its _bucket lines) holding quantile Q of
# what was observed between the two scrapes.
bucket_q() {
  awk -v s="$3" -v q="$4" '
    index($1, s) == 1 && match($1, /le="[^"]+"/) { le = substr($1, RSTART + 4, RLENGTH - 5)
      if (FILENAME == ARGV[1]) before[le] = $2; else { after[le] = $2; order[++n] = le } }
    END { total = after[order[n]] - before[order[n]]; if (total <= 0) { print "-"; exit }
      for (i = 1; i <= n; i++) if (after[order[i]] - before[order[i]] >= q * total) {
        v = order[i]; if (v == "+Inf") print "+Inf"; else printf "%.2f ms\n", v * 1000; exit } }' "$1" "$2"
}
# metric NAME: the sum of a troupe metric's series.
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f", s }'; }

measure() {
  local name=$1 srv gen url target
  case "$name" in
    troupe-sqlite | troupe-memory)
      local store="sqlite://$tmp/costs-$port.db"
      [ "$name" = troupe-sqlite ] || store="memory:"
      taskset -c 0 "$tmp/troupe" serve --addr "127.0.0.1:$port" --pprof-addr "127.0.0.1:$((port + 1))" --rate-limit 0 \
        --log-level warn --store "$store" >"$tmp/server.log" 2>&1 &
      url="ws://127.0.0.1:$port/ws" target=troupe ;;
    centrifugo)
      [ -x "$PEERS/centrifugo" ] || { echo "delivery-costs: no $PEERS/centrifugo: run $harness/build-peers.sh first" >&2; return 1; }
      taskset -c 0 "$PEERS/centrifugo" --config "$PEERS/centrifugo.json" --http_server.port "$port" >"$tmp/server.log" 2>&1 &
      url="ws://127.0.0.1:$port/connection/websocket" target=centrifugo ;;
    *) echo "delivery-costs: unknown server $name" >&2; return 1 ;;
  esac
  srv=$!
  pids+=("$srv")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
  # One long step: the window sits inside its measured part.
  taskset -c 1 "$tmp/wsbench" -target "$target" -url "$url" -scenario fanout -rooms 100 -members 100 \
    -publishers 100 -rates "$RATE" -warmup "${WARMUP}s" -measure "$((WINDOW + 4))s" -pid "$srv" -label "$name" >"$tmp/wsbench.out" 2>&1 &
  gen=$!
  pids+=("$gen")
  until grep -q joined "$tmp/wsbench.out"; do kill -0 "$gen" 2>/dev/null || { cat "$tmp/wsbench.out" >&2; return 1; }; sleep 0.2; done
  sleep "$((WARMUP + 1))"
  local d0=0 f0=0 a0=0 d1=0 f1=0 a1=0 c0 c1
  if [ "$target" = troupe ]; then
    d0=$(metric troupe_deliveries_total) f0=$(metric troupe_frames_out_total) a0=$(metric go_memstats_mallocs_total)
    curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics0"
    [ -z "${PROFILE:-}" ] || curl -sf -o "$PROFILE/$name.pprof" "http://127.0.0.1:$((port + 1))/debug/pprof/profile?seconds=$WINDOW" &
  fi
  c0=$(cpu_ticks "$srv")
  perf stat -x, -p "$srv" -e raw_syscalls:sys_enter,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_read,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_pwrite64,context-switches \
    -o "$tmp/perf.csv" -- sleep "$WINDOW"
  c1=$(cpu_ticks "$srv")
  if [ "$target" = troupe ]; then
    d1=$(metric troupe_deliveries_total) f1=$(metric troupe_frames_out_total) a1=$(metric go_memstats_mallocs_total)
    curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics1"
  fi
  wait "$gen" || true
  kill "$srv" 2>/dev/null || true
  wait "$srv" 2>/dev/null || true
  port=$((port + 2))
  local deliveries=$((d1 - d0)) source="its /metrics"
  if [ "$target" != troupe ]; then
    deliveries=$(awk -v w="$WINDOW" '/deliv/ { for (i = 1; i < NF; i++) if ($i == "deliv") { printf "%.0f", $(i + 1) * w; exit } }' "$tmp/wsbench.out")
    source="the harness's rate × ${WINDOW}s"
  fi
  echo
  echo "=== $name, $RATE msg/s"
  grep "rate " "$tmp/wsbench.out" || true
  [ "${deliveries:-0}" -gt 0 ] || { echo "delivery-costs: no deliveries in the window" >&2; return 1; }
  echo "$deliveries deliveries in ${WINDOW}s (from $source)$([ "$target" != troupe ] || echo ", $((f1 - f0)) frames written")"
  read -r u0 s0 <<<"$c0"
  read -r u1 s1 <<<"$c1"
  awk -F, -v d="$deliveries" -v a="$((a1 - a0))" -v troupe="$([ "$target" = troupe ] && echo 1 || echo 0)" \
    -v user="$(((u1 - u0) * 1000000 / tick))" -v sys="$(((s1 - s0) * 1000000 / tick))" '
    $1 ~ /^[0-9.]+$/ { name = $3; sub(/^syscalls:sys_enter_/, "", name); sub(/^raw_syscalls:sys_enter$/, "all syscalls", name)
      printf "  %-18s %10.3f per delivery (%d)\n", name, $1 / d, $1 }
    END {
      printf "  %-18s %10.2f µs per delivery (user %.2f, kernel %.2f)\n", "cpu", (user + sys) / d, user / d, sys / d
      if (troupe) printf "  %-18s %10.2f per delivery (%d)\n", "heap allocations", a / d, a }' "$tmp/perf.csv"
  if [ "$target" = troupe ]; then
    local m0=$tmp/metrics0 m1=$tmp/metrics1
    echo "  store append       p50 $(bucket_q "$m0" "$m1" 'troupe_store_latency_seconds_bucket{op="append"' 0.5), p99 $(bucket_q "$m0" "$m1" 'troupe_store_latency_seconds_bucket{op="append"' 0.99) (bucket upper bounds)"
    echo "  send → enqueued    p50 $(bucket_q "$m0" "$m1" troupe_publish_deliver_latency_seconds_bucket 0.5), p99 $(bucket_q "$m0" "$m1" troupe_publish_deliver_latency_seconds_bucket 0.99)"
  fi
}

for name in $SERVERS; do measure "$name"; done
