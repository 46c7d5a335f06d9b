#!/usr/bin/env bash
# Redis gate throughput beside Redis itself and twemproxy (Debian's nutcracker), in one run.
# Not a test: it never fails on numbers.
#
#   bash bench/redis.sh           # prints a Markdown report for bench/RESULTS.md
#
# redis-benchmark -t get,set -n $REQUESTS -c 50 at -P 1 and -P 16 against each target; every
# target runs once per round, rounds interleave, and the report shows each one's median.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out; mkdir -p "$OUT"
REQUESTS=${REQUESTS:-200000}
# Connections each gate's sessions share per account (split among its threads).
SHARED=${SHARED:-2}
ROUNDS=${ROUNDS:-3}

source bench/lib.sh
need nutcracker nutcracker; need redis-server redis-server

cargo build --release -q -p ward
WARD=$PWD/target/release/ward
DIR=$(mktemp -d /tmp/ward-bench-redis-XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT

# --- Redis: the default user with a password (for twemproxy and direct runs), and the
# gate's ACL user -------------------------------------------------------------------------------
RPORT=$(free_port)
start_redis "$DIR" "$RPORT"

# --- twemproxy in front of it, with the same password ------------------------------------------
TPORT=$(free_port)
cat > "$DIR/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$TPORT
  hash: fnv1a_64
  distribution: ketama
  redis: true
  redis_auth: direct-pw
  server_connections: 1
  servers:
   - 127.0.0.1:$RPORT:1
YML
nutcracker -c "$DIR/nutcracker.yml" -o "$DIR/nutcracker.log" & PIDS+=($!)

# --- Ward: issuer and Redis gate in one process; the service gets a token ----------------------
WPORT=$(free_port); GPORT=$(free_port); G2PORT=$(free_port)
{ ward_head "$WPORT" "$DIR"; cat <<TOML
[[gate.redis]]
listen = "127.0.0.1:$GPORT"
upstream = { host = "127.0.0.1", port = $RPORT }
pool_size = 64
shared_connections = $SHARED
max_client_connections = 500
roles = [{ role = "cache", account = "svc_cache" }]
accounts.svc_cache = { password = "cache-pw" }
[[gate.redis]]
listen = "127.0.0.1:$G2PORT"
upstream = { host = "127.0.0.1", port = $RPORT }
pool_size = 64
shared_connections = $SHARED
threads = 2
max_client_connections = 500
roles = [{ role = "cache", account = "svc_cache" }]
accounts.svc_cache = { password = "cache-pw" }
TOML
} > "$DIR/ward.toml"
$WARD --config "$DIR/ward.toml" admin scope create cache:read >/dev/null
$WARD --config "$DIR/ward.toml" admin scope create cache:write >/dev/null
SECRET=$($WARD --config "$DIR/ward.toml" admin client create --name bench --id bench --role cache \
  --scope "cache:read cache:write" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
$WARD --config "$DIR/ward.toml" serve 2> "$OUT/ward-redis.log" & PIDS+=($!)
WARD_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$GPORT) 2>/dev/null && break; sleep 0.1; done
token() { curl -fs -u "bench:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$WPORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }

# name|port|password
TARGETS=(
  "Redis 7 direct|$RPORT|direct-pw"
  "Ward Redis gate|$GPORT|TOKEN"
  "Ward Redis gate, threads = 2|$G2PORT|TOKEN"
  "twemproxy (nutcracker 0.5)|$TPORT|direct-pw"
)
RUNS=$OUT/redis-runs.tsv; : > "$RUNS"
for round in $(seq "$ROUNDS"); do
  for pipeline in 1 16; do
    for t in "${TARGETS[@]}"; do
      IFS='|' read -r name port pw <<<"$t"
      [ "$pw" = TOKEN ] && pw=$(token)
      redis-benchmark -h 127.0.0.1 -p "$port" -a "$pw" -t get,set -n "$REQUESTS" -c 50 -P "$pipeline" --csv -q \
        2>/dev/null > "$OUT/redis-$port-$pipeline-$round.csv" || true
      while IFS=, read -r test rps _; do
        test=${test//\"/}; rps=${rps//\"/}
        [[ "$test" =~ ^(SET|GET)$ ]] && printf '%s\t%s\t%s\t%s\n' "$name" "$pipeline" "$test" "$rps" >> "$RUNS"
      done < "$OUT/redis-$port-$pipeline-$round.csv"
    done
  done
done

echo "### $(date -u +%Y-%m-%d) — $(nproc) cores, redis-benchmark -t get,set -n $REQUESTS -c 50, median of $ROUNDS interleaved rounds"
echo
python3 - "$RUNS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
def median(name, p, test):
    v = [float(r[3]) for r in rows if r[0] == name and r[1] == p and r[2] == test]
    return statistics.median(v) if v else 0.0
names = list(dict.fromkeys(r[0] for r in rows))
print("| Pipeline | Command | Target | requests/s (median) | × direct | × twemproxy |")
print("|---|---|---|---|---|---|")
for p in ("1", "16"):
    for test in ("SET", "GET"):
        direct = median(names[0], p, test) or 1
        twem = median([n for n in names if n.startswith("twemproxy")][0], p, test) or 1
        for n in names:
            m = median(n, p, test)
            print(f"| -P {p} | {test} | {n} | {m:.0f} | {m / direct:.2f} | {m / twem:.2f} |")
PY
echo
echo "Ward's resident memory after these runs: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$WARD_PID/status)"
