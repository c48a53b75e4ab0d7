# Shell helpers shared by the scripts that start a throwaway PostgreSQL and
# troupe nodes on 127.0.0.0/8 (bench-cluster.sh, drill-cluster.sh). Source
# it; it defines functions only.

# as_pg CMD…: runs CMD as the postgres user when run as root, else as is.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# free_port HOST: a TCP port nothing answers on at HOST right now.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/$1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "no free port on $1" >&2
  return 1
}

# pg_start DIR [PREFIX…]: initdb in DIR/data and start PostgreSQL on
# 127.0.0.1 (its log in DIR/server.log), the postmaster run under PREFIX
# (for example taskset -c 0); sets pg_port. Stop it with pg_stop DIR.
pg_start() {
  local dir=$1
  shift
  mkdir -p "$dir"
  [ "$(id -u)" != 0 ] || chown postgres: "$dir"
  chmod 700 "$dir"
  as_pg initdb -D "$dir/data" -U postgres --auth=trust --no-locale -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  # A port free when probed may still be taken by the time the postmaster
  # binds it (the ephemeral ports of a storm's closed connections): try
  # another then.
  local attempt
  for attempt in 1 2 3 4 5; do
    pg_port=$(free_port 127.0.0.1)
    if as_pg "$@" pg_ctl start -D "$dir/data" -l "$dir/server.log" -w -t 120 \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=on -c max_connections=200" >/dev/null; then
      return 0
    fi
    grep -q "Address already in use" "$dir/server.log" && [ "$attempt" -lt 5 ] || break
    : >"$dir/server.log"
  done
  cat "$dir/server.log" >&2
  return 1
}

# pg_stop DIR: stops the PostgreSQL pg_start started in DIR, if any.
pg_stop() {
  [ -f "$1/data/postmaster.pid" ] || return 0
  as_pg pg_ctl stop -D "$1/data" -m immediate -w >/dev/null 2>&1 || true
}
