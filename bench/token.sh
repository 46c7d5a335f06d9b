#!/usr/bin/env bash
# Token endpoint and introspection throughput, Ward beside node-oidc-provider, in one run.
# wrk: 2 threads, 32 keep-alive connections, 10 s per run. Not a test: it never fails on numbers.
#
#   bash bench/token.sh                          # prints a Markdown report for bench/RESULTS.md
#   ACCESS_LOG=true SKIP_PEER=1 bash bench/token.sh   # Ward alone, with its access log on
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
DURATION=${DURATION:-10s}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq wrk; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

cargo build --release -q -p ward
WARD=target/release/ward
DATA=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DATA"; }
trap cleanup EXIT

# wrk script: POST a form with a Basic header; BODY and AUTH come from the environment.
cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("AUTH")
LUA

# Runs wrk and prints one Markdown row: name | req/s | p50 | p99 | non-2xx
bench() {
  local name=$1 url=$2 body=$3 auth=$4
  local log="$OUT/$(echo "$name" | tr ' /' '__').txt"
  BODY="$body" AUTH="$auth" wrk -t2 -c32 -d"$DURATION" --latency -s "$OUT/post.lua" "$url" > "$log"
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
export WARD_LOG__ACCESS_LOG=${ACCESS_LOG:-false}
# The access log is written at info level; without it, only warnings.
if [ "$WARD_LOG__ACCESS_LOG" = true ]; then export WARD_LOG__LEVEL=info; else export WARD_LOG__LEVEL=warn; fi
$WARD --data-dir "$DATA" admin scope create db:read >/dev/null
SECRET=$($WARD --data-dir "$DATA" admin client create --name bench --id bench --scope db:read --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
$WARD --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT" 2> "$OUT/ward.log" &
WARD_PID=$!; PIDS+=("$WARD_PID")
wait_http "http://127.0.0.1:$PORT/health"
sleep 1
WARD_IDLE=$(rss_kb "$WARD_PID")
AUTH=$(printf 'bench:%s' "$SECRET" | base64 -w0)
TOKEN=$(curl -fs -u "bench:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

ROWS=()
ROWS+=("$(bench "Ward token (client_credentials, ES256)" "http://127.0.0.1:$PORT/oauth/token" "grant_type=client_credentials" "$AUTH")")
ROWS+=("$(bench "Ward introspect" "http://127.0.0.1:$PORT/oauth/introspect" "token=$TOKEN" "$AUTH")")
WARD_PEAK=$(hwm_kb "$WARD_PID")
kill "$WARD_PID"; wait "$WARD_PID" 2>/dev/null || true

# --- node-oidc-provider -------------------------------------------------------------------
if [ -n "${SKIP_PEER:-}" ]; then
  printf '| Run | req/s | p50 | p99 | non-2xx |\n|---|---|---|---|---|\n'; printf '%s\n' "${ROWS[@]}"
  echo "- Ward RSS: idle $((WARD_IDLE / 1024)) MB, peak under load $((WARD_PEAK / 1024)) MB"
  exit 0
fi
PEER_DIR="$OUT/node-oidc-provider"
if [ ! -d "$PEER_DIR/node_modules/oidc-provider" ]; then
  mkdir -p "$PEER_DIR"
  (cd "$PEER_DIR" && npm init -y >/dev/null 2>&1 && npm install --silent --no-audit --no-fund oidc-provider@9 >/dev/null 2>&1)
fi
cp bench/peer/oidc-provider.mjs "$PEER_DIR/"
PEER_VERSION=$(node -p "require('./$PEER_DIR/node_modules/oidc-provider/package.json').version")
start_peer() { # workers format
  PEER_PORT=$(free_port)
  (cd "$PEER_DIR" && PORT=$PEER_PORT KEY_FILE="$DATA/peer-key.json" CLIENT_SECRET=$SECRET WORKERS=$1 FORMAT=$2 \
    exec node oidc-provider.mjs > peer.log 2>&1) &
  PEER_PID=$!; PIDS+=("$PEER_PID")
  wait_http "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration"
}
stop_peer() { pkill -P "$PEER_PID" 2>/dev/null || true; kill "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; }

start_peer 2 jwt
ROWS+=("$(bench "oidc-provider $PEER_VERSION token (2 workers, ES256 JWT)" "http://127.0.0.1:$PEER_PORT/token" "grant_type=client_credentials" "$AUTH")")
stop_peer
start_peer 1 opaque
PEER_TOKEN=$(curl -fs -u "bench:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$PEER_PORT/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
ROWS+=("$(bench "oidc-provider $PEER_VERSION introspect (1 worker, opaque)" "http://127.0.0.1:$PEER_PORT/token/introspection" "token=$PEER_TOKEN" "$AUTH")")
stop_peer

ratio() { python3 -c "a=$(cat "$OUT/$1.txt.rps"); b=$(cat "$OUT/$2.txt.rps"); print(f'{a/b:.2f}')"; }
cat <<REPORT
### $(date -u +%Y-%m-%d) — $(nproc) cores, wrk -t2 -c32 -d$DURATION, access log ${WARD_LOG__ACCESS_LOG/false/off}

| Run | req/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")

- Ward token / oidc-provider token: **$(ratio "Ward_token_(client_credentials,_ES256)" "oidc-provider_${PEER_VERSION}_token_(2_workers,_ES256_JWT)")×**
- Ward RSS: idle $((WARD_IDLE / 1024)) MB, peak under load $((WARD_PEAK / 1024)) MB
REPORT
