#!/usr/bin/env bash
# PostgreSQL gate throughput and connection setup, beside PostgreSQL itself and PgBouncer, in
# one run on one throwaway cluster. Not a test: it never fails on numbers.
#
#   bash bench/pg.sh      # prints a Markdown report for bench/RESULTS.md
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out; mkdir -p "$OUT"
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-32}
POOL=${POOL:-20}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
command -v pgbouncer >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq pgbouncer; }
command -v pgbench >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq postgresql; }
python3 -c 'import psycopg' 2>/dev/null || python3 -m pip install -q "psycopg[binary]"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cargo build --release -q -p ward
WARD=$PWD/target/release/ward
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/ward-bench-XXXX); chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$DIR/pgbouncer.pid" ] && kill "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$DIR/data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

# --- PostgreSQL: SCRAM over TCP, one service account, pgbench tables ------------------------
PGPORT=$(free_port)
echo postgres-pw > "$DIR/pw"; [ "$(id -u)" = 0 ] && chown postgres "$DIR/pw"
as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$DIR/pw" -E UTF8 --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w start \
  -o "-p $PGPORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB" >/dev/null
as_pg psql -h "$DIR" -p "$PGPORT" -U postgres -qc "create role bench_svc login password 'bench-pw'" postgres
as_pg psql -h "$DIR" -p "$PGPORT" -U postgres -qc "create database bench owner bench_svc" postgres
PGPASSWORD=bench-pw pgbench -i -s 10 -q -h 127.0.0.1 -p "$PGPORT" -U bench_svc bench >/dev/null 2>&1

# --- PgBouncer, transaction and session pools of the same size -----------------------------
BPORT=$(free_port); BSPORT=$(free_port)
echo '"bench_svc" "bench-pw"' > "$DIR/userlist.txt"
for mode in transaction session; do
  port=$BPORT; size=$POOL
  [ "$mode" = session ] && { port=$BSPORT; size=$CLIENTS; }
  cat > "$DIR/pgbouncer-$mode.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = plain
auth_file = $DIR/userlist.txt
pool_mode = $mode
default_pool_size = $size
max_client_conn = 500
logfile = $DIR/pgbouncer-$mode.log
pidfile = $DIR/pgbouncer-$mode.pid
INI
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"/pgbouncer-$mode.ini "$DIR/userlist.txt"
  as_pg pgbouncer -d "$DIR/pgbouncer-$mode.ini"
done

# --- Ward: issuer and gate in one process; the service gets a token --------------------------
WPORT=$(free_port); GPORT=$(free_port); GTPORT=$(free_port)
cat > "$DIR/ward.toml" <<TOML
listen = "127.0.0.1:$WPORT"
issuer = "http://127.0.0.1:$WPORT"
data_dir = "$DIR/ward"
[log]
level = "warn"
access_log = false
[[trust]]
issuer = "http://127.0.0.1:$WPORT"
[[gate.postgres]]
listen = "127.0.0.1:$GPORT"
upstream = { host = "127.0.0.1", port = $PGPORT, database = "bench" }
pool_size = $CLIENTS
max_client_connections = 500
roles = [{ role = "*", account = "bench_svc" }]
accounts.bench_svc = { password = "bench-pw" }
[[gate.postgres]]
listen = "127.0.0.1:$GTPORT"
upstream = { host = "127.0.0.1", port = $PGPORT, database = "bench" }
pool_mode = "transaction"
pool_size = $POOL
max_client_connections = 500
roles = [{ role = "*", account = "bench_svc" }]
accounts.bench_svc = { password = "bench-pw" }
TOML
SECRET=$($WARD --config "$DIR/ward.toml" admin client create --name bench --id bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
$WARD --config "$DIR/ward.toml" serve 2> "$OUT/ward-pg.log" & PIDS+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$GTPORT) 2>/dev/null && break; sleep 0.1; done
TOKEN=$(curl -fs -u "bench:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$WPORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# name port user password
TARGETS=(
  "PostgreSQL direct|$PGPORT|bench_svc|bench-pw"
  "Ward gate, transaction pool ($POOL)|$GTPORT|bench|$TOKEN"
  "Ward gate, session pool ($CLIENTS)|$GPORT|bench|$TOKEN"
  "PgBouncer 1.18, transaction pool ($POOL)|$BPORT|bench_svc|bench-pw"
  "PgBouncer 1.18, session pool ($CLIENTS)|$BSPORT|bench_svc|bench-pw"
)
tps() { awk '/^tps = / {printf "%.0f", $3}' "$1"; }
lat() { awk '/^latency average/ {print $4" ms"}' "$1"; }

echo "### $(date -u +%Y-%m-%d) — $(nproc) cores, pgbench -S -c $CLIENTS -j 2 -T $DURATION, scale 10"
echo
echo "| Protocol | Target | tps | latency avg | × direct |"
echo "|---|---|---|---|---|"
for proto in simple extended prepared; do
  direct=""
  for t in "${TARGETS[@]}"; do
    IFS='|' read -r name port user pw <<<"$t"
    log="$OUT/pgbench-$proto-$port.txt"
    PGPASSWORD=$pw pgbench -n -S -M "$proto" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "$port" -U "$user" bench > "$log" 2>&1 || true
    v=$(tps "$log"); [ -z "$direct" ] && direct=$v
    ratio=$(python3 -c "print(f'{${v:-0}/${direct:-1}:.2f}')")
    echo "| $proto | $name | ${v:-failed} | $(lat "$log") | $ratio |"
  done
done
echo
echo "Connection setup (connect, authenticate, \`select 1\`, close; 300 in a row, libpq 18):"
echo
echo "| Target | p50 | p99 |"
echo "|---|---|---|"
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name port user pw <<<"$t"
  r=$(python3 bench/connect_latency.py "host=127.0.0.1 port=$port dbname=bench user=$user password=$pw sslmode=disable" 300)
  echo "| $name | $(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p50"])') ms | $(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p99"])') ms |"
done
