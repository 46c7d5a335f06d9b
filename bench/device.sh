#!/usr/bin/env bash
# 1,000 concurrent device flows (RFC 8628) against a release build on SQLite: each device asks
# for codes, a signed-in person approves it over HTTP, the device polls at its interval until
# it has tokens. Reports completion, request rates per phase and poll latency. Not a test.
#
#   bash bench/device.sh             # FLOWS=1000 WORKERS=4 INTERVAL=5s
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
FLOWS=${FLOWS:-1000}
WORKERS=${WORKERS:-4}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

cargo build --release -q -p ward
WARD=target/release/ward
DATA=$(mktemp -d)
cleanup() { [ -n "${WARD_PID:-}" ] && kill "$WARD_PID" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
PORT=$(free_port)
export WARD_LOG__LEVEL=warn WARD_LOG__ACCESS_LOG=false WARD_SIGN_IN__DEVICE_POLL_INTERVAL=${INTERVAL:-5s}
echo "bench password 1234" | $WARD --data-dir "$DATA" admin user create bench --password-stdin >/dev/null
$WARD --data-dir "$DATA" admin client create --name "Bench TV" --id bench-tv --type public --scope openid >/dev/null
$WARD --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT" 2> "$OUT/ward-device.log" &
WARD_PID=$!
wait_http "http://127.0.0.1:$PORT/health"
# Three rounds against the same server; each phase lasts a fraction of a second, so the median
# of the rounds is reported.
RESULTS=()
for _ in 1 2 3; do
  RESULTS+=("$(python3 bench/device_flows.py "http://127.0.0.1:$PORT" "$FLOWS" "$WORKERS")")
done
python3 - "${RESULTS[@]}" <<'PY'
import json, statistics, sys
rounds = [json.loads(a) for a in sys.argv[1:]]
r = {k: (statistics.median(x[k] for x in rounds) if isinstance(rounds[0][k], (int, float)) else rounds[-1][k]) for k in rounds[0]}
r["completed"] = "/".join(str(x["completed"]) for x in rounds)
for k in ("authorize_rps", "pending_rps", "approve_rps"):
    r[k] = f"{round(r[k])} (rounds: {', '.join(str(x[k]) for x in rounds)})"
print(f"""### device flows — {r['flows']} concurrent, SQLite, 2 cores, median of 3 rounds

| Phase | requests/s |
|---|---|
| device authorization (all at once) | {r['authorize_rps']} |
| first poll, not yet approved (all at once) | {r['pending_rps']} |
| approval: code lookup + decision (all at once) | {r['approve_rps']} |

- Completed per round: **{r['completed']}** of {r['flows']}; polls per round {r['polls']}, answers other than tokens or pending: {r['errors']}
- Poll latency: p50 {r['poll_p50_ms']} ms, p95 {r['poll_p95_ms']} ms; a flow from approval to tokens: p50 {r['flow_p50_s']} s
- {r['requests']} requests in {r['total_s']} s, interval waits included""")
PY
