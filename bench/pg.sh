#!/usr/bin/env bash
# PostgreSQL gate throughput and connection setup, beside PostgreSQL itself and PgBouncer, in
# one run on one throwaway cluster. Not a test: it never fails on numbers.
#
#   bash bench/pg.sh      # prints a Markdown report for bench/RESULTS.md
#   SECTIONS=identity bash bench/pg.sh   # only some of: throughput, identity, connect
#   BASELINE=4343afd bash bench/pg.sh      # also that commit's gates, beside this one's
#
# With BASELINE, the commit's `ward` is built in a worktree of its own and run as a gates-only
# node (trusting this run's issuer) with the same transaction- and session-pooled gates; its
# rows' last ratio is before ÷ after, so a refactor's cost or gain is read in one run.
#
# Every target runs once per round, rounds interleave, and the report shows each target's
# median over ROUNDS rounds: on a shared machine one run of a row can differ by ±15 %.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out; mkdir -p "$OUT"
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-32}
POOL=${POOL:-20}
ROUNDS=${ROUNDS:-3}
SECTIONS=${SECTIONS:-throughput,identity,connect}
has() { [[ ",$SECTIONS," == *",$1,"* ]]; }

source bench/lib.sh
need pgbouncer pgbouncer; need pgbench postgresql
python3 -c 'import psycopg' 2>/dev/null || python3 -m pip install -q "psycopg[binary]"

cargo build --release -q -p ward
WARD=$PWD/target/release/ward
if [ -n "${BASELINE:-}" ]; then
  BASE_SRC=$OUT/baseline-src
  [ -d "$BASE_SRC" ] || git worktree add -q --detach "$BASE_SRC" "$BASELINE"
  git -C "$BASE_SRC" checkout -q --detach "$BASELINE"
  cargo build --release -q -p ward --manifest-path "$BASE_SRC/Cargo.toml" --target-dir "$PWD/target/baseline"
  WARD_BASE=$PWD/target/baseline/release/ward
  BASE_REV=$(git -C "$BASE_SRC" rev-parse --short HEAD)
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/ward-bench-XXXX); chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$DIR"/pgbouncer-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  stop_postgres "$DIR"
  rm -rf "$DIR"
}
trap cleanup EXIT

# --- PostgreSQL: SCRAM over TCP, one service account, pgbench tables ------------------------
PGPORT=$(free_port)
start_postgres "$DIR" "$PGPORT" 10

# --- PgBouncer: transaction pools of the same size over TCP and over PostgreSQL's Unix
# socket, and a session pool ------------------------------------------------------------------
BPORT=$(free_port); BSPORT=$(free_port); BUPORT=$(free_port)
echo '"bench_svc" "bench-pw"' > "$DIR/userlist.txt"
for name in transaction session unix; do
  port=$BPORT; size=$POOL; mode=$name; host=127.0.0.1
  [ "$name" = session ] && { port=$BSPORT; size=$CLIENTS; }
  [ "$name" = unix ] && { port=$BUPORT; mode=transaction; host=$DIR; }
  cat > "$DIR/pgbouncer-$name.ini" <<INI
[databases]
bench = host=$host port=$PGPORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = plain
auth_file = $DIR/userlist.txt
pool_mode = $mode
default_pool_size = $size
max_client_conn = 500
logfile = $DIR/pgbouncer-$name.log
pidfile = $DIR/pgbouncer-$name.pid
INI
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"/pgbouncer-$name.ini "$DIR/userlist.txt"
  as_pg pgbouncer -d "$DIR/pgbouncer-$name.ini"
done

# --- Ward: issuer and gate in one process; the service gets a token --------------------------
WPORT=$(free_port); GPORT=$(free_port); GTPORT=$(free_port); GUPORT=$(free_port); G2PORT=$(free_port); G2UPORT=$(free_port)
GSPORT=$(free_port)
# gate PORT UPSTREAM_HOST POOL_MODE POOL_SIZE THREADS: one [[gate.postgres]] section.
gate() {
  cat <<TOML
[[gate.postgres]]
listen = "127.0.0.1:$1"
upstream = { host = "$2", port = $PGPORT, database = "bench" }
pool_mode = "$3"
pool_size = $4
threads = $5
max_client_connections = 500
roles = [{ role = "*", account = "bench_svc" }]
accounts.bench_svc = { password = "bench-pw" }
TOML
}
{
  ward_head "$WPORT" "$DIR"
  gate "$GPORT" 127.0.0.1 session "$CLIENTS" 1
  gate "$GTPORT" 127.0.0.1 transaction "$POOL" 1
  gate "$GUPORT" "$DIR" transaction "$POOL" 1
  gate "$G2PORT" 127.0.0.1 transaction "$POOL" 2
  gate "$G2UPORT" "$DIR" transaction "$POOL" 2
  gate "$GSPORT" 127.0.0.1 transaction "$POOL" 1
  cat <<TOML
[gate.postgres.signed_identity]
keys = [{ id = "bench", secret = "bench-identity-key-0123456789abcdef" }]
TOML
} > "$DIR/ward.toml"
$WARD --config "$DIR/ward.toml" admin pg install --database "postgres://postgres:postgres-pw@127.0.0.1:$PGPORT/bench" >/dev/null
# Row-level security: the same policy on the signed identity and on a plain setting. The
# tables belong to postgres, so the policies apply to the service account.
as_pg psql -h "$DIR" -p "$PGPORT" -U postgres -q -v ON_ERROR_STOP=1 bench <<'SQL'
CREATE TABLE rls_signed AS SELECT aid, abalance, 'bench1'::text AS owner FROM pgbench_accounts;
CREATE TABLE rls_plain AS SELECT * FROM rls_signed;
CREATE TABLE rls_definer AS SELECT * FROM rls_signed;
ALTER TABLE rls_signed ADD PRIMARY KEY (aid); ALTER TABLE rls_plain ADD PRIMARY KEY (aid);
ALTER TABLE rls_definer ADD PRIMARY KEY (aid);
ALTER TABLE rls_signed ENABLE ROW LEVEL SECURITY; ALTER TABLE rls_plain ENABLE ROW LEVEL SECURITY;
ALTER TABLE rls_definer ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON rls_signed USING (owner = (SELECT ward.user_id()));
CREATE POLICY own ON rls_plain USING (owner = current_setting('app.user_id', true));
-- The floor for anything the service account cannot forge: a SECURITY DEFINER function that
-- verifies nothing (it reads the plain setting).
CREATE FUNCTION definer_floor() RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
  AS $$ BEGIN RETURN current_setting('app.user_id', true); END $$;
CREATE POLICY own ON rls_definer USING (owner = (SELECT definer_floor()));
GRANT SELECT ON rls_signed, rls_plain, rls_definer TO bench_svc;
SQL
cat > "$DIR/rls_signed.sql" <<'SQL'
\set aid random(1, 1000000)
SELECT abalance FROM rls_signed WHERE aid = :aid;
SQL
sed 's/rls_signed/rls_plain/' "$DIR/rls_signed.sql" > "$DIR/rls_plain.sql"
sed 's/rls_signed/rls_definer/' "$DIR/rls_signed.sql" > "$DIR/rls_definer.sql"
new_client() { $WARD --config "$DIR/ward.toml" admin client create --name "$1" --id "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])'; }
SECRET=$(new_client bench)
# Four more services: four identities for the many-identity rows.
declare -A SECRETS
for i in 1 2 3 4; do SECRETS[bench$i]=$(new_client "bench$i"); done
$WARD --config "$DIR/ward.toml" serve 2> "$OUT/ward-pg.log" & PIDS+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$GTPORT) 2>/dev/null && break; sleep 0.1; done
WARD_PID=${PIDS[0]}
BASE_PID=""
if [ -n "${WARD_BASE:-}" ]; then
  BHPORT=$(free_port); BGPORT=$(free_port); BGTPORT=$(free_port); BGUPORT=$(free_port)
  {
    cat <<TOML
listen = "127.0.0.1:$BHPORT"
issuer_enabled = false
[log]
level = "warn"
access_log = false
[[trust]]
issuer = "http://127.0.0.1:$WPORT"
TOML
    gate "$BGPORT" 127.0.0.1 session "$CLIENTS" 1
    gate "$BGTPORT" 127.0.0.1 transaction "$POOL" 1
    gate "$BGUPORT" "$DIR" transaction "$POOL" 1
  } > "$DIR/ward-base.toml"
  $WARD_BASE --config "$DIR/ward-base.toml" serve 2> "$OUT/ward-base.log" & BASE_PID=$!; PIDS+=($BASE_PID)
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$BGTPORT) 2>/dev/null && break; sleep 0.1; done
fi
# Tokens live 15 minutes and the whole run takes longer: each run gets a fresh one.
token_for() { curl -fs -u "$1:$2" -d grant_type=client_credentials "http://127.0.0.1:$WPORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
fresh_token() { token_for bench "$SECRET"; }
TOKEN=$(fresh_token)

pid_of() { case "$1" in ward) echo "$WARD_PID" ;; ward-base) echo "$BASE_PID" ;; bouncer-*) cat "$DIR/pgbouncer-${1#bouncer-}.pid" ;; *) echo "" ;; esac; }
cpu_ticks() { [ -n "$1" ] && awk '{print $14+$15}' "/proc/$1/stat" || echo 0; }

# name|port|user|password|process whose CPU is charged|what its ratio compares with
TARGETS=(
  "PostgreSQL direct (TCP)|$PGPORT|bench_svc|bench-pw|-|-"
  "Ward gate, transaction pool ($POOL)|$GTPORT|bench|$TOKEN|ward|PgBouncer 1.18, transaction pool ($POOL)"
  "Ward gate, transaction pool ($POOL), threads = 2|$G2PORT|bench|$TOKEN|ward|PgBouncer 1.18, transaction pool ($POOL)"
  "PgBouncer 1.18, transaction pool ($POOL)|$BPORT|bench_svc|bench-pw|bouncer-transaction|-"
  "Ward gate, transaction pool ($POOL), Unix-socket upstream|$GUPORT|bench|$TOKEN|ward|PgBouncer 1.18, transaction pool ($POOL), Unix-socket upstream"
  "Ward gate, transaction pool ($POOL), Unix-socket upstream, threads = 2|$G2UPORT|bench|$TOKEN|ward|PgBouncer 1.18, transaction pool ($POOL), Unix-socket upstream"
  "PgBouncer 1.18, transaction pool ($POOL), Unix-socket upstream|$BUPORT|bench_svc|bench-pw|bouncer-unix|-"
  "Ward gate, session pool ($CLIENTS)|$GPORT|bench|$TOKEN|ward|PgBouncer 1.18, session pool ($CLIENTS)"
  "PgBouncer 1.18, session pool ($CLIENTS)|$BSPORT|bench_svc|bench-pw|bouncer-session|-"
)
if [ -n "${WARD_BASE:-}" ]; then
  TARGETS+=(
    "Ward gate at $BASE_REV (before), transaction pool ($POOL)|$BGTPORT|bench|$TOKEN|ward-base|Ward gate, transaction pool ($POOL)"
    "Ward gate at $BASE_REV (before), transaction pool ($POOL), Unix-socket upstream|$BGUPORT|bench|$TOKEN|ward-base|Ward gate, transaction pool ($POOL), Unix-socket upstream"
    "Ward gate at $BASE_REV (before), session pool ($CLIENTS)|$BGPORT|bench|$TOKEN|ward-base|Ward gate, session pool ($CLIENTS)"
  )
fi
RUNS=$OUT/pg-runs.tsv; : > "$RUNS"
has throughput && for proto in simple extended prepared; do
  for round in $(seq "$ROUNDS"); do
    for t in "${TARGETS[@]}"; do
      IFS='|' read -r name port user pw proc _ <<<"$t"
      [ "$user" = bench ] && pw=$(fresh_token)
      log="$OUT/pgbench-$proto-$port-$round.txt"
      pid=$(pid_of "$proc"); before=$(cpu_ticks "$pid")
      PGPASSWORD=$pw pgbench -n -S -M "$proto" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "$port" -U "$user" bench > "$log" 2>&1 || true
      after=$(cpu_ticks "$pid")
      tps=$(awk '/^tps = / {printf "%.0f", $3}' "$log")
      printf '%s\t%s\t%s\t%s\n' "$proto" "$name" "${tps:-0}" "$((after - before))" >> "$RUNS"
    done
  done
done

if has throughput; then
echo "### $(date -u +%Y-%m-%d) — $(nproc) cores, pgbench -S -c $CLIENTS -j 2 -T $DURATION, scale 10, median of $ROUNDS interleaved rounds"
echo
python3 - "$RUNS" "$DURATION" "${TARGETS[@]}" <<'PY'
import statistics, sys
runs, duration, targets = sys.argv[1], float(sys.argv[2]), [t.split("|") for t in sys.argv[3:]]
rows = [line.rstrip("\n").split("\t") for line in open(runs)]
print("| Protocol | Target | tps (median) | runs | × direct | × its peer (PgBouncer; for a before row, this commit's gate) | proxy CPU µs/tx |")
print("|---|---|---|---|---|---|---|")
for proto in ("simple", "extended", "prepared"):
    of = lambda name: [r for r in rows if r[0] == proto and r[1] == name]
    median = lambda name: statistics.median(int(r[2]) for r in of(name)) or 0
    direct = median(targets[0][0]) or 1
    for name, _port, _user, _pw, proc, peer in targets:
        tps = median(name)
        # CPU ticks are 1/100 s; the runs' own transactions are what they were spent on.
        ticks = sum(int(r[3]) for r in of(name))
        txs = sum(int(r[2]) for r in of(name)) * duration
        cpu = f"{ticks / 100 / txs * 1e6:.1f}" if proc != "-" and txs else ""
        vs_peer = f"{tps / median(peer):.2f}" if peer != "-" and median(peer) else ""
        spread = "/".join(r[2] for r in of(name))
        print(f"| {proto} | {name} | {tps:.0f} | {spread} | {tps / direct:.2f} | {vs_peer} | {cpu} |")
PY
echo
echo "Ward's resident memory after these runs: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$WARD_PID/status)"
echo
fi

# --- Identities: four pgbench processes of CLIENTS/4 each, at once, each with its own token
# (through the gate) or all as one user (PgBouncer checks no identity); and the RLS policy on
# the signed identity beside the same policy on a plain setting, through one gate. -----------
if has identity; then
IDRUNS=$OUT/pg-identity.tsv; : > "$IDRUNS"; : > "$OUT/handovers.txt"
per=$((CLIENTS / 4))
# DISCARD ALL hand-overs so far (every gate of this node; only one runs at a time).
handovers() {
  curl -fs "http://127.0.0.1:$WPORT/metrics" | awk '/^ward_pg_backend_resets_total.*another_identity/ {n += $2} END {printf "%d", n}'
}
# many PORT LABEL MODE: four concurrent pgbench -S; MODE many = four identities, one = one.
many() {
  local port=$1 label=$2 mode=$3 total=0 i user pw pids=() before
  before=$(handovers)
  for i in 1 2 3 4; do
    case "$mode" in
      many) user=bench$i; pw=$(token_for "$user" "${SECRETS[$user]}") ;;
      one) user=bench1; pw=$(token_for bench1 "${SECRETS[bench1]}") ;;
      bouncer) user=bench_svc; pw=bench-pw ;;
    esac
    PGPASSWORD=$pw pgbench -n -S -M extended -c "$per" -j 1 -T "$DURATION" -h 127.0.0.1 -p "$port" -U "$user" bench > "$OUT/many-$port-$i.txt" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  for i in 1 2 3 4; do total=$((total + $(awk '/^tps = / {printf "%.0f", $3}' "$OUT/many-$port-$i.txt"))); done
  printf '%s\t%s\n' "$label" "$total" >> "$IDRUNS"
  [ "$mode" = many ] && printf '%s ' "$(($(handovers) - before))" >> "$OUT/handovers.txt"
  return 0
}
rls() {
  local script=$1 label=$2 pw
  pw=$(token_for bench1 "${SECRETS[bench1]}")
  PGPASSWORD=$pw pgbench -n -M extended -f "$DIR/$script.sql" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "$GSPORT" -U bench1 bench > "$OUT/$script.txt" 2>&1 || true
  printf '%s\t%s\n' "$label" "$(awk '/^tps = / {printf "%.0f", $3}' "$OUT/$script.txt")" >> "$IDRUNS"
}
for round in $(seq "$ROUNDS"); do
  many "$GSPORT" "gate, transaction pool ($POOL), signed identity: 4 identities" many
  many "$GSPORT" "gate, transaction pool ($POOL), signed identity: 1 identity" one
  many "$BPORT" "PgBouncer 1.18, transaction pool ($POOL): no identity" bouncer
  rls rls_signed "RLS policy on (SELECT ward.user_id())"
  rls rls_definer "RLS policy on (SELECT definer_floor()): SECURITY DEFINER, verifies nothing"
  rls rls_plain "RLS policy on current_setting('app.user_id')"
done
echo "### $(date -u +%Y-%m-%d) — identities and row-level security, $(nproc) cores, $CLIENTS clients, -M extended, $DURATION s, median of $ROUNDS interleaved rounds"
echo
python3 - "$IDRUNS" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
labels = list(dict.fromkeys(r[0] for r in rows))
median = {l: statistics.median(int(r[1]) for r in rows if r[0] == l) for l in labels}
spread = {l: "/".join(r[1] for r in rows if r[0] == l) for l in labels}
bouncer = next(l for l in labels if l.startswith("PgBouncer"))
plain = next(l for l in labels if "current_setting" in l)
print("| Target | tps (median) | runs | ratio |")
print("|---|---|---|---|")
for l in labels:
    ratio = ""
    if l.startswith("gate"):
        ratio = f"{median[l] / median[bouncer]:.2f}× PgBouncer"
    elif "ward.user_id" in l or "definer_floor" in l:
        ratio = f"{median[l] / median[plain]:.2f}× the plain-setting policy"
    print(f"| {l} | {median[l]:.0f} | {spread[l]} | {ratio} |")
PY
echo
echo "DISCARD ALL hand-overs between identities in each 4-identity run: $(cat "$OUT/handovers.txt")"
echo
fi

has connect || exit 0
echo "Connection setup (connect, authenticate, \`select 1\`, close; 300 in a row, libpq 18):"
echo
echo "| Target | p50 | p99 |"
echo "|---|---|---|"
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name port user pw _ _ <<<"$t"
  [ "$user" = bench ] && pw=$(fresh_token)
  r=$(python3 bench/connect_latency.py "host=127.0.0.1 port=$port dbname=bench user=$user password=$pw sslmode=disable" 300)
  echo "| $name | $(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p50"])') ms | $(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p99"])') ms |"
done
