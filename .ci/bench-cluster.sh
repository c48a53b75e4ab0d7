#!/usr/bin/env bash
# Cluster fan-out figures with `troupe bench`, in one command (make
# bench-cluster). It builds troupe, starts a throwaway PostgreSQL 15 on
# 127.0.0.1 (as the postgres user when run as root), and for each run a fresh
# database and fresh servers, pinned to CPU 0 with PostgreSQL, the load tool
# pinned to CPU 1:
#
#   a  1 room × 1,000 members on one node (PostgreSQL store): the baseline
#   b  1 room × 1,000 members spread over three nodes (127.0.0.2-4)
#   c  100 rooms × 100 members, 100 publishers, over three nodes
#   d  (only when asked for) 100 × 100 on one node, c's baseline
#
# It prints each result, a summary (the cross-node hop against one node), and
# stops everything it started, also on failure or ^C.
#
# Usage: .ci/bench-cluster.sh [a] [b] [c] [d]      (default: a b c)
# Settings (environment):
#   DURATION=10s       how long each run publishes
#   SETTLE=5s          the pause between joining and publishing (--settle)
#   RATE_1K=500        messages/s into the 1 × 1,000 room (a, b)
#   RATE_100=500       messages/s over all 100 rooms (c, d)
#   RAMP_1K=           a --rates list for a and b instead of RATE_1K (a
#                      saturation search), e.g. 100,200,400,800
#   RAMP_100=          the same for c and d, e.g. 300,1000,3000
#   PUBLISHER_NODE=spread   --publisher-node of the cluster runs (spread, 1, 2, 3)
#   SERVER_CPU=0 LOAD_CPU=1 the CPUs of the servers and of the load tool
#   TROUPE_BIN=PATH    run this troupe binary instead of building the work tree
#   RESULTS=DIR        keep every run's JSON (and the node logs) in DIR
# Only 127.0.0.0/8 is used. The machine should be otherwise quiet: the
# figures are only as good as the two cores are free.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
# shellcheck source=.ci/lib-pg.sh
. .ci/lib-pg.sh

DURATION=${DURATION:-10s}
SETTLE=${SETTLE:-5s}
RATE_1K=${RATE_1K:-500}
RATE_100=${RATE_100:-500}
RAMP_1K=${RAMP_1K:-}
RAMP_100=${RAMP_100:-}
PUBLISHER_NODE=${PUBLISHER_NODE:-spread}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RESULTS=${RESULTS:-}

runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(a b c)
for r in "${runs[@]}"; do
  case "$r" in a | b | c | d) ;; *) echo "usage: $0 [a] [b] [c] [d]" >&2; exit 2 ;; esac
done
for tool in go taskset curl jq psql initdb pg_ctl; do
  command -v "$tool" >/dev/null || { echo "bench-cluster: $tool is needed" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/troupe-bench-cluster.XXXXXX)
chmod 711 "$tmp" # the postgres user reaches its directory inside
pids=()
pg_dir=""
ok=0

stop_nodes() {
  local pid i
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_nodes
  [ -z "$pg_dir" ] || pg_stop "$pg_dir"
  if [ -n "$RESULTS" ]; then
    mkdir -p "$RESULTS"
    cp "$tmp"/*.log "$tmp"/*.json "$pg_dir/server.log" "$RESULTS"/ 2>/dev/null || true
  fi
  if [ "$ok" != 1 ]; then
    for f in "$tmp"/*-node*.log; do
      [ -s "$f" ] || continue
      echo "--- last lines of $(basename "$f")" >&2
      tail -n 20 "$f" >&2
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The connections of 100 × 100 (10,000 in the load tool) stay well under it.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "bench-cluster: open files limit $(ulimit -n)"

if [ -n "${TROUPE_BIN:-}" ]; then
  bin=$TROUPE_BIN
else
  echo "bench-cluster: building troupe"
  go build -o "$tmp/troupe" ./cmd/troupe
  bin=$tmp/troupe
fi

echo "bench-cluster: starting PostgreSQL"
pg_dir=$tmp/pg
pg_start "$pg_dir" taskset -c "$SERVER_CPU" || exit 1
db_n=0

# new_store: a fresh database; sets store to its URL.
new_store() {
  db_n=$((db_n + 1))
  psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qAtc "CREATE DATABASE bench$db_n" >/dev/null
  store="postgres://postgres@127.0.0.1:$pg_port/bench$db_n?sslmode=disable"
}

# start_nodes N: N servers on a fresh database, on 127.0.0.2…; one alone, or a
# cluster of N. Sets urls (comma-separated base URLs).
start_nodes() {
  local n=$1 i host peers="" routes=() addrs=()
  new_store
  for ((i = 0; i < n; i++)); do
    host=127.0.0.$((i + 2))
    addrs+=("$host:$(free_port "$host")")
    routes+=("$host:$(free_port "$host")")
    peers+=${peers:+,}${routes[i]}
  done
  urls=""
  for ((i = 0; i < n; i++)); do
    local args=(serve --addr "${addrs[i]}" --store "$store" --rate-limit 0 --log-level warn)
    if [ "$n" -gt 1 ]; then
      args+=(--node-id "n$((i + 1))" --cluster-listen "${routes[i]}" --cluster-peers "$peers")
    fi
    taskset -c "$SERVER_CPU" "$bin" "${args[@]}" >"$tmp/$run-node$((i + 1)).log" 2>&1 &
    pids+=($!)
    urls+=${urls:+,}http://${addrs[i]}
  done
  local u want deadline=$((SECONDS + 60))
  for u in ${urls//,/ }; do
    want=""
    [ "$n" -le 1 ] || want="troupe_cluster_nodes $n"
    until curl -fsS "$u/readyz" >/dev/null 2>&1 &&
      { [ -z "$want" ] || curl -fsS "$u/metrics" 2>/dev/null | grep -qx "$want"; }; do
      for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "bench-cluster: a server exited" >&2; exit 1; }
      done
      [ $SECONDS -lt $deadline ] || { echo "bench-cluster: $u not ready${want:+ ($want)}" >&2; exit 1; }
      sleep 0.2
    done
  done
  echo "bench-cluster: $n node(s) up: $urls"
}

# pg_ticks: CPU clock ticks PostgreSQL's processes (the postmaster and its
# children, the backends) have used so far.
pg_ticks() {
  local pm p
  pm=$(head -n 1 "$pg_dir/data/postmaster.pid")
  for p in "$pm" $(pgrep -P "$pm" || true); do
    awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
  done | awk '{ s += $1 } END { print s + 0 }'
}

# bench ARGS…: one `troupe bench fanout` of the current run against urls, on
# the load CPU; the text goes to stdout, the figures to $tmp/$run.json, the
# CPU seconds PostgreSQL used meanwhile (joins included) to $tmp/$run.pg.
bench() {
  local args=(fanout --urls "$urls" --settle "$SETTLE" --duration "$DURATION" "$@") t0 t1 hz
  echo "+ troupe bench ${args[*]}"
  t0=$(pg_ticks)
  taskset -c "$LOAD_CPU" timeout 30m "$bin" bench "${args[@]}" --json-file "$tmp/$run.json"
  t1=$(pg_ticks)
  hz=$(getconf CLK_TCK)
  awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.1f\n", (b - a) / hz }' >"$tmp/$run.pg"
  echo "  PostgreSQL CPU over the whole run (joins included): $(cat "$tmp/$run.pg") s"
}

# rate_args RAMP RATE: --rates RAMP when set, else --rate RATE.
rate_args() { if [ -n "$1" ]; then echo "--rates $1"; else echo "--rate $2"; fi; }

for run in "${runs[@]}"; do
  echo
  case "$run" in
    a)
      echo "=== (a) 1 room × 1,000 members, one node, PostgreSQL store (baseline)"
      start_nodes 1
      # shellcheck disable=SC2046
      bench --rooms 1 --members 1000 --publishers 1 $(rate_args "$RAMP_1K" "$RATE_1K")
      ;;
    b)
      echo "=== (b) 1 room × 1,000 members over three nodes, publisher: $PUBLISHER_NODE"
      start_nodes 3
      # shellcheck disable=SC2046
      bench --rooms 1 --members 1000 --publishers 1 --publisher-node "$PUBLISHER_NODE" $(rate_args "$RAMP_1K" "$RATE_1K")
      ;;
    c)
      echo "=== (c) 100 rooms × 100 members, 100 publishers, over three nodes, publishers: $PUBLISHER_NODE"
      start_nodes 3
      # shellcheck disable=SC2046
      bench --rooms 100 --members 100 --publishers 100 --publisher-node "$PUBLISHER_NODE" $(rate_args "$RAMP_100" "$RATE_100")
      ;;
    d)
      echo "=== (d) 100 rooms × 100 members, 100 publishers, one node, PostgreSQL store (c's baseline)"
      start_nodes 1
      # shellcheck disable=SC2046
      bench --rooms 100 --members 100 --publishers 100 $(rate_args "$RAMP_100" "$RATE_100")
      ;;
  esac
  stop_nodes
done

# The summary: one line per run (per ramp step).
echo
echo "=== summary (CPU: troupe, all nodes, % of one core while publishing; pg: PostgreSQL CPU seconds over the whole run)"
printf '%-4s %8s %9s %12s %7s %8s %8s %9s %9s %10s %10s %6s %8s %6s\n' run "rate/s" "acked/s" "deliv/s" lost "p50 ms" "p99 ms" \
  "same p50" "same p99" "cross p50" "cross p99" CPU RSS "pg s"
steps='if has("steps") then .steps[] else . end'
for r in "${runs[@]}"; do
  jq -r --arg r "$r" "$steps"' | [$r, (.target_rate|round), (.acked_per_second|round), (.deliveries_per_second|round), .lost,
      .latency_p50_ms, .latency_p99_ms, .same_node.latency_p50_ms, .same_node.latency_p99_ms,
      .cross_node.latency_p50_ms, .cross_node.latency_p99_ms, (.server_cpu_percent|round), (.server_rss_bytes/1048576|round)]
    | "\(.[0]) \(.[1]) \(.[2]) \(.[3]) \(.[4]) \(.[5]) \(.[6]) \(.[7]) \(.[8]) \(.[9]) \(.[10]) \(.[11])% \(.[12])MiB"' "$tmp/$r.json" |
    while read -r name rate acked deliv lost p50 p99 sp50 sp99 cp50 cp99 cpu rss; do
      printf '%-4s %8s %9s %12s %7s %8.2f %8.2f %9.2f %9.2f %10.2f %10.2f %6s %8s %6s\n' "$name" "$rate" "$acked" "$deliv" "$lost" \
        "$p50" "$p99" "$sp50" "$sp99" "$cp50" "$cp99" "$cpu" "$rss" "$(cat "$tmp/$r.pg")"
    done
done
# hop ONE CLUSTER: the cluster run's latencies against the one-node run's.
hop() {
  [ -f "$tmp/$1.json" ] && [ -f "$tmp/$2.json" ] || return 0
  echo
  echo "cross-node hop against one node ($2's cross-node receivers − $1's receivers, same rate):"
  jq -rn --slurpfile a "$tmp/$1.json" --slurpfile b "$tmp/$2.json" "
    [\$a[0] | $steps] as \$sa | [\$b[0] | $steps] as \$sb
    | range(0; [(\$sa|length), (\$sb|length)] | min) as \$i | \$sa[\$i] as \$x | \$sb[\$i] as \$y
    | \"  at \(\$y.target_rate) msg/s: p50 \(\$y.cross_node.latency_p50_ms - \$x.latency_p50_ms | . * 100 | round / 100) ms, p99 \(\$y.cross_node.latency_p99_ms - \$x.latency_p99_ms | . * 100 | round / 100) ms ($2 same-node − $1: p50 \(\$y.same_node.latency_p50_ms - \$x.latency_p50_ms | . * 100 | round / 100) ms, p99 \(\$y.same_node.latency_p99_ms - \$x.latency_p99_ms | . * 100 | round / 100) ms)\""
}
hop a b
hop d c
ok=1
