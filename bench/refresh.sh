#!/usr/bin/env bash
# Refresh-token rotation and code exchange on SQLite, Ward beside node-oidc-provider, in one
# run; and what a sign-in costs (argon2id at the default OWASP parameters).
# wrk: 2 threads, 32 keep-alive connections; every request presents a token never used
# before (bench/chain.lua). Not a test: it never fails on numbers.
#
#   bash bench/refresh.sh            # prints a Markdown report for bench/RESULTS.md
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
DURATION=${DURATION:-10s}
CODES=${CODES:-20000}
THREADS=2

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq wrk; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

cargo build --release -q -p ward
WARD=target/release/ward
DATA=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DATA"; }
trap cleanup EXIT

# Runs wrk over a token file; prints one Markdown row: name | req/s | p50 | p99 | non-2xx
bench() {
  local name=$1 url=$2 tokens=$3 param=$4 extra=$5 chain=$6 duration=$7
  local log="$OUT/$(echo "$name" | tr ' /(),' '_____').txt"
  TOKENS=$tokens THREADS=$THREADS PARAM=$param EXTRA=$extra CHAIN=$chain AUTH=$AUTH \
    wrk -t$THREADS -c32 -d"$duration" --latency -s bench/chain.lua "$url" > "$log"
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$log")
  p50=$(awk '$1=="50%" {print $2}' "$log")
  p99=$(awk '$1=="99%" {print $2}' "$log")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$log"); non2xx=${non2xx:-0}
  echo "$rps" > "$log.rps"
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$non2xx"
}

# --- Ward ---------------------------------------------------------------------------------
PORT=$(free_port)
export WARD_LOG__LEVEL=warn WARD_LOG__ACCESS_LOG=false WARD_SIGN_IN__AUTHORIZATION_CODE_TTL=600s
echo "bench password 1234" | $WARD --data-dir "$DATA" admin user create bench --password-stdin >/dev/null
SECRET=$($WARD --data-dir "$DATA" admin client create --name bench --id bench --redirect-uri https://app.example/cb \
  --scope openid --scope offline_access --skip-consent --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
$WARD --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT" 2> "$OUT/ward.log" &
WARD_PID=$!; PIDS+=("$WARD_PID")
wait_http "http://127.0.0.1:$PORT/health"
AUTH=$(printf 'bench:%s' "$SECRET" | base64 -w0)
URL="http://127.0.0.1:$PORT"

python3 bench/sign_in_client.py "$URL" "$SECRET" refresh 256 "$OUT/ward-refresh.txt" >/dev/null
ROWS=()
ROWS+=("$(bench "Ward refresh rotation (SQLite, ES256, openid)" "$URL/oauth/token" "$OUT/ward-refresh.txt" refresh_token "&grant_type=refresh_token" 1 "$DURATION")")
VERIFIER=$(python3 bench/sign_in_client.py "$URL" "$SECRET" codes "$CODES" "$OUT/ward-codes.txt" | sed 's/code_verifier=//')
ROWS+=("$(bench "Ward code exchange (SQLite, PKCE, ES256, openid)" "$URL/oauth/token" "$OUT/ward-codes.txt" code "&grant_type=authorization_code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=$VERIFIER" 0 5s)")
read -r SIGN_IN_P50 SIGN_IN_MAX < <(python3 bench/sign_in_client.py "$URL" "$SECRET" sign-in 20)
ROWS_DB=$(python3 - "$DATA/ward.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("select count(*) from refresh_tokens").fetchone()[0], db.execute("select count(*) from grants").fetchone()[0])
PY
)
kill "$WARD_PID"; wait "$WARD_PID" 2>/dev/null || true

# --- node-oidc-provider -------------------------------------------------------------------
PEER_DIR="$OUT/node-oidc-provider"
if [ ! -d "$PEER_DIR/node_modules/oidc-provider" ]; then
  mkdir -p "$PEER_DIR"
  (cd "$PEER_DIR" && npm init -y >/dev/null 2>&1 && npm install --silent --no-audit --no-fund oidc-provider@9 >/dev/null 2>&1)
fi
cp bench/peer/oidc-provider-refresh.mjs "$PEER_DIR/"
PEER_VERSION=$(node -p "require('./$PEER_DIR/node_modules/oidc-provider/package.json').version")
PEER_PORT=$(free_port)
rm -f "$OUT/peer-refresh.txt"
(cd "$PEER_DIR" && PORT=$PEER_PORT CLIENT_SECRET=$SECRET COUNT=256 TOKEN_FILE="$PWD/../peer-refresh.txt" \
  exec node oidc-provider-refresh.mjs > peer-refresh.log 2>&1) &
PEER_PID=$!; PIDS+=("$PEER_PID")
wait_http "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration"
ROWS+=("$(bench "oidc-provider $PEER_VERSION refresh rotation (in memory, 1 worker, ES256, openid)" "http://127.0.0.1:$PEER_PORT/token" "$OUT/peer-refresh.txt" refresh_token "&grant_type=refresh_token" 1 "$DURATION")")
kill "$PEER_PID"; wait "$PEER_PID" 2>/dev/null || true

ratio() { python3 -c "a=$(cat "$OUT/$1.txt.rps"); b=$(cat "$OUT/$2.txt.rps"); print(f'{a/b:.2f}')"; }
WARD_ROW="Ward_refresh_rotation__SQLite__ES256__openid_"
PEER_ROW="oidc-provider_${PEER_VERSION}_refresh_rotation__in_memory__1_worker__ES256__openid_"
cat <<REPORT
### $(date -u +%Y-%m-%d) — refresh rotation and code exchange, $(nproc) cores, wrk -t$THREADS -c32

| Run | req/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")

- Ward rotation / oidc-provider rotation: **$(ratio "$WARD_ROW" "$PEER_ROW")×**
- Sign-in (argon2id m=19456 KiB, t=2, p=1, one at a time): p50 ${SIGN_IN_P50} ms, max ${SIGN_IN_MAX} ms
- Rows left in SQLite (refresh tokens, grants): $ROWS_DB
REPORT
