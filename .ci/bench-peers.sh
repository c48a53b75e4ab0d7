#!/usr/bin/env bash
# Side-by-side figures against Centrifugo, in one command (make bench-peers):
# every server runs in this one run, one after another, under the same
# harness (../shared/bench/wsbench) and the same pinning (server on CPU 0,
# load on CPU 1), 100-byte messages, saturation = the highest rate with p99
# <= 100 ms and no loss. Servers:
#   troupe-sqlite   troupe on its durable default store (SQLite, every message fsynced)
#   troupe-memory   troupe on memory:
#   troupe-nopresence   troupe-sqlite with presence off in every room
#                   (--no-presence-rooms '*'), for the connect storm only: the
#                   work Centrifugo does without presence
#   centrifugo      Centrifugo (memory engine), the config of build-peers.sh
#   centrifugo-presence   the same with presence and join/leave pushes on (the
#                   work troupe always does), for the connect storm
# Scenarios: fanout1k (1 room × 1,000, one publisher), fanout100 (100 rooms ×
# 100, 100 publishers), connect (15,000 connections, 100 per room: storm rate
# and idle memory per joined connection). It ends with two tables: the
# ratios, and the CPU (and steal) of both sides per scenario.
#
# Usage: .ci/bench-peers.sh [SCENARIO…]        (default: fanout1k fanout100 connect)
# Settings (environment):
#   SERVERS="troupe-sqlite troupe-memory troupe-nopresence centrifugo centrifugo-presence"
#   RATES_1K=100,300,700,1000,2000,3000    RATES_100=100,200,300,500,700,1000,1500,2000,3000
#   MEASURE=8s WARMUP=2s CONNS=15000
#   PEERS=~/.cache/troupe-bars/peers  (build-peers.sh puts Centrifugo there)
#   RESULTS=FILE   keep the harness's JSON lines there
# It prints the harness's output and then one table of saturation, storm
# rate and memory per connection, with each troupe figure's ratio to the best
# Centrifugo figure of the same scenario. Only 127.0.0.0/8 is used.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
repo=$PWD
harness=${HARNESS:-$repo/../shared/bench}
PEERS=${PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/troupe-bars/peers}
SERVERS=${SERVERS:-troupe-sqlite troupe-memory troupe-nopresence centrifugo centrifugo-presence}
RATES_1K=${RATES_1K:-100,300,700,1000,2000,3000}
RATES_100=${RATES_100:-100,200,300,500,700,1000,1500,2000,3000}
MEASURE=${MEASURE:-8s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-15000}
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(fanout1k fanout100 connect)

[ -d "$harness/wsbench" ] || { echo "bench-peers: no harness at $harness/wsbench (set HARNESS)" >&2; exit 1; }
[ -x "$PEERS/centrifugo" ] || { echo "bench-peers: no $PEERS/centrifugo: run $harness/build-peers.sh first" >&2; exit 1; }
for tool in go jq taskset; do command -v "$tool" >/dev/null || { echo "bench-peers: $tool is needed" >&2; exit 1; }; done

tmp=$(mktemp -d /tmp/troupe-bench-peers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=${RESULTS:-$tmp/results.jsonl}
: >"$out"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "bench-peers: building troupe and wsbench"
go build -o "$tmp/troupe" ./cmd/troupe
(cd "$harness/wsbench" && go build -o "$tmp/wsbench" .)
# Centrifugo with presence and join/leave pushes on (for the storm's same work).
jq '.channel.namespaces |= map(. + {presence: true, join_leave: true, force_push_join_leave: true})' \
  "$PEERS/centrifugo.json" >"$tmp/centrifugo-presence.json"

port=18080
# server_cmd NAME: the command line of server NAME on $port.
server_cmd() {
  case "$1" in
    troupe-sqlite) echo "$tmp/troupe serve --addr 127.0.0.1:$port --rate-limit 0 --log-level warn --store sqlite://$tmp/troupe-$port.db" ;;
    troupe-memory) echo "$tmp/troupe serve --addr 127.0.0.1:$port --rate-limit 0 --log-level warn --store memory:" ;;
    # Quoted for run.sh's bash -c: the pattern reaches troupe as *, unglobbed.
    troupe-nopresence) echo "$tmp/troupe serve --addr 127.0.0.1:$port --rate-limit 0 --log-level warn --store sqlite://$tmp/troupe-$port.db --no-presence-rooms '*'" ;;
    centrifugo) echo "$PEERS/centrifugo --config $PEERS/centrifugo.json --http_server.port $port" ;;
    centrifugo-presence) echo "$PEERS/centrifugo --config $tmp/centrifugo-presence.json --http_server.port $port" ;;
    *) echo "bench-peers: unknown server $1" >&2; return 1 ;;
  esac
}
# target NAME / url NAME: the harness's adapter and URL for server NAME.
target() { case "$1" in troupe*) echo troupe ;; *) echo centrifugo ;; esac; }
url() { case "$1" in troupe*) echo "ws://127.0.0.1:$port/ws" ;; *) echo "ws://127.0.0.1:$port/connection/websocket" ;; esac; }

# run NAME SCENARIO ARGS…: one harness run of server NAME (fresh), labelled.
run() {
  local name=$1 scen=$2
  shift 2
  echo
  echo "=== $scen: $name"
  PIN=1 PORT=$port LOG="$tmp/$name-$scen.log" WSBENCH="$tmp/wsbench" bash "$harness/wsbench/run.sh" "$(server_cmd "$name")" \
    -target "$(target "$name")" -url "$(url "$name")" -label "$name" -out "$out" "$@" ||
    { echo "bench-peers: $name $scen failed; its log:" >&2; tail -n 20 "$tmp/$name-$scen.log" >&2; }
  port=$((port + 1))
}

for scen in "${scenarios[@]}"; do
  for name in $SERVERS; do
    case "$scen" in
      fanout1k)
        [ "$name" != centrifugo-presence ] && [ "$name" != troupe-nopresence ] || continue
        run "$name" "$scen" -scenario fanout -rooms 1 -members 1000 -publishers 1 -rates "$RATES_1K" -warmup "$WARMUP" -measure "$MEASURE" ;;
      fanout100)
        [ "$name" != centrifugo-presence ] && [ "$name" != troupe-nopresence ] || continue
        run "$name" "$scen" -scenario fanout -rooms 100 -members 100 -publishers 100 -rates "$RATES_100" -warmup "$WARMUP" -measure "$MEASURE" ;;
      connect)
        run "$name" "$scen" -scenario connect -conns "$CONNS" -rooms $((CONNS / 100)) -src 127.0.0.2-127.0.0.11 ;;
      *) echo "bench-peers: unknown scenario $scen" >&2; exit 2 ;;
    esac
  done
done

echo
echo "=== side by side (one run; ratio = troupe / the best Centrifugo figure of the scenario)"
jq -rs '
  def best(f; sel): [.[] | select(sel) | f] | max // 0;
  def ratio(a; b): if b > 0 then (a / b * 100 | round / 100 | tostring) + "×" else "-" end;
  (map(select(.scenario == "fanout" and .rooms == 1 and .members == 1000))) as $f1 |
  (map(select(.scenario == "fanout" and .rooms == 100 and .members == 100))) as $f100 |
  (map(select(.scenario == "connect"))) as $c |
  ($f1 | best(.sat_deliv_per_s; .target == "centrifugo")) as $f1c |
  ($f100 | best(.sat_deliv_per_s; .target == "centrifugo")) as $f100c |
  ($c | best(.conn_per_s; .label == "centrifugo-presence")) as $cp |
  ($c | best(.conn_per_s; .label == "centrifugo")) as $cn |
  ([$c[] | select(.target == "centrifugo") | .rss_per_conn_kib] | min // 0) as $cm |
  "| server | 1 × 1,000 deliveries/s (p99) | 100 × 100 deliveries/s (p99) | connect conn/s | KiB per joined conn |",
  "|---|---|---|---|---|",
  ([.[] | .label] | unique[]) as $l |
  ($f1 | map(select(.label == $l)) | first) as $a |
  ($f100 | map(select(.label == $l)) | first) as $b |
  ($c | map(select(.label == $l)) | first) as $d |
  "| \($l) | " +
  (if $a then "\($a.sat_deliv_per_s | round) (\($a.sat_p99_ms * 10 | round / 10) ms)" + (if $a.target == "troupe" then " " + ratio($a.sat_deliv_per_s; $f1c) else "" end) else "" end) + " | " +
  (if $b then "\($b.sat_deliv_per_s | round) (\($b.sat_p99_ms * 10 | round / 10) ms)" + (if $b.target == "troupe" then " " + ratio($b.sat_deliv_per_s; $f100c) else "" end) else "" end) + " | " +
  (if $d then "\($d.conn_per_s | round)" + (if $d.target == "troupe" then " " + ratio($d.conn_per_s; $cp) + " of presence, " + ratio($d.conn_per_s; $cn) + " of none" else "" end) else "" end) + " | " +
  (if $d then "\($d.rss_per_conn_kib * 10 | round / 10)" + (if $d.target == "troupe" and $d.rss_per_conn_kib > 0 then " (÷" + ((($cm / $d.rss_per_conn_kib) * 100 | round) / 100 | tostring) + ")" else "" end) else "" end) + " |"
' "$out"

echo
echo "=== CPU of both sides (server on CPU 0 / load generator on CPU 1, % of one core), at each scenario's saturation; steal is the most any step saw"
jq -rs '
  def pct(x): if x == null then "-" else (x | round | tostring) + "%" end;
  (map(select(.scenario == "fanout" and .rooms == 1 and .members == 1000))) as $f1 |
  (map(select(.scenario == "fanout" and .rooms == 100 and .members == 100))) as $f100 |
  (map(select(.scenario == "fanout-step" and .rooms == 100 and .members == 100 and .rate == 500))) as $s500 |
  (map(select(.scenario == "connect"))) as $c |
  "| server | 1 × 1,000 server / load | 100 × 100 server / load | 100 × 100 at 500 msg/s: p50 / p99, server / load | connect server / load | steal |",
  "|---|---|---|---|---|---|",
  ([.[] | .label] | unique[]) as $l |
  ($f1 | map(select(.label == $l)) | first) as $a |
  ($f100 | map(select(.label == $l)) | first) as $b |
  ($s500 | map(select(.label == $l)) | first) as $s |
  ($c | map(select(.label == $l)) | first) as $d |
  ([.[] | select(.label == $l) | .steal_pct // 0] | max) as $steal |
  "| \($l) | " +
  (if $a then pct($a.sat_srv_cpu_pct) + " / " + pct($a.sat_gen_cpu_pct) else "" end) + " | " +
  (if $b then pct($b.sat_srv_cpu_pct) + " / " + pct($b.sat_gen_cpu_pct) else "" end) + " | " +
  (if $s then "\($s.p50_ms * 10 | round / 10) / \($s.p99_ms * 10 | round / 10) ms, " + pct($s.srv_cpu_pct) + " / " + pct($s.gen_cpu_pct) else "" end) + " | " +
  (if $d then pct($d.srv_cpu_connect_pct) + " / " + pct($d.gen_cpu_connect_pct) else "" end) + " | " +
  "\($steal * 10 | round / 10)% |"
' "$out"
