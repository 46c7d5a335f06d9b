#!/usr/bin/env bash
# PostgreSQL's own regression suite (src/test/regress, parallel schedule) run twice, each time on
# a fresh throwaway cluster: directly, and through a Ward gate in session pooling with an access
# token. Prints every test whose outcome or output differs between the two runs, and fails unless
# those are exactly the tests README.md explains (EXPLAINED below). The last step of
# `bash .ci/run`: it downloads Debian's PostgreSQL source package (for the suite's SQL files and
# its regress.so) and runs the suite twice, about two minutes on two cores.
#
#   bash crates/ward-pg/tests/regress/run.sh     # WARD_REGRESS_CACHE keeps the built source
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ROOT=$PWD
CACHE=${WARD_REGRESS_CACHE:-$ROOT/target/pg-regress}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
MAJOR=$(basename "$(dirname "$PGBIN")")
PG_REGRESS=/usr/lib/postgresql/$MAJOR/lib/pgxs/src/test/regress/pg_regress

# Tests whose outcome through the gate differs from a direct run, each explained in README.md
# ("PostgreSQL's regression suite through the gate").
EXPLAINED="${EXPLAINED:-date guc horology stats timestamp timestamptz}"
# Tests whose outcome through the gate depends on which pooled backend they get, also explained
# there: a difference here is expected, and so is none.
MAY_DIFFER="${MAY_DIFFER:-temp}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
[ -x "$PG_REGRESS" ] || { echo "pg_regress not found at $PG_REGRESS" >&2; exit 1; }
need=()
for p in make gcc pkg-config; do command -v "$p" >/dev/null || need+=("$p"); done
if [ "${#need[@]}" -gt 0 ]; then as_root apt-get update -qq; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}"; fi

# --- The suite: Debian's source package for the installed major version, regress.so built -----
SRC=$(ls -d "$CACHE"/postgresql-"$MAJOR"*/ 2>/dev/null | head -1 || true)
if [ -z "$SRC" ] || [ ! -f "$SRC/src/test/regress/regress.so" ]; then
  rm -rf "$CACHE"; mkdir -p "$CACHE/lists/partial" "$CACHE/cache/archives/partial"
  # The release's own suite (a point release may lag the installed server; tests that fail
  # both ways for that are shown, not judged).
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb" {print $2; exit}' /etc/apt/sources.list)
  suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" > "$CACHE/sources.list"
  O=(-o "Dir::Etc::SourceList=$CACHE/sources.list" -o Dir::Etc::SourceParts=/dev/null -o APT::Sandbox::User=root
     -o "Dir::State::Lists=$CACHE/lists" -o "Dir::Cache=$CACHE/cache")
  apt-get "${O[@]}" -qq update
  (cd "$CACHE" && apt-get "${O[@]}" -qq source --download-only "postgresql-$MAJOR")
  tar -C "$CACHE" -xf "$(ls "$CACHE"/postgresql-"$MAJOR"_*.orig.tar.* | head -1)"
  SRC=$(ls -d "$CACHE"/postgresql-"$MAJOR"*/ | head -1)
  (cd "$SRC" && ./configure -q --without-icu --without-readline --without-zlib >/dev/null 2>&1)
  make -s -C "$SRC/src/test/regress" -j"$(nproc)" all >/dev/null
fi
SRC=${SRC%/}
REGRESS=$SRC/src/test/regress

# --- Ward: an issuer for the token and a session-pooled gate, built once ----------------------
cargo build -q -p ward
WARD=$ROOT/target/debug/ward
WORK=$(mktemp -d /tmp/ward-regress-XXXX); chmod 755 "$WORK"; [ "$(id -u)" = 0 ] && chown postgres "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "$WORK"/data-*; do [ -d "$d" ] && as_pg "$PGBIN/pg_ctl" -D "$d" stop -m immediate >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# cluster NAME: a fresh cluster whose superuser `postgres` has a password; prints its port.
cluster() {
  local port; port=$(free_port)
  echo regress-pw > "$WORK/pw"; [ "$(id -u)" = 0 ] && chown postgres "$WORK/pw"
  as_pg "$PGBIN/initdb" -D "$WORK/data-$1" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$WORK/pw" -E UTF8 --locale=C --no-sync >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/data-$1" -l "$WORK/pg-$1.log" -w start \
    -o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off" >/dev/null
  as_pg psql -h "$WORK" -p "$port" -U postgres -qc "CREATE DATABASE regression" postgres
  echo "$port"
}

# suite NAME PORT USER PASSWORD: the parallel schedule against an existing `regression` database.
suite() {
  mkdir -p "$WORK/out-$1"; [ "$(id -u)" = 0 ] && chown postgres "$WORK/out-$1"
  # As postgres: the server writes files the suite reads back (COPY … TO) into the output dir.
  as_pg env PGPASSWORD="$4" "$PG_REGRESS" --use-existing --dbname=regression --host=127.0.0.1 --port="$2" --user="$3" \
    --inputdir="$REGRESS" --outputdir="$WORK/out-$1" --dlpath="$REGRESS" --bindir="$PGBIN" \
    --max-connections=20 --schedule="$REGRESS/parallel_schedule" > "$WORK/out-$1/summary.txt" 2>&1 || true
}

DIRECT=$(cluster direct)
suite direct "$DIRECT" postgres regress-pw
as_pg "$PGBIN/pg_ctl" -D "$WORK/data-direct" stop -m fast >/dev/null

GATED=$(cluster gate)
WPORT=$(free_port); GPORT=$(free_port)
cat > "$WORK/ward.toml" <<TOML
listen = "127.0.0.1:$WPORT"
issuer = "http://127.0.0.1:$WPORT"
data_dir = "$WORK/ward"
[log]
level = "warn"
access_log = false
[[trust]]
issuer = "http://127.0.0.1:$WPORT"
[[gate.postgres]]
listen = "127.0.0.1:$GPORT"
upstream = { host = "127.0.0.1", port = $GATED, database = "regression", tls = "disable" }
pool_mode = "session"
pool_size = 40
roles = [{ role = "*", account = "postgres" }]
accounts.postgres = { password = "regress-pw" }
TOML
SECRET=$("$WARD" --config "$WORK/ward.toml" admin client create --name regress --id regress --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
"$WARD" --config "$WORK/ward.toml" serve 2> "$WORK/ward.log" & PIDS+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$GPORT) 2>/dev/null && break; sleep 0.1; done
TOKEN=$(python3 - "http://127.0.0.1:$WPORT/oauth/token" "$SECRET" <<'PY'
import base64, json, sys, urllib.request
url, secret = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url, data=b"grant_type=client_credentials", headers={
    "Authorization": "Basic " + base64.b64encode(f"regress:{secret}".encode()).decode()})
print(json.load(urllib.request.urlopen(request))["access_token"])
PY
)
suite gate "$GPORT" regress "$TOKEN"

# --- Compare -----------------------------------------------------------------------------------
python3 - "$WORK" "$EXPLAINED" "$MAY_DIFFER" <<'PY'
import os, re, sys
work, explained, may_differ = sys.argv[1], set(sys.argv[2].split()), set(sys.argv[3].split())
def output(name, test):
    path = os.path.join(work, f"out-{name}", "results", f"{test}.out")
    if not os.path.exists(path):
        return None
    # Paths in error messages name each run's own directory.
    return open(path, errors="replace").read().replace(f"out-{name}", "out-RUN")
def outcomes(name):
    result = {}
    for line in open(os.path.join(work, f"out-{name}", "summary.txt")):
        m = re.match(r"^(?:test\s+|\s+)(\S+)\s+\.\.\.\s+(ok|FAILED|failed \(ignored\))", line)
        if m:
            result[m.group(1)] = m.group(2)
    return result
direct, gate = outcomes("direct"), outcomes("gate")
print(f"direct: {sum(v == 'ok' for v in direct.values())}/{len(direct)} ok; "
      f"through the gate: {sum(v == 'ok' for v in gate.values())}/{len(gate)} ok")
differ = set()
for test in sorted(set(direct) | set(gate)):
    a, b = direct.get(test), gate.get(test)
    if a != b:
        differ.add(test)
        print(f"  {test}: direct {a}, through the gate {b}")
    elif a != "ok" and output("direct", test) != output("gate", test):
        # Failing both ways (the suite's version, this machine): shown, not judged.
        print(f"  ({test}: fails both ways, with different output)")
unexplained, gone = differ - explained - may_differ, explained - differ
if unexplained: print("differences README does not explain:", " ".join(sorted(unexplained)))
if gone: print("explained differences that no longer occur:", " ".join(sorted(gone)))
# Kept for reading: each run's results and its diffs against the expected output.
import shutil
for n in ("direct", "gate"):
    shutil.rmtree(f"target/regress-{n}", ignore_errors=True)
    shutil.copytree(os.path.join(work, f"out-{n}"), f"target/regress-{n}")
sys.exit(1 if unexplained or gone else 0)
PY
