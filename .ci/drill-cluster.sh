#!/usr/bin/env bash
# The 60-second node drill of the cluster, in one command (make
# drill-cluster): it builds troupe, starts a throwaway PostgreSQL 15 on
# 127.0.0.1 (as the postgres user when run as root) and three nodes on
# 127.0.0.2-4, runs `troupe drill --kinds KIND` against them (node 0, the
# owner of the most drill rooms, is SIGKILLed or SIGSTOPped halfway), prints
# the report and stops everything it started, also on failure or ^C. It exits
# with the drill's status: 0 when nothing acked was lost or duplicated.
#
# Usage: .ci/drill-cluster.sh [node-kill|node-pause]     (default: node-kill)
# Settings (environment): DURATION=60s CLIENTS=30 ROOMS=6 RATE=10 (per
# client, messages/s), LISTENERS=0 (more clients, all on node 0, that only
# receive: the reconnect storm when node 0 dies), TROUPE_BIN=PATH (run this binary instead of building),
# JSON=1 (print the JSON report instead of the text one), KEEP_LOGS=DIR
# (copy the nodes' logs there at the end), LOG_LEVEL=warn (the nodes' level),
# PPROF=1 (node i serves pprof on 127.0.0.(i+2):6060), DRILL_PROFILE=FILE
# (the drill's own CPU profile: what the clients cost), SERVE_ARGS="..."
# (more `troupe serve` flags for every node, split on spaces: e.g.
# SERVE_ARGS="--no-presence-rooms *").
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
# shellcheck source=.ci/lib-pg.sh
. .ci/lib-pg.sh

KIND=${1:-node-kill}
case "$KIND" in node-kill | node-pause) ;; *) echo "usage: $0 [node-kill|node-pause]" >&2; exit 2 ;; esac
DURATION=${DURATION:-60s}
CLIENTS=${CLIENTS:-30}
LISTENERS=${LISTENERS:-0}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
ROOMS=${ROOMS:-6}
RATE=${RATE:-10}
for tool in go curl initdb pg_ctl psql; do
  command -v "$tool" >/dev/null || { echo "drill-cluster: $tool is needed" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/troupe-drill-cluster.XXXXXX)
chmod 711 "$tmp"
pids=()
pg_dir=$tmp/pg

cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg_stop "$pg_dir"
  if [ "$status" != 0 ] && [ "$status" != 1 ]; then
    for f in "$tmp"/node*.log; do [ -s "$f" ] && { echo "--- last lines of $(basename "$f")" >&2; tail -n 20 "$f" >&2; }; done
  fi
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$tmp"/node*.log "$KEEP_LOGS"/ 2>/dev/null || true; fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=${TROUPE_BIN:-}
if [ -z "$bin" ]; then
  echo "drill-cluster: building troupe"
  go build -o "$tmp/troupe" ./cmd/troupe
  bin=$tmp/troupe
fi

echo "drill-cluster: starting PostgreSQL"
pg_start "$pg_dir" || exit 2
psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qAtc "CREATE DATABASE drill" >/dev/null
store="postgres://postgres@127.0.0.1:$pg_port/drill?sslmode=disable"

addrs=() routes=() peers="" urls=""
for i in 0 1 2; do
  host=127.0.0.$((i + 2))
  addrs+=("$host:$(free_port "$host")")
  routes+=("$host:$(free_port "$host")")
  peers+=${peers:+,}${routes[i]}
done
for i in 0 1 2; do
  extra=()
  [ -z "${PPROF:-}" ] || extra=(--pprof-addr "127.0.0.$((i + 2)):6060")
  read -r -a serve_args <<<"${SERVE_ARGS:-}" # split on spaces, no globbing
  extra+=("${serve_args[@]}")
  "$bin" serve --addr "${addrs[i]}" --store "$store" --api-key drill --rate-limit 0 --log-level "${LOG_LEVEL:-warn}" \
    --node-id "n$((i + 1))" --cluster-listen "${routes[i]}" --cluster-peers "$peers" "${extra[@]}" >"$tmp/node$((i + 1)).log" 2>&1 &
  pids+=($!)
  urls+=${urls:+,}http://${addrs[i]}
done
deadline=$((SECONDS + 60))
for u in ${urls//,/ }; do
  until curl -fsS "$u/readyz" >/dev/null 2>&1 && curl -fsS "$u/metrics" 2>/dev/null | grep -qx "troupe_cluster_nodes 3"; do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "drill-cluster: a node exited" >&2; exit 2; }; done
    [ $SECONDS -lt $deadline ] || { echo "drill-cluster: $u not ready" >&2; exit 2; }
    sleep 0.2
  done
done
echo "drill-cluster: three nodes up: $urls (pids ${pids[*]})"

args=(drill --nodes "$urls" --pids "$(IFS=,; echo "${pids[*]}")" --api-key drill --kinds "$KIND"
  --clients "$CLIENTS" --listeners "$LISTENERS" --rooms "$ROOMS" --rate "$RATE" --duration "$DURATION")
echo "+ troupe ${args[*]}"
[ -z "${JSON:-}" ] || args+=(--json)
[ -z "${DRILL_PROFILE:-}" ] || args+=(--cpu-profile "$DRILL_PROFILE")
status=0
"$bin" "${args[@]}" || status=$?
exit "$status"
