#!/usr/bin/env bash
# The HTTP data API beside its peers, in one run. Not a test: it never fails on numbers.
#
#   bash bench/http.sh      # prints a Markdown report for bench/RESULTS.md
#   PERF=1 bash bench/http.sh   # also perf-records Ward during its runs (bench/out/perf-*.data)
#
# - POST /command {"command": "GET"} with wrk, beside webdis's GET /GET/key (Debian's webdis),
#   both against one Redis.
# - POST /query with a primary-key SELECT (a random aid, as pgbench -S picks) with wrk, beside
#   pgbench -S through Ward's PostgreSQL gate (transaction pooling), both against one
#   throwaway cluster, through pools of the same size.
# Every target runs once per round, rounds interleave, and the report shows each one's median.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out; mkdir -p "$OUT"
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-50}
POOL=${POOL:-20}
ROUNDS=${ROUNDS:-3}
# Event-loop threads for the HTTP data API and, to compare like with like, the PostgreSQL gate.
THREADS=${THREADS:-1}
SCALE=10

source bench/lib.sh
need wrk wrk; need webdis webdis; need redis-server redis-server; need pgbench postgresql

cargo build --release -q -p ward
WARD=$PWD/target/release/ward
DIR=$(mktemp -d /tmp/ward-bench-http-XXXX); chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_postgres "$DIR"
  rm -rf "$DIR"
}
trap cleanup EXIT

# --- PostgreSQL: SCRAM over TCP, one service account, pgbench tables ----------------------------
PGPORT=$(free_port)
start_postgres "$DIR" "$PGPORT" "$SCALE" 200

# --- Redis: the default user with a password (for webdis), and the gates' ACL user ---------------
RPORT=$(free_port)
start_redis "$DIR" "$RPORT"
redis-cli -p "$RPORT" -a direct-pw --no-auth-warning SET key value-of-sixteen >/dev/null

# --- webdis in front of it, with as many connections as Ward's pool ---------------------------
WDPORT=$(free_port)
cat > "$DIR/webdis.json" <<JSON
{ "redis_host": "127.0.0.1", "redis_port": $RPORT, "redis_auth": "direct-pw",
  "http_host": "127.0.0.1", "http_port": $WDPORT, "threads": 2, "pool_size": $POOL,
  "daemonize": false, "websockets": false, "database": 0, "verbosity": 0, "logfile": "$DIR/webdis.log" }
JSON
webdis "$DIR/webdis.json" & PIDS+=($!)
WEBDIS_PID=$!

# --- Ward: issuer, PostgreSQL gate, Redis gate and the HTTP data API in one process ------------
WPORT=$(free_port); GPORT=$(free_port); RGPORT=$(free_port); HPORT=$(free_port)
{ ward_head "$WPORT" "$DIR"; cat <<TOML
[[gate.postgres]]
name = "bench"
listen = "127.0.0.1:$GPORT"
upstream = { host = "127.0.0.1", port = $PGPORT, database = "bench" }
pool_mode = "transaction"
pool_size = $POOL
threads = $THREADS
max_client_connections = 500
roles = [{ role = "*", account = "bench_svc" }]
accounts.bench_svc = { password = "bench-pw" }
[[gate.redis]]
name = "cache"
listen = "127.0.0.1:$RGPORT"
upstream = { host = "127.0.0.1", port = $RPORT }
roles = [{ role = "*", account = "svc_cache" }]
accounts.svc_cache = { password = "cache-pw" }
[gate.http]
listen = "127.0.0.1:$HPORT"
postgres = "bench"
redis = "cache"
pool_size = $POOL
threads = $THREADS
max_client_connections = 500
TOML
} > "$DIR/ward.toml"
for scope in database:read cache:read cache:write; do $WARD --config "$DIR/ward.toml" admin scope create "$scope" >/dev/null; done
SECRET=$($WARD --config "$DIR/ward.toml" admin client create --name bench --id bench --role bench \
  --scope "database:read cache:read cache:write" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
$WARD --config "$DIR/ward.toml" serve 2> "$OUT/ward-http.log" & PIDS+=($!)
WARD_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$HPORT) 2>/dev/null && break; sleep 0.1; done
token() { curl -fs -u "bench:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$WPORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
TOKEN=$(token)
curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"command":"SET","args":["key","value-of-sixteen"]}' "http://127.0.0.1:$HPORT/command" >/dev/null
# Each target answers correctly before it is timed.
curl -fs "http://127.0.0.1:$WDPORT/GET/key" | grep -q value-of-sixteen
curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"command":"GET","args":["key"]}' "http://127.0.0.1:$HPORT/command" | grep -q value-of-sixteen
curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"query":"SELECT abalance FROM pgbench_accounts WHERE aid = $1","params":[1]}' "http://127.0.0.1:$HPORT/query" | grep -q abalance

RUNS=$OUT/http-runs.tsv; : > "$RUNS"
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# wrk_run NAME URL PID [KIND]: requests/s, non-2xx answers (which would make the rate a lie),
# p99 latency, and the serving process's CPU per request.
wrk_run() {
  local name=$1 url=$2 pid=$3 kind=${4:-}
  local before after
  before=$(cpu_ticks "$pid")
  local args=(-t 2 -c "$CLIENTS" -d "${DURATION}s" --latency)
  if [ -n "$kind" ] && [ -n "${PERF:-}" ]; then
    perf record -q -F 999 -g -p "$WARD_PID" -o "$OUT/perf-$kind.data" -- sleep "$((DURATION - 1))" >/dev/null 2>&1 &
  fi
  if [ -n "$kind" ]; then
    TOKEN=$(token) KIND=$kind SCALE=$SCALE wrk "${args[@]}" -s bench/http_post.lua "$url" > "$OUT/wrk.txt" 2>&1 || true
  else
    wrk "${args[@]}" "$url" > "$OUT/wrk.txt" 2>&1 || true
  fi
  local rps bad p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
  bad=$(awk '/Non-2xx/ {print $5}' "$OUT/wrk.txt"); bad=${bad:-0}
  p99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt")
  after=$(cpu_ticks "$pid")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "${rps:-0}" "$bad" "${p99:-?}" "$((after - before))" >> "$RUNS"
}
for round in $(seq "$ROUNDS"); do
  wrk_run "webdis GET /GET/key" "http://127.0.0.1:$WDPORT/GET/key" "$WEBDIS_PID"
  wrk_run "Ward POST /command GET" "http://127.0.0.1:$HPORT" "$WARD_PID" command
  before=$(cpu_ticks "$WARD_PID")
  PGPASSWORD=$(token) pgbench -S -n -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "$GPORT" -U bench bench \
    > "$OUT/pgbench.txt" 2>&1 || true
  tps=$(awk '/^tps = / {print $3}' "$OUT/pgbench.txt" | tail -1)
  printf '%s\t%s\t0\t-\t%s\n' "pgbench -S through the PostgreSQL gate" "${tps:-0}" "$(($(cpu_ticks "$WARD_PID") - before))" >> "$RUNS"
  wrk_run "Ward POST /query (primary-key SELECT)" "http://127.0.0.1:$HPORT" "$WARD_PID" query
done

echo "### $(date -u +%Y-%m-%d) — $(nproc) cores, $CLIENTS connections, ${DURATION}s per run, pools of $POOL, threads = $THREADS, median of $ROUNDS interleaved rounds"
echo
DURATION=$DURATION python3 - "$RUNS" <<'PY'
import statistics, sys, os
duration = float(os.environ["DURATION"])
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
names = list(dict.fromkeys(r[0] for r in rows))
def med(name): return statistics.median(float(r[1]) for r in rows if r[0] == name)
def bad(name): return sum(int(r[2]) for r in rows if r[0] == name)
def p99(name): return [r[3] for r in rows if r[0] == name][-1]
peer = {names[1]: names[0], names[3]: names[2]}
# CPU ticks are 1/100 s, spent on the run's requests (rate × duration).
def cpu_us(name):
    per = [int(r[4]) / 100 / (float(r[1]) * duration) * 1e6 for r in rows if r[0] == name and float(r[1]) > 0]
    return f"{statistics.median(per):.1f}" if per else ""
print("| Target | requests/s (median) | p99 latency (last round) | non-2xx | × peer | server CPU µs/request |")
print("|---|---|---|---|---|---|")
for n in names:
    ratio = f"{med(n) / med(peer[n]):.2f}" if n in peer and med(peer[n]) else ""
    print(f"| {n} | {med(n):.0f} | {p99(n)} | {bad(n)} | {ratio} | {cpu_us(n)} |")
PY
echo
echo "Ward's resident memory after these runs: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$WARD_PID/status)"
